"""The registry-driven gradient matrix: every registered substrate x every rule of its family.

For each substrate's small float64 ``check_case`` it compares each rule's gradient with

* the substrate's reference rule (autodiff / implicit autodiff through the substrate's own solver):
  ``cosine`` and ``rel_error``;
* central finite differences of the loss at equilibria found by a *different* method
  (:func:`independent_predict`: the substrate's closed form when it has one, else fixed-point
  iteration <-> Newton for a relaxation map, else a BFGS minimisation of the energy polished by a few
  Newton steps on its Hessian, else its forward map): ``fd_cosine`` and ``fd_rel_error``, so an error
  of the solver the rules share shows up as a disagreement with this column.

float64 is switched on inside :func:`check_rows` only (``jax.enable_x64`` context).
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import optimistix as optx
from jax.flatten_util import ravel_pytree

from physlearning import registry
from physlearning.core import EnergySubstrate, tree_cosine, tree_rel_error

FD_STEP = 1e-5
"""central-difference step (float64; truncation ~h^2, rounding ~eps/h)."""


def independent_predict(sub, x):
    """Outputs at equilibria found without the rules' solver: ``exact_predict`` (a closed form) when the
    substrate has one; with a relaxation map (Hopfield), damped fixed-point iteration of the physical
    dynamics when the substrate's solver is Newton (else Newton); for other energy substrates (whose
    solver is Newton on dF/ds) a minimisation of E: BFGS (optimistix), then :data:`POLISH_STEPS` Newton
    steps on the dense Hessian d^2E/ds^2 written here (:func:`_minimise`); else ``predict``."""
    from physlearning.core.equilibrium import Equilibrium

    if hasattr(sub, "exact_predict"):
        return sub.exact_predict(x)
    if isinstance(sub, EnergySubstrate) and sub.fixed_point_map is not None:
        method = "newton" if sub.solver().method == "fixed_point" else "fixed_point"
        other = Equilibrium(method, rtol=1e-14, atol=1e-14, max_steps=20_000, damping=0.5)
        return sub.with_equilibrium(other).predict(x, None)
    if isinstance(sub, EnergySubstrate):
        return jax.vmap(lambda xi: sub.readout(_minimise(sub, xi)))(x)
    return sub.predict(x, None)


POLISH_STEPS = 3
"""Newton steps on d^2E/ds^2 after BFGS: BFGS's step-size termination stops at |dE/ds| ~ 1e-10..1e-8 (its
state off by up to ~1e-9 on the check cases, which central differences with h = 1e-5 amplify to a relative
error ~1e-4), from where Newton converges quadratically to the float64 floor in one or two steps."""


def _minimise(sub, xi):
    """The minimum of E(s; x) for one sample: BFGS from ``init_state`` (a descent method, so a minimum of
    the basin, not any stationary point), then :data:`POLISH_STEPS` dense Newton steps s <- s - H^-1 dE/ds
    (no line search or termination test: a fixed number of steps, differentiable)."""
    s0 = sub.init_state(xi)
    sol = optx.minimise(lambda s, _: sub.energy(s, xi), optx.BFGS(rtol=1e-14, atol=1e-14), s0, max_steps=20_000,
                        throw=False)
    flat, unravel = ravel_pytree(sol.value)
    energy = lambda f: sub.energy(unravel(f), xi)
    for _ in range(POLISH_STEPS):
        flat = flat - jnp.linalg.solve(jax.hessian(energy)(flat), jax.grad(energy)(flat))
    return unravel(flat)


def fd_gradient(sub, batch, cost, h: float = FD_STEP):
    """Central finite differences of mean C(independent_predict) over the design's trainable parameters."""
    x, t = batch
    design = sub.design()
    params, static = eqx.partition(design, design.param_filter())
    flat, unravel = ravel_pytree(params)
    loss = jax.jit(lambda f: jnp.mean(jax.vmap(cost)(
        independent_predict(sub.with_design(eqx.combine(unravel(f), static)), x), t)))
    eye = jnp.eye(flat.size, dtype=flat.dtype) * h
    g = jnp.stack([(loss(flat + e) - loss(flat - e)) / (2 * h) for e in eye])
    return unravel(g)


def _build(entry: registry.RuleEntry, variant: dict | None = None):
    return entry.build(dataclasses.replace(entry.section(), **entry.check, **(variant or {})))


@eqx.filter_jit
def _gradient(rule, sub, batch, cost, key):
    """A rule's gradient estimate, compiled once per (rule, substrate structure): about half the time of
    running the rules' Python eagerly, and cached across check cases of the same shapes."""
    return rule.estimate(sub, batch, cost, key)[0]


def check_rows(only: list[str] | None = None, exact_only: bool = False) -> list[dict]:
    """One row per (registered substrate, applicable rule): cosine / rel_error against the reference rule
    and against finite differences at independently found equilibria. ``only``: these substrate kinds;
    ``exact_only``: skip the rules registered with ``exact=False`` (coupled learning, SPSA)."""
    rows = []
    rules = registry.rules()
    with jax.enable_x64(True):
        for kind, entry in sorted(registry.substrates().items()):
            if entry.check_case is None or (only and kind not in only):
                continue
            sub, batch, cost = entry.check_case()
            key = jax.random.PRNGKey(0)
            ref = _gradient(_build(rules[entry.reference]), sub, batch, cost, key)
            fd = fd_gradient(sub, batch, cost)
            for rk in registry.rules_for(sub):
                if exact_only and not rules[rk].exact:
                    continue
                for name, variant in (rules[rk].variants or {"": {}}).items():
                    g = ref if rk == entry.reference else _gradient(_build(rules[rk], variant), sub, batch, cost, key)
                    rows.append({"substrate": kind, "rule": f"{rk}_{name}" if name else rk,
                                 "reference": entry.reference,
                                 "cosine": float(tree_cosine(g, ref)), "rel_error": float(tree_rel_error(g, ref)),
                                 "fd_cosine": float(tree_cosine(g, fd)), "fd_rel_error": float(tree_rel_error(g, fd)),
                                 "exact": rules[rk].exact})
    return rows
