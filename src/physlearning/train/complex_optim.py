"""Optax links for complex parameters trained on jax-convention gradients.

``jax.grad`` of a real loss C with respect to a complex parameter z returns ``conj(G)`` with
``G = dC/dRe z + i dC/dIm z``; a stock optax optimiser computes ``z - lr * g``, which then moves
Re z downhill but Im z *uphill*. :func:`conj_complex` (first link of a chain) conjugates complex
leaves so the optimiser steps along ``-G`` (steepest descent in (Re, Im)). Real leaves pass through
every link unchanged.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from physlearning.train.optim import OptimizerSpec


class _Empty(NamedTuple):
    pass


def conj_complex() -> optax.GradientTransformation:
    """Conjugate complex leaves of the updates (real leaves unchanged). Put first in a chain fed
    jax-convention gradients (``conj(G)``) of a real loss w.r.t. complex parameters: the optimiser
    then descends along ``-G = -(dC/dRe + i dC/dIm)`` instead of moving Im uphill."""

    def init(params):
        return _Empty()

    def update(updates, state, params=None):
        return jax.tree_util.tree_map(lambda g: jnp.conj(g) if jnp.iscomplexobj(g) else g, updates), state

    return optax.GradientTransformation(init, update)


def real_part_only() -> optax.GradientTransformation:
    """Zero the imaginary part of complex updates (train Re theta0 only, as the reference's decay step)."""

    def init(params):
        return _Empty()

    def update(updates, state, params=None):
        return jax.tree_util.tree_map(
            lambda g: (jnp.real(g) + 0j).astype(g.dtype) if jnp.iscomplexobj(g) else g, updates), state

    return optax.GradientTransformation(init, update)


def soft_clip(max_step: float) -> optax.GradientTransformation:
    """Per-element soft clip of the updates, ``u -> u / sqrt(1 + |u|^2 / max_step^2)`` (the
    reference's cutoff on the decay-step kick, ``HEB.decay_step``, cutoff 0.1)."""

    def init(params):
        return _Empty()

    def update(updates, state, params=None):
        def clip(u):
            a2 = jnp.real(u) ** 2 + jnp.imag(u) ** 2 if jnp.iscomplexobj(u) else u**2
            return (u / jnp.sqrt(1 + a2 / max_step**2)).astype(u.dtype)
        return jax.tree_util.tree_map(clip, updates), state

    return optax.GradientTransformation(init, update)


def complex_optimizer(spec: OptimizerSpec, total_steps: int, *, train_imag: bool = True,
                      max_step: float = 0.0) -> optax.GradientTransformation:
    """The project's optimiser ``spec`` on jax-convention complex gradients: :func:`conj_complex`,
    optionally :func:`real_part_only` (``train_imag = False``), ``spec``, optionally :func:`soft_clip`
    of each update (``max_step`` > 0)."""
    parts = [conj_complex()]
    if not train_imag:
        parts.append(real_part_only())
    parts.append(spec.build(total_steps))
    if max_step > 0:
        parts.append(soft_clip(max_step))
    return optax.chain(*parts)


def complex_sgd(lr: float, total_steps: int, *, momentum: float = 0.0, train_imag: bool = True,
                max_step: float = 0.0) -> optax.GradientTransformation:
    """:func:`complex_optimizer` with plain SGD (``momentum`` 0: none)."""
    return complex_optimizer(OptimizerSpec("sgd", lr, momentum=momentum), total_steps, train_imag=train_imag,
                             max_step=max_step)
