"""Reservoir devices, tasks and readouts against closed forms and reference integrations."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from physlearning.rules.ridge import fit_ridge, fit_ridge_cv, sequence_features
from physlearning.substrates.reservoirs import DelayNode, LeakyTanh, Reservoir, make_esn
from physlearning.substrates.reservoirs.mtj import SMTJ
from physlearning.substrates.reservoirs.stno import STNO
from physlearning.tasks import timeseries as ts


def test_narma10_obeys_its_recursion():
    """Atiya & Parlos (2000): y(t+1) = 0.3 y + 0.05 y sum_{i<10} y(t-i) + 1.5 u(t-9) u(t) + 0.1."""
    u, y = ts.narma10(300, seed=3)
    u, y = u[:, 0], y[:, 0]
    for t in range(20, 300):
        # y[t] is y(t+1) driven by u[t]; y[t-1] is y(t)
        rhs = 0.3 * y[t - 1] + 0.05 * y[t - 1] * y[t - 10:t].sum() + 1.5 * u[t - 9] * u[t] + 0.1
        assert abs(y[t] - rhs) < 1e-12


def test_mackey_glass_rk4_converges():
    """RK4 (order 4) with step 0.1 agrees with step 0.05 over 100 time units (Mackey & Glass 1977, tau=17)."""
    a = ts.mackey_glass_series(100, dt=0.1, discard=50)
    b = ts.mackey_glass_series(100, dt=0.05, discard=50)
    assert np.max(np.abs(a - b)) < 1e-4
    assert 0.2 < a.min() and a.max() < 1.5


def test_nrmse_divides_by_target_std():
    y = np.random.default_rng(0).normal(2.0, 3.0, 1000)
    assert ts.nrmse(np.full_like(y, y.mean()), y) == pytest.approx(1.0)
    assert ts.nrmse(y, y) == 0.0


def test_ridge_matches_closed_form():
    """Tikhonov closed form with an unpenalised intercept (same as sklearn.linear_model.Ridge)."""
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(200, 7)), rng.normal(size=(200, 2))
    r = fit_ridge(x, y, 0.3)
    sk = Ridge(alpha=0.3).fit(x, y)
    np.testing.assert_allclose(r.w, sk.coef_.T, atol=1e-10)
    np.testing.assert_allclose(r.b, sk.intercept_, atol=1e-10)


def test_ridge_cv_picks_the_validation_best():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(300, 40))
    y = x[:, :1] + 0.5 * rng.normal(size=(300, 1))
    r, scores = fit_ridge_cv(x[:100], y[:100], x[100:], y[100:], (1e-6, 1.0, 10.0, 1e4))
    assert r.alpha == min(scores, key=scores.get)
    assert scores[1e4] > min(scores.values())


def test_sequence_features_respect_lengths():
    s = np.arange(2 * 4 * 1, dtype=float).reshape(2, 4, 1)
    f = sequence_features(s, np.array([2, 4]), "mean+last")
    np.testing.assert_allclose(f, [[0.5, 1.0], [5.5, 7.0]])


def test_linear_delay_line_memory_capacity_reaches_bound():
    """Jaeger (2001): MC <= N, reached by a linear shift register (here tanh with tiny input)."""
    n = 20
    w = np.eye(n, k=-1).astype(np.float32)
    w_in = np.zeros((n, 1), np.float32)
    w_in[0, 0] = 1e-3
    res = Reservoir(LeakyTanh(n=n), w_in, w, np.zeros(n, np.float32))
    u, y = ts.memory_task(1500, 2 * n, seed=0)
    phi = np.asarray(eqx.filter_jit(lambda r, x: r.states(x))(res, jnp.asarray(u, jnp.float32)))
    r = fit_ridge(phi[100:1000], y[100:1000], 1e-12)
    mc, curve = ts.memory_capacity(r(phi[1000:]), y[1000:])
    assert 0.95 * n < mc <= n + 0.5
    assert curve[: n - 1].min() > 0.95 and curve[n + 1:].max() < 0.05


def test_esn_echo_state_property():
    """Spectral radius < 1: states from different initial conditions converge (Jaeger 2001)."""
    res = make_esn(50, 1, seed=0, spectral_radius=0.8, input_scaling=1.0, bias_scaling=0.0)
    u = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (200, 1)), jnp.float32)
    a = res.states(u)
    b = res.states(u, state0=jnp.ones(50) * 0.9)
    assert float(jnp.max(jnp.abs(a[-1] - b[-1]))) < 1e-5


@pytest.mark.parametrize("kind", ["esn", "stno"])
def test_chunk_parallel_states_match_sequential(kind):
    """Echo state property (Jaeger 2001): chunks warmed up on the ``overlap`` samples before
    them reproduce the sequential scan to float32 rounding; the seam estimate tracks the
    deviation, and a too-short warm-up shows up in it."""
    if kind == "esn":
        res = make_esn(60, 1, seed=1, spectral_radius=0.9, input_scaling=1.0, bias_scaling=0.0)
    else:
        from physlearning.substrates.reservoirs.stno import make_stno
        res = make_stno(20, 1, seed=0, input_scaling=0.5, coupling=0.5, density=0.3, gamma_g=0.5, q=2.0,
                        zeta_dc=1.5, sample_time=1.0, substeps=20, bias_scaling=0.0)
    u = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (1000, 1)), jnp.float32)
    ref = np.asarray(res.states(u))
    phi, seam = res.states_parallel(u, chunk=70, overlap=150)  # 1000 = 14 chunks + a padded one
    dev = float(np.max(np.abs(np.asarray(phi) - ref)))
    assert phi.shape == ref.shape and dev < 1e-5 and float(seam) < 1e-5
    short, seam0 = res.states_parallel(u, chunk=70, overlap=1)
    dev0 = float(np.max(np.abs(np.asarray(short) - ref)))
    assert dev0 > 1e-3 and float(seam0) > 0.1 * dev0
    exact, _ = res.states_parallel(u, chunk=5000, overlap=150)  # one chunk (clamped to T) = the sequential scan
    np.testing.assert_allclose(np.asarray(exact), ref, atol=1e-6)
    cold, seam_cold = res.states_parallel(u, chunk=70, overlap=0)  # no warm-up: the seam must say so
    assert float(seam_cold) > 0.1 * float(np.max(np.abs(np.asarray(cold) - ref)))
    with pytest.raises(ValueError, match="chunk = 0"):
        res.states_parallel(u, chunk=0, overlap=10)


def test_ridge_on_device_arrays_matches_host():
    """States left as jax arrays are fitted on their device in float64 (batched Cholesky over
    the alphas): same validation scores, alpha and readout as the host path."""
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(300, 8)), rng.normal(size=(300, 2))
    r_host, s_host = fit_ridge_cv(x[:200], y[:200], x[200:], y[200:], (1e-3, 1.0))
    r_dev, s_dev = fit_ridge_cv(jnp.asarray(x[:200]), y[:200], jnp.asarray(x[200:]), y[200:], (1e-3, 1.0),
                                on_device=True)
    np.testing.assert_allclose(r_dev.w, r_host.w, rtol=1e-5)  # jax inputs are float32
    assert r_dev.alpha == r_host.alpha
    assert s_dev == pytest.approx(s_host, rel=1e-5)
    bad = jnp.asarray(x).at[0, 0].set(jnp.nan)
    with pytest.raises(ValueError, match="NaN"):
        fit_ridge_cv(bad[:200], y[:200], bad[200:], y[200:], (1.0,), on_device=True)
    for dev in (True, False):  # 1-D targets: the same error on both paths
        with pytest.raises(ValueError, match=r"y \(n, d\)"):
            fit_ridge_cv(jnp.asarray(x[:200]), y[:200, 0], jnp.asarray(x[200:]), y[200:, 0], (1.0,), on_device=dev)


def test_stno_free_running_power():
    """Slavin & Tiberkevich (2009): p0 = (zeta - 1) / (zeta + Q) above threshold, 0 below."""
    dev = STNO(n=2, gamma_g=0.5, q=2.0, zeta_dc=0.0, sample_time=1.0, substeps=40)
    dev.check()
    step = eqx.filter_jit(lambda d, s, x: d.step(s, x, None))
    s = jnp.array([0.3, 0.3])
    for _ in range(60):
        s = step(dev, s, jnp.array([2.5, 0.7]))
    assert float(s[0]) == pytest.approx((2.5 - 1) / (2.5 + 2.0), rel=1e-4)
    assert float(s[1]) < 1e-3


def test_smtj_stationary_probability_and_binomial_noise():
    """Neel-Arrhenius detailed balance: P(P state) = sigmoid(2 Delta i); K junctions give a
    stationary fraction variance p(1-p)/K (binomial)."""
    dev = SMTJ(n=4000, delta=4.0, f0=1.0, sample_time=200.0, n_junctions=50, noise=1.0)
    drive = jnp.full(4000, 0.2)
    p_inf = 1 / (1 + np.exp(-2 * 4.0 * 0.2))
    s = dev.step(jnp.full(4000, 0.5), drive, None)
    assert float(s[0]) == pytest.approx(p_inf, abs=1e-4)  # exp(-k dt) ~ 6e-5 left of the transient
    keys = jax.random.split(jax.random.PRNGKey(0), 40)
    s = jax.lax.scan(lambda s, k: (dev.step(s, drive, k), None), jnp.full(4000, p_inf), keys)[0]
    assert float(jnp.mean(s)) == pytest.approx(p_inf, abs=0.01)
    assert float(jnp.var(s)) == pytest.approx(p_inf * (1 - p_inf) / 50, rel=0.15)


def test_delay_node_exact_integrator_matches_fine_euler():
    """Appeltant et al. (2011): dx/dt = -x + eta f(x(t - tau) + gamma J), ZOH over each theta,
    checked against Euler with 2000 steps per virtual node."""
    n, theta, eta = 8, 0.3, 0.8
    dev = DelayNode(n=n, eta=eta, p=1.0, theta=theta)
    rng = np.random.default_rng(0)
    prev = rng.uniform(0, 1, n)
    drive = rng.uniform(-0.2, 0.2, n)
    fast = np.asarray(dev.step(jnp.asarray(prev), jnp.asarray(drive), None))
    x, m = prev[-1], 2000
    ref = np.empty(n)
    for i in range(n):
        z = prev[i] + drive[i]
        target = eta * z / (1 + abs(z))
        for _ in range(m):
            x += theta / m * (-x + target)
        ref[i] = x
    np.testing.assert_allclose(fast, ref, atol=2e-4)


def test_lorenz_valid_time():
    x = ts.lorenz_series(200, seed=0)
    assert ts.valid_time(x, x, 0.02) == pytest.approx(200 * 0.02 * ts.LORENZ_LYAPUNOV)
    assert ts.valid_time(x + 100.0, x, 0.02) == 0.0


def test_esn_bernoulli_input_weights():
    """input_distribution='bernoulli': every input weight is +-input_scaling (ReservoirPy's
    convention); an unknown distribution is refused by name."""
    from physlearning.substrates.reservoirs import make_esn

    r = make_esn(50, 2, seed=0, input_scaling=0.05, input_distribution="bernoulli")
    np.testing.assert_allclose(np.abs(np.asarray(r.w_in)), 0.05, rtol=1e-6)
    assert 0.3 < np.mean(np.asarray(r.w_in) > 0) < 0.7
    with pytest.raises(ValueError, match="input_distribution = 'gauss'"):
        make_esn(10, 1, input_distribution="gauss")


def test_esn_normal_recurrent_weights():
    """weight_distribution='normal' (ReservoirPy's default W): Gaussian nonzero entries (excess
    kurtosis about 0, against -1.2 for uniform), the requested density, spectral radius exactly rho;
    an unknown distribution is refused by name."""
    from physlearning.substrates.reservoirs import make_esn

    w = np.asarray(make_esn(400, 1, seed=0, spectral_radius=0.8, weight_distribution="normal").w, np.float64)
    u = np.asarray(make_esn(400, 1, seed=0, spectral_radius=0.8).w, np.float64)
    assert np.max(np.abs(np.linalg.eigvals(w))) == pytest.approx(0.8, rel=1e-5)
    assert 0.09 < np.mean(w != 0) < 0.11

    def kurt(a):
        a = a[a != 0]
        return np.mean((a - a.mean()) ** 4) / np.var(a) ** 2 - 3

    assert abs(kurt(w)) < 0.15 and abs(kurt(u) + 1.2) < 0.1
    with pytest.raises(ValueError, match="weight distribution = 'cauchy'"):
        make_esn(10, 1, weight_distribution="cauchy")
