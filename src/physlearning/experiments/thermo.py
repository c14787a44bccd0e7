"""Pillar 5b: generative thermodynamic computing (Whitelam, arXiv:2506.15121).

A Langevin computer (``substrates.langevin``) is trained with the trajectory-likelihood rule
(``rules.trajectory``) to generate data from noise by its own dynamics; the same data and metrics
are run through a Gaussian model and a DDPM of about the same parameter count.

Experiments: ``thermo_toy2d`` (two moons / 8 Gaussians / checkerboard; sliced Wasserstein and
MMD to held-out samples) and ``thermo_digits`` (scikit-learn 8x8 digits or MNIST digits from a
directory; classifier confidence and class shares, copy check, MMD / SW to held-out images).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, PRNGKeyArray

from physlearning import metrics
from physlearning.baselines import ddpm
from physlearning.baselines.gaussian import GaussianModel, shared_covariance_mixture
from physlearning.config import ConfigError, check_memory, param, round_up, section, seed_param
from physlearning.core import Seeds, SquaredError, tree_cosine, tree_rel_error
from physlearning.errors import PhysLearningError
from physlearning.rules.trajectory import TrajectoryRule, autodiff_gradient, local_gradient, training_paths
from physlearning.runs import plots
from physlearning.runs.registry import Experiment
from physlearning.runs.store import RunStore
from physlearning.substrates.langevin import COUPLINGS, LangevinComputer, generate, hidden_range
from physlearning.tasks import datasets, toy2d
from physlearning.train import DivergenceError, OptimizerSpec, Trainer, Unlabelled


class DataRangeError(PhysLearningError, ValueError):
    """Data outside the range the experiment declares for the visible units."""


# ----- configs -------------------------------------------------------------------------------
HIDDEN_LOADINGS = ("settle", "kmeans", "kmeans_held")


@dataclasses.dataclass(frozen=True)
class Device:
    """The Langevin computer: units, potential constants, temperature, mobility, time grid."""

    n_hidden: int = param(32, ge=0, doc="hidden units")
    couplings: str = param("bipartite", choices=COUPLINGS, doc="which pairs J_ij may be nonzero")
    kT: float = param(0.1, gt=0, doc="thermal energy (device energy unit)")
    mu: float = param(1.0, gt=0, doc="mobility (length^2 / (energy time))")
    dt: float = param(0.02, gt=0, doc="Euler-Maruyama time step (time unit)")
    n_steps: int = param(100, ge=1, doc="time steps of noising and of generation")
    n_slices: int = param(10, ge=1, doc="K: protocol slices (piecewise-constant parameters)")
    j2_visible: float = param(1.0, doc="J2 of visible units (noising potential)")
    j4_visible: float = param(0.0, ge=0, doc="J4 of visible units")
    j2_hidden: float = param(0.5, doc="J2 of hidden units (< 0 with J4 > 0: double well)")
    j4_hidden: float = param(1.0, ge=0, doc="J4 of hidden units")
    noising_coupling: float = param(1.0, ge=0, doc="scale of the fixed random couplings J0 of the noising potential")
    train_j2: bool = param(True, doc="J2 is part of the trained protocol")
    train_j4: bool = param(False, doc="J4 of the visible units is part of the trained protocol (one value per "
                           "slice, kept >= 0; starts at j4_visible)")
    hidden_loading: str = param("settle", choices=HIDDEN_LOADINGS,
                                doc="hidden units at the data end: settled under theta_0 given the image, or a "
                                    "cluster code (k-means with n_hidden clusters on the training set: the unit of "
                                    "the image's cluster at +code_amplitude, the others at -code_amplitude), which "
                                    "then relaxes with the visible units ('kmeans') or is held through noising and "
                                    "generation ('kmeans_held': generation draws the code of a random training "
                                    "image, i.e. cluster c with its training frequency)")
    code_amplitude: float = param(1.0, gt=0, doc="|h| of the kmeans hidden code")
    init_scale: float = param(0.0, ge=0, doc="random perturbation of the starting protocol's couplings (scale/sqrt(N)) "
                              "and biases, independent per slice (0: start at the noising potential)")


@dataclasses.dataclass(frozen=True)
class Train:
    """Trajectory-likelihood training."""

    epochs: int = param(30, ge=1)
    batch_size: int = param(256, ge=1)
    lr: float = param(1e-2, gt=0)
    optimizer: str = param("adam", choices=("adam", "adamw", "sgd"))
    schedule: str = param("cosine", choices=("constant", "cosine"))
    clip: float = param(1.0, ge=0, doc="global-norm gradient clip (0: off)")
    select: str = param("final", choices=("final", "val_mmd"),
                        doc="keep the last protocol, or the epoch with the lowest validation MMD^2 of its samples")


@dataclasses.dataclass(frozen=True)
class DDPM:
    """DDPM baseline (Ho et al. 2020) with an MLP denoiser of about the computer's parameter count."""

    enabled: bool = param(True)
    n_steps: int = param(200, ge=2, doc="diffusion steps T")
    train_steps: int = param(3000, ge=1)
    batch_size: int = param(256, ge=1)
    lr: float = param(2e-3, gt=0)
    width: int = param(0, ge=0, doc="MLP width (0: match the Langevin computer's parameter count)")
    depth: int = param(2, ge=1)


