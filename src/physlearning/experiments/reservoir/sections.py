"""Config sections shared by the reservoir experiments, declared once: the device sections (``[reservoir.esn]``,
``[reservoir.stno]``, ``[reservoir.delay]``, ``[reservoir.mtj]``) under ``[reservoir]``, the time-series
``[task]`` and the ridge ``[readout]``; and what is built from them: a reservoir from ``[reservoir]``
(:func:`build`, checked by :func:`_check_device`) and the task's series from ``[task]`` (:func:`_task_data`)."""

from __future__ import annotations

import dataclasses

import numpy as np

from physlearning.config import ConfigError, param, section
from physlearning.core import Seeds
from physlearning.rules.ridge import DEFAULT_ALPHAS
from physlearning.substrates.reservoirs import MAKERS, DeviceError, Reservoir
from physlearning.substrates.reservoirs.base import WEIGHT_DISTRIBUTIONS
from physlearning.tasks import timeseries as ts

DEVICES = ("esn", "stno", "delay", "mtj")
TASKS = ("narma10", "mackey_glass", "memory", "sine_square", "lorenz")


# ----------------------------------------------------------------------------- config


@dataclasses.dataclass(frozen=True)
class ESNCfg:
    """Echo state network (leaky tanh)."""

    spectral_radius: float = param(0.9, gt=0, doc="spectral radius rho of W")
    input_scaling: float = param(0.3, gt=0)
    input_distribution: str = param("uniform", choices=("uniform", "bernoulli"),
                                    doc="input weights uniform[-1, 1] or +-1, times input_scaling")
    density: float = param(0.1, gt=0, le=1, doc="fraction of nonzero recurrent weights")
    weight_distribution: str = param("uniform", choices=WEIGHT_DISTRIBUTIONS,
                                     doc="recurrent weights uniform[-1, 1] or standard normal, before scaling to rho")
    leak: float = param(1.0, gt=0, le=1, doc="leak rate a (timescale 1/a samples)")
    bias_scaling: float = param(0.3, ge=0)
    noise: float = param(0.0, ge=0, doc="state noise std")


@dataclasses.dataclass(frozen=True)
class STNOCfg:
    """Spin-torque oscillators: dp/dt = -2p[Gamma_G(1+Qp) - Gamma_G zeta(t)(1-p)]."""

    gamma_g: float = param(0.5, gt=0, doc="Gilbert damping rate Gamma_G (1/ns)")
    q: float = param(0.5, ge=0, doc="nonlinear damping Q")
    zeta_dc: float = param(1.5, ge=0, doc="dc current / threshold current")
    zeta_max: float = param(4.0, gt=0, doc="current limit (units of the threshold)")
    sample_time: float = param(2.0, gt=0, doc="input-sample interval (ns)")
    substeps: int = param(40, ge=1, doc="Euler steps per sample (dt = sample_time / substeps)")
    noise: float = param(0.0, ge=0, doc="thermal noise D (1/ns)")
    input_scaling: float = param(0.5, gt=0)
    coupling: float = param(1.0, ge=0, doc="spectral radius of the mutual coupling (0: uncoupled)")
    bias_scaling: float = param(0.2, ge=0)


@dataclasses.dataclass(frozen=True)
class DelayCfg:
    """Delay node with Mackey-Glass nonlinearity and virtual nodes (Appeltant et al. 2011)."""

    eta: float = param(0.9, gt=0, doc="feedback strength")
    p: float = param(1.0, gt=0, doc="Mackey-Glass exponent")
    theta: float = param(0.2, gt=0, doc="virtual-node separation / node response time")
    noise: float = param(0.0, ge=0)
    input_scaling: float = param(0.1, gt=0, doc="gamma (mask amplitude)")
    bias_scaling: float = param(0.0, ge=0)


@dataclasses.dataclass(frozen=True)
class MTJCfg:
    """Superparamagnetic tunnel junctions (Neel-Arrhenius two-state switching)."""

    delta: float = param(5.0, gt=0, doc="thermal stability factor Delta")
    f0: float = param(1.0, gt=0, doc="attempt frequency (1/ns)")
    sample_time: float = param(100.0, gt=0, doc="input-sample interval (ns)")
    n_junctions: int = param(100, ge=1, doc="junctions per node")
    noise: bool = param(False, doc="binomial switching noise on")
    input_scaling: float = param(0.3, gt=0)
    coupling: float = param(0.5, ge=0, doc="spectral radius of the coupling (0: uncoupled)")
    bias_scaling: float = param(0.2, ge=0)


