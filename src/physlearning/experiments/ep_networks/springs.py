"""Experiment ``ep_springs``: a 2D triangular-lattice spring network learns an allosteric strain
response (strain on a source edge -> desired strain on target edges; Rocks et al. PNAS 2017, Stern et
al. PRX 2021) by EP."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np

from physlearning.config import ConfigError, check_memory, param, section, seed_param
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
from physlearning.runs.store import read_figure_data
from physlearning.substrates.springs import SpringNetwork, triangular_lattice


@dataclasses.dataclass(frozen=True)
class SpringNetConfig:
    """Triangular-lattice spring network (unit spacing)."""

    rows: int = param(4, ge=2)
    cols: int = param(4, ge=2)
    jitter: float = param(0.15, ge=0, lt=0.5, doc="random node displacement (lattice units)")
    spring: str = param("linear", choices=("linear", "quartic"), doc="k/2 (l-L)^2 [+ k4/4 (l-L)^4]")
    k4: float = param(10.0, ge=0, doc="quartic stiffness for spring = 'quartic'")
    k_init: list[float] = param([0.5, 1.5], doc="initial stiffness range [low, high] (k >= 0)")
    k_min: float = param(1e-3, ge=0, doc="projection floor for k after each update")
    train_rest_lengths: bool = param(True, doc="train L as well as k")
    rest_length_lr: float = param(0.1, gt=0, doc="learning rate of L relative to train.lr")

    def validate(self):
        check_range("network.k_init", self.k_init, strict=False, why=" (negative stiffness is unphysical)")


@dataclasses.dataclass(frozen=True)
class StrainTask:
    """Allosteric task: source-edge strain eps_S -> target-edge strains ratio_j * eps_S."""

    max_source_strain: float = param(0.05, gt=0, lt=0.5)
    n_samples: int = param(5, ge=1, doc="source strains evenly spaced in [-max, max]")
    ratios: list[float] = param([1.0], doc="desired response eps_T / eps_S, one per target edge")

    def validate(self):
        if not 1 <= len(self.ratios) <= 8:
            raise ConfigError(f"task.ratios = {list(self.ratios)!r}: give 1 to 8 response ratios")


@dataclasses.dataclass(frozen=True)
class SpringsConfig:
    seed: int = seed_param(0, doc="seed of the lattice jitter, initial stiffnesses and training")
    network: SpringNetConfig = section(SpringNetConfig)
    task: StrainTask = section(StrainTask)
    rule: RuleConfig = dataclasses.field(default_factory=lambda: RuleConfig(beta=0.01), metadata={"doc": ""})
    solver: SolverConfig = section(SolverConfig)
    train: TrainConfig = dataclasses.field(default_factory=lambda: TrainConfig(lr=0.05, epochs=600),
                                           metadata={"doc": ""})

    def validate(self):
        n_edges = 3 * self.network.rows * self.network.cols - 2 * (self.network.rows + self.network.cols) + 1
        if len(self.task.ratios) > n_edges // 4:
            raise ConfigError(f"task.ratios has {len(self.task.ratios)} targets; a "
                              f"{self.network.rows}x{self.network.cols} lattice allows at most {n_edges // 4}")
        # memory: ~600 bytes per node and edge of the lattice built in Python; per sample Newton's dense
        # Jacobian (and LU) over the free coordinates (2 per node) and the edge arrays (float32)
        n_nodes, n_free = self.network.rows * self.network.cols, 2 * self.network.rows * self.network.cols
        parts = {"the lattice (Python objects)": 600.0 * (n_nodes + n_edges),
                 "per-sample Newton Jacobians": 4.0 * self.task.n_samples * (3 * n_free**2 + 4 * n_edges)}
        check_memory(sum(parts.values()), "the network and its relaxations", {
            "network.rows": self.network.rows, "network.cols": self.network.cols,
            "task.n_samples": self.task.n_samples}, parts=parts)


def spring_task(cfg: SpringsConfig, dtype=jnp.float32) -> tuple[SpringNetwork, np.ndarray, np.ndarray]:
    """Network and data. Source edge: the first two nodes of the second row (a boundary node
    of coordination 5 and an interior one, so the rest stays rigid when it is strained);
    targets: the edges between free nodes (not at a corner) farthest from it."""
    nc = cfg.network
    seeds = Seeds(cfg.seed)  # numpy draws: the same instance in float32 and float64
    pos, edges = triangular_lattice(nc.rows, nc.cols, nc.jitter, seeds.int("model.lattice"))
    src = np.array([nc.cols, nc.cols + 1])
    mid = 0.5 * (pos[edges[:, 0]] + pos[edges[:, 1]])
    dist = np.linalg.norm(mid - pos[src].mean(0), axis=1)
    degree = np.bincount(edges.ravel(), minlength=len(pos))
    # a degree-2 (corner) node just follows its two springs: its edges can never be strained
    dist[np.any(np.isin(edges, src) | (degree[edges] <= 2), axis=1)] = -1.0
    if np.sum(dist >= 0) < len(cfg.task.ratios):
        raise ConfigError(f"task.ratios has {len(cfg.task.ratios)} targets but the {nc.rows}x{nc.cols} lattice "
                          f"has only {int(np.sum(dist >= 0))} eligible target edges")
    targets = np.argsort(-dist, kind="stable")[:len(cfg.task.ratios)]
    k = seeds.rng("model.init").uniform(nc.k_init[0], nc.k_init[1], len(edges))
    net = SpringNetwork(pos, edges, k, k4=nc.k4 if nc.spring == "quartic" else 0.0,
                        input_nodes=src, output_edges=targets, k_min=nc.k_min,
                        trainable=("k", "L") if nc.train_rest_lengths else ("k",), dtype=dtype)
    d = pos[src[1]] - pos[src[0]]
    eps = np.linspace(-cfg.task.max_source_strain, cfg.task.max_source_strain, cfg.task.n_samples)
    # symmetric displacement of the two source nodes along the edge: l = l0 (1 + eps)
    x = np.stack([np.concatenate([-e * d / 2, e * d / 2]) for e in eps]).astype(np.float32)
    y = (eps[:, None] * np.asarray(cfg.task.ratios)[None, :]).astype(np.float32)
    return net, x, y


def spring_template(cfg: SpringsConfig) -> SpringNetwork:
    """The network of the run (its checkpoint's shape), relaxed by the run's solver (``load_run(...).predict``)."""
    return spring_task(cfg)[0].with_equilibrium(make_solver(cfg.solver))


def _draw_springs(pos, ed, k, output_edges, src, path, title: str):
    import matplotlib.pyplot as plt

    k = np.asarray(k)
    targets = set(np.asarray(output_edges).tolist())
    fig, ax = plt.subplots(figsize=(4.2, 3.6))
    for e, (i, j) in enumerate(ed):
        color = "tab:red" if e in targets else "k"
        ax.plot(*zip(pos[i], pos[j], strict=True), color=color, lw=0.5 + 2.5 * k[e] / max(k.max(), 1e-12))
    ax.plot(*zip(pos[src[0]], pos[src[1]], strict=True), color="tab:blue", lw=3, label="source")
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path.name


def _response_plot(eps, y, before, after, path, labels=("target", "before", "after")):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 3.4))
    for j in range(y.shape[1]):
        ax.plot(eps, y[:, j], "k--", lw=1, label=labels[0] if j == 0 else None)
        ax.plot(eps, before[:, j], "o", color="tab:gray", label=labels[1] if j == 0 else None)
        ax.plot(eps, after[:, j], "x", color=f"C{j}", ms=8, label=f"{labels[2]} (edge {j})")
    ax.set_xlabel("source strain")
    ax.set_ylabel("target strain")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path.name


def run_springs(cfg: SpringsConfig, store) -> dict:
    """Train the spring network by the configured rule; the figures (loss, response, network) are drawn
    from the run folder by :func:`springs_figures`."""
    net, x, y = spring_task(cfg)
    net = net.with_equilibrium(make_solver(cfg.solver))  # as spring_template: load_run predicts with it
    scales = {"L": cfg.network.rest_length_lr} if cfg.network.train_rest_lengths else None
    result, c0, pred = train_network(net, x, y, cfg.rule, cfg.solver, cfg.train, cfg.seed, store, "ep_springs", scales)
    model = result.model
    before, after = np.asarray(pred(net, jnp.asarray(x))), np.asarray(pred(model, jnp.asarray(x)))
    c1 = float(np.mean(0.5 * np.sum((after - y) ** 2, axis=1)))
    eps = np.linspace(-cfg.task.max_source_strain, cfg.task.max_source_strain, cfg.task.n_samples)
    store.save_figure_data("response", eps=eps, x=x, y=y, before=before, after=after)
    store.save_figure_data("network", positions=model.positions, edges=model.edges, k=np.asarray(model.k),
                           output_edges=model.output_edges, input_nodes=model.input_nodes,
                           title="trained stiffness (width); targets red")
    store.save_checkpoint(model)
    return {"initial_cost": c0, "final_cost": c1, "cost_ratio": c1 / c0, "rule": cfg.rule.name,
            "spring": cfg.network.spring, "n_edges": int(len(net.edges)),
            "train_time_s": result.wall_time_s, "compile_time_s": result.compile_time_s}


def springs_figures(run_dir) -> list[str]:
    """loss.png, curves.png (metrics.jsonl), response.png (``data/response.npz``: target and network strain
    responses before and after training), network.png (``data/network.npz``: the trained network)."""
    drawn = curve_figures(run_dir, "spring network", "ep_springs")
    if (d := read_figure_data(run_dir, "response")) is not None:
        drawn.append(_response_plot(d["eps"], d["y"], d["before"], d["after"], run_dir / "plots" / "response.png"))
    if (d := read_figure_data(run_dir, "network")) is not None:
        drawn.append(_draw_springs(d["positions"], d["edges"], d["k"], d["output_edges"], d["input_nodes"],
                                   run_dir / "plots" / "network.png", str(d["title"])))
    return drawn

