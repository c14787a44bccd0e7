"""Reservoir and EP-network runs: figures redrawn from the run folder, reload and predict, seed streams.

For each of the six experiments (reservoir_timeseries, reservoir_fsdd, reservoir_network, ep_springs,
ep_resistors, ep_resistors_xor) on a tiny config:

* ``physlearning report`` on the run folder with ``plots/`` deleted redraws the same figures, byte for byte
  (the run draws them through the same ``figures(run_dir)``, from ``data/*.npz`` and metrics.jsonl);
* ``physlearning.load_run`` deserialises the checkpoint into the experiment's template, and where a figure
  shows a model prediction, ``load_run(...).predict`` on the saved inputs gives the plotted values;
* root seeds 0 and 1 draw different data and weights (named streams: no value in common).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import physlearning
from physlearning.runs import runner
from physlearning.runs.report import write_report

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

SMALL_SERIES = ["reservoir.units=30", "task.n_train=400", "task.n_val=200", "task.n_test=300", "task.washout=50"]
CASES = {
    "narma10": ("reservoir_narma10.toml", SMALL_SERIES),
    "memory": ("reservoir_memory.toml", ["reservoir.units=20", "task.n_train=500", "task.n_val=200",
                                         "task.n_test=300", "task.washout=40", "task.max_delay=40"]),
    "lorenz": ("reservoir_lorenz.toml", SMALL_SERIES + ["task.forecast_steps=200"]),
    "network": ("reservoir_network.toml", ["n_seeds=2", "nodes=6", "train.steps=3", "task.n_train=300",
                                           "task.n_val=100", "task.n_test=100", "task.washout=50", "train.chunk=100",
                                           "train.batch=2", 'kinds=["delay", "mtj"]']),
    "springs": ("ep_springs.toml", ["network.rows=3", "network.cols=3", "task.n_samples=3", "train.epochs=20"]),
    "resistors": ("ep_resistors.toml", ["task.n_train=16", "task.n_test=32", "train.epochs=20"]),
    "xor": ("ep_resistors_xor.toml", ["train.epochs=20"]),
}
PLOTS = {
    "narma10": {"prediction.png"},
    "memory": {"memory_capacity.png"},
    "lorenz": {"prediction.png", "forecast.png"},
    "network": {"prediction.png", "comparison.png", "curves.png"},
    "springs": {"loss.png", "curves.png", "response.png", "network.png"},
    "resistors": {"loss.png", "curves.png", "test_fit.png"},
    "xor": {"loss.png", "curves.png", "xor_outputs.png"},
    "fsdd": {"confusion.png"},
}


@pytest.fixture(scope="module")
def fsdd_dir(tmp_path_factory, shared_data):
    """40 recordings (2 digits x 2 speakers x index 0-9) linked from the shared FSDD."""
    src = shared_data / "fsdd" / "recordings"
    if not src.is_dir():
        pytest.skip(f"{src} not found")
    d = tmp_path_factory.mktemp("fsdd")
    for digit in (1, 7):
        for spk in ("george", "jackson"):
            for i in range(10):
                name = f"{digit}_{spk}_{i}.wav"
                os.symlink(src / name, d / name)
    return d


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Run folders of the cases, each run once per module (on first use)."""
    base, done = tmp_path_factory.mktemp("runs"), {}

    def get(case: str, toml: str | None = None, sets: list[str] | None = None) -> Path:
        if case not in done:
            if toml is None:
                toml, sets = CASES[case]
            exp, cfg = runner.load(EXAMPLES / toml, sets)
            summary, path = runner.run(exp, cfg, base / case)
            assert summary["status"] == "ok", summary
            done[case] = path
        return done[case]

    return get


def _fsdd_run(runs, fsdd_dir) -> Path:
    return runs("fsdd", "reservoir_fsdd.toml", [f'data.dir="{fsdd_dir}"', "reservoir.units=40",
                                                "data.max_frames=60"])


def _check_redraw(path: Path, expected: set[str]) -> None:
    plots = {p.name: p.read_bytes() for p in (path / "plots").glob("*.png")}
    assert set(plots) == expected
    shutil.rmtree(path / "plots")
    write_report(path)
    redrawn = {p.name: p.read_bytes() for p in (path / "plots").glob("*.png")}
    assert set(redrawn) == expected
    for name in expected:
        assert redrawn[name] == plots[name], f"{name} redrawn differs from the run's"
    assert all(f"plots/{name}" in (path / "report.md").read_text() for name in expected)


@pytest.mark.parametrize("case", list(CASES))
def test_report_redraws_every_figure(runs, case):
    _check_redraw(runs(case), PLOTS[case])


def test_fsdd_report_redraws_every_figure(runs, fsdd_dir):
    _check_redraw(_fsdd_run(runs, fsdd_dir), PLOTS["fsdd"])


def _data(path: Path, name: str) -> dict:
    with np.load(path / "data" / f"{name}.npz") as z:
        return {k: z[k] for k in z.files}


@pytest.mark.parametrize("case", ["narma10", "lorenz", "network"])
def test_reloaded_series_model_reproduces_the_test_figure(runs, case):
    """prediction.png shows the readout of the states driven by the saved input series from step ``start``
    on; the reloaded reservoir (+ ``readout.npz``) or network (ridge readout refit into ``w_out``) gives it."""
    path = runs(case)
    loaded = physlearning.load_run(path)
    d = _data(path, "prediction")
    start, n = int(d["start"]), len(d["pred"])
    got = np.asarray(loaded.predict(d["inputs"][None]))[0, start:start + n]
    assert got.shape == d["pred"].shape
    np.testing.assert_allclose(got, d["pred"], rtol=1e-4, atol=1e-4 * float(np.std(d["target"])))
    if case == "network":
        assert loaded.readout is None  # the refit readout is the checkpoint's w_out
    else:
        assert loaded.readout is not None and loaded.readout.alpha == loaded.summary["alpha"]


