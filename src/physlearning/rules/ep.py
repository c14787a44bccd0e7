"""Equilibrium Propagation (Scellier & Bengio 2017) and its estimators.

With F = E + beta C and s_beta the equilibrium of F,

    dL/dtheta = d/dbeta [ dF/dtheta (s_beta, beta) ] at beta = 0

(Scellier & Bengio 2017; dF/dtheta = dE/dtheta when the cost has no parameters). The
hardware measures dF/dtheta (local: e.g. -s_i s_j for a coupling W_ij) at a few
equilibria:

* ``one_sided``  : [dF/dtheta(s_beta) - dF/dtheta(s_0)] / beta            bias O(beta)
* ``symmetric``  : [dF/dtheta(s_beta) - dF/dtheta(s_-beta)] / (2 beta)     bias O(beta^2)
  (Laborieux et al. 2021)
* ``holomorphic``: (1 / (N |beta|)) sum_k Re[dF/dtheta(s_{beta_k}) e^{-i phi_k}],
  beta_k = |beta| e^{i phi_k}, phi_k = 2 pi k / N: the Cauchy integral of the first
  derivative (Laborieux & Zenke 2022); exact up to O(|beta|^N) for analytic energies.

Nudged phases warm-start from the free equilibrium.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, PRNGKeyArray, PyTree

from physlearning.config import param
from physlearning.core import Batch, Cost, EnergySubstrate, Nonideality, SquaredError, StatelessRule
from physlearning.core.equilibrium import Equilibrium
from physlearning.registry import register_rule

ESTIMATORS = ("one_sided", "symmetric", "holomorphic")


def energy_param_grad(
    substrate: EnergySubstrate,
    state: PyTree,
    x: Array,
    phase: complex | float = 1.0,
    beta: complex | float = 0.0,
    target: Array | None = None,
    cost: Cost | None = None,
) -> PyTree:
    """d Re[phase * F(state; theta, x, beta)] / d theta at fixed state (F = E + beta C):
    the local physical measurement."""
    params, static = eqx.partition(substrate, substrate.param_filter())

    def f(p):
        sub = eqx.combine(p, static)
        e = sub.energy(state, x)
        if cost is not None:
            e = e + beta * cost(sub.readout(state), target)
        return jnp.real(phase * e)

    return jax.grad(f)(params)


class EquilibriumPropagation(StatelessRule):
    """EP gradient estimator with nudging strength ``beta`` (> 0)."""

    families: ClassVar[tuple[type, ...]] = (EnergySubstrate,)

    beta: float = eqx.field(static=True, default=1e-3)
    estimator: str = eqx.field(static=True, default="symmetric")
    n_points: int = eqx.field(static=True, default=4)
    solver: Equilibrium | None = Equilibrium()
    """relaxation solver; None: the substrate's own (``EnergySubstrate.solver()``)."""
    nonideality: Nonideality | None = None
    """hardware imperfection: ``params`` realises the couplings (disorder, quantisation),
    ``measure`` perturbs each measured dF/dtheta (read-out noise)."""

    def __check_init__(self):
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"estimator {self.estimator!r}: allowed values are {list(ESTIMATORS)}")
        if not self.beta > 0:
            raise ValueError(f"beta = {self.beta!r}: allowed values are beta > 0")
        if self.n_points < 2:
            raise ValueError(f"n_points = {self.n_points!r}: allowed values are >= 2")

    def sample_gradient(
        self, substrate: EnergySubstrate, x: Array, target: Array, cost: Cost, key: PRNGKeyArray | None = None
    ):
        """EP estimate for one sample; returns (grads, loss, residual)."""
        b = self.beta
        solver = self.solver or substrate.solver()
        solve = lambda beta, s0: solver.solve(substrate, x, beta, target, cost, s0)
        free, res0 = solve(0.0, None)
        loss = cost(substrate.readout(free), target)
        noise, k = self.nonideality, (jax.random.PRNGKey(0) if key is None else key)

        def g(s, beta, idx, phase=1.0):
            """Measured dF/dtheta at state s (measurement ``idx`` of this sample)."""
            meas = energy_param_grad(substrate, s, x, phase, beta, target, cost)
            return meas if noise is None else noise.measure(meas, jax.random.fold_in(k, idx))

        tm = jax.tree_util.tree_map
        if self.estimator == "one_sided":
            s_p, r1 = solve(b, free)
            grads = tm(lambda a, c: (a - c) / b, g(s_p, b, 1), g(free, 0.0, 0))
            res = jnp.maximum(res0, r1)
        elif self.estimator == "symmetric":
            s_p, r1 = solve(b, free)
            s_m, r2 = solve(-b, free)
            grads = tm(lambda a, c: (a - c) / (2 * b), g(s_p, b, 1), g(s_m, -b, 2))
            res = jnp.maximum(res0, jnp.maximum(r1, r2))
        else:
            n = self.n_points
            phis = 2 * jnp.pi * jnp.arange(n) / n
            cfree = tm(lambda s: s.astype(jnp.result_type(s.dtype, jnp.complex64)), free)

            def point(phi, idx):
                beta_k = b * jnp.exp(1j * phi)
                s_k, r_k = solve(beta_k, cfree)
                return g(s_k, beta_k, idx, jnp.exp(-1j * phi)), r_k

            gk, rk = jax.vmap(point)(phis, jnp.arange(n))
            grads = tm(lambda a: jnp.sum(a, axis=0) / (n * b), gk)
            res = jnp.maximum(res0, jnp.max(rk))
        return grads, loss, res

    def estimate(self, substrate: EnergySubstrate, batch: Batch, cost: Cost, key: PRNGKeyArray):
        x, t = batch
        substrate = substrate.realised()  # a Hardware's realised device (the identity on a bare substrate)
        key = jax.random.PRNGKey(0) if key is None else key
        if self.nonideality is not None:
            key, sub = jax.random.split(key)
            substrate = self.nonideality.params(substrate, sub)
        keys = jax.random.split(key, x.shape[0])
        grads, loss, res = jax.vmap(lambda xi, ti, ki: self.sample_gradient(substrate, xi, ti, cost, ki))(x, t, keys)
        grads = jax.tree_util.tree_map(lambda a: jnp.mean(a, axis=0), grads)
        n_relax = {"one_sided": 2, "symmetric": 3, "holomorphic": 1 + self.n_points}[self.estimator]
        return grads, {
            "loss": jnp.mean(loss),
            "residual": jnp.max(res),
            "relaxations": jnp.asarray(n_relax * x.shape[0], jnp.float32),
        }


