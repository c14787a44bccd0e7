"""Spring networks: elastic networks of point nodes joined by (an)harmonic springs.

Nodes live in ``dim`` = 1, 2 or 3 dimensions. Edge e = (i, j) with length
l_e = sqrt(sum_a (r_ja - r_ia)^2) stores the energy (Stern et al. PRX 11, 021045, 2021;
Rocks et al. PNAS 114, 2520, 2017)

    E_e = k_e/2 (l_e - L_e)^2 + k4_e/4 (l_e - L_e)^4,

the harmonic term with trainable stiffness k_e >= 0 and rest length L_e, plus an optional
quartic (Fermi-Pasta-Ulam-beta / Duffing) term with fixed k4_e >= 0 for nonlinear springs.
Units: lengths in the unit of the reference positions, k in energy/length^2, k4 in
energy/length^4.

Inputs (``x``, one sample, flattened (n_input, dim)) either *clamp* the input nodes at
their reference position plus the displacement ``x`` (``input_mode="displacement"``) or
apply external forces ``x`` to them (``input_mode="force"``, energy term -f . u).
Pinned nodes stay at their reference position. The state is the displacement u of every
other node from its reference position, shape (n_free, dim) (displacements, not absolute
positions, so float32 resolves small strains; l - l0 is computed without cancellation).
Outputs are the strains (l_e - l0_e) / l0_e of the output edges (l0: reference length)
or the displacements of the output nodes.

The energy is analytic in u near a configuration with no zero-length edge (no
``abs``/``norm``), so complex states work for holomorphic EP.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, PRNGKeyArray

from physlearning.config import param
from physlearning.core import EnergySubstrate
from physlearning.registry import register_substrate

INPUT_MODES = ("displacement", "force")
OUTPUT_MODES = ("strain", "position")


class Index(NamedTuple):
    """Static (hashable) graph indices: edges as (i, j) pairs, node and edge index lists."""

    edges: tuple[tuple[int, int], ...]
    pinned: tuple[int, ...]
    input_nodes: tuple[int, ...]
    output_edges: tuple[int, ...]
    output_nodes: tuple[int, ...]
    free_nodes: tuple[int, ...]


def _int_array(a, name: str) -> np.ndarray:
    arr = np.asarray(a, dtype=np.int64).reshape(-1)
    if arr.size and arr.min() < 0:
        raise ValueError(f"{name} = {arr.tolist()!r}: node/edge indices must be >= 0")
    return arr


class SpringNetwork(EnergySubstrate):
    """Spring network with trainable stiffnesses ``k`` and rest lengths ``L``."""

    k: Array
    L: Array
    k4: np.ndarray
    positions: np.ndarray
    index: Index = eqx.field(static=True)
    input_mode: str = eqx.field(static=True)
    output_mode: str = eqx.field(static=True)
    k_min: float = eqx.field(static=True)
    trainable: tuple[str, ...] = eqx.field(static=True)

    def __init__(self, positions, edges, k, L=None, *, k4=0.0, pinned=(), input_nodes=(),
                 input_mode: str = "displacement", output_mode: str = "strain", output_edges=(),
                 output_nodes=(), k_min: float = 0.0, trainable=("k", "L"), dtype=jnp.float32, equilibrium=None):
        pos = np.asarray(positions, dtype=np.float64)
        if pos.ndim == 1:
            pos = pos[:, None]
        if pos.ndim != 2 or pos.shape[1] not in (1, 2, 3):
            raise ValueError(f"positions shape {pos.shape}: expected (n_nodes, dim) with dim in [1, 2, 3]")
        n = pos.shape[0]
        ed = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
        if ed.size and (ed.min() < 0 or ed.max() >= n or np.any(ed[:, 0] == ed[:, 1])):
            raise ValueError(f"edges must join two distinct nodes in [0, {n}); got {ed.tolist()!r}")
        m = ed.shape[0]
        k = np.broadcast_to(np.asarray(k, dtype=np.float64), (m,))
        if np.any(~np.isfinite(k)) or np.any(k < 0):
            raise ValueError(f"stiffness k = {k.tolist()!r}: allowed values are finite k >= 0")
        l0 = np.sqrt(np.sum((pos[ed[:, 1]] - pos[ed[:, 0]]) ** 2, axis=1))
        if np.any(l0 <= 0):
            raise ValueError("edges of zero reference length are not allowed (spring length is not analytic at 0)")
        rest = l0 if L is None else np.broadcast_to(np.asarray(L, dtype=np.float64), (m,))
        if np.any(~np.isfinite(rest)) or np.any(rest <= 0):
            raise ValueError(f"rest length L = {np.asarray(rest).tolist()!r}: allowed values are L > 0")
        k4a = np.broadcast_to(np.asarray(k4, dtype=np.float64), (m,))
        if np.any(~np.isfinite(k4a)) or np.any(k4a < 0):
            raise ValueError(f"quartic stiffness k4 = {k4a.tolist()!r}: allowed values are k4 >= 0")
        if input_mode not in INPUT_MODES:
            raise ValueError(f"input_mode = {input_mode!r}: allowed values are {list(INPUT_MODES)}")
        if output_mode not in OUTPUT_MODES:
            raise ValueError(f"output_mode = {output_mode!r}: allowed values are {list(OUTPUT_MODES)}")
        if not k_min >= 0:
            raise ValueError(f"k_min = {k_min!r}: allowed values are k_min >= 0")
        if not set(trainable) <= {"k", "L"}:
            raise ValueError(f"trainable = {trainable!r}: allowed entries are 'k' and 'L'")
        pin = _int_array(pinned, "pinned")
        inp = _int_array(input_nodes, "input_nodes")
        clamped = np.union1d(pin, inp) if input_mode == "displacement" else pin
        if np.any(np.concatenate([pin, inp]) >= n):
            raise ValueError(f"pinned/input nodes must be in [0, {n})")
        free = np.setdiff1d(np.arange(n), clamped)
        if free.size == 0:
            raise ValueError("every node is pinned or clamped: nothing to relax")
        oe = _int_array(output_edges, "output_edges")
        on = _int_array(output_nodes, "output_nodes")
        if output_mode == "strain":
            if oe.size == 0 or oe.max() >= m:
                raise ValueError(f"output_edges = {oe.tolist()!r}: need >= 1 edge index in [0, {m})")
            if np.any(np.isin(ed[oe].ravel(), clamped)):
                raise ValueError("output edges must join free nodes (their strain is read from the state)")
        else:
            if on.size == 0 or not np.all(np.isin(on, free)):
                raise ValueError(f"output_nodes = {on.tolist()!r}: need >= 1 free (not pinned/clamped) node")
        self.k = jnp.asarray(k, dtype)
        self.L = jnp.asarray(rest, dtype)
        self.k4 = k4a.astype(np.dtype(dtype))
        self.positions = pos.astype(np.dtype(dtype))
        self.index = Index(tuple(map(tuple, ed.tolist())), tuple(pin.tolist()), tuple(inp.tolist()),
                           tuple(oe.tolist()), tuple(on.tolist()), tuple(free.tolist()))
        self.input_mode = input_mode
        self.output_mode = output_mode
        self.k_min = float(k_min)
        self.trainable = tuple(trainable)
        self.equilibrium = equilibrium

    def param_filter(self):
        """Only ``k`` and/or ``L`` (per ``trainable``) are trained; geometry and k4 are fixed
        (numpy leaves become tracers under jit, so the default filter is not enough)."""
        return self.only_fields({"k": "k" in self.trainable, "L": "L" in self.trainable})

    edges = property(lambda self: np.asarray(self.index.edges, dtype=np.int64).reshape(-1, 2))
    pinned = property(lambda self: np.asarray(self.index.pinned, dtype=np.int64))
    input_nodes = property(lambda self: np.asarray(self.index.input_nodes, dtype=np.int64))
    output_edges = property(lambda self: np.asarray(self.index.output_edges, dtype=np.int64))
    output_nodes = property(lambda self: np.asarray(self.index.output_nodes, dtype=np.int64))
    free_nodes = property(lambda self: np.asarray(self.index.free_nodes, dtype=np.int64))

    @property
    def dim(self) -> int:
        return self.positions.shape[1]

    @property
    def reference_lengths(self) -> Array:
        """l0_e: edge lengths in the reference configuration."""
        return self._l0(self.edges)

    def displacements(self, state: Array, x: Array) -> Array:
        """Displacements u of every node (n_nodes, dim): free nodes from the state, input
        nodes from ``x`` (displacement mode), pinned nodes 0."""
        dtype = jnp.result_type(state.dtype, x.dtype)
        u = jnp.zeros(self.positions.shape, dtype).at[self.free_nodes].set(state.astype(dtype))
        if self.input_mode == "displacement" and self.input_nodes.size:
            u = u.at[self.input_nodes].set(x.reshape(self.input_nodes.size, self.dim).astype(dtype))
        return u

    def all_positions(self, state: Array, x: Array) -> Array:
        """Positions r = r0 + u of every node (n_nodes, dim)."""
        u = self.displacements(state, x)
        return jnp.asarray(self.positions, u.dtype) + u

    def stretch(self, u: Array, edges: np.ndarray | None = None) -> Array:
        """l - l0 per edge from the displacements u, with l^2 = |d0 + du|^2 and
        l - l0 = (2 d0.du + du.du) / (l + l0): no cancellation in float32, analytic in u."""
        ed = self.edges if edges is None else edges
        d0 = jnp.asarray(self.positions[ed[:, 1]] - self.positions[ed[:, 0]], u.dtype)
        du = u[ed[:, 1]] - u[ed[:, 0]]
        l0 = jnp.sqrt(jnp.sum(d0 * d0, axis=-1))
        num = jnp.sum(2 * d0 * du + du * du, axis=-1)
        return num / (jnp.sqrt(l0 * l0 + num) + l0)

    def _l0(self, ed: np.ndarray) -> Array:
        d = self.positions[ed[:, 1]] - self.positions[ed[:, 0]]
        return jnp.sqrt(jnp.sum(d * d, axis=1))

    def edge_energy(self, stretch: Array) -> Array:
        """k/2 (l - L)^2 + k4/4 (l - L)^4 per edge, with l - L = (l - l0) + (l0 - L)."""
        e = stretch + (jnp.asarray(self._l0(self.edges), self.L.dtype) - self.L)
        return 0.5 * self.k * e**2 + 0.25 * self.k4 * e**4

    def energy(self, state, x):
        u = self.displacements(state, x)
        e = jnp.sum(self.edge_energy(self.stretch(u)))
        if self.input_mode == "force" and self.input_nodes.size:
            f = x.reshape(self.input_nodes.size, self.dim)
            e = e - jnp.sum(f * u[self.input_nodes])  # work of the external forces (up to a constant)
        return e

    def init_state(self, x):
        """The reference configuration: zero displacement of the free nodes."""
        return jnp.zeros((self.free_nodes.size, self.dim), jnp.result_type(self.k.dtype, x.dtype))

    def readout(self, state):
        if self.output_mode == "position":
            return state[np.searchsorted(self.free_nodes, self.output_nodes)].reshape(-1)
        ed = self.edges[self.output_edges]  # output edges join free nodes only
        u = jnp.zeros(self.positions.shape, state.dtype).at[self.free_nodes].set(state)
        return self.stretch(u, ed) / jnp.asarray(self._l0(ed), state.dtype)

    def project(self):
        """Stiffness back to k >= k_min (physical springs), rest lengths to L > 0."""
        return eqx.tree_at(lambda s: (s.k, s.L), self,
                           (jnp.maximum(self.k, self.k_min), jnp.maximum(self.L, 1e-6)))


def triangular_lattice(rows: int, cols: int, jitter: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Node positions (unit spacing, each jittered by U(-jitter, jitter); numpy generator
    ``seed``) and nearest-neighbour edges of a rows x cols triangular lattice: a rigid 2D
    network (no floppy modes)."""
    if rows < 2 or cols < 2:
        raise ValueError(f"lattice {rows}x{cols}: need at least 2 rows and 2 columns")
    ij = [(r, c) for r in range(rows) for c in range(cols)]
    pos = np.array([[c + 0.5 * (r % 2), r * np.sqrt(3) / 2] for r, c in ij])
    pos = pos + np.random.default_rng(seed).uniform(-jitter, jitter, pos.shape)
    idx = {p: i for i, p in enumerate(ij)}
    edges = []
    for (r, c), i in idx.items():
        shift = c + (r % 2)
        for q in ((r, c + 1), (r + 1, shift - 1), (r + 1, shift)):
            if q in idx:
                edges.append((i, idx[q]))
    return pos, np.array(edges, dtype=np.int64)


