"""Gradient-matrix rows of the Langevin computer (``physlearning matrix``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from physlearning.core.tree import central_differences, tree_cosine, tree_rel_error
from physlearning.rules.trajectory import autodiff_gradient, local_gradient, objective, training_paths
from physlearning.substrates.langevin import LangevinComputer


def matrix_rows() -> list[dict]:
    """Local trajectory rule vs jax autodiff of the same Euler-Maruyama path log-likelihood (``rel_error``)
    and vs central finite differences of that log-likelihood over every parameter, paths held fixed
    (``fd_rel_error``; step 1e-6, float64 when x64 is on)."""
    import equinox as eqx
    from jax.flatten_util import ravel_pytree

    @eqx.filter_jit
    def case(c, x, key):
        _, omega = training_paths(c, x, key)
        g, ref = local_gradient(c, omega), autodiff_gradient(c, omega)
        params, static = eqx.partition(c, c.param_filter())
        flat, unravel = ravel_pytree(params)
        eps = 1e-6 if flat.dtype == jnp.float64 else 1e-2
        obj = lambda v: objective(eqx.combine(unravel(v), static), omega)
        fd = central_differences(obj, flat, eps)
        g_flat = ravel_pytree(eqx.filter(g, c.param_filter()))[0]
        return tree_cosine(g, ref), tree_rel_error(g, ref), tree_cosine(g_flat, fd), tree_rel_error(g_flat, fd)

    rows = []
    for cpl, h2, held in (("dense", 1.0, False), ("bipartite", -1.0, False), ("dense", 1.0, True)):
        c = LangevinComputer(3, 4, n_slices=4, n_steps=20, dt=0.02, kT=0.3, j2_hidden=h2, j4_hidden=1.0,
                             couplings=cpl, noising_coupling=1.0, hold_hidden=held, key=jax.random.PRNGKey(0))
        k = jax.random.PRNGKey(1)
        c = eqx.tree_at(lambda s: (s.J, s.b, s.J2), c, (c.J + 0.3 * jax.random.normal(k, c.J.shape),
                                                        c.b + 0.1, c.J2 * 1.2)).project()
        x = jax.random.normal(jax.random.PRNGKey(2), (8, 7 if held else 3))  # a held register is loaded with data
        cos, rel, fd_cos, fd_rel = case(c, x, jax.random.PRNGKey(3))
        rows.append({"substrate": f"langevin ({cpl}, 3+4 units{', held hidden register' if held else ''})",
                     "rule": "trajectory likelihood (local)", "cosine": cos, "rel_error": rel,
                     "fd_cosine": float(fd_cos), "fd_rel_error": float(fd_rel),
                     "note": "kick-state correlations vs autodiff of EM densities"})
    return rows

