"""Reservoir pillar: bad input messages, gradient checks, example configs end to end."""

from __future__ import annotations

import json
import os
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from physlearning.config import ConfigError
from physlearning.runs import runner
from physlearning.substrates.reservoirs import DeviceError, DeviceNetwork, check_finite, make_esn
from physlearning.tasks import timeseries as ts
from physlearning.tasks.datasets import DataError

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_series_errors_name_the_value():
    with pytest.raises(ts.SeriesError, match="too short for washout = 50"):
        ts.check_series(np.zeros(50), 50)
    bad = np.zeros(100)
    bad[7] = np.nan
    with pytest.raises(ts.SeriesError, match="NaN/inf .*time step 7"):
        ts.check_series(bad, 10)


def test_config_errors_name_the_value():
    with pytest.raises(ConfigError, match=r"reservoir.esn.spectral_radius = 0.0: allowed values are > 0"):
        runner.load(EXAMPLES / "reservoir_narma10.toml", ["reservoir.esn.spectral_radius=0.0"])
    with pytest.raises(ConfigError, match=r"STNO time step dt = .* exceeds the Euler stability limit"):
        runner.load(EXAMPLES / "reservoir_narma10.toml", ['reservoir.device="stno"', "reservoir.stno.substeps=2"])
    with pytest.raises(ConfigError, match=r"task.washout = 10 is too short for the memory task"):
        runner.load(EXAMPLES / "reservoir_memory.toml", ["task.washout=10"])
    with pytest.raises(ConfigError, match=r"data.dir = '/nonexistent/fsdd': directory does not exist"):
        runner.load(EXAMPLES / "reservoir_fsdd.toml", ['data.dir="/nonexistent/fsdd"'])
    with pytest.raises(ValueError, match="spectral_radius = -1"):
        make_esn(10, 1, spectral_radius=-1)


def test_blowup_names_the_parameter():
    res = make_esn(5, 1)
    with pytest.raises(DeviceError, match="LeakyTanh simulation blew up .*spectral_radius or input_scaling"):
        check_finite(np.array([[0.0] * 5, [np.nan] * 5]), res.device)


def test_audio_errors(tmp_path):
    from physlearning.tasks.audio import load_fsdd

    with pytest.raises(DataError, match="does not exist"):
        load_fsdd(tmp_path / "missing")
    (tmp_path / "3_bob_0.wav").write_bytes(b"not a wav file")
    with pytest.raises(DataError, match=r"unreadable WAV file .*3_bob_0.wav"):
        load_fsdd(tmp_path)


def test_network_gradients_against_autodiff(x64):
    """Delta rule (readout) and central finite differences (all weights) vs backprop through
    a deep STNO -> SMTJ network (float64)."""
    from physlearning.experiments.reservoir import matrix_rows

    rows = matrix_rows(("esn", "stno+mtj"))
    assert {r["rule"] for r in rows} == {"readout delta rule", "finite differences"}
    for r in rows:
        assert float(r["cosine"]) > 1 - 1e-9, r
        assert float(r["rel_error"]) < 1e-6, r


def test_noise_aware_features_differ_and_are_differentiable():
    from physlearning.experiments.reservoir import MTJCfg, ReservoirCfg, build

    cfg = ReservoirCfg(mtj=MTJCfg(noise=True, n_junctions=20))
    net = DeviceNetwork((build(cfg, 1, 0, kind="mtj", units=4, trainable=True),), jnp.ones((1, 5)))
    u = jnp.asarray(np.random.default_rng(0).uniform(0, 0.5, (40, 1)), jnp.float32)
    a, b = net.features(u), net.features(u, jax.random.PRNGKey(1))
    assert float(jnp.max(jnp.abs(a - b))) > 1e-3
    g = eqx.filter_grad(lambda m: m.loss(u, jnp.zeros((40, 1)), jax.random.PRNGKey(1)))(net)
    assert float(jnp.abs(g.layers[0].w_in).sum()) > 0


def test_example_narma10_end_to_end(tmp_path):
    sets = ["reservoir.units=30", "task.n_train=400", "task.n_val=200", "task.n_test=300", "task.washout=50"]
    exp, cfg = runner.load(EXAMPLES / "reservoir_narma10.toml", sets)
    summary, path = runner.run(exp, cfg, tmp_path / "r")
    assert summary["status"] == "ok" and 0 < summary["nrmse"] < 1.0
    assert (path / "plots" / "prediction.png").is_file() and (path / "checkpoint.eqx").is_file()
    saved = json.loads((path / "summary.json").read_text())
    assert saved["nrmse_definition"].startswith("RMS error / std(target)")


@pytest.mark.parametrize("device", ["stno", "delay", "mtj"])
def test_device_reservoirs_learn_memory(tmp_path, device):
    """Each device reservoir (20 nodes) holds some linear memory of its input."""
    sets = [f'reservoir.device="{device}"', "reservoir.units=20", "task.n_train=500", "task.n_val=200",
            "task.n_test=300", "task.washout=40", "task.max_delay=40"]
    exp, cfg = runner.load(EXAMPLES / "reservoir_memory.toml", sets)
    summary, path = runner.run(exp, cfg, tmp_path / "r")
    # below: memory well beyond a memoryless readout (MC ~ 1, the current input alone; measured 3.8 / 5.8 / 4.1
    # for mtj / delay / stno at these settings); above: Jaeger's bound MC <= N (= 20 units), plus a 0.5
    # allowance for the finite-sample estimate of each squared correlation
    assert 2.5 < summary["memory_capacity"] <= 20.5
    assert (path / "plots" / "memory_capacity.png").is_file()


