"""Physics checks of the Langevin computer and the trajectory-likelihood rule.

References: Euler-Maruyama Gaussian transition density (Onsager-Machlup action, discretised);
exact Ornstein-Uhlenbeck transition density (Gardiner, Handbook of Stochastic Methods, 4.4.6)
for a quadratic potential; Sekimoto's stochastic energetics (Prog. Theor. Phys. Suppl. 130, 17,
1998) for the heat; Crooks' microscopic reversibility (J. Stat. Phys. 90, 1481, 1998) relating
heat to the path-probability ratio; Boltzmann equilibrium of the bare units.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from physlearning.core import tree_cosine, tree_rel_error
from physlearning.rules import trajectory as tr
from physlearning.substrates.langevin import LangevinComputer


def _computer(nv=3, nh=2, K=4, T=20, dt=0.02, kT=0.3, j4v=0.0, j2h=1.0, j4h=0.0, cpl="dense", seed=0, jitter=0.3):
    c = LangevinComputer(nv, nh, n_slices=K, n_steps=T, dt=dt, kT=kT, j4_visible=j4v, j2_hidden=j2h, j4_hidden=j4h,
                         couplings=cpl, noising_coupling=0.5, key=jax.random.PRNGKey(seed))
    k1, k2 = jax.random.split(jax.random.PRNGKey(seed + 1))
    return eqx.tree_at(lambda s: (s.J, s.b, s.J2), c,
                       (c.J + jitter * jax.random.normal(k1, c.J.shape), c.b + 0.2 * jax.random.normal(k2, c.b.shape),
                        c.J2 * 1.3)).project()


@pytest.mark.parametrize("cpl,j2h,j4h", [("dense", 1.0, 0.0), ("bipartite", -1.0, 1.0), ("hidden_only", 0.5, 1.0)])
def test_local_gradient_equals_autodiff_of_em_densities(x64, cpl, j2h, j4h):
    """Reference: jax.grad of the summed Euler-Maruyama Gaussian log-densities (paths held fixed)."""
    c = _computer(cpl=cpl, j2h=j2h, j4h=j4h)
    _, omega = tr.training_paths(c, jax.random.normal(jax.random.PRNGKey(5), (6, 3)), jax.random.PRNGKey(6))
    g, ref = tr.local_gradient(c, omega), tr.autodiff_gradient(c, omega)
    assert float(tree_cosine(g, ref)) > 1 - 1e-12
    assert float(tree_rel_error(g, ref)) < 1e-6
    # the rule only touches allowed couplings and keeps them symmetric
    assert np.all(np.asarray(g.J)[:, np.asarray(c.mask) == 0] == 0)
    np.testing.assert_allclose(np.asarray(g.J), np.swapaxes(np.asarray(g.J), 1, 2))


@pytest.mark.parametrize("cpl", ["dense", "bipartite"])
def test_local_gradient_with_trainable_quartic_equals_autodiff(x64, cpl):
    """Trainable visible J4^(k): dL/dJ4 = 4 c sum r x^3 (visible units only) against jax.grad of the
    same Euler-Maruyama log-densities; hidden J4 stays a device constant (zero gradient)."""
    c = LangevinComputer(3, 2, n_slices=4, n_steps=20, dt=0.01, kT=0.3, j4_visible=0.2, j2_hidden=-1.0,
                         j4_hidden=1.0, couplings=cpl, noising_coupling=0.5, train_j4=True, key=jax.random.PRNGKey(0))
    k1, k2 = jax.random.split(jax.random.PRNGKey(1))
    c = eqx.tree_at(lambda s: (s.J, s.J4), c, (c.J + 0.3 * jax.random.normal(k1, c.J.shape),
                                               c.J4 + 0.1 * jax.random.uniform(k2, c.J4.shape))).project()
    _, omega = tr.training_paths(c, jax.random.normal(jax.random.PRNGKey(5), (6, 3)), jax.random.PRNGKey(6))
    g, ref = tr.local_gradient(c, omega), tr.autodiff_gradient(c, omega)
    assert float(tree_cosine(g, ref)) > 1 - 1e-12
    assert float(tree_rel_error(g, ref)) < 1e-6
    assert np.all(np.asarray(g.J4)[:, 3:] == 0) and np.any(np.asarray(g.J4)[:, :3] != 0)
    # the projection keeps the quartic term confining; the parameter count includes K * n_visible J4 values
    neg = eqx.tree_at(lambda s: s.J4, c, c.J4 - 1.0).project()
    assert float(jnp.min(neg.J4)) >= 0.0 and np.allclose(np.asarray(neg.J4)[:, 3:], 1.0)
    plain = LangevinComputer(3, 2, n_slices=4, n_steps=20, dt=0.01, couplings=cpl)
    assert c.n_parameters() - plain.n_parameters() == 4 * 3


def _exact_ou_logp(c: LangevinComputer, path):
    """ln P[path] from the exact OU transition density of the quadratic potential (J4 = 0):
    dx = -A (x - m) dt + sqrt(2 mu kT) dW, A = mu (2 diag J2 + Js), m = -mu A^{-1} b;
    x(t+dt) ~ N(m + e^{-A dt} (x - m), mu kT A^{-1} (1 - e^{-2 A dt}))  (A symmetric)."""
    A = c.mu * (2 * jax.vmap(jnp.diag)(c.J2) + c.couplings())
    w, V = jnp.linalg.eigh(A)
    m = -c.mu * jnp.linalg.solve(A, c.b[..., None])[..., 0]
    E = jnp.einsum("kij,kj,klj->kil", V, jnp.exp(-w * c.dt), V)
    Sinv = jnp.einsum("kij,kj,klj->kil", V, w / (c.mu * c.kT * (1 - jnp.exp(-2 * w * c.dt))), V)
    _, logdet = jnp.linalg.slogdet(Sinv)
    x, y = c.by_slice(path)
    mean = m[None, :, None] + jnp.einsum("kij,bksj->bksi", E, x - m[None, :, None])
    d = y - mean
    quad = jnp.einsum("bksi,kij,bksj->b", d, Sinv, d)
    n = x.shape[2]
    return -0.5 * quad + 0.5 * n * jnp.sum(logdet) - 0.5 * c.n_steps * c.n_units * jnp.log(2 * jnp.pi)


def test_em_likelihood_and_gradient_converge_to_exact_ou(x64):
    """Reference: closed-form OU transition density. The EM path log-likelihood per step and its
    gradient approach the exact ones as dt -> 0 (first order in dt)."""
    errs, coss = [], []
    for dt in (0.04, 0.02, 0.01):
        T = int(round(0.2 / dt))
        c = _computer(nv=3, nh=0, K=1, T=T, dt=dt, kT=0.5, jitter=0.2, seed=3)
        x0 = jax.random.normal(jax.random.PRNGKey(1), (64, 3))
        _, path, _, _ = c.simulate(x0, jax.random.PRNGKey(2), record=True)
        em = tr.path_log_likelihood(c, path)
        ex = _exact_ou_logp(c, path)
        errs.append(float(jnp.mean(jnp.abs(em - ex))) / T)
        params, static = eqx.partition(c, c.param_filter())
        g_ex = jax.grad(lambda p: -jnp.mean(_exact_ou_logp(eqx.combine(p, static), path)))(params)
        g_em = jax.grad(lambda p: -jnp.mean(tr.path_log_likelihood(eqx.combine(p, static), path)))(params)
        coss.append(float(tree_cosine(g_em, g_ex)))
    assert errs[0] > 1.5 * errs[1] > 2.25 * errs[2]  # at least first order in dt
    assert coss[-1] > 0.99 and coss[-1] >= coss[0]


def test_heat_is_kT_times_path_probability_ratio_quadratic(x64):
    """Crooks/Sekimoto: for fixed parameters and a quadratic potential the EM densities obey exactly
    kT [ln P(x_0..x_T) - ln P(x_T..x_0)] = Q_emitted - (mu dt / 4) (|grad V(x_0)|^2 - |grad V(x_T)|^2)."""
    c = _computer(nv=3, nh=2, K=1, T=50, dt=0.01, kT=0.4, seed=4)
    x0 = 2.0 * jax.random.normal(jax.random.PRNGKey(0), (16, 5))
    _, path, heat, _ = c.simulate(x0, jax.random.PRNGKey(1), record=True)
    lp_f = tr.path_log_likelihood(c, path)
    lp_r = tr.path_log_likelihood(c, path[:, ::-1])
    grad_sq = lambda x: jnp.sum(c.force(x, c.couplings()[0], c.b[0], c.J2[0], c.quartic()[0]) ** 2, -1)
    boundary = c.mu * c.dt / 4 * (grad_sq(path[:, 0]) - grad_sq(path[:, -1]))
    np.testing.assert_allclose(np.asarray(c.kT * (lp_f - lp_r)), np.asarray(heat - boundary), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(np.asarray(heat), np.asarray(c.path_heat(path)), rtol=1e-10, atol=1e-10)
    # relaxing from a high-energy start emits heat on average (second law at fixed parameters)
    assert float(jnp.mean(heat)) > 0


def test_heat_equals_likelihood_asymmetry_quartic_converges(x64):
    """With a quartic term the identity holds up to O(dt): the relative mismatch shrinks with dt."""
    mism = []
    for dt in (0.01, 0.0025):
        T = int(round(0.5 / dt))
        c = _computer(nv=2, nh=2, K=1, T=T, dt=dt, kT=0.3, j4v=0.5, j2h=-1.0, j4h=1.0, seed=6)
        x0 = jax.random.normal(jax.random.PRNGKey(0), (32, 4))
        _, path, heat, _ = c.simulate(x0, jax.random.PRNGKey(1), record=True)
        asym = c.kT * (tr.path_log_likelihood(c, path) - tr.path_log_likelihood(c, path[:, ::-1]))
        grad_sq = lambda x: jnp.sum(c.force(x, c.couplings()[0], c.b[0], c.J2[0], c.quartic()[0]) ** 2, -1)
        boundary = c.mu * c.dt / 4 * (grad_sq(path[:, 0]) - grad_sq(path[:, -1]))
        mism.append(float(jnp.mean(jnp.abs(asym - heat + boundary)) / jnp.mean(jnp.abs(heat))))
    assert mism[1] < mism[0] / 2 and mism[1] < 0.05


def test_noise_distribution_is_bare_boltzmann():
    """Reference: Boltzmann density exp(-(J2 x^2 + J4 x^4)/kT); OU variance kT/(2 J2)."""
    c = LangevinComputer(2, 2, n_slices=1, n_steps=100, dt=0.04, kT=0.5, j2_visible=1.0, j2_hidden=-1.0,
                         j4_hidden=1.0)
    x = np.asarray(c.sample_bare(jax.random.PRNGKey(0), 40000))
    assert abs(x[:, :2].var() - 0.25) < 0.01
    g = np.linspace(-4, 4, 20001)
    p = np.exp(-(-(g**2) + g**4) / 0.5)
    assert abs(x[:, 2:].var() - np.sum(g**2 * p) / np.sum(p)) < 0.02
    # the noising relaxation forgets the data: visible units end with the OU equilibrium variance
    data = jnp.full((4000, 2), 2.0)
    path = tr.noising_paths(c, data, jax.random.PRNGKey(1))
    end = np.asarray(path[:, -1, :2])
    assert abs(end.mean()) < 0.05 and abs(end.var() - 0.25) < 0.02


def test_training_learns_a_shifted_gaussian_and_reduces_path_kl():
    """The trained protocol moves noise N(0, kT/2J2) to data N(1, 0.3^2) (1 visible unit)."""
    from physlearning.core import SquaredError
    from physlearning.substrates.langevin import generate
    from physlearning.train import Trainer, make_optimizer

    c = LangevinComputer(1, 0, n_slices=5, n_steps=50, dt=0.04, kT=0.2)
    x = (1.0 + 0.3 * np.random.default_rng(0).standard_normal((2048, 1))).astype(np.float32)
    before = generate(c, jax.random.PRNGKey(1), 2000)[0]
    res = Trainer(tr.TrajectoryRule(), SquaredError(), make_optimizer("adam", 0.05), 20, 256, progress=False,
                  select="final").fit(c, (x, np.zeros(len(x))))
    after = np.asarray(generate(res.model, jax.random.PRNGKey(1), 4000)[0])
    assert abs(float(before.mean())) < 0.1
    assert abs(after.mean() - 1.0) < 0.1 and abs(after.std() - 0.3) < 0.1
    kl = [r["aux_path_kl"] for r in res.history]
    assert kl[-1] < 0.5 * kl[0]


def test_random_initial_protocol_keeps_the_noising_potential():
    """``init_scale`` perturbs only the trained protocol (symmetric, masked couplings, per
    slice); the noising potential theta_0, which defines the training data, is unchanged."""
    kw = dict(n_slices=4, n_steps=20, dt=0.01, couplings="bipartite", noising_coupling=0.5,
              key=jax.random.PRNGKey(3))
    plain = LangevinComputer(3, 2, **kw)
    rand = LangevinComputer(3, 2, init_scale=1.0, **kw)
    assert not np.allclose(rand.J, plain.J) and not np.allclose(rand.b, plain.b)
    assert not np.allclose(rand.J[0], rand.J[1])  # independent per slice
    np.testing.assert_allclose(rand.J, np.swapaxes(rand.J, 1, 2))
    assert np.all(np.asarray(rand.J)[:, np.asarray(rand.mask) == 0] == 0)
    np.testing.assert_allclose(rand.noising().J, plain.noising().J)
    np.testing.assert_allclose(rand.noising().b, plain.noising().b)
    with pytest.raises(ValueError, match="init_scale = -1"):
        LangevinComputer(3, 2, init_scale=-1.0, **kw)


def test_noising_paths_load_a_given_hidden_code():
    """Data of width N load every unit (the hidden units start at the given code, no settling);
    the code then relaxes like the visible units (Euler-Maruyama OU mean decay (1 - 2 mu J2 dt)^n);
    a width that is neither n_visible nor N is refused by name."""
    c = LangevinComputer(2, 2, n_slices=2, n_steps=50, dt=0.01, kT=0.01, key=jax.random.PRNGKey(0))
    data = jnp.tile(jnp.array([[0.5, -0.5, 3.0, -3.0]]), (2000, 1))
    path = np.asarray(tr.noising_paths(c, data, jax.random.PRNGKey(1)))
    np.testing.assert_allclose(path[:, 0], np.asarray(data))
    decay = (1 - 2 * 1.0 * 0.01) ** 50
    np.testing.assert_allclose(path[:, -1].mean(0), decay * np.array([0.5, -0.5, 3.0, -3.0]), atol=0.01)
    with pytest.raises(ValueError, match="width 3"):
        tr.noising_paths(c, data[:, :3], jax.random.PRNGKey(1))


def test_held_hidden_register_gradient_equals_autodiff_and_code_stays(x64):
    """``hold_hidden``: the hidden units keep their loaded code along the noising path and in
    generation; the path likelihood counts only the visible units' Euler-Maruyama transitions, its
    local gradient equals jax.grad of those densities, and the held units' own parameters (J_hh,
    hidden b and J2) get no gradient while the visible-hidden couplings do (the code-dependent bias)."""
    from physlearning.substrates.langevin import generate

    c = LangevinComputer(3, 2, n_slices=4, n_steps=20, dt=0.02, kT=0.3, couplings="dense", noising_coupling=0.5,
                         hold_hidden=True, key=jax.random.PRNGKey(0))
    k1, k2 = jax.random.split(jax.random.PRNGKey(1))
    c = eqx.tree_at(lambda s: (s.J, s.b), c, (c.J + 0.3 * jax.random.normal(k1, c.J.shape),
                                              c.b + 0.2 * jax.random.normal(k2, c.b.shape))).project()
    code = jnp.tile(jnp.array([[2.0, -2.0]]), (6, 1))
    data = jnp.concatenate([jax.random.normal(jax.random.PRNGKey(5), (6, 3)), code], 1)
    fwd, omega = tr.training_paths(c, data, jax.random.PRNGKey(6))
    np.testing.assert_array_equal(np.asarray(fwd[:, :, 3:]), np.broadcast_to(np.asarray(code)[:, None], (6, 21, 2)))
    g, ref = tr.local_gradient(c, omega), tr.autodiff_gradient(c, omega)
    assert float(tree_cosine(g, ref)) > 1 - 1e-12
    assert float(tree_rel_error(g, ref)) < 1e-6
    gJ = np.asarray(g.J)
    assert np.all(gJ[:, 3:, 3:] == 0) and np.all(np.asarray(g.b)[:, 3:] == 0) and np.all(np.asarray(g.J2)[:, 3:] == 0)
    assert np.any(gJ[:, :3, 3:] != 0)
    # the likelihood has 3 Gaussian transitions per step (the visible units), not 5
    r = tr.residuals(c, omega)
    var = 2 * c.mu * c.kT * c.dt
    expect = -np.sum(np.asarray(r[..., :3]) ** 2, (1, 2, 3)) / (2 * var) - 0.5 * 20 * 3 * np.log(2 * np.pi * var)
    np.testing.assert_allclose(np.asarray(tr.path_log_likelihood(c, omega)), expect, rtol=1e-12)
    # generation holds the given code and refuses a missing one
    x, _ = generate(c, jax.random.PRNGKey(2), 6, hidden=code)
    assert x.shape == (6, 3)
    _, path, _, _ = c.simulate(c.sample_noise(jax.random.PRNGKey(3), 6, code), jax.random.PRNGKey(4), record=True)
    np.testing.assert_array_equal(np.asarray(path[:, -1, 3:]), np.asarray(code))
    with pytest.raises(ValueError, match="hold_hidden = True"):
        generate(c, jax.random.PRNGKey(2), 6)
    with pytest.raises(ValueError, match=r"needs its code, shape \(6, 2\); got None"):
        c.sample_noise(jax.random.PRNGKey(3), 6)
    # parameters that act: visible-visible (3) and visible-hidden (6) pairs, visible b and J2, per slice
    assert c.n_parameters() == 4 * (3 + 6 + 3 * 2)
    with pytest.raises(ValueError, match="width 3"):
        tr.noising_paths(c, data[:, :3], jax.random.PRNGKey(1))
