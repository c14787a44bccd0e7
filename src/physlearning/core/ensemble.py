"""Ensembles of independent machines trained side by side (one jitted update for all of them).

A sweep of a physical setting (input intensity, disorder level, size of the kick) over otherwise
identical machines is ``n`` independent learning problems. :class:`Ensemble` holds the ``n``
machines as one substrate whose array leaves carry a leading *member* axis; :class:`PerMember`
runs any stateless rule on every member with that member's own batch (``jax.vmap`` over members),
so the Trainer makes one update of all machines per step and the simulator sees one batched
computation instead of ``n`` small ones. Members do not interact: the ensemble's loss is the mean
of the members' losses and each member's gradient is its own.

Data layout: ``x`` and ``target`` are ``(B, n, ...)``: the batch axis first (what the Trainer's
batch sources slice and shuffle), the member axis second, then one member's sample shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, PRNGKeyArray, PyTree

from physlearning.core.cost import Cost
from physlearning.core.rule import StatelessRule
from physlearning.core.substrate import Batch, Substrate


def _stack(*leaves):
    if isinstance(leaves[0], np.ndarray):
        return np.stack(leaves)
    if isinstance(leaves[0], jax.Array):
        return jnp.stack(leaves)
    if any(leaf != leaves[0] for leaf in leaves[1:]):
        raise ValueError(f"Ensemble.stack: members differ in a non-array field ({leaves[0]!r} vs others); "
                         "allowed: members that differ only in array values")
    return leaves[0]


def _member_axes(members: PyTree) -> PyTree:
    """vmap axes of the stacked members: 0 for arrays with a leading member axis, None for the rest
    (static fields, Python numbers, and rank-0 arrays, which is what a Python number shared by all
    members becomes after a ``jnp.where`` over the model, e.g. the Trainer's keep-last-good step)."""
    return jax.tree_util.tree_map(lambda leaf: 0 if eqx.is_array(leaf) and np.ndim(leaf) >= 1 else None, members)


class Ensemble(Substrate):
    """``n`` independent copies of one substrate class, array leaves stacked on a leading member axis.

    Build with :meth:`stack` from a list of machines (same class, same static fields, same array
    shapes); :meth:`member` gives machine ``i`` back. ``predict(x)`` maps ``x (B, n, ...)`` to the
    members' outputs ``(B, n, ...)``; trainable leaves are the members' own (``param_filter`` of the
    stacked module)."""

    members: Substrate
    n: int = eqx.field(static=True)

    @classmethod
    def stack(cls, machines: Sequence[Substrate]) -> Ensemble:
        machines = list(machines)
        if not machines:
            raise ValueError("Ensemble.stack: need at least one machine")
        kinds = {type(m) for m in machines}
        if len(kinds) != 1:
            raise ValueError(f"Ensemble.stack: machines of different classes {sorted(k.__name__ for k in kinds)}; "
                             "allowed: one class")
        structs = {jax.tree_util.tree_structure(m) for m in machines}
        if len(structs) != 1:
            raise ValueError("Ensemble.stack: machines differ in structure or static fields; allowed: machines "
                             "that differ only in array values")
        shapes = {tuple(np.shape(leaf) for leaf in jax.tree_util.tree_leaves(m)) for m in machines}
        if len(shapes) != 1:
            raise ValueError("Ensemble.stack: machines have arrays of different shapes; allowed: equal shapes")
        return cls(jax.tree_util.tree_map(_stack, *machines), len(machines))

    def member(self, i: int) -> Substrate:
        if not 0 <= i < self.n:
            raise ValueError(f"member index {i}: allowed 0 <= i < {self.n}")
        return jax.tree_util.tree_map(lambda leaf: leaf[i] if eqx.is_array(leaf) and np.ndim(leaf) >= 1 else leaf,
                                      self.members)

    def param_filter(self) -> PyTree[bool]:
        flags = jax.tree_util.tree_map(lambda _: False, self)
        return eqx.tree_at(lambda e: e.members, flags, self.members.param_filter())

    def project(self) -> Ensemble:
        axes = _member_axes(self.members)
        projected = eqx.filter_vmap(lambda m: m.project(), in_axes=(axes,), out_axes=axes)(self.members)
        return eqx.tree_at(lambda e: e.members, self, projected)

    def predict(self, x: Array, key: PRNGKeyArray | None = None) -> Array:
        x = jnp.asarray(x)
        if x.ndim < 2 or x.shape[1] != self.n:
            raise ValueError(f"x has shape {x.shape}: an Ensemble of {self.n} machines needs (B, {self.n}, ...)")
        keys = None if key is None else jax.random.split(key, self.n)

        def one(m, xm, k):
            return m.predict(xm, k)

        return eqx.filter_vmap(one, in_axes=(_member_axes(self.members), 1, None if keys is None else 0),
                               out_axes=1)(self.members, x, keys)


class PerMember(StatelessRule):
    """Run ``rule`` on every member of an :class:`Ensemble` with its own slice ``(x[:, i], t[:, i])``
    of the batch (vmapped); members may be :class:`~physlearning.core.Hardware` (the rule's grads,
    shaped like a member's design, are put back into the member's shape). Grads are the members'
    grads, stacked; ``aux`` scalars are the mean over members (``loss``) or the sum (counts of physical
    evaluations, ``evolutions`` and ``forward_passes``, are per member and so summed);
    ``member_loss`` (n,) keeps each member's loss."""

    families: ClassVar[tuple[type, ...]] = (Ensemble,)
    rule: StatelessRule
    summed: tuple[str, ...] = eqx.field(static=True, default=("evolutions", "forward_passes"))

    def estimate(self, substrate: Ensemble, batch: Batch, cost: Cost, key: PRNGKeyArray | None):
        if not isinstance(substrate, Ensemble):
            raise ValueError(f"PerMember needs an Ensemble substrate, got {type(substrate).__name__}")
        x, t = batch
        n = substrate.n
        keys = None if key is None else jax.random.split(key, n)

        def one(m, xm, tm, k):
            g, aux = self.rule.estimate(m, (xm, tm), cost, k)
            return m.params().with_design(g), aux  # the member's grads (a design's) in the member's own shape

        axes = _member_axes(substrate.members)
        grads, aux = eqx.filter_vmap(one, in_axes=(axes, 1, 1, None if keys is None else 0))(
            substrate.members, x, t, keys)
        out = {k: (jnp.sum(v) if k in self.summed else jnp.mean(v)) for k, v in aux.items()}
        out["member_loss"] = aux["loss"]
        params = substrate.params()
        return eqx.tree_at(lambda e: e.members, params, grads), out