@dataclasses.dataclass(frozen=True)
class Eval:
    n_samples: int = param(2000, ge=10, doc="generated samples for the final metrics")
    n_epoch_samples: int = param(500, ge=10, doc="generated samples per epoch (heat and validation metrics)")


@dataclasses.dataclass(frozen=True)
class ToyData:
    toy: str = param("moons", choices=toy2d.TOYS)
    n_train: int = param(8000, ge=10)
    n_val: int = param(1000, ge=10)
    n_test: int = param(2000, ge=10)
    limit: float = param(3.0, gt=0, doc="declared range: every coordinate must lie in [-limit, limit]")


@dataclasses.dataclass(frozen=True)
class DigitsData:
    source: str = param("sklearn", choices=("sklearn", "mnist"))
    dir: str = param("", path="dir", doc="MNIST directory (IDX files); source = mnist")
    classes: tuple[int, ...] = param([0, 1, 2], ge=0, le=9, doc="digit classes to learn")
    downsample: int = param(1, choices=(1, 2, 4), doc="average-pool factor (MNIST 28x28 -> 14x14 with 2)")
    scale: float = param(1.0, gt=0, doc="pixel p in [0, 1] is loaded as x = scale (2 p - 1)")


def _validate(cfg, limit: float) -> None:
    d = cfg.device
    if d.n_steps % d.n_slices:
        raise ConfigError(f"device.n_steps = {d.n_steps} must be a multiple of device.n_slices = {d.n_slices}")
    for name, a2, a4 in (("visible", d.j2_visible, d.j4_visible), ("hidden", d.j2_hidden, d.j4_hidden)):
        if a2 <= 0 and a4 == 0:
            raise ConfigError(f"device.j2_{name} = {a2!r} with device.j4_{name} = 0: the potential does not "
                              "confine; allowed: j2 > 0, or j4 > 0")
    if d.j2_visible <= 0:
        raise ConfigError(f"device.j2_visible = {d.j2_visible!r}: must be > 0 (visible units must relax to noise)")
    if d.hidden_loading != "settle" and d.n_hidden < 1:
        raise ConfigError(f"device.n_hidden = {d.n_hidden}: hidden_loading = {d.hidden_loading!r} needs >= 1 "
                          "hidden unit (one per cluster)")
    h = hidden_range(d.j2_hidden, d.j4_hidden, d.kT)
    if d.hidden_loading != "settle":
        h = max(h, d.code_amplitude)
    curv = 2 * abs(d.j2_visible) + 12 * d.j4_visible * limit**2
    if d.hidden_loading != "kmeans_held":  # held units do not move, so they do not bound the time step
        curv = max(curv, 2 * abs(d.j2_hidden) + 12 * d.j4_hidden * h**2)
    curv += 2.0 * d.noising_coupling  # spectral norm of J0 (a symmetric Gaussian matrix scaled 1/sqrt(N))
    if d.mu * d.dt * curv >= 1:
        raise ConfigError(
            f"device.dt = {d.dt!r} is beyond Euler-Maruyama stability: mu*dt*max|Hess V| = {d.mu * d.dt * curv:.3g} "
            f">= 1 for visible |x| <= {limit:g}, hidden |x| <= {h:.3g} with J2, J4 and noising couplings; "
            f"allowed: dt < {1 / (d.mu * curv):.4g}")
    forget = 2 * d.mu * d.j2_visible * d.dt * d.n_steps
    if forget < 3:
        raise ConfigError(
            f"device.n_steps * device.dt = {d.n_steps * d.dt:g} is too short to noise the data: 2 mu J2 t = "
            f"{forget:.3g} < 3 (data would survive as exp(-{forget:.2g}) of itself); raise n_steps or dt")
    # kT from below: float32 must resolve a thermal kick at the states' scale, and the noising must reach the
    # noise distribution (the data's remaining mean, limit exp(-2 mu J2 t), inside its thermal width)
    eps = float(np.finfo(np.float32).eps)
    x_max = max(limit, h)
    kt_kick = (100 * eps * x_max) ** 2 / (2 * d.mu * d.dt)
    left = limit * float(np.exp(-forget))
    kt_eq = max(2 * d.j2_visible * left**2, d.j4_visible * left**4)
    if d.kT < max(kt_kick, kt_eq):
        if kt_kick >= kt_eq:
            why = (f"a thermal kick sqrt(2 mu kT dt) = {np.sqrt(2 * d.mu * d.kT * d.dt):.3g} is below 100 float32 "
                   f"rounding steps ({100 * eps * x_max:.3g}) of states |x| <= {x_max:.3g}, so the recorded paths "
                   "would hold rounding error instead of thermal noise")
        else:
            width = np.sqrt(d.kT / (2 * d.j2_visible))
            width = min(width, (d.kT / d.j4_visible) ** 0.25) if d.j4_visible > 0 else width
            why = (f"noising for n_steps * dt = {d.n_steps * d.dt:g} leaves the data's mean at up to {left:.3g} "
                   f"(limit exp(-2 mu J2 t)), more than the noise distribution's thermal width {width:.3g} at this "
                   "kT: the noising would end before equilibrium")
        raise ConfigError(f"device.kT = {d.kT!r} is too small: {why}; allowed: device.kT >= "
                          f"{round_up(max(kt_kick, kt_eq)):g} at these mu, dt, n_steps and J2 (or raise n_steps * dt)")


