"""Experiment ``ep_resistors_xor``: a diode-resistor network learns XOR (complementary input voltages)."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np

from physlearning.config import ConfigError, check_memory, param, section, seed_param
from physlearning.core import Seeds
from physlearning.experiments.ep_networks.resistors import resistor_network
from physlearning.experiments.ep_networks.sections import (
    RuleConfig,
    SolverConfig,
    TrainConfig,
    check_range,
    curve_figures,
    make_solver,
    train_network,
)
from physlearning.runs.store import read_figure_data
from physlearning.substrates.resistors import ResistorNetwork


@dataclasses.dataclass(frozen=True)
class XorNetConfig:
    """Diode-resistor network for XOR: inputs as complementary pairs (x, 1 - x)."""

    n_hidden: int = param(4, ge=2)
    g_init: list[float] = param([0.2, 1.0], doc="initial conductance range [low, high] (siemens)")
    g_min: float = param(1e-3, ge=0)
    i_s: float = param(0.05, gt=0, doc="diode saturation current (A)")
    v_t: float = param(0.1, gt=0, doc="diode thermal voltage (V)")

    def validate(self):
        check_range("network.g_init", self.g_init, strict=False, why=" (negative conductance is not passive)")


@dataclasses.dataclass(frozen=True)
class XorTask:
    """Targets: output voltage v_low for XOR = 0, v_high for XOR = 1; class = output > midpoint."""

    v_low: float = param(0.2)
    v_high: float = param(0.6)

    def validate(self):
        if not self.v_low < self.v_high:
            raise ConfigError(f"task.v_low = {self.v_low!r}, task.v_high = {self.v_high!r}: need v_low < v_high")


@dataclasses.dataclass(frozen=True)
class XorConfig:
    seed: int = seed_param(0, doc="seed of the initial conductances")
    network: XorNetConfig = section(XorNetConfig)
    task: XorTask = section(XorTask)
    rule: RuleConfig = section(RuleConfig)
    solver: SolverConfig = section(SolverConfig)
    train: TrainConfig = section(TrainConfig)

    def validate(self):
        # memory: 4 sources + 2 rails -> hidden -> 1 output (+ sources/rails -> output), diodes hidden -> output;
        # 4 samples, each with a dense Newton Jacobian (and LU) over the free nodes and the edge arrays
        h = self.network.n_hidden
        n_edges, n_free = 6 * h + h + 6 + h, h + 1
        parts = {"the network (Python objects)": 600.0 * (6 + n_free + n_edges),
                 "per-sample Newton Jacobians": 4.0 * 4 * (3 * n_free**2 + 4 * n_edges)}
        check_memory(sum(parts.values()), "the network and its relaxations", {"network.n_hidden": h}, parts=parts)


def xor_task(cfg: XorConfig) -> tuple[ResistorNetwork, np.ndarray, np.ndarray, np.ndarray]:
    from physlearning.tasks.datasets import xor

    nc = cfg.network
    net = resistor_network(4, nc.n_hidden, 1, None, Seeds(cfg.seed).key("model.init"), diodes=True,
                           g_init=nc.g_init, g_min=nc.g_min, i_s=nc.i_s, v_t=nc.v_t, rails=(0.0, 1.0))
    xb, labels = xor()
    x = np.concatenate([xb, 1 - xb], axis=1).astype(np.float32)
    y = np.where(labels[:, None] == 1, cfg.task.v_high, cfg.task.v_low).astype(np.float32)
    return net, x, y, labels


def xor_template(cfg: XorConfig) -> ResistorNetwork:
    """The network before training (the checkpoint's shape), relaxed by the run's solver."""
    return xor_task(cfg)[0].with_equilibrium(make_solver(cfg.solver))


def _xor_plot(out0, out1, mid, path):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.2, 3.2))
    idx = np.arange(4)
    ax.bar(idx - 0.2, out0, 0.4, color="tab:gray", label="before")
    ax.bar(idx + 0.2, out1, 0.4, color="tab:blue", label="after")
    ax.axhline(mid, color="k", ls="--", lw=1, label="threshold")
    ax.set_xticks(idx, ["00", "01", "10", "11"])
    ax.set_ylabel("output voltage (V)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path.name


def run_xor(cfg: XorConfig, store) -> dict:
    """Train the diode network on XOR; the figures (loss, outputs before/after) are drawn from the run
    folder by :func:`xor_figures`."""
    net, x, y, labels = xor_task(cfg)
    net = net.with_equilibrium(make_solver(cfg.solver))  # as xor_template: load_run predicts with it
    result, c0, pred = train_network(net, x, y, cfg.rule, cfg.solver, cfg.train, cfg.seed, store, "ep_resistors_xor")
    model = result.model
    out0, out1 = np.asarray(pred(net, jnp.asarray(x)))[:, 0], np.asarray(pred(model, jnp.asarray(x)))[:, 0]
    mid = 0.5 * (cfg.task.v_low + cfg.task.v_high)
    acc = float(np.mean((out1 > mid) == (labels == 1)))
    margin = float(np.min(np.where(labels == 1, out1 - mid, mid - out1)))
    store.save_figure_data("xor_outputs", x=x, labels=labels, before=out0, after=out1, threshold=mid)
    store.save_checkpoint(model)
    c1 = float(np.mean(0.5 * (out1 - y[:, 0]) ** 2))
    return {"accuracy": acc, "margin_v": margin, "initial_cost": c0, "final_cost": c1, "rule": cfg.rule.name,
            "outputs_v": out1.tolist(), "train_time_s": result.wall_time_s,
            "compile_time_s": result.compile_time_s}


def xor_figures(run_dir) -> list[str]:
    """loss.png, curves.png (metrics.jsonl) and xor_outputs.png (``data/xor_outputs.npz``: the four inputs
    ``x``, the outputs ``before`` and ``after`` training, the class ``threshold``)."""
    drawn = curve_figures(run_dir, "diode network XOR", "ep_resistors_xor")
    if (d := read_figure_data(run_dir, "xor_outputs")) is not None:
        drawn.append(_xor_plot(d["before"], d["after"], float(d["threshold"]), run_dir / "plots" / "xor_outputs.png"))
    return drawn

