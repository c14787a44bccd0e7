"""``heb_digits``: scikit-learn digits on a Kerr-cavity lattice trained by Hamiltonian Echo Backpropagation
(issue #23), with the same wave network trained by BPTT as the reference.

Reference: V. Lopez-Pastor and F. Marquardt, PRX 13, 031020 (2023) (HEB; the learning field Theta is the
only trainable degree of freedom). Substrate: :class:`~physlearning.substrates.wave_lattice.KerrLattice`,
rule :class:`~physlearning.rules.echo.HamiltonianEcho` (centred echo, exact gradient in ``theta0`` to
O(eta^2)) or :class:`~physlearning.rules.autodiff.Autodiff` (BPTT through the same split-step map).

Set-up (units: hbar = 1, J, g, kappa angular frequencies, T their inverse; fields photon amplitudes):

* an L x L Kerr lattice (open boundaries) with ``n_ports = 64 + 10`` signal modes: the 8 x 8 image
  block of sites (rows and columns 0..7) carries one *input port* per pixel, 10 *output ports* sit on
  sites outside the block (evenly spaced along the row-major list of those sites, :func:`port_sites`);
* input written into the wave: pixel p in [0, 1] (sklearn counts / 16) becomes the initial amplitude
  ``psi_in = a (p - p0)`` of its input port (``data.input_scale`` a, ``data.input_offset`` p0), the
  output ports start empty, Theta starts at the trainable ``theta0``; one sample period T of the
  Strang-split dynamics (``KerrLattice.predict`` with a single drive sample);
* readout: the 10 output signal modes after T, logits ``z_k = |psi_k|^2 / tau`` (``intensity``) or
  ``Re psi_k / tau`` (``real``); cost the softmax cross-entropy ``C = -sum_k t_k log softmax(z)_k``
  (real on complex outputs; the echo injects its Wirtinger derivative ``dC/dpsi*``). No digital
  trainable readout: theta0 (L^2 complex numbers) is the only parameter;
* theta0 initialised ``s (n1 + i n2) / sqrt 2`` with standard normals per site (``init.theta_scale`` s,
  seed stream ``model.theta0``); at g = 0 the input-to-output map would not depend on theta0 (theta0
  only adds an output offset), so the learning acts through the Kerr term (the background field sets
  effective detunings g |Theta|^2 and a parametric pump for the signal).

Data: scikit-learn's digits (default, built in) or, with ``data.name = "optdigits"`` and ``data.dir``,
the UCI optdigits files (train / validation carved from the 3,823-row training file, stratified or by
writer block; the 1,797-row test file, the same images as scikit-learn's, as test).

Protocol: a fixed train / validation / test split (``data.split_seed``, the same for every
training seed), settings chosen on validation accuracy only, ``n_seeds`` machines (seeds ``seed + k``:
theta0 draw and batch order), the final-epoch model of each evaluated once on the test split; the
summary holds per-seed figures, mean and standard deviation, and the training wall time per machine.

Defaults (= ``examples/heb_digits.toml``, chosen on validation): L = 12, J = 1, g = -0.3, kappa = 1,
T = 15 in 75 split steps, a = 1, p0 = 0.5, tau = 0.3, s = 0.5, Adam lr 0.05 (cosine), batch 16, 15 epochs.
Softer Kerr (|g| |Theta|^2 T of a few radians) matters: at g = -1, s = 1, T = 8 the outputs scramble the
input (a digital probe of the untrained outputs drops from 82% at g = 0 to 49% validation accuracy).
Echo vs BPTT at this set-up: relative error ~4e-9 in float64, ~2e-2 in float32 (``echo_rel_error*``).
Cost per sample and update: 3 evolutions (HEB) of 75 steps on 144 + 74 modes.

Nonidealities: :func:`run_heb_digits` takes ``build(cfg, theta0) -> substrate``; the default
:func:`build_lattice` gives the ideal lattice, a wrapper may return e.g. a ``Hardware`` around it.
"""

from __future__ import annotations

import dataclasses
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from physlearning.config import ConfigError, param, section, seed_param
from physlearning.core import Cost, Hardware, Seeds
from physlearning.rules.autodiff import Autodiff
from physlearning.rules.echo import HamiltonianEcho
from physlearning.runs.registry import Experiment
from physlearning.substrates.wave_faults import WaveFaults
from physlearning.substrates.wave_lattice import KerrLattice
from physlearning.tasks import datasets
from physlearning.train import Trainer
from physlearning.train.complex_optim import complex_optimizer
from physlearning.train.optim import OptimizerSpec

