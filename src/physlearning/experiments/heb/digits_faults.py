"""``heb_digits_faults``: digits accuracy of HEB-trained Kerr lattices vs the level of each hardware fault.

The ``heb_digits`` machine (same lattice, encoding, readout, rule and training) trained *in situ* on
faulty hardware (``faults`` section of :mod:`.digits`: ``Hardware(lattice, WaveFaults(...), key)``), one
fault kind at a time, at the levels of a :class:`~physlearning.experiments.heb.robustness.Sweep` (the
same fault kinds and units as the XOR sweep). ``sweep.repeats`` machines per level (seeds ``seed`` ..
``seed + repeats - 1``: theta0 draw, batch order and device realisation); level 0 is the ideal machine,
trained once and shared by every fault. Reported per fault and level: the test accuracy of the
final-epoch model (mean and std over the machines) and the validation accuracy. Every machine's test
accuracy is read once, after training; nothing is chosen on it.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from physlearning.config import section, seed_param
from physlearning.experiments.heb.digits import (
    Data,
    Faults,
    HebDigitsConfig,
    Init,
    Lattice,
    Readout,
    Rule,
    Train,
    run_heb_digits,
)
from physlearning.experiments.heb.robustness import Sweep, check_sweep, plot_fault_panels
from physlearning.runs.registry import Experiment


@dataclasses.dataclass(frozen=True)
class HebDigitsFaultsConfig:
    seed: int = seed_param()
    lattice: Lattice = section(Lattice)
    data: Data = section(Data)
    readout: Readout = section(Readout)
    init: Init = section(Init)
    rule: Rule = section(Rule)
    train: Train = section(Train)
    sweep: Sweep = section(Sweep)

    def machine(self, fault: str | None = None, level: float = 0.0) -> HebDigitsConfig:
        """The ``heb_digits`` config of the machines at one (fault, level); ``sweep.repeats`` seeds."""
        faults = Faults(**({fault: float(level)} if fault else {}))
        return HebDigitsConfig(seed=self.seed, lattice=self.lattice, data=self.data, readout=self.readout,
                               init=self.init, rule=self.rule,
                               train=dataclasses.replace(self.train, n_seeds=self.sweep.repeats), faults=faults)

    def validate(self) -> None:
        check_sweep(self.sweep, upper=10.0)
        self.machine().validate()


def run_heb_digits_faults(cfg: HebDigitsFaultsConfig, store) -> dict:
    t0 = time.perf_counter()
    ideal = run_heb_digits(cfg.machine(), None)
    summary: dict = {"ideal_test_accuracy": ideal["test_accuracy"],
                     "ideal_test_accuracy_std": ideal["test_accuracy_std"], "machines_per_level": cfg.sweep.repeats}
    data: dict = {"faults": np.asarray(cfg.sweep.faults)}
    for fault in cfg.sweep.faults:
        levels = [float(v) for v in getattr(cfg.sweep, fault)]
        runs = [ideal if v == 0 else run_heb_digits(cfg.machine(fault, v), None) for v in levels]
        test = [r["test_accuracy"] for r in runs]
        data.update({f"{fault}_level": np.asarray(levels), f"{fault}_test": np.asarray(test),
                     f"{fault}_test_std": np.asarray([r["test_accuracy_std"] for r in runs]),
                     f"{fault}_val": np.asarray([r["val_accuracy"] for r in runs])})
        summary[f"{fault}_levels"] = levels
        summary[f"{fault}_test_accuracy"] = [round(float(v), 4) for v in test]
        summary[f"{fault}_val_accuracy"] = [round(float(r["val_accuracy"]), 4) for r in runs]
        if store is not None:
            store.log({"event": "fault", "fault": fault,
                       "message": f"{fault}: levels {levels} -> test accuracy {[round(v, 3) for v in test]}"})
    if store is not None:
        store.save_figure_data("digits_faults", **data)
        figures(store.path)
    summary["wall_time_s"] = time.perf_counter() - t0
    return summary


def figures(run_dir) -> list[str]:
    with np.load(Path(run_dir) / "data" / "digits_faults.npz") as z:
        d = {k: z[k] for k in z.files}

    def draw(ax, f):
        xs = np.arange(len(d[f"{f}_level"]))
        ax.errorbar(xs, 100 * d[f"{f}_test"], yerr=100 * d[f"{f}_test_std"], marker="o", capsize=3, label="test")
        ax.plot(xs, 100 * d[f"{f}_val"], "s:", ms=3, label="validation")
        ax.set_ylim(0, 100)
        ax.legend(fontsize=7)
        return d[f"{f}_level"]

    return plot_fault_panels(run_dir, [str(f) for f in d["faults"]], draw, "digits accuracy (%)",
                             "HEB digits trained in situ on faulty hardware", "digits_faults.png")


EXPERIMENTS = [
    Experiment(
        name="heb_digits_faults",
        config_cls=HebDigitsFaultsConfig,
        run=run_heb_digits_faults,
        description="digits accuracy of HEB-trained Kerr lattices vs the level of each hardware fault (in situ)",
        headline=("ideal_test_accuracy", "detuning_std_test_accuracy"),
        figures=figures,
    ),
]
