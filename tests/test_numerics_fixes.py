"""Numerics fixes: float64 end to end (trajectory gradient, device reservoirs), the STNO relaxation
time and explicit-Euler stability limit, and one set of reservoir defaults (factories = configs).

Each test names its reference. float64 runs use the ``jax.enable_x64(True)`` context (not the global
switch), with everything built inside it.
"""

from __future__ import annotations

import dataclasses
import inspect

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree


def _rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


# ----------------------------------------------------------------------------- 1. trajectory rule


@pytest.mark.parametrize("cpl", ["dense", "bipartite"])
def test_local_trajectory_gradient_equals_autodiff_to_float64_rounding(cpl):
    """Reference: jax.grad of the Euler-Maruyama path log-density (``autodiff_gradient``). In
    float64 the local kick-state correlations agree to <= 1e-12 relative error for the couplings
    as for the biases (before the fix the coupling gradient was off by float32(c)/c - 1 ~ 2e-8:
    the prefactor c was rounded to float32 by the float32 coupling mask)."""
    from physlearning.rules import trajectory as tr
    from physlearning.substrates.langevin import LangevinComputer

    with jax.enable_x64(True):
        c = LangevinComputer(3, 2, n_slices=4, n_steps=20, dt=0.02, kT=0.3, couplings=cpl, noising_coupling=0.5,
                             key=jax.random.PRNGKey(0))
        k1, k2 = jax.random.split(jax.random.PRNGKey(1))
        c = eqx.tree_at(lambda s: (s.J, s.b), c, (c.J + 0.3 * jax.random.normal(k1, c.J.shape),
                                                  c.b + 0.2 * jax.random.normal(k2, c.b.shape))).project()
        _, omega = tr.training_paths(c, jax.random.normal(jax.random.PRNGKey(5), (6, 3)), jax.random.PRNGKey(6))
        assert omega.dtype == jnp.float64
        g, ref = tr.local_gradient(c, omega), tr.autodiff_gradient(c, omega)
        assert g.J.dtype == jnp.float64
        for name in ("J", "b", "J2"):
            assert _rel(getattr(g, name), getattr(ref, name)) <= 1e-12, name


# ----------------------------------------------------------------------------- 2. float64 reservoirs


@pytest.mark.parametrize("kind", ["stno", "mtj", "delay", "esn"])
def test_float64_reservoir_runs_float64_and_matches_finite_differences(kind):
    """Reference: central finite differences (eps 1e-6) of a readout loss over all weights (input,
    coupling, bias, readout). Built under x64, a reservoir's weights and initial state are float64,
    so its scan is float64 (even for float32 input, as ``reservoir_states`` feeds it) and the
    backprop gradient agrees to <= 1e-8 relative error. Before the fix the initial state was weakly
    typed and the weights float32: the whole STNO / SMTJ scan ran in float32 (error ~2e-2)."""
    from physlearning.substrates.reservoirs import MAKERS

    with jax.enable_x64(True):
        res = MAKERS[kind](6, 1, seed=0, trainable=True)
        assert res.device.init_state().dtype == jnp.float64 and res.w_in.dtype == jnp.float64
        rng = np.random.default_rng(0)
        u = jnp.asarray(rng.uniform(0, 0.5, (40, 1)), jnp.float32)
        y = jnp.asarray(rng.normal(size=40))
        w_out = jnp.asarray(rng.normal(0, 0.3, 6))
        assert res.states(u).dtype == jnp.float64
        params, static = eqx.partition((res, w_out), eqx.is_inexact_array)
        flat, unravel = ravel_pytree(params)

        def loss(v):
            r, wo = eqx.combine(unravel(v), static)
            return jnp.mean((r.states(u) @ wo - y) ** 2)

        g = jax.grad(loss)(flat)
        eps = 1e-6
        fd = jax.vmap(lambda e: (loss(flat + e) - loss(flat - e)) / (2 * eps))(jnp.eye(flat.size) * eps)
        assert _rel(fd, g) < 1e-8
        # an explicit dtype is kept: a float32 reservoir under x64 stays float32
        r32 = MAKERS[kind](6, 1, seed=0, dtype=jnp.float32)
        assert r32.device.init_state().dtype == jnp.float32 and r32.states(u).dtype == jnp.float32