IMAGE = (8, 8)
N_PIXELS = IMAGE[0] * IMAGE[1]
N_CLASSES = 10


# ------------------------------------------------------------------------------------------ config
@dataclasses.dataclass(frozen=True)
class Lattice:
    """Kerr lattice (units: hbar = 1, coefficients angular frequencies, time their inverse)."""

    L: int = param(12, ge=9, le=32, doc="sites per side (>= 9: the 8x8 image block plus output sites)")
    J: float = param(1.0, gt=-1e4, lt=1e4, doc="hopping")
    g: float = param(-0.3, gt=-1e4, lt=1e4, doc="Kerr coefficient")
    kappa: float = param(1.0, gt=-1e4, lt=1e4, doc="port coupling")
    T: float = param(15.0, gt=0, le=1e4, doc="sample period (forward time)")
    n_steps: int = param(75, ge=1, le=100_000, doc="split steps per sample period (dt = T / n_steps)")
    x64: bool = param(True, doc="simulate in float64 (the echo needs it; float32 error reported in the summary)")


@dataclasses.dataclass(frozen=True)
class Data:
    """sklearn digits (stratified train/val/test) or UCI optdigits (train/val carved from its training
    file, its test file as test), split with a fixed seed; pixel amplitude a (p - p0)."""

    name: str = param("sklearn_digits", choices=("sklearn_digits", "optdigits"),
                      doc="sklearn_digits (built in, 1,797 images) or optdigits (3,823 train / 1,797 test, data.dir)")
    dir: str = param("", path="dir", doc="directory holding optdigits.tra/.tes (data.name = optdigits)")
    val_split: str = param("stratified", choices=datasets.VAL_SPLITS, doc=datasets.VAL_SPLIT_DOC)
    split_seed: int = seed_param(0, doc="seed of the train/val/test split (fixed across training seeds)")
    test_frac: float = param(0.2, gt=0, lt=0.5, doc="sklearn_digits only (optdigits has its own test file)")
    val_frac: float = param(0.15, gt=0, lt=0.5)
    n_train: int = param(0, ge=0, doc="use the first n_train training images (0: all)")
    input_scale: float = param(1.0, gt=0, le=100, doc="input amplitude a per unit pixel value")
    input_offset: float = param(0.5, ge=0, le=1, doc="pixel value p0 mapped to zero amplitude")


@dataclasses.dataclass(frozen=True)
class Readout:
    kind: str = param("intensity", choices=("intensity", "real"), doc="logit |psi_k|^2 / tau or Re psi_k / tau")
    temperature: float = param(0.3, gt=0, le=1e4, doc="softmax temperature tau")


@dataclasses.dataclass(frozen=True)
class Init:
    theta_scale: float = param(0.5, ge=0, le=100, doc="theta0 = s (n1 + i n2) / sqrt 2 per site")


@dataclasses.dataclass(frozen=True)
class Rule:
    kind: str = param("heb", choices=("heb", "bptt"), doc="centred Hamiltonian echo or BPTT (autodiff)")
    eta: float = param(1e-4, gt=0, le=1.0, doc="error-injection strength of the echo")
    centred: bool = param(True, doc="two echoes (+eta, -eta): error O(eta^2)")


@dataclasses.dataclass(frozen=True)
class Train:
    epochs: int = param(15, ge=1, le=100_000)
    batch_size: int = param(16, ge=1, le=100_000)
    optimizer: str = param("adam", choices=("adam", "sgd"))
    lr: float = param(0.05, gt=0, le=1e3)
    schedule: str = param("cosine", choices=("constant", "cosine"))
    train_imag: bool = param(True, doc="also descend along Im theta0")
    n_seeds: int = param(1, ge=1, le=100, doc="machines trained, seeds seed .. seed + n_seeds - 1")


@dataclasses.dataclass(frozen=True)
class Faults:
    """Hardware faults (:mod:`physlearning.substrates.wave_faults`; all 0: the ideal lattice). With any
    fault on, every machine is a ``Hardware`` realised from its own key, trained in situ (the echo runs on
    the faulty device) and evaluated on it."""

    detuning_std: float = param(0.0, ge=0, le=10, doc="onsite detuning disorder std (angular frequency)")
    reversal_noise: float = param(0.0, ge=0, le=10, doc="noise std per mode at each time reversal")
    conj_phase_std: float = param(0.0, ge=0, le=10, doc="conjugation phase error std (rad)")
    conj_amp_std: float = param(0.0, ge=0, le=10, doc="conjugation amplitude error std (relative)")
    loss_rate: float = param(0.0, ge=0, le=10, doc="intensity loss rate (1 / time), re-amplified")
    decay_std: float = param(0.0, ge=0, le=10, doc="per-site gain error of the written update (relative)")


