"""Spring networks: closed-form chain equilibria, EP vs implicit autodiff, EP training, bad input."""

from __future__ import annotations

from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from physlearning.config import ConfigError
from physlearning.core import SquaredError, tree_cosine
from physlearning.core.equilibrium import Equilibrium
from physlearning.experiments.ep_networks import SpringNetConfig, SpringsConfig, StrainTask, spring_task
from physlearning.rules.autodiff import ImplicitAutodiff
from physlearning.rules.ep import EquilibriumPropagation
from physlearning.runs import runner
from physlearning.substrates.springs import SpringNetwork

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SOLVER = Equilibrium(rtol=1e-13, atol=1e-13, max_steps=60)
K = np.array([1.0, 2.0, 3.0, 0.5])
L = np.array([1.0, 0.8, 1.2, 1.0])


def _solve(net, x):
    return SOLVER.solve(net, jnp.asarray(x), 0.0, jnp.zeros(net.output_nodes.size * net.dim), SquaredError())


@pytest.mark.parametrize("k4", [0.0, 5.0])
def test_hanging_chain_matches_closed_form(x64, k4):
    """Springs in series, one end pinned, force F on the other (Hooke's law in series): every
    spring carries tension F, so its extension e solves k e + k4 e^3 = F (Cardano's real root;
    e = F/k for linear springs) and x_n = sum_i (L_i + e_i)."""
    f = 0.7
    pos = np.concatenate([[0.0], np.cumsum(L)])[:, None]
    net = SpringNetwork(pos, [(i, i + 1) for i in range(4)], K, L, k4=k4, pinned=[0], input_nodes=[4],
                        input_mode="force", output_mode="position", output_nodes=[4], dtype=jnp.float64)
    s, res = _solve(net, [f])
    ext = np.array([np.real([r for r in np.roots([k4, 0.0, k, -f]) if abs(r.imag) < 1e-12 and r.real > 0][0])
                    if k4 else f / k for k in K])
    expected = np.cumsum(L + ext)
    np.testing.assert_allclose(np.asarray(net.all_positions(s, jnp.asarray([f])))[1:, 0], expected, rtol=0, atol=1e-10)
    assert float(res) < 1e-10


def test_chain_between_clamped_ends_matches_closed_form(x64):
    """Series springs between two clamped ends stretched to total length D: common tension
    T = (D - sum L) / sum(1/k) (springs in series), node i at sum_{j<i} (L_j + T/k_j)."""
    pos = np.concatenate([[0.0], np.cumsum(L)])[:, None]
    stretch = 0.9  # right end moved by +0.9
    net = SpringNetwork(pos, [(i, i + 1) for i in range(4)], K, L, pinned=[0], input_nodes=[4],
                        output_mode="position", output_nodes=[2], dtype=jnp.float64)
    s, res = _solve(net, [stretch])
    tension = stretch / np.sum(1 / K)
    expected = np.concatenate([[0.0], np.cumsum(L + tension / K)])
    np.testing.assert_allclose(np.asarray(net.all_positions(s, jnp.asarray([stretch])))[:, 0], expected, atol=1e-10)
    assert abs(float(net.readout(s)[0]) - (expected[2] - pos[2, 0])) < 1e-10


@eqx.filter_jit
def _ep_and_reference(net, x, t):
    cost = SquaredError()
    ref = ImplicitAutodiff(SOLVER).estimate(net, (x, t), cost, None)[0]
    ests = {e: EquilibriumPropagation(1e-3, e, 4, SOLVER).estimate(net, (x, t), cost, None)[0]
            for e in ("symmetric", "holomorphic")}
    return ref, ests


@pytest.mark.parametrize("spring", ["linear", "quartic"])
def test_ep_gradient_matches_implicit_autodiff(x64, spring):
    """Scellier & Bengio 2017 (symmetric: Laborieux et al. 2021; holomorphic: Laborieux & Zenke
    2022): at beta = 1e-3 in float64 the EP estimate of dC/d(k, L) has cosine >= 0.999 to the
    implicit-function-theorem gradient, on a 2D network with geometric (and quartic) nonlinearity."""
    cfg = SpringsConfig(network=SpringNetConfig(rows=3, cols=3, spring=spring), task=StrainTask(n_samples=2))
    net, x, y = spring_task(cfg, dtype=jnp.float64)
    ref, ests = _ep_and_reference(net, jnp.asarray(x, jnp.float64), jnp.asarray(y, jnp.float64))
    assert float(jnp.linalg.norm(ref.k)) > 0 and float(jnp.linalg.norm(ref.L)) > 0
    for name, g in ests.items():
        assert float(tree_cosine(g, ref)) >= 0.999, name


