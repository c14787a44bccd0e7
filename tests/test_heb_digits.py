"""``heb_digits`` (experiments/heb/digits.py): port layout, input encoding and its errors, the centred echo
against BPTT (``Autodiff``) at a small instance of the set-up, and tiny honest runs of both rules.

References: BPTT (reverse mode through the same split-step map) for the echo gradient; the HEB and BPTT
runs from the same seed must follow the same trajectory, because their gradients agree to O(eta^2)."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import physlearning
from physlearning.config import ConfigError, from_dict
from physlearning.experiments.heb import digits as D

TINY = {"experiment": "heb_digits", "seed": 3,
        "lattice": {"L": 9, "n_steps": 10, "T": 4.0},
        "data": {"n_train": 96},
        "train": {"epochs": 3, "batch_size": 32, "optimizer": "sgd", "lr": 0.005, "n_seeds": 2}}


def _cfg(**sections) -> D.HebDigitsConfig:
    return from_dict(D.HebDigitsConfig, {k: v for k, v in TINY.items() if k != "experiment"} | sections)


def test_port_sites_layout():
    inputs, outputs = D.port_sites(9)
    assert len(inputs) == 64 and len(outputs) == 10
    assert len(set(inputs) | set(outputs)) == 74  # distinct sites
    assert all(i // 9 < 8 and i % 9 < 8 for i in inputs)  # the 8x8 image block
    assert all(o // 9 == 8 or o % 9 == 8 for o in outputs)  # outside it
    with pytest.raises(ValueError, match="L=7"):
        D.port_sites(7)


def test_encode_and_bad_images():
    cfg = _cfg(data={"input_scale": 2.0, "input_offset": 0.5})
    x = D.encode(np.full((3, 64), 0.75), cfg)
    assert x.shape == (3, 1, 74) and np.iscomplexobj(x)
    np.testing.assert_allclose(x[:, 0, :64], 0.5)  # 2 * (0.75 - 0.5)
    np.testing.assert_allclose(x[:, 0, 64:], 0.0)  # output ports start empty
    with pytest.raises(ValueError, match=r"\(3, 63\).*64 input sites"):
        D.encode(np.zeros((3, 63)), cfg)
    with pytest.raises(ValueError, match=r"\[0, 16\].*\[0, 1\]"):
        D.encode(np.tile(np.linspace(0, 16, 64), (2, 1)), cfg)  # raw sklearn counts, not scaled


def test_echo_matches_bptt_at_small_setup():
    """Centred echo vs autodiff: 4 images, L = 9 lattice with 74 ports, T = 4, softmax cost (float64)."""
    with jax.enable_x64(True):
        cfg = _cfg(init={"theta_scale": 1.0})
        sp = D.load_split(cfg)
        lat = D.build_lattice(cfg)
        info = D.echo_check(lat, D.make_cost(cfg), D.encode(sp.x_train[:4], cfg), D.one_hot(sp.y_train[:4]), 1e-4)
    assert info["grad_norm"] > 1e-3  # a nontrivial gradient
    assert info["rel_error"] < 1e-5
    assert info["cosine"] > 1 - 1e-9


def test_cost_is_cross_entropy_of_output_intensities():
    cost = D.WaveSoftmaxCost(temperature=0.5)
    y = np.zeros(74, complex)
    y[64:] = np.sqrt(np.arange(10.0))  # intensities 0..9
    t = D.one_hot(np.array([9]))[0]
    z = np.arange(10.0) / 0.5
    expected = -(z[9] - np.log(np.sum(np.exp(z))))
    assert abs(float(cost(y[None], t)) - expected) < 1e-5


def test_tiny_runs_heb_follows_bptt(tmp_path):
    """Two seeds each rule, 3 epochs of 3 batches: the loss falls, and HEB reproduces BPTT's training."""
    out = {}
    for kind in ("heb", "bptt"):
        summary, run_dir = physlearning.run({**TINY, "rule": {"kind": kind}}, out=tmp_path / kind)
        assert summary["status"] == "ok"
        assert len(summary["test_accuracy_per_seed"]) == 2
        assert 0 <= summary["test_accuracy"] <= 1 and summary["train_time_s"] > 0
        with np.load(run_dir / "data" / "training.npz") as z:
            loss = z["train_loss"]
        assert loss.shape == (2, 3)
        assert np.all(loss[:, -1] < loss[:, 0])
        with np.load(run_dir / "data" / "theta0.npz") as z:
            out[kind] = z["theta0"]
        assert (run_dir / "training.png").exists() and (run_dir / "confusion.png").exists()
        out[kind + "_summary"] = summary
    assert out["heb_summary"]["echo_rel_error"] < 1e-5 and out["heb_summary"]["echo_rel_error_trained"] < 1e-5
    moved = np.linalg.norm(out["bptt"] - D.initial_theta(_cfg(), 3)[None])
    assert moved > 1e-2  # training changed theta0
    assert np.linalg.norm(out["heb"] - out["bptt"]) < 1e-3 * moved  # a wrong sign or convention: O(1)
    assert out["heb_summary"]["val_accuracy_per_seed"] == pytest.approx(out["bptt_summary"]["val_accuracy_per_seed"])


