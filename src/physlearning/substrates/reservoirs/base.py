"""Reservoir = a device layer driven by weighted input and its own coupled, measured output.

At each input sample ``t`` every node ``i`` of a device layer receives the drive

    d_i(t) = sum_j W_in[i, j] u_j(t) + sum_j W[i, j] phi_j(t-1) + b_i

(input, interconnection and bias weights; ``phi`` are the measured node outputs), and the
device integrates its physics over one sample interval with its own integrator. All of it
is one ``lax.scan`` over time (``vmap`` over series outside).
"""

from __future__ import annotations

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, PRNGKeyArray

from physlearning.core import Substrate


class DeviceError(RuntimeError):
    """A device simulation that blew up (NaN/inf), or a device parameter outside its limits."""


class Device(eqx.Module):
    """``n`` physical nodes integrated over one input-sample interval per :meth:`step`.

    Subclasses state their timescale, nonlinearity and noise parameters and their
    integrator's time step; :meth:`check` raises :class:`DeviceError` for a time step
    beyond the integrator's stability limit."""

    n: int = eqx.field(static=True)
    noise: float = eqx.field(static=True, default=0.0)

    @abc.abstractmethod
    def init_state(self) -> Array: ...

    @abc.abstractmethod
    def step(self, state: Array, drive: Array, key: PRNGKeyArray | None) -> Array:
        """State after one input-sample interval under constant ``drive`` (n,);
        ``key=None`` runs noiseless."""

    def observe(self, state: Array) -> Array:
        """Measured node outputs phi (n,)."""
        return state

    def check(self) -> None:
        """Raise :class:`DeviceError` for parameters outside the integrator's limits."""

    def blowup_hint(self) -> str:
        return "the input scaling / coupling"


class Reservoir(Substrate):
    """One device layer with input ``w_in`` (n, d_in), interconnection ``w`` (n, n) acting
    on measured outputs (``None``: no coupling), bias (n,). Fixed (untrainable) weights are
    stored as numpy arrays, trainable ones as jax arrays."""

    device: Device
    w_in: Array
    w: Array | None
    bias: Array

    def drive(self, u: Array, phi: Array) -> Array:
        d = jnp.asarray(self.w_in) @ u + jnp.asarray(self.bias)
        if self.w is not None:
            d = d + jnp.asarray(self.w) @ phi
        return d

    def step(self, state: Array, u: Array, key: PRNGKeyArray | None) -> Array:
        return self.device.step(state, self.drive(u, self.device.observe(state)), key)

    def states(self, u: Array, key: PRNGKeyArray | None = None, state0: Array | None = None) -> Array:
        """Measured outputs phi(t) (T, n) for an input series ``u`` (T, d_in);
        ``key=None`` (or device noise 0) runs noiseless."""
        s0 = self.device.init_state() if state0 is None else state0
        noisy = key is not None and self.device.noise > 0
        keys = jax.random.split(key, u.shape[0]) if noisy else jnp.zeros((u.shape[0], 2), jnp.uint32)

        def body(s, inp):
            ut, k = inp
            s = self.step(s, ut, k if noisy else None)
            return s, self.device.observe(s)

        _, phi = jax.lax.scan(body, s0, (u, keys))
        return phi


def check_finite(phi, device: Device, where: str = "reservoir") -> None:
    """Stop with a message naming the parameters when a simulation produced NaN/inf."""
    arr = np.asarray(phi)
    if not np.all(np.isfinite(arr)):
        t = int(np.argwhere(~np.isfinite(arr).reshape(-1, arr.shape[-1]).all(1))[0, 0]) if arr.ndim > 1 else 0
        raise DeviceError(f"{where}: {type(device).__name__} simulation blew up (NaN/inf near flat step {t}); "
                          f"reduce {device.blowup_hint()}")


def random_matrix(rng: np.random.Generator, n: int, m: int, density: float, scale: float = 1.0) -> np.ndarray:
    """Uniform[-1, 1] entries with a fraction ``density`` nonzero (at least one per row),
    times ``scale``."""
    mask = rng.random((n, m)) < density
    mask[np.arange(n), rng.integers(0, m, n)] |= ~mask.any(1)
    w = rng.uniform(-1, 1, (n, m)) * mask
    return (scale * w).astype(np.float32)


def scale_spectral_radius(w: np.ndarray, rho: float) -> np.ndarray:
    """Rescale ``w`` to spectral radius ``rho`` (> 0)."""
    if not rho > 0:
        raise ValueError(f"spectral_radius = {rho!r}: must be > 0")
    r = float(np.max(np.abs(np.linalg.eigvals(w.astype(np.float64)))))
    if r == 0:
        raise ValueError("reservoir matrix has spectral radius 0 (increase density or units)")
    return (w * (rho / r)).astype(np.float32)


def coupled_layer(dev: Device, d_in: int, seed: int, input_scaling: float, coupling: float, density: float,
                  bias_scaling: float, trainable: bool) -> Reservoir:
    """``dev`` with uniform input weights, uniform bias and (``coupling`` > 0) sparse random
    interconnections of spectral radius ``coupling`` on the measured outputs; weights are jax
    arrays (trainable; zero coupling becomes a trainable zero matrix) or fixed numpy arrays."""
    dev.check()
    rng = np.random.default_rng(seed)
    n = dev.n
    w_in = random_matrix(rng, n, d_in, 1.0, input_scaling)
    b = random_matrix(rng, n, 1, 1.0, bias_scaling)[:, 0]
    w = scale_spectral_radius(random_matrix(rng, n, n, density), coupling) if coupling > 0 else None
    if w is None and trainable:
        w = np.zeros((n, n), np.float32)
    conv = jnp.asarray if trainable else (lambda a: a)
    return Reservoir(dev, conv(w_in), None if w is None else conv(w), conv(b))
