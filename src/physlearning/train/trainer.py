"""The one Trainer: every training loop of the package runs through :meth:`Trainer.fit`.

One module-level jitted step (:func:`train_step`: rule gradient -> optax update -> physical
projection -> divergence flag), so fits of the same shapes, rule, cost and optimiser compile once
per process. Per epoch: batches from a source (:mod:`physlearning.train.batches`), aux metrics
summed on the device and read once, validation, model selection, a checkpoint of the last good
model and a resumable training state in the run folder. A step with NaN/inf in the loss, the
gradient or the updated parameters, or a loss beyond ``loss_explosion`` times the first loss,
stops the run with :class:`~physlearning.errors.DivergenceError`; the last good checkpoint (if an
epoch finished) is kept. SIGINT/SIGTERM end it after the current step with
:class:`~physlearning.errors.RunInterrupted`; ``resume=True`` continues from the stored state and
ends with the same numbers as an uninterrupted run (CPU).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

from physlearning.core import Cost, LearningRule, Substrate, seeds, tree_finite, tree_where
from physlearning.errors import ConfigError, DivergenceError
from physlearning.train import interrupt
from physlearning.train.batches import ArrayBatches
from physlearning.train.optim import OptimizerSpec

Evaluate = Callable[[Substrate, Any, Any], dict[str, float]]


@eqx.filter_jit
def train_step(optimizer: optax.GradientTransformation, rule: LearningRule, cost: Cost, model: Substrate,
               rule_state, opt_state, batch, key, halted, loss_limit):
    """One update. Returns ``(model, rule_state, opt_state, aux, ok)``; when ``halted`` (an earlier
    step of this check window failed) or this step is not ``ok``, the inputs are returned unchanged
    so the last good model survives."""
    grads, new_rule_state, aux = rule.gradient(model, rule_state, batch, cost, key)
    design = model.design()
    updates, new_opt = optimizer.update(grads, opt_state, design.params())
    new_design = eqx.apply_updates(design, updates).project()
    loss = aux["loss"]
    ok = (tree_finite(grads) & jnp.isfinite(loss) & tree_finite(new_design.params())
          & (jnp.real(loss) <= loss_limit) & ~halted)
    keep = lambda new, old: tree_where(ok, new, old)
    return (keep(model.with_design(new_design), model), keep(new_rule_state, rule_state), keep(new_opt, opt_state),
            aux, ok)


def init_opt_state(optimizer: optax.GradientTransformation, model: Substrate):
    """The optimiser state for ``model``'s design parameters (what :func:`train_step` expects)."""
    return optimizer.init(model.design().params())


@eqx.filter_jit
def _ema_step(avg: Substrate, model: Substrate, decay) -> Substrate:
    trainable = avg.param_filter()
    a, static = eqx.partition(avg, trainable)
    m, _ = eqx.partition(model, trainable)
    return eqx.combine(jax.tree_util.tree_map(lambda x, y: decay * x + (1 - decay) * y, a, m), static)


@dataclasses.dataclass
class TrainResult:
    model: Substrate
    history: list[dict]
    best_epoch: int
    wall_time_s: float
    compile_time_s: float
    rule_state: Any = None
    resumed_from: int = 0
    """epoch the fit resumed after (0: a fresh fit)."""


