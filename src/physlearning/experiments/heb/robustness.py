"""``heb_robustness``: XOR accuracy of HEB-trained Kerr lattices vs the level of each hardware fault.

Every machine is trained *in situ* on its own faulty hardware (``Hardware(lattice, WaveFaults(...),
key)``, :mod:`physlearning.substrates.wave_faults`): the echo, the reversal and the update all run
on the faulty device, and the trained machine is evaluated on the same device. Per fault kind, the
machines at every (level, realisation, intensity) train side by side as one
:class:`~physlearning.core.ensemble.Ensemble` with the XOR recipe of ``heb_xor`` (``train_machines``).

Reported per fault and level: the fraction of machines whose four XOR rows all have the right output
sign (``correct_fraction``; mean over realisations, spread as the std over realisations of the
per-realisation fraction) and the mean final cost relative to |target|^2.

Fault levels (defaults; units in :mod:`~physlearning.substrates.wave_faults`): onsite disorder std 0 to
0.03 (the reference's ``cavity_array_disorder`` study; J = 10), reversal noise std per mode (compare
with the injected error eta |dC/dpsi| ~ 1e-4 x 0.3), conjugation phase (rad) and amplitude error
std, intensity loss rate gamma (gamma T = 0 to 1 at T = 20) with re-amplification, per-site gain
error of the written update (the imperfect decay step).
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from physlearning.config import ConfigError, param, section, seed_param
from physlearning.core import Hardware, Seeds
from physlearning.experiments.heb.xor import (
    Lattice,
    Rule,
    Task,
    Train,
    build_lattice,
    check_lattice_time_step,
    train_machines,
)
from physlearning.runs.registry import Experiment
from physlearning.substrates.wave_faults import FAULTS, WaveFaults


@dataclasses.dataclass(frozen=True)
class Sweep:
    """Fault kinds to sweep (each one alone, the others 0) and their levels; ``repeats`` realisations
    (device keys) per level."""

    faults: list = param(list(FAULTS), doc=f"fault kinds, from {list(FAULTS)}")
    detuning_std: list = param([0.0, 0.01, 0.02, 0.03], doc="onsite detuning disorder std (angular frequency)")
    reversal_noise: list = param([0.0, 1e-7, 1e-6, 1e-5], doc="noise std per mode at each time reversal")
    conj_phase_std: list = param([0.0, 1e-3, 1e-2, 1e-1], doc="conjugation phase error std (rad)")
    conj_amp_std: list = param([0.0, 1e-3, 1e-2, 1e-1], doc="conjugation amplitude error std (relative)")
    loss_rate: list = param([0.0, 0.005, 0.02, 0.05], doc="intensity loss rate gamma (1 / time), re-amplified")
    decay_std: list = param([0.0, 0.1, 0.3, 1.0], doc="per-site gain error of the written update (relative)")
    repeats: int = param(3, ge=1, le=100, doc="device realisations per level (the same draws at every level)")


def check_sweep(sw: Sweep, upper: float = float("inf")) -> None:
    """Refuse an empty or unknown fault list and level lists that are empty or outside [0, upper)."""
    if not sw.faults:
        raise ConfigError(f"sweep.faults = []: allowed a non-empty list from {list(FAULTS)}")
    for f in sw.faults:
        if f not in FAULTS:
            raise ConfigError(f"sweep.faults contains {f!r}: allowed values are {list(FAULTS)}")
        levels = getattr(sw, f)
        if not levels or any(not isinstance(v, (int, float)) or not (0 <= v <= upper and math.isfinite(v))
                             for v in levels):
            allowed = "finite numbers >= 0" if upper == float("inf") else f"numbers in [0, {upper:g}]"
            raise ConfigError(f"sweep.{f} = {levels!r}: allowed a non-empty list of {allowed}")


def plot_fault_panels(run_dir: Path, faults: list[str], draw, ylabel: str, title: str, name: str) -> list[str]:
    """One panel per fault kind, its levels evenly spaced on x; ``draw(ax, fault, xs)`` plots the data."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(faults), figsize=(2.8 * len(faults), 3.0), squeeze=False)
    for ax, f in zip(axes[0], faults):
        levels = draw(ax, f)
        xs = np.arange(len(levels))
        ax.set_xticks(xs, [f"{v:.3g}" for v in levels], fontsize=7)
        ax.set_title(f, fontsize=9)
        ax.set_xlabel("level (units: see docs)", fontsize=8)
    axes[0][0].set_ylabel(ylabel)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(Path(run_dir) / name, dpi=120)
    plt.close(fig)
    return [name]


@dataclasses.dataclass(frozen=True)
class RobustnessTask(Task):
    """Input amplitudes a = (L^2/25) * linspace(amp_min, amp_max, n_intensities), 10 by default (the
    sweep trains levels x repeats x intensities machines per fault kind)."""

    n_intensities: int = param(10, ge=1, le=1000)


