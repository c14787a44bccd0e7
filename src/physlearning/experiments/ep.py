"""Pillar 1 experiments: a layered Hopfield network trained by Equilibrium Propagation.

``ep_hopfield``: classify digits (scikit-learn 8x8, UCI optdigits, MNIST) with a layered
continuous Hopfield network; rule = EP (one-sided / symmetric / holomorphic) or the
implicit-autodiff reference on the *same* network. The model reported on the test set is
the one chosen on the validation split (or the final one: ``train.select = "final"``).
"""

from __future__ import annotations

import dataclasses
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from physlearning import registry
from physlearning.config import ConfigError, check_memory, param, section, seed_param
from physlearning.core import Seeds, SoftmaxCrossEntropy, SquaredError
from physlearning.core.equilibrium import Equilibrium
from physlearning.rules.ep import ESTIMATORS, EPSection, predict
from physlearning.runs import plots
from physlearning.runs.registry import Experiment
from physlearning.runs.store import RunStore
from physlearning.substrates.hopfield import LayeredHopfield
from physlearning.tasks import datasets
from physlearning.train import OptimizerSpec, Trainer


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Which data set and how it is split."""

    name: str = param(
        "digits",
        choices=("digits", "optdigits", "mnist"),
        doc="digits = scikit-learn 8x8 (built in); optdigits/mnist read data.dir",
    )
    dir: str = param("", path="dir", doc="directory holding the data files (optdigits/mnist)")
    n_test: int = param(2000, ge=1, doc="MNIST with only the 10k split: images held out for test")
    val_frac: float = param(0.1, gt=0, lt=0.5, doc="share of the training set used for validation")
    val_split: str = param("stratified", choices=datasets.VAL_SPLITS, doc=datasets.VAL_SPLIT_DOC)
    check: bool = param(True, doc="verify published SHA-256 checksums")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Layered Hopfield network."""

    hidden: tuple[int, ...] = param((256,), ge=1, doc="hidden layer sizes")
    gain: float = param(1.0, gt=0, doc="initial coupling scale (Glorot uniform x gain)")
    activation: str = param("tanh", choices=("sigmoid", "tanh"), doc="hidden rates rho(u)")
    output: str = param("linear", choices=("sigmoid", "tanh", "linear"), doc="output rates")


