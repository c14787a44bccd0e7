"""Foundation v2: one Trainer compiled once, resumable and interruptible runs, named seed streams,
reloadable run folders, registries that pick up a one-file substrate, Hardware realised once."""

from __future__ import annotations

import json
import logging

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import physlearning as pl
from physlearning import registry
from physlearning.core import Hardware, ParameterDisorder, Seeds, SquaredError, StatelessRule, ground_state
from physlearning.errors import DivergenceError, RunFolderError, RunInterrupted
from physlearning.runs import runner
from physlearning.runs.store import RunStore, read_metrics
from physlearning.substrates.resistor_lattice import ResistorLattice
from physlearning.train import OptimizerSpec, Trainer, interrupt

FIT_QUICK = ["train.epochs=4", "task.n_train=32", "task.n_test=64"]


def _data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (n, 3)).astype(np.float32)
    teacher = ResistorLattice(3, 3, jax.random.PRNGKey(9))
    return x, np.asarray(teacher.predict(jnp.asarray(x)))


def test_second_fit_of_the_same_shapes_compiles_nothing(caplog):
    """The jitted step is module-level and the optimiser spec is hashable: a second Trainer with equal
    settings reuses the compiled step (JAX's compilation log shows no new `train_step` compile)."""
    x, y = _data()
    net = ResistorLattice(3, 3, jax.random.PRNGKey(0))
    rule = pl.EquilibriumPropagation(0.1, "symmetric", solver=None)

    def fit():
        Trainer(rule, SquaredError(), OptimizerSpec("adam", 1e-2), epochs=2, batch_size=8, progress=False).fit(
            net, (x, y))

    fit()
    with caplog.at_level(logging.WARNING), jax.log_compiles(True):
        fit()
    compiles = [r.getMessage() for r in caplog.records if "train_step" in r.getMessage()]
    assert compiles == []
    with caplog.at_level(logging.WARNING), jax.log_compiles(True):  # a new shape must compile (the log works)
        Trainer(rule, SquaredError(), OptimizerSpec("adam", 1e-2), epochs=1, batch_size=4, progress=False).fit(
            net, (x, y))
    assert any("train_step" in r.getMessage() for r in caplog.records)


def test_named_seed_streams_share_no_data():
    """Integer offsets made seed s's test stream seed s+1's validation stream; named streams do not."""
    draws = {(s, n): Seeds(s).rng(n).uniform(size=1000) for s in range(4) for n in ("data.val", "data.test")}
    vals = list(draws.values())
    for i in range(len(vals)):
        for j in range(i + 1, len(vals)):
            assert not np.any(np.isin(vals[i], vals[j]))
    assert not np.array_equal(Seeds(1).key("a"), Seeds(1).key("b"))
    with pytest.raises(ValueError, match="seed = -1"):
        Seeds(-1)
    with pytest.raises(ValueError, match="2\\*\\*32"):
        Seeds(2**32)


def _interrupt_after(monkeypatch, epoch: int):
    real = interrupt.check

    def check(where=""):
        if where == f"after epoch {epoch}":
            interrupt.request("SIGINT")
        real(where)

    monkeypatch.setattr(interrupt, "check", check)


def test_interrupt_then_resume_gives_the_same_numbers(tmp_path, monkeypatch):
    """SIGINT after epoch 2 of 4: summary status 'interrupted', checkpoint kept; --resume continues from
    the saved training state and ends with exactly the numbers of an uninterrupted run (CPU)."""
    exp, cfg = runner.load("fit", FIT_QUICK)
    full, _ = runner.run(exp, cfg, tmp_path / "full")
    _interrupt_after(monkeypatch, 2)
    with pytest.raises(RunInterrupted, match="resume"):
        runner.run(exp, cfg, tmp_path / "cut")
    summary = json.loads((tmp_path / "cut" / "summary.json").read_text())
    assert summary["status"] == "interrupted" and "--resume" in summary["message"]
    assert (tmp_path / "cut" / "checkpoint.eqx").is_file()
    assert [r["epoch"] for r in read_metrics(tmp_path / "cut") if "train_loss" in r] == [1, 2]
    monkeypatch.undo()
    resumed, _ = runner.resume(tmp_path / "cut")
    assert resumed["status"] == "ok" and resumed["resumed"] == 1
    assert resumed["test_mse"] == full["test_mse"]
    assert [r["epoch"] for r in read_metrics(tmp_path / "cut") if "train_loss" in r] == [1, 2, 3, 4]


