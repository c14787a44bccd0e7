"""Single nonlinear node with delayed feedback and virtual nodes (Appeltant et al. 2011,
Nat. Commun. 2, 468), Mackey-Glass nonlinearity:

    T dx/dt = -x(t) + eta f(x(t - tau) + gamma J(t)),   f(z) = z / (1 + |z|^p)

with delay ``tau = N theta`` split into ``N`` virtual nodes of duration ``theta`` (in units
of the node response time ``T``); ``J`` is the input held for one delay and multiplied by
a fixed random binary mask (``W_in``). ``eta`` is the feedback strength, ``gamma`` the
input scaling, ``p`` sets the nonlinearity. Integrator: the linear part is integrated
exactly with the drive held constant over each ``theta`` (zero-order hold),

    x_i(k) = a x_{i-1}(k) + (1 - a) eta f(x_i(k-1) + gamma J_i(k)),   a = exp(-theta),

with ``x_{-1}(k) = x_{N-1}(k-1)``: one lower-triangular matrix product per sample, stable
for any ``theta``. Noise: additive Gaussian on each virtual node (``noise``).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from physlearning.substrates.reservoirs.base import Device, DeviceError, Reservoir


def _dtype(dtype=None):
    """``dtype`` as a numpy dtype; None: the default float now (float64 when x64 is enabled)."""
    return jnp.zeros(()).dtype if dtype is None else jnp.dtype(dtype)


class DelayNode(Device):
    """One Mackey-Glass node with delayed feedback, read as ``n`` virtual nodes (module docstring:
    equation, exact zero-order-hold integrator)."""

    eta: float = 0.5
    """feedback strength."""
    p: float = 1.0
    """Mackey-Glass exponent (nonlinearity)."""
    theta: float = 0.2
    """virtual-node separation in units of the node response time."""
    dtype: object = eqx.field(static=True, default=None)
    """dtype of the state (None: the default float when :meth:`init_state` is called)."""

    def check(self) -> None:
        if not self.theta > 0:
            raise DeviceError(f"delay node theta = {self.theta!r}: must be > 0")

    def _propagators(self, dtype):
        """ZOH propagators (lower-triangular a^(i-j), carry a^(i+1), a) in the state's ``dtype``
        (built in float64: float32 constants would round a float64 integration to float32)."""
        a = float(np.exp(-self.theta))
        i = np.arange(self.n)
        lower = np.where(i[:, None] >= i[None, :], a ** (i[:, None] - i[None, :]).clip(0), 0.0)
        return jnp.asarray(lower, dtype), jnp.asarray(a ** (i + 1.0), dtype), a

    def init_state(self):
        return jnp.zeros(self.n, _dtype(self.dtype))

    def step(self, state, drive, key):
        lower, carry, a = self._propagators(jnp.result_type(state, drive))
        z = state + drive
        f = self.eta * z / (1 + jnp.abs(z) ** self.p)
        x = lower @ ((1 - a) * f) + carry * state[-1]
        if key is not None:
            x = x + self.noise * jax.random.normal(key, x.shape, x.dtype)
        return x

    def blowup_hint(self) -> str:
        return f"eta (= {self.eta}) or the input scaling gamma"


def make_delay(n: int, d_in: int, seed: int = 0, input_scaling: float = 0.1, bias_scaling: float = 0.0,
               trainable: bool = False, *, eta: float = 0.9, p: float = 1.0, theta: float = 0.2,
               noise: float = 0.0, dtype=None) -> Reservoir:
    """``n`` virtual nodes; binary (+-1) input mask times ``gamma = input_scaling``; no
    extra interconnections (the delay line couples the nodes). Defaults are those of the
    ``[reservoir.delay]`` config section (``DelayCfg``). Weights and state are in ``dtype`` (None:
    the default float, float64 when x64 is enabled)."""
    rng = np.random.default_rng(seed)
    dtype = _dtype(dtype)
    dev = DelayNode(n=n, noise=noise, eta=eta, p=p, theta=theta, dtype=dtype)
    dev.check()
    w_in = (input_scaling * rng.choice([-1.0, 1.0], (n, d_in))).astype(np.float32)
    b = (bias_scaling * rng.uniform(-1, 1, n)).astype(np.float32)
    conv = (lambda a: jnp.asarray(a, dtype)) if trainable else (lambda a: a.astype(dtype))
    return Reservoir(dev, conv(w_in), None, conv(b))
