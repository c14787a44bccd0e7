"""Spin-torque nano-oscillators (STNO), normalised power equation (Slavin & Tiberkevich
2009; Torrejon et al. 2017, Nature 547, 428):

    dp/dt = f(p) = -2 p [Gamma_G (1 + Q p) - sigma I(t) (1 - p)]

``p`` in [0, 1] is the normalised oscillation power, ``Gamma_G`` the Gilbert damping rate
(1/ns), ``Q`` the nonlinear damping coefficient (nonlinearity), ``I`` the current in units
of the threshold current ``I_th = Gamma_G / sigma`` (so ``sigma I = Gamma_G zeta`` with
supercriticality ``zeta``; free-running power ``p0 = (zeta - 1) / (zeta + Q)``). Input enters
as current, ``zeta(t) = zeta_dc + drive``.

Relaxation time near ``p0`` (zeta > 1): ``tau = 1 / (2 Gamma_G (zeta - 1))``, from
``f(p) = -2 Gamma_G [(1 - zeta) p + (Q + zeta) p^2]``, ``f'(p0) = -2 Gamma_G [(1 - zeta) + 2 (Q + zeta) p0]
= -2 Gamma_G (zeta - 1)`` (e.g. ``tau = 1 / Gamma_G`` at zeta = 1.5; below threshold p0 = 0 and
``tau = 1 / (2 Gamma_G (1 - zeta))``).

Thermal noise: Euler-Maruyama with ``dp += sqrt(2 D dt) xi`` (``D`` = ``noise``, 1/ns).
Integrator: explicit Euler with ``substeps`` steps of ``dt = sample_time / substeps`` (ns).
Stability limit: a deviation from any state decays at the local rate
``lambda(p, zeta) = -f'(p) = 2 Gamma_G [(1 - zeta) + 2 (Q + zeta) p]``; explicit Euler maps it to
``delta' = (1 - dt lambda) delta``, stable iff ``dt < 2 / lambda``. ``lambda`` grows with ``p``
(slope ``4 Gamma_G (Q + zeta) >= 0``), so its maximum over ``p`` in [0, 1] is
``2 Gamma_G (1 + 2 Q + zeta)`` at ``p = 1``, largest at ``zeta = zeta_max``:

    lambda_max = 2 Gamma_G (1 + 2 Q + zeta_max),   dt < 2 / lambda_max = 1 / (Gamma_G (1 + 2 Q + zeta_max)).

(Over the fixed points alone the largest rate is smaller, ``2 Gamma_G max(zeta_max - 1, 1)``;
the limit above holds for every state the device can reach.)
"""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp

from physlearning.substrates.reservoirs.base import Device, DeviceError, Reservoir, coupled_layer


def _dtype(dtype=None):
    """``dtype`` as a numpy dtype; None: the default float now (float64 when x64 is enabled)."""
    return jnp.zeros(()).dtype if dtype is None else jnp.dtype(dtype)


