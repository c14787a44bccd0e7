"""Spin-torque nano-oscillators (STNO), normalised power equation (Slavin & Tiberkevich
2009; Torrejon et al. 2017, Nature 547, 428):

    dp/dt = -2 p [Gamma_G (1 + Q p) - sigma I(t) (1 - p)]

``p`` in [0, 1] is the normalised oscillation power, ``Gamma_G`` the Gilbert damping rate
(1/ns, relaxation timescale ~ 1/(2 Gamma_G)), ``Q`` the nonlinear damping coefficient
(nonlinearity), ``I`` the current in units of the threshold current ``I_th = Gamma_G /
sigma`` (so ``sigma I = Gamma_G zeta`` with supercriticality ``zeta``; free-running power
``p0 = (zeta - 1) / (zeta + Q)``). Input enters as current, ``zeta(t) = zeta_dc + drive``.
Thermal noise: Euler-Maruyama with ``dp += sqrt(2 D dt) xi`` (``D`` = ``noise``, 1/ns).
Integrator: explicit Euler with ``substeps`` steps of ``dt = sample_time / substeps``
(ns); stable while ``dt * lambda_max < 1`` with
``lambda_max = 2 Gamma_G (1 + 2 Q) + 4 Gamma_G zeta_max``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from physlearning.substrates.reservoirs.base import Device, DeviceError, Reservoir, coupled_layer


class STNO(Device):
    """``n`` spin-torque nano-oscillators, normalised power p in [0, 1] (module docstring: power
    equation, units, Euler integrator and its stability limit)."""

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
    substeps: int = 10

    @property
    def dt(self) -> float:
        return self.sample_time / self.substeps

    def stability_limit(self) -> float:
        """Largest stable Euler step (ns): 1 / lambda_max."""
        return 1.0 / (2 * self.gamma_g * (1 + 2 * self.q) + 4 * self.gamma_g * self.zeta_max)

    def check(self) -> None:
        if not self.gamma_g > 0:
            raise DeviceError(f"STNO gamma_g = {self.gamma_g!r}: must be > 0 (Gilbert damping rate, 1/ns)")
        if not self.q >= 0:
            raise DeviceError(f"STNO q = {self.q!r}: must be >= 0 (nonlinear damping coefficient)")
        if self.dt > self.stability_limit():
            raise DeviceError(
                f"STNO time step dt = sample_time / substeps = {self.dt:.4g} ns exceeds the Euler stability limit "
                f"{self.stability_limit():.4g} ns = 1/(2 Gamma_G (1+2Q) + 4 Gamma_G zeta_max) "
                f"(gamma_g={self.gamma_g}, q={self.q}, zeta_max={self.zeta_max}); raise substeps")

    def init_state(self):
        return jnp.full(self.n, (self.zeta_dc - 1) / (self.zeta_dc + self.q) if self.zeta_dc > 1 else 0.0) + 1e-3

    def step(self, state, drive, key):
        zeta = jnp.clip(self.zeta_dc + drive, 0.0, self.zeta_max)
        dt = self.dt
        keys = jax.random.split(key, self.substeps) if key is not None else None

        def euler(p, k):
            dp = -2 * p * self.gamma_g * ((1 + self.q * p) - zeta * (1 - p))
            p = p + dt * dp
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


def make_stno(n: int, d_in: int, seed: int = 0, input_scaling: float = 1.0, coupling: float = 0.0,
              density: float = 0.2, bias_scaling: float = 0.0, trainable: bool = False, **device) -> Reservoir:
    """``n`` STNOs with random input weights and (``coupling`` > 0) random mutual coupling of
    spectral radius ``coupling`` acting on the emitted powers."""
    return coupled_layer(STNO(n=n, **device), d_in, seed, input_scaling, coupling, density, bias_scaling, trainable)
