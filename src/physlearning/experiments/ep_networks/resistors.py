"""Experiment ``ep_resistors``: a resistor (optionally diode) network learns a teacher network's
input -> output-voltage map (regression) by EP, coupled learning or autodiff."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from physlearning.config import check_memory, param, section, seed_param
from physlearning.core import Seeds
from physlearning.experiments.ep_networks.sections import (
    RuleConfig,
    SolverConfig,
    TrainConfig,
    check_range,
    curve_figures,
    make_solver,
    train_network,
)
from physlearning.rules.ep import predict
from physlearning.runs.store import read_figure_data
from physlearning.substrates.resistors import ResistorNetwork, layered_network


@dataclasses.dataclass(frozen=True)
class ResistorNetConfig:
    """Layered resistor network: (sources + ground) -> hidden -> outputs, all-to-all resistors."""

    n_hidden: int = param(4, ge=1)
    diodes: bool = param(False, doc="add diodes hidden -> output (alternating orientation)")
    g_init: list[float] = param([0.2, 1.0], doc="initial conductance range [low, high] (siemens, >= 0)")
    g_min: float = param(1e-3, ge=0, doc="projection floor for g after each update")
    i_s: float = param(0.05, gt=0, doc="diode saturation current (A)")
    v_t: float = param(0.2, gt=0, doc="diode thermal voltage (V)")

    def validate(self):
        check_range("network.g_init", self.g_init, strict=False, why=" (negative conductance is not passive)")


@dataclasses.dataclass(frozen=True)
class RegressionTask:
    """Teacher-student regression: targets are a random teacher network's output voltages."""

    n_inputs: int = param(2, ge=1)
    n_outputs: int = param(2, ge=1)
    n_train: int = param(32, ge=1)
    n_test: int = param(128, ge=1)
    v_max: float = param(1.0, gt=0, doc="input voltages uniform in [-v_max, v_max]")
    teacher_g: list[float] = param([0.02, 2.0], doc="teacher conductances log-uniform in [low, high] (S)")

    def validate(self):
        check_range("task.teacher_g", self.teacher_g, strict=True)


@dataclasses.dataclass(frozen=True)
class ResistorsConfig:
    seed: int = seed_param(0, doc="seed of the teacher, the student's conductances and the input voltages")
    network: ResistorNetConfig = section(ResistorNetConfig)
    task: RegressionTask = section(RegressionTask)
    rule: RuleConfig = section(RuleConfig)
    solver: SolverConfig = section(SolverConfig)
    train: TrainConfig = section(TrainConfig)

    def validate(self):
        # memory: sources + ground -> hidden -> outputs all-to-all (plus sources -> outputs), diodes hidden ->
        # outputs; the teacher relaxes n_train + n_test samples at once (Newton, dense Jacobian per sample)
        # (~600 bytes per node and edge in Python, measured; per sample a dense Jacobian and LU over the free nodes
        # and the edge arrays, float32; the voltages, a few copies)
        n_in, h, n_out = self.task.n_inputs, self.network.n_hidden, self.task.n_outputs
        n_edges = (n_in + 1) * h + h * n_out + (n_in + 1) * n_out + (h * n_out if self.network.diodes else 0)
        n_free, batch = h + n_out, self.task.n_train + self.task.n_test
        parts = {"the network (Python objects)": 600.0 * (n_in + 1 + n_free + n_edges),
                 "per-sample Newton Jacobians": 4.0 * batch * (3 * n_free**2 + 4 * n_edges),
                 "input and output voltages": 12.0 * batch * (n_in + n_out)}
        check_memory(sum(parts.values()), "the network and its relaxations", {
            "network.n_hidden": h, "task.n_inputs": n_in, "task.n_outputs": n_out, "task.n_train": self.task.n_train,
            "task.n_test": self.task.n_test}, parts=parts)


def resistor_network(n_in: int, n_hidden: int, n_out: int, g: np.ndarray | None, key, *, diodes: bool,
                     g_init=(0.2, 1.0), g_min=1e-3, i_s=0.05, v_t=0.2, rails=(0.0,), dtype=jnp.float32
                     ) -> ResistorNetwork:
    """:func:`substrates.resistors.layered_network` with the conductances ``g`` given positionally."""
    return layered_network(n_in, n_hidden, n_out, key, g=g, diodes=diodes, g_init=g_init, g_min=g_min, i_s=i_s,
                           v_t=v_t, rails=rails, dtype=dtype)


