"""Pytree utilities for gradient checks and divergence guards."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, PyTree


def _flat(tree: PyTree) -> Array:
    leaves = [jnp.real(jnp.ravel(x)) for x in jax.tree_util.tree_leaves(tree) if x is not None]
    return jnp.concatenate(leaves) if leaves else jnp.zeros(0)


def tree_cosine(a: PyTree, b: PyTree) -> Array:
    """Cosine similarity of two pytrees flattened to vectors (real parts)."""
    va, vb = _flat(a), _flat(b)
    return jnp.vdot(va, vb) / (jnp.linalg.norm(va) * jnp.linalg.norm(vb) + 1e-300)


def tree_rel_error(estimate: PyTree, reference: PyTree) -> Array:
    """||estimate - reference|| / ||reference|| over all leaves."""
    ve, vr = _flat(estimate), _flat(reference)
    return jnp.linalg.norm(ve - vr) / (jnp.linalg.norm(vr) + 1e-300)


def tree_finite(tree: PyTree) -> Array:
    """True when every inexact array leaf is finite (a scalar bool array; True for an empty tree)."""
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree)
              if isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jnp.inexact)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


def tree_where(cond: Array, a: PyTree, b: PyTree) -> PyTree:
    """Leafwise ``where(cond, a, b)`` over array leaves (other leaves taken from ``a``)."""
    return jax.tree_util.tree_map(
        lambda x, y: jnp.where(cond, x, y) if isinstance(x, jax.Array) else x, a, b)


def central_differences(loss, flat: Array, h: float) -> Array:
    """Central finite differences (f(p + h e_i) - f(p - h e_i)) / (2h) of a scalar ``loss`` of a flat parameter
    vector, every coordinate at once (vmapped); error O(h^2) plus roundoff ~ eps |f| / h."""
    steps = jnp.eye(flat.size, dtype=flat.dtype) * h
    return jax.vmap(lambda e: (loss(flat + e) - loss(flat - e)) / (2 * h))(steps)
