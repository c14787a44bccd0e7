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
moves along ``-G``; an optimiser fed jax-convention grads must conjugate them. That is a
project-wide question for complex parameters, not settled here.)

Not here: the decay step and HEB training dynamics (a stateful rule), drive series longer than one
sample (T > 1 would need the drives removed on the echo), registration in the rule registry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, PRNGKeyArray

from physlearning.core import Batch, Cost, StatelessRule
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


def _echo(lattice: KerrLattice, psi_in: Array, target: Array, cost_grad_fn, eta, centred: bool):
    """``(G, psi_out, n_evolutions)``: the echo estimate of 2 dC/dTheta0*, the forward output."""
    n = lattice.n_steps
    phi_t = lattice.evolve(lattice.init_state(psi_in), n)
    theta_t, psi_t = lattice.split(phi_t)
    dpsi = jnp.asarray(cost_grad_fn(psi_t, target), psi_t.dtype)

    def echo(e):
        kicked = lattice.join(theta_t, psi_t - 1j * e * dpsi)
        back = lattice.time_reverse(lattice.evolve(lattice.time_reverse(kicked), n))
        return lattice.split(back)[0]

    eta = jnp.asarray(eta, jnp.real(phi_t).dtype)
    if centred:
        g = 1j * (echo(eta) - echo(-eta)) / eta
        return g, psi_t, 3
    g = 2j * (echo(eta) - lattice.theta0) / eta
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

    families: ClassVar[tuple[type, ...]] = (KerrLattice,)
    eta: float = 1e-4
    centred: bool = eqx.field(static=True, default=True)

    def estimate(self, substrate, batch: Batch, cost: Cost, key: PRNGKeyArray | None):
        x, t = batch
        x = jnp.asarray(x)
        if x.ndim != 3 or x.shape[1] != 1:
            raise ValueError(f"x has shape {x.shape}: HamiltonianEcho needs (B, 1, n_ports) (one sample per input)")
        dev = substrate.realised()

        def cgf(psi, ti):
            return wirtinger_conj_grad(lambda p: cost(p[None], ti), psi)

        def one(xi, ti):
            g, psi_out, _ = _echo(dev, xi[0], ti, cgf, self.eta, self.centred)
            return g, cost(psi_out[None], ti)

        gs, losses = jax.vmap(one)(x, t)
        count = 3 if self.centred else 2
        params = substrate.design().params()
        grads = eqx.tree_at(lambda p: p.theta0, params, jnp.conj(jnp.mean(gs, axis=0)).astype(params.theta0.dtype))
        n_b = x.shape[0]
        return grads, {"loss": jnp.mean(losses),
                       "evolutions": jnp.asarray(count * n_b, jnp.float32),
                       "forward_passes": jnp.asarray(count, jnp.float32)}
