"""Resistor/diode networks: Kirchhoff closed forms, EP vs implicit autodiff, bias orders, training."""

from __future__ import annotations

from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from physlearning.config import ConfigError
from physlearning.core import SquaredError, tree_cosine, tree_rel_error
from physlearning.core.equilibrium import Equilibrium
from physlearning.experiments.ep_networks import ep_bias_slopes, resistor_network
from physlearning.rules.autodiff import ImplicitAutodiff
from physlearning.rules.ep import EquilibriumPropagation
from physlearning.runs import runner
from physlearning.substrates.resistors import ResistorNetwork

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SOLVER = Equilibrium(rtol=1e-13, atol=1e-13, max_steps=60)
COST = SquaredError()


def _free(net, x):
    return SOLVER.solve(net, jnp.asarray(x), 0.0, jnp.zeros(net.output_nodes.size), COST)


def _diode_instance():
    net = resistor_network(2, 3, 2, None, jax.random.PRNGKey(0), diodes=True, dtype=jnp.float64)
    x = jax.random.uniform(jax.random.PRNGKey(1), (3, 2), jnp.float64, -1, 1)
    t = jax.random.uniform(jax.random.PRNGKey(2), (3, 2), jnp.float64, -0.5, 0.5)
    return net, x, t


def test_series_and_parallel_dividers_match_kirchhoff(x64):
    """Voltage divider (Kirchhoff): source V through g1 || g2 to node 1, g3 to ground:
    V1 = (g1 + g2) V / (g1 + g2 + g3); a series chain source-g_a-1-g_b-2-g_c-ground gives
    V1 = V (1/g_b + 1/g_c) / (1/g_a + 1/g_b + 1/g_c)."""
    g = np.array([0.3, 0.5, 1.7])
    net = ResistorNetwork(3, [(0, 1), (0, 1), (1, 2)], g, sources=[0], rails=[2], rail_voltages=[0.0],
                          output_nodes=[1], dtype=jnp.float64)
    s, res = _free(net, [2.0])
    assert abs(float(net.readout(s)[0]) - (g[0] + g[1]) * 2.0 / g.sum()) < 1e-12 and float(res) < 1e-12
    ga, gb, gc = g
    net = ResistorNetwork(4, [(0, 1), (1, 2), (2, 3)], g, sources=[0], rails=[3], rail_voltages=[0.0],
                          output_nodes=[1, 2], dtype=jnp.float64)
    s, _ = _free(net, [1.0])
    r = 1 / ga + 1 / gb + 1 / gc
    np.testing.assert_allclose(np.asarray(net.readout(s)), [(1 / gb + 1 / gc) / r, (1 / gc) / r], atol=1e-12)


def test_random_linear_network_matches_nodal_analysis(x64):
    """Nodal analysis (Kirchhoff's current law): L_ff V_f = -L_fc V_c with L the weighted
    graph Laplacian, f free and c clamped nodes; the co-content minimum is that solution."""
    net = resistor_network(3, 4, 2, None, jax.random.PRNGKey(3), diodes=False, rails=(0.0, 1.0), dtype=jnp.float64)
    x = np.array([0.3, -0.7, 0.9])
    lap = np.zeros((net.n_nodes, net.n_nodes))
    for (i, j), gij in zip(net.edges, np.asarray(net.g), strict=True):
        lap[[i, j], [i, j]] += gij
        lap[i, j] -= gij
        lap[j, i] -= gij
    f, c = net.free_nodes, np.concatenate([net.sources, net.rails])
    vc = np.concatenate([x, [0.0, 1.0]])
    vf = np.linalg.solve(lap[np.ix_(f, f)], -lap[np.ix_(f, c)] @ vc)
    s, res = _free(net, x)
    np.testing.assert_allclose(np.asarray(s), vf, atol=1e-12)


def test_diode_circuit_matches_shockley_kcl(x64):
    """Source V -> diode (Shockley I = I_s (e^{dV/V_T} - 1)) -> node 1 -> g -> ground:
    KCL I_s (exp((V - V1)/V_T) - 1) = g V1, root by bisection to 1e-14."""
    i_s, v_t, g, v = 0.05, 0.2, 0.8, 1.0
    net = ResistorNetwork(3, [(1, 2)], [g], sources=[0], rails=[2], rail_voltages=[0.0], output_nodes=[1],
                          diodes=[(0, 1)], i_s=i_s, v_t=v_t, dtype=jnp.float64)
    lo, hi = 0.0, v
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if i_s * np.expm1((v - mid) / v_t) > g * mid else (lo, mid)
    s, res = _free(net, [v])
    assert abs(float(net.readout(s)[0]) - 0.5 * (lo + hi)) < 1e-10
    # reverse bias: almost no current flows, the node stays near ground
    s, _ = _free(net, [-v])
    assert abs(float(net.readout(s)[0])) < i_s / g


@eqx.filter_jit
def _ep_and_reference(net, x, t):
    ref = ImplicitAutodiff(SOLVER).estimate(net, (x, t), COST, None)[0]
    ests = {e: EquilibriumPropagation(1e-3, e, 4, SOLVER).estimate(net, (x, t), COST, None)[0]
            for e in ("symmetric", "holomorphic")}
    return ref, ests


