"""Training a Langevin computer through the Trainer (trajectory-likelihood rule), drawing its samples,
the DDPM baseline of about its parameter count, and the heat figure: the pieces both thermo experiments use."""

from __future__ import annotations

import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, PRNGKeyArray

from physlearning import metrics
from physlearning.baselines import ddpm
from physlearning.config import ConfigError
from physlearning.core import Seeds, SquaredError
from physlearning.experiments.thermo.sections import Device
from physlearning.rules.trajectory import TrajectoryRule
from physlearning.runs.store import RunStore
from physlearning.substrates.langevin import LangevinComputer, generate
from physlearning.train import DivergenceError, OptimizerSpec, Trainer, Unlabelled


def build_computer(d: Device, n_visible: int, key: PRNGKeyArray) -> LangevinComputer:
    return LangevinComputer(n_visible, d.n_hidden, n_slices=d.n_slices, n_steps=d.n_steps, dt=d.dt, mu=d.mu,
                            kT=d.kT, j2_visible=d.j2_visible, j4_visible=d.j4_visible, j2_hidden=d.j2_hidden,
                            j4_hidden=d.j4_hidden, couplings=d.couplings, noising_coupling=d.noising_coupling,
                            train_j2=d.train_j2, train_j4=d.train_j4, init_scale=d.init_scale,
                            hold_hidden=d.hidden_loading == "kmeans_held", key=key)


def cluster_code(x_train: np.ndarray, n_clusters: int, amplitude: float, seed: int) -> np.ndarray:
    """Hidden-unit loading by a hard mixture model of the data: k-means (scikit-learn) with
    ``n_clusters`` clusters; image i's code is h_c = +amplitude for its cluster c, -amplitude for
    the others. Returns (n, n_clusters) float32."""
    from sklearn.cluster import KMeans

    if not 1 <= n_clusters <= len(x_train):
        raise ConfigError(f"device.n_hidden = {n_clusters}: the kmeans hidden code needs 1 <= n_hidden <= "
                          f"{len(x_train)} (training images)")
    labels = KMeans(n_clusters, n_init=4, random_state=seed).fit_predict(x_train)
    return np.float32(amplitude) * (2 * np.eye(n_clusters, dtype=np.float32)[labels] - 1)


def generate_samples(model: LangevinComputer, key: PRNGKeyArray, n: int,
                     codes: np.ndarray | None) -> tuple[Array, Array, Array | None]:
    """:func:`generate`; a held hidden register gets the code of a random training image (``codes``,
    one row per training image), so each cluster is drawn with its training frequency. The code
    draw and the generation use independent halves of ``key``. Returns (samples, heat, the drawn
    codes or None)."""
    k_code, k_gen = jax.random.split(key)
    hidden = draw_codes(codes, k_code, n) if model.hold_hidden else None
    return *generate(model, k_gen, n, hidden), hidden


def draw_codes(codes: np.ndarray, key: PRNGKeyArray, n: int) -> Array:
    """Codes of ``n`` random training images (rows of ``codes``): cluster c with its training frequency."""
    return jnp.asarray(codes)[jax.random.randint(key, (n,), 0, len(codes))]


def train_computer(cfg, x_train: np.ndarray, x_val: np.ndarray, store: RunStore, limit: float,
                   val_transform=lambda x: x) -> tuple[LangevinComputer, list[dict], float, int, np.ndarray | None]:
    """Train on ``x_train`` (visible coordinates); per epoch, generate samples and log the heat
    they emit and their SW / MMD to ``x_val``. Returns (model: the last, or the one with the lowest
    validation MMD^2 with ``train.select = "val_mmd"``; history; compile time; its epoch; the
    training images' hidden codes, or None without a code loading). Streams of the root seed: "model.init"
    (the starting protocol's random parts), "samples.epoch" (the same draw every epoch), "kmeans.codes"."""
    seeds = Seeds(cfg.seed)
    comp = build_computer(cfg.device, x_train.shape[1], seeds.key("model.init"))
    comp.check_stability(limit)
    tr = cfg.train
    opt = OptimizerSpec(tr.optimizer, tr.lr, tr.schedule, clip=tr.clip or None)
    kT = cfg.device.kT
    key = seeds.key("samples.epoch")

    d = cfg.device
    codes = None
    if d.hidden_loading != "settle":  # the training data load every unit: image + its cluster code
        codes = cluster_code(x_train, d.n_hidden, d.code_amplitude, seeds.int("kmeans.codes"))
        x_train = np.concatenate([x_train, codes], 1)
        store.save_array("hidden_codes.npz", codes=codes)  # a held register's generation draws from these

    def evaluate(model, xv, _):
        s, heat, _ = generate_samples(model, key, cfg.eval.n_epoch_samples, codes)
        s = np.asarray(s)
        return {"gen_heat": float(jnp.mean(heat)), "gen_heat_kT": float(jnp.mean(heat)) / kT,
                "val_sliced_wasserstein": metrics.sliced_wasserstein(val_transform(s), val_transform(xv)),
                "val_mmd": metrics.mmd_rbf(val_transform(s), val_transform(xv))}

    # epoch 0: the untrained protocol (equal to the noising potential)
    store.log({"epoch": 0, **evaluate(comp, x_val, None)})
    trainer = Trainer(TrajectoryRule(), SquaredError(), opt, tr.epochs, tr.batch_size, seed=cfg.seed,
                      evaluate=evaluate, store=store, select="final" if tr.select == "final" else "val",
                      select_metric="val_mmd", minimize=True, progress=False, desc="thermo")
    res = trainer.fit(comp, Unlabelled(x_train, tr.batch_size), (x_val, None))
    model = res.model
    store.log({"event": "selected", "selected_epoch": res.best_epoch, "rule": tr.select})
    store.log({"event": "stability", "message": f"trained protocol: mu*dt*max|Hess V| = "
               f"{model.mu * model.dt * model.curvature_bound(limit):.3g} (Euler-Maruyama needs < 2)"})
    return model, res.history, res.compile_time_s, res.best_epoch, codes


