"""Pillar 4: physical reservoir computing.

Experiments:

* ``reservoir_timeseries``: one reservoir (ESN, STNO network, delay node, SMTJ network)
  with a ridge readout (regularisation chosen on a validation split) on NARMA10,
  Mackey-Glass (h-step), linear memory capacity, sine-to-square or Lorenz forecasting.
* ``reservoir_fsdd``: spoken digits (FSDD), MFCC features, state-averaged ridge readout;
  standard split and leave-one-speaker-out.
* ``reservoir_network``: heterogeneous device network (parallel or deep) trained by
  backpropagation through the device models (optionally with device noise on), compared
  with every single-kind network of the same node count over several seeds.

NRMSE everywhere is RMS error divided by the target's standard deviation.

Every random draw of a run comes from a named stream of ``Seeds(root)``: ``data.series`` (the input
series), ``device.<kind>`` (a reservoir's weights; ``device.<kind>.<layer>`` in a device network),
``device.noise`` (state noise of a noisy reservoir), ``data.val_split.<split>`` (FSDD validation
split of each train/test split), ``eval.noise`` (device noise while a network is evaluated); the
Trainer names its own streams after the fit. ``reservoir_network`` runs root seeds ``seed``,
``seed + 1``, ... (each the root of its own streams). Each run saves the arrays of its figures under
``data/`` and its experiment's ``figures(run_dir)`` draws every figure from the run folder
(``physlearning report`` redraws them); ``template(cfg)`` is the checkpoint's shape.
"""

from __future__ import annotations

import dataclasses
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from physlearning.config import SEED_LIMIT, ConfigError, check_memory, param, section, seed_param
from physlearning.core import Seeds
from physlearning.errors import DivergenceError
from physlearning.rules.autodiff import Autodiff
from physlearning.rules.ridge import DEFAULT_ALPHAS, fit_ridge_cv, sequence_features
from physlearning.runs import plots
from physlearning.runs.registry import Experiment
from physlearning.runs.store import read_metrics
from physlearning.substrates.reservoirs import MAKERS, DeviceError, DeviceNetwork, Reservoir, check_finite
from physlearning.substrates.reservoirs.base import WEIGHT_DISTRIBUTIONS
from physlearning.substrates.reservoirs.network import WashoutMSE
from physlearning.tasks import timeseries as ts
from physlearning.train.batches import SeriesChunks
from physlearning.train.optim import OptimizerSpec
from physlearning.train.trainer import Trainer

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


@dataclasses.dataclass(frozen=True)
class TimeseriesConfig:
    """Config of ``reservoir_timeseries``: one reservoir on a time-series task (NARMA10, Mackey-Glass,
    memory capacity, sine-to-square, Lorenz) with a ridge readout."""

    seed: int = seed_param(0, doc="seed of the input series, the reservoir's weights and its noise")
    task: TaskCfg = section(TaskCfg)
    reservoir: ReservoirCfg = section(ReservoirCfg)
    readout: ReadoutCfg = section(ReadoutCfg)

    def validate(self) -> None:
        t = self.task
        if t.name == "memory":
            k = t.max_delay or 2 * self.reservoir.units
            if t.washout < k:
                raise ConfigError(f"task.washout = {t.washout} is too short for the memory task with max_delay = {k} "
                                  f"(need washout >= max_delay)")
        if t.name == "lorenz" and t.forecast_steps > t.n_test:
            raise ConfigError(f"task.forecast_steps = {t.forecast_steps}: must be <= task.n_test = {t.n_test}")
        _check_device(self.reservoir)
        # memory: the N x N coupling matrix (drawn in float64, with its spectral radius: ~32 bytes an entry), the
        # T x N states (float32, float64 for the ridge fit), the ridge Gram matrices, the targets (memory: one
        # per delay) and the input series (Mackey-Glass integrates 10 steps per sample)
        n, steps = self.reservoir.units, t.washout + t.n_train + t.n_val + t.n_test + 1
        k = (t.max_delay or 2 * n) if t.name == "memory" else (3 if t.name == "lorenz" else 1)
        parts = {"the coupling matrix": 32.0 * n**2, "reservoir states": 12.0 * steps * (n + 3),
                 "ridge Gram matrices": 24.0 * (n + 4) ** 2, "targets and predictions": 24.0 * steps * k,
                 "the input series": 80.0 * steps}
        check_memory(sum(parts.values()), "the reservoir, its states and the readout", {
            "reservoir.units": n, "task.washout": t.washout, "task.n_train": t.n_train, "task.n_val": t.n_val,
            "task.n_test": t.n_test, **({"task.max_delay": t.max_delay} if t.name == "memory" else {})}, parts=parts)


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


# ----------------------------------------------------------------------------- time series


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


def reservoir_states(res: Reservoir, u: np.ndarray, key=None) -> np.ndarray:
    """Measured states (T, n) of ``res`` for input ``u`` (T, d) (jitted scan), checked finite."""
    ts.check_series(np.asarray(u), washout=0, name="reservoir input")
    phi = np.asarray(_states_jit(res, jnp.asarray(u, jnp.float32), key))
    check_finite(phi, res.device)
    return phi


