"""Superparamagnetic tunnel junctions (SMTJ): stochastic two-state (P / AP) switching with
current-dependent Neel-Arrhenius rates (Mizrahi et al. 2018, Nat. Commun. 9, 1533):

    r_{AP->P} = f0 exp(-Delta (1 - i)),   r_{P->AP} = f0 exp(-Delta (1 + i))

``i`` = drive = I / I_c (clipped to [-1, 1]), ``Delta`` the thermal stability factor
(nonlinearity: the stationary P-probability is sigmoid(2 Delta i)), ``f0`` the attempt
frequency (1/ns); the timescale is the mean dwell time ~ exp(Delta) / f0. A node is an
ensemble of ``n_junctions`` junctions read as the fraction in P. The two-state master
equation is integrated exactly over each sample interval ``sample_time`` (ns):
``p' = p_inf + (p - p_inf) exp(-k dt)``, ``k = r_up + r_down`` (unconditionally stable).
With noise on, the fraction gets the exact binomial switching variance
``[p P1 (1-P1) + (1-p) P0 (1-P0)] / n_junctions`` as a Gaussian (reparameterised, so
gradients flow), ``P1``/``P0`` the probabilities to be in P after ``dt`` from P / AP.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from physlearning.substrates.reservoirs.base import Device, DeviceError, Reservoir, coupled_layer


def _dtype(dtype=None):
    """``dtype`` as a numpy dtype; None: the default float now (float64 when x64 is enabled)."""
    return jnp.zeros(()).dtype if dtype is None else jnp.dtype(dtype)


class SMTJ(Device):
    delta: float = 5.0
    """thermal stability factor Delta = E_b / k_B T."""
    f0: float = 1.0
    """attempt frequency (1/ns)."""
    sample_time: float = 50.0
    """input-sample interval (ns)."""
    n_junctions: int = 100
    """junctions per node (noise ~ 1/sqrt(n_junctions) when noise > 0)."""
    dtype: object = eqx.field(static=True, default=None)
    """dtype of the state (None: the default float when :meth:`init_state` is called)."""

    def check(self) -> None:
        if not (self.delta > 0 and self.f0 > 0 and self.sample_time > 0 and self.n_junctions >= 1):
            raise DeviceError(f"SMTJ parameters must be positive: delta={self.delta}, f0={self.f0}, "
                              f"sample_time={self.sample_time}, n_junctions={self.n_junctions}")

    def init_state(self):
        return jnp.full(self.n, 0.5, _dtype(self.dtype))

    def step(self, state, drive, key):
        i = jnp.clip(drive, -1.0, 1.0)
        r_up = self.f0 * jnp.exp(-self.delta * (1 - i))
        r_dn = self.f0 * jnp.exp(-self.delta * (1 + i))
        k = r_up + r_dn
        p_inf = r_up / k
        e = jnp.exp(-k * self.sample_time)
        p = p_inf + (state - p_inf) * e
        if key is not None:
            p1 = p_inf + (1 - p_inf) * e
            p0 = p_inf * (1 - e)
            var = (state * p1 * (1 - p1) + (1 - state) * p0 * (1 - p0)) / self.n_junctions
            p = p + jnp.sqrt(var + 1e-12) * jax.random.normal(key, p.shape, p.dtype)
            p = jnp.clip(p, 0.0, 1.0)
        return p

    def blowup_hint(self) -> str:
        return f"input_scaling (delta={self.delta}, f0={self.f0})"


def make_mtj(n: int, d_in: int, seed: int = 0, input_scaling: float = 0.3, coupling: float = 0.5,
             density: float = 0.2, bias_scaling: float = 0.2, trainable: bool = False, *, delta: float = 5.0,
             f0: float = 1.0, sample_time: float = 100.0, n_junctions: int = 100, noise: float = 0.0,
             dtype=None) -> Reservoir:
    """``n`` SMTJ nodes; noise is on when ``noise > 0`` (then the binomial noise of
    ``n_junctions`` junctions is used; the value of ``noise`` only switches it on). Defaults are
    those of the ``[reservoir.mtj]`` config section (``MTJCfg``; its ``noise = false`` is 0 here).
    Weights and state are in ``dtype`` (None: the default float, float64 when x64 is enabled)."""
    dtype = _dtype(dtype)
    dev = SMTJ(n=n, noise=noise, delta=delta, f0=f0, sample_time=sample_time, n_junctions=n_junctions, dtype=dtype)
    res = coupled_layer(dev, d_in, seed, input_scaling, coupling, density, bias_scaling, trainable)
    return jax.tree_util.tree_map(lambda a: a.astype(dtype) if eqx.is_inexact_array(a) else a, res)
