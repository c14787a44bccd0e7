"""Costs C(y, target) per sample; EP nudges the energy with ``beta * C``."""

from __future__ import annotations

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array


class Cost(eqx.Module):
    """Per-sample cost C(y, target) (scalar)."""

    @abc.abstractmethod
    def __call__(self, y: Array, target: Array) -> Array: ...


class SquaredError(Cost):
    """C = 1/2 ||y - target||^2."""

    def __call__(self, y: Array, target: Array) -> Array:
        return 0.5 * jnp.sum((y - target) ** 2)


class SoftmaxCrossEntropy(Cost):
    """C = -sum_k t_k log softmax(y / temperature)_k, with one-hot (or soft) targets."""

    temperature: float = 1.0

    def __call__(self, y: Array, target: Array) -> Array:
        z = y / self.temperature
        if jnp.iscomplexobj(z):  # analytic form (no max-shift) for holomorphic EP
            return jnp.sum(target) * jnp.log(jnp.sum(jnp.exp(z))) - jnp.sum(target * z)
        return -jnp.sum(target * jax.nn.log_softmax(z))
