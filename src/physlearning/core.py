"""Core abstractions shared by every pillar: substrates, costs, learning rules, nonidealities.

The contract (DESIGN.md section 4):

* a :class:`Substrate` is an ``eqx.Module`` whose trainable fields are its physical
  parameters (couplings, stiffnesses, conductances, detunings, ...). Which array leaves
  are trainable is given by :meth:`Substrate.param_filter` (default: every inexact
  jax array leaf; fixed arrays such as masks are stored as ``np.ndarray`` or marked
  ``eqx.field(static=True)``).
* a :class:`Cost` maps an output ``y`` and a target to a scalar per sample.
* a :class:`LearningRule` returns ``(grads, aux)`` with ``grads`` shaped like
  ``params(substrate)`` (``None`` at non-trainable leaves) so any optax optimiser
  applies; ``aux`` is a flat dict of scalar diagnostics, always with ``"loss"``.
* a :class:`Nonideality` wraps where hardware suffers it (state noise, measurement
  noise, quantised parameters, ...).
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, PRNGKeyArray, PyTree

Batch = tuple[Array, Array]
"""``(x, target)`` with a leading batch axis on both."""


def is_param(leaf: Any) -> bool:
    """Trainable leaves: inexact *jax* arrays (numpy arrays are treated as constants)."""
    return isinstance(leaf, jax.Array) and jnp.issubdtype(leaf.dtype, jnp.inexact)


class Substrate(eqx.Module):
    """A simulated physical system with trainable physical parameters."""

    def param_filter(self) -> PyTree[bool]:
        """Boolean pytree (same structure) marking trainable leaves."""
        return jax.tree_util.tree_map(is_param, self)

    def only_fields(self, flags: dict[str, bool]) -> PyTree[bool]:
        """A ``param_filter`` marking exactly the named fields (``{name: trainable}``); for
        substrates holding numpy constants, which become tracers under ``eqx.filter_jit``
        and would otherwise count as trainable."""
        names = tuple(flags)
        return eqx.tree_at(
            lambda s: tuple(getattr(s, n) for n in names),
            jax.tree_util.tree_map(lambda _: False, self),
            tuple(flags[n] for n in names),
        )

    def params(self) -> PyTree:
        """The trainable part, ``None`` elsewhere (what rules return gradients for)."""
        return eqx.filter(self, self.param_filter())

    def project(self) -> Substrate:
        """Map parameters back to their physical domain after an update (e.g. k >= 0)."""
        return self


class EnergySubstrate(Substrate):
    """A substrate whose state settles at a minimum of an energy E(state; params, x).

    Subclasses give ``energy`` for one sample (``state`` is a pytree of arrays, ``x`` the
    clamped input), ``init_state`` and ``readout``. EP nudges with ``beta * cost``.
    """

    @abc.abstractmethod
    def energy(self, state: PyTree, x: Array) -> Array:
        """Energy of one sample (scalar), in the substrate's energy unit."""

    @abc.abstractmethod
    def init_state(self, x: Array) -> PyTree:
        """Initial state of the free relaxation for input ``x`` (one sample)."""

    @abc.abstractmethod
    def readout(self, state: PyTree) -> Array:
        """Output read from the state (one sample)."""

    fixed_point_map: ClassVar[Any] = None
    """Optional relaxation map ``(state, x, nudge) -> state`` whose fixed points are the
    stationary points of ``E + nudge(readout(state))`` (``nudge(y) = beta * C(y, target)``,
    possibly complex). Substrates without one (None) are relaxed by Newton's method on
    ``dF/dstate``; ``Equilibrium(method="fixed_point")`` refuses them with a clear error."""


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


class LearningRule(eqx.Module):
    """Turns what can be measured on a substrate into a parameter update direction."""

    @abc.abstractmethod
    def gradient(
        self, substrate: Substrate, batch: Batch, cost: Cost, key: PRNGKeyArray
    ) -> tuple[PyTree, dict[str, Array]]:
        """Return ``(grads, aux)``; grads estimate d(mean cost)/d params."""


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


def tree_cosine(a: PyTree, b: PyTree) -> Array:
    """Cosine similarity of two pytrees flattened to vectors (real parts)."""
    va = _flat(a)
    vb = _flat(b)
    return jnp.vdot(va, vb) / (jnp.linalg.norm(va) * jnp.linalg.norm(vb) + 1e-300)


def tree_rel_error(estimate: PyTree, reference: PyTree) -> Array:
    """||estimate - reference|| / ||reference|| over all leaves."""
    ve = _flat(estimate)
    vr = _flat(reference)
    return jnp.linalg.norm(ve - vr) / (jnp.linalg.norm(vr) + 1e-300)


def _flat(tree: PyTree) -> Array:
    leaves = [jnp.real(jnp.ravel(x)) for x in jax.tree_util.tree_leaves(tree) if x is not None]
    return jnp.concatenate(leaves) if leaves else jnp.zeros(0)
