"""Run folders, reproducibility, never-overwrite and divergence handling (DESIGN.md section 5)."""

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from physlearning.cli import main
from physlearning.core import SquaredError, StatelessRule
from physlearning.runs import runner
from physlearning.runs.store import RunExistsError, RunStore, read_metrics
from physlearning.substrates.hopfield import LayeredHopfield
from physlearning.train import DivergenceError, Trainer, make_optimizer

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TINY = ["model.hidden=[8]", "train.epochs=2", "train.batch_size=64"]


def test_run_folder_contents_and_determinism(tmp_path):
    exp, cfg = runner.load(EXAMPLES / "ep_hopfield_digits.toml", TINY)
    s1, p1 = runner.run(exp, cfg, tmp_path / "a")
    for name in (
        "config.toml",
        "metrics.jsonl",
        "summary.json",
        "checkpoint.eqx",
        "report.md",
        "plots/curves.png",
        "plots/confusion.png",
    ):
        assert (p1 / name).is_file(), name
    summary = json.loads((p1 / "summary.json").read_text())
    assert 0 <= summary["test_accuracy"] <= 1 and summary["status"] == "ok"
    assert "wall_time_s" in summary and "![curves](plots/curves.png)" in (p1 / "report.md").read_text()
    # the resolved config reruns to the same numbers (same seed, CPU)
    exp2, cfg2 = runner.load(p1 / "config.toml")
    s2, _ = runner.run(exp2, cfg2, tmp_path / "b")
    assert s2["test_accuracy"] == s1["test_accuracy"]
    m1 = [r for r in read_metrics(p1) if "epoch" in r]
    m2 = [r for r in read_metrics(tmp_path / "b") if "epoch" in r]
    assert [r["train_loss"] for r in m1] == [r["train_loss"] for r in m2]


def test_existing_run_folder_is_never_overwritten(tmp_path, capsys):
    target = tmp_path / "run"
    target.mkdir()
    (target / "mine.txt").write_text("user data")
    with pytest.raises(RunExistsError, match="already exists"):
        RunStore(target)
    rc = main(
        ["run", str(EXAMPLES / "ep_hopfield_digits.toml"), "--out", str(target)] + sum((["--set", s] for s in TINY), [])
    )
    assert rc == 2 and "already exists" in capsys.readouterr().err
    assert (target / "mine.txt").read_text() == "user data"
    assert sorted(p.name for p in target.iterdir()) == ["mine.txt"]


def test_cli_rejects_bad_value_before_work(tmp_path, capsys):
    rc = main(["run", str(EXAMPLES / "ep_hopfield_digits.toml"), "--out", str(tmp_path / "r"), "--set", "rule.beta=0"])
    assert rc == 2
    assert "rule.beta = 0" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_ep_writer_block_split_is_checked_and_used(shared_data, tmp_path, capsys):
    rc = main(["run", str(EXAMPLES / "ep_hopfield_digits.toml"), "--out", str(tmp_path / "r"),
               "--set", "data.val_split=writer_block"])
    assert rc == 2 and "data.val_split = 'writer_block' needs data.name = 'optdigits'" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
    from physlearning.experiments.ep import load_split

    _, cfg = runner.load(EXAMPLES / "ep_hopfield_digits.toml", [
        "data.name=optdigits", f"data.dir='{shared_data / 'optdigits'}'", "data.val_split=writer_block"])
    assert "writer block rows 0-381" in load_split(cfg.data, seed=0).note


class _NaNAfter(StatelessRule):
    """Gradient -1 on every parameter until the first-layer biases sum past a threshold,
    then NaN (a simulated divergence in epoch 2)."""

    def estimate(self, substrate, batch, cost, key):
        bad = jnp.sum(substrate.biases[0]) > 1.3e-2  # +3e-3 per SGD step (3 biases, lr 1e-3)
        grads = jax.tree_util.tree_map(lambda g: jnp.where(bad, jnp.nan, -jnp.ones_like(g)), substrate.params())
        return grads, {"loss": jnp.where(bad, jnp.nan, 1.0)}