def test_example_network_end_to_end(tmp_path):
    sets = ["n_seeds=1", "nodes=6", "train.steps=3", "task.n_train=300", "task.n_val=100", "task.n_test=100",
            "task.washout=50", "train.chunk=100", "train.batch=2", 'kinds=["delay", "mtj"]']
    exp, cfg = runner.load(EXAMPLES / "reservoir_network.toml", sets)
    summary, path = runner.run(exp, cfg, tmp_path / "r")
    assert summary["best_single_kind"] in ("stno", "delay", "mtj")
    assert np.isfinite(summary["nrmse"]) and np.isfinite(summary["best_single_nrmse"])
    assert (path / "plots" / "comparison.png").is_file()


def test_fsdd_small_end_to_end(tmp_path, shared_data):
    """40 recordings (2 digits x 2 speakers x index 0-9) linked from the shared FSDD."""
    src = shared_data / "fsdd" / "recordings"
    d = tmp_path / "fsdd"
    d.mkdir()
    for digit in (1, 7):
        for spk in ("george", "jackson"):
            for i in range(10):
                name = f"{digit}_{spk}_{i}.wav"
                os.symlink(src / name, d / name)
    sets = [f'data.dir="{d}"', "reservoir.units=40", "data.max_frames=60"]
    exp, cfg = runner.load(EXAMPLES / "reservoir_fsdd.toml", sets)
    summary, path = runner.run(exp, cfg, tmp_path / "r")
    assert summary["n_test"] == 20 and summary["test_accuracy"] >= 0.75
    assert set(summary["speaker_accuracy"]) == {"george", "jackson"}
    assert (path / "plots" / "confusion.png").is_file()
    # one speaker only: the speaker folds are refused with a message, and the run folder says so
    for name in [p.name for p in d.iterdir() if "jackson" in p.name]:
        (d / name).unlink()
    with pytest.raises(ConfigError, match=r"speaker_folds needs at least 2 speakers.*'george'"):  # at load time
        runner.load(EXAMPLES / "reservoir_fsdd.toml", sets)


def test_benchmark_skips_without_reservoirpy(monkeypatch):
    import sys

    from physlearning.benchmarks import reservoir as bench

    monkeypatch.setitem(sys.modules, "reservoirpy", None)  # import now raises ImportError
    out = bench.run(quick=True)
    assert out["speedup"] is None and "not installed" in out["message"]


def test_network_refuses_keys_it_would_ignore():
    with pytest.raises(ConfigError, match=r"reservoir.units = 50: not used by reservoir_network \(the node count"):
        runner.load(EXAMPLES / "reservoir_network.toml", ["reservoir.units=50"])
    with pytest.raises(ConfigError, match=r"kinds = \[\]: give at least one value"):
        runner.load(EXAMPLES / "reservoir_network.toml", ["kinds=[]"])
    with pytest.raises(ValueError, match=r"density = 2.0: allowed values are 0 < density <= 1"):
        make_esn(10, 1, density=2.0)
    with pytest.raises(ValueError, match=r"n = 0, d_in = 1: the reservoir needs n >= 1"):
        make_esn(0, 1)


def test_device_and_input_errors_name_the_value():
    from physlearning.experiments.reservoir import reservoir_states
    from physlearning.substrates.reservoirs.stno import make_stno

    with pytest.raises(DeviceError, match=r"STNO gamma_g = -1.0: must be > 0"):
        make_stno(5, 1, gamma_g=-1.0)
    u = np.zeros((20, 1))
    u[3] = np.nan
    with pytest.raises(ts.SeriesError, match=r"reservoir input contains NaN/inf \(first at time step 3"):
        reservoir_states(make_esn(5, 1), u)


def test_paired_comparison_with_reservoirpy():
    """``benchmarks.reservoir.compare``: per-seed NRMSE of both libraries on the benchmark's
    protocol, and paired statistics consistent with them (scipy's paired t-test). Needs the
    optional ReservoirPy (``bench`` extra); skipped without it."""
    pytest.importorskip("reservoirpy")
    from physlearning.benchmarks.reservoir import compare

    out = compare(100, 2)
    ours, rpy = np.array(out["nrmse_ours"]), np.array(out["nrmse_reservoirpy"])
    assert len(ours) == len(rpy) == 2 and np.all((ours > 0.05) & (ours < 1)) and np.all((rpy > 0.05) & (rpy < 1))
    assert out["ours_lower_in"] == int(np.sum(ours < rpy))
    np.testing.assert_allclose(out["mean_difference"], np.mean(ours - rpy), atol=1e-4)
    assert 0 <= out["paired_p_two_sided"] <= 1
