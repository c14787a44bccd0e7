"""EP estimators vs the implicit-autodiff gradient on the layered Hopfield network.

References: Scellier & Bengio 2017 (EP = gradient as beta -> 0); Laborieux et al. 2021
(one-sided bias O(beta), symmetric O(beta^2)); Laborieux & Zenke 2022 (holomorphic EP,
Cauchy integral, cosine to BPTT ~0.999).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from physlearning.core import SoftmaxCrossEntropy, SquaredError, tree_cosine, tree_rel_error
from physlearning.core.equilibrium import Equilibrium
from physlearning.rules.autodiff import ImplicitAutodiff
from physlearning.rules.ep import EquilibriumPropagation, energy_param_grad
from physlearning.substrates.hopfield import LayeredHopfield


def _instance(activation="sigmoid", output="sigmoid", gain=1.5):
    net = LayeredHopfield(
        (5, 7, 3), jax.random.PRNGKey(0), gain=gain, dtype=jnp.float64, activation=activation, output=output
    )
    x = jax.random.uniform(jax.random.PRNGKey(1), (4, 5), jnp.float64)
    t = jax.nn.one_hot(jnp.array([0, 1, 2, 1]), 3, dtype=jnp.float64)
    return net, (x, t)


SOLVER = Equilibrium(method="newton", rtol=1e-12, atol=1e-12)
FIXED_POINT = Equilibrium(method="fixed_point", rtol=1e-13, atol=1e-13, max_steps=5000)


def _grad(rule, net, batch, cost=None):
    cost = SquaredError() if cost is None else cost
    return eqx.filter_jit(rule.estimate)(net, batch, cost, jax.random.PRNGKey(0))


@pytest.mark.parametrize(
    "activation,output,cost", [("sigmoid", "sigmoid", SquaredError()), ("tanh", "linear", SoftmaxCrossEntropy())]
)
def test_symmetric_and_holomorphic_match_autodiff(x64, activation, output, cost):
    """Newton relaxation for the sigmoid net; the physical fixed-point relaxation for tanh
    (whose u-space Hessian is indefinite far from equilibrium, where Newton can diverge)."""
    net, batch = _instance(activation, output)
    solver = SOLVER if activation == "sigmoid" else FIXED_POINT
    ref, aux = _grad(ImplicitAutodiff(solver), net, batch, cost)
    assert aux["residual"] < 1e-10
    for est in ("symmetric", "holomorphic"):
        g, aux = _grad(EquilibriumPropagation(1e-3, est, 4, solver), net, batch, cost)
        assert float(tree_cosine(g, ref)) >= 0.999
        assert float(tree_rel_error(g, ref)) < 1e-5, est
        assert aux["residual"] < 1e-10


def test_bias_slopes_one_sided_and_symmetric(x64):
    """log-log slope of |g_EP - g| vs beta: ~1 one-sided, ~2 symmetric (Laborieux et al. 2021)."""
    net, batch = _instance()
    ref, _ = _grad(ImplicitAutodiff(SOLVER), net, batch)
    betas = np.array([1e-1, 3e-2, 1e-2, 3e-3])
    for est, expected in (("one_sided", 1.0), ("symmetric", 2.0)):
        errs = [
            float(tree_rel_error(_grad(EquilibriumPropagation(float(b), est, 4, SOLVER), net, batch)[0], ref))
            for b in betas
        ]
        slope = np.polyfit(np.log(betas), np.log(errs), 1)[0]
        assert abs(slope - expected) < 0.15, (est, slope, errs)


def test_fixed_point_relaxation_matches_newton(x64):
    """The physical relaxation map and Newton's method find the same equilibrium."""
    net, (x, t) = _instance()
    fp = FIXED_POINT
    for beta in (0.0, 0.3):
        s_n, _ = SOLVER.solve(net, x[0], beta, t[0], SquaredError())
        s_f, res = fp.solve(net, x[0], beta, t[0], SquaredError())
        assert res < 1e-9
        for a, b in zip(s_n, s_f):
            np.testing.assert_allclose(a, b, atol=1e-9)


def test_energy_param_grad_is_local_hebbian(x64):
    """dE/dW_l = -s_l s_{l-1}^T at fixed state: a local, measurable quantity."""
    net, (x, _) = _instance()
    s = net.init_state(x[0])
    g = energy_param_grad(net, s, x[0])
    rates = net.rates(s)
    np.testing.assert_allclose(g.weights[0], -np.outer(rates[0], x[0]), atol=1e-12)
    np.testing.assert_allclose(g.weights[1], -np.outer(rates[1], rates[0]), atol=1e-12)
    np.testing.assert_allclose(g.biases[1], -rates[1], atol=1e-12)


def test_bad_rule_arguments():
    with pytest.raises(ValueError, match="beta = 0"):
        EquilibriumPropagation(0.0)
    with pytest.raises(ValueError, match="estimator 'two_sided'"):
        EquilibriumPropagation(0.1, "two_sided")
    with pytest.raises(ValueError, match="equilibrium method 'lbfgs'"):
        Equilibrium(method="lbfgs")


def test_measurement_noise_perturbs_estimate_without_bias(x64):
    """Read-out noise on dF/dtheta: single estimates scatter, their mean converges to the clean one."""
    from physlearning.core import GaussianMeasurementNoise

    net, batch = _instance()
    clean, _ = _grad(EquilibriumPropagation(0.05, "symmetric", 4, SOLVER), net, batch)
    noisy_rule = EquilibriumPropagation(0.05, "symmetric", 4, SOLVER, GaussianMeasurementNoise(1e-4))
    fn = eqx.filter_jit(noisy_rule.estimate)
    draws = [fn(net, batch, SquaredError(), jax.random.PRNGKey(i))[0] for i in range(64)]
    one = float(tree_rel_error(draws[0], clean))
    mean = jax.tree_util.tree_map(lambda *a: sum(a) / len(a), *draws)
    assert one > 1e-3
    assert float(tree_rel_error(mean, clean)) < one / 4  # ~1/sqrt(64) of a single draw


def test_fixed_point_relaxation_needs_a_map():
    """A substrate without ``fixed_point_map`` is refused by name, before any tracing."""
    from physlearning.core import EnergySubstrate

    class Quadratic(EnergySubstrate):
        k: jax.Array

        def energy(self, state, x):
            return 0.5 * self.k * jnp.sum((state - x) ** 2)

        def init_state(self, x):
            return jnp.zeros_like(x)

        def readout(self, state):
            return state

    sub = Quadratic(jnp.asarray(2.0))
    x = jnp.ones(3)
    s, res = SOLVER.solve(sub, x, 0.0, x, SquaredError())  # Newton: exact minimum s = x
    np.testing.assert_allclose(s, x, atol=1e-6)
    with pytest.raises(ValueError, match="Quadratic has no relaxation map"):
        FIXED_POINT.solve(sub, x, 0.0, x, SquaredError())