@dataclasses.dataclass(frozen=True)
class ToyConfig:
    seed: int = seed_param(0, doc="seed of the toy samples, the device's couplings, noise and training")
    data: ToyData = section(ToyData)
    device: Device = section(Device)
    train: Train = section(Train)
    ddpm: DDPM = section(DDPM)
    eval: Eval = section(Eval)

    def validate(self) -> None:
        _validate(self, self.data.limit)
        # memory: protocol couplings (K x N x N, gradient, Adam moments, copies) and the N x N noising couplings;
        # the recorded noising paths of a batch (noise, path, slices, residuals, forces); the noise drawn for
        # generating samples; the MMD kernel matrices (float64, final and per epoch); DDPM sampling noise; data
        d, e, n_units = self.device, self.eval, 2 + self.device.n_hidden
        n_test, n_val = self.data.n_test, self.data.n_val
        parts = {"protocol couplings": 40.0 * d.n_slices * n_units**2 + 24.0 * n_units**2,
                 "recorded noising paths": 40.0 * min(self.train.batch_size, self.data.n_train) * (d.n_steps + 1)
                 * n_units,
                 "generation noise": 16.0 * d.n_steps * max(e.n_samples, e.n_epoch_samples) * n_units,
                 "MMD kernel matrices": 16.0 * max(e.n_samples**2 + e.n_samples * n_test + n_test**2,
                                                   e.n_epoch_samples**2 + e.n_epoch_samples * n_val + n_val**2),
                 "DDPM sampling noise": 8.0 * self.ddpm.n_steps * e.n_samples * 2 if self.ddpm.enabled else 0.0,
                 "data": 16.0 * (self.data.n_train + n_val + n_test) * (2 + d.n_hidden)}
        check_memory(sum(parts.values()), "the Langevin computer, its paths, samples and metrics", {
            "device.n_hidden": d.n_hidden, "device.n_steps": d.n_steps, "device.n_slices": d.n_slices,
            "train.batch_size": self.train.batch_size, "eval.n_samples": e.n_samples,
            "eval.n_epoch_samples": e.n_epoch_samples, "data.n_train": self.data.n_train}, parts=parts)


@dataclasses.dataclass(frozen=True)
class DigitsDevice(Device):
    """The Langevin computer for images (more hidden units)."""

    n_hidden: int = param(64, ge=0, doc="hidden units")


@dataclasses.dataclass(frozen=True)
class DigitsTrain(Train):
    """Trajectory-likelihood training on images."""

    epochs: int = param(20, ge=1)
    batch_size: int = param(64, ge=1)
    lr: float = param(5e-3, gt=0)


@dataclasses.dataclass(frozen=True)
class DigitsEval(Eval):
    n_samples: int = param(1000, ge=10, doc="generated samples for the final metrics")
    n_epoch_samples: int = param(200, ge=10, doc="generated samples per epoch (heat and validation metrics)")


@dataclasses.dataclass(frozen=True)
class DigitsConfig:
    seed: int = seed_param(0, doc="seed of the data split, the device's couplings, noise and training")
    data: DigitsData = section(DigitsData)
    device: DigitsDevice = section(DigitsDevice)
    train: DigitsTrain = section(DigitsTrain)
    ddpm: DDPM = section(DDPM)
    eval: DigitsEval = section(DigitsEval)

    def validate(self) -> None:
        if self.data.source == "mnist" and not self.data.dir:
            raise ConfigError("data.dir = '': source = 'mnist' needs the directory holding the MNIST IDX files")
        if len(set(self.data.classes)) < 2:
            raise ConfigError(f"data.classes = {list(self.data.classes)}: give at least two distinct digits")
        _validate(self, self.data.scale)
        # memory: as for thermo_toy2d, with the image pixels as visible units and the split sizes of the source
        d, e, c = self.device, self.eval, len(set(self.data.classes))
        n_vis = (784 if self.data.source == "mnist" else 64) // self.data.downsample**2
        n_units = n_vis + d.n_hidden
        if self.data.source == "mnist":
            official = datasets.has_mnist_train(self.data.dir)
            rows, n_test = (7000 if official else 1000) * c, (1000 if official else 200) * c
        else:
            rows, n_test = 180 * c, 36 * c
        n_val = (rows - n_test) // 10
        n_train = rows - n_test - n_val
        parts = {"protocol couplings": 40.0 * d.n_slices * n_units**2 + 24.0 * n_units**2,
                 "recorded noising paths": 40.0 * min(self.train.batch_size, n_train) * (d.n_steps + 1) * n_units,
                 "generation noise": 16.0 * d.n_steps * max(e.n_samples, e.n_epoch_samples) * n_units,
                 "MMD kernel matrices": 16.0 * max(e.n_samples**2 + e.n_samples * n_test + n_test**2,
                                                   e.n_epoch_samples**2 + e.n_epoch_samples * n_val + n_val**2),
                 "DDPM sampling noise": 8.0 * self.ddpm.n_steps * e.n_samples * n_vis if self.ddpm.enabled else 0.0,
                 "data": 16.0 * rows * n_vis + 8.0 * n_train * d.n_hidden}
        check_memory(sum(parts.values()), "the Langevin computer, its paths, samples and metrics", {
            "device.n_hidden": d.n_hidden, "device.n_steps": d.n_steps, "device.n_slices": d.n_slices,
            "train.batch_size": self.train.batch_size, "eval.n_samples": e.n_samples,
            "eval.n_epoch_samples": e.n_epoch_samples}, parts=parts)