@eqx.filter_jit
def _states_jit(res, u, key):
    return res.states(u, key)


def _standardize(u: np.ndarray, n_fit: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mu, sd = u[:n_fit].mean(0), u[:n_fit].std(0) + 1e-12
    return (u - mu) / sd, mu, sd


def timeseries_template(cfg: TimeseriesConfig) -> Reservoir:
    """The run's reservoir (its ``device.<kind>`` stream; the checkpoint's shape): ``load_run(...).predict(u)``
    gives the ridge readout applied to its noiseless states for input series ``u`` (B, T, d) as the run fed them
    (standardised with ``task.standardize``; the readout then takes the states only: ``readout.with_input = false``)."""
    r = cfg.reservoir
    return build(r, 3 if cfg.task.name == "lorenz" else 1, Seeds(cfg.seed).int(f"device.{r.device}"))


def run_timeseries(cfg: TimeseriesConfig, store) -> dict:
    """Drive the reservoir with the task's input, fit the ridge readout (alpha on validation) and
    score the test split (NRMSE = RMS error / std(target); memory capacity or Lorenz valid time
    where the task asks); writes the figures' data, checkpoint and readout to ``store``
    (:func:`timeseries_figures` draws the figures)."""
    t, r = cfg.task, cfg.reservoir
    u_raw, y = _task_data(t, r.units, cfg.seed)
    u_raw = ts.check_series(u_raw, t.washout)
    n_fit = t.washout + t.n_train
    u, mu, sd = _standardize(u_raw, n_fit) if t.standardize else (u_raw, 0.0, 1.0)
    res = timeseries_template(cfg)
    key = Seeds(cfg.seed).key("device.noise") if getattr(getattr(r, r.device), "noise", 0) else None
    t0 = time.perf_counter()
    phi = reservoir_states(res, u, key)
    states_s = time.perf_counter() - t0
    feats = np.concatenate([phi, u], 1) if cfg.readout.with_input else phi
    w, a, b = t.washout, n_fit, n_fit + t.n_val
    readout, scores = fit_ridge_cv(feats[w:a], y[w:a], feats[a:b], y[a:b], tuple(cfg.readout.alphas))
    pred = readout(feats[b:])
    target = y[b:]
    for alpha, mse in scores.items():
        store.log({"alpha": alpha, "val_mse": mse})
    store.save_checkpoint(res)
    store.save_array("readout.npz", w=readout.w, b=readout.b, alpha=readout.alpha)
    out: dict = {"task": t.name, "device": r.device, "units": r.units, "alpha": readout.alpha,
                 "states_time_s": states_s,
                 "nrmse_definition": "RMS error / std(target) on the test split"}
    if t.name == "memory":
        mc, curve = ts.memory_capacity(pred, target)
        out["memory_capacity"] = mc
        store.save_figure_data("memory_capacity", curve=curve, title=f"{r.device}, {r.units} nodes: MC = {mc:.1f}")
        return out
    out["nrmse"] = ts.nrmse(pred, target)
    out["nrmse_val"] = ts.nrmse(readout(feats[a:b]), y[a:b])
    if t.name == "lorenz":
        fc = _closed_loop(res, readout, phi, u, mu, sd, b, t.forecast_steps, cfg.readout.with_input)
        truth = y[b - 1:b - 1 + t.forecast_steps]
        out["valid_time_lyapunov"] = ts.valid_time(fc, truth, t.lorenz_dt)
        store.save_figure_data(
            "forecast", target=truth, pred=fc, dt=t.lorenz_dt * ts.LORENZ_LYAPUNOV, xlabel="Lyapunov times",
            title=f"Lorenz closed-loop forecast: valid time {out['valid_time_lyapunov']:.2f} Lyapunov times")
    # the input series as fed to the reservoir (``inputs``): the plotted predictions are the readout of its
    # states from step ``start`` on
    store.save_figure_data("prediction", target=target[:300], pred=pred[:300], inputs=u, start=b,
                           title=f"{t.name}, {r.device} {r.units} nodes: test NRMSE {out['nrmse']:.3g} "
                                 "(/ std of target)")
    return out


def _figure_data(run_dir, name: str) -> dict | None:
    """The arrays ``data/<name>.npz`` of a run folder (None when the run saved none)."""
    path = run_dir / "data" / f"{name}.npz"
    if not path.is_file():
        return None
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def timeseries_figures(run_dir) -> list[str]:
    """prediction.png (``data/prediction.npz``: test targets and predictions), forecast.png (Lorenz:
    ``data/forecast.npz``) or memory_capacity.png (memory task: ``data/memory_capacity.npz``)."""
    drawn = []
    if (d := _figure_data(run_dir, "memory_capacity")) is not None:
        drawn.append(_plot_mc(d["curve"], run_dir / "plots" / "memory_capacity.png", str(d["title"])))
    if (d := _figure_data(run_dir, "forecast")) is not None:
        drawn.append(_plot_series(d["target"], d["pred"], run_dir / "plots" / "forecast.png", str(d["title"]),
                                  dt=float(d["dt"]), xlabel=str(d["xlabel"])))
    if (d := _figure_data(run_dir, "prediction")) is not None:
        drawn.append(_plot_series(d["target"], d["pred"], run_dir / "plots" / "prediction.png", str(d["title"])))
    return drawn


def _closed_loop(res: Reservoir, readout, phi, u, mu, sd, start: int, steps: int, with_input: bool) -> np.ndarray:
    """Autonomous forecast: teacher forcing up to ``start - 1``, then the readout's output
    (re-standardised) is the next input. Returns (steps, d) in data units."""
    w = jnp.asarray(readout.w, jnp.float32)
    b = jnp.asarray(readout.b, jnp.float32)
    mu = jnp.asarray(mu, jnp.float32)
    sd = jnp.asarray(sd, jnp.float32)
    s0 = jnp.asarray(phi[start - 2], jnp.float32)
    u0 = jnp.asarray(u[start - 1], jnp.float32)

    @jax.jit
    def loop(s0, u0):
        def body(carry, _):
            s, ut = carry
            s = res.step(s, ut, None)
            f = jnp.concatenate([res.device.observe(s), ut]) if with_input else res.device.observe(s)
            y = f @ w + b
            return (s, (y - mu) / sd), y

        return jax.lax.scan(body, (s0, u0), None, length=steps)[1]

    return np.asarray(loop(s0, u0), np.float64)


def _plot_series(target, pred, path, title, dt: float = 1.0, xlabel: str = "time step"):
    import matplotlib.pyplot as plt

    target, pred = np.atleast_2d(target.T).T, np.atleast_2d(pred.T).T
    k = target.shape[1]
    fig, axes = plt.subplots(k, 1, figsize=(8, 2.2 * k + 0.6), squeeze=False)
    tt = np.arange(len(target)) * dt
    for i in range(k):
        ax = axes[i, 0]
        ax.plot(tt, target[:, i], "k-", lw=1.2, label="target")
        ax.plot(tt, pred[:, i], "r--", lw=1.0, label="prediction")
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8, loc="upper right")
    axes[-1, 0].set_xlabel(xlabel)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path.name


