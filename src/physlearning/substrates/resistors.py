"""Nonlinear resistor networks: linear resistors with trainable conductances, and diodes.

Node voltages V (volts) of the free nodes minimise the co-content (Millar 1951; the
"power functional" of Stern et al. PRX 11, 021045, 2021; Kendall et al. arXiv:2006.01981)

    E(V) = sum_{resistors e=(i,j)} g_e/2 (V_i - V_j)^2
         + sum_{diodes d=(a,c)}  I_s [ V_T (exp(dV_d / V_T) - 1) - dV_d ],   dV_d = V_a - V_c,

whose stationarity dE/dV_i = 0 is Kirchhoff's current law with the resistor currents
g_e (V_i - V_j) and the Shockley diode current I(dV) = I_s (exp(dV/V_T) - 1) from anode a
to cathode c (the second term is the integral of I(dV) from 0: the diode's co-content).
E is in watts; for a linear network E is half the dissipated power. E is convex and
analytic (no abs/max on the state), so holomorphic EP applies.

Inputs ``x`` clamp the source nodes' voltages (ideal voltage sources); rail nodes are held
at fixed voltages (ground = 0 V, bias rails); outputs are the voltages of output nodes.
Conductances are trainable (``project`` keeps g >= g_min >= 0).
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


class Index(NamedTuple):
    """Static (hashable) graph indices: resistor and diode (anode, cathode) pairs, node lists."""

    edges: tuple[tuple[int, int], ...]
    diodes: tuple[tuple[int, int], ...]
    sources: tuple[int, ...]
    rails: tuple[int, ...]
    output_nodes: tuple[int, ...]
    free_nodes: tuple[int, ...]


def _nodes(a, name: str, n: int) -> np.ndarray:
    arr = np.asarray(a, dtype=np.int64).reshape(-1)
    if arr.size and (arr.min() < 0 or arr.max() >= n):
        raise ValueError(f"{name} = {arr.tolist()!r}: node indices must be in [0, {n})")
    return arr


def diode_current(dv: Array, i_s: float, v_t: float) -> Array:
    """Shockley diode current I = I_s (exp(dV/V_T) - 1) (amperes) for forward voltage dV."""
    return i_s * (jnp.exp(dv / v_t) - 1)


def diode_cocontent(dv: Array, i_s: float, v_t: float) -> Array:
    """Integral of the diode current from 0 to dV: I_s [V_T (exp(dV/V_T) - 1) - dV] (watts)."""
    expm1 = jnp.exp(dv / v_t) - 1 if jnp.iscomplexobj(dv) else jnp.expm1(dv / v_t)
    return i_s * (v_t * expm1 - dv)


class ResistorNetwork(EnergySubstrate):
    """Resistor/diode network; trainable conductances ``g`` (siemens) of the resistor edges."""

    g: Array
    rail_voltages: np.ndarray
    index: Index = eqx.field(static=True)
    n_nodes: int = eqx.field(static=True)
    i_s: float = eqx.field(static=True)
    v_t: float = eqx.field(static=True)
    g_min: float = eqx.field(static=True)

    def __init__(self, n_nodes: int, edges, g, *, sources, output_nodes, rails=(), rail_voltages=(),
                 diodes=(), i_s: float = 0.05, v_t: float = 0.2, g_min: float = 0.0, dtype=jnp.float32,
                 equilibrium=None):
        if int(n_nodes) < 2:
            raise ValueError(f"n_nodes = {n_nodes!r}: allowed values are >= 2")
        n = int(n_nodes)
        ed = _nodes(edges, "edges", n).reshape(-1, 2)
        if np.any(ed[:, 0] == ed[:, 1]):
            raise ValueError("a resistor must join two distinct nodes")
        m = ed.shape[0]
        ga = np.broadcast_to(np.asarray(g, dtype=np.float64), (m,))
        if np.any(~np.isfinite(ga)) or np.any(ga < 0):
            raise ValueError(f"conductance g = {ga.tolist()!r}: allowed values are finite g >= 0")
        di = _nodes(diodes, "diodes", n).reshape(-1, 2)
        if not (i_s > 0 and v_t > 0):
            raise ValueError(f"diode i_s = {i_s!r}, v_t = {v_t!r}: allowed values are i_s > 0 and v_t > 0")
        if not g_min >= 0:
            raise ValueError(f"g_min = {g_min!r}: allowed values are g_min >= 0")
        src = _nodes(sources, "sources", n)
        rl = _nodes(rails, "rails", n)
        rv = np.asarray(rail_voltages, dtype=np.float64).reshape(-1)
        if rv.shape != rl.shape:
            raise ValueError(f"rail_voltages has {rv.size} values for {rl.size} rails")
        clamped = np.concatenate([src, rl])
        if np.unique(clamped).size != clamped.size:
            raise ValueError("a node cannot be both a source and a rail (or listed twice)")
        free = np.setdiff1d(np.arange(n), clamped)
        out = _nodes(output_nodes, "output_nodes", n)
        if out.size == 0 or not np.all(np.isin(out, free)):
            raise ValueError(f"output_nodes = {out.tolist()!r}: need >= 1 free node (not a source or rail)")
        if clamped.size == 0:
            raise ValueError("need at least one source or rail (otherwise voltages are undetermined)")
        self.g = jnp.asarray(ga, dtype)
        self.rail_voltages = rv.astype(np.dtype(dtype))
        self.index = Index(*(tuple(map(tuple, a.tolist())) for a in (ed, di)),
                           *(tuple(a.tolist()) for a in (src, rl, out, free)))
        self.n_nodes = n
        self.i_s = float(i_s)
        self.v_t = float(v_t)
        self.g_min = float(g_min)
        self.equilibrium = equilibrium

    edges = property(lambda self: np.asarray(self.index.edges, dtype=np.int64).reshape(-1, 2))
    diodes = property(lambda self: np.asarray(self.index.diodes, dtype=np.int64).reshape(-1, 2))
    sources = property(lambda self: np.asarray(self.index.sources, dtype=np.int64))
    rails = property(lambda self: np.asarray(self.index.rails, dtype=np.int64))
    output_nodes = property(lambda self: np.asarray(self.index.output_nodes, dtype=np.int64))
    free_nodes = property(lambda self: np.asarray(self.index.free_nodes, dtype=np.int64))

    def param_filter(self):
        """Only the conductances are trained (numpy leaves become tracers under jit)."""
        return self.only_fields({"g": True})

    def voltages(self, state: Array, x: Array) -> Array:
        """Voltages of every node from the free-node state and the source voltages ``x``."""
        dtype = jnp.result_type(state.dtype, x.dtype)
        v = jnp.zeros(self.n_nodes, dtype).at[self.free_nodes].set(state.astype(dtype))
        v = v.at[self.sources].set(x.astype(dtype))
        return v.at[self.rails].set(jnp.asarray(self.rail_voltages, dtype))

    def energy(self, state, x):
        v = self.voltages(state, x)
        dv = v[self.edges[:, 0]] - v[self.edges[:, 1]]
        e = 0.5 * jnp.sum(self.g * dv * dv)
        if self.diodes.size:
            dd = v[self.diodes[:, 0]] - v[self.diodes[:, 1]]
            e = e + jnp.sum(diode_cocontent(dd, self.i_s, self.v_t))
        return e

    def init_state(self, x):
        """Every free node at the mean clamped voltage (a point inside the convex hull)."""
        clamped = jnp.concatenate([x, jnp.asarray(self.rail_voltages, x.dtype)])
        dtype = jnp.result_type(self.g.dtype, x.dtype)
        return jnp.full(self.free_nodes.size, jnp.mean(clamped), dtype)

    def readout(self, state):
        return state[np.searchsorted(self.free_nodes, self.output_nodes)]

    def project(self):
        """Conductances back to g >= g_min (passive resistors)."""
        return eqx.tree_at(lambda s: s.g, self, jnp.maximum(self.g, self.g_min))


def layered_edges(groups: list[np.ndarray]) -> np.ndarray:
    """All-to-all resistor edges between consecutive node groups (a layered network)."""
    edges = [(int(a), int(b)) for g0, g1 in zip(groups[:-1], groups[1:], strict=True) for a in g0 for b in g1]
    return np.array(edges, dtype=np.int64).reshape(-1, 2)


# ----------------------------------------------------------------------------- registration


def layered_network(n_in: int, n_hidden: int, n_out: int, key: PRNGKeyArray, *, g=None, diodes: bool,
                    g_init=(0.2, 1.0), g_min: float = 1e-3, i_s: float = 0.05, v_t: float = 0.2, rails=(0.0,),
                    dtype=jnp.float32, equilibrium=None) -> ResistorNetwork:
    """The layered network of the ``ep_resistors`` experiments: sources 0..n_in-1, the rails next
    (ground 0 V by default), then the hidden nodes, then the outputs; all-to-all resistors between
    consecutive layers and from sources/rails to the outputs; optional diodes hidden <-> output of
    alternating orientation. Conductances ``g`` (default: uniform in ``g_init`` from ``key``)."""
    src = np.arange(n_in)
    rl = np.arange(n_in, n_in + len(rails))
    hid = rl[-1] + 1 + np.arange(n_hidden)
    out = hid[-1] + 1 + np.arange(n_out)
    inputs = np.concatenate([src, rl])
    edges = np.concatenate([layered_edges([inputs, hid, out]), layered_edges([inputs, out])])
    if g is None:
        g = np.asarray(jax.random.uniform(key, (len(edges),), minval=g_init[0], maxval=g_init[1]))
    di = [(h, o) if (a + b) % 2 == 0 else (o, h) for a, h in enumerate(hid) for b, o in enumerate(out)] if diodes \
        else []
    return ResistorNetwork(int(out[-1] + 1), edges, g, sources=src, rails=rl, rail_voltages=list(rails),
                           output_nodes=out, diodes=di, i_s=i_s, v_t=v_t, g_min=g_min, dtype=dtype,
                           equilibrium=equilibrium)


@dataclasses.dataclass(frozen=True)
class ResistorsSection:
    """Layered resistor/diode network: (sources + ground) -> hidden -> outputs, all-to-all resistors
    (and sources -> outputs); inputs are the source voltages (V), outputs the output-node voltages."""

    n_hidden: int = param(4, ge=1, le=10_000, doc="hidden nodes")
    diodes: bool = param(True, doc="add Shockley diodes hidden <-> output (alternating orientation)")
    g_low: float = param(0.2, ge=0, doc="initial conductances uniform in [g_low, g_high] (S)")
    g_high: float = param(1.0, ge=0, doc="initial conductances uniform in [g_low, g_high] (S)")
    g_min: float = param(1e-3, ge=0, doc="projection floor for g after each update (S)")
    i_s: float = param(0.05, gt=0, doc="diode saturation current (A)")
    v_t: float = param(0.2, gt=0, doc="diode thermal voltage (V)")


def _check_case():
    """The ``resistors_diodes`` instance of the gradient matrix (``ep_networks._matrix_instances``):
    2 sources + ground -> 3 hidden -> 2 outputs with diodes, 3 samples; tight Newton, float64."""
    from physlearning.core import SquaredError
    from physlearning.core.equilibrium import Equilibrium

    net = layered_network(2, 3, 2, jax.random.PRNGKey(0), diodes=True, dtype=jnp.float64,
                          equilibrium=Equilibrium("newton", rtol=1e-12, atol=1e-12, max_steps=60))
    x = jax.random.uniform(jax.random.PRNGKey(1), (3, 2), jnp.float64, -1, 1)
    t = jax.random.uniform(jax.random.PRNGKey(2), (3, 2), jnp.float64, -0.5, 0.5)
    return net, (x, t), SquaredError()


@register_substrate("resistors", ResistorsSection, ResistorNetwork, check_case=_check_case,
                    reference="implicit_autodiff", doc="layered resistor network with diodes (nonlinear, convex)")
def build_resistors(c: ResistorsSection, n_in: int, n_out: int, key: PRNGKeyArray) -> ResistorNetwork:
    if not c.g_low <= c.g_high:
        from physlearning.errors import ConfigError

        raise ConfigError(f"g_low = {c.g_low!r}, g_high = {c.g_high!r}: allowed values are g_low <= g_high")
    return layered_network(n_in, c.n_hidden, n_out, key, diodes=c.diodes, g_init=(c.g_low, c.g_high), g_min=c.g_min,
                           i_s=c.i_s, v_t=c.v_t)
