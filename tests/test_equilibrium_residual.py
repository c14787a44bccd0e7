"""What the equilibrium residual means, and Newton on the layered Hopfield network.

The Hopfield state is a vector of pre-activations u; stationarity of F = E + beta C reads
dF/du_i = rho'(u_i) (u_i - h_i(u)) = 0, h the local field. Where a unit saturates (rho' -> 0)
dF/du_i vanishes however far u_i is from h_i, so Newton on dF/du can stop at a point that is
not an equilibrium and report max|dF/du| ~ 1e-16. ``Equilibrium`` now solves and reports
s - Phi(s) (Phi the substrate's relaxation map) instead.

References, independent of the solver under test:

* the physical equilibrium = the damped relaxation u <- (1 - d) u + d Phi(u) (the Hopfield
  dynamics, Hopfield 1984; Scellier & Bengio 2017, eq. for the fixed point), iterated here with
  a plain ``lax.while_loop`` until max|u - Phi(u)| < 1e-13;
* the old solver = optimistix Newton on dF/du, written out here as it was in
  ``Equilibrium.solve`` before;
* gradients: central finite differences of the loss at the reference equilibria;
* curvature: closed-form Hessians of tiny hand-built energies.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
import pytest
from jax.flatten_util import ravel_pytree

from physlearning.core import EnergySubstrate, SquaredError
from physlearning.core.equilibrium import (
    Equilibrium,
    cgrad,
    equilibrium_residual,
    hessian_min_eigenvalue,
    is_minimum,
    total_energy,
)
from physlearning.substrates.hopfield import LayeredHopfield

COST = SquaredError()
NEWTON = Equilibrium(method="newton", rtol=1e-12, atol=1e-12)
SIZES = (6, 8, 3)
N_NETS, N_INPUTS = 10, 4


def _nets(activation, gain):
    for k in range(N_NETS):
        net = LayeredHopfield(
            SIZES, jax.random.PRNGKey(100 + k), gain=gain, dtype=jnp.float64, activation=activation, output=activation
        )
        x = jax.random.uniform(jax.random.PRNGKey(200 + k), (N_INPUTS, SIZES[0]), jnp.float64)
        yield net, x


def _max_abs(tree):
    return jnp.max(jnp.stack([jnp.max(jnp.abs(a)) for a in jax.tree_util.tree_leaves(tree)]))


def _gap(net, u, x, beta=0.0, t=None):
    """max|u - Phi(u)|, written from the substrate's map (not from ``Equilibrium``)."""
    t = jnp.zeros(SIZES[-1]) if t is None else t
    return _max_abs(jax.tree_util.tree_map(jnp.subtract, u, net.fixed_point_map(u, x, lambda y: beta * COST(y, t))))


def _relax_reference(net, x, damping=0.5, tol=1e-13, max_iter=50_000):
    """Physical equilibrium: damped fixed-point iteration from the feed-forward state, to convergence."""
    nudge = lambda y: 0.0 * COST(y, jnp.zeros(SIZES[-1]))

    def body(c):
        u, i = c
        new = net.fixed_point_map(u, x, nudge)
        return jax.tree_util.tree_map(lambda a, b: (1 - damping) * a + damping * b, u, new), i + 1

    cond = lambda c: (_gap(net, c[0], x) > tol) & (c[1] < max_iter)
    u, _ = jax.lax.while_loop(cond, body, (net.init_state(x), 0))
    return u


def _old_newton(net, x):
    """The previous formulation: Newton root of dF/du (the gradient of the energy)."""
    t = jnp.zeros(SIZES[-1])
    dF = lambda u, sub: cgrad(lambda s: total_energy(sub, s, x, 0.0, t, COST), u)
    sol = optx.root_find(
        dF, optx.Newton(rtol=1e-12, atol=1e-12), net.init_state(x), args=net, max_steps=500, throw=False
    )
    return sol.value, _max_abs(dF(sol.value, net))


@eqx.filter_jit
def _study(net, xs, solver):
    """Per input: reference, old Newton point with its old residual, new solver's point and residual."""

    def one(x):
        ref = _relax_reference(net, x)
        old, old_res = _old_newton(net, x)
        new, new_res = solver.solve(net, x, 0.0, jnp.zeros(SIZES[-1]), COST)
        dist = lambda u: _max_abs(jax.tree_util.tree_map(jnp.subtract, u, ref))
        return {
            "ref_gap": _gap(net, ref, x),
            "old_res": old_res,
            "old_gap": _gap(net, old, x),
            "old_dist": dist(old),
            "old_reported_now": equilibrium_residual(net, old, x, 0.0, jnp.zeros(SIZES[-1]), COST),
            "new_res": new_res,
            "new_gap": _gap(net, new, x),
            "new_dist": dist(new),
            "new_lam": hessian_min_eigenvalue(net, new, x),
        }

    return jax.vmap(one)(xs)


