"""The registry-driven gradient matrix: every registered substrate x every rule of its family.

For each substrate's small float64 ``check_case`` it compares each rule's gradient with

* the substrate's reference rule (autodiff / implicit autodiff through the substrate's own solver):
  ``cosine`` and ``rel_error``;
* central finite differences of the loss at equilibria found by a *different* method
  (:func:`independent_predict`: the substrate's closed form when it has one, else a BFGS
  minimisation of the energy, else its forward map): ``fd_cosine`` and ``fd_rel_error``, so an error
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
    dynamics when the substrate's solver is Newton (else Newton); for other energy substrates a BFGS
    minimisation of E (optimistix); else ``predict``."""
    from physlearning.core.equilibrium import Equilibrium

    if hasattr(sub, "exact_predict"):
        return sub.exact_predict(x)
    if isinstance(sub, EnergySubstrate) and sub.fixed_point_map is not None:
        method = "newton" if sub.solver().method == "fixed_point" else "fixed_point"
        other = Equilibrium(method, rtol=1e-14, atol=1e-14, max_steps=20_000, damping=0.5)
        return sub.with_equilibrium(other).predict(x, None)
    if isinstance(sub, EnergySubstrate):
        solver = optx.BFGS(rtol=1e-14, atol=1e-14)

        def one(xi):
            s0 = sub.init_state(xi)
            sol = optx.minimise(lambda s, _: sub.energy(s, xi), solver, s0, max_steps=20_000, throw=False)
            return sub.readout(sol.value)

        return jax.vmap(one)(x)
    return sub.predict(x, None)


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


def check_rows(only: list[str] | None = None) -> list[dict]:
    """One row per (registered substrate, applicable rule): cosine / rel_error against the reference rule
    and against finite differences at independently found equilibria."""
    rows = []
    rules = registry.rules()
    with jax.enable_x64(True):
        for kind, entry in sorted(registry.substrates().items()):
            if entry.check_case is None or (only and kind not in only):
                continue
            sub, batch, cost = entry.check_case()
            key = jax.random.PRNGKey(0)
            ref = _build(rules[entry.reference]).estimate(sub, batch, cost, key)[0]
            fd = fd_gradient(sub, batch, cost)
            for rk in registry.rules_for(sub):
                for name, variant in (rules[rk].variants or {"": {}}).items():
                    g = ref if rk == entry.reference else \
                        _build(rules[rk], variant).estimate(sub, batch, cost, key)[0]
                    rows.append({"substrate": kind, "rule": f"{rk}_{name}" if name else rk,
                                 "reference": entry.reference,
                                 "cosine": float(tree_cosine(g, ref)), "rel_error": float(tree_rel_error(g, ref)),
                                 "fd_cosine": float(tree_cosine(g, fd)), "fd_rel_error": float(tree_rel_error(g, fd)),
                                 "exact": rules[rk].exact})
    return rows
