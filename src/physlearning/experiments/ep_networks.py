"""Pillar 1b: spring and resistor networks trained by Equilibrium Propagation and coupled learning.

Experiments:

* ``ep_springs``: a 2D triangular-lattice spring network learns an allosteric strain
  response (strain imposed on a source edge -> desired strain on target edges;
  Rocks et al. PNAS 2017, Stern et al. PRX 2021) by EP.
* ``ep_resistors``: a resistor (optionally diode) network learns a teacher network's
  input -> output-voltage map (regression) by EP, coupled learning or autodiff.
* ``ep_resistors_xor``: a diode-resistor network learns XOR (complementary input voltages).

``matrix_rows`` compares EP (one-sided, symmetric, holomorphic) and coupled learning with
the implicit-differentiation gradient on small float64 instances.

Every random draw of a run comes from a named stream of ``Seeds(cfg.seed)``: ``model.lattice``
(spring-node jitter), ``model.init`` (initial stiffnesses / conductances), ``model.teacher``
(teacher conductances), ``data.train`` / ``data.test`` (input voltages); the Trainer names its
own streams after the fit. Each run saves the arrays of its figures under ``data/`` and its
experiment's ``figures(run_dir)`` (:func:`springs_figures`, :func:`resistors_figures`,
:func:`xor_figures`) draws every figure from the run folder (the runner when the run ends,
``physlearning report`` again); ``template(cfg)`` is the checkpoint's shape, relaxed by the run's
solver, for ``physlearning.load_run``.
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from physlearning import config as cfgmod
from physlearning.config import ConfigError, check_memory, param, section, seed_param
from physlearning.core import LearningRule, Seeds, SquaredError
from physlearning.core.equilibrium import Equilibrium
from physlearning.rules.autodiff import ImplicitAutodiff
from physlearning.rules.coupled import CoupledLearning
from physlearning.rules.ep import EquilibriumPropagation, energy_param_grad, predict
from physlearning.runs import plots
from physlearning.runs.registry import Experiment
from physlearning.runs.store import read_metrics
from physlearning.substrates.resistors import ResistorNetwork, layered_edges
from physlearning.substrates.springs import SpringNetwork, triangular_lattice
from physlearning.train import OptimizerSpec, Trainer

RULES = ("ep_symmetric", "ep_one_sided", "ep_holomorphic", "coupled", "autodiff")


# ----------------------------------------------------------------------------- shared config


@dataclasses.dataclass(frozen=True)
class RuleConfig:
    """Learning rule and its physical settings."""

    name: str = param("ep_symmetric", choices=RULES, doc="learning rule")
    beta: float = param(0.5, gt=0, doc="EP nudging strength (cost units)")
    n_points: int = param(4, ge=2, doc="holomorphic EP: points on the circle |beta|")
    eta: float = param(0.5, gt=0, le=1, doc="coupled learning clamping strength")


@dataclasses.dataclass(frozen=True)
class SolverConfig:
    """Equilibrium (Newton) tolerances."""

    rtol: float = param(1e-6, gt=0, lt=1)
    atol: float = param(1e-6, gt=0)
    max_steps: int = param(40, ge=1, doc="Newton steps per relaxation")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Full-batch training."""

    optimizer: str = param("adam", choices=("adam", "adamw", "sgd"))
    lr: float = param(0.02, gt=0)
    epochs: int = param(300, ge=1, doc="full-batch updates")
    schedule: str = param("cosine", choices=("constant", "cosine"))


def _check_range(key: str, value, *, strict: bool, why: str = "") -> None:
    """A [low, high] pair with 0 <= low <= high (0 < low when ``strict``)."""
    ok = len(value) == 2 and (0 < value[0] if strict else 0 <= value[0]) and value[0] <= value[1]
    if not ok:
        raise ConfigError(f"{key} = {list(value)!r}: allowed values are [low, high] with "
                          f"{'0 < low' if strict else '0 <= low'} <= high{why}")


def make_solver(c: SolverConfig) -> Equilibrium:
    return Equilibrium(method="newton", rtol=c.rtol, atol=c.atol, max_steps=c.max_steps)


def make_rule(c: RuleConfig, solver: Equilibrium) -> LearningRule:
    """The configured learning rule (EP estimators, coupled learning, implicit autodiff)."""
    if c.name.startswith("ep_"):
        return EquilibriumPropagation(c.beta, c.name[3:], c.n_points, solver)
    if c.name == "coupled":
        return CoupledLearning(c.eta, solver)
    return ImplicitAutodiff(solver)