@dataclasses.dataclass(frozen=True)
class HebRobustnessConfig:
    seed: int = seed_param()
    lattice: Lattice = section(Lattice)
    task: RobustnessTask = section(RobustnessTask)
    rule: Rule = section(Rule)
    train: Train = section(Train)
    sweep: Sweep = section(Sweep)

    def validate(self) -> None:
        check_sweep(self.sweep)
        if self.task.amp_max < self.task.amp_min:
            raise ConfigError(f"task.amp_max = {self.task.amp_max}: smaller than task.amp_min = {self.task.amp_min}")
        check_lattice_time_step(self)


def _amplitudes(cfg: HebRobustnessConfig) -> np.ndarray:
    t = cfg.task
    return cfg.lattice.L**2 / 25 * np.linspace(t.amp_min, t.amp_max, t.n_intensities)


def _machines(cfg: HebRobustnessConfig, fault: str, levels: list, n_amps: int) -> list:
    """Members in (level, repeat, intensity) order; each a Hardware with its own realisation key."""
    base = build_lattice(cfg)
    seeds = Seeds(cfg.seed)
    out = []
    for level in levels:
        for r in range(cfg.sweep.repeats):
            key = seeds.key(f"hardware.{fault}.{r}")  # the same device draws at every level (common random numbers)
            faults = WaveFaults(**{fault: jnp.asarray(float(level))})
            out += [Hardware(base, faults, key)] * n_amps
    return out


def run_heb_robustness(cfg: HebRobustnessConfig, store) -> dict:
    with jax.enable_x64(bool(cfg.lattice.x64)):
        return _run(cfg, store)


def _run(cfg: HebRobustnessConfig, store) -> dict:
    t0 = time.perf_counter()
    amps = _amplitudes(cfg)
    n_amp, reps = len(amps), cfg.sweep.repeats
    summary: dict = {}
    tables = {}
    for fault in cfg.sweep.faults:
        levels = [float(v) for v in getattr(cfg.sweep, fault)]
        machines = _machines(cfg, fault, levels, n_amp)
        fit = train_machines(machines, np.tile(amps, len(levels) * reps), cfg.rule, cfg.train, cfg.seed,
                             desc=f"heb_robustness[{fault}]")
        right = fit.correct1.reshape(len(levels), reps, n_amp)
        rel = (np.mean(np.abs(fit.out1 - fit.target) ** 2, axis=1) / (0.5 * np.tile(amps, len(levels) * reps)) ** 2)
        rel = rel.reshape(len(levels), reps, n_amp)
        frac = right.mean(axis=2)  # (levels, reps)
        tables[fault] = {"level": np.asarray(levels), "correct_fraction": frac.mean(axis=1),
                         "correct_fraction_std": frac.std(axis=1), "final_loss_rel": rel.mean(axis=(1, 2))}
        summary[f"{fault}_levels"] = levels
        summary[f"{fault}_correct_fraction"] = [round(float(v), 4) for v in frac.mean(axis=1)]
        summary[f"{fault}_correct_fraction_std"] = [round(float(v), 4) for v in frac.std(axis=1)]
        summary[f"{fault}_final_loss_rel"] = [float(v) for v in rel.mean(axis=(1, 2))]
        if store is not None:
            store.log({"event": "fault", "fault": fault,
                       "message": f"{fault}: levels {levels} -> correct fraction "
                                  f"{[round(float(v), 3) for v in frac.mean(axis=1)]}"})
    if store is not None:
        store.save_figure_data("robustness", faults=np.asarray(cfg.sweep.faults),
                               **{f"{f}_{k}": v for f, t in tables.items() for k, v in t.items()})
        figures(store.path)
    summary.update({"n_machines_per_level": reps * n_amp, "wall_time_s": time.perf_counter() - t0})
    return summary


def figures(run_dir) -> list[str]:
    with np.load(Path(run_dir) / "data" / "robustness.npz") as z:
        data = {k: z[k] for k in z.files}

    def draw(ax, f):
        lv = data[f"{f}_level"]
        ax.errorbar(np.arange(len(lv)), data[f"{f}_correct_fraction"], yerr=data[f"{f}_correct_fraction_std"],
                    marker="o", capsize=3)
        ax.set_ylim(-0.05, 1.05)
        return lv

    return plot_fault_panels(run_dir, [str(f) for f in data["faults"]], draw, "fraction of machines with XOR right",
                             "HEB XOR trained in situ on faulty hardware", "robustness.png")


EXPERIMENTS = [
    Experiment(
        name="heb_robustness",
        config_cls=HebRobustnessConfig,
        run=run_heb_robustness,
        description="XOR accuracy of HEB-trained Kerr lattices vs the level of each hardware fault (in situ)",
        headline=("detuning_std_correct_fraction", "reversal_noise_correct_fraction"),
        figures=figures,
    ),
]