def test_resume_refuses_what_it_cannot_continue(tmp_path):
    with pytest.raises(RunFolderError, match="not a run folder"):
        runner.resume(tmp_path)
    exp, cfg = runner.load("fit", FIT_QUICK)
    runner.run(exp, cfg, tmp_path / "done")
    with pytest.raises(RunFolderError, match="nothing to resume"):
        runner.resume(tmp_path / "done")
    (tmp_path / "done" / "summary.json").write_text('{"status": "interrupted"}')
    text = (tmp_path / "done" / "config.toml").read_text()
    (tmp_path / "done" / "config.toml").write_text(text.replace("epochs = 4", "epochs = -4"))
    with pytest.raises(pl.ConfigError, match="no longer validates"):
        runner.resume(tmp_path / "done")


def test_load_run_predicts_the_runs_test_figure(tmp_path):
    """load_run + predict on the run's own test stream reproduces summary.json's test_mse."""
    exp, cfg = runner.load("fit", FIT_QUICK)
    summary, path = runner.run(exp, cfg, tmp_path / "r")
    run = pl.load_run(path)
    seeds = Seeds(cfg.seed)
    x = seeds.rng("data.test").uniform(0, 1, (cfg.task.n_test, cfg.task.n_inputs)).astype(np.float32)
    teacher = registry.substrates()["resistor_lattice"].build(cfg.substrate.resistor_lattice, 3, 2,
                                                             seeds.key("model.teacher"))
    y = np.asarray(teacher.predict(jnp.asarray(x)))
    mse = float(np.mean(np.sum((np.asarray(run.predict(x)) - y) ** 2, -1)))
    assert mse == pytest.approx(summary["test_mse"], rel=1e-6)
    (path / "checkpoint.eqx").write_bytes(b"not a checkpoint")
    with pytest.raises(RunFolderError, match="cannot load"):
        pl.load_run(path)


def test_report_redraws_the_same_figures(tmp_path):
    import shutil

    from physlearning.runs.report import write_report

    exp, cfg = runner.load("fit", FIT_QUICK)
    _, path = runner.run(exp, cfg, tmp_path / "r")
    before = sorted(p.name for p in (path / "plots").iterdir())
    shutil.rmtree(path / "plots")
    write_report(path)
    assert sorted(p.name for p in (path / "plots").iterdir()) == before and before


class _Scaled(StatelessRule):
    """Gradient = ``scale`` x the exact (autodiff) one: drives parameters to inf for a huge scale."""

    scale: float = 1.0

    def estimate(self, substrate, batch, cost, key):
        g, aux = pl.Autodiff().estimate(substrate, batch, cost, key)
        return jax.tree_util.tree_map(lambda a: self.scale * a, g), aux


def test_divergence_in_the_parameters_and_exploding_loss(tmp_path):
    """NaN/inf in the updated parameters (SGD lr 1e300 on a Hopfield net) and a loss beyond 1e3 x the
    first are divergence; a run that diverges in its first epoch says no checkpoint was kept, one without a run folder
    that nothing was saved."""
    x, _ = _data()
    y = np.ones((len(x), 2), np.float32)
    net = pl.LayeredHopfield((3, 4, 2), jax.random.PRNGKey(0), activation="tanh", output="linear")
    tr = Trainer(_Scaled(1.0), SquaredError(), OptimizerSpec("sgd", 1e300, momentum=0.0), epochs=3, batch_size=8,
                 store=RunStore(tmp_path / "a"), progress=False)
    with pytest.raises(DivergenceError, match=r"epoch 1, step 0.*kept, no checkpoint \(no epoch finished\)"):
        tr.fit(net, (x, y))
    assert not (tmp_path / "a" / "checkpoint.eqx").exists()
    tr = Trainer(_Scaled(1.0), SquaredError(), OptimizerSpec("sgd", 1e300, momentum=0.0), epochs=3, batch_size=8,
                 store=None, progress=False)
    with pytest.raises(DivergenceError, match="nothing was saved"):  # a fit without a run folder claims no files
        tr.fit(net, (x, y))
    tr = Trainer(_Scaled(1.0), SquaredError(), OptimizerSpec("sgd", 30.0, momentum=0.0), epochs=30, batch_size=8,
                 store=RunStore(tmp_path / "b"), progress=False, loss_explosion=1e3)
    with pytest.raises(DivergenceError, match="diverged"):
        tr.fit(pl.LayeredHopfield((3, 4, 2), jax.random.PRNGKey(0), activation="tanh", output="linear",
                                  equilibrium=pl.Equilibrium("fixed_point", damping=0.5)), (x, y))