def test_ep_trains_strain_response_to_1e_3_of_start(tmp_path):
    """ep_springs example, shrunk (3x3 lattice, 3 source strains): symmetric EP brings the
    allosteric cost below 1e-3 of its start."""
    exp, cfg = runner.load(EXAMPLES / "ep_springs.toml", ["network.rows=3", "network.cols=3", "task.n_samples=3",
                                                          "train.epochs=150"])
    summary, path = runner.run(exp, cfg, tmp_path / "r")
    assert summary["cost_ratio"] < 1e-3, summary
    assert (path / "plots" / "response.png").is_file() and (path / "checkpoint.eqx").is_file()


def test_project_keeps_stiffness_physical():
    net = SpringNetwork([[0.0], [1.0], [2.0]], [(0, 1), (1, 2)], [1.0, 1.0], pinned=[0], input_nodes=[2],
                        output_mode="position", output_nodes=[1], k_min=0.01)
    moved = eqx.tree_at(lambda s: (s.k, s.L), net, (jnp.array([-0.5, 2.0]), jnp.array([-1.0, 1.0])))
    p = moved.project()
    assert np.all(np.asarray(p.k) >= 0.01) and np.all(np.asarray(p.L) > 0)
    assert float(p.k[1]) == 2.0
    trainable = jax.tree_util.tree_leaves(net.param_filter())
    assert sum(trainable) == 2  # k and L only; geometry and k4 fixed


@pytest.mark.parametrize("kwargs, message", [
    ({"k": [1.0, -2.0]}, "stiffness k = [1.0, -2.0]: allowed values are finite k >= 0"),
    ({"L": [1.0, 0.0]}, "rest length L"),
    ({"k4": -1.0}, "quartic stiffness k4"),
    ({"input_mode": "push"}, "input_mode = 'push': allowed values are ['displacement', 'force']"),
    ({"edges": [(0, 0)]}, "edges must join two distinct nodes"),
    ({"output_nodes": [0]}, "output_nodes = [0]: need >= 1 free"),
    ({"trainable": ("k", "k4")}, "trainable"),
])
def test_bad_substrate_input_is_named(kwargs, message):
    base = dict(positions=[[0.0], [1.0], [2.0]], edges=[(0, 1), (1, 2)], k=[1.0, 1.0], pinned=[0],
                input_nodes=[2], output_mode="position", output_nodes=[1])
    with pytest.raises(ValueError) as e:
        SpringNetwork(**{**base, **kwargs})
    assert message in str(e.value)


@pytest.mark.parametrize("override, message", [
    ("network.k_init=[-1.0, 1.0]", "network.k_init = [-1.0, 1.0]: allowed values are [low, high] with 0 <= low"),
    ("network.k_min=-0.1", "network.k_min = -0.1: allowed values are >= 0"),
    ("network.spring='cubic'", "network.spring = 'cubic': allowed values are ['linear', 'quartic']"),
    ("rule.beta=0", "rule.beta = 0.0: allowed values are > 0"),
    ("rule.eta=2.0", "rule.eta = 2.0: allowed values are > 0 and <= 1"),
    ("task.max_source_strain=0.7", "task.max_source_strain = 0.7: allowed values are > 0 and < 0.5"),
    ("network.rows=1", "network.rows = 1: allowed values are >= 2"),
    ("task.ratios=[1.0, 1.0, 1.0, 1.0, 1.0]", "task.ratios has 5 targets"),
])
def test_bad_config_is_named(override, message):
    with pytest.raises(ConfigError) as e:
        runner.load(EXAMPLES / "ep_springs.toml", ["network.rows=3", "network.cols=3", override])
    assert message in str(e.value)