def _run_study(activation, gain, solver=NEWTON):
    rows = [_study(net, x, solver) for net, x in _nets(activation, gain)]
    return {k: np.concatenate([np.asarray(r[k]) for r in rows]) for k in rows[0]}


@pytest.mark.parametrize("activation,gain", [("sigmoid", 1.5), ("tanh", 1.5)])
def test_random_nets_old_residual_blind_new_newton_physical(x64, activation, gain):
    """10 random (6, 8, 3) nets x 4 inputs; reference: the damped physical relaxation.

    Measured (float64): sigmoid gain 1.5 -- the old Newton stops at 11/40 saturated points
    (|u| ~ 240-680, max|u - Phi(u)| ~ 240-680) with max|dF/du| <= 3e-16; tanh -- 31/40 NaN,
    1 at |u| ~ 20 with max|dF/du| ~ 2e-16, 8 more at other stationary points (saddles or other
    minima). The new Newton (warm-started by the physical relaxation, root of u - Phi(u))
    lands on the reference for 40/40 in both cases, residual <= 1e-15, at minima.
    """
    r = _run_study(activation, gain)
    n = N_NETS * N_INPUTS
    assert np.all(r["ref_gap"] < 1e-12)  # the reference did converge

    # the old measure is blind: tiny max|dF/du| where u is far from Phi(u)
    old_ok = np.isfinite(r["old_gap"])
    blind = old_ok & (r["old_res"] < 1e-10) & (r["old_gap"] > 1.0)
    spurious = ~old_ok | (r["old_dist"] > 1e-6)
    print(
        f"{activation}: old Newton off the physical equilibrium {spurious.sum()}/{n} "
        f"(NaN {(~old_ok).sum()}, blind {blind.sum()}: max|dF/du| <= {r['old_res'][blind].max(initial=0):.1e} "
        f"at max|u - Phi(u)| up to {r['old_gap'][blind].max(initial=0):.3g})"
    )
    assert blind.sum() >= 1
    assert spurious.sum() >= 5
    # ... and the residual Equilibrium now reports flags every one of those points
    assert np.all(r["old_reported_now"][blind] > 1.0)
    assert np.all(~np.isfinite(r["old_res"][~old_ok]) | (r["old_reported_now"][~old_ok] == np.inf))

    # the new Newton: on the physical equilibrium for all 40, residual tight and honest
    print(
        f"{activation}: new Newton on the reference {(r['new_dist'] < 1e-8).sum()}/{n}, "
        f"max residual {r['new_res'].max():.1e}, max distance {r['new_dist'].max():.1e}, "
        f"min Hessian eigenvalue {r['new_lam'].min():.2e}"
    )
    np.testing.assert_allclose(r["new_res"], r["new_gap"], rtol=0, atol=0)
    assert np.all(r["new_dist"] < 1e-8)
    assert np.all(r["new_res"] < 1e-10)
    assert np.all(r["new_lam"] > 0)  # minima, as the physics says


def test_newton_without_warm_start_lands_on_saddles_that_the_check_flags(x64):
    """Pure Newton (``warm_start_steps=0``) on u - Phi(u), tanh nets: never a saturated fake
    (every point it reports as converged is a true stationary point), but Newton is not downhill:
    measured 26/40 tight stationary points away from the reference, 13 of them saddles (negative
    Hessian eigenvalue), and 2 non-converged solves, each reported with residual > 1."""
    r = _run_study("tanh", 1.5, Equilibrium(method="newton", rtol=1e-12, atol=1e-12, warm_start_steps=0))
    off = r["new_dist"] > 1e-6
    tight = r["new_res"] < 1e-10
    np.testing.assert_allclose(r["new_res"], r["new_gap"], rtol=0, atol=0)
    assert np.all(tight | (r["new_res"] > 1e-3))  # no residual in the grey zone: converged or flagged
    saddles = off & tight & (r["new_lam"] < -1e-3)
    print(
        f"tanh, no warm start: off the reference {off.sum()}/40, of which tight {(off & tight).sum()}, "
        f"saddles {saddles.sum()}, flagged by the residual {(off & ~tight).sum()}"
    )
    assert off.sum() >= 5
    assert saddles.sum() >= 1


