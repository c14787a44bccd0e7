"""Pillar 3: learning with linear wave scattering (Wanjura & Marquardt, arXiv:2308.16181).

Experiments:

* ``scattering_digits``: a layered coupled-mode network (inputs -> hidden -> outputs)
  classifies digits (UCI optdigits from a directory, scikit-learn digits, MNIST), pixels
  encoded as detunings 5 kappa (1 - p/16), output Im S_ll, softmax cross-entropy, trained
  with the measurement rule (or autodiff / finite differences); logistic-regression and
  MLP baselines on the same split.
* ``scattering_robustness``: accuracy vs measurement noise and vs detuning calibration
  error (plus coupling disorder and extra loss). ``sweep.mode = "in_situ"`` (default) trains
  each level with the measurement rule on the nonideal hardware itself; ``"unknown"`` trains
  on the nominal model (an offline digital twin that knows none of the errors) and deploys
  the result on the nonideal hardware; ``"both"`` runs the two side by side. See
  :func:`run_robustness` for what each mode measures.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from physlearning.config import SEED_LIMIT, ConfigError, check_memory, param, round_up, section, seed_param
from physlearning.core import (
    Compose,
    GaussianMeasurementNoise,
    Nonideality,
    Seeds,
    SoftmaxCrossEntropy,
)
from physlearning.rules.perturbative import SPSA, FiniteDifference
from physlearning.rules.scattering_grad import MeasurementRule, ScatteringAutodiff, hardware_outputs
from physlearning.runs import plots
from physlearning.runs.registry import Experiment
from physlearning.runs.store import RunStore
from physlearning.substrates.scattering import (
    READOUTS,
    CouplingDisorder,
    DetuningCalibrationError,
    ExtraLoss,
    Layout,
    ScatteringNetwork,
    check_pixels,
    check_solvable,
    layered_network,
)
from physlearning.tasks import datasets
from physlearning.tasks.augment import make_augment
from physlearning.train import OptimizerSpec, Trainer

RULES = ("measurement", "autodiff", "finite_difference", "spsa")
SWEEP_MODES = ("in_situ", "unknown", "both")
FD_MAX_PARAMS = 5000


@dataclasses.dataclass(frozen=True)
class Data:
    """Data set and split."""

    name: str = param("sklearn_digits", choices=("optdigits", "sklearn_digits", "mnist", "fashion_mnist"),
                      doc="optdigits / mnist / fashion_mnist (IDX files, same names) read data.dir; "
                          "sklearn_digits needs no files")
    dir: str = param("", path="dir", doc="directory with optdigits.tra/.tes (or MNIST IDX files)")
    val_frac: float = param(0.1, ge=0, lt=1, doc="validation share carved from the training rows (0: none, "
                            "train on all of them; needs train.select = 'final')")
    val_split: str = param("stratified", choices=datasets.VAL_SPLITS, doc=datasets.VAL_SPLIT_DOC)
    max_train: int = param(0, ge=0, doc="use at most this many training rows, the first of the training split "
                           "(0: all; optdigits without a stratified split keeps file order, i.e. the first writers)")


@dataclasses.dataclass(frozen=True)
class Network:
    """Layered coupled-mode network; rates and frequencies in units of kappa."""

    hidden: int = param(80, ge=0, doc="hidden modes (0: inputs couple straight to outputs)")
    duplicate: int = param(2, ge=1, doc="input modes per pixel (paper: 2, 128 modes for 64 pixels)")
    kappa: float = param(1.0, gt=0, doc="decay rate of every mode (port decay at outputs, intrinsic elsewhere)")
    input_scale: float = param(5.0, gt=0, doc="detuning of a blank pixel, in kappa (paper: 5)")
    coupling: float = param(2.0, gt=0, doc="initial coupling scale J/kappa (paper: 2)")
    disorder: float = param(0.5, ge=0, doc="relative random spread of the initial couplings")
    detuning_init: float = param(0.1, ge=0, doc="std of the initial trainable detunings, in kappa")
    init: str = param("scaled", choices=("paper", "scaled"),
                      doc="paper: J = coupling (1 + disorder xi); scaled: J = coupling xi / sqrt(fan-in)")
    complex_couplings: bool = param(False, doc="train complex couplings (needs flux-reversed probes)")
    omega: float = param(0.0, doc="probe frequency relative to the bare resonance")
    readout: str = param("im", choices=READOUTS, doc="y_l = Im S_ll, Re S_ll or |S_ll|^2")
    solver: str = param("schur", choices=("schur", "dense"), doc="eliminate the input modes first, or one dense LU")


@dataclasses.dataclass(frozen=True)
class Train:
    """Learning rule and optimiser."""

    rule: str = param("measurement", choices=RULES, doc="gradient source")
    optimizer: str = param("adam", choices=("adam", "adamw", "sgd"))
    lr: float = param(0.01, gt=0)
    weight_decay: float = param(0.0, ge=0, doc="decoupled weight decay (adamw)")
    schedule: str = param("cosine", choices=("constant", "cosine"))
    epochs: int = param(30, ge=1)
    batch_size: int = param(32, ge=1)
    temperature: float = param(0.1, gt=0, doc="softmax temperature on y (y in [-1, 1])")
    augment: str = param("none", choices=("none", "shift", "noise", "dropout"),
                         doc="training-time augmentation (validation/test untouched): random sub-pixel image shifts, "
                             "pixel noise, or pixel dropout")
    max_shift: float = param(1.0, ge=0, le=4, doc="largest shift of the 'shift' augmentation, in pixels")
    ema: float = param(0.0, ge=0, lt=1, doc="Polyak average of the parameters with this decay (0: off)")
    label_smoothing: float = param(0.0, ge=0, lt=1, doc="training targets (1 - eps) one-hot + eps / classes")
    augment_strength: float = param(0.1, ge=0, lt=1, doc="pixel-noise std ('noise') or blank probability ('dropout')")
    select: str = param("val", choices=("val", "val_loss", "final"),
                        doc="report the model with the best validation accuracy, lowest validation loss, or the last")
    fd_step: float = param(1e-3, gt=0, doc="finite-difference / SPSA step")
    spsa_samples: int = param(8, ge=1)

    def validate(self) -> None:
        # outputs y lie in [-1, 1], so softmax(y / T) spans probability ratios up to exp(2 / T): keep that finite in
        # float32 (exp(88.7) is its largest value), else the small class probabilities underflow to 0
        t_min = 2.0 / float(np.log(np.finfo(np.float32).max))
        if self.temperature < t_min:
            raise ConfigError(f"train.temperature = {self.temperature!r}: allowed values are >= {round_up(t_min):g}: "
                              "outputs |y| <= 1 make softmax(y / T) span probability ratios up to exp(2 / T), which "
                              "must stay finite in float32 (exp(2 / T) <= 3.4e38, i.e. T >= 2 / 88.72)")


@dataclasses.dataclass(frozen=True)
class Hardware:
    """Nonidealities of the physical network (all zero: ideal)."""

    measurement_noise: float = param(0.0, ge=0, doc="Gaussian noise std on every measured amplitude (probe = 1)")
    calibration_error: float = param(0.0, ge=0, doc="std of fixed detuning offsets, in kappa")
    coupling_disorder: float = param(0.0, ge=0, doc="relative fabrication disorder of the couplings")
    extra_loss: float = param(0.0, ge=0, doc="extra intrinsic loss on every mode, in kappa")
    seed: int = seed_param(1234, doc="seed of the frozen fabrication/calibration errors")


@dataclasses.dataclass(frozen=True)
class Baselines:
    """Digital baselines on the same split."""

    enabled: bool = param(True)
    mlp_hidden: int = param(150, ge=1, doc="MLP width (150: 11,260 parameters for 64 pixels)")


def _validate_common(data: Data, net: Network, train: Train) -> None:
    if problem := datasets.val_split_problem(data.name, data.val_split, data.val_frac):
        raise ConfigError(problem)
    if data.val_frac == 0 and train.select != "final":
        raise ConfigError(f"data.val_frac = 0 leaves no validation rows, but train.select = {train.select!r} "
                          "chooses the model on them; use train.select = 'final' or data.val_frac > 0")
    if data.name in ("optdigits", "mnist", "fashion_mnist") and not data.dir:
        raise ConfigError(f"data.dir = '': data.name = {data.name!r} reads its files from a directory you give "
                          "(e.g. ../shared/data/optdigits); or use data.name = 'sklearn_digits'")


def check_network_memory(data: Data, network: Network, train: Train) -> None:
    """Refuse a network that would not fit in memory: N x N couplings (built with float64 scales; + gradient,
    Adam moments, average), and per sample of a chunk (>= 256, the prediction chunk) the complex64 solve:
    dense N x N, or the Schur complement over the hidden + output modes with its coupling block to the input
    modes; autodiff keeps them for the backward pass."""
    n_in = (784 if "mnist" in data.name else 64) * network.duplicate
    rest = network.hidden + 10
    modes = n_in + rest
    solve = 24.0 * modes**2 if network.solver == "dense" else 24.0 * rest**2 + 16.0 * rest * n_in
    parts = {"couplings and optimiser state": (64.0 if network.complex_couplings else 48.0) * modes**2,
             "per-sample solves of a chunk": max(train.batch_size, 256) * (solve + 160.0 * modes)
             * (2 if train.rule == "autodiff" else 1),
             "data set": 12.0 * 70000 * 784 if "mnist" in data.name else 12.0 * 5620 * 64}
    check_memory(sum(parts.values()), f"the {modes}-mode network and its solves", {
        "network.hidden": network.hidden, "network.duplicate": network.duplicate,
        "train.batch_size": train.batch_size, "network.solver": network.solver}, parts=parts)


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


# ----- building blocks ------------------------------------------------------------------
def load_split(data: Data, seed: int) -> datasets.Split:
    """Train / validation / test split of the configured data set, pixels checked in [0, 1]."""
    if data.name == "optdigits":
        split = datasets.optdigits(data.dir, seed=seed, val_frac=data.val_frac, val_split=data.val_split)
    elif data.name in ("mnist", "fashion_mnist"):
        # Fashion-MNIST ships under MNIST's file names; MNIST's checksums do not apply to it
        split = datasets.mnist(data.dir, seed=seed, val_frac=data.val_frac, check=data.name == "mnist")
        if data.name == "fashion_mnist":
            split = dataclasses.replace(split, note=split.note.replace("MNIST", "Fashion-MNIST"))
    else:
        split = datasets.sklearn_digits(seed=seed, val_frac=data.val_frac)
    if data.max_train and data.max_train < len(split.x_train):
        m = data.max_train
        split = dataclasses.replace(split, x_train=split.x_train[:m], y_train=split.y_train[:m],
                                    note=split.note + f"; first {data.max_train} training rows used")
    for name in ("x_train", "x_val", "x_test"):
        check_pixels(getattr(split, name))
    return split


def data_split(cfg) -> datasets.Split:
    """The run's split: :func:`load_split` seeded from the root seed's "data.split" stream (what
    ``physlearning.load_run`` users rebuild to score a reloaded model on the run's test set)."""
    return load_split(cfg.data, Seeds(cfg.seed).int("data.split"))


def stream(name: str, repeat: int = 0) -> str:
    """Name of seed stream ``name`` for training repeat ``repeat`` (``sweep.seeds``): the plain name for the
    first, so repeat 0 of every sweep level draws what ``scattering_digits`` draws with the same seeds."""
    return name if repeat == 0 else f"{name}.repeat{repeat}"


def build_network(net: Network, n_pixels: int, n_out: int, key, extra_loss: float = 0.0) -> ScatteringNetwork:
    """The paper's layered network for ``n_pixels`` inputs and ``n_out`` output ports from the
    ``network`` config section."""
    layout = Layout(n_pixels=n_pixels, n_out=n_out, hidden=net.hidden, duplicate=net.duplicate, kappa=net.kappa)
    return layered_network(layout, key, coupling=net.coupling, disorder=net.disorder, init=net.init,
                           complex_couplings=net.complex_couplings, omega=net.omega, input_scale=net.input_scale,
                           readout=net.readout, solver=net.solver, detuning_init=net.detuning_init)


def build_nonideality(hw: Hardware) -> Nonideality | None:
    """The hardware's nonidealities (coupling disorder, calibration error, extra loss,
    measurement noise) composed in that order; ``None`` when all are zero."""
    parts: list[Nonideality] = []
    if hw.coupling_disorder:
        parts.append(CouplingDisorder(hw.coupling_disorder))
    if hw.calibration_error:
        parts.append(DetuningCalibrationError(hw.calibration_error))
    if hw.extra_loss:
        parts.append(ExtraLoss(hw.extra_loss))
    if hw.measurement_noise:
        parts.append(GaussianMeasurementNoise(hw.measurement_noise))
    return Compose(tuple(parts)) if parts else None


class FrozenDisorder(Nonideality):
    """``inner`` with its fabrication / calibration errors (``params``) drawn from the fixed ``key`` whatever
    key a caller passes: one device for training, validation and test. Per-call noise (``state``,
    ``measure``) draws from the caller's key."""

    inner: Nonideality
    key: jax.Array

    def params(self, substrate, key):
        return self.inner.params(substrate, self.key)

    def state(self, state, key):
        return self.inner.state(state, key)

    def measure(self, value, key):
        return self.inner.measure(value, key)


def hardware_nonideality(hw: Hardware, repeat: int = 0) -> Nonideality | None:
    """:func:`build_nonideality` realised once, its errors frozen by ``Seeds(hw.seed).key("hardware.disorder")``
    (training repeat ``repeat`` of a sweep: that stream's own repeat); ``None`` when ideal."""
    parts = build_nonideality(hw)
    return None if parts is None else FrozenDisorder(parts, Seeds(hw.seed).key(stream("hardware.disorder", repeat)))


def make_rule(train: Train, nonideal: Nonideality | None):
    """The learning rule named by ``train.rule``, acting on the (possibly nonideal) hardware (its frozen
    errors are in ``nonideal``: :func:`hardware_nonideality`)."""
    if train.rule == "measurement":
        return MeasurementRule(nonideal)
    if train.rule == "autodiff":
        return ScatteringAutodiff(nonideal)
    if train.rule == "finite_difference":
        return FiniteDifference(train.fd_step, True, nonideal)
    return SPSA(train.fd_step, train.spsa_samples, nonideal)


def make_predict(nonideal: Nonideality | None, chunk: int = 256):
    """Jitted hardware outputs over fixed-size chunks (padded, so one compile); ``predict(model, x, key)``
    draws the measurement noise of chunk i from ``fold_in(key, i)``."""

    @jax.jit
    def outputs(model, x, key):
        return hardware_outputs(model, x, nonideal, 0, key)  # the frozen errors come with ``nonideal``

    def predict(model, x: np.ndarray, key: jax.Array) -> np.ndarray:
        n = len(x)
        pad = (-n) % chunk
        xp = np.concatenate([x, np.repeat(x[:1], pad, 0)]) if pad else x
        ys = [np.asarray(outputs(model, jnp.asarray(xp[i:i + chunk]), jax.random.fold_in(key, i)))
              for i in range(0, len(xp), chunk)]
        return np.concatenate(ys)[:n]

    return predict


def metrics(y: np.ndarray, labels: np.ndarray, cost: SoftmaxCrossEntropy, prefix: str) -> dict[str, float]:
    """Accuracy and mean cross-entropy of outputs ``y`` (n, classes) under the softmax at the
    cost's temperature, keyed ``{prefix}_accuracy`` / ``{prefix}_loss``."""
    logp = jax.nn.log_softmax(jnp.asarray(y) / cost.temperature)
    loss = -float(jnp.mean(logp[np.arange(len(labels)), labels]))
    return {f"{prefix}_accuracy": float(np.mean(np.argmax(y, 1) == labels)), f"{prefix}_loss": loss}


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


def train_network(cfg, split: datasets.Split, store: RunStore | None, nonideal: Nonideality | None,
                  progress: bool = True, desc: str = "scattering", repeat: int = 0):
    """Build and train one network (training repeat ``repeat``: its own streams for the initial network,
    batches and validation noise); returns (TrainResult, predict, cost, net0)."""
    seeds = Seeds(cfg.seed)
    net0 = build_network(cfg.network, split.x_train.shape[1], split.n_classes, seeds.key(stream("model.init", repeat)))
    check_solvable(net0, split.x_train[:4])
    cost = SoftmaxCrossEntropy(temperature=cfg.train.temperature)
    predict = make_predict(nonideal)
    opt = OptimizerSpec(cfg.train.optimizer, cfg.train.lr, cfg.train.schedule, weight_decay=cfg.train.weight_decay)
    val_key = seeds.key(stream("eval.val", repeat))

    def evaluate(model, x, y):
        return metrics(predict(model, x, val_key), y, cost, "val")

    trainer = Trainer(make_rule(cfg.train, nonideal), cost, opt, cfg.train.epochs, cfg.train.batch_size,
                      seed=cfg.seed, name=stream("scattering", repeat), evaluate=evaluate, store=store,
                      select="final" if cfg.train.select == "final" else "val",
                      select_metric="val_loss" if cfg.train.select == "val_loss" else "val_accuracy",
                      minimize=cfg.train.select == "val_loss", progress=progress, desc=desc,
                      augment=make_augment(cfg.train.augment, split.image_shape, cfg.train.max_shift,
                                           cfg.train.augment_strength), ema=cfg.train.ema,
                      label_smoothing=cfg.train.label_smoothing)
    cpu0 = time.process_time()
    res = trainer.fit(net0, (split.x_train, datasets.one_hot(split.y_train, split.n_classes)),
                      (split.x_val, split.y_val) if len(split.y_val) else None)
    res.cpu_time_s = time.process_time() - cpu0  # type: ignore[attr-defined]
    return res, predict, cost, net0


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


# ----- robustness sweep -------------------------------------------------------------------
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


def _require_data(cfg) -> None:
    datasets.require_files(cfg.data.name, cfg.data.dir)


N_PIXELS = {"optdigits": 64, "sklearn_digits": 64, "mnist": 784, "fashion_mnist": 784}


def template(cfg) -> ScatteringNetwork:
    """The checkpoint's shape (10 classes; pixels by data set), for ``physlearning.load_run``: numpy leaves
    (built in float64) as jax arrays, as the trained network holds and checkpoints them."""
    net = build_network(cfg.network, N_PIXELS[cfg.data.name], 10, Seeds(cfg.seed).key("model.init"))
    return jax.tree_util.tree_map(lambda a: jnp.asarray(a) if isinstance(a, np.ndarray) else a, net)



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


def figures_robustness(run_dir) -> list[str]:
    """Test accuracy vs each nonideality level (mean +- std over repeats; in situ and, when run, with the error
    unknown to the rule), from data/robustness.npz."""
    path = Path(run_dir) / "data" / "robustness.npz"
    if not path.is_file():
        return []
    with np.load(path) as z:
        table = {kind: [tuple(row) for row in z[kind]] for kind in z.files}
    return [_plot_sweep(table, Path(run_dir) / "plots" / "scattering_robustness.png").name]


EXPERIMENTS = [
    Experiment(
        "scattering_digits", DigitsConfig, run_digits,
        "Linear wave scattering network classifies digits, trained from scattering measurements",
        headline=("test_accuracy", "n_params", "epoch_time_s", "logistic_test_accuracy", "mlp_test_accuracy"),
        tour={"network.hidden": 20, "train.epochs": 4, "baselines.enabled": False},
        preflight=_require_data,
        template=template,
        figures=figures_digits,
    ),
    Experiment(
        "scattering_robustness", RobustnessConfig, run_robustness,
        "Scattering network accuracy vs measurement noise and detuning calibration error",
        headline=("test_accuracy", "worst_test_accuracy_measurement_noise", "worst_test_accuracy_calibration_error",
                  "worst_test_accuracy_unknown_calibration_error", "worst_test_accuracy_unknown_coupling_disorder"),
        tour=None,
        preflight=_require_data,
        template=template,
        figures=figures_robustness,
    ),

]


