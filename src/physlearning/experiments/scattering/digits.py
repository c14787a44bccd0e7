"""Experiment ``scattering_digits``: a layered coupled-mode network classifies digits (UCI optdigits from a
directory, scikit-learn digits, MNIST), trained with the measurement rule (or autodiff / finite differences /
SPSA); logistic-regression and MLP baselines on the same split."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from physlearning.config import ConfigError, param, section, seed_param
from physlearning.core import Seeds
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
    metrics,
    template,
    train_network,
)
from physlearning.runs import plots
from physlearning.runs.registry import Experiment
from physlearning.runs.store import RunStore
from physlearning.tasks import datasets

FD_MAX_PARAMS = 5000


@dataclasses.dataclass(frozen=True)
class Baselines:
    """Digital baselines on the same split."""

    enabled: bool = param(True)
    mlp_hidden: int = param(150, ge=1, doc="MLP width (150: 11,260 parameters for 64 pixels)")


@dataclasses.dataclass(frozen=True)
class DigitsConfig:
    """Config of ``scattering_digits``: the layered scattering network trained on a digits data
    set with the chosen rule; model chosen on the validation split, tested once."""

    seed: int = seed_param(0, doc="seed of the data split, initial couplings and batch order")
    data: Data = section(Data)
    network: Network = section(Network)
    train: Train = section(Train)
    hardware: Hardware = section(Hardware)
    baselines: Baselines = section(Baselines)

    def validate(self) -> None:
        _validate_common(self.data, self.network, self.train)
        if self.train.rule in ("finite_difference",):
            n_in = 784 if "mnist" in self.data.name else 64
            sizes = [n_in * self.network.duplicate] + ([self.network.hidden] if self.network.hidden else []) + [10]
            n_coupling = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
            p = n_coupling * (2 if self.network.complex_couplings else 1) + sum(sizes)
            if p > FD_MAX_PARAMS:
                raise ConfigError(f"train.rule = 'finite_difference' with {p} parameters: allowed only up to "
                                  f"{FD_MAX_PARAMS} (one forward pass per parameter per step); use 'measurement'")
        check_network_memory(self.data, self.network, self.train)


def digital_baselines(split: datasets.Split, seed: int, mlp_hidden: int) -> dict[str, float]:
    """Logistic regression and a one-hidden-layer MLP (scikit-learn) on the same split."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        lr = LogisticRegression(max_iter=3000).fit(split.x_train, split.y_train)
        out["logistic_test_accuracy"] = float(lr.score(split.x_test, split.y_test))
        out["logistic_params"] = int(lr.coef_.size + lr.intercept_.size)
        mlp = MLPClassifier((mlp_hidden,), max_iter=300, random_state=seed)
        mlp.fit(split.x_train, split.y_train)
        out["mlp_test_accuracy"] = float(mlp.score(split.x_test, split.y_test))
        out["mlp_params"] = int(sum(w.size for w in mlp.coefs_) + sum(b.size for b in mlp.intercepts_))
    return out


def run_digits(cfg: DigitsConfig, store: RunStore) -> dict:
    """Train (measurement rule by default), keep the model with the best validation score, test it
    once; digital baselines (logistic regression, MLP) on the same split when enabled. Figures:
    :func:`figures_digits` (the runner draws them from the run folder)."""
    seeds = Seeds(cfg.seed)
    split = data_split(cfg)
    nonideal = hardware_nonideality(cfg.hardware)
    res, predict, cost, net0 = train_network(cfg, split, store, nonideal)
    model = res.model
    t0 = time.perf_counter()
    y_test = predict(model, split.x_test, seeds.key("eval.test"))
    test = metrics(y_test, split.y_test, cost, "test")
    eval_s = time.perf_counter() - t0
    store.save_figure_data("confusion", y_true=split.y_test, y_pred=np.argmax(y_test, 1), n_classes=split.n_classes)
    store.save_array("test_outputs.npz", y=y_test, labels=split.y_test)
    train_s = res.history[-1]["time_s"]
    summary = {
        **test,
        "val_accuracy": res.history[res.best_epoch - 1].get("val_accuracy"),
        "selected_epoch": res.best_epoch, "epochs": cfg.train.epochs,
        "train_time_s": train_s, "train_cpu_s": res.cpu_time_s, "compile_time_s": res.compile_time_s,
        "epoch_time_s": (train_s - res.compile_time_s) / cfg.train.epochs,
        "test_eval_time_s": eval_s, "n_params": model.n_trainable(), "n_modes": model.n_modes,
        "probe_settings_per_epoch": float(res.history[-1].get("aux_probe_settings", 0.0))
        * (len(split.x_train) // min(cfg.train.batch_size, len(split.x_train))),
        "data": split.note,
    }
    if cfg.baselines.enabled:
        summary.update(digital_baselines(split, seeds.int("baselines.mlp"), cfg.baselines.mlp_hidden))
    return summary


def figures_digits(run_dir) -> list[str]:
    """Training curves (every metric; and loss with validation accuracy) and the test confusion matrix,
    from the run folder's metrics.jsonl and data/confusion.npz."""
    from physlearning.config import read_toml
    from physlearning.runs.store import read_metrics

    run_dir = Path(run_dir)
    drawn = plots.run_curves(run_dir, "scattering_digits")
    raw = read_toml(run_dir / "config.toml")
    title = (f"{raw.get('data', {}).get('name')}, hidden={raw.get('network', {}).get('hidden')}, "
             f"rule={raw.get('train', {}).get('rule')}")
    p = plots.curves(read_metrics(run_dir), run_dir / "plots" / "scattering_training.png",
                     keys=["train_loss", "val_loss", "val_accuracy"], title=title)
    drawn += [] if p is None else [p.name]
    if (run_dir / "data" / "confusion.npz").is_file():
        with np.load(run_dir / "data" / "confusion.npz") as z:
            acc = float(np.mean(z["y_true"] == z["y_pred"]))
            drawn.append(plots.confusion_from_labels(z["y_true"], z["y_pred"], int(z["n_classes"]),
                                                     run_dir / "plots" / "scattering_confusion.png",
                                                     f"test accuracy {acc:.4f}").name)
    return drawn


EXPERIMENT = Experiment(
    "scattering_digits", DigitsConfig, run_digits,
    "Linear wave scattering network classifies digits, trained from scattering measurements",
    headline=("test_accuracy", "n_params", "epoch_time_s", "logistic_test_accuracy", "mlp_test_accuracy"),
    tour={"network.hidden": 20, "train.epochs": 4, "baselines.enabled": False},
    preflight=_require_data,
    template=template,
    figures=figures_digits,
)