def _loss(net, x, t, states):
    return jnp.mean(jax.vmap(lambda s, tt: COST(net.readout(s), tt))(states, t))


def test_implicit_gradient_at_new_newton_matches_finite_differences(x64):
    """Implicit autodiff through the new Newton vs central differences (h = 1e-5) of the loss at
    equilibria from the damped fixed-point relaxation (another solver), on a sigmoid net where
    the old Newton stopped at saturated points for all 4 inputs. Measured cosine 1 - 1e-12; the
    old formulation's implicit gradient there: cosine 0.92."""
    net = LayeredHopfield(SIZES, jax.random.PRNGKey(108), gain=1.5, dtype=jnp.float64)
    x = jax.random.uniform(jax.random.PRNGKey(208), (N_INPUTS, SIZES[0]), jnp.float64)
    t = jax.nn.one_hot(jnp.array([0, 1, 2, 1]), SIZES[-1], dtype=jnp.float64)
    params, static = eqx.partition(net, net.param_filter())
    flat, unravel = ravel_pytree(params)

    def implicit_loss(v):
        """What ImplicitAutodiff differentiates: the loss at ``Equilibrium.solve``'s state,
        through optimistix's ImplicitAdjoint (written out so as not to depend on the rule API)."""
        sub = eqx.combine(unravel(v), static)
        states, res = jax.vmap(lambda xi, ti: NEWTON.solve(sub, xi, 0.0, ti, COST))(x, t)
        return _loss(sub, x, t, states), jnp.max(res)

    g_flat, res = eqx.filter_jit(jax.grad(implicit_loss, has_aux=True))(flat)
    assert res < 1e-10

    def loss_at(v):
        sub = eqx.combine(unravel(v), static)
        return _loss(sub, x, t, jax.vmap(lambda xi: _relax_reference(sub, xi))(x))

    h = 1e-5
    eye = jnp.eye(flat.size, dtype=flat.dtype)
    lp = eqx.filter_jit(jax.vmap(loss_at))(flat + h * eye)
    lm = eqx.filter_jit(jax.vmap(loss_at))(flat - h * eye)
    fd = (lp - lm) / (2 * h)
    cos = float(jnp.dot(g_flat, fd) / (jnp.linalg.norm(g_flat) * jnp.linalg.norm(fd)))

    def old_loss(v):
        sub = eqx.combine(unravel(v), static)
        return _loss(sub, x, t, jax.vmap(lambda xi: _old_newton(sub, xi)[0])(x))

    g_old = eqx.filter_jit(jax.grad(old_loss))(flat)
    cos_old = float(jnp.dot(g_old, fd) / (jnp.linalg.norm(g_old) * jnp.linalg.norm(fd)))
    print(f"cosine to finite differences: new {cos:.12f}, old formulation {cos_old:.3f}")
    assert cos > 0.9999
    assert float(jnp.linalg.norm(g_flat - fd) / jnp.linalg.norm(fd)) < 1e-5
    assert not cos_old > 0.99  # the check does tell the two apart (NaN counts as a failure too)


def _two_unit_net(w):
    """1-1-1 tanh net, x = 0: E(u) = G(s1) + G(s2) - w s1 s2, s = tanh u, G = int artanh."""
    net = LayeredHopfield((1, 1, 1), jax.random.PRNGKey(0), dtype=jnp.float64, activation="tanh", output="tanh")
    return eqx.tree_at(lambda n: n.weights, net, (jnp.zeros((1, 1)), jnp.full((1, 1), w)))