class STNO(Device):
    """``n`` spin-torque nano-oscillators, normalised power p in [0, 1] (module docstring: power
    equation, units, relaxation time, Euler integrator and its stability limit)."""

    order: ClassVar[float | None] = 1.0
    """explicit Euler: global error O(dt)."""

    gamma_g: float = 1.0
    """Gilbert damping rate Gamma_G (1/ns)."""
    q: float = 2.0
    """nonlinear damping Q (dimensionless)."""
    zeta_dc: float = 1.5
    """dc supercriticality I_dc / I_th."""
    zeta_max: float = 4.0
    """current limit of the source (units of I_th); zeta is clipped to [0, zeta_max]."""
    sample_time: float = 1.0
    """input-sample interval (ns)."""
    substeps: int = 20
    """Euler steps per sample: dt = 0.05 ns, 0.45 x the stability limit 1/9 ns of these defaults
    (dt lambda_max = 0.9 < 1: no overshoot anywhere in the state range)."""
    dtype: object = eqx.field(static=True, default=None)
    """dtype of the state (None: the default float when :meth:`init_state` is called)."""

    @property
    def dt(self) -> float:
        return self.sample_time / self.substeps

    def drift(self, p, zeta):
        """dp/dt = -2 p Gamma_G [(1 + Q p) - zeta (1 - p)] (1/ns)."""
        return -2 * p * self.gamma_g * ((1 + self.q * p) - zeta * (1 - p))

    def max_rate(self) -> float:
        """lambda_max = max over p in [0, 1], zeta in [0, zeta_max] of -f'(p) = 2 Gamma_G (1 + 2Q + zeta_max) (1/ns)."""
        return 2 * self.gamma_g * (1 + 2 * self.q + self.zeta_max)

    def stability_limit(self) -> float:
        """Largest stable explicit-Euler step (ns): 2 / lambda_max = 1 / (Gamma_G (1 + 2Q + zeta_max))."""
        return 2.0 / self.max_rate()

    def check(self) -> None:
        if not self.gamma_g > 0:
            raise DeviceError(f"STNO gamma_g = {self.gamma_g!r}: must be > 0 (Gilbert damping rate, 1/ns)")
        if not self.q >= 0:
            raise DeviceError(f"STNO q = {self.q!r}: must be >= 0 (nonlinear damping coefficient)")
        if self.dt >= self.stability_limit():
            raise DeviceError(
                f"STNO time step dt = sample_time / substeps = {self.dt:.4g} ns exceeds the Euler stability limit "
                f"{self.stability_limit():.4g} ns = 1/(Gamma_G (1+2Q+zeta_max)) "
                f"(gamma_g={self.gamma_g}, q={self.q}, zeta_max={self.zeta_max}); raise substeps")

    def init_state(self):
        p0 = (self.zeta_dc - 1) / (self.zeta_dc + self.q) if self.zeta_dc > 1 else 0.0
        return jnp.full(self.n, p0 + 1e-3, _dtype(self.dtype))

    def step(self, state, drive, key):
        zeta = jnp.clip(self.zeta_dc + drive, 0.0, self.zeta_max)
        dt = self.dt
        keys = jax.random.split(key, self.substeps) if key is not None else None

        def euler(p, k):
            p = p + dt * self.drift(p, zeta)
            if k is not None:
                p = p + jnp.sqrt(2 * self.noise * dt) * jax.random.normal(k, p.shape, p.dtype)
            return jnp.clip(p, 1e-6, 1.0), None

        if keys is None:
            p, _ = jax.lax.scan(lambda p, _: euler(p, None), state, None, length=self.substeps)
        else:
            p, _ = jax.lax.scan(euler, state, keys)
        return p

    def blowup_hint(self) -> str:
        return f"sample_time/substeps (dt = {self.dt:.3g} ns) or input_scaling"


def make_stno(n: int, d_in: int, seed: int = 0, input_scaling: float = 0.5, coupling: float = 1.0,
              density: float = 0.2, bias_scaling: float = 0.2, trainable: bool = False, *, gamma_g: float = 0.5,
              q: float = 0.5, zeta_dc: float = 1.5, zeta_max: float = 4.0, sample_time: float = 2.0,
              substeps: int = 40, noise: float = 0.0, dtype=None) -> Reservoir:
    """``n`` STNOs with random input weights and (``coupling`` > 0) random mutual coupling of
    spectral radius ``coupling`` acting on the emitted powers. Defaults are those of the
    ``[reservoir.stno]`` config section (``STNOCfg``). Weights and state are in ``dtype``
    (None: the default float, float64 when x64 is enabled)."""
    dtype = _dtype(dtype)
    dev = STNO(n=n, noise=noise, gamma_g=gamma_g, q=q, zeta_dc=zeta_dc, zeta_max=zeta_max, sample_time=sample_time,
               substeps=substeps, dtype=dtype)
    res = coupled_layer(dev, d_in, seed, input_scaling, coupling, density, bias_scaling, trainable)
    return jax.tree_util.tree_map(lambda a: a.astype(dtype) if eqx.is_inexact_array(a) else a, res)
