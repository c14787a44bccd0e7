"""Overdamped Langevin units: the thermodynamic computer of Whitelam (arXiv:2506.15121).

N real degrees of freedom x_i (the first ``n_visible`` are read out, the rest are hidden
units) evolve by overdamped Langevin dynamics

    dx_i/dt = -mu dV_theta(t)/dx_i + sqrt(2 mu kT) eta_i(t),   <eta_i(t) eta_j(t')> = delta_ij delta(t-t')

in the energy landscape

    V_theta(x) = sum_i (J2_i x_i^2 + J4_i x_i^4) + sum_i b_i x_i + sum_{i<j} J_ij x_i x_j .

Units: x in the device's length unit, energies (V, kT, J2 x^2, ...) in its energy unit,
mu in length^2 / (energy time), time step dt in its time unit. The trainable protocol
theta(t) = (J^(k), b^(k), J2^(k)[, J4^(k)]) is piecewise constant over K equal time slices (J2
optionally fixed; J4 of the visible units optionally trainable and kept >= 0, so no unit escapes
through a negative quartic term; otherwise J4 is a fixed device constant). The *noising
potential* theta_0 (the device's initial, time-independent potential: its J2, fixed random
couplings J0 and hidden biases b0) relaxes data to the noise distribution, its equilibrium.
Time is discretised by Euler-Maruyama,

    x_{n+1} = x_n + mu dt F_k(x_n) + sqrt(2 mu kT dt) xi_n,   F = -grad V,   xi_n ~ N(0, 1),

stepped with one ``lax.scan`` over time, batched over samples (states are ``(B, N)``).

Heat (Sekimoto, stochastic energetics): while parameters are held fixed, every energy
change of the system is heat exchanged with the bath. We report the heat *emitted* to the
bath, Q = -sum_n [V_k(x_{n+1}) - V_k(x_n)] with k the slice of step n (positive Q: the
computer warms its environment); work is done only when the protocol switches slice.
"""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, PRNGKeyArray

from physlearning.core import Substrate
from physlearning.errors import PhysLearningError

COUPLINGS = ("dense", "bipartite", "hidden_only")
"""``dense``: every pair; ``bipartite``: visible-hidden only (no visible-visible, no
hidden-hidden); ``hidden_only``: visible-hidden and hidden-hidden, no visible-visible."""


class StabilityError(PhysLearningError, ValueError):
    """Time step beyond the Euler-Maruyama stability limit of the given potential."""


class NonFiniteStateError(PhysLearningError, FloatingPointError):
    """A simulated state became NaN/inf; the message names the first bad time step."""


def coupling_mask(n_visible: int, n_hidden: int, kind: str) -> np.ndarray:
    """Symmetric 0/1 mask of allowed couplings J_ij (zero diagonal)."""
    if kind not in COUPLINGS:
        raise ValueError(f"couplings = {kind!r}: allowed values are {list(COUPLINGS)}")
    n = n_visible + n_hidden
    m = np.ones((n, n), np.float32)
    if kind in ("bipartite", "hidden_only"):
        m[:n_visible, :n_visible] = 0.0
    if kind == "bipartite":
        m[n_visible:, n_visible:] = 0.0
    np.fill_diagonal(m, 0.0)
    return m


def _noise_table(j2: float, j4: float, kT: float, n_grid: int = 4097) -> tuple[np.ndarray, np.ndarray]:
    """Grid and CDF of the one-unit Boltzmann density p(x) ~ exp(-(J2 x^2 + J4 x^4)/kT)."""
    if j4 > 0:
        scale = min(np.sqrt(kT / (2 * j2)) if j2 > 0 else np.inf, (kT / j4) ** 0.25)
    else:
        scale = np.sqrt(kT / (2 * j2))
    x = np.linspace(-9 * scale, 9 * scale, n_grid)
    logp = -(j2 * x**2 + j4 * x**4) / kT
    p = np.exp(logp - logp.max())
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (p[1:] + p[:-1]) * np.diff(x))])
    return x.astype(np.float32), (cdf / cdf[-1]).astype(np.float32)


