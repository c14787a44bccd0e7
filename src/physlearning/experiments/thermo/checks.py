"""Gradient-matrix rows of the Langevin computer (``physlearning matrix``)."""

from __future__ import annotations

import jax

from physlearning.core import tree_cosine, tree_rel_error
from physlearning.rules.trajectory import autodiff_gradient, local_gradient, training_paths
from physlearning.substrates.langevin import LangevinComputer


def matrix_rows() -> list[dict]:
    """Local trajectory rule vs jax autodiff of the same Euler-Maruyama path log-likelihood."""
    import equinox as eqx

    @eqx.filter_jit
    def case(c, x, key):
        _, omega = training_paths(c, x, key)
        g, ref = local_gradient(c, omega), autodiff_gradient(c, omega)
        return tree_cosine(g, ref), tree_rel_error(g, ref)

    rows = []
    for cpl, h2, held in (("dense", 1.0, False), ("bipartite", -1.0, False), ("dense", 1.0, True)):
        c = LangevinComputer(3, 4, n_slices=4, n_steps=20, dt=0.02, kT=0.3, j2_hidden=h2, j4_hidden=1.0,
                             couplings=cpl, noising_coupling=1.0, hold_hidden=held, key=jax.random.PRNGKey(0))
        k = jax.random.PRNGKey(1)
        c = eqx.tree_at(lambda s: (s.J, s.b, s.J2), c, (c.J + 0.3 * jax.random.normal(k, c.J.shape),
                                                        c.b + 0.1, c.J2 * 1.2)).project()
        x = jax.random.normal(jax.random.PRNGKey(2), (8, 7 if held else 3))  # a held register is loaded with data
        cos, rel = case(c, x, jax.random.PRNGKey(3))
        rows.append({"substrate": f"langevin ({cpl}, 3+4 units{', held hidden register' if held else ''})",
                     "rule": "trajectory likelihood (local)", "cosine": cos, "rel_error": rel,
                     "note": "kick-state correlations vs autodiff of EM densities"})
    return rows