# ----------------------------------------------------------------------------- registration

SPRINGS = ("linear", "quartic")


def allosteric_network(rows: int, cols: int, n_targets: int, lattice_seed: int, k_rng: np.random.Generator, *,
                       jitter: float = 0.15, k4: float = 0.0, k_init=(0.5, 1.5), k_min: float = 1e-3,
                       trainable=("k", "L"), dtype=jnp.float32, equilibrium=None) -> SpringNetwork:
    """The allosteric layout of the ``ep_springs`` experiment on a jittered rows x cols triangular lattice.

    Source edge: the first two nodes of the second row (a boundary node of coordination 5 and an
    interior one, so the rest stays rigid when it is strained), clamped by the input (their 2D
    displacements, ``n_in = 4``); outputs: the strains of the ``n_targets`` edges between free nodes
    (not at a corner) farthest from it. The node jitter is drawn from ``lattice_seed``, the
    stiffnesses (uniform in ``k_init``) from ``k_rng``; rest lengths start at the reference lengths."""
    pos, edges = triangular_lattice(rows, cols, jitter, lattice_seed)
    src = np.array([cols, cols + 1])
    mid = 0.5 * (pos[edges[:, 0]] + pos[edges[:, 1]])
    dist = np.linalg.norm(mid - pos[src].mean(0), axis=1)
    degree = np.bincount(edges.ravel(), minlength=len(pos))
    # a degree-2 (corner) node just follows its two springs: its edges can never be strained
    dist[np.any(np.isin(edges, src) | (degree[edges] <= 2), axis=1)] = -1.0
    if np.sum(dist >= 0) < n_targets:
        raise ValueError(f"{n_targets} target edges requested but the {rows}x{cols} lattice has only "
                         f"{int(np.sum(dist >= 0))} eligible target edges")
    targets = np.argsort(-dist, kind="stable")[:n_targets]
    k = k_rng.uniform(k_init[0], k_init[1], len(edges))
    return SpringNetwork(pos, edges, k, k4=k4, input_nodes=src, output_edges=targets, k_min=k_min,
                         trainable=trainable, dtype=dtype, equilibrium=equilibrium)