@dataclasses.dataclass(frozen=True)
class HebDigitsConfig:
    seed: int = seed_param()
    lattice: Lattice = section(Lattice)
    data: Data = section(Data)
    readout: Readout = section(Readout)
    init: Init = section(Init)
    rule: Rule = section(Rule)
    train: Train = section(Train)
    faults: Faults = section(Faults)

    def validate(self) -> None:
        for name in ("J", "g", "kappa"):
            v = getattr(self.lattice, name)
            if not np.isfinite(v):
                raise ConfigError(f"lattice.{name} = {v!r}: must be finite")
        if problem := datasets.val_split_problem(self.data.name, self.data.val_split, self.data.val_frac):
            raise ConfigError(problem)
        if self.data.name == "optdigits" and not self.data.dir:
            raise ConfigError("data.dir = '': data.name = 'optdigits' needs the directory holding optdigits.tra/.tes")
        if self.data.name == "sklearn_digits" and self.data.test_frac + self.data.val_frac >= 0.8:
            raise ConfigError(f"data.test_frac + data.val_frac = {self.data.test_frac + self.data.val_frac}: "
                              "allowed < 0.8 (leave training data)")


# ------------------------------------------------------------------------------------------ set-up
def port_sites(L: int, image: tuple[int, int] = IMAGE,
               n_out: int = N_CLASSES) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(input_sites, output_sites)``, flat row-major indices on the L x L lattice: the image block
    (rows 0..h-1, columns 0..w-1) pixel by pixel, and ``n_out`` sites evenly spaced along the
    row-major list of sites outside the block."""
    h, w = image
    if L < max(h, w) or L * L - h * w < n_out:
        raise ValueError(f"L={L!r}: an {h}x{w} image block plus {n_out} output sites needs L >= {max(h, w)} and "
                         f"L^2 - {h * w} >= {n_out}")
    idx = np.arange(L * L).reshape(L, L)
    inputs = tuple(int(i) for i in idx[:h, :w].ravel())
    mask = np.ones((L, L), bool)
    mask[:h, :w] = False
    free = idx[mask]
    pick = np.round(np.linspace(0, len(free) - 1, n_out)).astype(int)
    return inputs, tuple(int(free[i]) for i in pick)


def initial_theta(cfg: HebDigitsConfig, seed: int) -> np.ndarray:
    L = cfg.lattice.L
    r = Seeds(seed).rng("model.theta0").normal(size=(2, L, L))
    return cfg.init.theta_scale * (r[0] + 1j * r[1]) / np.sqrt(2)


def build_lattice(cfg: HebDigitsConfig, theta0=None) -> KerrLattice:
    """The ideal wave network of the config (the default ``build`` of :func:`run_heb_digits`)."""
    lc = cfg.lattice
    inputs, outputs = port_sites(lc.L)
    return KerrLattice(lc.L, 2, J=lc.J, g=lc.g, kappa=lc.kappa, dt=lc.T / lc.n_steps, n_steps=lc.n_steps,
                       ports=inputs + outputs, theta0=initial_theta(cfg, cfg.seed) if theta0 is None else theta0)


def encode(images, cfg: HebDigitsConfig) -> np.ndarray:
    """Drive series ``(N, 1, 74)`` complex: ``a (p - p0)`` on the 64 input ports, 0 on the 10 output ports.
    ``images`` (N, 64) pixel values in [0, 1] (sklearn counts / 16)."""
    x = np.asarray(images, dtype=float)
    if x.ndim != 2 or x.shape[1] != N_PIXELS:
        raise ValueError(f"images have shape {x.shape}: must be (N, {N_PIXELS}), one {IMAGE[0]}x{IMAGE[1]} image per "
                         f"row, to fit the {N_PIXELS} input sites")
    if x.size and (not np.all(np.isfinite(x)) or x.min() < 0 or x.max() > 1):
        raise ValueError(f"image pixel values span [{np.nanmin(x):.4g}, {np.nanmax(x):.4g}]: allowed values are "
                         "finite in [0, 1] (sklearn counts / 16)")
    ctype = (jnp.zeros(()) * 1j).dtype
    out = np.zeros((len(x), 1, N_PIXELS + N_CLASSES), ctype)
    out[:, 0, :N_PIXELS] = cfg.data.input_scale * (x - cfg.data.input_offset)
    return out


def one_hot(y: np.ndarray) -> np.ndarray:
    return np.eye(N_CLASSES, dtype=jnp.zeros(()).dtype)[np.asarray(y)]


class WaveSoftmaxCost(Cost):
    """Softmax cross-entropy of the output signal modes (the last 10 ports), logits
    ``|psi_k|^2 / tau`` or ``Re psi_k / tau``; ``y`` (..., 74) complex, ``target`` one-hot (10,)."""

    temperature: float = 1.0
    kind: str = eqx.field(static=True, default="intensity")

    def logits(self, y):
        out = y[..., -N_CLASSES:]
        z = out.real**2 + out.imag**2 if self.kind == "intensity" else out.real
        return z / self.temperature

    def __call__(self, y, target):
        z = self.logits(y).reshape(-1, N_CLASSES)
        return -jnp.sum(target.reshape(-1, N_CLASSES) * jax.nn.log_softmax(z, axis=-1))


def make_cost(cfg: HebDigitsConfig) -> WaveSoftmaxCost:
    return WaveSoftmaxCost(temperature=cfg.readout.temperature, kind=cfg.readout.kind)


def make_rule(cfg: HebDigitsConfig):
    if cfg.rule.kind == "heb":
        return HamiltonianEcho(eta=cfg.rule.eta, centred=cfg.rule.centred)
    return Autodiff(noisy=False)


@eqx.filter_jit
def _logits(model, cost: WaveSoftmaxCost, x):
    return cost.logits(model.predict(x)[:, 0])


def predict_logits(model, cost: WaveSoftmaxCost, x: np.ndarray, chunk: int = 256) -> np.ndarray:
    """Logits (N, 10) of encoded inputs ``x`` (N, 1, 74), in chunks (last one padded to one shape)."""
    out = []
    for i in range(0, len(x), chunk):
        xb = x[i:i + chunk]
        pad = chunk - len(xb)
        if pad:
            xb = np.concatenate([xb, np.zeros((pad,) + xb.shape[1:], xb.dtype)])
        out.append(np.asarray(_logits(model, cost, jnp.asarray(xb)))[: chunk - pad])
    return np.concatenate(out) if out else np.zeros((0, N_CLASSES))


def accuracy(model, cost, x, y) -> float:
    return float(np.mean(np.argmax(predict_logits(model, cost, x), axis=1) == np.asarray(y)))


def load_split(cfg: HebDigitsConfig) -> datasets.Split:
    d = cfg.data
    if d.name == "optdigits":
        sp = datasets.optdigits(d.dir, seed=d.split_seed, val_frac=d.val_frac, val_split=d.val_split)
    else:
        sp = datasets.sklearn_digits(seed=d.split_seed, test_frac=d.test_frac, val_frac=d.val_frac)
    if d.n_train:
        if d.n_train > len(sp.x_train):
            raise ConfigError(f"data.n_train = {d.n_train}: the split has {len(sp.x_train)} training images; "
                              f"allowed 0 (all) to {len(sp.x_train)}")
        sp = dataclasses.replace(sp, x_train=sp.x_train[:d.n_train], y_train=sp.y_train[:d.n_train])
    return sp


def echo_check(model, cost, x, y, eta: float) -> dict:
    """Relative error and cosine of the centred echo's batch gradient against BPTT (``Autodiff``) on
    ``(x, y)``, in the model's precision: ``|g_echo - g_bptt| / |g_bptt|`` over Re and Im of theta0."""
    batch = (jnp.asarray(x), jnp.asarray(y))
    ge, _ = eqx.filter_jit(HamiltonianEcho(eta=eta).estimate)(model, batch, cost, None)
    gb, _ = eqx.filter_jit(Autodiff(noisy=False).estimate)(model, batch, cost, None)
    a, b = np.asarray(ge.theta0).ravel(), np.asarray(gb.theta0).ravel()
    ar, br = np.concatenate([a.real, a.imag]), np.concatenate([b.real, b.imag])
    return {"rel_error": float(np.linalg.norm(ar - br) / np.linalg.norm(br)),
            "cosine": float(ar @ br / (np.linalg.norm(ar) * np.linalg.norm(br))),
            "grad_norm": float(np.linalg.norm(br))}