def test_divergence_stops_and_keeps_last_good_checkpoint(tmp_path):
    net = LayeredHopfield((4, 3, 2), jax.random.PRNGKey(0))
    store = RunStore(tmp_path / "div")
    x = np.ones((8, 4), np.float32)
    y = np.ones((8, 2), np.float32)
    tr = Trainer(
        _NaNAfter(),
        SquaredError(),
        make_optimizer("sgd", 1e-3, momentum=0.0),
        epochs=5,
        batch_size=2,
        store=store,
        progress=False,
    )
    with pytest.raises(DivergenceError, match="diverged at epoch 2, step 1"):
        tr.fit(net, (x, y))
    metrics = read_metrics(tmp_path / "div")
    assert [r["epoch"] for r in metrics if "train_loss" in r] == [1]
    assert any(r.get("event") == "diverged" and "NaN/inf" in r["message"] for r in metrics)
    kept = store.load_checkpoint(net)
    np.testing.assert_allclose(kept.biases[0], 4e-3, rtol=1e-5)  # the model after epoch 1 (4 good steps)


class _ConstantGradient(StatelessRule):
    """Gradient -1 on every parameter: SGD moves each parameter by +lr per step."""

    def estimate(self, substrate, batch, cost, key):
        grads = jax.tree_util.tree_map(lambda g: -jnp.ones_like(g), substrate.params())
        return grads, {"loss": jnp.array(1.0)}


def test_parameter_averaging_matches_the_recursion():
    """Polyak/EMA averaging (Trainer.ema): avg_{t+1} = d_t avg_t + (1 - d_t) theta_{t+1},
    d_t = min(ema, (1 + t) / (10 + t)), checked against the recursion written out by hand."""
    net = LayeredHopfield((4, 3, 2), jax.random.PRNGKey(0))
    x, y = np.ones((8, 4), np.float32), np.ones((8, 2), np.float32)
    lr, ema, steps = 1e-2, 0.9, 3 * 4
    tr = Trainer(_ConstantGradient(), SquaredError(), make_optimizer("sgd", lr, momentum=0.0), epochs=3,
                 batch_size=2, select="final", progress=False, ema=ema)
    out = tr.fit(net, (x, y)).model
    b0 = np.asarray(net.biases[0], np.float64)
    avg = b0.copy()
    for t in range(steps):
        d = min(ema, (1 + t) / (10 + t))
        avg = d * avg + (1 - d) * (b0 + lr * (t + 1))
    np.testing.assert_allclose(out.biases[0], avg, rtol=1e-5)
    assert not np.allclose(avg, b0 + lr * steps)  # the average lags the last iterate


def test_bad_ema_is_refused():
    with pytest.raises(ValueError, match="ema = 1.0"):
        Trainer(_ConstantGradient(), SquaredError(), make_optimizer("sgd", 1e-2), epochs=1, batch_size=2, ema=1.0)


class _TargetGradient(StatelessRule):
    """Gradient = -(mean target of the batch, class 0) on every parameter, to read back the
    targets the trainer fed."""

    def estimate(self, substrate, batch, cost, key):
        t0 = jnp.mean(batch[1][:, 0])
        grads = jax.tree_util.tree_map(lambda g: -t0 * jnp.ones_like(g), substrate.params())
        return grads, {"loss": jnp.array(1.0)}


def test_label_smoothing_feeds_smoothed_targets():
    """Label smoothing (Szegedy et al. 2016): t -> (1 - eps) t + eps / K. With every target
    class 0 and K = 2, each SGD step moves a parameter by lr (1 - eps / 2)."""
    net = LayeredHopfield((4, 3, 2), jax.random.PRNGKey(0))
    x, y = np.ones((8, 4), np.float32), np.tile(np.array([[1.0, 0.0]], np.float32), (8, 1))
    lr, eps = 1e-2, 0.2
    tr = Trainer(_TargetGradient(), SquaredError(), make_optimizer("sgd", lr, momentum=0.0), epochs=1,
                 batch_size=2, select="final", progress=False, label_smoothing=eps)
    out = tr.fit(net, (x, y)).model
    np.testing.assert_allclose(out.biases[0], net.biases[0] + 4 * lr * (1 - eps / 2), rtol=1e-5)
    with pytest.raises(ValueError, match="label_smoothing = 1.0"):
        Trainer(_TargetGradient(), SquaredError(), make_optimizer("sgd", lr), epochs=1, batch_size=2,
                label_smoothing=1.0)
    with pytest.raises(ValueError, match="one-hot"):
        Trainer(_TargetGradient(), SquaredError(), make_optimizer("sgd", lr), epochs=1, batch_size=2,
                label_smoothing=eps, progress=False).fit(net, (x, y[:, 0]))
