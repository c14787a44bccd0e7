"""Autodiff reference rules: the exact gradient every physical rule is checked against.

* :class:`ImplicitAutodiff` (energy substrates): L(theta) = mean C(readout(s*(theta)), t)
  with s* the free equilibrium; dL/dtheta by the implicit function theorem
  (optimistix ``ImplicitAdjoint``: one linear solve with the Hessian d^2E/ds^2).
* :class:`Autodiff` (any substrate with a differentiable ``predict(x)``): reverse-mode
  through the simulation (backpropagation / BPTT).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import PRNGKeyArray

from physlearning.core import Batch, Cost, EnergySubstrate, LearningRule, Substrate
from physlearning.rules.equilibrium import Equilibrium


def _mean_cost_grad(substrate: Substrate, loss_fn) -> tuple:
    params, static = eqx.partition(substrate, substrate.param_filter())
    (loss, aux), grads = jax.value_and_grad(lambda p: loss_fn(eqx.combine(p, static)), has_aux=True)(params)
    return grads, loss, aux


class ImplicitAutodiff(LearningRule):
    """Exact gradient at the free equilibrium by implicit differentiation."""

    solver: Equilibrium = Equilibrium()

    def gradient(self, substrate: EnergySubstrate, batch: Batch, cost: Cost, key: PRNGKeyArray):
        x, t = batch

        def loss_fn(sub):
            def one(xi, ti):
                s, res = self.solver.solve(sub, xi, 0.0, ti, cost)
                return cost(sub.readout(s), ti), res

            losses, res = jax.vmap(one)(x, t)
            return jnp.mean(losses), jnp.max(res)

        grads, loss, res = _mean_cost_grad(substrate, loss_fn)
        return grads, {"loss": loss, "residual": res}


class Autodiff(LearningRule):
    """Backpropagation through ``substrate.predict`` (a differentiable simulation)."""

    def gradient(self, substrate: Substrate, batch: Batch, cost: Cost, key: PRNGKeyArray):
        x, t = batch

        def loss_fn(sub):
            y = sub.predict(x)  # type: ignore[attr-defined]
            return jnp.mean(jax.vmap(cost)(y, t)), None

        grads, loss, _ = _mean_cost_grad(substrate, loss_fn)
        return grads, {"loss": loss}