def _plot_mc(curve, path, title):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(np.arange(1, len(curve) + 1), curve, "b.-", ms=3)
    ax.set_xlabel("delay k")
    ax.set_ylabel("MC_k = r^2(u(t-k), y_k(t))")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path.name


# ----------------------------------------------------------------------------- spoken digits


@dataclasses.dataclass(frozen=True)
class AudioCfg:
    """FSDD directory and MFCC settings."""

    dir: str = param("", path="dir", doc="FSDD folder (holding recordings/*.wav)")
    max_frames: int = param(100, ge=1, doc="frames kept (10 ms hop)")
    n_mfcc: int = param(13, ge=1)
    limit: int = param(0, ge=0, doc="read only N files, a fixed random subset (0: all; for quick tests)")
    cmn: bool = param(True, doc="cepstral mean normalisation (subtract each recording's mean MFCC)")


@dataclasses.dataclass(frozen=True)
class FSDDConfig:
    """Config of ``reservoir_fsdd``: spoken-digit classification (FSDD, MFCC features) with a
    reservoir and a ridge classifier on the sequence's averaged (or last) states."""

    seed: int = seed_param(0, doc="seed of the reservoir's weights and the validation split")
    data: AudioCfg = section(AudioCfg)
    reservoir: ReservoirCfg = section(ReservoirCfg)
    readout_mode: str = param("mean+last", choices=("mean", "last", "mean+last"))
    alphas: list[float] = param([10.0**k for k in range(-6, 4)], gt=0, nonempty=True)
    val_frac: float = param(0.1, gt=0, lt=1, doc="validation share carved from the training set")
    speaker_folds: bool = param(True, doc="also run leave-one-speaker-out over every speaker")

    def validate(self) -> None:
        if not self.data.dir:
            raise ConfigError("data.dir = '': give the FSDD folder (for example ../shared/data/fsdd)")
        _check_device(self.reservoir)
        from physlearning.tasks import audio

        if self.data.n_mfcc > audio.N_MELS:
            raise ConfigError(f"data.n_mfcc = {self.data.n_mfcc}: allowed values are 1 to {audio.N_MELS} (the DCT of "
                              f"the {audio.N_MELS} mel-filter log energies has {audio.N_MELS} coefficients)")
        try:
            files = audio.recording_files(self.data.dir)
        except audio.DataError:
            files = []  # the pre-flight check names what is missing
        chosen = audio.subset(files, self.data.limit)
        if files and (problem := audio.split_problem(chosen, self.val_frac, self.speaker_folds)):
            if self.data.limit and len(chosen) < len(files):
                k = audio.smallest_limit(files, self.val_frac, self.speaker_folds)
                allowed = f"data.limit = 0 (all {len(files)} files)" + (f" or data.limit >= {k}" if k else "")
                raise ConfigError(f"data.limit = {self.data.limit}: the {len(chosen)} recordings it reads (a fixed "
                                  f"random subset of the {len(files)} in data.dir) do not make the splits: {problem}; "
                                  f"allowed: {allowed}")
            raise ConfigError(f"data.dir = {self.data.dir!r}: its {len(files)} recordings do not make the splits: "
                              f"{problem}" + ("; or set speaker_folds = false" if self.speaker_folds else ""))
        # memory: coupling matrix, the MFCC sequences (float64 while read, float32 copies), the states of
        # every recording (float32, concatenated from chunks of 250)
        n, rec, frames, m = self.reservoir.units, len(chosen) or 3000, self.data.max_frames, self.data.n_mfcc
        parts = {"the coupling matrix": 32.0 * n**2, "MFCC sequences": 24.0 * rec * frames * m,
                 "reservoir states": 8.0 * (rec + 250) * frames * n}
        check_memory(sum(parts.values()), f"the reservoir and the sequences of {rec} recordings", {
            "reservoir.units": n, "data.max_frames": frames, "data.n_mfcc": m, "data.limit": self.data.limit},
            parts=parts)


