"""Reservoir = a device layer driven by weighted input and its own coupled, measured output.

At each input sample ``t`` every node ``i`` of a device layer receives the drive

    d_i(t) = sum_j W_in[i, j] u_j(t) + sum_j W[i, j] phi_j(t-1) + b_i

(input, interconnection and bias weights; ``phi`` are the measured node outputs), and the
device integrates its physics over one sample interval with its own integrator. All of it
is one ``lax.scan`` over time (``vmap`` over series outside).
"""

from __future__ import annotations

import abc
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, PRNGKeyArray

from physlearning.core import Substrate
from physlearning.errors import PhysLearningError


class DeviceError(PhysLearningError, RuntimeError):
    """A device simulation that blew up (NaN/inf), or a device parameter outside its limits."""


class Device(eqx.Module):
    """``n`` physical nodes integrated over one input-sample interval per :meth:`step`.

    Subclasses state their timescale, nonlinearity and noise parameters and their
    integrator's time step; :meth:`check` raises :class:`DeviceError` for a time step
    beyond the integrator's stability limit."""

    n: int = eqx.field(static=True)
    noise: float = eqx.field(static=True, default=0.0)
    order: ClassVar[float | None] = None
    """global order of the device's integrator in its time step (None: an exact or discrete-time update);
    ``tests/test_integrator_order.py`` fits it."""

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
        """Drive ``W_in u + W phi + b`` (n,). Products in full float32 (``HIGHEST``): on GPUs the
        default would be TF32 (10-bit mantissa) once the scan is batched, measured to raise
        NARMA10 NRMSE 0.108 -> 0.233."""
        mm = lambda a, b: jnp.matmul(jnp.asarray(a), b, precision=jax.lax.Precision.HIGHEST)
        d = mm(self.w_in, u) + jnp.asarray(self.bias)
        if self.w is not None:
            d = d + mm(self.w, phi)
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

    def predict(self, u: Array, key: PRNGKeyArray | None = None) -> Array:
        """Measured node outputs for a batch of series ``u`` (B, T, d_in) -> (B, T, n); noiseless unless
        ``key`` (and the device has noise)."""
        keys = jax.random.split(key, u.shape[0]) if key is not None else None
        if keys is None:
            return jax.vmap(lambda ui: self.states(ui))(u)
        return jax.vmap(lambda ui, k: self.states(ui, k))(u, keys)

    def states_parallel(self, u: Array, chunk: int, overlap: int, unroll: int = 1) -> tuple[Array, Array]:
        """Noiseless :meth:`states` computed as ``ceil(T / chunk)`` chunks side by side.

        Chunk ``c`` covers samples ``[c chunk, (c+1) chunk)`` and is preceded by a warm-up on
        the ``overlap`` samples before it, started from ``init_state`` (a warm-up reaching
        back before sample 0 starts at sample 0 from ``init_state``, as :meth:`states` does, so
        those chunks are exact). By the echo state property
        (Jaeger 2001, GMD Report 148: a driven contracting reservoir forgets its initial
        state), the warm-up end state approaches the sequential one geometrically in
        ``overlap``. Sequential depth drops from ``T`` to ``overlap + chunk`` steps (a warm-up
        scan keeping no outputs, then the chunk scan), each a batched step over the chunks (a
        batched matmul on accelerators).

        Returns ``(phi, seam)``: ``phi`` (T, n) and ``seam`` = max over chunk boundaries of
        |output at the warm-up end (or of the initial state, without warm-up) - previous chunk's
        output| at the same sample, an estimate of the deviation from :meth:`states` measured at
        no extra cost (0 for one chunk)."""
        if chunk < 1 or overlap < 0:
            raise ValueError(f"states_parallel: chunk = {chunk!r} must be >= 1, overlap = {overlap!r} >= 0")
        T, d = u.shape
        if T == 0:
            return self.states(u), jnp.zeros(())
        chunk = min(chunk, T)
        C = -(-T // chunk)
        overlap = min(overlap, (C - 1) * chunk)  # a longer warm-up would only hold the initial state
        up = jnp.concatenate([jnp.zeros((overlap, d), u.dtype), u, jnp.zeros((C * chunk - T, d), u.dtype)])
        starts = jnp.arange(C)[:, None] * chunk
        s0 = jnp.broadcast_to(self.device.init_state(), (C, *jnp.shape(self.device.init_state())))
        step = jax.vmap(lambda s, ut: self.step(s, ut, None))
        observe = jax.vmap(self.device.observe)

        def warm(s, inp):  # warm-up: no outputs kept; samples before t = 0 hold the initial state,
            ut, h = inp    # so chunks starting within ``overlap`` start exactly
            return jnp.where(h.reshape((C,) + (1,) * (s.ndim - 1)), s, step(s, ut)), None

        def run(s, ut):
            s = step(s, ut)
            return s, observe(s)

        if overlap > 0:
            j = jnp.arange(overlap)[None, :]
            inputs = jnp.swapaxes(up[starts + j], 0, 1)  # (overlap, C, d)
            s_warm, _ = jax.lax.scan(warm, s0, (inputs, (starts + j < overlap).T), unroll=unroll)
        else:
            s_warm = s0
        inputs = jnp.swapaxes(up[starts + overlap + jnp.arange(chunk)[None, :]], 0, 1)  # (chunk, C, d)
        _, phi = jax.lax.scan(run, s_warm, inputs, unroll=unroll)  # (chunk, C, n)
        # each chunk's start (warm-up end, or the initial state) vs the previous chunk's end
        seam = jnp.max(jnp.abs(observe(s_warm)[1:] - phi[-1, :-1])) if C > 1 else jnp.zeros((), phi.dtype)
        phi = jnp.swapaxes(phi, 0, 1).reshape(C * chunk, -1)[:T]
        return phi, seam


def check_finite(phi, device: Device, where: str = "reservoir") -> None:
    """Stop with a message naming the parameters when a simulation produced NaN/inf."""
    arr = np.asarray(phi)
    if not np.all(np.isfinite(arr)):
        t = int(np.argwhere(~np.isfinite(arr).reshape(-1, arr.shape[-1]).all(1))[0, 0]) if arr.ndim > 1 else 0
        raise DeviceError(f"{where}: {type(device).__name__} simulation blew up (NaN/inf near flat step {t}); "
                          f"reduce {device.blowup_hint()}")


WEIGHT_DISTRIBUTIONS = ("uniform", "normal")


def random_matrix(rng: np.random.Generator, n: int, m: int, density: float, scale: float = 1.0,
                  distribution: str = "uniform") -> np.ndarray:
    """Uniform[-1, 1] (or standard ``"normal"``) entries with a fraction ``density`` nonzero (at
    least one per row), times ``scale``."""
    if distribution not in WEIGHT_DISTRIBUTIONS:
        raise ValueError(f"weight distribution = {distribution!r}: allowed values are {list(WEIGHT_DISTRIBUTIONS)}")
    mask = rng.random((n, m)) < density
    mask[np.arange(n), rng.integers(0, m, n)] |= ~mask.any(1)
    w = (rng.uniform(-1, 1, (n, m)) if distribution == "uniform" else rng.standard_normal((n, m))) * mask
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
