"""``heb_robustness`` and HEB training on faulty hardware as an ensemble of ``Hardware`` members."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import physlearning
from physlearning.config import ConfigError
from physlearning.core import Hardware, Seeds
from physlearning.experiments.heb.xor import HebXorConfig, Lattice, Rule, Task, Train, build_lattice, train_machines
from physlearning.substrates.wave_faults import WaveFaults

TINY_LATTICE = Lattice(L=2, T=3.0, n_steps=30)
TINY_TRAIN = Train(epochs=6, optimizer="adam", lr=0.02)


def test_level_zero_hardware_trains_exactly_like_the_bare_lattice():
    """Reference: the same machines as bare KerrLattices (no Hardware). Level-0 faults given as arrays
    (the sweep's general path: re-diagonalised M, conjugation factor 1, zero noise) must train to the
    same outputs."""
    with jax.enable_x64(True):
        cfg = HebXorConfig(lattice=TINY_LATTICE, task=Task(n_intensities=2), train=TINY_TRAIN)
        amps = np.array([0.3, 0.5])
        base = build_lattice(cfg)
        bare = train_machines([base, base], amps, Rule(), TINY_TRAIN, 0)
        zero = WaveFaults(**{k: jnp.asarray(0.0) for k in ("detuning_std", "reversal_noise", "conj_phase_std",
                                                          "conj_amp_std", "loss_rate", "decay_std")})
        hw = [Hardware(base, zero, Seeds(0).key(f"hw{i}")) for i in range(2)]
        faulty = train_machines(hw, amps, Rule(), TINY_TRAIN, 0)
        np.testing.assert_allclose(faulty.out1, bare.out1, rtol=1e-8, atol=1e-10)
        assert np.all(bare.loss[:, -1] < bare.loss[:, 0])


def test_fault_level_changes_training_in_situ():
    """A strong conjugation amplitude error (30%) trains a different machine than the ideal one."""
    with jax.enable_x64(True):
        cfg = HebXorConfig(lattice=TINY_LATTICE, task=Task(n_intensities=1), train=TINY_TRAIN)
        base = build_lattice(cfg)
        amps = np.array([0.4, 0.4])
        members = [Hardware(base, WaveFaults(conj_amp_std=jnp.asarray(v)), Seeds(0).key("hw")) for v in (0.0, 0.3)]
        fit = train_machines(members, amps, Rule(), TINY_TRAIN, 0)
        assert float(np.max(np.abs(fit.out1[0] - fit.out1[1]))) > 1e-6


TINY = {"experiment": "heb_robustness", "seed": 0,
        "lattice": {"L": 2, "T": 3.0, "n_steps": 30},
        "task": {"n_intensities": 2},
        "train": {"epochs": 4, "optimizer": "adam", "lr": 0.02},
        "sweep": {"faults": ["detuning_std", "loss_rate"], "detuning_std": [0.0, 0.03], "loss_rate": [0.0, 0.05],
                  "repeats": 1}}


def test_tiny_sweep_runs_and_reports_each_level(tmp_path):
    summary, run_dir = physlearning.run(TINY, out=tmp_path / "rob")
    assert summary["status"] == "ok"
    for f in ("detuning_std", "loss_rate"):
        assert summary[f"{f}_levels"] == TINY["sweep"][f]
        assert len(summary[f"{f}_correct_fraction"]) == 2
    assert summary["n_machines_per_level"] == 2
    assert (run_dir / "robustness.png").exists()


@pytest.mark.parametrize("sweep, bad", [
    ({"faults": ["gremlins"]}, "gremlins"),
    ({"faults": []}, "sweep.faults"),
    ({"faults": ["loss_rate"], "loss_rate": [-0.1]}, "sweep.loss_rate"),
])
def test_bad_sweep_refused(tmp_path, sweep, bad):
    cfg = {**TINY, "sweep": {**TINY["sweep"], **sweep}}
    with pytest.raises(ConfigError, match=bad):
        physlearning.run(cfg, out=tmp_path / "bad")
    assert not (tmp_path / "bad").exists()
