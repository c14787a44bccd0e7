"""Autodiff reference rules: the exact gradient every physical rule is checked against.

* :class:`ImplicitAutodiff` (energy substrates): L(theta) = mean C(readout(s*(theta)), t)
  with s* the free equilibrium; dL/dtheta by the implicit function theorem
  (optimistix ``ImplicitAdjoint``: one linear solve with the Hessian d^2E/ds^2).
* :class:`Autodiff` (any substrate): reverse-mode through ``predict`` (backpropagation / BPTT).

Both differentiate with respect to the *design* of a :class:`~physlearning.core.Hardware`
through its realisation (a perfect digital twin: the disorder is known to the reference).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import PRNGKeyArray

from physlearning.core import Batch, Cost, EnergySubstrate, StatelessRule, Substrate
from physlearning.core.equilibrium import Equilibrium
from physlearning.registry import register_rule


def design_value_and_grad(model: Substrate, loss_fn) -> tuple:
    """``(grads, loss, aux)`` of ``loss_fn(model) -> (loss, aux)`` with respect to the trainable
    parameters of ``model.design()`` (grads shaped like ``design().params()``)."""
    design = model.design()
    params, static = eqx.partition(design, design.param_filter())
    f = lambda p: loss_fn(model.with_design(eqx.combine(p, static)))
    (loss, aux), grads = jax.value_and_grad(f, has_aux=True)(params)
    return grads, loss, aux


class ImplicitAutodiff(StatelessRule):
    """Exact gradient at the free equilibrium by implicit differentiation."""

    families: ClassVar[tuple[type, ...]] = (EnergySubstrate,)
    solver: Equilibrium | None = Equilibrium()
    """relaxation solver; None: the substrate's own (``EnergySubstrate.solver()``)."""

    def estimate(self, substrate: EnergySubstrate, batch: Batch, cost: Cost, key: PRNGKeyArray):
        x, t = batch

        def loss_fn(model):
            dev = model.realised()
            solver = self.solver or dev.solver()

            def one(xi, ti):
                s, res = solver.solve(dev, xi, 0.0, ti, cost)
                return cost(dev.readout(s), ti), res

            losses, res = jax.vmap(one)(x, t)
            return jnp.mean(losses), jnp.max(res)

        grads, loss, res = design_value_and_grad(substrate, loss_fn)
        return grads, {"loss": loss, "residual": res}


class Autodiff(StatelessRule):
    """Backpropagation through ``substrate.predict`` (a differentiable simulation).

    ``noisy``: predict with the step's key (the substrate's noise on, as the device runs); False:
    ``predict(x, None)`` (the noiseless model, e.g. device networks trained without their noise)."""

    noisy: bool = eqx.field(static=True, default=True)

    def estimate(self, substrate: Substrate, batch: Batch, cost: Cost, key: PRNGKeyArray):
        x, t = batch
        k = key if self.noisy else None

        def loss_fn(model):
            return jnp.mean(jax.vmap(cost)(model.predict(x, k), t)), None

        grads, loss, _ = design_value_and_grad(substrate, loss_fn)
        return grads, {"loss": loss}


@dataclasses.dataclass(frozen=True)
class ImplicitAutodiffSection:
    """Exact gradient at the free equilibrium (implicit function theorem); relaxation by the
    substrate's own solver unless set here."""


@dataclasses.dataclass(frozen=True)
class AutodiffSection:
    """Backpropagation through the simulation (``predict``)."""


@register_rule("implicit_autodiff", ImplicitAutodiffSection, (EnergySubstrate,),
               "exact gradient by implicit differentiation at the equilibrium (the reference for energy substrates)")
def _build_implicit(c: ImplicitAutodiffSection) -> ImplicitAutodiff:
    return ImplicitAutodiff(solver=None)


@register_rule("autodiff", AutodiffSection, (Substrate,), "backpropagation through predict (BPTT)")
def _build_autodiff(c: AutodiffSection) -> Autodiff:
    return Autodiff()
