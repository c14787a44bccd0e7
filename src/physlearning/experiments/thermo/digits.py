"""Experiment ``thermo_digits``: a Langevin computer generating digits (scikit-learn 8x8 or MNIST from a
directory), scored by a classifier trained on real images (confidence, class shares), a copy check and MMD /
SW to held-out images, against Gaussian, mixture and DDPM baselines."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from physlearning import metrics
from physlearning.baselines.gaussian import GaussianModel, shared_covariance_mixture
from physlearning.config import ConfigError, param, section, seed_param
from physlearning.core import Seeds
from physlearning.experiments.thermo.sections import (
    DDPM,
    DataRangeError,
    Device,
    Eval,
    Train,
    check_range,
    check_thermo_memory,
    validate_device,
)
from physlearning.experiments.thermo.training import (
    build_computer,
    first_heat,
    fit_ddpm,
    generate_samples,
    heat_figure,
    train_computer,
)
from physlearning.runs import plots
from physlearning.runs.registry import Experiment
from physlearning.runs.store import RunStore
from physlearning.substrates.langevin import LangevinComputer
from physlearning.tasks import datasets


@dataclasses.dataclass(frozen=True)
class DigitsData:
    source: str = param("sklearn", choices=("sklearn", "mnist"))
    dir: str = param("", path="dir", doc="MNIST directory (IDX files); source = mnist")
    classes: tuple[int, ...] = param([0, 1, 2], ge=0, le=9, doc="digit classes to learn")
    downsample: int = param(1, choices=(1, 2, 4), doc="average-pool factor (MNIST 28x28 -> 14x14 with 2)")
    scale: float = param(1.0, gt=0, doc="pixel p in [0, 1] is loaded as x = scale (2 p - 1)")



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
        validate_device(self, self.data.scale)
        # memory: as for thermo_toy2d, with the image pixels as visible units and the split sizes of the source
        c = len(set(self.data.classes))
        n_vis = (784 if self.data.source == "mnist" else 64) // self.data.downsample**2
        if self.data.source == "mnist":
            official = datasets.has_mnist_train(self.data.dir)
            rows, n_test = (7000 if official else 1000) * c, (1000 if official else 200) * c
        else:
            rows, n_test = 180 * c, 36 * c
        n_val = (rows - n_test) // 10
        n_train = rows - n_test - n_val
        check_thermo_memory(self, n_vis, n_train, n_val, n_test)



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
           "heat_untrained_kT": first_heat(store), "selected_epoch": sel}

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
    drawn = plots.run_curves(run_dir, "thermo_digits") + heat_figure(run_dir)
    for path in sorted((run_dir / "data").glob("samples_*.npz")):
        name = path.stem.removeprefix("samples_")
        with np.load(path) as z:
            title = (f"{name} samples (first 40, not selected)\nconfident {float(z['confident_fraction']):.2f}, "
                     f"class-share dev {float(z['class_share_max_dev']):.2f}, copies "
                     f"{float(z['copy_fraction']):.2f}, MMD\u00b2 {float(z['mmd']):.2g}")
            drawn.append(plots.image_grid(z["images"], run_dir / "plots" / path.name.replace(".npz", ".png"),
                                          tuple(int(v) for v in z["shape"]), ncols=10, title=title).name)
    return drawn



def template_digits(cfg: DigitsConfig) -> LangevinComputer:
    """The checkpoint's shape (one visible unit per pooled pixel), for ``physlearning.load_run``."""
    side = (28 if cfg.data.source == "mnist" else 8) // cfg.data.downsample
    return build_computer(cfg.device, side * side, Seeds(cfg.seed).key("model.init"))



EXPERIMENT = Experiment(
    "thermo_digits", DigitsConfig, run_digits,
    "Langevin computer generating digits (8x8 or MNIST), scored by a classifier trained on real images",
    headline=("confident_fraction", "class_shares", "ddpm_confident_fraction", "copy_fraction", "mmd", "heat_kT"),
    tour=None,
    preflight=lambda cfg: datasets.require_files(cfg.data.source, cfg.data.dir),
    template=template_digits,
    figures=figures_digits,
)
