"""Optimisers (optax) from a hashable spec, so equal specs give the same transformation object
and the Trainer's jitted step compiles once per shape (never hand-written SGD/Adam)."""

from __future__ import annotations

import dataclasses
import functools

import optax

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine")


@dataclasses.dataclass(frozen=True)
class OptimizerSpec:
    """``name`` in :data:`OPTIMIZERS`, learning rate ``lr``, ``schedule`` (``cosine``: decay to 0
    over all steps of the run), global-norm ``clip`` (None: off), decoupled ``weight_decay``
    (adamw), ``momentum`` (sgd; 0: plain SGD)."""

    name: str = "adam"
    lr: float = 1e-3
    schedule: str = "constant"
    clip: float | None = None
    weight_decay: float = 0.0
    momentum: float = 0.9

    def __post_init__(self) -> None:
        if self.name not in OPTIMIZERS:
            raise ValueError(f"optimizer {self.name!r}: allowed values are {list(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule {self.schedule!r}: allowed values are {list(SCHEDULES)}")
        if not self.lr > 0:
            raise ValueError(f"lr = {self.lr!r}: allowed values are lr > 0")

    def build(self, total_steps: int = 1) -> optax.GradientTransformation:
        """The optax transformation for a run of ``total_steps`` updates (cached: equal specs and
        step counts return the same object)."""
        return _build(self, max(int(total_steps), 1))


@functools.lru_cache(maxsize=256)
def _build(spec: OptimizerSpec, total: int) -> optax.GradientTransformation:
    sched = optax.cosine_decay_schedule(spec.lr, total) if spec.schedule == "cosine" else spec.lr
    if spec.name == "adam":
        opt = optax.adam(sched)
    elif spec.name == "adamw":
        opt = optax.adamw(sched, weight_decay=spec.weight_decay)
    else:
        opt = optax.sgd(sched, momentum=spec.momentum or None)
    return optax.chain(optax.clip_by_global_norm(spec.clip), opt) if spec.clip else opt


def make_optimizer(name: str, lr: float, *, epochs: int = 1, steps_per_epoch: int = 1, schedule: str = "constant",
                   clip: float | None = None, weight_decay: float = 0.0,
                   momentum: float = 0.9) -> optax.GradientTransformation:
    """optax optimiser by name for ``epochs * steps_per_epoch`` steps (see :class:`OptimizerSpec`)."""
    return OptimizerSpec(name, lr, schedule, clip, weight_decay, momentum).build(epochs * steps_per_epoch)