def _fsdd_preflight(cfg: FSDDConfig) -> None:
    from physlearning.tasks import audio

    audio.recording_files(cfg.data.dir)


def _classify(feats, labels, train, test, alphas, val_frac, seed):
    """Ridge classifier on ``train`` (validation split drawn with int ``seed``), accuracy on ``test``."""
    from physlearning.tasks.datasets import stratified_split

    idx = np.nonzero(train)[0]
    digits, counts = np.unique(labels[idx], return_counts=True)
    if len(digits) < 2 or counts.min() < 2:
        raise ConfigError(f"fsdd: training recordings per digit {dict(zip(digits.tolist(), counts.tolist()))}: every "
                          "digit read needs at least 2, and at least 2 digits are needed, for the validation split "
                          "(read more files: raise or unset data.limit)")
    tr, _, va, _ = stratified_split(idx, labels[idx], val_frac, seed)
    onehot = np.eye(10)[labels]
    readout, _ = fit_ridge_cv(feats[tr], onehot[tr], feats[va], onehot[va], tuple(alphas), score="accuracy")
    pred = readout(feats[test]).argmax(1)
    return float(np.mean(pred == labels[test])), pred, readout


def run_fsdd(cfg: FSDDConfig, store) -> dict:
    """MFCC -> reservoir states -> ridge classifier: test accuracy on the standard split
    (recording index 0-4 held out) and, with ``speaker_folds``, on each held-out speaker."""
    from physlearning.tasks import audio

    data = audio.load_fsdd(cfg.data.dir, cfg.data.max_frames, cfg.data.n_mfcc, cfg.data.limit or None)
    train_rec, test_rec = audio.recording_split(data)
    if not test_rec.any() or not train_rec.any():
        raise ConfigError("fsdd: the standard split is empty (need recordings with index 0-4 and 5-49)")
    if cfg.speaker_folds and len(set(data.speaker.tolist())) < 2:
        raise ConfigError(f"fsdd: speaker_folds needs at least 2 speakers; the files hold "
                          f"{sorted(set(data.speaker.tolist()))}")
    x = data.x
    valid = np.arange(x.shape[1])[None, :] < data.lengths[:, None]
    if cfg.data.cmn:
        x = x - (x * valid[..., None]).sum(1, keepdims=True) / data.lengths[:, None, None]
    frames = x[train_rec][valid[train_rec]]
    x = (x - frames.mean(0)) / (frames.std(0) + 1e-6)
    seeds = Seeds(cfg.seed)
    res = fsdd_template(cfg)
    t0 = time.perf_counter()
    run = eqx.filter_jit(jax.vmap(lambda s: res.states(s)))
    states = np.concatenate([np.asarray(run(jnp.asarray(x[i:i + 250]))) for i in range(0, len(x), 250)])
    check_finite(states, res.device)
    states_s = time.perf_counter() - t0
    feats = sequence_features(states, data.lengths, cfg.readout_mode)
    acc, pred, readout = _classify(feats, data.digit, train_rec, test_rec, cfg.alphas, cfg.val_frac,
                                   seeds.int("data.val_split.recording"))
    store.save_figure_data("confusion", y_true=data.digit[test_rec], y_pred=pred,
                           title=f"FSDD {cfg.reservoir.device} {cfg.reservoir.units}: test acc {acc:.3f}")
    store.save_checkpoint(res)
    store.save_array("readout.npz", w=readout.w, b=readout.b, alpha=readout.alpha)
    out = {"device": cfg.reservoir.device, "units": cfg.reservoir.units, "test_accuracy": acc,
           "n_train": int(train_rec.sum()), "n_test": int(test_rec.sum()), "alpha": readout.alpha,
           "states_time_s": states_s,
           "features": f"MFCC {cfg.data.n_mfcc} (25 ms Hamming / 10 ms hop, 26 mel, soundfile + numpy/scipy), "
                       f"{'per-recording mean removed, ' if cfg.data.cmn else ''}standardised; "
                       f"readout on {cfg.readout_mode} states"}
    store.log({"split": "recording", "test_accuracy": acc})
    if cfg.speaker_folds:
        accs = {}
        for spk in sorted(set(data.speaker.tolist())):
            tr, te = audio.speaker_split(data, spk)
            accs[spk] = _classify(feats, data.digit, tr, te, cfg.alphas, cfg.val_frac,
                                  seeds.int(f"data.val_split.speaker:{spk}"))[0]
            store.log({"split": f"speaker:{spk}", "test_accuracy": accs[spk]})
        vals = np.array(list(accs.values()))
        out.update(speaker_accuracy_mean=float(vals.mean()), speaker_accuracy_std=float(vals.std()),
                   speaker_accuracy=accs)
    return out