def test_ep_gradient_matches_implicit_autodiff(x64):
    """Scellier & Bengio 2017; symmetric (Laborieux et al. 2021) and holomorphic (Laborieux &
    Zenke 2022) EP at beta = 1e-3 vs the implicit gradient on a diode network: cosine >= 0.999."""
    net, x, t = _diode_instance()
    ref, ests = _ep_and_reference(net, x, t)
    for name, g in ests.items():
        assert float(tree_cosine(g, ref)) >= 0.999, name
    assert float(tree_rel_error(ests["holomorphic"], ref)) < 1e-6


def test_ep_bias_orders_in_beta(x64):
    """Finite-difference orders of EP (Scellier & Bengio 2017; Laborieux et al. 2021): the
    one-sided estimate has error O(beta), the symmetric one O(beta^2): log-log slopes ~1 and ~2."""
    r = ep_bias_slopes()
    assert 0.8 < r["one_sided_slope"] < 1.2, r
    assert 1.8 < r["symmetric_slope"] < 2.2, r  # fails if the centred estimate lost its O(beta^2) bias
    assert max(r["symmetric_error"]) < max(r["one_sided_error"])


def test_ep_trains_regression_and_diode_network_learns_xor(tmp_path):
    """Symmetric EP trains the teacher-student regression (test MSE down 100x) and the diode
    network classifies all four XOR points."""
    exp, cfg = runner.load(EXAMPLES / "ep_resistors.toml", ["task.n_train=16", "task.n_test=32",
                                                            "train.epochs=150"])
    summary, _ = runner.run(exp, cfg, tmp_path / "reg")
    assert summary["test_mse_ratio"] < 1e-2, summary
    exp, cfg = runner.load(EXAMPLES / "ep_resistors_xor.toml", ["train.epochs=150"])
    summary, path = runner.run(exp, cfg, tmp_path / "xor")
    assert summary["accuracy"] == 1.0 and summary["final_cost"] < 0.2 * summary["initial_cost"], summary
    assert (path / "plots" / "xor_outputs.png").is_file()


def test_project_keeps_conductance_passive():
    net = ResistorNetwork(3, [(0, 1), (1, 2)], [1.0, 1.0], sources=[0], rails=[2], rail_voltages=[0.0],
                          output_nodes=[1], g_min=1e-3)
    p = eqx.tree_at(lambda s: s.g, net, jnp.array([-1.0, 0.5])).project()
    np.testing.assert_allclose(np.asarray(p.g), [1e-3, 0.5])
    assert sum(jax.tree_util.tree_leaves(net.param_filter())) == 1  # only g is trainable


@pytest.mark.parametrize("kwargs, message", [
    ({"g": [1.0, -0.5]}, "conductance g = [1.0, -0.5]: allowed values are finite g >= 0"),
    ({"i_s": 0.0}, "allowed values are i_s > 0 and v_t > 0"),
    ({"output_nodes": [0]}, "output_nodes = [0]: need >= 1 free node"),
    ({"edges": [(0, 5)]}, "edges = [0, 5]: node indices must be in [0, 3)"),
    ({"rails": [0]}, "cannot be both a source and a rail"),
    ({"rail_voltages": [0.0, 1.0]}, "rail_voltages has 2 values for 1 rails"),
])
def test_bad_substrate_input_is_named(kwargs, message):
    base = dict(n_nodes=3, edges=[(0, 1), (1, 2)], g=[1.0, 1.0], sources=[0], rails=[2], rail_voltages=[0.0],
                output_nodes=[1])
    with pytest.raises(ValueError) as e:
        ResistorNetwork(**{**base, **kwargs})
    assert message in str(e.value)


@pytest.mark.parametrize("example, override, message", [
    ("ep_resistors", "network.g_init=[-0.2, 1.0]", "network.g_init = [-0.2, 1.0]: allowed values are [low, high]"),
    ("ep_resistors", "network.v_t=0", "network.v_t = 0.0: allowed values are > 0"),
    ("ep_resistors", "rule.name='backprop'", "rule.name = 'backprop': allowed values are ['ep_symmetric'"),
    ("ep_resistors", "task.n_train=0", "task.n_train = 0: allowed values are >= 1"),
    ("ep_resistors", "task.teacher_g=[0.0, 1.0]", "task.teacher_g = [0.0, 1.0]"),
    ("ep_resistors", "solver.max_steps=0", "solver.max_steps = 0: allowed values are >= 1"),
    ("ep_resistors", "train.epochs=0", "train.epochs = 0: allowed values are >= 1"),
    ("ep_resistors", "network.conductance=1.0", "unknown config key network.conductance"),
    ("ep_resistors_xor", "task.v_low=0.7", "task.v_low = 0.7, task.v_high = 0.6: need v_low < v_high"),
    ("ep_resistors_xor", "network.n_hidden=1", "network.n_hidden = 1: allowed values are >= 2"),
])
def test_bad_config_is_named(example, override, message):
    with pytest.raises(ConfigError) as e:
        runner.load(EXAMPLES / f"{example}.toml", [override])
    assert message in str(e.value)
