"""Integrators declare their order; these tests fit it (log-log slope of the error vs the time step).

References: STNO power equation integrated with 2**14 Euler substeps (error far below the fitted range);
for Euler-Maruyama's weak order, the Ornstein-Uhlenbeck mean E[x_T] = x_0 exp(-2 mu J2 T), exact."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from physlearning.substrates.langevin import LangevinComputer
from physlearning.substrates.reservoirs.stno import STNO


def _slope(dts, errors) -> float:
    return float(np.polyfit(np.log(dts), np.log(errors), 1)[0])


def test_stno_euler_order_is_fitted():
    """Global error of p(T) after one 1-ns sample from p = 0.05 (far from p0) vs substeps."""
    with jax.enable_x64(True):
        def p_end(substeps):
            dev = STNO(n=1, sample_time=1.0, substeps=substeps, zeta_dc=1.5, dtype=jnp.float64)
            return float(dev.step(jnp.array([0.05]), jnp.zeros(1), None)[0])

        ref = p_end(2**14)
        steps = [16, 32, 64, 128, 256]
        errors = [abs(p_end(n) - ref) for n in steps]
    slope = _slope([1.0 / n for n in steps], errors)
    assert abs(slope - STNO.order) < 0.1, (slope, errors)


def test_euler_maruyama_weak_order_is_fitted():
    """E[x_T] of a single visible unit in V = J2 x^2 (no couplings, no bias): EM's mean obeys
    m_{n+1} = (1 - 2 mu J2 dt) m_n exactly, so its weak error vs exp(-2 mu J2 T) is the method's, free
    of sampling noise when read from the noiseless mean path (kT -> 0 keeps the same drift)."""
    T, x0 = 1.0, 1.0
    dts, errors = [], []
    with jax.enable_x64(True):
        for n in (20, 40, 80, 160):
            comp = LangevinComputer(1, 0, n_slices=1, n_steps=n, dt=T / n, kT=1e-12, key=jax.random.PRNGKey(0))
            x, _, _, _ = comp.simulate(jnp.full((1, 1), x0), jax.random.PRNGKey(1), track_heat=False)
            dts.append(T / n)
            errors.append(abs(float(x[0, 0]) - x0 * np.exp(-2 * comp.mu * 1.0 * T)))
    slope = _slope(dts, errors)
    assert abs(slope - LangevinComputer.weak_order) < 0.1, (slope, errors)