# ----- shared pieces -------------------------------------------------------------------------
def check_range(x: np.ndarray, limit: float, what: str) -> None:
    """Raise :class:`DataRangeError` if any value of ``x`` is outside [-limit, limit] or not finite."""
    lo, hi = float(np.min(x)), float(np.max(x))
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo < -limit or hi > limit:
        raise DataRangeError(f"{what}: values span [{lo:.4g}, {hi:.4g}], outside the declared range "
                             f"[-{limit:g}, {limit:g}] of the visible units")


def build_computer(d: Device, n_visible: int, key: PRNGKeyArray) -> LangevinComputer:
    return LangevinComputer(n_visible, d.n_hidden, n_slices=d.n_slices, n_steps=d.n_steps, dt=d.dt, mu=d.mu,
                            kT=d.kT, j2_visible=d.j2_visible, j4_visible=d.j4_visible, j2_hidden=d.j2_hidden,
                            j4_hidden=d.j4_hidden, couplings=d.couplings, noising_coupling=d.noising_coupling,
                            train_j2=d.train_j2, train_j4=d.train_j4, init_scale=d.init_scale,
                            hold_hidden=d.hidden_loading == "kmeans_held", key=key)


def cluster_code(x_train: np.ndarray, n_clusters: int, amplitude: float, seed: int) -> np.ndarray:
    """Hidden-unit loading by a hard mixture model of the data: k-means (scikit-learn) with
    ``n_clusters`` clusters; image i's code is h_c = +amplitude for its cluster c, -amplitude for
    the others. Returns (n, n_clusters) float32."""
    from sklearn.cluster import KMeans

    if not 1 <= n_clusters <= len(x_train):
        raise ConfigError(f"device.n_hidden = {n_clusters}: the kmeans hidden code needs 1 <= n_hidden <= "
                          f"{len(x_train)} (training images)")
    labels = KMeans(n_clusters, n_init=4, random_state=seed).fit_predict(x_train)
    return np.float32(amplitude) * (2 * np.eye(n_clusters, dtype=np.float32)[labels] - 1)


def generate_samples(model: LangevinComputer, key: PRNGKeyArray, n: int,
                     codes: np.ndarray | None) -> tuple[Array, Array, Array | None]:
    """:func:`generate`; a held hidden register gets the code of a random training image (``codes``,
    one row per training image), so each cluster is drawn with its training frequency. The code
    draw and the generation use independent halves of ``key``. Returns (samples, heat, the drawn
    codes or None)."""
    k_code, k_gen = jax.random.split(key)
    hidden = draw_codes(codes, k_code, n) if model.hold_hidden else None
    return *generate(model, k_gen, n, hidden), hidden


def draw_codes(codes: np.ndarray, key: PRNGKeyArray, n: int) -> Array:
    """Codes of ``n`` random training images (rows of ``codes``): cluster c with its training frequency."""
    return jnp.asarray(codes)[jax.random.randint(key, (n,), 0, len(codes))]


def train_computer(cfg, x_train: np.ndarray, x_val: np.ndarray, store: RunStore, limit: float,
                   val_transform=lambda x: x) -> tuple[LangevinComputer, list[dict], float, int, np.ndarray | None]:
    """Train on ``x_train`` (visible coordinates); per epoch, generate samples and log the heat
    they emit and their SW / MMD to ``x_val``. Returns (model: the last, or the one with the lowest
    validation MMD^2 with ``train.select = "val_mmd"``; history; compile time; its epoch; the
    training images' hidden codes, or None without a code loading). Streams of the root seed: "model.init"
    (the starting protocol's random parts), "samples.epoch" (the same draw every epoch), "kmeans.codes"."""
    seeds = Seeds(cfg.seed)
    comp = build_computer(cfg.device, x_train.shape[1], seeds.key("model.init"))
    comp.check_stability(limit)
    tr = cfg.train
    opt = OptimizerSpec(tr.optimizer, tr.lr, tr.schedule, clip=tr.clip or None)
    kT = cfg.device.kT
    key = seeds.key("samples.epoch")

    d = cfg.device
    codes = None
    if d.hidden_loading != "settle":  # the training data load every unit: image + its cluster code
        codes = cluster_code(x_train, d.n_hidden, d.code_amplitude, seeds.int("kmeans.codes"))
        x_train = np.concatenate([x_train, codes], 1)
        store.save_array("hidden_codes.npz", codes=codes)  # a held register's generation draws from these

    def evaluate(model, xv, _):
        s, heat, _ = generate_samples(model, key, cfg.eval.n_epoch_samples, codes)
        s = np.asarray(s)
        return {"gen_heat": float(jnp.mean(heat)), "gen_heat_kT": float(jnp.mean(heat)) / kT,
                "val_sliced_wasserstein": metrics.sliced_wasserstein(val_transform(s), val_transform(xv)),
                "val_mmd": metrics.mmd_rbf(val_transform(s), val_transform(xv))}

    # epoch 0: the untrained protocol (equal to the noising potential)
    store.log({"epoch": 0, **evaluate(comp, x_val, None)})
    trainer = Trainer(TrajectoryRule(), SquaredError(), opt, tr.epochs, tr.batch_size, seed=cfg.seed,
                      evaluate=evaluate, store=store, select="final" if tr.select == "final" else "val",
                      select_metric="val_mmd", minimize=True, progress=False, desc="thermo")
    res = trainer.fit(comp, Unlabelled(x_train, tr.batch_size), (x_val, None))
    model = res.model
    store.log({"event": "selected", "selected_epoch": res.best_epoch, "rule": tr.select})
    store.log({"event": "stability", "message": f"trained protocol: mu*dt*max|Hess V| = "
               f"{model.mu * model.dt * model.curvature_bound(limit):.3g} (Euler-Maruyama needs < 2)"})
    return model, res.history, res.compile_time_s, res.best_epoch, codes