@pytest.mark.parametrize("case, figure, column", [("resistors", "test_fit", None), ("springs", "response", None),
                                                  ("xor", "xor_outputs", 0)])
def test_reloaded_ep_network_reproduces_the_test_figure(runs, case, figure, column):
    """The reloaded network relaxes with the run's solver: its outputs on the saved inputs are the plotted ones."""
    path = runs(case)
    loaded = physlearning.load_run(path)
    d = _data(path, figure)
    got = np.asarray(loaded.predict(d["x"]))
    want = d["pred"] if "pred" in d else d["after"]
    np.testing.assert_allclose(got if column is None else got[:, column], want, rtol=1e-5, atol=1e-6)
    assert loaded.readout is None


def test_reload_memory_and_fsdd(runs, fsdd_dir):
    from physlearning.substrates.reservoirs import Reservoir

    loaded = physlearning.load_run(runs("memory"))
    assert isinstance(loaded.model, Reservoir) and loaded.readout.w.shape == (20, 40)
    loaded = physlearning.load_run(_fsdd_run(runs, fsdd_dir))
    assert isinstance(loaded.model, Reservoir) and loaded.model.w_in.shape == (40, 13)
    assert loaded.readout.w.shape == (80, 10)  # mean + last states -> 10 digits


def test_reloaded_fsdd_run_predicts_its_test_accuracy(runs, fsdd_dir):
    """load_run + predict on the held-out recordings (index 0-4), given as MFCC sequences of their own
    lengths, reproduces the run's test accuracy (the run's preprocessing is reloaded from its folder)."""
    from physlearning.tasks import audio

    path = _fsdd_run(runs, fsdd_dir)
    loaded = physlearning.load_run(path)
    d = loaded.config.data
    data = audio.load_fsdd(d.dir, d.max_frames, d.n_mfcc, d.limit or None)
    test = np.flatnonzero(audio.recording_split(data)[1])
    scores = loaded.predict([data.x[i, :data.lengths[i]] for i in test])
    acc = float(np.mean(scores.argmax(1) == data.digit[test]))
    assert scores.shape == (len(test), 10)
    assert acc == pytest.approx(loaded.summary["test_accuracy"], abs=1e-12)
    with pytest.raises(ValueError, match=f"shape \\(T, {d.n_mfcc}\\)"):
        loaded.predict([np.zeros((5, d.n_mfcc + 1))])


def _disjoint(*arrays) -> None:
    """No value in common between any two of ``arrays`` (nor repeated inside one)."""
    flat = np.concatenate([np.ravel(a) for a in arrays])
    assert np.unique(flat).size == flat.size


def test_root_seeds_draw_different_series_and_reservoirs():
    from physlearning.experiments.reservoir import TaskCfg, TimeseriesConfig, _task_data, timeseries_template

    for name in ("narma10", "mackey_glass", "memory", "lorenz"):
        t = TaskCfg(name=name, washout=20, n_train=100, n_val=20, n_test=20, max_delay=5)
        _disjoint(*(_task_data(t, 10, s)[0] for s in (0, 1)))
    res = [timeseries_template(TimeseriesConfig(seed=s)) for s in (0, 1)]
    _disjoint(*(r.w_in for r in res))
    _disjoint(*(np.asarray(r.w)[np.asarray(r.w) != 0] for r in res))


def test_root_seeds_draw_different_fsdd_reservoirs_and_networks():
    from physlearning.experiments.reservoir import FSDDConfig, NetworkConfig, build_network, fsdd_template

    _disjoint(*(fsdd_template(FSDDConfig(seed=s)).w_in for s in (0, 1)))
    cfg = NetworkConfig(kinds=["esn", "mtj", "stno"], nodes=9)  # (the delay node's input mask is +-gamma)
    nets = [build_network(cfg, list(cfg.kinds), s) for s in (0, 1)]
    # every layer of both roots: no shared stream between layers, kinds or roots
    _disjoint(*(np.asarray(layer.w_in) for net in nets for layer in net.layers))


def test_root_seeds_draw_different_ep_networks_and_data():
    from physlearning.experiments.ep_networks import (
        ResistorsConfig,
        SpringsConfig,
        XorConfig,
        resistors_task,
        spring_task,
        xor_template,
    )

    springs = [spring_task(SpringsConfig(seed=s))[0] for s in (0, 1)]
    _disjoint(*(net.positions for net in springs))
    _disjoint(*(np.asarray(net.k) for net in springs))
    tasks = [resistors_task(ResistorsConfig(seed=s)) for s in (0, 1)]
    _disjoint(*(x for task in tasks for x in task[2:]))  # train and test inputs of both roots
    _disjoint(*(np.asarray(task[0].g) for task in tasks))  # teachers
    _disjoint(*(np.asarray(task[1].g) for task in tasks))  # students
    _disjoint(*(np.asarray(xor_template(XorConfig(seed=s)).g) for s in (0, 1)))


def test_network_repetitions_are_root_seeds(runs):
    """reservoir_network's first repetition runs root seed ``seed`` (the next ones ``seed + 1``, ...): the plotted
    targets are that root's ``data.series`` stream."""
    from physlearning.experiments.reservoir import _task_data

    path = runs("network")
    cfg = physlearning.load_run(path).config
    d = _data(path, "prediction")
    start, n = int(d["start"]), len(d["target"])
    np.testing.assert_array_equal(d["target"], _task_data(cfg.task, cfg.nodes, cfg.seed)[1][start:start + n])
    assert not np.allclose(d["target"], _task_data(cfg.task, cfg.nodes, cfg.seed + 1)[1][start:start + n])
