"""Echo state network (Jaeger 2001): leaky-integrator tanh units.

    x(t) = (1 - a) x(t-1) + a tanh(W_in u(t) + W x(t-1) + b) + noise

``a`` is the leak rate (timescale 1/a samples), ``W`` sparse uniform random rescaled to
spectral radius ``rho``, ``W_in`` uniform[-1, 1] (or Bernoulli +-1) times the input scaling.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from physlearning.substrates.reservoirs.base import Device, Reservoir, random_matrix, scale_spectral_radius


def _dtype(dtype=None):
    """``dtype`` as a numpy dtype; None: the default float now (float64 when x64 is enabled)."""
    return jnp.zeros(()).dtype if dtype is None else jnp.dtype(dtype)


class LeakyTanh(Device):
    """Leaky tanh units; one update per sample (discrete-time map, no stability limit)."""

    leak: float = 1.0
    dtype: object = eqx.field(static=True, default=None)
    """dtype of the state (None: the default float when :meth:`init_state` is called)."""

    def init_state(self):
        return jnp.zeros(self.n, _dtype(self.dtype))

    def step(self, state, drive, key):
        x = (1 - self.leak) * state + self.leak * jnp.tanh(drive)
        if key is not None:
            x = x + self.noise * jax.random.normal(key, x.shape, x.dtype)
        return x

    def blowup_hint(self) -> str:
        return "spectral_radius or input_scaling"


def make_esn(n: int, d_in: int, seed: int = 0, spectral_radius: float = 0.9, input_scaling: float = 0.3,
             density: float = 0.1, leak: float = 1.0, bias_scaling: float = 0.3, input_density: float = 1.0,
             noise: float = 0.0, input_distribution: str = "uniform", trainable: bool = False,
             weight_distribution: str = "uniform", dtype=None) -> Reservoir:
    """An ESN with ``n`` units; weights fixed (numpy) unless ``trainable``. Recurrent weights are
    uniform[-1, 1] or standard normal (``weight_distribution``), a fraction ``density`` nonzero,
    scaled to ``spectral_radius``. Input weights are uniform[-1, 1] or, with
    ``input_distribution="bernoulli"``, +-1 with equal probability (every unit then gets the full
    input scaling), times ``input_scaling``. Defaults are those of the ``[reservoir.esn]`` config
    section (``ESNCfg``). Weights and state are in ``dtype`` (None: the default float, float64 when
    x64 is enabled)."""
    if n < 1 or d_in < 1:
        raise ValueError(f"n = {n!r}, d_in = {d_in!r}: the reservoir needs n >= 1 units and d_in >= 1 inputs")
    if not spectral_radius > 0:
        raise ValueError(f"spectral_radius = {spectral_radius!r}: must be > 0")
    for name, v in (("density", density), ("input_density", input_density)):
        if not 0 < v <= 1:
            raise ValueError(f"{name} = {v!r}: allowed values are 0 < {name} <= 1 (fraction of nonzero weights)")
    if input_distribution not in ("uniform", "bernoulli"):
        raise ValueError(f"input_distribution = {input_distribution!r}: allowed values are ['uniform', 'bernoulli']")
    if not 0 < leak <= 1:
        raise ValueError(f"leak = {leak!r}: allowed values are 0 < leak <= 1")
    rng = np.random.default_rng(seed)
    w = scale_spectral_radius(random_matrix(rng, n, n, density, distribution=weight_distribution), spectral_radius)
    w_in = random_matrix(rng, n, d_in, input_density, input_scaling)
    if input_distribution == "bernoulli":
        w_in = np.sign(w_in).astype(np.float32) * np.float32(input_scaling)
    b = random_matrix(rng, n, 1, 1.0, bias_scaling)[:, 0]
    dtype = _dtype(dtype)
    conv = (lambda a: jnp.asarray(a, dtype)) if trainable else (lambda a: a.astype(dtype))
    return Reservoir(LeakyTanh(n=n, noise=noise, leak=leak, dtype=dtype), conv(w_in), conv(w), conv(b))