@pytest.mark.parametrize("w", [2.0, 0.5])
def test_saddle_at_the_origin_of_a_bistable_pair(x64, w):
    """Two tanh units coupled by w, no input: u = 0 is stationary; d^2E/du^2 there is
    [[1, -w], [-w, 1]] (rho'(0) = 1), smallest eigenvalue 1 - |w|: a saddle for w = 2 (the pair
    is bistable), a minimum for w = 1/2. For w = 2 the relaxation from a nudged start reaches
    u1 = u2 = u*, u* = 2 tanh u*, where the eigenvalues are rho' (1 -+ 2 rho'), rho' = 1 - tanh^2 u*."""
    net, x = _two_unit_net(w), jnp.zeros(1)
    origin, res = Equilibrium(rtol=1e-12, atol=1e-12).solve(net, x, 0.0, jnp.zeros(1), COST)
    assert float(_max_abs(origin)) == 0.0 and float(res) == 0.0  # an exact stationary point...
    lam = float(hessian_min_eigenvalue(net, origin, x))
    np.testing.assert_allclose(lam, 1 - abs(w), atol=1e-12)  # ...which the curvature check classifies
    assert bool(is_minimum(net, origin, x)) == (abs(w) < 1)
    if w > 1:
        start = (jnp.full(1, 0.1), jnp.full(1, 0.1))
        s, res = Equilibrium(rtol=1e-12, atol=1e-12).solve(net, x, 0.0, jnp.zeros(1), COST, start)
        u = float(s[0][0])
        np.testing.assert_allclose(u, 2 * np.tanh(u), atol=1e-12)
        np.testing.assert_allclose(float(s[1][0]), u, atol=1e-12)
        d = 1 - np.tanh(u) ** 2
        np.testing.assert_allclose(float(hessian_min_eigenvalue(net, s, x)), d * (1 - 2 * d), rtol=1e-9)
        assert bool(is_minimum(net, s, x)) and res < 1e-12


class _DoubleWell(EnergySubstrate):
    """E = sum (s^2 - 1)^2 / 4 - x s: no relaxation map (Newton on dF/ds); at x = 0, s = 0 is a
    maximum (E'' = 3 s^2 - 1 = -1), s = +-1 are minima (E'' = 2)."""

    def energy(self, state, x):
        return jnp.sum((state**2 - 1) ** 2 / 4 - x * state)

    def init_state(self, x):
        return jnp.zeros_like(x)

    def readout(self, state):
        return state


def test_maximum_of_a_map_free_substrate_and_residual_meaning(x64):
    sub, x = _DoubleWell(), jnp.zeros(2)
    s, res = NEWTON.solve(sub, x, 0.0, x, COST)
    assert float(res) == 0.0
    np.testing.assert_allclose(float(hessian_min_eigenvalue(sub, s, x)), -1.0, atol=1e-12)
    assert not bool(is_minimum(sub, s, x))
    s, _ = NEWTON.solve(sub, x, 0.0, x, COST, jnp.array([0.7, -1.4]))
    np.testing.assert_allclose(s, [1.0, -1.0], atol=1e-12)
    np.testing.assert_allclose(float(hessian_min_eigenvalue(sub, s, x)), 2.0, atol=1e-12)
    # without a map the residual is max|dF/ds| (F with the nudge), also for a truncated solve
    xb, tgt, beta = jnp.array([0.3, -0.2]), jnp.array([0.5, 0.5]), 0.7
    s, res = Equilibrium(max_steps=1).solve(sub, xb, beta, tgt, COST, jnp.array([2.0, -2.0]))
    dF = jax.grad(lambda v: total_energy(sub, v, xb, beta, tgt, COST))(s)
    np.testing.assert_allclose(float(res), float(jnp.max(jnp.abs(dF))), rtol=1e-14)
    assert float(res) > 1e-3
    assert float(equilibrium_residual(sub, jnp.array([jnp.nan, 0.0]), xb, beta, tgt, COST)) == np.inf
    with pytest.raises(ValueError, match="real states"):
        hessian_min_eigenvalue(sub, s.astype(jnp.complex128), xb)


def test_both_methods_report_the_undamped_map_gap_with_the_nudge(x64):
    """Hopfield: the residual of either method is max|u - Phi_beta(u)| (undamped, same nudge),
    also for a damped, truncated fixed-point relaxation."""
    net, x = next(_nets("sigmoid", 1.0))
    x, t, beta = x[0], jnp.array([1.0, 0.0, 0.0]), 0.3
    for solver in (NEWTON, Equilibrium(method="fixed_point", damping=0.5, max_steps=3)):
        s, res = solver.solve(net, x, beta, t, COST)
        np.testing.assert_allclose(float(res), float(_gap(net, s, x, beta, t)), rtol=1e-14)
    assert float(res) > 1e-6  # 3 damped steps: not converged, and reported as such
    s, res = NEWTON.solve(net, x, beta, t, COST)
    assert float(res) < 1e-12 and float(_gap(net, s, x)) > 1e-3  # nudged equilibrium != free one
    with pytest.raises(ValueError, match="warm_start_steps"):
        Equilibrium(warm_start_steps=-1)
