"""Run folders of the scattering and thermo pillars (scattering_digits, scattering_robustness,
thermo_toy2d, thermo_digits): every figure is redrawn from the folder alone, the checkpoint reloads
into the experiment's template and reproduces the run's numbers, and the data come from named seed
streams of the root seed (two roots: different splits; one root: the same split again)."""

from __future__ import annotations

import shutil
from pathlib import Path

import jax
import numpy as np
import pytest

import physlearning
from physlearning.core import Seeds
from physlearning.experiments import scattering, thermo
from physlearning.runs import registry, runner
from physlearning.runs.report import write_report
from physlearning.substrates.langevin import LangevinComputer

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

# one tiny network for both scattering experiments (built-in scikit-learn digits), so the sweep's ideal level
# (repeat 0) is the scattering_digits run
_NET = {"network.hidden": 6, "network.duplicate": 1, "train.epochs": 2, "train.lr": 0.05, "data.max_train": 300}
TINY = {
    "scattering_digits": (None, {**_NET, "baselines.mlp_hidden": 16}),
    "scattering_robustness": (None, {**_NET, "sweep.measurement_noise": [0.0], "sweep.calibration_error": [0.3]}),
    "thermo_toy2d": ("thermo_moons.toml", {
        "train.epochs": 1, "data.n_train": 512, "data.n_val": 100, "data.n_test": 200, "eval.n_samples": 100,
        "eval.n_epoch_samples": 100, "ddpm.train_steps": 10, "ddpm.n_steps": 10, "device.n_steps": 50,
        "device.dt": 0.04, "device.n_slices": 10}),
    "thermo_digits": ("thermo_digits8x8.toml", {  # a held k-means register: codes, mixture and code-DDPM too
        "train.epochs": 1, "eval.n_samples": 100, "eval.n_epoch_samples": 100, "ddpm.train_steps": 10,
        "ddpm.n_steps": 10, "ddpm.width": 16, "device.n_hidden": 8, "device.n_steps": 100, "device.n_slices": 5}),
}
FIGURES = {
    "scattering_digits": ["curves.png", "scattering_confusion.png", "scattering_training.png"],
    "scattering_robustness": ["scattering_robustness.png"],
    "thermo_toy2d": ["curves.png", "heat.png", "samples.png"],
    "thermo_digits": ["curves.png", "heat.png", "samples_ddpm.png", "samples_ddpm_code.png", "samples_thermo.png"],
}


def _config(name: str, **extra):
    example, over = TINY[name]
    over = {**over, **extra}
    if example is None:
        return registry.get(name), runner.with_overrides(registry.get(name), over)
    import json

    return runner.load(EXAMPLES / example, [f"{k}={json.dumps(v)}" for k, v in over.items()])


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    done: dict[str, tuple[dict, Path]] = {}

    def get(name: str) -> tuple[dict, Path]:
        if name not in done:
            exp, cfg = _config(name)
            done[name] = runner.run(exp, cfg, tmp_path_factory.mktemp("runs") / name)
        return done[name]

    return get


def _pngs(path: Path) -> list[str]:
    return sorted(p.name for p in (path / "plots").glob("*.png"))


@pytest.mark.parametrize("name", list(TINY))
def test_report_redraws_every_figure_from_the_run_folder(tiny_run, name):
    """The run's figures are the experiment's ``figures(run_dir)``: with plots/ deleted, write_report
    redraws the same file set from data/*.npz and metrics.jsonl."""
    summary, path = tiny_run(name)
    assert summary["status"] == "ok"
    assert _pngs(path) == FIGURES[name]
    assert list((path / "data").glob("*.npz"))
    shutil.rmtree(path / "plots")
    write_report(path)
    assert _pngs(path) == FIGURES[name]
    assert sorted(registry.get(name).figures(path)) == FIGURES[name]
    report = (path / "report.md").read_text()
    assert all(f"(plots/{png})" in report for png in FIGURES[name])


def _scattering_accuracy(loaded) -> float:
    cfg = loaded.config
    split = scattering.load_split(cfg.data, Seeds(cfg.seed).int("data.split"))  # the run's split, rebuilt
    return float(np.mean(np.asarray(loaded.predict(split.x_test)).argmax(1) == split.y_test))


def test_scattering_digits_reloads_and_reproduces_test_accuracy(tiny_run):
    summary, path = tiny_run("scattering_digits")
    loaded = physlearning.load_run(path)
    assert loaded.experiment == "scattering_digits" and isinstance(loaded.model, scattering.ScatteringNetwork)
    assert loaded.model.n_trainable() == summary["n_params"]
    assert _scattering_accuracy(loaded) == summary["test_accuracy"]
    with np.load(path / "data" / "confusion.npz") as z:  # the confusion matrix's labels: the run's test split
        assert np.mean(z["y_true"] == z["y_pred"]) == summary["test_accuracy"]
        assert int(z["n_classes"]) == 10


