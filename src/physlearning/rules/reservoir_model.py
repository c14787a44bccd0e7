"""A ReservoirPy-like model: a physical reservoir plus a ridge readout, over lists of series.

``ReservoirModel(reservoir, alpha, washout)`` mirrors ReservoirPy's ``reservoir >> ridge``:

* ``run(series)`` drives the reservoir (one jitted ``lax.scan`` per series) and returns its measured
  states; a list of series of different lengths gives a list of state arrays;
* ``fit(inputs, targets)`` accumulates the ridge statistics of every series after its ``washout``
  (``RidgeSolver``: sums and X^T X, X^T Y in float64, so series are never concatenated across their
  boundaries) and solves for ``alpha``;
* ``predict(inputs)`` runs and applies the readout.

Each series starts from the reservoir's initial state (``reset=True``, the default); with
``reset=False`` it continues from the state the previous call ended in (``state``), and ``reset()``
clears it explicitly, as ReservoirPy's ``reset``.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from physlearning.rules.ridge import Readout, RidgeSolver
from physlearning.substrates.reservoirs.base import Reservoir, check_finite


@eqx.filter_jit
def _scan(reservoir: Reservoir, u, state0, key):
    s0 = reservoir.device.init_state() if state0 is None else state0
    noisy = key is not None and reservoir.device.noise > 0
    keys = jax.random.split(key, u.shape[0]) if noisy else jnp.zeros((u.shape[0], 2), jnp.uint32)

    def body(s, inp):
        ut, k = inp
        s = reservoir.step(s, ut, k if noisy else None)
        return s, reservoir.device.observe(s)

    return jax.lax.scan(body, s0, (u, keys))


class ReservoirModel:
    """Reservoir + ridge readout over (lists of) series; see the module docstring."""

    def __init__(self, reservoir: Reservoir, alpha: float = 1e-6, washout: int = 0):
        if not alpha >= 0:
            raise ValueError(f"alpha = {alpha!r}: allowed values are alpha >= 0")
        if washout < 0:
            raise ValueError(f"washout = {washout!r}: allowed values are >= 0")
        self.reservoir, self.alpha, self.washout = reservoir, float(alpha), int(washout)
        self.readout: Readout | None = None
        self.state = None

    def reset(self) -> None:
        """Forget the state the last run ended in."""
        self.state = None

    def _one(self, u: np.ndarray, reset: bool, key) -> np.ndarray:
        u = np.asarray(u, np.float32)
        if u.ndim == 1:
            u = u[:, None]
        last, phi = _scan(self.reservoir, jnp.asarray(u), None if reset else self.state, key)
        self.state = last
        phi = np.asarray(phi)
        check_finite(phi, self.reservoir.device)
        return phi

    def run(self, series, *, reset: bool = True, key=None):
        """Measured states (T, n) of one series (T, d_in), or a list of them for a list of series."""
        if isinstance(series, (list, tuple)):
            keys = [None] * len(series) if key is None else list(jax.random.split(key, len(series)))
            return [self._one(u, reset, k) for u, k in zip(series, keys, strict=True)]
        return self._one(series, reset, key)

    def fit(self, inputs, targets, *, key=None) -> ReservoirModel:
        """Ridge readout on every series' states after the washout (statistics summed over series)."""
        xs = inputs if isinstance(inputs, (list, tuple)) else [inputs]
        ys = targets if isinstance(targets, (list, tuple)) else [targets]
        if len(xs) != len(ys):
            raise ValueError(f"fit: {len(xs)} input series but {len(ys)} target series")
        solver = None
        for phi, y in zip(self.run(list(xs), key=key), ys, strict=True):
            y = np.asarray(y, np.float64).reshape(len(phi), -1)
            if len(phi) <= self.washout:
                raise ValueError(f"fit: a series of length {len(phi)} is not longer than washout = {self.washout}")
            part = RidgeSolver(phi[self.washout:], y[self.washout:])
            solver = part if solver is None else solver + part
        self.readout = solver.solve(self.alpha)
        return self

    def predict(self, inputs, *, reset: bool = True, key=None):
        """Readout outputs (T, d_out) per series (the washout included: states from t = 0)."""
        if self.readout is None:
            raise ValueError("predict: call fit first (no readout trained)")
        states = self.run(inputs, reset=reset, key=key)
        return [self.readout(p) for p in states] if isinstance(states, list) else self.readout(states)

    def save_readout(self, path) -> None:
        """``readout.npz`` (w, b, alpha), the format ``physlearning.load_run`` reads."""
        if self.readout is None:
            raise ValueError("save_readout: no readout trained")
        np.savez(path, w=self.readout.w, b=self.readout.b, alpha=self.readout.alpha)