def fsdd_template(cfg: FSDDConfig) -> Reservoir:
    """The run's reservoir (its ``device.<kind>`` stream; the checkpoint's shape). Its readout (``readout.npz``)
    takes the sequence features (``readout_mode`` over each recording's valid frames), not per-frame states."""
    r = cfg.reservoir
    return build(r, cfg.data.n_mfcc, Seeds(cfg.seed).int(f"device.{r.device}"))


def fsdd_figures(run_dir) -> list[str]:
    """confusion.png (``data/confusion.npz``: digits and predictions on the standard test split)."""
    if (d := _figure_data(run_dir, "confusion")) is None:
        return []
    cm = np.zeros((10, 10), int)
    np.add.at(cm, (d["y_true"].astype(int), d["y_pred"].astype(int)), 1)
    return [plots.confusion(cm, run_dir / "plots" / "confusion.png", str(d["title"])).name]


# ----------------------------------------------------------------------------- device networks


@dataclasses.dataclass(frozen=True)
class NetTrainCfg:
    """Backpropagation through the device models (Adam), then a ridge refit of the readout."""

    steps: int = param(300, ge=0, doc="Adam steps (0: ridge readout only)")
    lr: float = param(0.003, gt=0)
    chunk: int = param(200, ge=10, doc="training chunk length (samples) incl. washout")
    chunk_washout: int = param(50, ge=0)
    batch: int = param(8, ge=1, doc="chunks per step")
    noise_aware: bool = param(False, doc="train with the device noise on (evaluation always runs the devices "
                                         "with their configured noise)")


@dataclasses.dataclass(frozen=True)
class NetworkConfig:
    """Config of ``reservoir_network``: a network of device reservoirs (``kinds``, parallel or
    deep) trained by backpropagation through the device models, against every single-kind
    network of the same node count, over ``n_seeds`` seeds."""

    seed: int = seed_param(0, doc="first seed (of the series, the weights and training)")
    n_seeds: int = param(5, ge=1, doc="seeds seed .. seed + n_seeds - 1")
    kinds: list[str] = param(["stno", "mtj"], choices=("esn", "stno", "delay", "mtj"), nonempty=True)
    arrangement: str = param("deep", choices=("parallel", "deep"))
    nodes: int = param(40, ge=2, doc="total nodes (split evenly over kinds)")
    compare_single: bool = param(True, doc="also train every single-kind network of the same node count")
    task: TaskCfg = section(TaskCfg)
    reservoir: ReservoirCfg = section(ReservoirCfg)
    train: NetTrainCfg = section(NetTrainCfg)
    alphas: list[float] = param(list(DEFAULT_ALPHAS), gt=0, nonempty=True)

    def validate(self) -> None:
        unused = {"reservoir.units": (self.reservoir.units, ReservoirCfg().units, "the node count is `nodes`"),
                  "reservoir.device": (self.reservoir.device, ReservoirCfg().device, "the device kinds are `kinds`"),
                  "task.standardize": (self.task.standardize, TaskCfg().standardize,
                                                  "the network always standardises its input")}
        for key, (value, default, instead) in unused.items():
            if value != default:
                raise ConfigError(f"{key} = {value!r}: not used by reservoir_network ({instead}); leave it out")
        if self.nodes < len(self.kinds):
            raise ConfigError(f"nodes = {self.nodes}: need at least one node per kind ({len(self.kinds)} kinds)")
        if self.task.name not in ("narma10", "mackey_glass", "sine_square"):
            raise ConfigError(f"task.name = {self.task.name!r}: allowed values for networks are "
                              "['narma10', 'mackey_glass', 'sine_square']")
        if self.train.chunk_washout >= self.train.chunk:
            raise ConfigError(f"train.chunk = {self.train.chunk} is too short for train.chunk_washout = "
                              f"{self.train.chunk_washout}")
        if self.train.chunk > self.task.n_train:
            raise ConfigError(f"train.chunk = {self.train.chunk}: must be <= task.n_train = {self.task.n_train}")
        for k in self.kinds:
            _check_device(dataclasses.replace(self.reservoir, device=k))
        if self.seed + self.n_seeds > SEED_LIMIT:
            raise ConfigError(f"seed = {self.seed}, n_seeds = {self.n_seeds}: the seeds run to seed + n_seeds - 1 = "
                              f"{self.seed + self.n_seeds - 1}; allowed: seed + n_seeds - 1 < 2**32")
        # memory: coupling matrices, the series' states (float32, float64 for the ridge fit), and the
        # backpropagation through time of a batch of chunks (every device substep kept, a few arrays each)
        t, n = self.task, self.nodes
        steps = t.washout + t.n_train + t.n_val + t.n_test
        sub = self.reservoir.stno.substeps if "stno" in self.kinds else 1
        n_chunks = (t.n_train - self.train.chunk) // max(self.train.chunk // 2, 1) + 1  # half-overlapping chunks
        parts = {"coupling matrices": 32.0 * n**2, "states and ridge fit": 12.0 * steps * n + 24.0 * (n + 1) ** 2,
                 "backpropagation through time": 16.0 * min(self.train.batch, n_chunks) * self.train.chunk * n * sub}
        check_memory(sum(parts.values()), "the device network, its states and training", {
            "nodes": n, "train.batch": self.train.batch, "train.chunk": self.train.chunk,
            **({"reservoir.stno.substeps": sub} if "stno" in self.kinds else {}), "task.n_train": t.n_train},
            parts=parts)