def template(cfg: HebDigitsConfig) -> KerrLattice:
    """The checkpoint's shape (the machine of the last seed; every theta0 is in ``data/theta0.npz``)."""
    return build_lattice(cfg)


# ------------------------------------------------------------------------------------------ run
Build = Callable[[HebDigitsConfig, np.ndarray], object]


def run_heb_digits(cfg: HebDigitsConfig, store, *, build: Build | None = None) -> dict:
    """Train ``train.n_seeds`` machines with the chosen rule; ``build(cfg, theta0)`` makes the
    substrate (default :func:`build_lattice`; a nonideality model may wrap it)."""
    with jax.enable_x64(bool(cfg.lattice.x64)):
        return _run(cfg, store, build or build_machine)


def build_machine(cfg: HebDigitsConfig, theta0) -> object:
    """The lattice, or, with any ``faults`` on, ``Hardware(lattice, WaveFaults(...), key)`` with a key named
    after the machine's theta0 draw (one device per seed)."""
    lat = build_lattice(cfg, theta0)
    levels = dataclasses.asdict(cfg.faults)
    if not any(levels.values()):
        return lat
    key = Seeds(cfg.seed).key(f"hardware.{zlib.crc32(np.asarray(theta0).tobytes())}")  # deterministic per draw
    return Hardware(lat, WaveFaults(**levels), key)