def test_scattering_robustness_reloads_its_ideal_network(tiny_run):
    """checkpoint.eqx is the first network of the sweep (measurement_noise = 0, ideal hardware): reloaded, it
    scores the sweep's test accuracy at that level, and it is the scattering_digits network (repeat 0 of a
    level draws the split, initial network, batches and evaluation noise of scattering_digits)."""
    summary, path = tiny_run("scattering_robustness")
    loaded = physlearning.load_run(path)
    assert isinstance(loaded.model, scattering.ScatteringNetwork)
    assert _scattering_accuracy(loaded) == summary["test_accuracy"] == summary["test_accuracy_measurement_noise_0"]
    digits, _ = tiny_run("scattering_digits")
    assert summary["test_accuracy"] == digits["test_accuracy"]
    assert "test_accuracy_calibration_error_0.3" in summary



@pytest.mark.parametrize("name", ["thermo_toy2d", "thermo_digits"])
def test_thermo_reloads_and_regenerates_the_samples(tiny_run, name):
    """The reloaded protocol, run from the "samples.final" stream, draws the run's final samples again."""
    summary, path = tiny_run(name)
    loaded = physlearning.load_run(path)
    assert isinstance(loaded.model, LangevinComputer)
    assert loaded.model.n_parameters() == summary["n_parameters"]
    codes = np.load(path / "hidden_codes.npz")["codes"] if (path / "hidden_codes.npz").is_file() else None
    cfg = loaded.config
    s, _, drawn = thermo.generate_samples(loaded.model, Seeds(cfg.seed).key("samples.final"), cfg.eval.n_samples,
                                          codes)
    with np.load(path / "samples.npz") as z:
        if name == "thermo_toy2d":
            np.testing.assert_allclose(np.asarray(s), z["thermo"], rtol=1e-5, atol=1e-6)
        else:  # images: pixels p = (x / scale + 1) / 2, clipped; the held codes drawn
            p = np.clip((np.asarray(s) / cfg.data.scale + 1) / 2, 0, 1)
            np.testing.assert_allclose(p, z["thermo"], rtol=1e-5, atol=1e-6)
            np.testing.assert_array_equal(np.asarray(drawn), z["codes"])


def _split(name: str, seed: int) -> list[np.ndarray]:
    _, cfg = _config(name, seed=seed)
    if name == "thermo_toy2d":
        return list(thermo.toy_data(cfg))
    sp = thermo.load_digits(cfg)[0] if name == "thermo_digits" else scattering.data_split(cfg)
    return [sp.x_train, sp.x_val, sp.x_test]


@pytest.mark.parametrize("name", list(TINY))
def test_root_seeds_draw_different_data_splits(name):
    """The data come from the root seed's named streams: one root gives the same split again, two roots
    different ones. (Toy samples: no point is shared between any part of root 0 and of root 1, which integer
    offsets gave: root 0's validation stream was root 1's training stream.)"""
    a, b = _split(name, 0), _split(name, 1)
    for x, y in zip(a, _split(name, 0)):
        np.testing.assert_array_equal(x, y)
    for x, y in zip(a, b):
        assert x.shape == y.shape and not np.array_equal(x, y)
    if name == "thermo_toy2d":
        rows = [set(map(tuple, x.tolist())) for x in a + b]
        assert sum(len(r) for r in rows) == len(set().union(*rows))


def test_hardware_seed_is_its_own_root():
    """hardware.seed alone sets the frozen device errors ("hardware.disorder" stream); the run's root seed
    does not, and another hardware seed realises another device."""
    hw = scattering.Hardware(calibration_error=0.3, coupling_disorder=0.1, seed=5)
    net = scattering.build_network(scattering.Network(hidden=3, duplicate=1), 4, 3, jax.random.PRNGKey(0))

    def realised(h):
        return np.asarray(scattering.hardware_nonideality(h).params(net, jax.random.PRNGKey(99)).detuning)

    key = Seeds(5).key("hardware.disorder")
    np.testing.assert_array_equal(realised(hw), np.asarray(scattering.build_nonideality(hw).params(net, key).detuning))
    assert not np.allclose(realised(hw), np.asarray(net.detuning))
    assert not np.allclose(realised(hw), realised(scattering.Hardware(calibration_error=0.3, coupling_disorder=0.1,
                                                                      seed=6)))
    assert scattering.hardware_nonideality(scattering.Hardware()) is None
