"""Running a reservoir or a device network over a series: jitted state and feature runs, and closed-loop
(autonomous) generation where the readout's output is fed back as the next input.

What builds a reservoir from a config section stays with the sections (``experiments.reservoir.sections``);
these need only the substrate."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from physlearning.substrates.reservoirs.base import Reservoir


@eqx.filter_jit
def states_jit(res, u, key):
    """``res.states(u, key)`` under ``eqx.filter_jit``: the measured states (T, n) for input ``u`` (T, d)."""
    return res.states(u, key)


@eqx.filter_jit
def features_jit(net, u, key):
    """``net.features(u, key)`` under ``eqx.filter_jit``: a device network's readout features."""
    return net.features(u, key)


def closed_loop(res: Reservoir, readout, phi, u, mu, sd, start: int, steps: int, with_input: bool) -> np.ndarray:
    """Autonomous forecast: teacher forcing up to ``start - 1``, then the readout's output
    (re-standardised) is the next input. Returns (steps, d) in data units."""
    w = jnp.asarray(readout.w, jnp.float32)
    b = jnp.asarray(readout.b, jnp.float32)
    mu = jnp.asarray(mu, jnp.float32)
    sd = jnp.asarray(sd, jnp.float32)
    s0 = jnp.asarray(phi[start - 2], jnp.float32)
    u0 = jnp.asarray(u[start - 1], jnp.float32)

    @jax.jit
    def loop(s0, u0):
        def body(carry, _):
            s, ut = carry
            s = res.step(s, ut, None)
            f = jnp.concatenate([res.device.observe(s), ut]) if with_input else res.device.observe(s)
            y = f @ w + b
            return (s, (y - mu) / sd), y

        return jax.lax.scan(body, (s0, u0), None, length=steps)[1]

    return np.asarray(loop(s0, u0), np.float64)