def fit_ddpm(cfg, x_train: np.ndarray, n_target: int, n: int, codes: np.ndarray | None = None,
             drawn: Array | None = None, name: str = "ddpm") -> tuple[np.ndarray, int, float]:
    """Train the DDPM baseline and draw ``n`` samples; with ``codes`` (one per training image) the
    DDPM is conditioned on them, scaled to +-1, and samples with the ``drawn`` codes (the draw the
    Langevin computer got). Streams of the root seed: ``name + ".train"`` (weights, batches, noise) and
    ``name + ".sample"``. Returns (samples, parameter count, seconds)."""
    t0 = time.perf_counter()
    c = cfg.ddpm
    seeds = Seeds(cfg.seed)
    cond_dim = 0 if codes is None else codes.shape[1]
    width = c.width or ddpm.width_for(x_train.shape[1], n_target, c.depth, cond_dim)
    key = seeds.key(f"{name}.train")
    model, _ = ddpm.train(x_train, key, n_steps=c.n_steps, width=width, depth=c.depth, train_steps=c.train_steps,
                          batch_size=min(c.batch_size, len(x_train)), lr=c.lr,
                          cond=None if codes is None else np.sign(codes))  # +-A -> +-1
    cond = None if drawn is None else jnp.sign(drawn)
    s = np.asarray(ddpm.sample(model, seeds.key(f"{name}.sample"), n, x_train.shape[1], cond))
    if not np.all(np.isfinite(s)):
        raise DivergenceError(f"DDPM baseline produced non-finite samples (ddpm.n_steps = {c.n_steps}, "
                              f"ddpm.lr = {c.lr}); lower the learning rate or raise n_steps")
    return s, ddpm.n_parameters(model), time.perf_counter() - t0


def _by_epoch(history: list[dict], key: str) -> list[dict]:
    """The epoch records holding ``key``, one per epoch (the last: a resumed run may log an epoch twice)."""
    return list({r["epoch"]: r for r in history if "epoch" in r and key in r}.values())


def heat_plot(history: list[dict], path) -> Path:
    """Heat emitted while generating (epoch 0: the untrained protocol) and the path KL, per epoch."""
    rows = _by_epoch(history, "gen_heat_kT")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(9, 3.4))
    ep = [r["epoch"] for r in rows]
    ax[0].plot(ep, [r["gen_heat_kT"] for r in rows], marker=".", label="generation")
    ax[0].set_xlabel("epoch")
    ax[0].set_ylabel("mean heat emitted per sample / kT")
    ax[0].set_title("heat emitted while generating")
    ax[0].grid(alpha=0.3)
    rows2 = _by_epoch(history, "aux_path_kl")
    ax[1].plot([r["epoch"] for r in rows2], [r["aux_path_kl"] for r in rows2], marker=".", color="C1")
    ax[1].set_xlabel("epoch")
    ax[1].set_ylabel("nats per trajectory")
    ax[1].set_title("path KL <ln P0[noising] - ln P[reverse]>")
    ax[1].grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