def hidden_range(j2: float, j4: float, kT: float) -> float:
    """Typical bound on a hidden unit's |x|: twice the larger of its well position sqrt(|J2|/(2 J4))
    and its thermal quartic scale (kT/J4)^(1/4) (or 3 sqrt(kT/(2 J2)) without a quartic term)."""
    if j4 > 0:
        return 2 * max(np.sqrt(abs(j2) / (2 * j4)), (kT / j4) ** 0.25)
    return 3 * np.sqrt(kT / (2 * j2))


class LangevinComputer(Substrate):
    """Overdamped Langevin units with a piecewise-constant protocol (J^(k), b^(k), J2^(k)), k < K.

    ``J`` is stored as ``(K, N, N)``; the physical couplings are its symmetric, masked part
    ``Js = mask * (J + J^T) / 2`` (zero diagonal), so V contains sum_{i<j} Js_ij x_i x_j.
    The protocol starts equal to the noising potential theta_0 in every slice.

    ``hold_hidden``: the hidden units are a held register (their loaded values stay fixed through
    noising and generation; only the visible units are stochastic), so they act on the visible
    units as a code-dependent bias J_vh h per slice.
    """

    strong_order: ClassVar[float] = 0.5
    """Euler-Maruyama's guaranteed strong order (pathwise error ~ dt^0.5; 1 for additive noise)."""
    weak_order: ClassVar[float] = 1.0
    """Euler-Maruyama's weak order (error of expectations ~ dt)."""

    J: Array
    b: Array
    J2: Array
    J4: Array
    J0: np.ndarray
    b0: np.ndarray
    j2: np.ndarray
    j4: np.ndarray
    mask: np.ndarray
    noise_grid: np.ndarray
    noise_cdf: np.ndarray
    n_visible: int = eqx.field(static=True)
    n_steps: int = eqx.field(static=True)
    mu: float = eqx.field(static=True)
    kT: float = eqx.field(static=True)
    dt: float = eqx.field(static=True)
    train_j2: bool = eqx.field(static=True)
    train_j4: bool = eqx.field(static=True)
    coupled_noising: bool = eqx.field(static=True)
    hold_hidden: bool = eqx.field(static=True)

    def __init__(self, n_visible: int, n_hidden: int, *, n_slices: int, n_steps: int, dt: float,
                 mu: float = 1.0, kT: float = 1.0, j2_visible: float = 1.0, j4_visible: float = 0.0,
                 j2_hidden: float = 1.0, j4_hidden: float = 0.0, couplings: str = "dense",
                 noising_coupling: float = 0.0, train_j2: bool = True, train_j4: bool = False,
                 init_scale: float = 0.0, hold_hidden: bool = False, key: PRNGKeyArray | None = None):
        if kT <= 0:
            raise ValueError(f"kT = {kT!r}: must be > 0 (thermal energy in the device's energy unit)")
        if mu <= 0:
            raise ValueError(f"mu = {mu!r}: mobility must be > 0")
        if dt <= 0:
            raise ValueError(f"dt = {dt!r}: time step must be > 0")
        if init_scale < 0:
            raise ValueError(f"init_scale = {init_scale!r}: must be >= 0 "
                             "(0: the protocol starts at the noising potential)")
        if n_steps % n_slices:
            raise ValueError(f"n_steps = {n_steps} is not a multiple of n_slices = {n_slices}")
        for name, a2, a4 in (("visible", j2_visible, j4_visible), ("hidden", j2_hidden, j4_hidden)):
            if a4 < 0:
                raise ValueError(f"j4_{name} = {a4!r}: must be >= 0")
            if a2 <= 0 and a4 == 0:
                raise ValueError(f"j2_{name} = {a2!r} with j4_{name} = 0: the bare potential must confine "
                                 "(j2 > 0, or j4 > 0 for a double well)")
        n = n_visible + n_hidden
        self.mask = coupling_mask(n_visible, n_hidden, couplings)
        key = jax.random.PRNGKey(0) if key is None else key
        j0 = noising_coupling / np.sqrt(n) * np.asarray(jax.random.normal(key, (n, n)), np.float32)
        self.J0 = (self.mask * 0.5 * (j0 + j0.T)).astype(np.float32)
        ftype = jnp.zeros(()).dtype  # the default float (float64 when x64 is enabled)
        self.J = jnp.tile(jnp.asarray(self.J0, ftype), (n_slices, 1, 1))
        self.coupled_noising = bool(noising_coupling > 0 and self.mask.any())
        kb = jax.random.fold_in(key, 1)
        b0 = noising_coupling * np.asarray(jax.random.normal(kb, (n,)), np.float32)
        self.b0 = np.where(np.arange(n) >= n_visible, b0, 0.0).astype(np.float32)
        self.b = jnp.tile(jnp.asarray(self.b0, ftype), (n_slices, 1))
        if init_scale > 0:  # a random starting protocol: independent perturbations in every slice
            kj, kbb = jax.random.split(jax.random.fold_in(key, 2))
            dj = init_scale / np.sqrt(n) * jax.random.normal(kj, (n_slices, n, n), ftype)
            self.J = self.J + jnp.asarray(self.mask, ftype) * 0.5 * (dj + jnp.swapaxes(dj, 1, 2))
            self.b = self.b + init_scale * jax.random.normal(kbb, (n_slices, n), ftype)
        self.j2 = np.array([j2_visible] * n_visible + [j2_hidden] * n_hidden, np.float32)
        self.J2 = jnp.tile(jnp.asarray(self.j2, ftype), (n_slices, 1))
        self.train_j2 = bool(train_j2)
        self.j4 = np.array([j4_visible] * n_visible + [j4_hidden] * n_hidden, np.float32)
        self.J4 = jnp.tile(jnp.asarray(self.j4, ftype), (n_slices, 1))
        self.train_j4 = bool(train_j4)
        gv, cv = _noise_table(j2_visible, j4_visible, kT)
        gh, ch = _noise_table(j2_hidden, j4_hidden, kT)
        self.noise_grid = np.stack([gv, gh])
        self.noise_cdf = np.stack([cv, ch])
        self.n_visible, self.n_steps = n_visible, n_steps
        self.hold_hidden = bool(hold_hidden)
        self.mu, self.kT, self.dt = float(mu), float(kT), float(dt)

    # ----- structure -------------------------------------------------------------------------
    @property
    def n_units(self) -> int:
        return self.J.shape[-1]

    @property
    def n_free(self) -> int:
        """Units that move by Langevin dynamics: all, or only the visible ones when ``hold_hidden``
        (hidden units then hold the code they were loaded with, a register of fixed values)."""
        return self.n_visible if self.hold_hidden else self.n_units

    @property
    def n_slices(self) -> int:
        return self.J.shape[0]

    def param_filter(self):
        """Only the protocol (J, b[, J2][, J4]) is trainable (device constants stay fixed, also under jit)."""
        return self.only_fields({"J": True, "b": True, "J2": self.train_j2, "J4": self.train_j4})

    def n_parameters(self) -> int:
        """Independent protocol parameters that act on the dynamics: K * (allowed pairs + N biases
        [+ N stiffnesses J2] [+ n_visible quartic coefficients J4]); with ``hold_hidden`` the held
        units' own couplings, biases and J2 (inert: they only add a constant to V) are not counted."""
        mask, nv = np.asarray(self.mask), self.n_visible
        if self.hold_hidden:  # visible-visible pairs + visible-hidden pairs; visible units only
            pairs, moving = mask[:nv, :nv].sum() / 2 + mask[:nv, nv:].sum(), nv
        else:
            pairs, moving = mask.sum() / 2, self.n_units
        per = pairs + moving * (2 if self.train_j2 else 1) + (nv if self.train_j4 else 0)
        return int(self.n_slices * per)

    def quartic(self) -> Array:
        """Physical J4 per slice, shape (K, N): the trained, non-negative J4^(k) of the visible units
        when ``train_j4``, the device constant elsewhere."""
        if not self.train_j4:
            return self._device_j4()
        vis = np.arange(self.n_units) < self.n_visible
        return jnp.where(vis, jnp.maximum(self.J4, 0.0), self._device_j4())

    def _device_j4(self) -> Array:
        """The device constant J4 in every slice, shape (K, N)."""
        return jnp.broadcast_to(jnp.asarray(self.j4, self.J4.dtype), self.J4.shape)

    def slice_index(self) -> Array:
        """Protocol slice k(n) = floor(n K / n_steps) of every time step n."""
        return (jnp.arange(self.n_steps) * self.n_slices) // self.n_steps

    def couplings(self) -> Array:
        """Physical couplings Js = mask * (J + J^T)/2, shape (K, N, N)."""
        return self.mask * 0.5 * (self.J + jnp.swapaxes(self.J, -1, -2))

    def project(self) -> LangevinComputer:
        """Symmetric, masked couplings with zero diagonal; J4 >= 0 (a negative quartic term would
        let a unit escape to infinity). (J2 may turn negative in a slice: a double-well unit, or,
        with J4 = 0, a transiently anti-confining one, which is what expanding noise into data
        needs; ``check_stability`` bounds the time step.)"""
        return eqx.tree_at(lambda s: (s.J, s.J4), self, (self.couplings(), self.quartic()))

    # ----- physics ---------------------------------------------------------------------------
    def potential(self, x: Array, Js: Array, b: Array, j2: Array, j4: Array) -> Array:
        """V(x) for states ``(..., N)`` with one slice's couplings ``Js`` (N, N), biases ``b``, J2 ``j2``
        and J4 ``j4`` (a row of :meth:`quartic`)."""
        return (jnp.sum(j2 * x**2 + j4 * x**4 + b * x, -1)
                + 0.5 * jnp.einsum("...i,ij,...j->...", x, Js, x))

    def force(self, x: Array, Js: Array, b: Array, j2: Array, j4: Array) -> Array:
        """F = -grad V for states ``(..., N)``."""
        return -(2 * j2 * x + 4 * j4 * x**3 + b + x @ Js)

    @property
    def noise_std(self) -> float:
        """Standard deviation sqrt(2 mu kT dt) of one Euler-Maruyama noise increment."""
        return float(np.sqrt(2 * self.mu * self.kT * self.dt))

    def curvature_bound(self, x_max: float) -> float:
        """Upper bound on the Hessian's spectral norm of V over all slices, for visible units within
        |x| <= x_max and hidden units within :func:`hidden_range`; with ``hold_hidden`` only the
        moving (visible) block counts."""
        nv = self.n_visible
        m = nv if self.hold_hidden else self.n_units
        js = np.asarray(self.couplings())[:, :m, :m]
        norm = max(float(np.linalg.norm(j, 2)) for j in js) if js.size else 0.0
        j2 = np.abs(np.asarray(self.J2)).max(0)[:m]
        j4 = np.asarray(self.quartic()).max(0)[:m]
        xr = np.array([x_max] * nv + [hidden_range(float(self.j2[-1]), float(self.j4[-1]), self.kT)]
                      * (self.n_units - nv))[:m]
        return float(np.max(2 * j2 + 12 * j4 * xr**2) + norm)

    def check_stability(self, x_max: float) -> None:
        """Raise :class:`StabilityError` when mu dt |Hess V| >= 1 for |x| <= x_max (Euler-Maruyama
        is stable for mu dt lambda_max < 2; we ask for < 1 to keep the discretisation accurate)."""
        bound = self.curvature_bound(x_max)
        if self.mu * self.dt * bound >= 1.0:
            raise StabilityError(
                f"dt = {self.dt:g} is beyond Euler-Maruyama stability: mu*dt*max|Hess V| = "
                f"{self.mu * self.dt * bound:.3g} >= 1 for visible |x| <= {x_max:g} (J2, J4 and couplings give "
                f"max|Hess V| = {bound:.4g}); use dt < {1.0 / (self.mu * bound):.4g}")

    def sample_bare(self, key: PRNGKeyArray, n: int) -> Array:
        """n draws with every unit independently at equilibrium in its bare potential
        J2 x^2 + J4 x^4 at temperature kT (exact, by inverse CDF on a grid)."""
        ftype = jnp.zeros(()).dtype  # the default float (float64 when x64 is enabled)
        u = jax.random.uniform(key, (n, self.n_units), ftype)
        grid, cdf = jnp.asarray(self.noise_grid, ftype), jnp.asarray(self.noise_cdf, ftype)
        v = jnp.interp(u[:, : self.n_visible], cdf[0], grid[0])
        h = jnp.interp(u[:, self.n_visible:], cdf[1], grid[1])
        return jnp.concatenate([v, h], -1)

    def noising(self) -> LangevinComputer:
        """The same device with its fixed noising potential theta_0 in every slice: couplings J0,
        hidden biases b0, J2 and J4 the device constants (time independent)."""
        return eqx.tree_at(lambda s: (s.J, s.b, s.J2, s.J4), self,
                           (jnp.broadcast_to(jnp.asarray(self.J0), self.J.shape),
                            jnp.broadcast_to(jnp.asarray(self.b0), self.b.shape),
                            jnp.broadcast_to(jnp.asarray(self.j2), self.J2.shape),
                            self._device_j4()))

    def sample_noise(self, key: PRNGKeyArray, n: int, hidden: Array | None = None) -> Array:
        """n draws from the noise distribution, the equilibrium of the noising potential: draws from
        the uncoupled units' Boltzmann densities, relaxed for n_steps under theta_0 (exact when J0 = 0).
        With ``hold_hidden`` the hidden units are set to ``hidden`` (n, n_hidden) (the register's code)."""
        n_hidden = self.n_units - self.n_visible
        if self.hold_hidden and (hidden is None or tuple(hidden.shape) != (n, n_hidden)):
            raise ValueError(f"sample_noise: a held hidden register needs its code, shape ({n}, {n_hidden}); "
                             f"got {None if hidden is None else tuple(hidden.shape)}")
        k0, k1 = jax.random.split(key)
        x0 = self.sample_bare(k0, n)
        if self.hold_hidden:
            x0 = x0.at[:, self.n_visible:].set(hidden)
        if not self.coupled_noising:
            return x0
        x, _, _, _ = self.noising().simulate(x0, k1, track_heat=False)
        return x

    def simulate(self, x0: Array, key: PRNGKeyArray, *, clamp: Array | None = None,
                 record: bool = False, track_heat: bool = True) -> tuple[Array, Array | None, Array, Array]:
        """Run the protocol from states ``x0`` (B, N) for ``n_steps`` Euler-Maruyama steps.

        ``clamp`` (B, n_steps+1, n_visible) drives the visible units along a given path
        (hidden units then follow the computer's own dynamics; with ``hold_hidden`` they keep
        their values in ``x0``). Returns ``(x_final,
        path (B, n_steps+1, N) or None, heat emitted per sample, first non-finite step or -1)``.
        """
        Js, bs, j2s, j4s = self.couplings(), self.b, self.J2, self.quartic()
        nv = self.n_visible
        sigma = self.noise_std
        noise = sigma * jax.random.normal(key, (self.n_steps,) + x0.shape, x0.dtype)
        ks = self.slice_index()
        steps = jnp.arange(self.n_steps, dtype=jnp.int32)

        def step(carry, inp):
            x, heat, bad = carry
            n, k, xi = inp
            Jk, bk, ak, qk = Js[k], bs[k], j2s[k], j4s[k]
            y = x + self.mu * self.dt * self.force(x, Jk, bk, ak, qk) + xi
            if clamp is not None:
                y = y.at[:, :nv].set(clamp[:, n + 1])
            if self.hold_hidden:
                y = y.at[:, nv:].set(x[:, nv:])
            if track_heat:
                heat = heat - (self.potential(y, Jk, bk, ak, qk) - self.potential(x, Jk, bk, ak, qk))
            finite = jnp.all(jnp.isfinite(y))
            bad = jnp.where((bad < 0) & ~finite, n.astype(bad.dtype), bad)
            return (y, heat, bad), (y if record else None)

        x0 = x0 if clamp is None else x0.at[:, :nv].set(clamp[:, 0])
        init = (x0, jnp.zeros(x0.shape[0], x0.dtype), jnp.array(-1, jnp.int32))
        (x, heat, bad), ys = jax.lax.scan(step, init, (steps, ks, noise))
        path = jnp.concatenate([x0[:, None], jnp.swapaxes(ys, 0, 1)], 1) if record else None
        return x, path, heat, bad

    def predict(self, x: Array, key: PRNGKeyArray | None = None) -> Array:
        """Forward map of the generator: states ``x`` (B, N) (noise drawn from the noise distribution,
        e.g. :meth:`sample_noise`) run through the protocol; returns the visible units (B, n_visible).
        ``key`` draws the thermal kicks (None: the fixed realisation ``PRNGKey(0)``; the dynamics are
        stochastic by nature)."""
        x_final, _, _, _ = self.simulate(x, jax.random.PRNGKey(0) if key is None else key, track_heat=False)
        return x_final[:, : self.n_visible]

    def by_slice(self, path: Array) -> tuple[Array, Array]:
        """Split paths (B, n_steps+1, N) into start and end states of every step, grouped by
        slice: two arrays (B, K, n_steps/K, N)."""
        B, K = path.shape[0], self.n_slices
        x = path[:, :-1].reshape(B, K, self.n_steps // K, -1)
        y = path[:, 1:].reshape(B, K, self.n_steps // K, -1)
        return x, y

    def sliced_potential(self, x: Array) -> Array:
        """V_k(x) for states grouped by slice (B, K, S, N) -> (B, K, S)."""
        Js = self.couplings()
        quad = 0.5 * jnp.einsum("bksi,kij,bksj->bks", x, Js, x)
        j4 = self.quartic()[None, :, None]
        return jnp.sum(self.J2[None, :, None] * x**2 + j4 * x**4 + self.b[None, :, None] * x, -1) + quad

    def sliced_force(self, x: Array) -> Array:
        """F_k(x) for states grouped by slice (B, K, S, N)."""
        Js = self.couplings()
        return -(2 * self.J2[None, :, None] * x + 4 * self.quartic()[None, :, None] * x**3 + self.b[None, :, None]
                 + jnp.einsum("bksj,kji->bksi", x, Js))

    def path_heat(self, path: Array) -> Array:
        """Heat emitted along given paths (B, n_steps+1, N): Q = -sum_n [V_k(x_{n+1}) - V_k(x_n)]."""
        x, y = self.by_slice(path)
        return -jnp.sum(self.sliced_potential(y) - self.sliced_potential(x), (1, 2))


def generate(computer: LangevinComputer, key: PRNGKeyArray, n: int,
             hidden: Array | None = None) -> tuple[Array, Array]:
    """Draw noise, run the protocol, read the visible units. Returns ``(samples (n, n_visible),
    heat emitted per sample)``; raises :class:`NonFiniteStateError` naming the first bad step.
    ``hidden`` (n, n_hidden): the held register's values, required exactly when ``hold_hidden``."""
    if computer.hold_hidden != (hidden is not None):  # the code's shape is checked by sample_noise
        raise ValueError(f"generate: hidden = {'None' if hidden is None else 'given'} but hold_hidden = "
                         f"{computer.hold_hidden}; a held register needs its code ({n}, "
                         f"{computer.n_units - computer.n_visible}), a free one none")
    k0, k1 = jax.random.split(key)
    x, _, heat, bad = _generate(computer, k0, k1, n, hidden)
    bad = int(bad)
    if bad >= 0:
        raise NonFiniteStateError(
            f"generation produced non-finite states at time step {bad} of {computer.n_steps} "
            f"(slice {bad * computer.n_slices // computer.n_steps}); the protocol is unstable "
            "(reduce dt or the coupling strength)")
    return x[:, : computer.n_visible], heat


@eqx.filter_jit
def _generate(computer: LangevinComputer, k0, k1, n: int, hidden):
    x0 = computer.sample_noise(k0, n, hidden)
    return computer.simulate(x0, k1)