def _scatter(y, pred, path, title):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3.8, 3.6))
    ax.plot(y.ravel(), pred.ravel(), ".", ms=4)
    lo, hi = float(min(y.min(), pred.min())), float(max(y.max(), pred.max()))
    ax.plot([lo, hi], [lo, hi], "k--", lw=1)
    ax.set_xlabel("target voltage (V)")
    ax.set_ylabel("network output (V)")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path.name


def _make_resistors(cfg: ResistorsConfig, g, key) -> ResistorNetwork:
    nc, tc = cfg.network, cfg.task
    return resistor_network(tc.n_inputs, nc.n_hidden, tc.n_outputs, g, key, diodes=nc.diodes, g_init=nc.g_init,
                            g_min=nc.g_min, i_s=nc.i_s, v_t=nc.v_t)


def resistors_template(cfg: ResistorsConfig) -> ResistorNetwork:
    """The student before training (its conductances from the ``model.init`` stream; the checkpoint's shape),
    relaxed by the run's solver (``load_run(...).predict``)."""
    return _make_resistors(cfg, None, Seeds(cfg.seed).key("model.init")).with_equilibrium(make_solver(cfg.solver))


def resistors_task(cfg: ResistorsConfig) -> tuple[ResistorNetwork, ResistorNetwork, np.ndarray, np.ndarray]:
    """Teacher (conductances log-uniform, ``model.teacher`` stream), student before training (as
    :func:`resistors_template`), training and test input voltages (``data.train``, ``data.test``)."""
    tc, seeds = cfg.task, Seeds(cfg.seed)
    student = resistors_template(cfg)
    lo, hi = np.log(tc.teacher_g)
    g_teacher = np.exp(np.asarray(jax.random.uniform(seeds.key("model.teacher"), student.g.shape, minval=lo,
                                                     maxval=hi)))
    teacher = _make_resistors(cfg, g_teacher, None)
    draw = lambda name, n: np.asarray(jax.random.uniform(seeds.key(name), (n, tc.n_inputs), minval=-tc.v_max,
                                                         maxval=tc.v_max))
    return teacher, student, draw("data.train", tc.n_train), draw("data.test", tc.n_test)


def run_resistors(cfg: ResistorsConfig, store) -> dict:
    """Teacher-student regression; the figures (loss, test fit) are drawn from the run folder by
    :func:`resistors_figures`."""
    tc = cfg.task
    teacher, student, x_train, x_test = resistors_task(cfg)
    x = np.concatenate([x_train, x_test])
    solver = make_solver(cfg.solver)
    y = np.asarray(predict(teacher, jnp.asarray(x), solver))
    x_tr, y_tr, x_te, y_te = x[:tc.n_train], y[:tc.n_train], x[tc.n_train:], y[tc.n_train:]
    result, c0, pred = train_network(student, x_tr, y_tr, cfg.rule, cfg.solver, cfg.train, cfg.seed, store,
                              "ep_resistors")
    model = result.model
    p0, p1 = np.asarray(pred(student, jnp.asarray(x_te))), np.asarray(pred(model, jnp.asarray(x_te)))
    mse0, mse1 = float(np.mean((p0 - y_te) ** 2)), float(np.mean((p1 - y_te) ** 2))
    std = float(np.std(y_te))
    store.save_figure_data("test_fit", x=x_te, y=y_te, pred=p1, title=f"test set after training ({cfg.rule.name})")
    store.save_checkpoint(model)
    return {"test_mse": mse1, "initial_test_mse": mse0, "test_mse_ratio": mse1 / mse0,
            "test_nrmse": float(np.sqrt(mse1)) / std, "initial_test_nrmse": float(np.sqrt(mse0)) / std,
            "final_train_cost": result.history[-1]["train_cost"], "initial_train_cost": c0,
            "rule": cfg.rule.name, "train_time_s": result.wall_time_s, "compile_time_s": result.compile_time_s}


def resistors_figures(run_dir) -> list[str]:
    """loss.png, curves.png (metrics.jsonl) and test_fit.png (``data/test_fit.npz``: test inputs ``x``, targets
    ``y`` and the trained network's outputs ``pred``)."""
    drawn = curve_figures(run_dir, "resistor network", "ep_resistors")
    if (d := read_figure_data(run_dir, "test_fit")) is not None:
        drawn.append(_scatter(d["y"], d["pred"], run_dir / "plots" / "test_fit.png", str(d["title"])))
    return drawn