def _echo_float32(cfg: HebDigitsConfig, theta0, images, labels) -> float:
    """Echo-vs-BPTT relative error of the same machine simulated in float32."""
    with jax.enable_x64(False):
        lat = build_lattice(cfg, theta0.astype(np.complex64))
        return echo_check(lat, make_cost(cfg), encode(images, cfg), one_hot(labels), cfg.rule.eta)["rel_error"]


def _run(cfg: HebDigitsConfig, store, build: Build) -> dict:
    t_start = time.perf_counter()
    sp = load_split(cfg)
    xtr, xva, xte = (encode(a, cfg) for a in (sp.x_train, sp.x_val, sp.x_test))
    ttr = one_hot(sp.y_train)
    cost, rule, tc = make_cost(cfg), make_rule(cfg), cfg.train
    spec = OptimizerSpec(tc.optimizer, tc.lr, tc.schedule, momentum=0.0)
    steps = len(xtr) // tc.batch_size
    if steps < 1:
        raise ConfigError(f"train.batch_size = {tc.batch_size}: larger than the {len(xtr)} training images")
    opt = complex_optimizer(spec, tc.epochs * steps, train_imag=tc.train_imag)

    def evaluate(model, x, y):
        return {"val_accuracy": accuracy(model, cost, x, y)}

    per_seed: dict[str, list] = {k: [] for k in ("test_accuracy", "val_accuracy", "train_accuracy", "train_time_s",
                                                 "compile_time_s", "initial_val_accuracy", "final_train_loss")}
    echo_info, histories, thetas, confusion = {}, [], [], np.zeros((N_CLASSES, N_CLASSES), int)
    model = None
    for k in range(tc.n_seeds):
        seed = cfg.seed + k
        model = build(cfg, initial_theta(cfg, seed))
        if k == 0:  # the echo against BPTT at this set-up, before training (8 training images)
            echo_info = echo_check(model, cost, xtr[:8], ttr[:8], cfg.rule.eta)
            echo_info["rel_error_float32"] = _echo_float32(cfg, np.asarray(model.design().theta0),
                                                           sp.x_train[:8], sp.y_train[:8])
        per_seed["initial_val_accuracy"].append(accuracy(model, cost, xva, sp.y_val))
        trainer = Trainer(rule, cost, opt, tc.epochs, batch_size=tc.batch_size, seed=seed, evaluate=evaluate,
                          store=store, select="final", progress=False, desc=f"heb_digits[{cfg.rule.kind},{seed}]",
                          loss_explosion=None)
        res = trainer.fit(model, (xtr, ttr), (xva, sp.y_val))
        model = res.model
        if k == 0:  # and at the trained machine
            echo_info["rel_error_trained"] = echo_check(model, cost, xtr[:8], ttr[:8], cfg.rule.eta)["rel_error"]
        pred = np.argmax(predict_logits(model, cost, xte), axis=1)
        per_seed["test_accuracy"].append(float(np.mean(pred == sp.y_test)))  # evaluated once, final epoch
        per_seed["val_accuracy"].append(res.history[-1]["val_accuracy"])
        per_seed["train_accuracy"].append(accuracy(model, cost, xtr, sp.y_train))
        per_seed["train_time_s"].append(res.wall_time_s)
        per_seed["compile_time_s"].append(res.compile_time_s)
        per_seed["final_train_loss"].append(res.history[-1]["train_loss"])
        np.add.at(confusion, (sp.y_test, pred), 1)
        histories.append([[h["train_loss"], h["val_accuracy"]] for h in res.history])
        thetas.append(np.asarray(model.design().theta0))
        if store is not None:
            store.log({"event": "seed", "seed": seed, "test_accuracy": per_seed["test_accuracy"][-1],
                       "message": f"{cfg.rule.kind} seed {seed}: val {per_seed['val_accuracy'][-1]:.4f}, "
                                  f"train {res.wall_time_s:.1f} s"})

    if store is not None:
        store.save_checkpoint(model)
        hist = np.asarray(histories)
        store.save_figure_data("training", train_loss=hist[..., 0], val_accuracy=hist[..., 1],
                               seeds=np.arange(cfg.seed, cfg.seed + tc.n_seeds))
        store.save_figure_data("confusion", confusion=confusion)
        store.save_array("data/theta0.npz", theta0=np.asarray(thetas))
        figures(store.path)
    summary: dict = {"rule": cfg.rule.kind, "n_seeds": tc.n_seeds, "n_train": len(xtr), "n_val": len(xva),
                     "n_test": len(xte), "n_params_real": 2 * cfg.lattice.L**2,
                     "echo_rel_error": echo_info["rel_error"], "echo_cosine": echo_info["cosine"],
                     "echo_rel_error_float32": echo_info["rel_error_float32"],
                     "echo_rel_error_trained": echo_info["rel_error_trained"]}
    for key, vals in per_seed.items():
        summary[key] = float(np.mean(vals))
        summary[f"{key}_std"] = float(np.std(vals))
        summary[f"{key}_per_seed"] = [float(v) for v in vals]
    summary["evolutions_per_sample"] = 3.0 if cfg.rule.kind == "heb" else None
    summary["wall_time_s"] = time.perf_counter() - t_start
    return {k: v for k, v in summary.items() if v is not None}


