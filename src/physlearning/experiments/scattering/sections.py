"""Config sections shared by the scattering experiments (data, network, training, hardware), declared once,
their checks (the shared validation, the memory estimate :func:`check_network_memory`), and what is built from
them: the split, the layered network, the hardware's frozen nonidealities, the learning rule, the chunked
hardware outputs, the metrics, the Trainer call (:func:`train_network`) and the checkpoint template."""

from __future__ import annotations

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np

from physlearning import registry
from physlearning.config import ConfigError, check_memory, param, round_up, seed_param
from physlearning.core import (
    Compose,
    GaussianMeasurementNoise,
    Nonideality,
    Seeds,
    SoftmaxCrossEntropy,
)
from physlearning.rules.perturbative import FiniteDifferenceSection, SPSASection
from physlearning.rules.scattering_grad import MeasurementSection, ScatteringAutodiff, hardware_outputs
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
    if train.rule == "autodiff":  # the scattering twin: autodiff through the linear solve, with the same errors
        return ScatteringAutodiff(nonideal)
    sections = {"measurement": MeasurementSection(), "finite_difference": FiniteDifferenceSection(train.fd_step, True),
                "spsa": SPSASection(train.fd_step, train.spsa_samples)}
    return registry.build_rule(train.rule, sections[train.rule], nonideality=nonideal)


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


def _require_data(cfg) -> None:
    datasets.require_files(cfg.data.name, cfg.data.dir)


N_PIXELS = {"optdigits": 64, "sklearn_digits": 64, "mnist": 784, "fashion_mnist": 784}


def template(cfg) -> ScatteringNetwork:
    """The checkpoint's shape (10 classes; pixels by data set), for ``physlearning.load_run``: numpy leaves
    (built in float64) as jax arrays, as the trained network holds and checkpoints them."""
    net = build_network(cfg.network, N_PIXELS[cfg.data.name], 10, Seeds(cfg.seed).key("model.init"))
    return jax.tree_util.tree_map(lambda a: jnp.asarray(a) if isinstance(a, np.ndarray) else a, net)
