"""Continuum wave-field form of Hamiltonian Echo Backpropagation (HEB): a nonlinear Schroedinger
signal field coupled to a learning field, on a 1D or 2D grid.

Reference: V. Lopez-Pastor and F. Marquardt, "Self-learning machines based on Hamiltonian echo
backpropagation", Phys. Rev. X 13, 031020 (2023), arXiv:2103.04992 (the continuum field-theory form of
the machine, issue #23 item 1); the lattice form is :mod:`physlearning.substrates.wave_lattice`.

Equations (issue #23, "i dPsi/dt = (beta/2) Lap^2 Psi + (chi theta + g |Psi|^2) Psi, theta' = Omega pi,
pi' = -chi |Psi|^2"; "Lap^2" is read as the Laplacian nabla^2, not the bi-Laplacian)::

    i dPsi/dt = (beta/2) Lap Psi + (chi theta + g |Psi|^2) Psi
    dtheta/dt = Omega pi,          dpi/dt = -chi |Psi|^2

with Psi(x) the complex signal field, theta(x) the real learning field and pi(x) its momentum, on the
sites x of an L (1D) or L0 x L1 (2D) grid of spacing ``h``; Lap is the second-difference Laplacian,
``(Lap f)_x = sum_axes (f_{x+h} - 2 f_x + f_{x-h}) / h^2``, with Dirichlet (f = 0 outside the grid) or
periodic boundaries. They are Hamilton's equations ``i dPsi/dt = dH/dPsi*``, ``theta' = dH/dpi``,
``pi' = -dH/dtheta`` of (``energy``)::

    H = (beta/2) sum_x Psi_x* (Lap Psi)_x + chi sum_x theta_x |Psi_x|^2 + (g/2) sum_x |Psi_x|^4
      + (Omega/2) sum_x pi_x^2.

Units: hbar = 1; H is the lattice sum without a cell volume, so Psi_x, theta_x, pi_x are the canonical
amplitudes of cell x (|Psi_x|^2 a number of quanta); chi, g, Omega are angular frequencies, beta an
angular frequency times length^2 (h in the same length unit), time in inverse angular frequency. The
continuum densities (H = integral dx [...], d = dim) are psi = Psi / h^(d/2), theta_c = theta / h^(d/2),
pi_c = pi / h^(d/2), with chi_c = chi h^(d/2) and g_c = g h^d. beta < 0 is the usual kinetic energy
-(1/2m) nabla^2.

Complex learning field: Theta = (theta + i pi) / sqrt(2), for which theta' = dH/dpi, pi' = -dH/dtheta
is exactly ``i dTheta/dt = dH/dTheta*``. The state is one complex vector ``Phi = concat(Theta.ravel(),
Psi.ravel())`` (row-major, length 2 N, N grid sites) obeying ``i dPhi/dt = dH/dPhi*`` with H real and
invariant under conjugation, so time reversal is complex conjugation (Psi -> Psi*, pi -> -pi) and the
echo rules of :mod:`physlearning.rules.echo` apply unchanged: ``theta0`` (complex, grid shape) is the
trainable initial Theta, and their gradient G = 2 dC/dTheta0* = dC/dRe Theta0 + i dC/dIm Theta0
(dC/dtheta0 = G.real / sqrt(2), dC/dpi0 = G.imag / sqrt(2)).

Inputs and outputs: ``init_state(psi_in)`` / ``step(state, drive)`` write the input amplitudes into Psi
at the ``inputs`` sites (flat row-major indices; default every site), ``observe`` reads Psi at the
``outputs`` sites (default every site), so ``predict`` with one drive per series is the forward pass
Psi_in -> Psi_out(T), T = ``n_steps * dt``. The echo rules inject the output error into ``split``'s
signal part, the whole field: they lift the output-site error ``dC/dPsi_out*`` onto it themselves with
:meth:`WaveField.lift_cost_grad` (dC/dPsi* at the output sites, 0 elsewhere), so every echo function
takes the cost gradient of the outputs, as for the Kerr lattice.

Integrator (``order = 2``): the symmetric Strang split step of length dt::

    S(dt) = D(dt/2) A(dt/2) K(dt) A(dt/2) D(dt/2)

with the exact flows of the three parts of H: the drift D(t): theta += Omega pi t (of (Omega/2) pi^2);
the linear step A(t): Psi -> exp(-i (beta/2) Lap t) Psi, applied exactly in the eigenbasis of the
discrete Laplacian (per axis, ``Lap_a = V_a diag(w_a) V_a^T`` from ``numpy.linalg.eigh`` at
construction; Lap is the Kronecker sum of the Lap_a, so the propagator is the product of the per-axis
ones); the potential step K(t): Psi -> exp(-i (chi theta + g |Psi|^2) t) Psi together with the kick
pi -= chi |Psi|^2 t (exact: the phase keeps |Psi|^2 and theta, the kick does not touch Psi). D and A
commute; neighbouring half steps of ``evolve`` are merged. Each part has real coefficients, so conj
maps its flow to its inverse, and the symmetric composition is exactly time-reversible:
``conj(evolve(conj(evolve(Phi, n)), n)) = Phi`` to round-off. A and K conserve sum |Psi|^2 (``norm``)
to round-off; H is conserved up to O(dt^2). Real arithmetic throughout the scan.

Not here: registration in the substrate registry, a time-step accuracy guard (cf.
``wave_lattice.check_time_step``), hardware faults, trainable beta / chi / g / Omega.
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

BOUNDARIES = ("dirichlet", "periodic")
_SQRT2 = math.sqrt(2.0)


def _is_int(v) -> bool:
    return not isinstance(v, bool) and isinstance(v, (int, np.integer))


def laplacian_1d(n: int, h: float, boundary: str) -> np.ndarray:
    """Second-difference matrix (n, n) in units of 1/h^2: -2/h^2 on the diagonal, 1/h^2 between
    neighbours, wrapped around for ``"periodic"`` (for n = 2 both neighbours are the same site: 2/h^2)."""
    if boundary not in BOUNDARIES:
        raise ValueError(f"boundary={boundary!r}: allowed values are {list(BOUNDARIES)}")
    a = -2.0 * np.eye(n)
    for i in range(n):
        for j in (i - 1, i + 1):
            if 0 <= j < n:
                a[i, j] += 1.0
            elif boundary == "periodic":
                a[i, j % n] += 1.0
    return a / h**2


def _along(m: Array, x: Array, axis: int) -> Array:
    """``m`` (n, n) applied to ``x`` along ``axis`` (counted from the front; leading batch axes allowed)."""
    return jnp.moveaxis(jnp.tensordot(x, m, axes=([axis], [1])), -1, axis)


class WaveField(ReversibleSubstrate):
    """Signal field Psi and learning field Theta = (theta + i pi)/sqrt(2) on a grid (see the module
    docstring for H, the equations of motion, the units and the split step).

    Args: ``L`` sites per side (int >= 2) or the grid shape (a tuple of ``dim`` ints >= 2); ``dim`` 1
    or 2; ``h`` (> 0) grid spacing; ``boundary`` ``"dirichlet"`` or ``"periodic"``; ``beta``
    (angular frequency x length^2), ``chi``, ``g``, ``Omega`` (angular frequencies) finite reals;
    ``dt`` (> 0) split-step length, ``n_steps`` (>= 1) steps per ``step``; ``inputs`` / ``outputs``
    distinct flat row-major site indices (None: every site); ``theta0`` the initial learning field
    Theta (grid shape, complex, finite; default 0), the trainable parameter."""

    shape: tuple[int, ...] = eqx.field(static=True)
    h: float = eqx.field(static=True)
    boundary: str = eqx.field(static=True)
    beta: float = eqx.field(static=True)
    chi: float = eqx.field(static=True)
    g: float = eqx.field(static=True)
    Omega: float = eqx.field(static=True)
    dt: float = eqx.field(static=True)
    n_steps: int = eqx.field(static=True)
    inputs: tuple[int, ...] = eqx.field(static=True)
    outputs: tuple[int, ...] = eqx.field(static=True)
    theta0: Array
    _lap: tuple[np.ndarray, ...]
    _prop: tuple[np.ndarray, ...]

    order: ClassVar[float | None] = 2

    def __init__(self, L: int | Sequence[int], dim: int = 1, *, h: float = 1.0, boundary: str = "dirichlet",
                 beta: float = -1.0, chi: float = 0.0, g: float = 0.0, Omega: float = 1.0, dt: float = 0.05,
                 n_steps: int = 1, inputs: Sequence[int] | None = None, outputs: Sequence[int] | None = None,
                 theta0=None):
        if dim not in (1, 2) or isinstance(dim, bool):
            raise ValueError(f"dim={dim!r}: allowed values are 1 (line) and 2 (plane)")
        sides = (L,) * dim if _is_int(L) else tuple(L) if isinstance(L, (tuple, list)) else None
        if sides is None or len(sides) != dim or not all(_is_int(s) and s >= 2 for s in sides):
            raise ValueError(f"L={L!r}: must be an integer >= 2 (sites per side) or {dim} such integers")
        self.shape = tuple(int(s) for s in sides)
        h_ = finite_real("h", h)
        if h_ <= 0:
            raise ValueError(f"h={h!r}: the grid spacing must be > 0")
        self.h = h_
        if boundary not in BOUNDARIES:
            raise ValueError(f"boundary={boundary!r}: allowed values are {list(BOUNDARIES)}")
        self.boundary = boundary
        self.beta = finite_real("beta", beta)
        self.chi = finite_real("chi", chi)
        self.g = finite_real("g", g)
        self.Omega = finite_real("Omega", Omega)
        self.dt = finite_real("dt", dt, gt=0)
        self.n_steps = integer("n_steps", n_steps, ge=1)

        n = math.prod(self.shape)

        def sites(name, value):
            if value is None:
                return tuple(range(n))
            try:
                s = tuple(value)
            except TypeError:
                raise ValueError(f"{name}={value!r}: must be a sequence of flat site indices") from None
            if (len(s) < 1 or not all(_is_int(i) for i in s) or len(set(s)) != len(s)
                    or any(i < 0 or i >= n for i in s)):
                raise ValueError(f"{name}={value!r}: must be distinct flat site indices in [0, {n}) "
                                 f"(grid {self.shape}, row-major)")
            return tuple(int(i) for i in s)

        self.inputs = sites("inputs", inputs)
        self.outputs = sites("outputs", outputs)

        ctype = (jnp.zeros(()) * 1j).dtype  # complex64, or complex128 under x64
        t0 = jnp.zeros(self.shape, ctype) if theta0 is None else jnp.asarray(theta0, dtype=ctype)
        if t0.shape != self.shape:
            raise ValueError(f"theta0 has shape {t0.shape}: must be the grid shape {self.shape}")
        if not bool(jnp.all(jnp.isfinite(t0))):
            raise ValueError(f"theta0={np.asarray(t0)!r}: must be finite")
        self.theta0 = t0

        # per axis: Lap_a = V diag(w) V^T, and exp(-i (beta/2) Lap_a t) = P_r + i P_i for t = dt/2, dt
        laps, props = [], []
        for s in self.shape:
            lap = laplacian_1d(s, self.h, boundary)
            w, v = np.linalg.eigh(lap)
            laps.append(lap)
            for t in (0.5 * self.dt, self.dt):
                phase = 0.5 * self.beta * w * t
                props.append(np.stack([(v * np.cos(phase)) @ v.T, -(v * np.sin(phase)) @ v.T]))
        self._lap, self._prop = tuple(laps), tuple(props)

    # -- layout ---------------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        return len(self.shape)

    @property
    def n_sites(self) -> int:
        return math.prod(self.shape)

    @property
    def n_inputs(self) -> int:
        return len(self.inputs)

    @property
    def n_outputs(self) -> int:
        return len(self.outputs)

    def split(self, state: Array) -> tuple[Array, Array]:
        """``(Theta, Psi)``: the learning field in grid shape, the signal field flat (N,) row-major (the
        whole field; ``observe`` picks the output sites)."""
        n = self.n_sites
        return state[..., :n].reshape(state.shape[:-1] + self.shape), state[..., n:]

    def join(self, theta: Array, psi: Array) -> Array:
        """The flat state ``concat(Theta.ravel(), Psi.ravel())`` (Psi flat or grid-shaped)."""
        theta = jnp.asarray(theta)
        lead = theta.shape[: theta.ndim - self.dim]
        psi = jnp.asarray(psi, theta.dtype).reshape(lead + (self.n_sites,))
        return jnp.concatenate([theta.reshape(lead + (self.n_sites,)), psi], axis=-1)

    def fields(self, state: Array) -> tuple[Array, Array, Array]:
        """``(theta, pi, Psi)``, all in grid shape: theta = sqrt(2) Re Theta, pi = sqrt(2) Im Theta."""
        t, p = self.split(state)
        return _SQRT2 * jnp.real(t), _SQRT2 * jnp.imag(t), p.reshape(p.shape[:-1] + self.shape)

    def from_fields(self, theta: Array, pi: Array, psi: Array) -> Array:
        """The state of real fields ``theta``, ``pi`` and complex ``psi`` (grid shape)."""
        ctype = (jnp.zeros(()) * 1j).dtype
        big = (jnp.asarray(theta) + 1j * jnp.asarray(pi)) / _SQRT2
        return self.join(big.astype(ctype), jnp.asarray(psi, ctype))

    def laplacian(self) -> np.ndarray:
        """The discrete Laplacian (N, N) on the flat row-major field (Kronecker sum of the per-axis ones)."""
        if self.dim == 1:
            return self._lap[0].copy()
        a, b = self._lap
        return np.kron(a, np.eye(b.shape[0])) + np.kron(np.eye(a.shape[0]), b)

    def param_filter(self):
        """Trainable: the initial learning field ``theta0`` only."""
        return self.only_fields({"theta0": True})

    def lift_cost_grad(self, fn: Callable[[Array, Array], Array]) -> Callable[[Array, Array], Array]:
        """``fn(psi_out, target) -> dC/dpsi_out*`` (at the output sites) as the error on the whole signal
        field that the echo rules inject (``split``'s Psi): dC/dPsi* at the outputs, 0 elsewhere."""
        out = np.asarray(self.outputs)

        def lifted(psi: Array, target: Array) -> Array:
            if psi.shape[-1] != self.n_sites:
                raise ValueError(f"psi has shape {psi.shape}: lift_cost_grad takes the whole signal field "
                                 f"(..., {self.n_sites}) (was the cost gradient lifted twice?)")
            return jnp.zeros_like(psi).at[..., out].set(jnp.asarray(fn(psi[..., out], target), psi.dtype))

        return lifted

    # -- dynamics -------------------------------------------------------------------------------
    def init_state(self, psi: Array | None = None) -> Array:
        """``Phi = (theta0, Psi)`` with Psi = ``psi`` (n_inputs,) at the input sites and 0 elsewhere
        (zero field when None)."""
        ctype = self.theta0.dtype
        field = jnp.zeros(self.n_sites, ctype)
        if psi is not None:
            p = jnp.asarray(psi, ctype)
            if p.shape != (self.n_inputs,):
                raise ValueError(f"psi has shape {p.shape}: must be ({self.n_inputs},) (one amplitude per input site)")
            if not isinstance(p, jax.core.Tracer) and not np.all(np.isfinite(np.asarray(p))):
                raise ValueError(f"psi={np.asarray(p)!r}: the input amplitudes must be finite")
            field = field.at[np.asarray(self.inputs)].set(p)
        return self.join(self.theta0, field)

    def _maps(self):
        """``(half, kick, full)`` on the real state ``(theta, pi, a, b)`` (grid shape, Psi = a + i b):
        half = D(dt/2) A(dt/2), kick = K(dt), full = D(dt) A(dt)."""
        rtype = jnp.zeros(()).dtype
        props = [jnp.asarray(p, rtype) for p in self._prop]
        half_p, full_p = props[0::2], props[1::2]
        dim = self.dim

        def linear(ps, q, p, a, b):
            lead = a.ndim - dim
            for ax, pr_pi in enumerate(ps):
                pr, pi_ = pr_pi[0], pr_pi[1]
                a, b = (_along(pr, a, lead + ax) - _along(pi_, b, lead + ax),
                        _along(pr, b, lead + ax) + _along(pi_, a, lead + ax))
            return q, p, a, b

        def drift_linear(ps, t):
            def f(z):
                q, p, a, b = linear(ps, *z)
                return q + (self.Omega * t) * p, p, a, b
            return f

        chi_dt, g_dt = self.chi * self.dt, self.g * self.dt

        def kick(z):
            q, p, a, b = z
            nn = a * a + b * b
            phi = chi_dt * q + g_dt * nn
            c, s = jnp.cos(phi), jnp.sin(phi)
            return q, p - chi_dt * nn, a * c + b * s, b * c - a * s  # (a + ib) e^{-i phi}

        return drift_linear(half_p, 0.5 * self.dt), kick, drift_linear(full_p, self.dt)

    def _to_real(self, state: Array):
        q, p, psi = self.fields(state)
        return q, p, jnp.real(psi), jnp.imag(psi)

    def _from_real(self, z) -> Array:
        q, p, a, b = z
        lead = a.shape[: a.ndim - self.dim]
        big = jax.lax.complex(q / _SQRT2, p / _SQRT2).reshape(lead + (self.n_sites,))
        return jnp.concatenate([big, jax.lax.complex(a, b).reshape(lead + (self.n_sites,))], axis=-1)

    def evolve(self, state: Array, n: int) -> Array:
        """``n`` split steps of length ``dt`` (time ``n dt``; one ``lax.scan``), inner half steps merged:
        ``H K (F K)^(n-1) H`` with H = D(dt/2) A(dt/2), F = D(dt) A(dt), K = K(dt)."""
        integer("n", n, ge=0, what="number of split steps")
        if n == 0:
            return state
        half, kick, full = self._maps()
        z = kick(half(self._to_real(state)))
        z, _ = jax.lax.scan(lambda y, _: (kick(full(y)), None), z, None, length=int(n) - 1)
        return self._from_real(half(z))

    def step(self, state: Array, drive: Array | None, key: PRNGKeyArray | None = None) -> Array:
        """Add ``drive`` (n_inputs,) to Psi at the input sites (None: no input), then evolve one sample
        period (``n_steps`` split steps). Deterministic: ``key`` is unused."""
        if drive is not None:
            d = jnp.asarray(drive)
            if d.shape != (self.n_inputs,):
                raise ValueError(f"drive has shape {d.shape}: must be ({self.n_inputs},) "
                                 "(one amplitude per input site)")
            state = state.at[self.n_sites + np.asarray(self.inputs)].add(d.astype(state.dtype))
        return self.evolve(state, self.n_steps)

    def observe(self, state: Array) -> Array:
        """Psi at the output sites (complex, (n_outputs,))."""
        return state[..., self.n_sites + np.asarray(self.outputs)]

    def time_reverse(self, state: Array, key: PRNGKeyArray | None = None) -> Array:
        """Complex conjugation ``Phi -> Phi*`` (Psi -> Psi*, theta -> theta, pi -> -pi); ``key`` unused."""
        return jnp.conj(state)

    # -- invariants -----------------------------------------------------------------------------
    def energy(self, state: Array) -> Array:
        """H = (beta/2) Re sum Psi* Lap Psi + chi sum theta |Psi|^2 + (g/2) sum |Psi|^4 + (Omega/2) sum pi^2
        (one state; real)."""
        q, p, a, b = self._to_real(state)
        rtype = jnp.zeros(()).dtype

        def lap(f):
            return sum(_along(jnp.asarray(m, rtype), f, ax) for ax, m in enumerate(self._lap))

        nn = a * a + b * b
        kinetic = 0.5 * self.beta * (jnp.sum(a * lap(a)) + jnp.sum(b * lap(b)))
        return kinetic + self.chi * jnp.sum(q * nn) + 0.5 * self.g * jnp.sum(nn**2) + 0.5 * self.Omega * jnp.sum(p**2)

    def norm(self, state: Array) -> Array:
        """Signal quanta sum |Psi|^2 (conserved; the learning field has no conserved norm)."""
        psi = self.split(state)[1]
        return jnp.sum(psi.real**2 + psi.imag**2)


__all__ = ["BOUNDARIES", "WaveField", "laplacian_1d"]
