"""Lattice of coupled Kerr cavities: the wave substrate of Hamiltonian Echo Backpropagation (HEB).

Reference: V. Lopez-Pastor and F. Marquardt, "Self-learning machines based on Hamiltonian echo
backpropagation", Phys. Rev. X 13, 031020 (2023), arXiv:2103.04992; the authors' NumPy code,
github.com/victorlopezpastor/self_learning_machines, ``cavity_array/eqs_motion.py`` (``Hamiltonian``,
``Kerr``, ``tigh_binding_2d``, ``PsiTheta_coupling``), ``cavity_array/SplitFourier.py``
(``SplitFourier_step``), ``cavity_array/HEB.py`` (``TR``) and, for the onsite detunings,
``cavity_array_disorder/eqs_motion.py`` (``local_detuning``). Only the physics is taken from it.

Two complex fields evolve together (units: hbar = 1, every coefficient an angular frequency, time in
its inverse; fields are dimensionless amplitudes, |field|^2 a photon number):

* the *learning field* Theta on the sites of an L (1D) or L x L (2D, open boundaries) lattice;
  Re Theta is the position and Im Theta the momentum of the learnable degree of freedom, and the
  initial learning field ``theta0`` is the trainable parameter;
* the *signal modes* Psi, one per port, each coupled to one lattice site (default, as in the
  reference: the 4 corners in 2D; here also the 2 ends in 1D). Inputs are injected into Psi and
  outputs are read from Psi.

Hamiltonian (``energy``), as in ``eqs_motion.Hamiltonian``, plus the onsite detunings Delta_i of
``cavity_array_disorder`` (zero by default, which is the reference's clean cavity array)::

    H = 2 J sum_<ij> Re(Theta_i* Theta_j) + sum_i Delta_i |Theta_i|^2
      + 2 kappa sum_p Re(Psi_p* Theta_site(p)) + sum_p omega_p |Psi_p|^2
      + (g/2) sum_all modes |Phi|^4,                      Phi = (Theta, Psi)

(the Kerr term acts on every mode, Psi included, as in the reference). The quadratic part is
``Phi^dagger M Phi`` with M real symmetric. Equations of motion ``i dPhi/dt = dH/dPhi*``::

    i dPhi/dt = M Phi + g |Phi|^2 Phi.

Integrator (``order = 2``): a Strang split step of length dt, half linear, full Kerr, half linear.
The linear flow ``exp(-i M dt/2)`` is exact: M is diagonalised once at construction,
``M = V diag(w) V^T`` (``numpy.linalg.eigh``), and applied as ``V exp(-i w dt/2) V^T``. The Kerr flow
is exact because it conserves each |Phi_i|^2: ``Phi -> exp(-i g |Phi|^2 dt) Phi``. The split differs
from the reference's ``SplitFourier_step``, which diagonalises only the hopping (by a sine transform)
and puts the port coupling and omega in the nonlinear half; both are symmetric second-order
splittings of the same H (putting every quadratic term into one exactly-solved linear part is
allowed here because onsite detunings already break the sine-transform diagonalisation).

For speed (``physlearning bench heb``) the linear flow is applied in real arithmetic as one
precomputed real block matrix on (Re Phi, Im Phi), neighbouring half steps of ``evolve`` are merged
into one full step, ``A(dt/2) [K A(dt)]^(n-1) K A(dt/2)``, and in float64 the Kerr phase's sin/cos
come from a short polynomial (error <= 2 ulp): the same maps to round-off.

Every substep is unitary on the mode vector (the linear one) or a pointwise phase (the Kerr one), so
the norm sum |Phi|^2 is conserved to round-off; because M and g are real, ``conj`` maps each substep
to its inverse, and the symmetric composition is exactly time-reversible:
``conj(evolve(conj(evolve(Phi, n)), n)) = Phi`` (``time_reverse = conj``, the phase conjugation of
``HEB.TR``).

State: one flat complex vector ``Phi = concat(Theta.ravel(), Psi)`` of length ``n_sites + n_ports``
(``split`` / ``join`` convert). ``step(state, drive, key)`` injects ``drive`` (shape (n_ports,)) into the
signal modes, ``Psi += drive``, then evolves ``n_steps`` split steps (one sample period
``n_steps * dt``); ``observe`` returns Psi. ``predict`` (inherited) vmaps trajectories over a batch
of drive series (B, T, n_ports); with T = 1 it is the reference's forward pass from the input
amplitudes.

The echo rules are in :mod:`physlearning.rules.echo`, the hardware faults in
:mod:`physlearning.substrates.wave_faults`. Not here: registration in the substrate registry (config
section, builder, check case) and trainable detunings (the eigendecomposition is a constant of the
constructor; ``detuning`` is fixed).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, PRNGKeyArray

from physlearning.core.substrate import ReversibleSubstrate
from physlearning.core.values import finite_real, integer


def hopping_matrix(L: int, dim: int) -> np.ndarray:
    """Adjacency matrix (n_sites, n_sites) of the open L-chain (dim 1) or L x L square lattice (dim 2),
    sites in row-major order: 1 between nearest neighbours, 0 elsewhere."""
    n = L**dim
    a = np.zeros((n, n))
    idx = np.arange(n).reshape((L,) * dim)
    for axis in range(dim):
        i = np.take(idx, np.arange(L - 1), axis=axis).ravel()
        j = np.take(idx, np.arange(1, L), axis=axis).ravel()
        a[i, j] = a[j, i] = 1.0
    return a


def default_ports(L: int, dim: int) -> tuple[int, ...]:
    """Flat site indices of the ports: the chain ends (1D) or the 4 corners (2D, the reference's
    order (0,0), (0,L-1), (L-1,0), (L-1,L-1))."""
    if dim == 1:
        return (0, L - 1)
    return (0, L - 1, (L - 1) * L, L * L - 1)


SPLIT_ERROR_LIMIT = 1.0
"""largest allowed :meth:`KerrLattice.split_error_scale` (the reference XOR set-up: 0.08)."""


def check_time_step(lattice: KerrLattice, n_max: float, what: str = "dt") -> None:
    """Refuse a time step beyond the split step's accuracy limit for this J, g and field size (raises
    ``ValueError`` naming ``dt`` and the largest allowed value)."""
    scale = lattice.split_error_scale(n_max)
    if scale > SPLIT_ERROR_LIMIT:
        dt_max = lattice.dt * math.sqrt(SPLIT_ERROR_LIMIT / scale)
        raise ValueError(f"{what} = {lattice.dt:.4g}: beyond the split step's accuracy limit for |M| = "
                         f"{float(np.max(np.abs(lattice._w))):.3g}, |g| = {abs(lattice.g):.3g} and fields of up to "
                         f"{n_max:.3g} photons per mode (dt^2 |M| |g| n = {scale:.3g} > {SPLIT_ERROR_LIMIT}); "
                         f"allowed dt <= {dt_max:.4g} (more steps per sample period)")


class KerrLattice(ReversibleSubstrate):
    """Learning field Theta on a Kerr-cavity lattice, coupled at ports to signal modes Psi (see the
    module docstring for H, the equations of motion and the split step).

    Args: ``L`` sites per side (>= 2); ``dim`` 1 or 2; ``J`` hopping, ``g`` Kerr coefficient,
    ``kappa`` port coupling (finite reals, angular frequencies); ``dt`` (> 0) split-step length and
    ``n_steps`` (>= 1) steps per ``step``; ``detuning`` onsite Delta_i (lattice shape, default 0);
    ``omega`` signal frequencies (n_ports, default 0); ``ports`` flat site indices (distinct, default
    :func:`default_ports`); ``theta0`` the initial learning field (lattice shape, complex; default 0),
    the trainable parameter."""

    L: int = eqx.field(static=True)
    dim: int = eqx.field(static=True)
    J: float = eqx.field(static=True)
    g: float = eqx.field(static=True)
    kappa: float = eqx.field(static=True)
    dt: float = eqx.field(static=True)
    n_steps: int = eqx.field(static=True)
    ports: tuple[int, ...] = eqx.field(static=True)
    theta0: Array
    detuning: np.ndarray
    omega: np.ndarray
    _m: np.ndarray
    _w: np.ndarray
    _v: np.ndarray

    order: ClassVar[float | None] = 2

    def __init__(self, L: int, dim: int = 2, *, J: float = 1.0, g: float = 0.0, kappa: float = 0.0,
                 dt: float = 0.05, n_steps: int = 1, detuning=None, omega=None,
                 ports: Sequence[int] | None = None, theta0=None):
        integer("L", L, ge=2, what="sites per side")
        if dim not in (1, 2) or isinstance(dim, bool):
            raise ValueError(f"dim={dim!r}: allowed values are 1 (chain) and 2 (square lattice)")
        L, dim = int(L), int(dim)
        self.L, self.dim = L, dim
        self.J = finite_real("J", J)
        self.g = finite_real("g", g)
        self.kappa = finite_real("kappa", kappa)
        self.dt = finite_real("dt", dt, gt=0)
        self.n_steps = integer("n_steps", n_steps, ge=1)

        shape, n = (L,) * dim, L**dim
        ports_ = default_ports(L, dim) if ports is None else tuple(int(p) for p in ports)
        if len(ports_) < 1:
            raise ValueError(f"ports={ports!r}: need at least one port")
        if len(set(ports_)) != len(ports_) or any(p < 0 or p >= n for p in ports_):
            raise ValueError(f"ports={ports!r}: must be distinct flat site indices in [0, {n})")
        self.ports = ports_
        n_ports = len(ports_)

        def real_array(name, value, want):
            a = np.zeros(want) if value is None else np.asarray(value, dtype=float)
            if a.shape != want:
                raise ValueError(f"{name} has shape {a.shape}: must be {want}")
            if not np.all(np.isfinite(a)):
                raise ValueError(f"{name}={a!r}: must be finite")
            return a

        self.detuning = real_array("detuning", detuning, shape)
        self.omega = real_array("omega", omega, (n_ports,))

        ctype = (jnp.zeros(()) * 1j).dtype  # complex64, or complex128 under x64
        t0 = jnp.zeros(shape, ctype) if theta0 is None else jnp.asarray(theta0, dtype=ctype)
        if t0.shape != shape:
            raise ValueError(f"theta0 has shape {t0.shape}: must be the lattice shape {shape}")
        if not bool(jnp.all(jnp.isfinite(t0))):
            raise ValueError("theta0: must be finite")
        self.theta0 = t0

        # quadratic form M (real symmetric) of H = Phi^dagger M Phi + (g/2) sum |Phi|^4
        m = np.zeros((n + n_ports, n + n_ports))
        m[:n, :n] = self.J * hopping_matrix(L, dim) + np.diag(self.detuning.ravel())
        for p, site in enumerate(ports_):
            m[n + p, site] = m[site, n + p] = self.kappa
            m[n + p, n + p] = self.omega[p]
        w, v = np.linalg.eigh(m)
        self._m, self._w, self._v = m, w, v

    # -- layout ---------------------------------------------------------------------------------
    @property
    def n_sites(self) -> int:
        return self.L**self.dim

    @property
    def n_ports(self) -> int:
        return len(self.ports)

    def split(self, state: Array) -> tuple[Array, Array]:
        """``(Theta, Psi)``: the learning field in lattice shape, the signal modes (n_ports,)."""
        n = self.n_sites
        return state[..., :n].reshape(state.shape[:-1] + (self.L,) * self.dim), state[..., n:]

    def join(self, theta: Array, psi: Array) -> Array:
        """The flat state ``concat(Theta.ravel(), Psi)``."""
        theta = jnp.asarray(theta)
        lead = theta.shape[: theta.ndim - self.dim]
        return jnp.concatenate([theta.reshape(lead + (self.n_sites,)), jnp.asarray(psi, theta.dtype)], axis=-1)

    def linear_matrix(self) -> np.ndarray:
        """M, the real symmetric quadratic part of H (a copy)."""
        return self._m.copy()

    def split_error_scale(self, n_max: float) -> float:
        """A heuristic size of the split step's error, ``dt^2 ||M|| |g| n_max`` (dimensionless), for
        fields of at most ``n_max`` photons per mode: the linear and Kerr flows are each exact, so the
        error comes from their non-commutation (the product of the two phases per step, dt ||M|| and
        dt |g| n_max; Strang's local error is O(dt^3) in double commutators). Above ~1 the step no longer
        resolves the dynamics (:func:`check_time_step` refuses it; a guard against unresolved steps, not
        an accuracy promise)."""
        return self.dt**2 * float(np.max(np.abs(self._w))) * abs(self.g) * float(n_max)

    def param_filter(self):
        """Trainable: the initial learning field ``theta0`` only."""
        return self.only_fields({"theta0": True})

    def lift_cost_grad(self, fn: Callable[[Array, Array], Array]) -> Callable[[Array, Array], Array]:
        """``fn(psi_out, target) -> dC/dPsi*`` as the error on the signal modes that the echo rules inject:
        unchanged, the outputs are the signal modes themselves (``WaveField`` reads a subset of its
        signal field and lifts)."""
        return fn

    # -- dynamics -------------------------------------------------------------------------------
    def init_state(self, psi: Array | None = None) -> Array:
        """``Phi = (theta0, psi)``; ``psi`` (n_ports,) the input amplitudes, zero when None."""
        p = jnp.zeros(self.n_ports, self.theta0.dtype) if psi is None else jnp.asarray(psi, self.theta0.dtype)
        if p.shape != (self.n_ports,):
            raise ValueError(f"psi has shape {p.shape}: must be ({self.n_ports},) (one amplitude per port)")
        if not isinstance(p, jax.core.Tracer) and not np.all(np.isfinite(np.asarray(p))):
            raise ValueError(f"psi={np.asarray(p)!r}: the input amplitudes must be finite")
        return self.join(self.theta0, p)

    def _real_maps(self):
        """The maps ``(half, kerr, full)`` = A(dt/2), K(dt), A(dt) of the split step on the real form
        ``z = concat(Re Phi, Im Phi)`` (..., 2 n_modes).

        Implemented for speed, the same maps to round-off: A(t) = V diag(e^{-i w t}) V^T is precomputed
        as P_r + i P_i = V cos(w t) V^T - i V sin(w t) V^T and applied in real arithmetic,
        ``z -> z @ [[P_r, P_i], [-P_i, P_r]]`` (P symmetric; one real matmul, batched under vmap). In
        float64 the Kerr phase's sin/cos come from a Cody-Waite reduction to |r| <= pi/4, the Taylor
        polynomial of sin r to r^15 and cos r = sqrt(1 - sin^2 r) (error <= 4e-16; XLA's float64 sin/cos are
        scalar library calls, ~5x slower); in float32 from ``jnp.sin`` / ``jnp.cos``."""
        rtype = jnp.zeros(()).dtype
        v, w, nm = jnp.asarray(self._v, rtype), jnp.asarray(self._w, rtype), self.n_sites + self.n_ports
        g_dt = self.g * self.dt

        def block(t):
            pr, pi = (v * jnp.cos(w * t)) @ v.T, -(v * jnp.sin(w * t)) @ v.T
            return jnp.block([[pr.T, pi.T], [-pi.T, pr.T]])  # x @ P^T as a real map on (Re x, Im x)

        b_half, b_full = block(0.5 * self.dt), block(self.dt)
        if rtype == jnp.float64:
            sin_c = [(-1) ** k / math.factorial(2 * k + 1) for k in range(8)]  # sin r = r sum s_k r^2k, to r^15
            # pi/2 = p1 + p2, p1 with 33 significant bits (k * p1 exact for |k| < 2^20)
            p1, p2 = 1.5707963267341256, 6.077100506506192e-11

            def sincos(phi):
                k = jax.lax.round(phi * (2.0 / math.pi), jax.lax.RoundingMethod.TO_NEAREST_EVEN)
                r = (phi - k * p1) - k * p2
                r2 = r * r
                s = sin_c[-1]
                for a in sin_c[-2::-1]:
                    s = s * r2 + a
                s = s * r
                c = jnp.sqrt(1.0 - s * s)  # cos r >= 0.7 on |r| <= pi/4: well conditioned
                # (sin, cos)(r + k pi/2), k = 2h + odd: swap (and negate cos) for odd k, flip both for odd h
                h = jnp.floor(0.5 * k)
                odd = k - 2.0 * h != 0
                sg = 1.0 - 2.0 * (h - 2.0 * jnp.floor(0.5 * h))
                sn = jnp.where(odd, c, s)
                cs = jnp.where(odd, -s, c)
                return sn * sg, cs * sg
        else:
            def sincos(phi):
                return jnp.sin(phi), jnp.cos(phi)

        def kerr(z):  # (a + ib) e^{-i phi}, phi = g dt (a^2 + b^2)
            a, b = z[..., :nm], z[..., nm:]
            s, c = sincos(g_dt * (a * a + b * b))
            return jnp.concatenate([a * c + b * s, b * c - a * s], axis=-1)

        def half(z):
            return z @ b_half

        def full(z):
            return z @ b_full

        return half, kerr, full

    def _substep(self):
        """One Strang split step ``Phi -> A(dt/2) K(dt) A(dt/2) Phi`` as a function of the complex state."""
        half, kerr, _ = self._real_maps()
        nm = self.n_sites + self.n_ports

        def substep(x):
            z = half(kerr(half(jnp.concatenate([jnp.real(x), jnp.imag(x)], axis=-1))))
            return jax.lax.complex(z[..., :nm], z[..., nm:])

        return substep

    def evolve(self, state: Array, n: int) -> Array:
        """``n`` split steps of length ``dt`` (one ``lax.scan``); time ``n * dt``. The inner half steps are
        merged, ``A(dt/2) [K A(dt)]^(n-1) K A(dt/2)`` (the same map to round-off), in real arithmetic."""
        integer("n", n, ge=0, what="number of split steps")
        if n == 0:
            return state
        half, kerr, full = self._real_maps()
        nm = self.n_sites + self.n_ports
        z = kerr(half(jnp.concatenate([jnp.real(state), jnp.imag(state)], axis=-1)))
        z, _ = jax.lax.scan(lambda y, _: (kerr(full(y)), None), z, None, length=int(n) - 1)
        z = half(z)
        return jax.lax.complex(z[..., :nm], z[..., nm:])

    def step(self, state: Array, drive: Array | None, key: PRNGKeyArray | None = None) -> Array:
        """Inject ``drive`` into the signal modes (``Psi += drive``; None: no input), then evolve one
        sample period (``n_steps`` split steps). Deterministic: ``key`` is unused."""
        if drive is not None:
            d = jnp.asarray(drive)
            if d.shape != (self.n_ports,):
                raise ValueError(f"drive has shape {d.shape}: must be ({self.n_ports},) (one amplitude per port)")
            state = state.at[self.n_sites:].add(d.astype(state.dtype))
        return self.evolve(state, self.n_steps)

    def observe(self, state: Array) -> Array:
        """The signal modes Psi (complex amplitudes, (n_ports,))."""
        return state[..., self.n_sites:]

    def time_reverse(self, state: Array, key: PRNGKeyArray | None = None) -> Array:
        """Phase conjugation ``Phi -> Phi*`` (Theta: p -> -p; the reference's ``HEB.TR``). ``key``: for
        the noise of a faulty reversal (:mod:`~physlearning.substrates.wave_faults`); unused here."""
        return jnp.conj(state)

    # -- invariants -----------------------------------------------------------------------------
    def energy(self, state: Array) -> Array:
        """H(Phi) of one state (n_modes,) = Re(Phi^dagger M Phi) + (g/2) sum |Phi|^4 (real; the quadratic
        form is real for Hermitian M, Re drops round-off)."""
        rtype = jnp.zeros(()).dtype
        m = jnp.asarray(self._m, rtype)
        quad = jnp.real(jnp.vdot(state, m @ state))
        n2 = state.real**2 + state.imag**2
        return quad + 0.5 * self.g * jnp.sum(n2**2)

    def norm(self, state: Array) -> Array:
        """Total photon number sum |Phi|^2 (conserved)."""
        return jnp.sum(state.real**2 + state.imag**2)

    def predict(self, x: Array, key: PRNGKeyArray | None = None) -> Array:
        """Signal-mode trajectories for a batch of drive series ``x`` (B, T, n_ports), from
        ``init_state()``; vmapped over the batch (deterministic, ``key`` unused)."""
        return jax.vmap(lambda xi: self.trajectory(xi))(jnp.asarray(x))
