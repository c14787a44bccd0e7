"""Coupled learning (Stern et al. PRX 11, 021045, 2021): clamped state, small-eta limit, training."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from physlearning.config import ConfigError
from physlearning.core import SquaredError
from physlearning.core.equilibrium import Equilibrium
from physlearning.rules.autodiff import ImplicitAutodiff
from physlearning.rules.coupled import CoupledLearning, clamped_equilibrium
from physlearning.runs import runner
from physlearning.substrates.resistors import ResistorNetwork

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SOLVER = Equilibrium(rtol=1e-13, atol=1e-13, max_steps=60)
G = np.array([0.7, 1.3, 0.4, 0.9, 0.6])


def _bridge():
    """Source 0, free node 1, output node 2, ground 3; resistors 0-1, 1-2, 1-3, 2-3, 0-2."""
    return ResistorNetwork(4, [(0, 1), (1, 2), (1, 3), (2, 3), (0, 2)], G, sources=[0], rails=[3],
                           rail_voltages=[0.0], output_nodes=[2], dtype=jnp.float64)


def test_clamped_state_matches_kirchhoff(x64):
    """With the output held at y (an ideal voltage source), KCL at node 1 gives
    V1 = (g01 V0 + g12 y) / (g01 + g12 + g13)."""
    net = _bridge()
    x, y = jnp.array([1.0]), jnp.array([0.35])
    free, _ = SOLVER.solve(net, x, 0.0, y, SquaredError())
    s, res = clamped_equilibrium(net, x, y, free, SOLVER)
    assert abs(float(s[0]) - (G[0] * 1.0 + G[1] * 0.35) / (G[0] + G[1] + G[2])) < 1e-12
    assert abs(float(net.readout(s)[0]) - 0.35) < 1e-12 and float(res) < 1e-10


def test_small_eta_limit_is_gradient_scaled_by_output_conductance(x64):
    """Stern et al. 2021: for eta -> 0 coupled learning follows -(dy/dg)^T K (t - y), with K the
    effective conductance seen at the output (Schur complement of the Hessian d2E/dV2); for
    one output and one sample that is K times the exact gradient of C = (y - t)^2 / 2."""
    net = _bridge()
    x, t = jnp.array([[1.0]]), jnp.array([[0.1]])
    ref = ImplicitAutodiff(SOLVER).estimate(net, (x, t), SquaredError(), None)[0].g
    cl = CoupledLearning(1e-5, SOLVER).estimate(net, (x, t), SquaredError(), None)[0].g
    free, _ = SOLVER.solve(net, x[0], 0.0, t[0], SquaredError())
    h = np.asarray(jax.hessian(lambda s: net.energy(s, x[0]))(free))  # free nodes (1, 2)
    k_eff = h[1, 1] - h[1, 0] * h[0, 1] / h[0, 0]
    np.testing.assert_allclose(np.asarray(cl), k_eff * np.asarray(ref), rtol=1e-4, atol=1e-9)


def test_coupled_learning_trains_regression(tmp_path):
    """The coupled-learning example (shrunk) lowers the teacher-student test MSE 100-fold."""
    exp, cfg = runner.load(EXAMPLES / "ep_resistors_coupled.toml", ["task.n_train=16", "task.n_test=32",
                                                                    "train.epochs=150"])
    summary, path = runner.run(exp, cfg, tmp_path / "r")
    assert summary["rule"] == "coupled"
    assert summary["test_mse_ratio"] < 1e-2, summary
    assert (path / "plots" / "test_fit.png").is_file()


def test_bad_eta_is_named():
    with pytest.raises(ValueError, match=r"eta = 0: allowed values are 0 < eta <= 1"):
        CoupledLearning(eta=0)
    with pytest.raises(ConfigError, match=r"rule.eta = 1.5: allowed values are > 0 and <= 1"):
        runner.load(EXAMPLES / "ep_resistors_coupled.toml", ["rule.eta=1.5"])
