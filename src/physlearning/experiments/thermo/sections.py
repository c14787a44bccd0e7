"""Config sections shared by the thermodynamic-computing experiments: the Langevin device, its
training, the DDPM baseline and evaluation sizes, declared once; the device checks (stability, noising
length, kT floor) and the declared data range."""

from __future__ import annotations

import dataclasses

import numpy as np

from physlearning.baselines import ddpm
from physlearning.config import ConfigError, check_memory, param, round_up
from physlearning.errors import PhysLearningError
from physlearning.substrates.langevin import COUPLINGS, hidden_range


class DataRangeError(PhysLearningError, ValueError):
    """Data outside the range the experiment declares for the visible units."""



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



def validate_device(cfg, limit: float) -> None:
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



def check_range(x: np.ndarray, limit: float, what: str) -> None:
    """Raise :class:`DataRangeError` if any value of ``x`` is outside [-limit, limit] or not finite."""
    lo, hi = float(np.min(x)), float(np.max(x))
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo < -limit or hi > limit:
        raise DataRangeError(f"{what}: values span [{lo:.4g}, {hi:.4g}], outside the declared range "
                             f"[-{limit:g}, {limit:g}] of the visible units")



def check_thermo_memory(cfg, n_vis: int, n_train: int, n_val: int, n_test: int, extra_data: float = 0.0,
                        sizes: dict | None = None) -> None:
    """Estimate the bytes a thermo run holds at once and refuse sizes that cannot fit (``config.check_memory``):
    the protocol couplings (K x N x N, gradient, Adam moments, copies) and the N x N noising couplings; the
    recorded noising paths of a batch (noise, path, slices, residuals, forces); the noise drawn for generating
    samples; the MMD kernel matrices (float64, final and per epoch); the DDPM's weights (with gradient and Adam
    moments), its activations for a batch and its sampling noise; the data (``extra_data`` bytes on top)."""
    d, e, c = cfg.device, cfg.eval, cfg.ddpm
    if c.enabled and c.batch_size > n_train:
        raise ConfigError(f"ddpm.batch_size = {c.batch_size}: larger than the training set ({n_train} rows); "
                          f"allowed values are 1 to {n_train} (or ddpm.enabled = false)")
    n_units = n_vis + d.n_hidden
    # 0: matched to the computer's parameter count (about K (N^2 + 3 N) protocol values), as ddpm.width_for does
    width = c.width or ddpm.width_for(n_vis, d.n_slices * (n_units**2 + 3 * n_units), c.depth, d.n_hidden)
    ddpm_on = 1.0 if c.enabled else 0.0
    parts = {"protocol couplings": 40.0 * d.n_slices * n_units**2 + 24.0 * n_units**2,
             "recorded noising paths": 40.0 * min(cfg.train.batch_size, n_train) * (d.n_steps + 1) * n_units,
             "generation noise": 16.0 * d.n_steps * max(e.n_samples, e.n_epoch_samples) * n_units,
             "MMD kernel matrices": 16.0 * max(e.n_samples**2 + e.n_samples * n_test + n_test**2,
                                               e.n_epoch_samples**2 + e.n_epoch_samples * n_val + n_val**2),
             "DDPM weights": ddpm_on * 16.0 * ((n_vis + 32 + d.n_hidden) * width + c.depth * width * (width + 1)
                                               + width * n_vis),
             "DDPM activations": ddpm_on * 12.0 * max(min(c.batch_size, n_train), e.n_samples) * width * c.depth,
             "DDPM sampling noise": ddpm_on * 8.0 * c.n_steps * e.n_samples * n_vis,
             "data": 16.0 * (n_train + n_val + n_test) * n_units + extra_data}
    check_memory(sum(parts.values()), "the Langevin computer, its paths, samples and metrics", {
        "device.n_hidden": d.n_hidden, "device.n_steps": d.n_steps, "device.n_slices": d.n_slices,
        "train.batch_size": cfg.train.batch_size, "eval.n_samples": e.n_samples,
        "eval.n_epoch_samples": e.n_epoch_samples, "ddpm.width": c.width, "ddpm.batch_size": c.batch_size,
        **(sizes or {})}, parts=parts)
