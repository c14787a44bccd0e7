"""A linear resistor lattice: a rows x cols grid of nodes joined by trainable conductances.

The left column's nodes are voltage sources (the input ``x``, one voltage per row, volts), the
bottom-right node is grounded (0 V), and the other nodes of the right column are the outputs. The
free node voltages V minimise the co-content (half the dissipated power, watts)

    E(V) = sum_{edges e=(i,j)} g_e / 2 (V_i - V_j)^2,

so the equilibrium is Kirchhoff's law L_ff V_f = -L_fc V_c with L the conductance-weighted graph
Laplacian: linear in the inputs, a closed form :meth:`ResistorLattice.exact_state` (one dense solve)
that shares nothing with the iterative solvers, which the gradient checks use as their reference.

This file is the worked example of "a new substrate is one file": its registration below puts it in
the config (``[substrate] kind = "resistor_lattice"`` of the ``fit`` experiment), and its
``check_case`` puts it in ``physlearning matrix`` against every rule of its family.
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, PRNGKeyArray

from physlearning.config import param
from physlearning.core import EnergySubstrate, SquaredError
from physlearning.registry import register_substrate


def lattice_edges(rows: int, cols: int) -> np.ndarray:
    """Nearest-neighbour edges of a rows x cols grid (node r * cols + c)."""
    idx = np.arange(rows * cols).reshape(rows, cols)
    right = np.stack([idx[:, :-1].ravel(), idx[:, 1:].ravel()], 1)
    down = np.stack([idx[:-1, :].ravel(), idx[1:, :].ravel()], 1)
    return np.concatenate([right, down]).astype(np.int64)


class ResistorLattice(EnergySubstrate):
    """rows x cols grid of linear resistors with trainable conductances ``g`` (siemens)."""

    g: Array
    rows: int = eqx.field(static=True)
    cols: int = eqx.field(static=True)
    g_min: float = eqx.field(static=True, default=1e-3)

    def __init__(self, rows: int, cols: int, key: PRNGKeyArray, *, g_scale: float = 1.0, g_min: float = 1e-3,
                 dtype=jnp.float32, equilibrium=None):
        if rows < 2 or cols < 2:
            raise ValueError(f"rows = {rows!r}, cols = {cols!r}: allowed values are >= 2 each")
        if not g_scale > 0:
            raise ValueError(f"g_scale = {g_scale!r}: allowed values are > 0")
        self.rows, self.cols, self.g_min = int(rows), int(cols), float(g_min)
        self.equilibrium = equilibrium
        n_edges = len(lattice_edges(rows, cols))
        self.g = g_scale * jax.random.uniform(key, (n_edges,), dtype, 0.5, 1.5)

    @property
    def edges(self) -> np.ndarray:
        return lattice_edges(self.rows, self.cols)

    @property
    def sources(self) -> np.ndarray:
        return np.arange(self.rows) * self.cols

    @property
    def ground(self) -> int:
        return self.rows * self.cols - 1

    @property
    def outputs(self) -> np.ndarray:
        return np.arange(1, self.rows) * self.cols - 1

    @property
    def free(self) -> np.ndarray:
        return np.setdiff1d(np.arange(self.rows * self.cols), np.append(self.sources, self.ground))

    def voltages(self, state: Array, x: Array) -> Array:
        dtype = jnp.result_type(state.dtype, x.dtype)
        v = jnp.zeros(self.rows * self.cols, dtype).at[self.free].set(state.astype(dtype))
        return v.at[self.sources].set(x.astype(dtype))

    def energy(self, state, x):
        v = self.voltages(state, x)
        dv = v[self.edges[:, 0]] - v[self.edges[:, 1]]
        return 0.5 * jnp.sum(self.g * dv * dv)

    def init_state(self, x):
        return jnp.full(self.free.size, jnp.mean(x) / 2, jnp.result_type(self.g.dtype, x.dtype))

    def readout(self, state):
        return state[np.searchsorted(self.free, self.outputs)]

    def project(self):
        """Passive resistors: g >= g_min > 0 (keeps the Laplacian positive definite)."""
        return eqx.tree_at(lambda s: s.g, self, jnp.maximum(self.g, self.g_min))

    def exact_state(self, x: Array) -> Array:
        """Closed-form equilibrium: V_f = -L_ff^-1 L_fc V_c (Kirchhoff), one dense solve."""
        n = self.rows * self.cols
        e = self.edges
        lap = jnp.zeros((n, n), self.g.dtype)
        lap = lap.at[e[:, 0], e[:, 0]].add(self.g).at[e[:, 1], e[:, 1]].add(self.g)
        lap = lap.at[e[:, 0], e[:, 1]].add(-self.g).at[e[:, 1], e[:, 0]].add(-self.g)
        v_c = jnp.zeros(n, self.g.dtype).at[self.sources].set(x)
        f = self.free
        return jnp.linalg.solve(lap[np.ix_(f, f)], -(lap[f] @ v_c))

    def exact_predict(self, x: Array) -> Array:
        """Outputs from :meth:`exact_state`, batched."""
        return jax.vmap(lambda xi: self.readout(self.exact_state(xi)))(x)


@dataclasses.dataclass(frozen=True)
class ResistorLatticeSection:
    """Linear resistor lattice: inputs on the left column, outputs on the right (``n_in = rows``,
    ``n_out = rows - 1``)."""

    cols: int = param(4, ge=2, le=64, doc="columns of the grid (rows follow from the task's inputs)")
    g_scale: float = param(1.0, gt=0, doc="initial conductances uniform in [0.5, 1.5] x g_scale (S)")


def _check_case():
    """A 3 x 4 lattice, 4 input vectors, squared-error targets (float64)."""
    from physlearning.core.equilibrium import Equilibrium

    net = ResistorLattice(3, 4, jax.random.PRNGKey(0), dtype=jnp.float64,
                          equilibrium=Equilibrium("newton", rtol=1e-12, atol=1e-12))
    x = jax.random.uniform(jax.random.PRNGKey(1), (4, 3), jnp.float64)
    t = jax.random.uniform(jax.random.PRNGKey(2), (4, 2), jnp.float64, 0.0, 0.5)
    return net, (x, t), SquaredError()


@register_substrate("resistor_lattice", ResistorLatticeSection, ResistorLattice, check_case=_check_case,
                    reference="implicit_autodiff", doc="linear resistor lattice (Kirchhoff; closed-form equilibrium)")
def build_resistor_lattice(c: ResistorLatticeSection, n_in: int, n_out: int, key: PRNGKeyArray) -> ResistorLattice:
    if n_out != n_in - 1:
        from physlearning.errors import ConfigError

        raise ConfigError(f"resistor_lattice: a lattice with {n_in} input rows has {n_in - 1} outputs, the task has "
                          f"{n_out}; allowed: task.n_outputs = task.n_inputs - 1")
    return ResistorLattice(n_in, c.cols, key, g_scale=c.g_scale)
