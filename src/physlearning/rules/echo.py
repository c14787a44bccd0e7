"""Hamiltonian Echo Backpropagation (HEB) on the Kerr lattice: the learning field's shift after an echo.

Reference: V. Lopez-Pastor and F. Marquardt, "Self-learning machines based on Hamiltonian echo
backpropagation", Phys. Rev. X 13, 031020 (2023), arXiv:2103.04992; the authors' NumPy code,
github.com/victorlopezpastor/self_learning_machines, ``cavity_array/HEB.py`` (``echo_step``, ``dC``,
``TR``, ``HEB_step_av``). Only the physics is taken from it.

Echo step (``HEB.echo_step``), with U the forward flow over one sample period (``n_steps`` split
steps of :class:`~physlearning.substrates.wave_lattice.KerrLattice`, ``time_reverse = conj``)::

    Phi_T   = U(Theta0, Psi_in)                               forward pass
    Phi_T' = (Theta_T, Psi_T - i eta dC/dPsi_T*)              error injection at the output
    Phi_e   = conj(U(conj(Phi_T')))                           time reversal, echo, time reversal

``dC/dPsi*`` is the Wirtinger derivative (d/dRe + i d/dIm) / 2; for the reference's cost
C = |Psi_out - target|^2 (``HEB.C``) it is ``Psi_out - target`` (``HEB.dC``). Because M and g are
real, conj U conj = U^{-1}, so Phi_e = U^{-1}(U(Phi_0) + delta) with delta = -i eta dC/dPsi_T*, and
to first order Phi_e - Phi_0 = (DU)^{-1} delta. In real coordinates Phi = x + i y the equations
``i dPhi/dt = dH/dPhi*`` are dz/dt = (1/2) Omega grad H (Omega = [[0, 1], [-1, 0]]), delta is
(eta/2) Omega grad_out C, and the flow is symplectic, (DU)^{-1} Omega = Omega (DU)^T, so
(DU)^{-1} delta = (eta/2) Omega grad_0 (C o U): back in complex notation::

    Theta_e - Theta0 = -i eta dC/dTheta0* + O(eta^2)

i.e. the momentum Im Theta is kicked by -(eta/2) dC/dRe Theta0 (the paper's "the learning field
receives a kick along the gradient", converted into a position update by the decay step
``HEB.decay_step``, not here). The estimate returned here is the full complex gradient
``G = 2 dC/dTheta0* = dC/dRe Theta0 + i dC/dIm Theta0``:

* simple echo (one echo, 2 evolutions): ``G = 2 i (Theta_e(eta) - Theta0) / eta``, error O(eta);
* centred echo (echoes with +eta and -eta from the same forward state, 3 evolutions):
  ``G = i (Theta_e(eta) - Theta_e(-eta)) / eta``, error O(eta^2) (the eta^0 and eta^2 terms cancel;
  cf. ``HEB_step_av``, which alternates +eta and -eta echoes across steps).

Convention for :class:`HamiltonianEcho` grads: ``conj(G) = dC/dRe - i dC/dIm``, which is what
``jax.grad`` returns for a real function of a complex parameter, so the rule agrees leaf for leaf
with :class:`~physlearning.rules.autodiff.Autodiff`. (Gradient descent on a complex parameter
moves along ``-G``; an optimiser fed jax-convention grads must conjugate them first:
:func:`physlearning.train.complex_optim.complex_optimizer`.) On a ``Hardware`` the rules run the
realised device (the echo's faults: :mod:`~physlearning.substrates.wave_faults`) and compute the
error signal from the *measured* output, ``dC/dPsi*(measure(Psi_T))`` (read-out noise of the
nonideality's ``measure``, one draw per sample from the rule's key), injected into the true field.

The paper's learning step (``HEB.decay_step``, ``HEB_step``, ``HEB_step_av``): the echo leaves the
kick in the momentum Im Theta; a *decay step* (friction over a time with damping coefficient x
time = ``loss``, mass ``m``) turns it into a position update and damps the momentum::

    Re Theta <- Re Theta + (1/m) Im Theta (1 - exp(-loss))     [optionally soft-clipped at ``cutoff``]
    Im Theta <- Im Theta exp(-loss)

* simple HEB step (:func:`heb_update`, ``averaged=False``): echo with +eta, decay with m; 2
  evolutions; Re Theta moves by -(eta / 2m)(1 - e^-loss) dC/dRe Theta0 plus the echo's own position
  shift (eta / 2) dC/dIm Theta0, + O(eta^2): a relative bias m |dC/dIm| / ((1 - e^-loss) |dC/dRe|);
* averaged HEB step (``averaged=True``): echo +eta, decay m, then a second forward pass and echo
  with -eta *from the updated field*, decay with -m; 4 evolutions; the position shifts cancel and the
  kicks add, to -(eta / 2m)(1 - e^-loss)(2 - e^-loss) dC/dRe Theta0 (the second echo also carries the
  first decay's residual momentum), up to the change of the gradient between the echoes, O(eta / m).

:func:`implied_gradient` reads dC/dRe Theta0 back from a step's displacement (for the gradient
table); :class:`HebStep` is the step as a learning rule (its "grads" are the displacement, so SGD
with lr = 1, no soft clip and no other optimiser, after conjugation, reproduces the machine's own
update).

Not here: drive series longer than one sample (T > 1 would need the drives removed on the echo).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, PRNGKeyArray

from physlearning.core import Batch, Cost, StatelessRule
from physlearning.substrates.wave_faults import update_gain
from physlearning.substrates.wave_field import WaveField
from physlearning.substrates.wave_lattice import KerrLattice


class ModulusSquaredError(Cost):
    """C = sum |y - target|^2 (real for complex outputs; the reference's ``HEB.C``)."""

    def __call__(self, y: Array, target: Array) -> Array:
        d = y - target
        return jnp.sum(d.real**2 + d.imag**2)


def wirtinger_conj_grad(f: Callable[[Array], Array], z: Array) -> Array:
    """dC/dz* = (d/dRe + i d/dIm) C / 2 of a real scalar function ``f`` at complex ``z``
    (``jax.grad`` returns d/dRe - i d/dIm)."""
    return 0.5 * jnp.conj(jax.grad(f)(z))


def _forward(lattice: KerrLattice, psi_in: Array, target: Array, cost_grad_fn):
    """``(echo, psi_out)``: the forward pass from ``(theta0, psi_in)`` and ``echo(e, key)``, the learning
    field after injecting ``-i e dC/dPsi*`` at the output and evolving back (time reversal, echo,
    time reversal; ``key`` for the noise of a faulty reversal, None: none)."""
    n = lattice.n_steps
    phi_t = lattice.evolve(lattice.init_state(psi_in), n)
    theta_t, psi_t = lattice.split(phi_t)
    dpsi = jnp.asarray(lattice.lift_cost_grad(cost_grad_fn)(psi_t, target), psi_t.dtype)

    def echo(e, key=None):
        k1, k2 = (None, None) if key is None else jax.random.split(key)
        kicked = lattice.join(theta_t, psi_t - 1j * e * dpsi)
        back = lattice.time_reverse(lattice.evolve(lattice.time_reverse(kicked, k1), n), k2)
        return lattice.split(back)[0]

    return echo, lattice.observe(phi_t)


def _echo(lattice: KerrLattice, psi_in: Array, target: Array, cost_grad_fn, eta, centred: bool, key=None):
    """``(G, psi_out, n_evolutions)``: the echo estimate of 2 dC/dTheta0*, the forward output."""
    echo, psi_t = _forward(lattice, psi_in, target, cost_grad_fn)
    eta = jnp.asarray(eta, jnp.real(psi_t).dtype)
    if centred:
        # the two echoes run side by side (one batched evolution, two physical ones)
        etas = jnp.stack([eta, -eta])
        both = jax.vmap(echo)(etas) if key is None else jax.vmap(echo)(etas, jax.random.split(key))
        g = 1j * (both[0] - both[1]) / eta
        return g, psi_t, 3
    g = 2j * (echo(eta, key) - lattice.theta0) / eta
    return g, psi_t, 2


def echo_gradient(lattice: KerrLattice, psi_in: Array, target: Array,
                  cost_grad_fn: Callable[[Array, Array], Array], eta: float,
                  centred: bool = True) -> tuple[Array, int]:
    """HEB estimate of ``G = 2 dC/dTheta0* = dC/dRe Theta0 + i dC/dIm Theta0`` (lattice shape, complex)
    for one input, and the number of physical evolutions used (forward 1 + echoes 1 or 2).

    ``psi_in`` (n_ports,) the input amplitudes (``init_state``); the output is Psi after one sample
    period (``n_steps`` split steps), as ``predict`` with T = 1; ``cost_grad_fn(psi_out, target)``
    returns dC/dPsi_out* (e.g. ``psi_out - target`` for C = |psi_out - target|^2); ``eta`` the
    error-injection strength; ``centred``: two echoes (+eta, -eta), error O(eta^2), else one, O(eta)."""
    g, _, count = _echo(lattice, psi_in, target, cost_grad_fn, eta, centred)
    return g, count


def _check_eta(eta) -> None:
    if isinstance(eta, (int, float)) and not (0 < eta < float("inf")):
        raise ValueError(f"eta={eta!r}: the error-injection strength must be a finite number > 0")


def _single_sample_batch(batch: Batch, who: str) -> tuple[Array, Array]:
    x, t = batch
    x = jnp.asarray(x)
    if x.ndim != 3 or x.shape[1] != 1:
        raise ValueError(f"x has shape {x.shape}: {who} needs (B, 1, n_ports) (one sample per input)")
    return x, t


def _sample_keys(key: PRNGKeyArray | None, n: int):
    """One key per sample (for faulty reversals), or None for every sample."""
    return None if key is None else jax.random.split(key, n)


def _cost_grad(cost: Cost):
    """``(psi, target) -> dC/dpsi*`` of one output (the error signal injected at the output)."""
    return lambda psi, ti: wirtinger_conj_grad(lambda p: cost(p[None], ti), psi)


READOUT_STREAM = 0x52454144
"""``fold_in`` constant of the read-out noise key, so the reversal-noise draws keep their own key."""


def _measured(substrate, cost_grad_fn, key: PRNGKeyArray | None):
    """``cost_grad_fn`` evaluated at the output as ``substrate`` measures it (``Substrate.measure``:
    the identity on a bare substrate, read-out noise on a ``Hardware``; no key, no noise)."""
    if key is None:
        return cost_grad_fn
    k = jax.random.fold_in(key, READOUT_STREAM)
    return lambda psi, ti: cost_grad_fn(substrate.measure(psi, k), ti)


class HamiltonianEcho(StatelessRule):
    """Hamiltonian echo backpropagation (see the module docstring): per sample, a forward pass, error
    injection, and one (simple) or two (centred) time-reversed echoes; the learning field's shift
    gives the gradient in ``theta0``. Batch-mean over the batch (vmapped).

    ``batch = (x, target)`` as for ``predict``: x (B, 1, n_ports) a single-sample drive per input
    (the input amplitudes), target shaped like one ``predict`` output (1, n_ports). ``cost`` must be
    real-valued on complex outputs (e.g. :class:`ModulusSquaredError`). Grads are in ``jax.grad``'s
    convention (``conj(G)``, see the module docstring), shaped like ``design().params()``; on a
    Hardware the echo runs on ``realised()`` and its ``theta0`` gradient is assigned to the design's
    (disorder taken to leave d theta0_realised / d theta0_design = 1)."""

    families: ClassVar[tuple[type, ...]] = (KerrLattice, WaveField)
    eta: float = 1e-4
    centred: bool = eqx.field(static=True, default=True)

    def __check_init__(self):
        _check_eta(self.eta)

    def estimate(self, substrate, batch: Batch, cost: Cost, key: PRNGKeyArray | None):
        x, t = _single_sample_batch(batch, "HamiltonianEcho")
        dev = substrate.realised()
        cgf = _cost_grad(cost)

        def one(xi, ti, k):
            g, psi_out, _ = _echo(dev, xi[0], ti, _measured(substrate, cgf, k), self.eta, self.centred, k)
            return g, cost(psi_out[None], ti)

        gs, losses = jax.vmap(one)(x, t, _sample_keys(key, x.shape[0]))
        count = 3 if self.centred else 2
        params = substrate.design().params()
        g = update_gain(dev) * jnp.mean(gs, axis=0)
        grads = eqx.tree_at(lambda p: p.theta0, params, jnp.conj(g).astype(params.theta0.dtype))
        n_b = x.shape[0]
        return grads, {"loss": jnp.mean(losses),
                       "evolutions": jnp.asarray(count * n_b, jnp.float32),
                       "forward_passes": jnp.asarray(count, jnp.float32)}


# ---------------------------------------------------------------------------------- the decay step
def decay_step(theta: Array, loss: float, m: float, cutoff: float | None = None, gain=1.0) -> Array:
    """The paper's decay step (``HEB.decay_step``): friction with damping x time = ``loss`` on a field
    of mass ``m``: ``Re <- Re + (1/m) Im (1 - e^-loss)`` (the kick soft-clipped,
    ``k / sqrt(1 + k^2 / cutoff^2)``, when ``cutoff`` is given; the reference uses 0.1),
    ``Im <- Im e^-loss``. ``gain``: per-site gain of the kick (1: ideal; an imperfect decay step of
    :mod:`~physlearning.substrates.wave_faults`)."""
    kick = gain * jnp.imag(theta) * (1.0 - jnp.exp(-loss)) / m
    if cutoff is not None:
        kick = kick / jnp.sqrt(1.0 + kick**2 / cutoff**2)
    return (jnp.real(theta) + kick) + 1j * (jnp.imag(theta) * jnp.exp(-loss))


def heb_update(lattice: KerrLattice, psi_in: Array, target: Array,
               cost_grad_fn: Callable[[Array, Array], Array], eta: float, *, m: float, loss: float,
               averaged: bool = True, cutoff: float | None = None,
               key: PRNGKeyArray | None = None) -> tuple[Array, Array, int]:
    """One HEB learning step on one input (see the module docstring): ``(theta_new, psi_out,
    n_evolutions)``; simple (echo +eta, decay m; 2 evolutions) or averaged (then a forward pass and
    echo -eta from the updated field, decay -m; 4 evolutions). ``psi_out`` is the first forward
    pass's output; ``key`` for the noise of faulty reversals (None: none)."""
    k1, k2 = (None, None) if key is None else jax.random.split(key)
    gain = update_gain(lattice)
    echo, psi_out = _forward(lattice, psi_in, target, cost_grad_fn)
    theta = decay_step(echo(eta, k1), loss, m, cutoff, gain)
    if not averaged:
        return theta, psi_out, 2
    moved = eqx.tree_at(lambda lat: lat.theta0, lattice, theta.astype(lattice.theta0.dtype))
    echo2, _ = _forward(moved, psi_in, target, cost_grad_fn)
    return decay_step(echo2(-eta, k2), loss, -m, cutoff, gain), psi_out, 4


def implied_gradient(theta0: Array, theta_new: Array, eta: float, *, m: float, loss: float,
                     averaged: bool) -> Array:
    """dC/dRe Theta0 as read from a HEB step's displacement, for a real ``theta0`` and no clipping:
    ``-(2m / eta)(Re theta_new - Re theta0) / (1 - e^-loss)`` for the simple step, which is
    dC/dRe - m dC/dIm / (1 - e^-loss) to first order in eta (the echo's position shift, the step's
    O(m) bias); ``-(2m / eta)(Re theta_new - Re theta0) / ((1 - e^-loss)(2 - e^-loss))`` for the
    averaged step, dC/dRe up to the gradient's change between its two echoes (see the module docstring)."""
    e = jnp.exp(-loss)
    scale = 2.0 * m / (eta * (1.0 - e) * ((2.0 - e) if averaged else 1.0))
    return -scale * (jnp.real(theta_new) - jnp.real(theta0))


class HebStep(StatelessRule):
    """The paper's HEB learning step as a rule (:func:`heb_update`, batch-mean of the per-input
    steps, each from the same ``theta0``). Its "grads" are the machine's own displacement in
    jax convention, ``conj(theta0 - theta_new)``: after :func:`~physlearning.train.complex_optim.conj_complex`
    SGD with lr = 1 applies exactly the physical update (lr rescales it). Not an exact-gradient
    estimator: the step is -(eta / 2m)(1 - e^-loss) dC/dRe Theta0 per echo plus O(eta^2) (simple) or
    O(eta^2 / m) (averaged), and the clip, when on, biases large kicks. Defaults: the reference's
    XOR recipe (eta = 1e-4, m = 1/300, loss = 100, averaged, no clip)."""

    families: ClassVar[tuple[type, ...]] = (KerrLattice, WaveField)
    eta: float = 1e-4
    m: float = 1.0 / 300.0
    loss: float = 100.0
    averaged: bool = eqx.field(static=True, default=True)
    cutoff: float | None = eqx.field(static=True, default=None)

    def __check_init__(self):
        _check_eta(self.eta)
        for name in ("m", "loss"):
            v = getattr(self, name)
            if isinstance(v, (int, float)) and not (v > 0 and v < float("inf")):
                raise ValueError(f"{name}={v!r}: must be a finite number > 0")
        if self.cutoff is not None and not (self.cutoff > 0):
            raise ValueError(f"cutoff={self.cutoff!r}: must be > 0, or None (no clip)")

    def estimate(self, substrate, batch: Batch, cost: Cost, key: PRNGKeyArray | None):
        x, t = _single_sample_batch(batch, "HebStep")
        dev = substrate.realised()
        cgf = _cost_grad(cost)

        def one(xi, ti, k):
            th, psi_out, _ = heb_update(dev, xi[0], ti, _measured(substrate, cgf, k), self.eta, m=self.m,
                                        loss=self.loss, averaged=self.averaged, cutoff=self.cutoff, key=k)
            return th, cost(psi_out[None], ti)

        ths, losses = jax.vmap(one)(x, t, _sample_keys(key, x.shape[0]))
        params = substrate.design().params()
        step = jnp.conj(dev.theta0 - jnp.mean(ths, axis=0)).astype(params.theta0.dtype)
        count = 4 if self.averaged else 2
        return eqx.tree_at(lambda p: p.theta0, params, step), {
            "loss": jnp.mean(losses), "evolutions": jnp.asarray(count * x.shape[0], jnp.float32),
            "forward_passes": jnp.asarray(count, jnp.float32)}
