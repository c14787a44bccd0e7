"""Config sections shared by the spring and resistor experiments (rule, solver, full-batch
training), declared once; the rule and solver they build, the Trainer call, and the curve figures."""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from physlearning import config as cfgmod
from physlearning import registry
from physlearning.config import ConfigError, param
from physlearning.core import LearningRule, SquaredError
from physlearning.core.equilibrium import Equilibrium
from physlearning.rules.ep import predict
from physlearning.runs import plots
from physlearning.runs.store import read_metrics
from physlearning.train import OptimizerSpec, Trainer

# the rule names of these experiments' configs -> the registry's rule kinds (``registry.rules()``)
RULE_KINDS = {"ep_symmetric": "ep", "ep_one_sided": "ep", "ep_holomorphic": "ep", "coupled": "coupled",
              "autodiff": "implicit_autodiff"}
RULES = tuple(RULE_KINDS)

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


def check_range(key: str, value, *, strict: bool, why: str = "") -> None:
    """A [low, high] pair with 0 <= low <= high (0 < low when ``strict``)."""
    ok = len(value) == 2 and (0 < value[0] if strict else 0 <= value[0]) and value[0] <= value[1]
    if not ok:
        raise ConfigError(f"{key} = {list(value)!r}: allowed values are [low, high] with "
                          f"{'0 < low' if strict else '0 <= low'} <= high{why}")


def make_solver(c: SolverConfig) -> Equilibrium:
    return Equilibrium(method="newton", rtol=c.rtol, atol=c.atol, max_steps=c.max_steps)


def make_rule(c: RuleConfig, solver: Equilibrium) -> LearningRule:
    """The configured rule, built through the rule registry from its own section (EP estimators, coupled
    learning, implicit autodiff) and relaxed by ``solver``."""
    kind = RULE_KINDS[c.name]
    knobs = {"ep": {"beta": c.beta, "estimator": c.name.removeprefix("ep_"), "n_points": c.n_points},
             "coupled": {"eta": c.eta}}.get(kind, {})
    return registry.build_rule(kind, registry.rules()[kind].section(**knobs), solver=solver)



def train_network(model, x, y, rule_cfg: RuleConfig, solver_cfg: SolverConfig, train_cfg: TrainConfig, seed: int,
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


def curve_figures(run_dir, what: str, experiment: str) -> list[str]:
    """``loss.png`` (training loss and cost, log scale) and the generic ``curves.png``, from metrics.jsonl."""
    history = read_metrics(run_dir)
    drawn = []
    p = plots.curves(history, run_dir / "plots" / "loss.png", keys=["train_loss", "train_cost"], logy=True,
                     title=f"{what}, {_rule_name(run_dir)}")
    drawn += [] if p is None else [p.name]
    p = plots.curves(history, run_dir / "plots" / "curves.png", title=experiment)
    return drawn + ([] if p is None else [p.name])