# ----------------------------------------------------------------------------- 3. STNO relaxation time


@pytest.mark.parametrize("gamma_g,q,zeta", [(1.0, 2.0, 1.5), (0.5, 0.5, 2.5), (2.0, 1.0, 1.2), (1.0, 2.0, 0.5)])
def test_stno_relaxation_time_is_linearised_rate(gamma_g, q, zeta):
    """Reference: linearisation of dp/dt = f(p) = -2 Gamma_G [(1 - zeta) p + (Q + zeta) p^2] at its
    stable fixed point p0: f'(p0) = -2 Gamma_G (zeta - 1) above threshold (p0 = (zeta-1)/(zeta+Q)),
    -2 Gamma_G (1 - zeta) below (p0 = 0), so tau = 1 / (2 Gamma_G |zeta - 1|) (1 / Gamma_G at
    zeta = 1.5, not the 1/(2 Gamma_G) the docstring used to say). Measured: exponential fit of a
    small perturbation of p0 simulated with the device's own integrator (dt = 5e-4 ns, float64)."""
    from physlearning.substrates.reservoirs.stno import STNO

    with jax.enable_x64(True):
        dev = STNO(n=1, gamma_g=gamma_g, q=q, zeta_dc=zeta, sample_time=0.05, substeps=100, dtype=jnp.float64)
        dev.check()
        p0 = (zeta - 1) / (zeta + q) if zeta > 1 else 0.0
        d0 = 1e-6 if zeta > 1 else 1e-4  # below threshold: stays clear of the clip at p = 1e-6
        step = jax.jit(lambda s: dev.step(s, jnp.zeros(1), None))
        s, t, d = jnp.array([p0 + d0]), [], []
        for k in range(1, 41):  # 2 ns: 1.6 to 3.3 relaxation times here
            s = step(s)
            t.append(k * dev.sample_time)
            d.append(float(s[0]) - p0)
        tau = -1 / np.polyfit(np.asarray(t), np.log(np.asarray(d)), 1)[0]
    lam = 2 * gamma_g * abs(zeta - 1)
    assert tau == pytest.approx(1 / lam, rel=1e-3)
    # the residual is explicit Euler's own: its discrete decay (1 - lam dt)^(t/dt) has tau = -dt / ln(1 - lam dt)
    assert tau == pytest.approx(-dev.dt / np.log1p(-lam * dev.dt), rel=5e-4 if zeta < 1 else 1e-5)


# ----------------------------------------------------------------------------- 4. STNO Euler stability


def test_stno_largest_eigen_rate_and_stability_limit():
    """Reference: the local decay rate lambda(p, zeta) = -d f / d p of the device's own drift
    (autodiff), maximised over a grid of p in [0, 1], zeta in [0, zeta_max]: the maximum is at
    p = 1, zeta = zeta_max and equals 2 Gamma_G (1 + 2Q + zeta_max); explicit Euler is stable for
    dt < 2 / lambda_max = 1 / (Gamma_G (1 + 2Q + zeta_max)) (1/9 ns for the class defaults, 2.9x
    the old 1 / (2 Gamma_G (1 + 2Q + 2 zeta_max)) = 0.0385 ns)."""
    from physlearning.substrates.reservoirs import DeviceError
    from physlearning.substrates.reservoirs.stno import STNO

    with jax.enable_x64(True):
        for dev in (STNO(n=1), STNO(n=1, gamma_g=0.5, q=0.5), STNO(n=1, gamma_g=2.0, q=0.0, zeta_max=2.0)):
            p, z = jnp.meshgrid(jnp.linspace(0.0, 1.0, 101), jnp.linspace(0.0, dev.zeta_max, 41))
            lam = -jax.vmap(jax.grad(dev.drift))(p.ravel(), z.ravel())
            i = int(jnp.argmax(lam))
            assert float(p.ravel()[i]) == 1.0 and float(z.ravel()[i]) == dev.zeta_max
            assert float(lam[i]) == pytest.approx(2 * dev.gamma_g * (1 + 2 * dev.q + dev.zeta_max), rel=1e-12)
            assert float(lam[i]) == pytest.approx(dev.max_rate(), rel=1e-12)
            assert dev.stability_limit() == pytest.approx(2 / float(lam[i]), rel=1e-12)
    d = STNO(n=1)
    assert d.stability_limit() == pytest.approx(1 / 9) and d.dt < d.stability_limit()
    d.check()  # the class defaults pass their own check
    STNO(n=1, sample_time=1.0, substeps=10).check()  # the old default dt = 0.1 ns is below the true limit
    for substeps in (9, 8):  # dt = 1/9 ns: on the limit (|1 - dt lambda_max| = 1), refused; 1/8 above it
        with pytest.raises(DeviceError, match="exceeds the Euler stability limit 0.1111 ns"):
            STNO(n=1, sample_time=1.0, substeps=substeps).check()


