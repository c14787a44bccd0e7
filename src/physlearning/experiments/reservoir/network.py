"""``reservoir_network``: a heterogeneous network of device reservoirs (parallel or deep) trained by
backpropagation through the device models (optionally with device noise on), compared with every single-kind
network of the same node count over several seeds: config, run, template and figures; and the device rows of
the gradient matrix (:func:`matrix_rows`)."""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from physlearning.config import SEED_LIMIT, ConfigError, check_memory, param, section, seed_param
from physlearning.core import Seeds
from physlearning.errors import DivergenceError
from physlearning.experiments.reservoir.figures import _plot_series
from physlearning.experiments.reservoir.sections import (
    ReservoirCfg,
    STNOCfg,
    TaskCfg,
    _check_device,
    _standardize,
    _task_data,
    build,
)
from physlearning.rules.autodiff import Autodiff
from physlearning.rules.ridge import DEFAULT_ALPHAS, fit_ridge_cv
from physlearning.runs import plots
from physlearning.runs.registry import Experiment
from physlearning.runs.store import read_figure_data, read_metrics
from physlearning.substrates.reservoirs import DeviceNetwork, check_finite
from physlearning.substrates.reservoirs.network import WashoutMSE
from physlearning.substrates.reservoirs.series import features_jit as _features_jit
from physlearning.tasks import timeseries as ts
from physlearning.train.batches import SeriesChunks
from physlearning.train.optim import OptimizerSpec
from physlearning.train.trainer import Trainer


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
    if (d := read_figure_data(run_dir, "prediction")) is not None:
        drawn.append(_plot_series(d["target"], d["pred"], run_dir / "plots" / "prediction.png", str(d["title"])))
    if (d := read_figure_data(run_dir, "comparison")) is not None:
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
    from physlearning.core.tree import central_differences
    from physlearning.rules.autodiff import Autodiff
    from physlearning.rules.ridge import ReadoutDeltaRule

    dtype = jnp.float64 if jax.config.jax_enable_x64 else jnp.float32
    eps = 1e-6 if dtype == jnp.float64 else 1e-3  # central-difference step
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
        # the FD column: central differences of the loss over the readout weights (no autodiff, no delta rule)
        loss_w = jax.jit(lambda w: jnp.mean(jax.vmap(cost)(eqx.tree_at(lambda n: n.w_out, net, w).predict(x), t)))
        fd_w = central_differences(lambda v: loss_w(v.reshape(net.w_out.shape)), net.w_out.ravel(), eps)
        rows.append({"substrate": name, "rule": "readout delta rule", "cosine": tree_cosine(delta.w_out, ref.w_out),
                     "rel_error": tree_rel_error(delta.w_out, ref.w_out),
                     "fd_cosine": float(tree_cosine(delta.w_out.ravel(), fd_w)),
                     "fd_rel_error": float(tree_rel_error(delta.w_out.ravel(), fd_w)),
                     "note": "readout weights, measured states"})
        if len(layer_kinds) == 1:
            continue
        params, static = eqx.partition(net, net.param_filter())
        flat, unravel = ravel_pytree(params)
        loss = jax.jit(lambda v: jnp.mean(jax.vmap(cost)(eqx.combine(unravel(v), static).predict(x), t)))
        fd = central_differences(loss, flat, eps)
        ref_flat = ravel_pytree(ref)[0]
        rows.append({"substrate": name, "rule": "finite differences", "cosine": tree_cosine(fd, ref_flat),
                     "rel_error": tree_rel_error(fd, ref_flat),
                     "note": f"all {flat.size} weights (input, coupling, bias, readout), central, eps {eps:g}"})
    return rows



EXPERIMENT = Experiment("reservoir_network", NetworkConfig, run_network,
                        "Heterogeneous device network trained by backprop through device models vs single-kind "
                        "networks",
                        headline=("nrmse", "best_single_nrmse", "hetero_beats_best_single"),
                        tour={"n_seeds": 2, "compare_single": True, "train.steps": 200, "task.n_train": 1000,
                              "task.n_val": 500, "task.n_test": 1000},
                        template=network_template, figures=network_figures)