def build_network(cfg: NetworkConfig, kinds: list[str], root: int, d_in: int = 1) -> DeviceNetwork:
    """Layers of ``kinds`` sharing ``cfg.nodes`` nodes, trainable weights (layer ``i`` of kind ``k`` from the
    ``device.<k>.<i>`` stream of root seed ``root``), readout zero."""
    seeds = Seeds(root)
    sizes = [cfg.nodes // len(kinds) + (1 if i < cfg.nodes % len(kinds) else 0) for i in range(len(kinds))]
    layers, prev = [], 0
    for i, (k, n) in enumerate(zip(kinds, sizes)):
        extra = prev if (cfg.arrangement == "deep" and i > 0) else 0
        layers.append(build(cfg.reservoir, d_in + extra, seeds.int(f"device.{k}.{i}"), kind=k, units=n,
                            trainable=True))
        prev = n
    return DeviceNetwork(tuple(layers), jnp.zeros((1, cfg.nodes + 1)), cfg.arrangement, cfg.train.chunk_washout)


def _train_network(net: DeviceNetwork, u_tr, y_tr, tc: NetTrainCfg, seed: int, log=None, store=None,
                   name: str = "network") -> DeviceNetwork:
    """Adam on all weights of ``net`` through the device models (the package :class:`Trainer`):
    ``tc.steps`` steps on ``tc.batch`` chunks of ``tc.chunk`` samples (every ``chunk // 2``),
    MSE after the network's washout, device noise on when ``tc.noise_aware``. ``log(step, mse)``
    gets the mean training MSE of each epoch (``step``: updates so far); divergence raises
    :class:`~physlearning.errors.DivergenceError` naming ``train.lr``. An epoch (one loss record,
    checkpoint and resumable state) is the largest step count in 10..25 dividing ``tc.steps``, else
    all ``tc.steps`` (one epoch), so the total is exactly ``tc.steps``."""
    if tc.steps == 0:
        return net
    spe = next((d for d in range(25, 9, -1) if tc.steps % d == 0), tc.steps)
    epochs = tc.steps // spe
    source = SeriesChunks(np.asarray(u_tr, np.float32), np.asarray(y_tr, np.float32), tc.chunk, tc.batch, spe,
                          hop=tc.chunk // 2)
    on_epoch = None if log is None else (lambda epoch, model, rec: log(epoch * spe, rec["train_loss"]))
    trainer = Trainer(Autodiff(noisy=tc.noise_aware), WashoutMSE(net.washout), OptimizerSpec("adam", tc.lr),
                      epochs, seed=seed, store=store, select="final", progress=False, desc=name, name=name,
                      on_epoch=on_epoch)
    try:
        return trainer.fit(net, source).model
    except DivergenceError as e:
        raise DivergenceError(f"device network {name}: {e}; lower train.lr (= {tc.lr}) or the input "
                              "scaling") from None


def _evaluate_network(net: DeviceNetwork, u, y, w: int, a: int, b: int, alphas,
                      key=None) -> tuple[float, float, np.ndarray, DeviceNetwork]:
    """Ridge refit of the readout on the network's features: test and validation NRMSE, test predictions,
    and the network with the refit readout as ``w_out`` (what the run checkpoints)."""
    phi = np.asarray(_features_jit(net, jnp.asarray(u, jnp.float32), key))
    check_finite(phi, net.layers[0].device, "device network")
    readout, _ = fit_ridge_cv(phi[w:a], y[w:a], phi[a:b], y[a:b], tuple(alphas))
    pred = readout(phi[b:])
    w_out = np.concatenate([np.asarray(readout.w).T, np.asarray(readout.b).reshape(-1, 1)], axis=1)
    refit = eqx.tree_at(lambda m: m.w_out, net, jnp.asarray(w_out, net.w_out.dtype))
    return ts.nrmse(pred, y[b:]), ts.nrmse(readout(phi[a:b]), y[a:b]), pred, refit


@eqx.filter_jit
def _features_jit(net, u, key):
    return net.features(u, key)


def run_network(cfg: NetworkConfig, store) -> dict:
    """Train the heterogeneous network and each single-kind network for every seed (Adam
    through the device models, then a ridge refit of the readout); report test NRMSE per seed,
    mean +- std, and whether the heterogeneous network beats the best single kind (the one with
    the lowest mean validation NRMSE). Seed ``cfg.seed + k`` is the root of its own streams.
    Checkpoint: the heterogeneous network of the first seed with its ridge-refit readout (``load_run(...).predict``
    on the standardised input series gives its test predictions); the figures are drawn from the run folder by
    :func:`network_figures`."""
    t = cfg.task
    candidates = {"+".join(cfg.kinds) + f" ({cfg.arrangement})": list(cfg.kinds)}
    if cfg.compare_single:
        candidates.update({k: [k] for k in dict.fromkeys(cfg.kinds + ["stno", "delay", "mtj"])})
    results: dict[str, list[float]] = {name: [] for name in candidates}
    results_val: dict[str, list[float]] = {name: [] for name in candidates}
    best_pred, saved = None, None
    for s in range(cfg.seed, cfg.seed + cfg.n_seeds):  # s: the root seed of this repetition
        u_raw, y = _task_data(t, cfg.nodes, s)
        u_raw = ts.check_series(u_raw, t.washout)
        w, a = t.washout, t.washout + t.n_train
        b = a + t.n_val
        u, _, _ = _standardize(u_raw, a)
        ym, ys = y[w:a].mean(0), y[w:a].std(0)
        y_tr = (y[w:a] - ym) / ys
        for name, kinds in candidates.items():
            net = build_network(cfg, kinds, s)
            net = eqx.tree_at(lambda m: m.w_out, net, jnp.zeros((1, net.n_features + 1)))
            log = lambda i, loss, name=name, s=s: store.log({"model": name, "seed": s, "step": i, "train_mse": loss})
            net = _train_network(net, u[w:a], y_tr, cfg.train, s, log, store, name=f"network[{name}]-seed{s}")
            noisy = any(layer.device.noise > 0 for layer in net.layers)
            eval_key = Seeds(s).key("eval.noise") if noisy else None  # noisy hardware stays noisy at test
            nr, nv, pred, refit = _evaluate_network(net, u, y, w, a, b, cfg.alphas, eval_key)
            results[name].append(nr)
            results_val[name].append(nv)
            store.log({"model": name, "seed": s, "test_nrmse": nr, "val_nrmse": nv})
            if name == next(iter(candidates)) and s == cfg.seed:
                best_pred, saved = (y[b:b + 300], pred[:300], u, b), refit
    if saved is not None:
        store.save_checkpoint(saved)  # after every fit: the Trainer checkpoints each network it trains
    hetero = next(iter(candidates))
    out: dict = {"task": t.name if t.name != "mackey_glass" else f"mackey_glass_h{t.horizon}", "nodes": cfg.nodes,
                 "seeds": cfg.n_seeds, "network": hetero,
                 "nrmse": float(np.mean(results[hetero])), "nrmse_std": float(np.std(results[hetero])),
                 "nrmse_definition": "RMS error / std(target) on the test split"}
    singles = {k: v for k, v in results.items() if k != hetero}
    for k, v in results.items():
        out[f"nrmse[{k}]"] = f"{np.mean(v):.4f} +- {np.std(v):.4f}"
    if singles:
        best = min(singles, key=lambda k: np.mean(results_val[k]))
        diff = np.array(results[hetero]) - np.array(singles[best])
        out.update(best_single_kind=best, best_single_nrmse=float(np.mean(singles[best])),
                   best_single_nrmse_std=float(np.std(singles[best])),
                   hetero_beats_best_single=bool(np.mean(results[hetero]) < np.mean(singles[best])),
                   paired_diff_mean=float(diff.mean()), paired_diff_std=float(diff.std()),
                   seeds_hetero_better=int((diff < 0).sum()))
    if best_pred is not None:
        # the standardised input series (``inputs``) the plotted predictions come from, from step ``start`` on
        store.save_figure_data("prediction", target=best_pred[0], pred=best_pred[1], inputs=best_pred[2],
                               start=best_pred[3],
                               title=f"{hetero}, {cfg.nodes} nodes: test NRMSE {results[hetero][0]:.3g} "
                                     f"(seed {cfg.seed})")
    store.save_figure_data("comparison", models=np.asarray(list(results)),
                           nrmse=np.asarray([results[n] for n in results]),
                           title=f"{t.name}: test NRMSE over {cfg.n_seeds} seeds")
    return out


def network_template(cfg: NetworkConfig) -> DeviceNetwork:
    """The heterogeneous network of the first seed (the checkpoint's shape)."""
    return build_network(cfg, list(cfg.kinds), cfg.seed)


def _plot_bars(results: dict[str, list[float]], path, title):
    import matplotlib.pyplot as plt

    names = list(results)
    fig, ax = plt.subplots(figsize=(1.6 * len(names) + 1, 3.2))
    ax.bar(range(len(names)), [np.mean(results[n]) for n in names], yerr=[np.std(results[n]) for n in names],
           color=["tab:red"] + ["tab:gray"] * (len(names) - 1), capsize=4)
    ax.set_xticks(range(len(names)), names, fontsize=7)
    ax.set_ylabel("test NRMSE")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path.name


def network_figures(run_dir) -> list[str]:
    """prediction.png (``data/prediction.npz``: the heterogeneous network's test predictions, first seed),
    comparison.png (``data/comparison.npz``: test NRMSE per model and seed) and curves.png (the per-epoch
    training loss of every fit, from metrics.jsonl)."""
    drawn = []
    if (d := _figure_data(run_dir, "prediction")) is not None:
        drawn.append(_plot_series(d["target"], d["pred"], run_dir / "plots" / "prediction.png", str(d["title"])))
    if (d := _figure_data(run_dir, "comparison")) is not None:
        results = {str(n): list(v) for n, v in zip(d["models"], d["nrmse"])}
        drawn.append(_plot_bars(results, run_dir / "plots" / "comparison.png", str(d["title"])))
    p = plots.curves(read_metrics(run_dir), run_dir / "plots" / "curves.png", title="reservoir_network")
    return drawn + ([] if p is None else [p.name])


# ----------------------------------------------------------------------------- gradient matrix


def matrix_rows(kinds: tuple[str, ...] = ("esn", "stno", "delay", "mtj", "stno+mtj")) -> list[dict]:
    """Readout delta rule (every device) and central finite differences over all weights
    (heterogeneous STNO -> SMTJ network) vs backprop (autodiff) through the device models,
    6-node networks, 2 random series of 30 samples (float64 when x64 is on)."""
    from jax.flatten_util import ravel_pytree

    from physlearning.core import SquaredError, tree_cosine, tree_rel_error
    from physlearning.rules.autodiff import Autodiff
    from physlearning.rules.ridge import ReadoutDeltaRule

    dtype = jnp.float64 if jax.config.jax_enable_x64 else jnp.float32
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.uniform(0, 0.5, (2, 30, 1)), dtype)
    t = jnp.asarray(rng.normal(size=(2, 30, 1)), dtype)
    cost, key = SquaredError(), jax.random.PRNGKey(0)
    stno = dataclasses.replace(STNOCfg(), zeta_dc=1.2, bias_scaling=0.05, sample_time=0.5, substeps=10)
    cfg = dataclasses.replace(ReservoirCfg(), stno=stno)
    rows = []
    for kind in kinds:
        layer_kinds = kind.split("+")
        layers = tuple(build(cfg, 1 + (3 if i else 0), 1 + i, kind=k, units=6 // len(layer_kinds),
                             trainable=True) for i, k in enumerate(layer_kinds))
        n_feat = sum(layer.device.n for layer in layers)
        w_out = jnp.asarray(rng.normal(0, 0.3, (1, n_feat + 1)))
        net = DeviceNetwork(layers, w_out, "deep" if len(layer_kinds) > 1 else "parallel")
        net = jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype) if eqx.is_inexact_array(a) else a, net)
        ref, _ = Autodiff().estimate(net, (x, t), cost, key)
        delta, _ = ReadoutDeltaRule().estimate(net, (x, t), cost, key)
        name = f"{kind} network ({n_feat} nodes)"
        rows.append({"substrate": name, "rule": "readout delta rule", "cosine": tree_cosine(delta.w_out, ref.w_out),
                     "rel_error": tree_rel_error(delta.w_out, ref.w_out), "note": "readout weights, measured states"})
        if len(layer_kinds) == 1:
            continue
        params, static = eqx.partition(net, net.param_filter())
        flat, unravel = ravel_pytree(params)
        loss = jax.jit(lambda v: jnp.mean(jax.vmap(cost)(eqx.combine(unravel(v), static).predict(x), t)))
        eps = 1e-6 if dtype == jnp.float64 else 1e-3
        basis = jnp.eye(flat.size, dtype=dtype) * eps
        fd = jax.vmap(lambda e: (loss(flat + e) - loss(flat - e)) / (2 * eps))(basis)
        ref_flat = ravel_pytree(ref)[0]
        rows.append({"substrate": name, "rule": "finite differences", "cosine": tree_cosine(fd, ref_flat),
                     "rel_error": tree_rel_error(fd, ref_flat),
                     "note": f"all {flat.size} weights (input, coupling, bias, readout), central, eps {eps:g}"})
    return rows


# ----------------------------------------------------------------------------- registry


EXPERIMENTS = [
    Experiment("reservoir_timeseries", TimeseriesConfig, run_timeseries,
               "Reservoir (ESN / STNO / delay node / SMTJ) + ridge readout on a time-series task",
               headline=("nrmse", "memory_capacity", "valid_time_lyapunov"),
               tour={"reservoir.units": 100, "task.n_train": 2000, "task.n_test": 1000},
               template=timeseries_template, figures=timeseries_figures),
    Experiment("reservoir_fsdd", FSDDConfig, run_fsdd,
               "Spoken digits (FSDD) with a reservoir: MFCC -> reservoir -> ridge on averaged states",
               headline=("test_accuracy", "speaker_accuracy_mean"), preflight=_fsdd_preflight,
               template=fsdd_template, figures=fsdd_figures),
    Experiment("reservoir_network", NetworkConfig, run_network,
               "Heterogeneous device network trained by backprop through device models vs single-kind networks",
               headline=("nrmse", "best_single_nrmse", "hetero_beats_best_single"),
               tour={"n_seeds": 2, "compare_single": True, "train.steps": 200, "task.n_train": 1000,
                     "task.n_val": 500, "task.n_test": 1000},
               template=network_template, figures=network_figures),
]