@dataclasses.dataclass(frozen=True)
class ReservoirCfg:
    """Which device and how many nodes; per-device parameters in the sub-tables."""

    device: str = param("esn", choices=DEVICES)
    units: int = param(100, ge=1, doc="nodes (ESN units, oscillators, virtual nodes, MTJ nodes)")
    esn: ESNCfg = section(ESNCfg)
    stno: STNOCfg = section(STNOCfg)
    delay: DelayCfg = section(DelayCfg)
    mtj: MTJCfg = section(MTJCfg)


@dataclasses.dataclass(frozen=True)
class TaskCfg:
    """Time-series task and its split (contiguous: washout | train | val | test)."""

    name: str = param("narma10", choices=TASKS)
    horizon: int = param(1, ge=1, doc="Mackey-Glass prediction horizon (samples)")
    tau: float = param(17.0, gt=0, doc="Mackey-Glass delay")
    washout: int = param(200, ge=0)
    n_train: int = param(4000, ge=10)
    n_val: int = param(1000, ge=10)
    n_test: int = param(2000, ge=10)
    max_delay: int = param(0, ge=0, doc="memory task: largest delay k (0: 2 x units)")
    period: float = param(40.0, gt=2, doc="sine-to-square period (samples)")
    lorenz_dt: float = param(0.02, gt=0, doc="Lorenz sampling interval")
    forecast_steps: int = param(1000, ge=1, doc="Lorenz closed-loop forecast length (samples)")
    standardize: bool = param(False, doc="scale the input to zero mean, unit std on the training part")


@dataclasses.dataclass(frozen=True)
class ReadoutCfg:
    """Ridge readout; alpha chosen on the validation split."""

    alphas: list[float] = param(list(DEFAULT_ALPHAS), gt=0, nonempty=True)
    with_input: bool = param(False, doc="also feed the input u(t) to the readout")



def _check_device(r: ReservoirCfg) -> None:
    try:
        if r.device != "esn":
            build(r, 1, 0).device.check()
    except DeviceError as e:
        raise ConfigError(f"reservoir.{r.device}: {e}") from None


def _device_kwargs(r: ReservoirCfg, kind: str) -> dict:
    c = getattr(r, kind)
    d = dataclasses.asdict(c)
    if kind == "esn":
        return d
    if kind == "mtj":
        d["noise"] = 1.0 if d["noise"] else 0.0
    return d


def build(r: ReservoirCfg, d_in: int, seed: int, kind: str | None = None, units: int | None = None,
          trainable: bool = False) -> Reservoir:
    """A reservoir of ``kind`` (default ``r.device``) from its config section."""
    kind = kind or r.device
    return MAKERS[kind](units or r.units, d_in, seed=seed, trainable=trainable, **_device_kwargs(r, kind))



def _task_data(t: TaskCfg, units: int, root: int) -> tuple[np.ndarray, np.ndarray]:
    """Input and target series of the task, drawn from the ``data.series`` stream of root seed ``root``."""
    seed = Seeds(root).int("data.series")
    total = t.washout + t.n_train + t.n_val + t.n_test
    if t.name == "narma10":
        return ts.narma10(total, seed)
    if t.name == "mackey_glass":
        return ts.mackey_glass(total, horizon=t.horizon, tau=t.tau, seed=seed)
    if t.name == "memory":
        return ts.memory_task(total, t.max_delay or 2 * units, seed)
    if t.name == "sine_square":
        return ts.sine_square(total, t.period, seed)
    x = ts.lorenz_series(total + 1, dt=t.lorenz_dt, seed=seed)
    return x[:-1], x[1:]



def _standardize(u: np.ndarray, n_fit: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mu, sd = u[:n_fit].mean(0), u[:n_fit].std(0) + 1e-12
    return (u - mu) / sd, mu, sd
