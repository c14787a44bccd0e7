"""Hardware: a substrate as realised on a device, and the nonidealities it suffers.

:class:`Nonideality` hooks act where the hardware would suffer them: ``params`` (fabrication
disorder, calibration error, quantisation: drawn once), ``state`` (state noise) and ``measure``
(read-out noise: per call). :class:`Hardware` binds a substrate (the *design* the optimiser
trains), a nonideality and the key that realises it, so the rule, evaluation and the checkpoint
all see the same device: ``realised()`` is the realised substrate (deterministic in ``key``),
``measure(value, key)`` adds the per-call noise.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, PRNGKeyArray, PyTree

from physlearning.core.substrate import Substrate, is_param


class Nonideality(eqx.Module):
    """A hardware imperfection, applied where the hardware would suffer it.

    Each hook defaults to the identity; a nonideality overrides the ones it affects.
    """

    def params(self, substrate: Substrate, key: PRNGKeyArray) -> Substrate:
        """Parameters as realised on hardware (fabrication disorder, quantisation)."""
        return substrate

    def state(self, state: PyTree, key: PRNGKeyArray) -> PyTree:
        """Physical state as perturbed on hardware (thermal/state noise)."""
        return state

    def measure(self, value: PyTree, key: PRNGKeyArray) -> PyTree:
        """A measured quantity as read out (measurement noise, finite resolution)."""
        return value


class Compose(Nonideality):
    """Applies several nonidealities in order."""

    parts: tuple[Nonideality, ...]

    def params(self, substrate, key):
        for part, k in zip(self.parts, jax.random.split(key, max(len(self.parts), 1))):
            substrate = part.params(substrate, k)
        return substrate

    def state(self, state, key):
        for part, k in zip(self.parts, jax.random.split(key, max(len(self.parts), 1))):
            state = part.state(state, k)
        return state

    def measure(self, value, key):
        for part, k in zip(self.parts, jax.random.split(key, max(len(self.parts), 1))):
            value = part.measure(value, k)
        return value


class GaussianMeasurementNoise(Nonideality):
    """Additive Gaussian noise of standard deviation ``sigma`` on every measured value
    (relative to each value's RMS when ``relative``)."""

    sigma: float
    relative: bool = False

    def measure(self, value, key):
        leaves, treedef = jax.tree_util.tree_flatten(value)
        keys = jax.random.split(key, max(len(leaves), 1))
        out = []
        for leaf, k in zip(leaves, keys):
            scale = jnp.sqrt(jnp.mean(jnp.abs(leaf) ** 2)) if self.relative else 1.0
            noise = jax.random.normal(k, leaf.shape, jnp.real(leaf).dtype)
            if jnp.iscomplexobj(leaf):
                k2 = jax.random.fold_in(k, 1)
                noise = (noise + 1j * jax.random.normal(k2, leaf.shape, noise.dtype)) / jnp.sqrt(2)
            out.append(leaf + self.sigma * scale * noise)
        return jax.tree_util.tree_unflatten(treedef, out)


class ParameterQuantisation(Nonideality):
    """Parameters realised on a uniform grid of step ``step`` (e.g. a DAC's resolution)."""

    step: float

    def params(self, substrate, key):
        return jax.tree_util.tree_map(
            lambda p: p + jax.lax.stop_gradient(jnp.round(p / self.step) * self.step - p) if is_param(p) else p,
            substrate,
        )


class ParameterDisorder(Nonideality):
    """Fabrication disorder: each parameter realised as p (1 + sigma xi), xi ~ N(0, 1),
    drawn once per ``key`` (pass a fixed key for frozen disorder)."""

    sigma: float

    def params(self, substrate, key):
        leaves, treedef = jax.tree_util.tree_flatten(substrate)
        keys = jax.random.split(key, max(len(leaves), 1))
        out = [
            p * (1 + self.sigma * jax.random.normal(k, p.shape, jnp.real(p).dtype)) if is_param(p) else p
            for p, k in zip(leaves, keys)
        ]
        return jax.tree_util.tree_unflatten(treedef, out)


class Hardware(Substrate):
    """A substrate realised on hardware: ``design`` (trained) + ``nonideality`` + realisation ``key``.

    The disorder is drawn once from ``key`` (``realised()`` is a pure function of the design and the
    key), measurement noise per call from the caller's key. The optimiser updates the design
    (``design()`` / ``with_design``); gradients returned by rules are shaped like
    ``design().params()``. ``predict`` runs the realised device and measures its outputs.
    """

    substrate: Substrate
    nonideality: Nonideality | None
    key: Array

    def param_filter(self) -> PyTree[bool]:
        flags = jax.tree_util.tree_map(lambda _: False, self)
        return eqx.tree_at(lambda h: h.substrate, flags, self.substrate.param_filter())

    def design(self) -> Substrate:
        return self.substrate

    def with_design(self, design: Substrate) -> Hardware:
        return eqx.tree_at(lambda h: h.substrate, self, design)

    def project(self) -> Hardware:
        return self.with_design(self.substrate.project())

    def realised(self) -> Substrate:
        if self.nonideality is None:
            return self.substrate
        return self.nonideality.params(self.substrate, self.key)

    def measure(self, value: PyTree, key: PRNGKeyArray | None) -> PyTree:
        if self.nonideality is None or key is None:
            return value
        return self.nonideality.measure(value, key)

    def predict(self, x: Array, key: PRNGKeyArray | None = None) -> Array:
        k1, k2 = (None, None) if key is None else jax.random.split(key)
        return self.measure(self.realised().predict(x, k1), k2)