@dataclasses.dataclass
class Trainer:
    """Generic trainer.

    ``optimizer``: an :class:`OptimizerSpec` (built for the run's total step count; equal specs
    share one compiled step) or an optax transformation. ``select`` = ``"val"`` keeps the epoch with
    the best validation ``select_metric`` (higher is better unless ``minimize``); ``"final"`` the
    last model. ``name`` names the fit's seed streams and its resumable state in the run folder
    (unique per run; repeated names get ``-2``, ``-3``, ... in call order).
    """

    rule: LearningRule
    cost: Cost
    optimizer: OptimizerSpec | optax.GradientTransformation
    epochs: int
    batch_size: int = 32
    seed: int = 0
    evaluate: Evaluate | None = None
    store: Any = None
    select: str = "val"
    select_metric: str = "val_accuracy"
    minimize: bool = False
    progress: bool = True
    desc: str = "train"
    on_epoch: Callable[[int, Substrate, dict], None] | None = None
    augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None
    """Optional data augmentation of each training input batch (numpy; its own stream)."""
    ema: float = 0.0
    """Polyak (exponential moving) average of the trainable parameters with this decay (0: off, else
    < 1); when on, the averaged model is evaluated, selected and checkpointed, while ``train_loss`` is
    that of the raw iterates. The decay ramps up as ``min(ema, (1 + t) / (10 + t))`` after ``t`` steps."""
    label_smoothing: float = 0.0
    """Training targets t -> (1 - eps) t + eps / K over the K classes (Szegedy et al. 2016)."""
    loss_explosion: float | None = 1e3
    """divergence when a step's loss exceeds ``l0 + loss_explosion * max(|l0|, 1e-12)`` (l0: the first
    step's loss; None: off)."""
    check_every: int = 16
    """steps between host-side divergence/interrupt checks (a failed step freezes the model until then)."""
    sharding: Any = None
    """a ``jax.sharding.Sharding`` for the batches (data parallelism over devices); None: default device."""
    name: str | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.ema < 1:
            raise ConfigError(f"ema = {self.ema!r}: allowed values are 0 <= ema < 1 (0: no averaging)")
        if not 0 <= self.label_smoothing < 1:
            raise ConfigError(f"label_smoothing = {self.label_smoothing!r}: allowed values are 0 <= eps < 1")
        if self.select not in ("val", "final"):
            raise ConfigError(f"select = {self.select!r}: allowed values are ['val', 'final']")
        if self.epochs < 0:
            raise ConfigError(f"epochs = {self.epochs!r}: allowed values are >= 0")

    # ------------------------------------------------------------------------------------------ helpers
    def _source(self, train):
        if hasattr(train, "epoch") and hasattr(train, "steps_per_epoch"):
            return train
        x, y = train
        if self.label_smoothing > 0:
            if np.ndim(y) != 2 or np.shape(y)[1] < 2:
                raise ConfigError(f"label_smoothing needs one-hot targets (n, K >= 2); got shape {np.shape(y)}")
            eps = self.label_smoothing
            y = ((1 - eps) * np.asarray(y) + eps / np.shape(y)[1]).astype(np.asarray(y).dtype)
        return ArrayBatches(x, y, self.batch_size)

    def _put(self, a):
        if a is None:
            return None
        a = jnp.asarray(a)
        return a if self.sharding is None else jax.device_put(a, self.sharding)

    def _transform(self, steps_per_epoch: int) -> optax.GradientTransformation:
        if isinstance(self.optimizer, OptimizerSpec):
            return self.optimizer.build(self.epochs * steps_per_epoch)
        return self.optimizer

    # ------------------------------------------------------------------------------------------ fit
    def fit(self, model: Substrate, train, val=None, *, resume: bool | None = None) -> TrainResult:
        """Train ``model`` on ``train`` (``(x, y)`` arrays or a batch source); evaluate on ``val``.

        ``resume``: continue from this fit's state in the run folder (default: when the store was
        opened for resuming)."""
        source = self._source(train)
        steps = source.steps_per_epoch
        opt = self._transform(steps)
        name = self.name or self.desc
        if self.store is not None:
            name = self.store.claim_fit_name(name)
        resume = bool(getattr(self.store, "resuming", False)) if resume is None else resume

        rule_state = self.rule.init(model)
        opt_state = init_opt_state(opt, model)
        history: list[dict] = []
        best_model, best_score, best_epoch, avg, n_updates = model, None, 0, model, 0
        first_loss, compile_time, elapsed, start_epoch = None, 0.0, 0.0, 0
        template = (model, rule_state, opt_state, best_model, avg)
        if resume and self.store is not None and (saved := self.store.load_fit(name, template)) is not None:
            (model, rule_state, opt_state, best_model, avg), meta = saved
            history, best_score, best_epoch = meta["history"], meta["best_score"], meta["best_epoch"]
            n_updates, first_loss, compile_time = meta["n_updates"], meta["first_loss"], meta["compile_time_s"]
            elapsed, start_epoch = meta["elapsed_s"], meta["epoch"]
            if meta["done"]:
                return TrainResult(best_model, history, best_epoch, elapsed, compile_time, rule_state, start_epoch)
            self.store.log({"event": "resumed", "fit": name, "epoch": start_epoch,
                            "message": f"{name}: resumed after epoch {start_epoch}"})

        t0 = time.perf_counter() - elapsed
        limit = jnp.inf if first_loss is None or self.loss_explosion is None else \
            first_loss + self.loss_explosion * max(abs(first_loss), 1e-12)
        bar = tqdm(range(start_epoch + 1, self.epochs + 1), desc=self.desc, disable=None if self.progress else True,
                   leave=False)
        last_saved = start_epoch if start_epoch > 0 else None
        with interrupt.deferring():
            for epoch in bar:
                rng = seeds.numpy_rng(self.seed, name + ".batches", epoch)
                aug_rng = seeds.numpy_rng(self.seed, name + ".augment", epoch)
                key = seeds.jax_key(self.seed, name + ".steps", epoch)
                sums: dict[str, jax.Array] = {}
                halted = jnp.array(False)
                pending: list[tuple[int, jax.Array]] = []
                for i, (xb, yb) in enumerate(source.epoch(rng)):
                    if self.augment is not None:
                        xb = self.augment(xb, aug_rng)
                    ts = time.perf_counter()
                    model, rule_state, opt_state, aux, ok = train_step(
                        opt, self.rule, self.cost, model, rule_state, opt_state, (self._put(xb), self._put(yb)),
                        jax.random.fold_in(key, i), halted, jnp.asarray(limit, jnp.float32))
                    if first_loss is None:
                        jax.block_until_ready(aux["loss"])
                        compile_time = time.perf_counter() - ts
                        if bool(ok):
                            first_loss = float(jnp.real(aux["loss"]))
                            if self.loss_explosion is not None:
                                limit = first_loss + self.loss_explosion * max(abs(first_loss), 1e-12)
                    halted = halted | ~ok
                    pending.append((i, ok))
                    for k, v in aux.items():
                        if jnp.ndim(v) == 0:
                            sums[k] = sums.get(k, 0.0) + jnp.real(v)
                    if (i + 1) % self.check_every == 0 or i == steps - 1:
                        if bool(halted):
                            bad = next(j for j, flag in pending if not bool(flag))
                            self._diverged(epoch, bad, last_saved, bar)
                        pending = []
                        interrupt.check(f"during epoch {epoch} (resume continues after epoch {last_saved or 0})")
                    if self.ema > 0:
                        avg = _ema_step(avg, model, jnp.asarray(min(self.ema, (1 + n_updates) / (10 + n_updates))))
                    n_updates += 1
                means = {k: float(v) / steps for k, v in sums.items()}
                rec: dict[str, Any] = {"epoch": epoch, "train_loss": means.pop("loss"),
                                       "time_s": time.perf_counter() - t0}
                rec.update({f"aux_{k}": v for k, v in means.items()})
                current = avg if self.ema > 0 else model
                if self.evaluate is not None and val is not None:
                    rec.update(self.evaluate(current, *val))
                history.append(rec)
                if self.on_epoch is not None:
                    self.on_epoch(epoch, current, rec)
                score = rec.get(self.select_metric)
                if self.select == "final" or score is None:
                    best_model, best_epoch = current, epoch
                elif best_score is None or (score < best_score if self.minimize else score > best_score):
                    best_model, best_score, best_epoch = current, score, epoch
                if self.store is not None:
                    self.store.log({**rec, "fit": name})
                    self.store.save_checkpoint(current)
                    self._save(name, (model, rule_state, opt_state, best_model, avg), history, best_score, best_epoch,
                               n_updates, first_loss, compile_time, t0, epoch, done=False)
                last_saved = epoch
                bar.set_postfix(loss=f"{rec['train_loss']:.4g}",
                                **({self.select_metric: f"{score:.4g}"} if score is not None else {}))
                interrupt.check(f"after epoch {epoch}")
        bar.close()
        wall = time.perf_counter() - t0
        if self.store is not None:
            self.store.save_checkpoint(best_model)
            self._save(name, (model, rule_state, opt_state, best_model, avg), history, best_score, best_epoch,
                       n_updates, first_loss, compile_time, t0, self.epochs, done=True)
        return TrainResult(best_model, history, best_epoch, wall, compile_time, rule_state, start_epoch)

    def _diverged(self, epoch: int, step: int, last_saved: int | None, bar) -> None:
        bar.close()
        if self.store is None:
            kept = "nothing was saved (this fit runs without a run folder)"
        elif last_saved is not None:
            kept = f"metrics and the checkpoint of epoch {last_saved} were kept"
        else:
            kept = "metrics were kept, no checkpoint (no epoch finished)"
        why = "NaN/inf in the loss, gradient or parameters" + (
            "" if self.loss_explosion is None else f", or a loss beyond {self.loss_explosion}x the first loss")
        msg = f"training diverged at epoch {epoch}, step {step}: {why} (lower the learning rate); {kept}"
        if self.store is not None:
            self.store.log({"event": "diverged", "epoch": epoch, "step": step, "message": msg})
        raise DivergenceError(msg)

    def _save(self, name, trees, history, best_score, best_epoch, n_updates, first_loss, compile_time, t0, epoch,
              done) -> None:
        meta = {"epoch": epoch, "history": history, "best_score": best_score, "best_epoch": best_epoch,
                "n_updates": n_updates, "first_loss": first_loss, "compile_time_s": compile_time,
                "elapsed_s": time.perf_counter() - t0, "done": done}
        self.store.save_fit(name, trees, json.loads(json.dumps(meta, default=float)))
