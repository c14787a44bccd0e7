"""Perturbative (black-box) gradient baselines: finite differences and SPSA.

They need nothing but repeated forward measurements of the cost, so they apply to any
substrate that maps one input to an output (``substrate(x)``), and they are the
baseline against which physical rules are counted:

* :class:`FiniteDifference`: dL/dtheta_i ~ [L(theta + h e_i) - L(theta - h e_i)] / 2h
  (central, error O(h^2)) or [L(theta + h e_i) - L(theta)] / h (forward, O(h)); one
  extra forward pass of the batch per parameter (two for central).
* :class:`SPSA` (Spall 1992): g ~ mean_k [L(theta + h D_k) - L(theta - h D_k)] / 2h * D_k
  with Rademacher D_k; 2 K forward passes whatever the parameter count, but only
  unbiased on average (cosine to the gradient ~ sqrt(K / P)).

Parameter-shift rules (exact differences at shift pi/2) need parameters that enter
through sinusoids (e.g. phases of unitary gates); a detuning enters a resonance
(Lorentzian), so for scattering networks finite differences are the fair baseline.
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree
from jaxtyping import PRNGKeyArray

from physlearning.config import param
from physlearning.core import Batch, Cost, Nonideality, StatelessRule, Substrate
from physlearning.registry import register_rule


def _flat_loss(substrate: Substrate, batch: Batch, cost: Cost, nonideality: Nonideality | None, key):
    """(theta_flat, unravel, L(theta_flat)) for the batch-mean cost measured on hardware (the design's
    trainable parameters, flattened; outputs from ``predict``, i.e. on a Hardware's realised device)."""
    design = substrate.design()
    params, static = eqx.partition(design, design.param_filter())
    flat, unravel = ravel_pytree(params)
    x, t = batch

    def loss(f):
        y = substrate.with_design(eqx.combine(unravel(f), static)).predict(x, None)
        if nonideality is not None:
            y = nonideality.measure(y, key)
        return jnp.mean(jax.vmap(cost)(y, t))

    return flat, unravel, loss


class FiniteDifference(StatelessRule):
    """Finite-difference gradient, one parameter at a time (``lax.map`` over parameters).

    ``aux["forward_passes"]`` counts batch forward evaluations (P or 2P, +1 for the loss);
    ``aux["measurements"]`` multiplies by the batch size.
    """

    step: float = 1e-3
    central: bool = True
    nonideality: Nonideality | None = None

    def estimate(self, substrate: Substrate, batch: Batch, cost: Cost, key: PRNGKeyArray):
        flat, unravel, loss = _flat_loss(substrate, batch, cost, self.nonideality, key)
        l0 = loss(flat)
        h = jnp.asarray(self.step, flat.dtype)
        eye_row = lambda i: jnp.zeros_like(flat).at[i].set(h)
        if self.central:
            g = jax.lax.map(lambda i: (loss(flat + eye_row(i)) - loss(flat - eye_row(i))) / (2 * h),
                            jnp.arange(flat.size))
        else:
            g = jax.lax.map(lambda i: (loss(flat + eye_row(i)) - l0) / h, jnp.arange(flat.size))
        passes = flat.size * (2 if self.central else 1) + 1
        return unravel(g), {"loss": l0, "forward_passes": jnp.asarray(passes, jnp.float32),
                            "measurements": jnp.asarray(passes * batch[0].shape[0], jnp.float32)}


class SPSA(StatelessRule):
    """Simultaneous-perturbation stochastic approximation with ``samples`` directions."""

    step: float = 1e-3
    samples: int = 1
    nonideality: Nonideality | None = None

    def estimate(self, substrate: Substrate, batch: Batch, cost: Cost, key: PRNGKeyArray):
        kd, km = jax.random.split(key)
        flat, unravel, loss = _flat_loss(substrate, batch, cost, self.nonideality, km)
        h = jnp.asarray(self.step, flat.dtype)
        d = jax.random.rademacher(kd, (self.samples, flat.size), flat.dtype)
        diffs = jax.lax.map(lambda di: (loss(flat + h * di) - loss(flat - h * di)) / (2 * h), d)
        g = jnp.mean(diffs[:, None] * d, axis=0)
        passes = 2 * self.samples + 1
        return unravel(g), {"loss": loss(flat), "forward_passes": jnp.asarray(passes, jnp.float32),
                            "measurements": jnp.asarray(passes * batch[0].shape[0], jnp.float32)}


@dataclasses.dataclass(frozen=True)
class FiniteDifferenceSection:
    """Finite differences, one parameter at a time (2P + 1 forward passes per step when central)."""

    step: float = param(1e-3, gt=0, doc="parameter step h")
    central: bool = param(True, doc="central (error O(h^2)) or forward (O(h)) differences")


@dataclasses.dataclass(frozen=True)
class SPSASection:
    """Simultaneous perturbation (Spall 1992): 2 forward passes per direction."""

    step: float = param(1e-3, gt=0, doc="perturbation size h")
    samples: int = param(1, ge=1, doc="random directions averaged per step")


@register_rule("finite_difference", FiniteDifferenceSection, (Substrate,),
               "finite differences of the measured loss (2P + 1 passes)", check={"step": 1e-6})
def _build_fd(c: FiniteDifferenceSection) -> FiniteDifference:
    return FiniteDifference(c.step, c.central)


@register_rule("spsa", SPSASection, (Substrate,), "simultaneous-perturbation estimate (biased, noisy)", exact=False,
               check={"step": 1e-6, "samples": 64})
def _build_spsa(c: SPSASection) -> SPSA:
    return SPSA(c.step, c.samples)