def figures(run_dir) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    names = []
    with np.load(run_dir / "data" / "training.npz") as z:
        loss, val, seeds = z["train_loss"], z["val_accuracy"], z["seeds"]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9.6, 3.8))
    ep = np.arange(1, loss.shape[1] + 1)
    for k, s in enumerate(seeds):
        a1.plot(ep, loss[k], lw=1, label=f"seed {s}")
        a2.plot(ep, 100 * val[k], lw=1)
    a1.set_xlabel("epoch")
    a1.set_ylabel("train cross-entropy (nats per image)")
    a1.legend(fontsize=7)
    a2.set_xlabel("epoch")
    a2.set_ylabel("validation accuracy (%)")
    fig.suptitle("heb_digits: Kerr lattice, one curve per seed")
    fig.tight_layout()
    fig.savefig(run_dir / "training.png", dpi=120)
    plt.close(fig)
    names.append("training.png")
    with np.load(run_dir / "data" / "confusion.npz") as z:
        conf = z["confusion"]
    fig, ax = plt.subplots(figsize=(4.6, 4.0))
    im = ax.imshow(conf, cmap="Blues")
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    ax.set_xticks(range(N_CLASSES))
    ax.set_yticks(range(N_CLASSES))
    ax.set_title("test confusion (all seeds, counts)")
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    fig.savefig(run_dir / "confusion.png", dpi=120)
    plt.close(fig)
    names.append("confusion.png")
    return names


EXPERIMENTS = [
    Experiment(
        name="heb_digits",
        config_cls=HebDigitsConfig,
        run=run_heb_digits,
        description="sklearn digits or UCI optdigits written into a Kerr-cavity lattice, trained by Hamiltonian echo "
                    "backpropagation or BPTT (Lopez-Pastor & Marquardt 2023)",
        headline=("test_accuracy", "test_accuracy_std", "train_time_s"),
        preflight=lambda cfg: datasets.require_files(cfg.data.name, cfg.data.dir),
        template=template,
        figures=figures,
    ),
]
