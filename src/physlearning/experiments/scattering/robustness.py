"""Experiment ``scattering_robustness``: accuracy vs measurement noise and detuning calibration error (plus
coupling disorder and extra loss), trained in situ on the nonideal hardware or on the nominal model (the error
unknown to the rule), tested on the nonideal hardware; see :func:`run_robustness`."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from physlearning.config import SEED_LIMIT, ConfigError, param, section, seed_param
from physlearning.core import Nonideality, Seeds
from physlearning.experiments.scattering.sections import (
    Data,
    Hardware,
    Network,
    Train,
    _require_data,
    _validate_common,
    check_network_memory,
    data_split,
    hardware_nonideality,
    make_predict,
    metrics,
    stream,
    template,
    train_network,
)
from physlearning.runs.registry import Experiment
from physlearning.runs.store import RunStore

SWEEP_MODES = ("in_situ", "unknown", "both")


@dataclasses.dataclass(frozen=True)
class Sweep:
    """Levels of each nonideality; one training run per level (and seed) in situ, one per seed in all when the
    error is unknown to the rule (the nominal model does not depend on the level)."""

    measurement_noise: list[float] = param([0.0, 0.01, 0.03, 0.1, 0.3], ge=0)
    calibration_error: list[float] = param([0.0, 0.1, 0.3, 1.0], ge=0)
    coupling_disorder: list[float] = param([], ge=0)
    extra_loss: list[float] = param([], ge=0)
    seeds: int = param(1, ge=1, doc="training seeds per level")
    mode: str = param("in_situ", choices=SWEEP_MODES,
                      doc="in_situ: the rule trains on the nonideal hardware (it measures its gradients there); "
                          "unknown: the rule trains on the nominal model (no errors, no noise: an offline "
                          "digital twin), the result is tested on the nonideal hardware; both: the two side by side")


@dataclasses.dataclass(frozen=True)
class RobustnessConfig:
    """Config of ``scattering_robustness``: one training run per nonideality level (and seed), tested on that
    nonideal hardware; trained on it (``sweep.mode = "in_situ"``) or on the nominal model (``"unknown"``)."""

    seed: int = seed_param(0, doc="root seed of the data split and of each training repeat's streams")
    data: Data = section(Data)
    network: Network = section(Network)
    train: Train = section(Train)
    hardware: Hardware = section(Hardware)
    sweep: Sweep = section(Sweep)

    def validate(self) -> None:
        _validate_common(self.data, self.network, self.train)
        if self.train.rule == "finite_difference":
            raise ConfigError("train.rule = 'finite_difference': the sweep trains with 'measurement' or 'autodiff'")
        sw = self.sweep
        if not (sw.measurement_noise or sw.calibration_error or sw.coupling_disorder or sw.extra_loss):
            raise ConfigError("sweep: every level list (measurement_noise, calibration_error, coupling_disorder, "
                              "extra_loss) is empty; give at least one level")
        for key, first in (("seed", self.seed), ("hardware.seed", self.hardware.seed)):
            if first + sw.seeds > SEED_LIMIT:
                raise ConfigError(f"{key} = {first}, sweep.seeds = {sw.seeds}: the sweep uses {key} .. {key} + "
                                  f"sweep.seeds - 1 = {first + sw.seeds - 1}; allowed: up to 2**32 - 1")
        check_network_memory(self.data, self.network, self.train)  # one training run at a time


def rule_nonideality(mode: str, nonideal: Nonideality | None) -> Nonideality | None:
    """What the training rule (and the validation-based model selection) sees in sweep mode ``mode``: the
    nonideal hardware itself (``"in_situ"``), or the nominal model, ``None`` (``"unknown"``: the error is
    unknown to the rule). The test outputs are read on ``nonideal`` in both modes."""
    if mode == "in_situ":
        return nonideal
    if mode == "unknown":
        return None
    raise ConfigError(f"sweep.mode = {mode!r}: allowed values are 'in_situ' and 'unknown' per training run "
                      f"(and {list(SWEEP_MODES)} in the config)")


def _modes(mode: str) -> list[str]:
    return ["in_situ", "unknown"] if mode == "both" else [mode]


def run_robustness(cfg: RobustnessConfig, store: RunStore) -> dict:
    """Accuracy vs each nonideality level (measurement noise, calibration error, coupling
    disorder, extra loss): table (mean +- std over the ``sweep.seeds`` training repeats) and plot
    (:func:`figures_robustness`). Repeat s of every level draws the same split, initial network, batches and
    hardware errors (streams :func:`stream` of repeat s); ``checkpoint.eqx`` is the first network trained
    (the first level of the first kind, repeat 0, in the first mode).

    What a row measures depends on ``sweep.mode``:

    * ``"in_situ"``: the rule measures its gradients on the hardware that has the error, the model is chosen
      on validation outputs read there and tested there. A detuning calibration offset is a shift of the
      trainable detunings (Delta_j + delta_j), so the measured gradient is the exact gradient of the realised
      network and training absorbs the offset exactly; coupling disorder J (1 + sigma xi) rescales each
      measured coupling gradient by 1 / (1 + sigma xi) relative to the true one, i.e. changes its step size,
      not its sign (for |sigma xi| < 1). These rows measure how well in-situ training copes with the error,
      not how robust a trained network is to it.
    * ``"unknown"``: the rule trains on the nominal model (no disorder, calibration error, extra loss or
      measurement noise: an offline digital twin; the model is chosen on the twin's validation outputs), and
      the trained parameters are tested once on the nonideal hardware (errors drawn as in situ). This is the
      robustness of the trained network to an error unknown to training. The training does not depend on
      the level, so it runs once per repeat and every level reuses it.

    Summary: ``test_accuracy_{kind}_{level}`` / ``worst_test_accuracy_{kind}`` for the in-situ rows (the
    keys of earlier runs), ``test_accuracy_unknown_{kind}_{level}`` / ``worst_test_accuracy_unknown_{kind}``
    for the unknown-error rows."""
    seeds = Seeds(cfg.seed)
    split = data_split(cfg)
    modes = _modes(cfg.sweep.mode)
    summary: dict = {"data": split.note, "sweep_mode": cfg.sweep.mode}
    tables: dict[str, dict] = {m: {} for m in modes}
    kinds = [k for k in ("measurement_noise", "calibration_error", "coupling_disorder", "extra_loss")
             if getattr(cfg.sweep, k)]
    checkpointed = False
    nominal: dict[int, tuple] = {}  # repeat -> (TrainResult, cost): the twin's training, shared by every level
    for mode in modes:
        prefix = "" if mode == "in_situ" else "unknown_"
        for kind in kinds:
            rows = []
            for level in getattr(cfg.sweep, kind):
                accs = []
                for s in range(cfg.sweep.seeds):
                    nonideal = hardware_nonideality(dataclasses.replace(cfg.hardware, **{kind: float(level)}), s)
                    seen = rule_nonideality(mode, nonideal)
                    if mode == "unknown" and s in nominal:
                        res, cost = nominal[s]
                    else:
                        res, predict, cost, _ = train_network(cfg, split, None, seen, progress=False,
                                                              desc=f"{mode} {kind}={level}", repeat=s)
                        if mode == "unknown":
                            nominal[s] = (res, cost)
                    if mode == "unknown":  # the twin's predict reads the nominal model: test on the hardware
                        predict = make_predict(nonideal)
                    y = predict(res.model, split.x_test, seeds.key(stream("eval.test", s)))
                    acc = metrics(y, split.y_test, cost, "test")["test_accuracy"]
                    accs.append(acc)
                    if not checkpointed:
                        checkpointed = True
                        store.save_checkpoint(res.model)
                        store.log({"event": "checkpoint", "message": f"checkpoint.eqx: the network trained at "
                                   f"{kind} = {level:g} (repeat 0, mode {mode})"})
                    store.log({"event": "level", "mode": mode, "kind": kind, "level": level, "seed": cfg.seed,
                               "repeat": s, "hardware_seed": cfg.hardware.seed, "test_accuracy": acc,
                               "selected_epoch": res.best_epoch, "train_time_s": res.history[-1]["time_s"]})
                rows.append((float(level), float(np.mean(accs)), float(np.std(accs))))
                summary[f"test_accuracy_{prefix}{kind}_{level:g}"] = float(np.mean(accs))
            tables[mode][kind] = rows
        worst = {k: min(r[1] for r in rows) for k, rows in tables[mode].items()}
        summary.update({f"worst_test_accuracy_{prefix}{k}": v for k, v in worst.items()})
    arrays = {("" if m == "in_situ" else UNKNOWN_PREFIX) + k: np.array(v)
              for m, table in tables.items() for k, v in table.items()}
    store.save_figure_data("robustness", **arrays)
    store.save_array("robustness.npz", **arrays)
    base = [r[1] for rows in tables[modes[0]].values() for r in rows if r[0] == 0.0]
    if base:
        summary["test_accuracy"] = base[0]
    return summary


UNKNOWN_PREFIX = "unknown__"  # robustness.npz: arrays of the unknown-error rows (in-situ rows: the kind's name)
KIND_LABELS = {
    "measurement_noise": "measurement noise: std of each measured amplitude (probe amplitude 1)",
    "calibration_error": "calibration error: std of the detuning offsets (kappa)",
    "coupling_disorder": "coupling disorder: relative std sigma of J (1 + sigma xi)",
    "extra_loss": "extra intrinsic loss per mode (kappa)",
}


def _plot_sweep(table: dict, path):
    """One panel per nonideality kind; ``table`` maps a kind to its in-situ rows (level, mean, std) and
    ``UNKNOWN_PREFIX + kind`` to its unknown-error rows: one line each."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    kinds = list(dict.fromkeys(k.removeprefix(UNKNOWN_PREFIX) for k in table))
    ideal = [r[1] for k in kinds if k in table for r in table[k] if r[0] == 0.0]  # in situ = unknown there
    fig, axes = plt.subplots(1, len(kinds), figsize=(4.6 * len(kinds), 3.6), squeeze=False)
    lines = (("", "in situ: rule trains on the faulty hardware", "o", "-"),
             (UNKNOWN_PREFIX, "error unknown: trained on the nominal model", "s", "--"))
    for ax, kind in zip(axes[0], kinds):
        levels = np.concatenate([[r[0] for r in table[p + kind]] for p, *_ in lines if p + kind in table])
        low = np.min(levels[levels > 0]) / 3 if np.any(levels > 0) else 1.0
        for p, label, marker, style in lines:
            if p + kind not in table:
                continue
            rows = table[p + kind]
            lv = np.array([r[0] for r in rows])
            ax.errorbar(np.where(lv > 0, lv, low), [r[1] for r in rows], yerr=[r[2] for r in rows], marker=marker,
                        linestyle=style, capsize=3, label=label)
        if ideal and not np.any(levels == 0):
            ax.axhline(ideal[0], color="gray", linestyle=":", label="no error")
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(KIND_LABELS.get(kind, kind.replace("_", " ")) + (" (0 at left)" if np.any(levels == 0) else ""),
                      fontsize=8)
        ax.set_ylabel("test accuracy (mean +- s.d. over repeats)", fontsize=8)
        ax.grid(alpha=0.3)
        if UNKNOWN_PREFIX + kind in table or ideal:
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def figures_robustness(run_dir) -> list[str]:
    """Test accuracy vs each nonideality level (mean +- std over repeats; in situ and, when run, with the error
    unknown to the rule), from data/robustness.npz."""
    path = Path(run_dir) / "data" / "robustness.npz"
    if not path.is_file():
        return []
    with np.load(path) as z:
        table = {kind: [tuple(row) for row in z[kind]] for kind in z.files}
    return [_plot_sweep(table, Path(run_dir) / "plots" / "scattering_robustness.png").name]


EXPERIMENT = Experiment(
    "scattering_robustness", RobustnessConfig, run_robustness,
    "Scattering network accuracy vs measurement noise and detuning calibration error",
    headline=("test_accuracy", "worst_test_accuracy_measurement_noise", "worst_test_accuracy_calibration_error",
              "worst_test_accuracy_unknown_calibration_error", "worst_test_accuracy_unknown_coupling_disorder"),
    tour=None,
    preflight=_require_data,
    template=template,
    figures=figures_robustness,
)