def source_strain_inputs(net: SpringNetwork, eps) -> np.ndarray:
    """Inputs (B, 4) straining the source edge by ``eps`` (B,): the two source nodes displaced
    symmetrically along the edge, so that l = l0 (1 + eps)."""
    src = net.input_nodes
    d = np.asarray(net.positions[src[1]] - net.positions[src[0]], np.float64)
    return np.stack([np.concatenate([-e * d / 2, e * d / 2]) for e in np.asarray(eps, np.float64)])


@dataclasses.dataclass(frozen=True)
class SpringsSection:
    """Triangular-lattice spring network (unit spacing), allosteric layout: the input clamps the 2D
    displacements of the two nodes of a source edge (``n_in = 4``, lattice units: keep them small,
    |x| ~ 0.05), the outputs are the strains of the ``n_out`` target edges farthest from it."""

    rows: int = param(4, ge=2, le=64, doc="lattice rows")
    cols: int = param(4, ge=2, le=64, doc="lattice columns")
    jitter: float = param(0.15, ge=0, lt=0.5, doc="random node displacement (lattice units)")
    spring: str = param("linear", choices=SPRINGS, doc="k/2 (l-L)^2 [+ k4/4 (l-L)^4]")
    k4: float = param(10.0, ge=0, doc="quartic stiffness for spring = 'quartic'")
    k_low: float = param(0.5, ge=0, doc="initial stiffnesses uniform in [k_low, k_high]")
    k_high: float = param(1.5, ge=0, doc="initial stiffnesses uniform in [k_low, k_high]")
    k_min: float = param(1e-3, ge=0, doc="projection floor for k after each update")
    train_rest_lengths: bool = param(True, doc="train the rest lengths L as well as k")