def test_hardware_is_realised_once_and_checkpointed(tmp_path):
    """Disorder drawn once from the Hardware's key: the same device on every call and after a
    checkpoint round trip; gradients are shaped like the design's parameters."""
    net = ResistorLattice(3, 3, jax.random.PRNGKey(0))
    hw = Hardware(net, ParameterDisorder(0.1), jax.random.PRNGKey(5))
    np.testing.assert_array_equal(hw.realised().g, hw.realised().g)
    assert not np.allclose(hw.realised().g, net.g)
    store = RunStore(tmp_path / "hw")
    store.save_checkpoint(hw)
    back = store.load_checkpoint(Hardware(ResistorLattice(3, 3, jax.random.PRNGKey(1)), ParameterDisorder(0.1),
                                          jax.random.PRNGKey(0)))
    np.testing.assert_array_equal(back.realised().g, hw.realised().g)
    x, y = _data(8)
    g, aux = pl.EquilibriumPropagation(0.1, solver=None).estimate(hw, (jnp.asarray(x), jnp.asarray(y[:, :2])),
                                                                  SquaredError(), None)
    assert g.g.shape == net.g.shape
    res = Trainer(pl.EquilibriumPropagation(0.1, solver=None), SquaredError(), OptimizerSpec("adam", 1e-2), 2, 8,
                  progress=False).fit(hw, (x, y[:, :2]))
    assert isinstance(res.model, Hardware) and not np.allclose(res.model.design().g, net.g)


def test_eigensolvers_agree():
    """Ground state of a random Hermitian matrix: dense eigh vs matrix-free LOBPCG."""
    with jax.enable_x64(True):
        a = jax.random.normal(jax.random.PRNGKey(0), (60, 60), jnp.float64)
        h = (a + a.T) / 2
        e0, v0 = ground_state(h, 60, "dense")
        e1, v1 = ground_state(lambda v: h @ v, 60, "lobpcg", tol=1e-12, max_iters=2000)
        assert float(e1) == pytest.approx(float(e0), rel=1e-8)
        assert abs(float(jnp.vdot(v0, v1))) == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ValueError, match="allowed values are"):
        ground_state(h, 60, "arnoldi")


def test_cli_face(tmp_path, capsys):
    from physlearning.cli import main

    assert main(["config", "fit"]) == 0 and 'experiment = "fit"' in capsys.readouterr().out
    assert main(["list", "fit"]) == 0 and "substrate.kind" in capsys.readouterr().out
    assert main(["run", "fit", *[a for s in FIT_QUICK for a in ("--set", s)], "--out", str(tmp_path / "r")]) == 0
    assert main(["run", "--resume", str(tmp_path)]) == 2 and "not a run folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--version"])
    assert pl.__version__ in capsys.readouterr().out


def test_every_substrate_has_a_forward_map():
    """predict(x, key) on each family's concrete substrates: reservoir (states of a batch of series =
    its own scan), Langevin generator (noise -> visible units = simulate), DDPM baseline (noise -> sample)."""
    from physlearning.substrates.langevin import LangevinComputer
    from physlearning.substrates.reservoirs import make_esn

    res = make_esn(12, 1)
    u = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (3, 20, 1)), jnp.float32)
    np.testing.assert_allclose(res.predict(u)[1], res.states(u[1]), rtol=1e-6)
    comp = LangevinComputer(2, 2, n_slices=2, n_steps=20, dt=0.01, key=jax.random.PRNGKey(0))
    x0 = comp.sample_noise(jax.random.PRNGKey(1), 5)
    y = comp.predict(x0, jax.random.PRNGKey(2))
    np.testing.assert_allclose(y, comp.simulate(x0, jax.random.PRNGKey(2))[0][:, :2], rtol=1e-6)
    with pytest.raises(TypeError, match="abstract"):
        pl.Substrate()