@dataclasses.dataclass(frozen=True)
class RuleConfig:
    """Learning rule and relaxation."""

    name: str = param(
        "ep", choices=("ep", "autodiff"), doc="ep = Equilibrium Propagation; autodiff = implicit gradient"
    )
    estimator: str = param("symmetric", choices=ESTIMATORS)
    beta: float = param(0.5, gt=0, doc="nudging strength")
    cost: str = param(
        "cross_entropy",
        choices=("mse", "cross_entropy"),
        doc="C(y, t): squared error, or softmax cross-entropy on the outputs",
    )
    n_points: int = param(4, ge=2, doc="holomorphic EP: points on the circle |beta|")
    method: str = param("fixed_point", choices=("fixed_point", "newton"), doc="equilibrium solver")
    rtol: float = param(1e-5, gt=0)
    atol: float = param(1e-5, gt=0)
    max_steps: int = param(1000, ge=1)
    damping: float = param(1.0, gt=0, le=1)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimiser and schedule."""

    epochs: int = param(30, ge=1)
    batch_size: int = param(32, ge=1)
    optimizer: str = param("adam", choices=("adam", "adamw", "sgd"))
    lr: float = param(2e-3, gt=0)
    schedule: str = param("cosine", choices=("constant", "cosine"))
    weight_decay: float = param(0.0, ge=0, doc="decoupled weight decay (used with optimizer = 'adamw')")
    select: str = param("val", choices=("val", "final"), doc="report the model chosen on validation, or the final one")


@dataclasses.dataclass(frozen=True)
class HopfieldConfig:
    seed: int = seed_param(0, doc="seed of the data split, initial couplings and batch order")
    data: DataConfig = section(DataConfig)
    model: ModelConfig = section(ModelConfig)
    rule: RuleConfig = section(RuleConfig)
    train: TrainConfig = section(TrainConfig)

    def validate(self) -> None:
        if self.train.weight_decay > 0 and self.train.optimizer != "adamw":
            raise ConfigError(
                f"train.weight_decay = {self.train.weight_decay!r}: needs train.optimizer = 'adamw' "
                f"(got {self.train.optimizer!r})"
            )
        if problem := datasets.val_split_problem(self.data.name, self.data.val_split, self.data.val_frac):
            raise ConfigError(problem)
        if self.data.name in ("optdigits", "mnist") and not self.data.dir:
            raise ConfigError(f"data.dir = '': data.name = {self.data.name!r} needs the directory holding its files")
        if self.data.name == "mnist" and not datasets.has_mnist_train(self.data.dir):
            lo, hi = datasets.mnist_n_test_range(val_frac=self.data.val_frac)
            if not lo <= self.data.n_test <= hi:
                raise ConfigError(f"data.n_test = {self.data.n_test}: {datasets.MNIST_N_TEST_WHY}; allowed values are "
                                  f"{lo} to {hi} (at data.val_frac = {self.data.val_frac:g})")
        # memory: couplings (+ gradient, Adam moments, selected copy), per-sample relaxation states (and the
        # dense Jacobian of Newton's method / the implicit gradient's linear solve), the data set
        n_in = 784 if self.data.name == "mnist" else 64
        sizes = (n_in, *self.model.hidden, 10)
        n_par = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
        n_state = sum(sizes[1:])
        width = 8 if self.rule.name == "ep" and self.rule.estimator == "holomorphic" else 4  # complex64 states
        dense = self.rule.method == "newton" or self.rule.name == "autodiff"
        per_sample = width * (16 * n_state + (3 * n_state**2 if dense else 0))
        rows = 70000 if self.data.name == "mnist" and datasets.has_mnist_train(self.data.dir) else 10000
        parts = {"couplings and optimiser state": 24.0 * n_par,
                 "relaxation states of a batch": max(self.train.batch_size, 500) * per_sample,
                 "data set": 12.0 * rows * n_in}
        check_memory(sum(parts.values()), "the network, its relaxations and the data",
                     {"model.hidden": list(self.model.hidden), "train.batch_size": self.train.batch_size,
                      "rule.method": self.rule.method}, parts=parts)


def load_split(cfg: DataConfig, seed: int) -> datasets.Split:
    if cfg.name == "digits":
        return datasets.sklearn_digits(seed=seed, val_frac=cfg.val_frac)
    if cfg.name == "optdigits":
        return datasets.optdigits(cfg.dir, seed=seed, val_frac=cfg.val_frac, check=cfg.check, val_split=cfg.val_split)
    return datasets.mnist(cfg.dir, seed=seed, n_test=cfg.n_test, val_frac=cfg.val_frac, check=cfg.check)


def batched_predict(model, x: np.ndarray, solver: Equilibrium, batch: int = 500) -> np.ndarray:
    """Free-equilibrium outputs in fixed-size chunks (one compile)."""
    fn = eqx.filter_jit(lambda m, xb: predict(m, xb, solver))
    n = len(x)
    out = []
    for i in range(0, n, batch):
        xb = x[i : i + batch]
        pad = batch - len(xb)
        if pad:
            xb = np.concatenate([xb, np.zeros((pad,) + xb.shape[1:], xb.dtype)])
        out.append(np.asarray(fn(model, jnp.asarray(xb)))[: batch - pad])
    return np.concatenate(out)


def build(cfg: HopfieldConfig, n_in: int, n_out: int):
    r = cfg.rule
    solver = Equilibrium(method=r.method, rtol=r.rtol, atol=r.atol, max_steps=r.max_steps, damping=r.damping)
    model = LayeredHopfield(
        (n_in, *cfg.model.hidden, n_out),
        Seeds(cfg.seed).key("model.init"),
        gain=cfg.model.gain,
        activation=cfg.model.activation,
        output=cfg.model.output,
        equilibrium=solver,
    )
    if r.name == "ep":  # through the rule registry, each rule from its own section
        rule = registry.build_rule("ep", EPSection(r.beta, r.estimator, r.n_points), solver=solver)
    else:
        rule = registry.build_rule("implicit_autodiff", solver=solver)
    return model, solver, rule


def run_hopfield(cfg: HopfieldConfig, store: RunStore) -> dict:
    t0 = time.perf_counter()
    split = load_split(cfg.data, Seeds(cfg.seed).int("data.split"))
    n_out = split.n_classes
    model, solver, rule = build(cfg, split.x_train.shape[1], n_out)
    cost = SoftmaxCrossEntropy() if cfg.rule.cost == "cross_entropy" else SquaredError()
    store.log({"event": "data", "message": split.note})

    def evaluate(m, x, y):
        out = batched_predict(m, x, solver)
        t = jnp.asarray(datasets.one_hot(y, n_out))
        return {
            "val_accuracy": float(np.mean(out.argmax(1) == y)),
            "val_loss": float(jnp.mean(jax.vmap(cost)(jnp.asarray(out), t))),
        }

    tc = cfg.train
    trainer = Trainer(
        rule,
        cost,
        OptimizerSpec(tc.optimizer, tc.lr, tc.schedule, weight_decay=tc.weight_decay),
        epochs=tc.epochs,
        batch_size=tc.batch_size,
        seed=cfg.seed,
        evaluate=evaluate,
        store=store,
        select=tc.select,
        desc=f"ep_hopfield[{cfg.rule.name}]",
    )
    res = trainer.fit(model, (split.x_train, datasets.one_hot(split.y_train, n_out)), (split.x_val, split.y_val))
    out = batched_predict(res.model, split.x_test, solver)
    pred = out.argmax(1)
    test_acc = float(np.mean(pred == split.y_test))
    store.save_figure_data("confusion", y_true=split.y_test, y_pred=pred, n_classes=n_out)
    chosen = res.history[res.best_epoch - 1]
    return {
        "test_accuracy": test_acc,
        "val_accuracy": chosen.get("val_accuracy"),
        "selected_epoch": res.best_epoch,
        "final_train_loss": res.history[-1]["train_loss"],
        "max_equilibrium_residual": float(max(r.get("aux_residual", 0.0) for r in res.history)),
        "n_train": len(split.x_train),
        "n_val": len(split.x_val),
        "n_test": len(split.x_test),
        "data": split.note,
        "rule": cfg.rule.name if cfg.rule.name == "autodiff" else f"ep_{cfg.rule.estimator}",
        "train_time_s": res.wall_time_s,
        "compile_time_s": res.compile_time_s,
        "wall_time_s": time.perf_counter() - t0,
    }


EXPERIMENTS = [
    Experiment(
        name="ep_hopfield",
        config_cls=HopfieldConfig,
        run=run_hopfield,
        description="Layered Hopfield network trained by Equilibrium Propagation (or implicit autodiff) on digits",
        headline=("test_accuracy", "val_accuracy", "rule"),
        tour={"model.hidden": [64], "train.epochs": 5, "train.lr": 1e-2},
        preflight=lambda cfg: datasets.require_files(cfg.data.name, cfg.data.dir),
        template=lambda cfg: template(cfg),
        figures=lambda run_dir: figures(run_dir),
    ),
]


N_INPUTS = {"digits": 64, "optdigits": 64, "mnist": 784}


def template(cfg: HopfieldConfig) -> LayeredHopfield:
    """The checkpoint's shape (10 classes; inputs by data set), for ``physlearning.load_run``."""
    return build(cfg, N_INPUTS[cfg.data.name], 10)[0]


def figures(run_dir) -> list[str]:
    """Confusion matrix of the test split and the training curves, from the run folder's data."""
    from physlearning.runs.store import read_summary

    drawn = plots.run_curves(run_dir, f"Hopfield, {read_summary(run_dir).get('rule', '')}")
    if (run_dir / "data" / "confusion.npz").is_file():
        with np.load(run_dir / "data" / "confusion.npz") as z:
            acc = float(np.mean(z["y_true"] == z["y_pred"]))
            drawn.append(plots.confusion_from_labels(z["y_true"], z["y_pred"], int(z["n_classes"]),
                                                     run_dir / "plots" / "confusion.png",
                                                     f"test accuracy {acc:.4f}").name)
    return drawn