def _train(model, x, y, rule_cfg: RuleConfig, solver_cfg: SolverConfig, train_cfg: TrainConfig, seed: int,
           store, desc: str, scales: dict[str, float] | None = None):
    """Full-batch training with the shared Trainer; per-epoch mean cost on the training set."""
    solver = make_solver(solver_cfg)
    cost = SquaredError()
    pred = eqx.filter_jit(lambda m, xx: predict(m, xx, solver))

    def evaluate(m, xv, yv):
        return {"train_cost": float(jnp.mean(jax.vmap(cost)(pred(m, jnp.asarray(xv)), jnp.asarray(yv))))}

    opt = OptimizerSpec(train_cfg.optimizer, train_cfg.lr, train_cfg.schedule).build(train_cfg.epochs)
    for field, factor in (scales or {}).items():  # per-parameter learning-rate factors
        mask = jax.tree_util.tree_map(lambda _: False, model.params())
        opt = optax.chain(opt, optax.masked(optax.scale(factor), eqx.tree_at(lambda m: getattr(m, field), mask, True)))
    trainer = Trainer(make_rule(rule_cfg, solver), cost, opt, train_cfg.epochs, batch_size=len(x), seed=seed,
                      evaluate=evaluate, store=store, select="final", desc=desc)
    c0 = evaluate(model, x, y)["train_cost"]
    result = trainer.fit(model, (np.asarray(x), np.asarray(y)), (np.asarray(x), np.asarray(y)))
    return result, c0, pred


def _rule_name(run_dir) -> str:
    try:
        return str(cfgmod.read_toml(run_dir / "config.toml").get("rule", {}).get("name", ""))
    except Exception:  # noqa: BLE001  a title only
        return ""


def _curve_figures(run_dir, what: str, experiment: str) -> list[str]:
    """``loss.png`` (training loss and cost, log scale) and the generic ``curves.png``, from metrics.jsonl."""
    history = read_metrics(run_dir)
    drawn = []
    p = plots.curves(history, run_dir / "plots" / "loss.png", keys=["train_loss", "train_cost"], logy=True,
                     title=f"{what}, {_rule_name(run_dir)}")
    drawn += [] if p is None else [p.name]
    p = plots.curves(history, run_dir / "plots" / "curves.png", title=experiment)
    return drawn + ([] if p is None else [p.name])


def _figure_data(run_dir, name: str) -> dict | None:
    """The arrays ``data/<name>.npz`` of a run folder (None when the run saved none)."""
    path = run_dir / "data" / f"{name}.npz"
    if not path.is_file():
        return None
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


# ----------------------------------------------------------------------------- springs


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
        _check_range("network.k_init", self.k_init, strict=False, why=" (negative stiffness is unphysical)")


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
    result, c0, pred = _train(net, x, y, cfg.rule, cfg.solver, cfg.train, cfg.seed, store, "ep_springs", scales)
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
    drawn = _curve_figures(run_dir, "spring network", "ep_springs")
    if (d := _figure_data(run_dir, "response")) is not None:
        drawn.append(_response_plot(d["eps"], d["y"], d["before"], d["after"], run_dir / "plots" / "response.png"))
    if (d := _figure_data(run_dir, "network")) is not None:
        drawn.append(_draw_springs(d["positions"], d["edges"], d["k"], d["output_edges"], d["input_nodes"],
                                   run_dir / "plots" / "network.png", str(d["title"])))
    return drawn


