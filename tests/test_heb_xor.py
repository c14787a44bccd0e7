"""``heb_xor`` (experiments/heb/xor.py): a tiny run through the runner, the complex-gradient fix of the
optimiser, and config validation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import physlearning
from physlearning.config import ConfigError
from physlearning.experiments import heb

TINY = {"experiment": "heb_xor", "seed": 1,
        "lattice": {"L": 3, "T": 4.0, "n_steps": 40},
        "task": {"n_intensities": 3},
        "train": {"epochs": 12, "lr": 0.3}}


def test_tiny_run_loss_decreases(tmp_path):
    summary, run_dir = physlearning.run(TINY, out=tmp_path / "heb")
    assert summary["status"] == "ok"
    assert summary["n_intensities"] == 3
    assert 0 <= summary["n_intensities_correct"] <= 3
    assert summary["evolutions_per_update"] == 12.0  # 4 rows x 3 evolutions (centred echo)
    assert summary["final_loss"] < summary["initial_loss"]
    with np.load(run_dir / "data" / "loss.npz") as z:
        loss = z["loss"]
    assert loss.shape == (3, 12)
    assert np.all(loss[:, -1] < loss[:, 0])
    with np.load(run_dir / "data" / "xor_outputs.npz") as z:
        assert z["output_final"].shape == (3, 4)
    assert (run_dir / "xor_outputs.png").exists()
    assert heb.figures(run_dir) == ["xor_outputs.png", "loss.png"]
    loaded = physlearning.load_run(run_dir)
    assert loaded.model.theta0.shape == (3, 3)


def test_single_row_updates_as_the_reference(tmp_path):
    """``train.batch_size = 1``: 4 single-row updates per epoch (the reference's single-sample steps),
    each a simple HEB step of 2 evolutions; the paper's step applied as is (SGD lr 1, no clip)."""
    cfg = {**TINY, "rule": {"kind": "heb_simple", "m": 0.05},
           "train": {"epochs": 3, "batch_size": 1, "optimizer": "sgd", "schedule": "constant", "lr": 1.0,
                     "max_step": 0.0, "train_imag": False}}
    summary, _ = physlearning.run(cfg, out=tmp_path / "rows")
    assert summary["status"] == "ok"
    assert summary["updates_per_machine"] == 12
    assert summary["evolutions_per_update"] == 2.0  # one row x (echo + forward) per update


def _descend(opt, steps=50):
    """Minimise C(z) = |z - z*|^2 = 4 (Im z)^2 with jax-convention grads through ``opt``."""
    z = jnp.asarray([0.3 + 0.8j], jnp.complex64)
    loss = lambda z: jnp.sum(jnp.abs(z - jnp.conj(z)) ** 2)
    state = opt.init(z)
    c0 = float(loss(z))
    for _ in range(steps):
        g = jax.grad(loss)(z)
        u, state = opt.update(g, state, z)
        z = z + u
    return c0, float(loss(z)), z


def test_conj_optimizer_moves_complex_parameter_downhill():
    c0, c1, z = _descend(heb.complex_sgd(0.05, 50))
    assert c1 < 1e-3 * c0
    assert abs(float(z[0].real) - 0.3) < 1e-6  # C does not depend on Re z
    # without the fix, plain SGD on jax-convention grads climbs along Im z
    c0_raw, c1_raw, _ = _descend(optax.sgd(0.05), steps=5)
    assert c1_raw > c0_raw


def test_real_part_only_and_soft_clip():
    u, _ = heb.real_part_only().update(jnp.asarray([1.0 + 2.0j]), None)
    assert complex(u[0]) == 1.0 + 0j
    v, _ = heb.soft_clip(0.1).update(jnp.asarray([3.0 + 4.0j]), None)
    assert abs(v[0]) < 0.1 and abs(v[0]) > 0.099


@pytest.mark.parametrize("override, bad", [
    ({"lattice": {"L": 1}}, "L"),
    ({"lattice": {"n_steps": 0}}, "n_steps"),
    ({"lattice": {"T": -1.0}}, "T"),
    ({"task": {"n_intensities": 0}}, "n_intensities"),
    ({"rule": {"eta": 0.0}}, "eta"),
    ({"train": {"lr": -0.1}}, "lr"),
    ({"train": {"epochs": 0}}, "epochs"),
    ({"seed": -3}, "seed"),
    ({"task": {"amp_min": 1.0, "amp_max": 0.5}}, "amp_max"),
    ({"lattice": {"n_steps": 5}}, "accuracy limit"),
    ({"rule": {"kind": "telepathy"}}, "rule.kind"),
    ({"train": {"batch_size": 3}}, "batch_size"),
])
def test_bad_config_refused(tmp_path, override, bad):
    cfg = {**TINY, **{k: {**TINY.get(k, {}), **v} if isinstance(v, dict) else v for k, v in override.items()}}
    with pytest.raises((ConfigError, ValueError)) as e:
        physlearning.run(cfg, out=tmp_path / "bad")
    assert bad in str(e.value)
    assert not (tmp_path / "bad").exists()


def test_lost_reversibility_is_a_warning_in_the_run_metrics(tmp_path):
    """A tolerance below the float64 round-off of the echo (measured ~1e-13 here) must warn, in the summary
    and in the run's metrics log; the default tolerance does not."""
    summary, run_dir = physlearning.run({**TINY, "lattice": {**TINY["lattice"], "reversibility_tol": 1e-300}},
                                        out=tmp_path / "rev")
    assert summary["status"] == "ok"
    assert 0 < summary["reversibility_error"] < 1e-8
    assert summary["warnings"] and "reversibility lost" in summary["warnings"][0]
    assert "reversibility lost" in (run_dir / "metrics.jsonl").read_text()
    quiet, _ = physlearning.run(TINY, out=tmp_path / "ok")
    assert quiet["warnings"] == []