@pytest.mark.parametrize("override, bad", [
    ({"lattice": {"L": 8}}, "L"),
    ({"rule": {"kind": "backprop"}}, "kind"),
    ({"readout": {"kind": "phase"}}, "kind"),
    ({"readout": {"temperature": 0.0}}, "temperature"),
    ({"data": {"n_train": 5000}}, "n_train"),
    ({"train": {"batch_size": 500}}, "batch_size"),
    ({"data": {"input_offset": 1.5}}, "input_offset"),
])
def test_bad_config_refused(tmp_path, override, bad):
    cfg = {**TINY, **{k: {**TINY.get(k, {}), **v} for k, v in override.items()}}
    with pytest.raises((ConfigError, ValueError)) as e:
        physlearning.run(cfg, out=tmp_path / "bad")
    assert bad in str(e.value)


def test_optdigits_split_and_its_config_errors(tmp_path, shared_data):
    """data.name = optdigits: train/val carved from the UCI training file (3,823 rows), its test file
    (1,797 rows) as test; a missing data.dir or a writer-block split on sklearn digits is refused first."""
    cfg = _cfg(data={"name": "optdigits", "dir": str(shared_data / "optdigits"), "val_frac": 0.1,
                     "n_train": 0})
    sp = D.load_split(cfg)
    assert len(sp.x_test) == 1797 and len(sp.x_train) + len(sp.x_val) == 3823
    assert sp.x_train.shape[1] == D.N_PIXELS and 0 <= sp.x_train.min() and sp.x_train.max() <= 1
    for data, bad in (({"name": "optdigits"}, "data.dir"),
                      ({"val_split": "writer_block"}, "optdigits"),
                      ({"name": "optdigits", "dir": str(tmp_path)}, "optdigits.tra")):
        with pytest.raises(Exception) as e:
            physlearning.run({**TINY, "data": {**TINY["data"], **data}}, out=tmp_path / "bad")
        assert bad in str(e.value)


def test_faults_section_trains_in_situ_on_hardware(tmp_path):
    """With a fault on, each machine is a Hardware realised from its own key (in situ: the echo and the
    evaluation run on the faulty device); all faults 0 give the bare lattice."""
    from physlearning.core import Hardware

    ideal = _cfg()
    assert not isinstance(D.build_machine(ideal, D.initial_theta(ideal, 3)), Hardware)
    faulty = _cfg(faults={"detuning_std": 0.05})
    hw = D.build_machine(faulty, D.initial_theta(faulty, 3))
    assert isinstance(hw, Hardware) and float(np.std(np.asarray(hw.realised().detuning))) > 0.005
    summary, _ = physlearning.run({**TINY, "faults": {"detuning_std": 0.05}}, out=tmp_path / "faulty")
    assert summary["status"] == "ok"
    assert summary["echo_rel_error"] < 1e-5  # the echo on the disordered device = BPTT through that device


def test_digits_fault_sweep_shares_the_ideal_machine_and_refuses_bad_levels(tmp_path):
    """``heb_digits_faults``: its machines are the ``heb_digits`` machines (defaults equal), level 0 is
    the one ideal run shared by every fault, each level trains a Hardware machine; bad sweeps refused."""
    import dataclasses

    from physlearning.config import ConfigError
    from physlearning.experiments.heb import digits_faults as DF

    default = DF.HebDigitsFaultsConfig()
    assert default.machine() == dataclasses.replace(D.HebDigitsConfig(), train=dataclasses.replace(
        D.HebDigitsConfig().train, n_seeds=default.sweep.repeats))
    assert default.machine("loss_rate", 0.02).faults.loss_rate == 0.02
    cfg = {**TINY, "experiment": "heb_digits_faults", "train": {**TINY["train"], "epochs": 1},
           "sweep": {"faults": ["detuning_std", "conj_amp_std"], "detuning_std": [0.0, 0.05],
                     "conj_amp_std": [0.0, 0.2], "repeats": 1}}
    summary, run_dir = physlearning.run(cfg, out=tmp_path / "df")
    assert summary["status"] == "ok" and summary["machines_per_level"] == 1
    for f in ("detuning_std", "conj_amp_std"):
        assert summary[f"{f}_test_accuracy"][0] == round(summary["ideal_test_accuracy"], 4)
        assert len(summary[f"{f}_val_accuracy"]) == 2
    assert (run_dir / "digits_faults.png").exists()
    for sweep, bad in (({"faults": ["gremlins"]}, "gremlins"), ({"faults": ["loss_rate"], "loss_rate": [-1.0]},
                                                                  "sweep.loss_rate")):
        with pytest.raises(ConfigError, match=bad):
            physlearning.run({**cfg, "sweep": {**cfg["sweep"], **sweep}}, out=tmp_path / "bad")


def test_device_realisation_is_the_same_in_every_process():
    """The machine's device key comes from a deterministic digest of its theta0 draw (not Python's
    per-process salted ``hash``): a fresh interpreter realises the same disorder."""
    import subprocess
    import sys

    code = ("import numpy as np, jax; jax.config.update('jax_enable_x64', True);"
            "from physlearning.config import from_dict; from physlearning.experiments.heb import digits as D;"
            "c = from_dict(D.HebDigitsConfig, {'faults': {'detuning_std': 0.05}});"
            "m = D.build_machine(c, D.initial_theta(c, 0));"
            "print(repr(np.asarray(m.realised().detuning).ravel()[:3].tolist()))")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
            for _ in range(2)}
    assert len(outs) == 1, outs