# ----------------------------------------------------------------------------- resistors


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
        _check_range("network.g_init", self.g_init, strict=False, why=" (negative conductance is not passive)")


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
        _check_range("task.teacher_g", self.teacher_g, strict=True)


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
    """Sources 0..n_in-1, rails next, then hidden, then outputs; resistors between consecutive
    layers and from sources/rails to outputs; optional diodes hidden <-> output."""
    src = np.arange(n_in)
    rl = np.arange(n_in, n_in + len(rails))
    hid = rl[-1] + 1 + np.arange(n_hidden)
    out = hid[-1] + 1 + np.arange(n_out)
    inputs = np.concatenate([src, rl])
    edges = np.concatenate([layered_edges([inputs, hid, out]), layered_edges([inputs, out])])
    if g is None:
        g = np.asarray(jax.random.uniform(key, (len(edges),), minval=g_init[0], maxval=g_init[1]))
    di = [(h, o) if (a + b) % 2 == 0 else (o, h) for a, h in enumerate(hid) for b, o in enumerate(out)] if diodes \
        else []
    return ResistorNetwork(int(out[-1] + 1), edges, g, sources=src, rails=rl, rail_voltages=list(rails),
                           output_nodes=out, diodes=di, i_s=i_s, v_t=v_t, g_min=g_min, dtype=dtype)


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
    result, c0, pred = _train(student, x_tr, y_tr, cfg.rule, cfg.solver, cfg.train, cfg.seed, store,
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
    drawn = _curve_figures(run_dir, "resistor network", "ep_resistors")
    if (d := _figure_data(run_dir, "test_fit")) is not None:
        drawn.append(_scatter(d["y"], d["pred"], run_dir / "plots" / "test_fit.png", str(d["title"])))
    return drawn


# ----------------------------------------------------------------------------- XOR


@dataclasses.dataclass(frozen=True)
class XorNetConfig:
    """Diode-resistor network for XOR: inputs as complementary pairs (x, 1 - x)."""

    n_hidden: int = param(4, ge=2)
    g_init: list[float] = param([0.2, 1.0], doc="initial conductance range [low, high] (siemens)")
    g_min: float = param(1e-3, ge=0)
    i_s: float = param(0.05, gt=0, doc="diode saturation current (A)")
    v_t: float = param(0.1, gt=0, doc="diode thermal voltage (V)")

    def validate(self):
        _check_range("network.g_init", self.g_init, strict=False, why=" (negative conductance is not passive)")


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
    result, c0, pred = _train(net, x, y, cfg.rule, cfg.solver, cfg.train, cfg.seed, store, "ep_resistors_xor")
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
    drawn = _curve_figures(run_dir, "diode network XOR", "ep_resistors_xor")
    if (d := _figure_data(run_dir, "xor_outputs")) is not None:
        drawn.append(_xor_plot(d["before"], d["after"], float(d["threshold"]), run_dir / "plots" / "xor_outputs.png"))
    return drawn


# ----------------------------------------------------------------------------- matrix


def _matrix_instances():
    """Small float64 instances: (name, substrate, x, t); the gradient matrix's rows of these substrates
    come from their registrations (``substrates/springs.py``, ``resistors.py``), which build the same."""
    dt = jnp.float64
    out = []
    for spring in ("linear", "quartic"):
        cfg = SpringsConfig(network=SpringNetConfig(rows=3, cols=3, spring=spring),
                            task=StrainTask(n_samples=3, ratios=[1.0]))
        net, x, y = spring_task(cfg, dtype=dt)
        out.append((f"springs_{spring}_2d", net, jnp.asarray(x, dt), jnp.asarray(y, dt)))
    net = resistor_network(2, 3, 2, None, jax.random.PRNGKey(0), diodes=True, dtype=dt)
    x = jax.random.uniform(jax.random.PRNGKey(1), (3, 2), dt, -1, 1)
    t = jax.random.uniform(jax.random.PRNGKey(2), (3, 2), dt, -0.5, 0.5)
    out.append(("resistors_diodes", net, x, t))
    return out


def ep_bias_slopes(betas=(0.2, 0.1, 0.05, 0.025)) -> dict:
    """Relative error of one-sided and symmetric EP vs the implicit gradient as beta shrinks, on
    one sample of the diode network (call with x64 enabled), and the log-log slopes (theory:
    1 and 2; Scellier & Bengio 2017, Laborieux et al. 2021)."""
    sol = Equilibrium(rtol=1e-13, atol=1e-13, max_steps=60)
    cost = SquaredError()
    net, x, t = _matrix_instances()[-1][1:]
    x, t = x[0], t[0]
    ref = ImplicitAutodiff(sol).estimate(net, (x[None], t[None]), cost, None)[0].g
    bs = jnp.asarray(betas, x.dtype)

    @jax.jit
    def grads_at(bs):
        free, _ = sol.solve(net, x, 0.0, t, cost)
        g_of = lambda b: energy_param_grad(net, sol.solve(net, x, b, t, cost, free)[0], x).g
        return energy_param_grad(net, free, x).g, jax.vmap(g_of)(bs), jax.vmap(g_of)(-bs)

    g0, gp, gm = grads_at(bs)
    err = lambda est: np.asarray(jnp.linalg.norm(est - ref, axis=1) / jnp.linalg.norm(ref))
    one, sym = err((gp - g0) / bs[:, None]), err((gp - gm) / (2 * bs[:, None]))
    slope = lambda e: float(np.polyfit(np.log(np.asarray(betas)), np.log(e), 1)[0])
    return {"betas": list(betas), "one_sided_error": one.tolist(), "symmetric_error": sym.tolist(),
            "one_sided_slope": slope(one), "symmetric_slope": slope(sym)}


EXPERIMENTS = [
    Experiment("ep_springs", SpringsConfig, run_springs,
               "2D spring network learns an allosteric strain response by EP",
               headline=("cost_ratio", "final_cost"),
               tour={"train.epochs": 120, "network.rows": 3, "network.cols": 3, "task.n_samples": 3},
               template=spring_template, figures=springs_figures),
    Experiment("ep_resistors", ResistorsConfig, run_resistors,
               "resistor network learns a teacher network's voltages (EP / coupled learning)",
               headline=("test_mse_ratio", "test_nrmse"),
               tour={"train.epochs": 40, "task.n_train": 16, "task.n_test": 32},
               template=resistors_template, figures=resistors_figures),
    Experiment("ep_resistors_xor", XorConfig, run_xor,
               "diode-resistor network learns XOR by EP",
               headline=("accuracy", "final_cost"),
               tour={"train.epochs": 150}, template=xor_template, figures=xor_figures),
]
