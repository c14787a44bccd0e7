"""``reservoir_timeseries``: one reservoir (ESN, STNO network, delay node, SMTJ network) with a ridge readout
(regularisation chosen on a validation split) on NARMA10, Mackey-Glass (h-step), linear memory capacity,
sine-to-square or Lorenz forecasting: config, run, template and figures."""

from __future__ import annotations

import dataclasses
import time

import jax.numpy as jnp
import numpy as np

from physlearning.config import ConfigError, check_memory, section, seed_param
from physlearning.core import Seeds
from physlearning.experiments.reservoir.figures import _plot_series
from physlearning.experiments.reservoir.sections import (
    ReadoutCfg,
    ReservoirCfg,
    TaskCfg,
    _check_device,
    _standardize,
    _task_data,
    build,
)
from physlearning.rules.ridge import fit_ridge_cv
from physlearning.runs.registry import Experiment
from physlearning.runs.store import read_figure_data
from physlearning.substrates.reservoirs import Reservoir, check_finite
from physlearning.substrates.reservoirs.series import closed_loop as _closed_loop
from physlearning.substrates.reservoirs.series import states_jit as _states_jit
from physlearning.tasks import timeseries as ts


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


def reservoir_states(res: Reservoir, u: np.ndarray, key=None) -> np.ndarray:
    """Measured states (T, n) of ``res`` for input ``u`` (T, d) (jitted scan), checked finite."""
    ts.check_series(np.asarray(u), washout=0, name="reservoir input")
    phi = np.asarray(_states_jit(res, jnp.asarray(u, jnp.float32), key))
    check_finite(phi, res.device)
    return phi


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


def timeseries_figures(run_dir) -> list[str]:
    """prediction.png (``data/prediction.npz``: test targets and predictions), forecast.png (Lorenz:
    ``data/forecast.npz``) or memory_capacity.png (memory task: ``data/memory_capacity.npz``)."""
    drawn = []
    if (d := read_figure_data(run_dir, "memory_capacity")) is not None:
        drawn.append(_plot_mc(d["curve"], run_dir / "plots" / "memory_capacity.png", str(d["title"])))
    if (d := read_figure_data(run_dir, "forecast")) is not None:
        drawn.append(_plot_series(d["target"], d["pred"], run_dir / "plots" / "forecast.png", str(d["title"]),
                                  dt=float(d["dt"]), xlabel=str(d["xlabel"])))
    if (d := read_figure_data(run_dir, "prediction")) is not None:
        drawn.append(_plot_series(d["target"], d["pred"], run_dir / "plots" / "prediction.png", str(d["title"])))
    return drawn


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



EXPERIMENT = Experiment("reservoir_timeseries", TimeseriesConfig, run_timeseries,
                        "Reservoir (ESN / STNO / delay node / SMTJ) + ridge readout on a time-series task",
                        headline=("nrmse", "memory_capacity", "valid_time_lyapunov"),
                        tour={"reservoir.units": 100, "task.n_train": 2000, "task.n_test": 1000},
                        template=timeseries_template, figures=timeseries_figures)
