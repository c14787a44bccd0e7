"""One trainer for every substrate and learning rule.

``Trainer.fit`` runs epochs of mini-batches through one jitted step
(rule gradient -> optax update -> physical projection), evaluates on a validation split
after each epoch, keeps the model chosen on validation (or the final one), streams
metrics to the run folder, checkpoints the last good model and stops on divergence
(NaN/inf loss or gradient) with a message, keeping what it had.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

from physlearning.core import Batch, Cost, LearningRule, Substrate
from physlearning.experiments.runstore import RunStore


class DivergenceError(RuntimeError):
    """Training produced NaN/inf; the run folder keeps metrics and the last good checkpoint."""


Evaluate = Callable[[Substrate, np.ndarray, np.ndarray], dict[str, float]]


def make_optimizer(
    name: str,
    lr: float,
    *,
    epochs: int = 1,
    steps_per_epoch: int = 1,
    schedule: str = "constant",
    clip: float | None = None,
    weight_decay: float = 0.0,
    momentum: float = 0.9,
) -> optax.GradientTransformation:
    """optax optimiser by name: ``adam``, ``adamw``, ``sgd`` (with momentum);
    schedule ``constant`` or ``cosine`` (decay over all steps)."""
    total = max(epochs * steps_per_epoch, 1)
    sched = optax.cosine_decay_schedule(lr, total) if schedule == "cosine" else lr
    if name == "adam":
        opt = optax.adam(sched)
    elif name == "adamw":
        opt = optax.adamw(sched, weight_decay=weight_decay)
    elif name == "sgd":
        opt = optax.sgd(sched, momentum=momentum or None)
    else:
        raise ValueError(f"optimizer {name!r}: allowed values are ['adam', 'adamw', 'sgd']")
    return optax.chain(optax.clip_by_global_norm(clip), opt) if clip else opt


def _finite_tree(tree) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


@dataclasses.dataclass
class TrainResult:
    model: Substrate
    history: list[dict]
    best_epoch: int
    wall_time_s: float
    compile_time_s: float


@dataclasses.dataclass
class Trainer:
    """Generic mini-batch trainer.

    ``select`` = ``"val"`` keeps the epoch with the best validation ``select_metric``
    (higher is better unless ``minimize``); ``"final"`` keeps the last model.
    """

    rule: LearningRule
    cost: Cost
    optimizer: optax.GradientTransformation
    epochs: int
    batch_size: int
    seed: int = 0
    evaluate: Evaluate | None = None
    store: RunStore | None = None
    select: str = "val"
    select_metric: str = "val_accuracy"
    minimize: bool = False
    progress: bool = True
    desc: str = "train"
    on_epoch: Callable[[int, Substrate, dict], None] | None = None
    augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None
    """Optional data augmentation applied to each training input batch (numpy; its own
    generator seeded from ``seed``, so switching it on leaves the batch order unchanged)."""
    ema: float = 0.0
    """Polyak (exponential moving) average of the trainable parameters with this decay (0: off,
    else < 1); when on, the averaged model is the one evaluated, selected and checkpointed,
    while ``train_loss`` is that of the raw iterates. The decay ramps up as
    ``min(ema, (1 + t) / (10 + t))`` after ``t`` steps, so early averages are not pinned to the
    initial parameters."""
    label_smoothing: float = 0.0
    """Training targets t -> (1 - eps) t + eps / K over the K classes (Szegedy et al. 2016);
    validation metrics keep the plain targets. Needs one-hot (K-column) targets."""

    def __post_init__(self) -> None:
        if not 0 <= self.ema < 1:
            raise ValueError(f"ema = {self.ema!r}: allowed values are 0 <= ema < 1 (0: no averaging)")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing = {self.label_smoothing!r}: allowed values are 0 <= eps < 1")

    def _step_fn(self):
        rule, cost, opt = self.rule, self.cost, self.optimizer

        @eqx.filter_jit
        def step(model: Substrate, opt_state, batch: Batch, key):
            grads, aux = rule.gradient(model, batch, cost, key)
            params = model.params()
            updates, opt_state = opt.update(grads, opt_state, params)
            new_model = eqx.apply_updates(model, updates).project()
            ok = _finite_tree(grads) & jnp.isfinite(aux["loss"])
            return new_model, opt_state, aux, ok

        return step

    @staticmethod
    @eqx.filter_jit
    def _ema_step(avg: Substrate, model: Substrate, decay) -> Substrate:
        trainable = avg.param_filter()
        a, static = eqx.partition(avg, trainable)
        m, _ = eqx.partition(model, trainable)
        new = jax.tree_util.tree_map(lambda x, y: decay * x + (1 - decay) * y, a, m)
        return eqx.combine(new, static)

    def fit(
        self, model: Substrate, train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray] | None = None
    ) -> TrainResult:
        x_tr, y_tr = train
        n = len(x_tr)
        if n == 0:
            raise ValueError("training set is empty")
        if self.label_smoothing > 0:
            if np.ndim(y_tr) != 2 or np.shape(y_tr)[1] < 2:
                raise ValueError(f"label_smoothing needs one-hot targets (n, K >= 2); got shape {np.shape(y_tr)}")
            eps = self.label_smoothing
            y_tr = ((1 - eps) * np.asarray(y_tr) + eps / np.shape(y_tr)[1]).astype(np.asarray(y_tr).dtype)
        bs = min(self.batch_size, n)
        steps = n // bs
        key = jax.random.PRNGKey(self.seed)
        opt_state = self.optimizer.init(model.params())
        step = self._step_fn()
        rng = np.random.default_rng(self.seed)
        aug_rng = np.random.default_rng([self.seed, 1])
        history: list[dict] = []
        best_model, best_score, best_epoch = model, None, 0
        avg, n_updates = model, 0
        t0 = time.perf_counter()
        compile_time = 0.0
        # disable=None: progress bars on a terminal only, not in logs
        bar = tqdm(range(1, self.epochs + 1), desc=self.desc, disable=None if self.progress else True, leave=False)
        for epoch in bar:
            perm = rng.permutation(n)
            losses = []
            aux_sum: dict[str, float] = {}
            for i in range(steps):
                idx = perm[i * bs : (i + 1) * bs]
                xb = x_tr[idx] if self.augment is None else self.augment(x_tr[idx], aug_rng)
                key, sub = jax.random.split(key)
                ts = time.perf_counter()
                new_model, new_opt, aux, ok = step(model, opt_state, (jnp.asarray(xb), jnp.asarray(y_tr[idx])), sub)
                if epoch == 1 and i == 0:
                    jax.block_until_ready(aux["loss"])
                    compile_time = time.perf_counter() - ts
                if not bool(ok):
                    msg = (
                        f"training diverged at epoch {epoch}, step {i}: loss={float(aux['loss'])!r} "
                        "(NaN/inf in loss or gradient); kept metrics and the last good checkpoint"
                    )
                    if self.store is not None:
                        self.store.log({"event": "diverged", "epoch": epoch, "step": i, "message": msg})
                    bar.close()
                    raise DivergenceError(msg)
                model, opt_state = new_model, new_opt
                if self.ema > 0:
                    avg = self._ema_step(avg, model, jnp.asarray(min(self.ema, (1 + n_updates) / (10 + n_updates))))
                    n_updates += 1
                losses.append(float(aux["loss"]))
                for k, v in aux.items():
                    if k != "loss" and jnp.ndim(v) == 0:
                        aux_sum[k] = aux_sum.get(k, 0.0) + float(v)
            rec: dict[str, Any] = {
                "epoch": epoch,
                "train_loss": float(np.mean(losses)),
                "time_s": time.perf_counter() - t0,
            }
            rec.update({f"aux_{k}": v / steps for k, v in aux_sum.items()})
            current = avg if self.ema > 0 else model
            if self.evaluate is not None and val is not None:
                rec.update(self.evaluate(current, *val))
            history.append(rec)
            if self.store is not None:
                self.store.log(rec)
                self.store.save_checkpoint(current)
            if self.on_epoch is not None:
                self.on_epoch(epoch, current, rec)
            score = rec.get(self.select_metric)
            if self.select == "final" or score is None:
                best_model, best_epoch = current, epoch
            else:
                better = best_score is None or (score < best_score if self.minimize else score > best_score)
                if better:
                    best_model, best_score, best_epoch = current, score, epoch
            bar.set_postfix(
                loss=f"{rec['train_loss']:.4g}", **({self.select_metric: f"{score:.4g}"} if score is not None else {})
            )
        bar.close()
        if self.store is not None:
            self.store.save_checkpoint(best_model)
        return TrainResult(best_model, history, best_epoch, time.perf_counter() - t0, compile_time)