@pytest.mark.parametrize("factor,grows", [(1.02, True), (0.98, False)])
def test_stno_euler_step_just_above_the_limit_is_unstable(factor, grows):
    """Reference: direct simulation. (a) The linearised equation d(delta)/dt = f'(p) delta at the
    fastest state (p = 1, zeta = zeta_max; f' from autodiff of the device's drift) under explicit
    Euler with dt = factor x ``stability_limit()``: just above the limit the deviation oscillates in
    sign and grows, just below it decays. (b) The full nonlinear equation (the device's drift,
    unclipped, float64) near its fixed point p0, whose rate is 2 Gamma_G (zeta - 1): with dt =
    factor x 2 / that rate, a 1e-6 perturbation grows into a period-2 oscillation above the limit
    and dies out below it (the same 2 / lambda rule on the full equation)."""
    from physlearning.substrates.reservoirs.stno import STNO

    with jax.enable_x64(True):
        dev = STNO(n=1)
        jac = float(jax.grad(dev.drift)(1.0, dev.zeta_max))
        dt, delta, signs = factor * dev.stability_limit(), 1e-6, []
        for _ in range(300):
            delta = delta + dt * jac * delta
            signs.append(np.sign(delta))
        assert np.all(np.diff(signs) != 0)  # overshoots each step (dt lambda > 1 in both cases)
        assert (abs(delta) > 1e-4) if grows else (abs(delta) < 1e-8)

        zeta = 3.0
        p0 = (zeta - 1) / (zeta + dev.q)
        dt = factor * 2 / (2 * dev.gamma_g * (zeta - 1))
        p = jnp.asarray(p0 + 1e-6)
        dev_p = []
        for _ in range(400):
            p = p + dt * dev.drift(p, zeta)
            dev_p.append(float(p) - p0)
        late = np.abs(dev_p[-20:])
        assert (late.min() > 1e-3) if grows else (late.max() < 1e-8)


# ----------------------------------------------------------------------------- 5. one set of defaults


def _factory_cases():
    from physlearning.experiments.reservoir import DelayCfg, ESNCfg, MTJCfg, STNOCfg
    from physlearning.substrates.reservoirs import make_delay, make_esn, make_mtj, make_stno

    return [("esn", make_esn, ESNCfg), ("stno", make_stno, STNOCfg), ("delay", make_delay, DelayCfg),
            ("mtj", make_mtj, MTJCfg)]


@pytest.mark.parametrize("case", range(4))
def test_factory_defaults_are_the_config_defaults(case):
    """Reference: the experiment config sections (``ESNCfg``, ``STNOCfg``, ``DelayCfg``, ``MTJCfg``,
    the values the published results used). Every config field is a factory argument with the
    same default (MTJ ``noise = false`` is the factory's 0.0), and the factory called with its
    defaults builds the same reservoir as the config's ``build``."""
    from physlearning.experiments.reservoir import ReservoirCfg, build

    kind, factory, cfg = _factory_cases()[case]
    params = inspect.signature(factory).parameters
    for f in dataclasses.fields(cfg):
        assert f.name in params, f"{factory.__name__} has no argument {f.name} ({cfg.__name__})"
        default = getattr(cfg(), f.name)
        assert params[f.name].default == default, (factory.__name__, f.name, params[f.name].default, default)
    a, b = factory(7, 2, seed=3), build(ReservoirCfg(), 2, 3, kind=kind, units=7)
    assert a.device == b.device
    for name in ("w_in", "w", "bias"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None and y is None) or np.array_equal(np.asarray(x), np.asarray(y)), name