@dataclasses.dataclass(frozen=True)
class QuarticSpringsSection(SpringsSection):
    """The spring network with quartic (FPU-beta) springs: k/2 (l-L)^2 + k4/4 (l-L)^4; same layout
    (``n_in = 4`` source-node displacements, ``n_out`` target-edge strains)."""

    spring: str = param("quartic", choices=SPRINGS, doc="k/2 (l-L)^2 [+ k4/4 (l-L)^4]")


def _spring_check_case(spring: str):
    """The instance of the ``springs_<spring>_2d`` matrix row (``ep_networks._matrix_instances``):
    3 x 3 lattice drawn as in wave 1 (one ``numpy.random.default_rng(0)``: the lattice seed, then the
    stiffnesses), so the matrix keeps its wave-1 instance and digits; a fixed test instance needs no
    named stream. 3 source strains in [-0.05, 0.05], one target edge with ratio 1; tight Newton
    relaxation, float64. The inputs and targets are rounded to float32 first, as the experiment's data are."""
    from physlearning.core import SquaredError
    from physlearning.core.equilibrium import Equilibrium

    c, rng = SpringsSection(rows=3, cols=3, spring=spring), np.random.default_rng(0)
    net = allosteric_network(c.rows, c.cols, 1, int(rng.integers(2**31)), rng, jitter=c.jitter,
                             k4=c.k4 if spring == "quartic" else 0.0, k_init=(c.k_low, c.k_high), k_min=c.k_min,
                             dtype=jnp.float64, equilibrium=Equilibrium("newton", rtol=1e-12, atol=1e-12, max_steps=60))
    eps = np.linspace(-0.05, 0.05, 3)
    x = jnp.asarray(source_strain_inputs(net, eps).astype(np.float32), jnp.float64)
    t = jnp.asarray(eps[:, None].astype(np.float32), jnp.float64)
    return net, (x, t), SquaredError()