# ----- 2D toys ---------------------------------------------------------------------------------
def toy_data(cfg: ToyConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training, validation and test samples of the toy: streams "data.train", "data.val", "data.test"."""
    seeds, d = Seeds(cfg.seed), cfg.data
    return tuple(toy2d.sample(d.toy, n, seeds.int(f"data.{part}"))  # type: ignore[return-value]
                 for part, n in (("train", d.n_train), ("val", d.n_val), ("test", d.n_test)))


def run_toy(cfg: ToyConfig, store: RunStore) -> dict:
    """Train, generate, score against the test samples with the Gaussian and DDPM baselines; figures:
    :func:`figures_toy` (the runner draws them from the run folder)."""
    d = cfg.data
    seeds = Seeds(cfg.seed)
    x_tr, x_va, x_te = toy_data(cfg)
    for name, x in (("training data", x_tr), ("validation data", x_va), ("test data", x_te)):
        check_range(x, d.limit, name)
    t0 = time.perf_counter()
    model, history, compile_s, sel, codes = train_computer(cfg, x_tr, x_va, store, d.limit)
    train_s = time.perf_counter() - t0
    store.save_checkpoint(model)
    s, heat, _ = generate_samples(model, seeds.key("samples.final"), cfg.eval.n_samples, codes)
    s = np.asarray(s)
    store.save_array("samples.npz", thermo=s, heat=np.asarray(heat))
    out = {"toy": d.toy, "n_parameters": model.n_parameters(), "train_time_s": train_s, "compile_time_s": compile_s,
           "sliced_wasserstein": metrics.sliced_wasserstein(s, x_te), "mmd": metrics.mmd_rbf(s, x_te),
           "heat": float(jnp.mean(heat)), "heat_kT": float(jnp.mean(heat)) / cfg.device.kT,
           "heat_untrained_kT": _first_heat(store), "selected_epoch": sel}
    g = GaussianModel.fit(x_tr).sample(cfg.eval.n_samples, seeds.int("baselines.gaussian"))
    out.update(gaussian_sliced_wasserstein=metrics.sliced_wasserstein(g, x_te), gaussian_mmd=metrics.mmd_rbf(g, x_te))
    ref = toy2d.sample(d.toy, cfg.eval.n_samples, seeds.int("data.reference"))
    out.update(heldout_sliced_wasserstein=metrics.sliced_wasserstein(ref, x_te), heldout_mmd=metrics.mmd_rbf(ref, x_te))
    # panel 0 is the held-out data, scored by a new draw of the toy (the floor); the others by their samples
    panels = {"data (held out)": (x_te, "heldout_"), "Langevin computer": (s, ""), "Gaussian": (g, "gaussian_")}
    if cfg.ddpm.enabled:
        sd, nd, ts = fit_ddpm(cfg, x_tr, model.n_parameters(), cfg.eval.n_samples)
        out.update(ddpm_sliced_wasserstein=metrics.sliced_wasserstein(sd, x_te), ddpm_mmd=metrics.mmd_rbf(sd, x_te),
                   ddpm_n_parameters=nd, ddpm_train_time_s=ts)
        panels["DDPM"] = (sd, "ddpm_")
        store.save_array("samples_ddpm.npz", ddpm=sd)
    store.save_figure_data("samples", limit=d.limit, names=np.array(list(panels)),
                           sliced_wasserstein=np.array([out[p + "sliced_wasserstein"] for _, p in panels.values()]),
                           mmd=np.array([out[p + "mmd"] for _, p in panels.values()]),
                           **{f"panel{i}": x for i, (x, _) in enumerate(panels.values())})
    out["beats_gaussian"] = bool(out["sliced_wasserstein"] < out["gaussian_sliced_wasserstein"]
                                 and out["mmd"] < out["gaussian_mmd"])
    return out


def _first_heat(store: RunStore) -> float:
    from physlearning.runs.store import read_metrics

    rows = [r for r in read_metrics(store.path) if r.get("epoch") == 0 and "gen_heat_kT" in r]
    return float(rows[0]["gen_heat_kT"]) if rows else float("nan")


def _scatter(panels: dict, path, limit: float) -> Path:
    """One scatter panel per ``{title: points (n, 2)}``."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(2.8 * len(panels), 3.4), squeeze=False)
    for ax, (name, x) in zip(axes[0], panels.items()):
        ax.scatter(x[:, 0], x[:, 1], s=1, alpha=0.4)
        ax.set_xlim(-limit, limit)
        ax.set_ylim(-limit, limit)
        ax.set_aspect("equal")
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return Path(path)


def _heat_figure(run_dir: Path) -> list[str]:
    from physlearning.runs.store import read_metrics

    history = read_metrics(run_dir)
    return [heat_plot(history, run_dir / "plots" / "heat.png").name] if _by_epoch(history, "gen_heat_kT") else []


def figures_toy(run_dir) -> list[str]:
    """Training curves, heat per epoch (metrics.jsonl) and the sample panels (data/samples.npz: panel i's
    points, its name, and the sliced Wasserstein distance / MMD^2 to the test samples in its title)."""
    run_dir = Path(run_dir)
    drawn = plots.run_curves(run_dir, "thermo_toy2d") + _heat_figure(run_dir)
    if (run_dir / "data" / "samples.npz").is_file():
        with np.load(run_dir / "data" / "samples.npz") as z:
            panels = {}
            for i, (name, sw, mmd) in enumerate(zip(z["names"], z["sliced_wasserstein"], z["mmd"])):
                what = "new draw: " if i == 0 else ""  # panel 0: the data, scored by a new draw (the floor)
                panels[f"{name}\n{what}SW {sw:.3g}, MMD\u00b2 {mmd:.2g}"] = z[f"panel{i}"]
            drawn.append(_scatter(panels, run_dir / "plots" / "samples.png", float(z["limit"])).name)
    return drawn


# ----- digits ----------------------------------------------------------------------------------
def load_digits(cfg: DigitsConfig) -> tuple[datasets.Split, tuple[int, int]]:
    """The split of the chosen classes (seeded by the root seed's "data.split" stream) and the image shape."""
    d = cfg.data
    split_seed = Seeds(cfg.seed).int("data.split")
    if d.source == "sklearn":
        sp = datasets.sklearn_digits(seed=split_seed)
        keep = sorted(d.classes)
        def sel(x, y):
            m = np.isin(y, keep)
            return x[m], np.searchsorted(np.array(keep), y[m])
        parts = [sel(sp.x_train, sp.y_train), sel(sp.x_val, sp.y_val), sel(sp.x_test, sp.y_test)]
        sp = datasets.Split(*parts[0], *parts[1], *parts[2], len(keep), (8, 8), sp.note)
    else:
        sp = datasets.mnist(d.dir, seed=split_seed, classes=tuple(sorted(d.classes)))
    shape = sp.image_shape
    if d.downsample > 1:
        f = d.downsample
        def pool(x):
            return x.reshape(len(x), shape[0] // f, f, shape[1] // f, f).mean((2, 4))\
                .reshape(len(x), -1).astype(np.float32)
        sp = dataclasses.replace(sp, x_train=pool(sp.x_train), x_val=pool(sp.x_val), x_test=pool(sp.x_test))
        shape = (shape[0] // f, shape[1] // f)
    for name in ("x_train", "x_val", "x_test"):
        x = getattr(sp, name)
        if x.size and (x.min() < 0 or x.max() > 1):
            raise DataRangeError(f"{name}: pixel values span [{x.min():.4g}, {x.max():.4g}], outside [0, 1]")
    return sp, shape


def fit_classifier(sp: datasets.Split):
    """Logistic regression on real training images; its inverse regularisation C in
    {0.1, 1, 10, 100} is chosen by log-loss on the real validation split (calibrated confidence)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss

    fits = [LogisticRegression(C=c, max_iter=5000).fit(sp.x_train, sp.y_train) for c in (0.1, 1.0, 10.0, 100.0)]
    return min(fits, key=lambda f: log_loss(sp.y_val, f.predict_proba(sp.x_val), labels=f.classes_))


def run_digits(cfg: DigitsConfig, store: RunStore) -> dict:
    """Train, generate, score the samples with a classifier trained on real images, with the Gaussian,
    mixture and DDPM baselines; figures: :func:`figures_digits` (drawn by the runner from the run folder)."""
    seeds = Seeds(cfg.seed)
    sp, shape = load_digits(cfg)
    sc = cfg.data.scale
    to_x = lambda p: (sc * (2 * p - 1)).astype(np.float32)
    to_p = lambda x: np.clip((np.asarray(x) / sc + 1) / 2, 0, 1)
    x_tr, x_va = to_x(sp.x_train), to_x(sp.x_val)
    check_range(x_tr, sc, "training images")
    t0 = time.perf_counter()
    model, history, compile_s, sel, codes = train_computer(cfg, x_tr, x_va, store, sc, val_transform=to_p)
    train_s = time.perf_counter() - t0
    store.save_checkpoint(model)
    n = cfg.eval.n_samples
    s, heat, drawn = generate_samples(model, seeds.key("samples.final"), n, codes)
    imgs = to_p(s)
    store.save_array("samples.npz", thermo=imgs, heat=np.asarray(heat),
                     **({} if drawn is None else {"codes": np.asarray(drawn)}))
    clf = fit_classifier(sp)
    out = {"data_note": sp.note, "image_shape": list(shape), "classes": list(sorted(cfg.data.classes)),
           "n_parameters": model.n_parameters(), "train_time_s": train_s, "compile_time_s": compile_s,
           "classifier_test_accuracy": float(clf.score(sp.x_test, sp.y_test)), "classifier_C": float(clf.C),
           "heat": float(jnp.mean(heat)), "heat_kT": float(jnp.mean(heat)) / cfg.device.kT,
           "heat_untrained_kT": _first_heat(store), "selected_epoch": sel}

    def score(prefix: str, x: np.ndarray) -> dict:
        c = metrics.confident_fraction(clf.predict_proba(x), 0.9)
        return {f"{prefix}confident_fraction": c["confident_fraction"], f"{prefix}class_shares": c["class_shares"],
                f"{prefix}class_share_max_dev": c["class_share_max_dev"],
                f"{prefix}copy_fraction": metrics.copy_fraction(x, sp.x_train, sp.x_test),
                f"{prefix}mmd": metrics.mmd_rbf(x, sp.x_test), f"{prefix}sliced_wasserstein":
                metrics.sliced_wasserstein(x, sp.x_test)}

    out.update(score("", imgs))
    out.update(score("heldout_", sp.x_val))
    g = np.clip(GaussianModel.fit(sp.x_train, ridge=1e-4).sample(n, seeds.int("baselines.gaussian")), 0, 1)
    out.update(score("gaussian_", g))
    if model.hold_hidden:  # the J4 = 0 ideal of a held code register: a shared-covariance mixture, same draw
        gm = np.clip(shared_covariance_mixture(sp.x_train, codes.argmax(1), np.asarray(drawn).argmax(1),
                                               seeds.int("baselines.mixture"), ridge=1e-4), 0, 1)
        out.update(score("mixture_", gm))
        store.save_array("samples_mixture.npz", mixture=gm)
    grids = {"thermo": imgs}
    if cfg.ddpm.enabled:
        sd, nd, ts = fit_ddpm(cfg, x_tr, model.n_parameters(), n)
        sd = to_p(sd)
        out.update(score("ddpm_", sd))
        out.update(ddpm_n_parameters=nd, ddpm_train_time_s=ts)
        store.save_array("samples_ddpm.npz", ddpm=sd)
        grids["ddpm"] = sd
        if model.hold_hidden:  # the same code draw for a DDPM: is the gain the code's or the device's?
            xc, nc, tc = fit_ddpm(cfg, x_tr, model.n_parameters(), n, codes, drawn, name="ddpm_code")
            xc = to_p(xc)
            out.update(score("ddpm_code_", xc))
            out.update(ddpm_code_n_parameters=nc, ddpm_code_train_time_s=tc)
            store.save_array("samples_ddpm_code.npz", ddpm_code=xc)
            grids["ddpm_code"] = xc
    for name, x in grids.items():
        prefix = "" if name == "thermo" else f"{name}_"
        store.save_figure_data(f"samples_{name}", images=x[:40], shape=np.array(shape), **{
            k: out[prefix + k] for k in ("confident_fraction", "class_share_max_dev", "copy_fraction", "mmd")})
    return out


def figures_digits(run_dir) -> list[str]:
    """Training curves, heat per epoch (metrics.jsonl) and a grid of the first 40 samples of each generator
    (data/samples_NAME.npz, with the generator's scores in its title)."""
    run_dir = Path(run_dir)
    drawn = plots.run_curves(run_dir, "thermo_digits") + _heat_figure(run_dir)
    for path in sorted((run_dir / "data").glob("samples_*.npz")):
        name = path.stem.removeprefix("samples_")
        with np.load(path) as z:
            title = (f"{name} samples (first 40, not selected)\nconfident {float(z['confident_fraction']):.2f}, "
                     f"class-share dev {float(z['class_share_max_dev']):.2f}, copies "
                     f"{float(z['copy_fraction']):.2f}, MMD\u00b2 {float(z['mmd']):.2g}")
            drawn.append(plots.image_grid(z["images"], run_dir / "plots" / path.name.replace(".npz", ".png"),
                                          tuple(int(v) for v in z["shape"]), ncols=10, title=title).name)
    return drawn


# ----- gradient matrix -------------------------------------------------------------------------
def matrix_rows() -> list[dict]:
    """Local trajectory rule vs jax autodiff of the same Euler-Maruyama path log-likelihood."""
    import equinox as eqx

    @eqx.filter_jit
    def case(c, x, key):
        _, omega = training_paths(c, x, key)
        g, ref = local_gradient(c, omega), autodiff_gradient(c, omega)
        return tree_cosine(g, ref), tree_rel_error(g, ref)

    rows = []
    for cpl, h2, held in (("dense", 1.0, False), ("bipartite", -1.0, False), ("dense", 1.0, True)):
        c = LangevinComputer(3, 4, n_slices=4, n_steps=20, dt=0.02, kT=0.3, j2_hidden=h2, j4_hidden=1.0,
                             couplings=cpl, noising_coupling=1.0, hold_hidden=held, key=jax.random.PRNGKey(0))
        k = jax.random.PRNGKey(1)
        c = eqx.tree_at(lambda s: (s.J, s.b, s.J2), c, (c.J + 0.3 * jax.random.normal(k, c.J.shape),
                                                        c.b + 0.1, c.J2 * 1.2)).project()
        x = jax.random.normal(jax.random.PRNGKey(2), (8, 7 if held else 3))  # a held register is loaded with data
        cos, rel = case(c, x, jax.random.PRNGKey(3))
        rows.append({"substrate": f"langevin ({cpl}, 3+4 units{', held hidden register' if held else ''})",
                     "rule": "trajectory likelihood (local)", "cosine": cos, "rel_error": rel,
                     "note": "kick-state correlations vs autodiff of EM densities"})
    return rows


EXPERIMENTS = [
    Experiment(
        "thermo_toy2d", ToyConfig, run_toy,
        "Langevin computer generating a 2D toy distribution (trajectory likelihood) vs Gaussian and DDPM",
        headline=("sliced_wasserstein", "gaussian_sliced_wasserstein", "ddpm_sliced_wasserstein", "mmd",
                  "gaussian_mmd", "ddpm_mmd", "heat_kT"),
        tour={"train.epochs": 30, "data.n_train": 4096, "train.schedule": "constant", "eval.n_samples": 500,
              "eval.n_epoch_samples": 500, "ddpm.train_steps": 300, "ddpm.n_steps": 100,
              # the settings of examples/thermo_moons.toml
              "device.n_hidden": 0, "device.couplings": "dense", "device.train_j4": True, "device.n_slices": 20,
              "train.lr": 0.03, "ddpm.width": 27},
        template=lambda cfg: template_toy(cfg),
        figures=lambda run_dir: figures_toy(run_dir),
    ),
    Experiment(
        "thermo_digits", DigitsConfig, run_digits,
        "Langevin computer generating digits (8x8 or MNIST), scored by a classifier trained on real images",
        headline=("confident_fraction", "class_shares", "ddpm_confident_fraction", "copy_fraction", "mmd", "heat_kT"),
        tour=None,
        preflight=lambda cfg: datasets.require_files(cfg.data.source, cfg.data.dir),
        template=lambda cfg: template_digits(cfg),
        figures=lambda run_dir: figures_digits(run_dir),
    ),
]


def template_toy(cfg: ToyConfig) -> LangevinComputer:
    """The checkpoint's shape (two visible units), for ``physlearning.load_run``."""
    return build_computer(cfg.device, 2, Seeds(cfg.seed).key("model.init"))


def template_digits(cfg: DigitsConfig) -> LangevinComputer:
    """The checkpoint's shape (one visible unit per pooled pixel), for ``physlearning.load_run``."""
    side = (28 if cfg.data.source == "mnist" else 8) // cfg.data.downsample
    return build_computer(cfg.device, side * side, Seeds(cfg.seed).key("model.init"))

