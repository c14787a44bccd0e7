"""Coupled learning (Stern, Hexner, Rocks & Liu, PRX 11, 021045, 2021).

Two physical states per sample:

* free:    inputs clamped, outputs free; equilibrium s^F with outputs y^F;
* clamped: inputs clamped *and* outputs held (hard clamp, e.g. by voltage sources or
  by fixing node positions) at y^C = y^F + eta (t - y^F), 0 < eta <= 1; equilibrium s^C.

The learning rule descends the contrast eta^{-1} [E(s^C) - E(s^F)] (which is >= 0 and
vanishes when the outputs hit the target) using only local measurements:

    Delta theta = -(alpha / eta) [ dE/dtheta(s^C) - dE/dtheta(s^F) ],

e.g. for a resistor Delta g_e = (alpha / 2 eta) [ (dV_e^F)^2 - (dV_e^C)^2 ]. This module
returns ``grads = [dE/dtheta(s^C) - dE/dtheta(s^F)] / eta`` so an optax optimiser with
learning rate alpha applies the rule. For small eta, grads -> -(dy^F/dtheta)^T K (t - y^F)
with K the effective stiffness (conductance) matrix seen at the outputs: the gradient of
the squared error in the metric K, *not* in general the gradient of the cost (its
cosine to the exact gradient is reported, not assumed).

The clamped equilibrium is the stationary point of the Lagrangian
E(s) + lambda . (readout(s) - y^C) (lambda: the force/current the clamp supplies), found
by Newton's method on its gradient, warm-started from the free state. The ``cost`` is
used only for the reported loss; the rule itself only sees the target values.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import optimistix as optx
from jaxtyping import Array, PRNGKeyArray, PyTree

from physlearning.config import param
from physlearning.core import Batch, Cost, EnergySubstrate, StatelessRule
from physlearning.core.equilibrium import Equilibrium
from physlearning.registry import register_rule
from physlearning.rules.ep import energy_param_grad


def clamped_equilibrium(substrate: EnergySubstrate, x: Array, y_clamp: Array, state0: PyTree,
                        solver: Equilibrium) -> tuple[PyTree, Array]:
    """Equilibrium with the outputs held at ``y_clamp``; returns (state, residual).

    Residual: max of |dE/ds + J^T lambda| and |readout(s) - y_clamp| (KKT conditions).
    """
    def kkt(z, args):
        s, lam = z
        sub, xx, yc = args
        lagr = lambda s_: sub.energy(s_, xx) + jnp.sum(lam * (sub.readout(s_) - yc))
        return jax.grad(lagr)(s), sub.readout(s) - yc

    lam0 = jnp.zeros_like(y_clamp)
    args = (substrate, x, y_clamp)
    sol = optx.root_find(kkt, optx.Newton(rtol=solver.rtol, atol=solver.atol), (state0, lam0), args=args,
                         max_steps=solver.max_steps, throw=False)
    res = kkt(sol.value, args)
    residual = jnp.max(jnp.stack([jnp.max(jnp.abs(r)) for r in jax.tree_util.tree_leaves(res)]))
    return sol.value[0], residual


class CoupledLearning(StatelessRule):
    """Coupled learning with clamping strength ``eta`` in (0, 1]."""

    families: ClassVar[tuple[type, ...]] = (EnergySubstrate,)

    eta: float = eqx.field(static=True, default=0.1)
    solver: Equilibrium | None = Equilibrium()

    def __check_init__(self):
        if not 0 < self.eta <= 1:
            raise ValueError(f"eta = {self.eta!r}: allowed values are 0 < eta <= 1")

    def sample_gradient(self, substrate: EnergySubstrate, x: Array, target: Array, cost: Cost):
        """(grads, loss, residual) for one sample."""
        solver = self.solver or substrate.solver()
        free, res0 = solver.solve(substrate, x, 0.0, target, cost)
        y_free = substrate.readout(free)
        y_clamp = y_free + self.eta * (target - y_free)
        clamped, res1 = clamped_equilibrium(substrate, x, y_clamp, free, solver)
        g_c = energy_param_grad(substrate, clamped, x)
        g_f = energy_param_grad(substrate, free, x)
        grads = jax.tree_util.tree_map(lambda a, b: (a - b) / self.eta, g_c, g_f)
        return grads, cost(y_free, target), jnp.maximum(res0, res1)

    def estimate(self, substrate: EnergySubstrate, batch: Batch, cost: Cost, key: PRNGKeyArray):
        x, t = batch
        substrate = substrate.realised()
        grads, loss, res = jax.vmap(lambda xi, ti: self.sample_gradient(substrate, xi, ti, cost))(x, t)
        grads = jax.tree_util.tree_map(lambda a: jnp.mean(a, axis=0), grads)
        return grads, {"loss": jnp.mean(loss), "residual": jnp.max(res),
                       "relaxations": jnp.asarray(2 * x.shape[0], jnp.float32)}


@dataclasses.dataclass(frozen=True)
class CoupledSection:
    """Coupled learning (Stern et al. PRX 11, 021045, 2021): clamp the outputs part-way to the target."""

    eta: float = param(0.1, gt=0, le=1, doc="clamping strength")


@register_rule("coupled", CoupledSection, (EnergySubstrate,),
               "coupled learning: free vs output-clamped states (not an exact gradient)", exact=False,
               check={"eta": 1e-3})
def _build_coupled(c: CoupledSection) -> CoupledLearning:
    return CoupledLearning(c.eta, solver=None)
