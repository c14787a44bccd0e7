"""Layered continuous Hopfield network (Scellier & Bengio 2017, Hopfield 1984).

State: pre-activations u_l of the hidden and output layers (l = 1..L); firing rates
s_l = rho(u_l) with a bounded activation rho (logistic sigmoid, rates in (0, 1), or tanh,
rates in (-1, 1)); the output layer may be linear; s_0 = x is clamped to the input.
Energy (dimensionless)

    E(u; W, b, x) = sum_{l>=1} sum_i G(s_{l,i})  -  sum_{l>=1} s_l . (W_l s_{l-1} + b_l),

    G(s) = int_0^s rho^{-1} = s u - A(u)   (s = rho(u), A' = rho),

G being the Hopfield (1984) "leak" term that keeps rates bounded: for the sigmoid
G(s) = s log s + (1 - s) log(1 - s) (A = softplus), for tanh A = log cosh, for a linear
unit G = u^2 / 2. Stationarity dE/du_l = 0 gives the relaxation fixed point

    u_l = W_l s_{l-1} + b_l + W_{l+1}^T s_{l+1}   (- dbetaC/ds_L for the output layer),

which :meth:`fixed_point_map` iterates (forward sweep). E is analytic in u near the real
axis, so holomorphic EP applies. Output: s_L; targets are one-hot in [0, 1].
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, PRNGKeyArray

from physlearning.config import param
from physlearning.core import EnergySubstrate
from physlearning.core.equilibrium import cgrad
from physlearning.registry import register_substrate


def rho(u: Array) -> Array:
    """Logistic sigmoid (analytic, so complex u is allowed)."""
    return 1.0 / (1.0 + jnp.exp(-u))


def softplus(u: Array) -> Array:
    """log(1 + e^u), written analytically for complex u (stable for real u)."""
    if jnp.iscomplexobj(u):
        return jnp.log1p(jnp.exp(u))
    return jax.nn.softplus(u)


def logcosh(u: Array) -> Array:
    """log cosh u (antiderivative of tanh), analytic for complex u, stable for real u."""
    if jnp.iscomplexobj(u):
        return jnp.log(jnp.cosh(u))
    a = jnp.abs(u)
    return a + jnp.log1p(jnp.exp(-2 * a)) - jnp.log(2.0)


ACTIVATIONS = {
    # name: (rate rho(u), its antiderivative A(u))
    "sigmoid": (rho, softplus),
    "tanh": (jnp.tanh, logcosh),
    "linear": (lambda u: u, lambda u: 0.5 * u * u),
}


class LayeredHopfield(EnergySubstrate):
    """Layered Hopfield network with symmetric couplings W_l (n_l x n_{l-1}) and biases b_l."""

    weights: tuple[Array, ...]
    biases: tuple[Array, ...]
    activation: str = eqx.field(static=True)
    output: str = eqx.field(static=True)

    def __init__(
        self,
        sizes: tuple[int, ...] | list[int],
        key: PRNGKeyArray,
        gain: float = 1.0,
        dtype=jnp.float32,
        activation: str = "sigmoid",
        output: str = "sigmoid",
        equilibrium=None,
    ):
        if len(sizes) < 2 or any(int(n) < 1 for n in sizes):
            raise ValueError(f"sizes = {sizes!r}: need >= 2 layers of >= 1 unit")
        for name, v in (("activation", activation), ("output", output)):
            if v not in ACTIVATIONS:
                raise ValueError(f"{name} = {v!r}: allowed values are {sorted(ACTIVATIONS)}")
        self.activation, self.output = activation, output
        self.equilibrium = equilibrium
        keys = jax.random.split(key, len(sizes) - 1)
        ws, bs = [], []
        for k, n_in, n_out in zip(keys, sizes[:-1], sizes[1:]):
            lim = gain * jnp.sqrt(6.0 / (n_in + n_out))
            ws.append(jax.random.uniform(k, (n_out, n_in), dtype, -lim, lim))
            bs.append(jnp.zeros(n_out, dtype))
        self.weights = tuple(ws)
        self.biases = tuple(bs)

    @property
    def sizes(self) -> tuple[int, ...]:
        return (self.weights[0].shape[1],) + tuple(w.shape[0] for w in self.weights)

    def _act(self, l: int):
        return ACTIVATIONS[self.output if l == len(self.weights) - 1 else self.activation]

    def rates(self, state) -> list[Array]:
        return [self._act(l)[0](u) for l, u in enumerate(state)]

    def energy(self, state, x):
        e = 0.0
        prev = x
        for l, (u, w, b) in enumerate(zip(state, self.weights, self.biases)):
            act, anti = self._act(l)
            s = act(u)
            e = e + jnp.sum(s * u - anti(u)) - jnp.dot(s, w @ prev + b)
            prev = s
        return e

    def init_state(self, x):
        """Feed-forward pass: a good warm start for the relaxation."""
        us, prev = [], x
        for l, (w, b) in enumerate(zip(self.weights, self.biases)):
            u = w @ prev + b
            us.append(u)
            prev = self._act(l)[0](u)
        return tuple(us)

    def readout(self, state):
        return self._act(len(state) - 1)[0](state[-1])

    def fixed_point_map(self, state, x, nudge):
        """One forward sweep of u_l <- W_l s_{l-1} + b_l + W_{l+1}^T s_{l+1} - d nudge/ds_L."""
        rates = self.rates(state)
        new = []
        prev = x
        n = len(state)
        for l in range(n):
            u = self.weights[l] @ prev + self.biases[l]
            if l + 1 < n:
                u = u + self.weights[l + 1].T @ rates[l + 1]
            else:
                u = u - cgrad(nudge, self._act(l)[0](state[l]))
            new.append(u)
            prev = self._act(l)[0](u)
        return tuple(new)


@dataclasses.dataclass(frozen=True)
class HopfieldSection:
    """Layered Hopfield network (inputs clamped, outputs the last layer's rates)."""

    hidden: tuple[int, ...] = param((16,), ge=1, le=100_000, doc="hidden layer sizes")
    gain: float = param(1.0, gt=0, doc="initial coupling scale (Glorot uniform x gain)")
    activation: str = param("tanh", choices=tuple(sorted(ACTIVATIONS)), doc="hidden rates rho(u)")
    output: str = param("linear", choices=tuple(sorted(ACTIVATIONS)), doc="output rates")


def _check_case():
    """The 6-8-3 net (gain 1.5) of the gradient matrix, tight Newton relaxation, float64."""
    from physlearning.core import SquaredError
    from physlearning.core.equilibrium import Equilibrium

    net = LayeredHopfield((6, 8, 3), jax.random.PRNGKey(0), gain=1.5, dtype=jnp.float64,
                          equilibrium=Equilibrium(method="newton", rtol=1e-12, atol=1e-12))
    x = jax.random.uniform(jax.random.PRNGKey(1), (4, 6), jnp.float64)
    t = jax.nn.one_hot(jnp.array([0, 1, 2, 1]), 3, dtype=jnp.float64)
    return net, (x, t), SquaredError()


@register_substrate("hopfield", HopfieldSection, LayeredHopfield, check_case=_check_case,
                    reference="implicit_autodiff", doc="layered continuous Hopfield network")
def build_hopfield(c: HopfieldSection, n_in: int, n_out: int, key: PRNGKeyArray) -> LayeredHopfield:
    return LayeredHopfield((n_in, *c.hidden, n_out), key, gain=c.gain, activation=c.activation, output=c.output)
