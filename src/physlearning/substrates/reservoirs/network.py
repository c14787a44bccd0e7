"""Networks of (heterogeneous) device reservoirs with a trainable linear readout
(Stenning et al., Nat. Commun. 15, 2024; Manneschi et al., Nat. Commun. 16, 9192, 2025).

* ``parallel``: every layer is driven by the input ``u(t)``; the readout sees all layers.
* ``deep``: layer ``l`` is driven by the input and the measured outputs of layer ``l-1``
  at the same sample (``W_in`` of layer ``l`` has ``d_in + n_{l-1}`` columns); the readout
  sees all layers.

Output ``y(t) = W_out [phi_1(t), ..., phi_L(t), 1]``. Input, interconnection and readout
weights are trainable (jax arrays) and trained by backpropagation through the
differentiable device models (one ``lax.scan`` over time); passing a PRNG ``key`` runs
the devices with their noise on, which is how noise-aware training works (config
``train.noise_aware``). :class:`WashoutMSE` is the per-series training cost (the Trainer's
``Cost``): the mean squared error after the washout.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, PRNGKeyArray

from physlearning.core import Cost, Substrate
from physlearning.substrates.reservoirs.base import Reservoir


class WashoutMSE(Cost):
    """Mean squared error of one series after ``washout`` samples: ``mean((y[w:] - t[w:])**2)``
    over time and outputs (``y``, ``target``: (T, d_out))."""

    washout: int = eqx.field(static=True, default=0)

    def __call__(self, y: Array, target: Array) -> Array:
        return jnp.mean((y[self.washout:] - target[self.washout:]) ** 2)


class DeviceNetwork(Substrate):
    """Layers of device reservoirs (``parallel`` or ``deep``) with a trainable readout ``w_out``
    (1, n_features + 1); ``washout`` samples are dropped before the loss."""

    layers: tuple[Reservoir, ...]
    w_out: Array
    arrangement: str = eqx.field(static=True, default="parallel")
    washout: int = eqx.field(static=True, default=0)

    @property
    def n_features(self) -> int:
        return sum(layer.device.n for layer in self.layers)

    def features(self, u: Array, key: PRNGKeyArray | None = None) -> Array:
        """Measured outputs of all layers (T, sum n_l) for input ``u`` (T, d_in)."""
        noisy = key is not None
        n_t = u.shape[0]
        n_l = len(self.layers)
        keys = jax.random.split(key, (n_t, n_l)) if noisy else jnp.zeros((n_t, n_l, 2), jnp.uint32)
        s0 = tuple(layer.device.init_state() for layer in self.layers)

        def body(states, inp):
            ut, ks = inp
            new, outs = [], []
            prev = None
            for li, (layer, s) in enumerate(zip(self.layers, states)):
                x = ut if (self.arrangement == "parallel" or prev is None) else jnp.concatenate([ut, prev])
                k = ks[li] if noisy and layer.device.noise > 0 else None
                s = layer.step(s, x, k)
                prev = layer.device.observe(s)
                new.append(s)
                outs.append(prev)
            return tuple(new), jnp.concatenate(outs)

        _, phi = jax.lax.scan(body, s0, (u, keys))
        return phi

    def __call__(self, u: Array, key: PRNGKeyArray | None = None) -> Array:
        phi = self.features(u, key)
        return phi @ self.w_out[:, :-1].T + self.w_out[:, -1]

    def predict(self, u: Array, key: PRNGKeyArray | None = None) -> Array:
        """Outputs for a batch of series ``u`` (B, T, d_in) -> (B, T, d_out); noiseless unless ``key``."""
        if key is None:
            return jax.vmap(self)(u)
        return jax.vmap(self)(u, jax.random.split(key, u.shape[0]))

    def loss(self, u: Array, target: Array, key: PRNGKeyArray | None = None) -> Array:
        """Mean squared error after the washout, one series."""
        return WashoutMSE(self.washout)(self(u, key), target)
