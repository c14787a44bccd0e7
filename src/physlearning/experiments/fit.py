"""``fit``: teacher-student regression on any registered substrate with any applicable rule.

A teacher (the same substrate kind, drawn from its own seed stream) maps random inputs in [0, 1] to
targets; a student of the same kind is trained from another draw with the chosen rule. Reported:
test MSE before and after, their ratio, and the student's distance to the teacher. Substrates and
rules come from the registries (:mod:`physlearning.registry`), so a new one-file substrate or rule
runs here without editing this file: ``[substrate] kind = "..."`` with its knobs in
``[substrate.<kind>]``, ``[rule] kind = "..."`` with its knobs in ``[rule.<kind>]``.
"""

from __future__ import annotations

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np

from physlearning import registry
from physlearning.config import ConfigError, param, section, seed_param
from physlearning.core import Seeds, SquaredError
from physlearning.runs import plots
from physlearning.runs.registry import Experiment
from physlearning.train import OptimizerSpec, Trainer

_SUBSTRATES = sorted(k for k, e in registry.substrates().items() if e.cls is not None)
_RULES = sorted(registry.rules())
SubstrateSection = registry.substrate_section(_SUBSTRATES, "resistor_lattice")
RuleSection = registry.rule_section(_RULES, "ep")


@dataclasses.dataclass(frozen=True)
class Task:
    """Teacher-student regression: inputs uniform in [0, 1]^n_inputs."""

    n_inputs: int = param(3, ge=1, le=10_000)
    n_outputs: int = param(2, ge=1, le=10_000)
    n_train: int = param(64, ge=1, le=1_000_000)
    n_test: int = param(256, ge=1, le=1_000_000)


@dataclasses.dataclass(frozen=True)
class Train:
    """Optimiser and schedule (the same section every experiment uses)."""

    epochs: int = param(40, ge=1, le=1_000_000)
    batch_size: int = param(16, ge=1)
    optimizer: str = param("adam", choices=("adam", "adamw", "sgd"))
    lr: float = param(0.02, gt=0, le=1e3)
    schedule: str = param("constant", choices=("constant", "cosine"))


@dataclasses.dataclass(frozen=True)
class FitConfig:
    seed: int = seed_param()
    substrate: SubstrateSection = section(SubstrateSection)  # type: ignore[valid-type]
    rule: RuleSection = section(RuleSection)  # type: ignore[valid-type]
    task: Task = section(Task)
    train: Train = section(Train)

    def validate(self) -> None:
        cls = registry.substrates()[self.substrate.kind].cls
        families = registry.rules()[self.rule.kind].families
        if not issubclass(cls, families):
            ok = registry.rules_for(cls)
            raise ConfigError(f"rule.kind = {self.rule.kind!r} does not apply to substrate.kind = "
                              f"{self.substrate.kind!r} ({cls.__name__}); allowed rules: {ok}")
        if self.train.batch_size > self.task.n_train:
            raise ConfigError(f"train.batch_size = {self.train.batch_size}: larger than task.n_train = "
                              f"{self.task.n_train}; allowed 1 <= batch_size <= n_train")


def _build(cfg: FitConfig, key):
    entry = registry.substrates()[cfg.substrate.kind]
    return entry.build(getattr(cfg.substrate, cfg.substrate.kind), cfg.task.n_inputs, cfg.task.n_outputs, key)


def template(cfg: FitConfig):
    return _build(cfg, Seeds(cfg.seed).key("model.student"))


def run_fit(cfg: FitConfig, store) -> dict:
    t0 = time.perf_counter()
    seeds = Seeds(cfg.seed)
    teacher = _build(cfg, seeds.key("model.teacher"))
    student = _build(cfg, seeds.key("model.student"))
    t = cfg.task
    x_tr = seeds.rng("data.train").uniform(0, 1, (t.n_train, t.n_inputs)).astype(np.float32)
    x_te = seeds.rng("data.test").uniform(0, 1, (t.n_test, t.n_inputs)).astype(np.float32)
    predict = jax.jit(lambda m, x: m.predict(x, None))
    y_tr, y_te = np.asarray(predict(teacher, x_tr)), np.asarray(predict(teacher, x_te))
    cost = SquaredError()

    def mse(m, x, y):
        return float(jnp.mean(jnp.sum((predict(m, x) - y) ** 2, -1)))

    def evaluate(m, x, y):
        return {"test_mse": mse(m, x, y)}

    rule = registry.build_rule_from(cfg.rule)
    tc = cfg.train
    trainer = Trainer(rule, cost, OptimizerSpec(tc.optimizer, tc.lr, tc.schedule), tc.epochs, tc.batch_size,
                      seed=cfg.seed, evaluate=evaluate, store=store, select="final", progress=False,
                      desc=f"fit[{cfg.substrate.kind},{cfg.rule.kind}]")
    before = mse(student, x_te, y_te)
    res = trainer.fit(student, (x_tr, y_tr), (x_te, y_te))
    after = mse(res.model, x_te, y_te)
    return {"test_mse": after, "initial_test_mse": before, "test_mse_ratio": after / before,
            "substrate": cfg.substrate.kind, "rule": cfg.rule.kind, "n_parameters": int(sum(
                np.size(p) for p in jax.tree_util.tree_leaves(res.model.params()))),
            "train_time_s": res.wall_time_s, "compile_time_s": res.compile_time_s,
            "wall_time_s": time.perf_counter() - t0}


def figures(run_dir) -> list[str]:
    return plots.run_curves(run_dir, "teacher-student regression (MSE per sample)", logy=True)


EXPERIMENTS = [
    Experiment(
        name="fit",
        config_cls=FitConfig,
        run=run_fit,
        description="Teacher-student regression on any registered substrate with any applicable rule",
        headline=("test_mse_ratio", "substrate", "rule"),
        template=template,
        figures=figures,
    ),
]