def free_states(substrate: EnergySubstrate, x: Array, solver: Equilibrium) -> tuple[PyTree, Array]:
    """Free equilibria of a batch (no nudge) and the worst residual."""

    def one(xi):
        dummy = substrate.readout(substrate.init_state(xi))
        return solver.solve(substrate, xi, 0.0, jnp.zeros_like(dummy), SquaredError())

    states, res = jax.vmap(one)(x)
    return states, jnp.max(res)


def predict(substrate: EnergySubstrate, x: Array, solver: Equilibrium) -> Array:
    """Readout at the free equilibrium for a batch of inputs."""
    states, _ = free_states(substrate, x, solver)
    return jax.vmap(substrate.readout)(states)


@dataclasses.dataclass(frozen=True)
class EPSection:
    """Equilibrium Propagation (Scellier & Bengio 2017): relax free and nudged, measure dE/dtheta."""

    beta: float = param(0.5, gt=0, doc="nudging strength (training); gradient checks use 1e-3")
    estimator: str = param("symmetric", choices=ESTIMATORS, doc="one_sided O(beta), symmetric O(beta^2), "
                           "holomorphic O(beta^N) bias")
    n_points: int = param(4, ge=2, doc="holomorphic EP: points on the circle |beta|")


@register_rule("ep", EPSection, (EnergySubstrate,), "Equilibrium Propagation: free and nudged equilibria",
               check={"beta": 1e-3}, variants={f"{e} (beta=1e-3)": {"estimator": e} for e in ESTIMATORS})
def _build_ep(c: EPSection) -> EquilibriumPropagation:
    return EquilibriumPropagation(c.beta, c.estimator, c.n_points, solver=None)