def fit_ddpm(cfg, x_train: np.ndarray, n_target: int, n: int, codes: np.ndarray | None = None,
             drawn: Array | None = None, name: str = "ddpm") -> tuple[np.ndarray, int, float]:
    """Train the DDPM baseline and draw ``n`` samples; with ``codes`` (one per training image) the
    DDPM is conditioned on them, scaled to +-1, and samples with the ``drawn`` codes (the draw the
    Langevin computer got). Streams of the root seed: ``name + ".train"`` (weights, batches, noise) and
    ``name + ".sample"``. Returns (samples, parameter count, seconds)."""
    t0 = time.perf_counter()
    c = cfg.ddpm
    seeds = Seeds(cfg.seed)
    cond_dim = 0 if codes is None else codes.shape[1]
    width = c.width or ddpm.width_for(x_train.shape[1], n_target, c.depth, cond_dim)
    key = seeds.key(f"{name}.train")
    model, _ = ddpm.train(x_train, key, n_steps=c.n_steps, width=width, depth=c.depth, train_steps=c.train_steps,
                          batch_size=min(c.batch_size, len(x_train)), lr=c.lr,
                          cond=None if codes is None else np.sign(codes))  # +-A -> +-1
    cond = None if drawn is None else jnp.sign(drawn)
    s = np.asarray(ddpm.sample(model, seeds.key(f"{name}.sample"), n, x_train.shape[1], cond))
    if not np.all(np.isfinite(s)):
        raise DivergenceError(f"DDPM baseline produced non-finite samples (ddpm.n_steps = {c.n_steps}, "
                              f"ddpm.lr = {c.lr}); lower the learning rate or raise n_steps")
    return s, ddpm.n_parameters(model), time.perf_counter() - t0


def _by_epoch(history: list[dict], key: str) -> list[dict]:
    """The epoch records holding ``key``, one per epoch (the last: a resumed run may log an epoch twice)."""
    return list({r["epoch"]: r for r in history if "epoch" in r and key in r}.values())


def heat_plot(history: list[dict], path) -> Path:
    """Heat emitted while generating (epoch 0: the untrained protocol) and the path KL, per epoch."""
    rows = _by_epoch(history, "gen_heat_kT")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(9, 3.4))
    ep = [r["epoch"] for r in rows]
    ax[0].plot(ep, [r["gen_heat_kT"] for r in rows], marker=".", label="generation")
    ax[0].set_xlabel("epoch")
    ax[0].set_ylabel("mean heat emitted per sample / kT")
    ax[0].set_title("heat emitted while generating")
    ax[0].grid(alpha=0.3)
    rows2 = _by_epoch(history, "aux_path_kl")
    ax[1].plot([r["epoch"] for r in rows2], [r["aux_path_kl"] for r in rows2], marker=".", color="C1")
    ax[1].set_xlabel("epoch")
    ax[1].set_ylabel("nats per trajectory")
    ax[1].set_title("path KL <ln P0[noising] - ln P[reverse]>")
    ax[1].grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)



def first_heat(store: RunStore) -> float:
    from physlearning.runs.store import read_metrics

    rows = [r for r in read_metrics(store.path) if r.get("epoch") == 0 and "gen_heat_kT" in r]
    return float(rows[0]["gen_heat_kT"]) if rows else float("nan")



def heat_figure(run_dir: Path) -> list[str]:
    from physlearning.runs.store import read_metrics

    history = read_metrics(run_dir)
    return [heat_plot(history, run_dir / "plots" / "heat.png").name] if _by_epoch(history, "gen_heat_kT") else []


