"""Learning rules, Optax-like: a pure ``init`` / ``gradient`` pair with state.

``init(substrate) -> state`` makes the rule's state (None for most rules; a learning-field
momentum for echo learning, a twin for physics-aware training, SPSA directions, ...);
``gradient(substrate, state, batch, cost, key) -> (grads, state, aux)`` returns

* ``grads``: a pytree shaped like ``substrate.design().params()`` (``None`` at non-trainable
  leaves) estimating d mean(cost) / d params, so any optax optimiser applies;
* the new rule state;
* ``aux``: a flat dict of scalar diagnostics, always with ``"loss"`` (the batch-mean cost), and
  e.g. the equilibrium residual, the number of physical evaluations, heat.

``substrate`` may be a :class:`~physlearning.core.Hardware`: physical rules measure on
``substrate.realised()`` through ``substrate.measure``, reference rules differentiate through it.
``families`` names the substrate families a rule applies to (the gradient matrix and the config
registry use it). Stateless rules subclass :class:`StatelessRule` and implement ``estimate``.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import equinox as eqx
from jaxtyping import Array, PRNGKeyArray, PyTree

from physlearning.core.cost import Cost
from physlearning.core.substrate import Batch, Substrate


class LearningRule(eqx.Module):
    """Turns what can be measured on a substrate into a parameter update direction (abstract)."""

    families: ClassVar[tuple[type, ...]] = (Substrate,)
    """substrate families this rule applies to."""

    def init(self, substrate: Substrate) -> PyTree:
        """The rule's initial state (None: stateless)."""
        return None

    @abc.abstractmethod
    def gradient(self, substrate: Substrate, state: PyTree, batch: Batch, cost: Cost,
                 key: PRNGKeyArray) -> tuple[PyTree, PyTree, dict[str, Array]]:
        """Return ``(grads, state, aux)``; grads estimate d(mean cost)/d params."""

    def applies_to(self, substrate: Any) -> bool:
        """Whether this rule works on ``substrate`` (its design's family)."""
        return isinstance(substrate.design(), self.families)


class StatelessRule(LearningRule):
    """A rule without state: implement ``estimate(substrate, batch, cost, key) -> (grads, aux)``."""

    @abc.abstractmethod
    def estimate(self, substrate: Substrate, batch: Batch, cost: Cost,
                 key: PRNGKeyArray | None) -> tuple[PyTree, dict[str, Array]]:
        """``(grads, aux)`` for one batch."""

    def gradient(self, substrate, state, batch, cost, key):
        grads, aux = self.estimate(substrate, batch, cost, key)
        return grads, state, aux