def _build_springs(c: SpringsSection, n_in: int, n_out: int, key: PRNGKeyArray) -> SpringNetwork:
    from physlearning.errors import ConfigError

    if n_in != 4:
        raise ConfigError(f"springs: the input clamps the 2D displacements of the two source-edge nodes, 4 numbers; "
                          f"the task has {n_in} inputs; allowed: task.n_inputs = 4")
    if not c.k_low <= c.k_high:
        raise ConfigError(f"k_low = {c.k_low!r}, k_high = {c.k_high!r}: allowed values are k_low <= k_high")
    lattice_seed, k_seed = (int(s) for s in jax.random.randint(key, (2,), 0, np.iinfo(np.int32).max))
    try:
        return allosteric_network(c.rows, c.cols, n_out, lattice_seed, np.random.default_rng(k_seed), jitter=c.jitter,
                                  k4=c.k4 if c.spring == "quartic" else 0.0, k_init=(c.k_low, c.k_high),
                                  k_min=c.k_min, trainable=("k", "L") if c.train_rest_lengths else ("k",))
    except ValueError as e:  # too many target edges for the lattice
        raise ConfigError(f"springs: task.n_outputs = {n_out}: {e}; use fewer outputs or a larger lattice "
                          f"(rows, cols)") from e


register_substrate("springs", SpringsSection, SpringNetwork, check_case=lambda: _spring_check_case("linear"),
                   reference="implicit_autodiff",
                   doc="triangular-lattice spring network (allosteric strain response), linear springs")(_build_springs)
register_substrate("springs_quartic", QuarticSpringsSection, SpringNetwork,
                   check_case=lambda: _spring_check_case("quartic"), reference="implicit_autodiff",
                   doc="triangular-lattice spring network with quartic (FPU-beta) springs")(_build_springs)
