"""Time-series benchmark tasks and reservoir metrics.

Tasks return ``(u, y)``: input series ``u`` of shape ``(T, d_in)`` and target ``y`` of shape
``(T, d_out)`` aligned so that ``y[t]`` is to be predicted from ``u[0..t]``.

* NARMA10 (Atiya & Parlos 2000): ``y(t+1) = 0.3 y(t) + 0.05 y(t) sum_{i=0}^{9} y(t-i)
  + 1.5 u(t-9) u(t) + 0.1``, ``u ~ U[0, 0.5]``.
* Mackey-Glass (Mackey & Glass 1977): ``dx/dt = a x(t-tau) / (1 + x(t-tau)^n) - b x``,
  a=0.2, b=0.1, n=10, tau=17, RK4 with step 0.1, sampled every 1 time unit; target is
  ``x(t+h)`` (h-step-ahead, direct).
* Linear memory capacity (Jaeger 2001): ``MC = sum_k r^2(u(t-k), y_k(t))``.
* Sine-to-square: input ``sin(2 pi t / P)``, target ``sign(sin(2 pi t / P))``.
* Lorenz-63 (sigma=10, rho=28, beta=8/3), sampled every ``dt``; forecasting skill is the
  valid time in Lyapunov times (largest exponent 0.906).

NRMSE here always divides the RMS error by the target's standard deviation.
"""

from __future__ import annotations

import numpy as np

from physlearning.errors import PhysLearningError

LORENZ_LYAPUNOV = 0.906
"""Largest Lyapunov exponent of Lorenz-63 at the standard parameters (Sprott 2003)."""


class SeriesError(PhysLearningError, ValueError):
    """A series that cannot be used (too short, NaN, wrong shape)."""


def check_series(u: np.ndarray, washout: int, name: str = "input") -> np.ndarray:
    """Reject NaN/inf and series not longer than the washout; returns ``u`` as 2-D float."""
    u = np.asarray(u, dtype=np.float64)
    if u.ndim == 1:
        u = u[:, None]
    if u.ndim != 2:
        raise SeriesError(f"{name}: expected shape (T, d), got {u.shape}")
    if not np.all(np.isfinite(u)):
        bad = int(np.argwhere(~np.isfinite(u))[0, 0])
        raise SeriesError(f"{name} contains NaN/inf (first at time step {bad}, value {u[bad]!r})")
    if washout < 0:
        raise SeriesError(f"washout = {washout}: must be >= 0")
    if len(u) <= washout:
        raise SeriesError(f"{name}: series length {len(u)} is too short for washout = {washout} (need > washout)")
    return u


def nrmse(pred: np.ndarray, target: np.ndarray) -> float:
    """sqrt(mean (pred - target)^2) / std(target)  (divides by the target's standard deviation)."""
    pred = np.asarray(pred, np.float64)
    target = np.asarray(target, np.float64)
    return float(np.sqrt(np.mean((pred - target) ** 2)) / np.std(target))


def narma10(T: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """NARMA10 with coefficients (0.3, 0.05, 1.5, 0.1). ``y[t]`` is y(t+1), driven by u up to t.

    Redraws the input (next seed) if the recursion diverges (it does for rare inputs)."""
    for attempt in range(10):
        rng = np.random.default_rng(seed + 1000 * attempt)
        u = rng.uniform(0, 0.5, T + 10)
        y = np.zeros(T + 11)
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging draw is detected below
            for t in range(9, T + 10):
                y[t + 1] = 0.3 * y[t] + 0.05 * y[t] * np.sum(y[t - 9:t + 1]) + 1.5 * u[t - 9] * u[t] + 0.1
        if np.all(np.isfinite(y)) and np.max(np.abs(y)) < 10:
            return u[10:, None], y[11:, None]
    raise SeriesError("NARMA10 diverged for 10 input draws")


def mackey_glass_series(T: int, tau: float = 17.0, seed: int = 0, dt: float = 0.1, sample: float = 1.0,
                        a: float = 0.2, b: float = 0.1, n: float = 10.0, discard: int = 500) -> np.ndarray:
    """Mackey-Glass x(t) sampled every ``sample`` time units (RK4, step ``dt``, history held
    piecewise constant between steps); ``discard`` samples of transient dropped."""
    rng = np.random.default_rng(seed)
    lag = int(round(tau / dt))
    every = int(round(sample / dt))
    total = (T + discard) * every
    x = np.empty(total + lag + 1)
    x[: lag + 1] = 1.2 + 0.1 * rng.uniform(-1, 1)
    f = lambda xt, xl: a * xl / (1 + xl**n) - b * xt
    for i in range(lag, lag + total):
        xl = x[i - lag]
        xl2 = 0.5 * (x[i - lag] + x[i - lag + 1])
        xl3 = x[i - lag + 1]
        k1 = f(x[i], xl)
        k2 = f(x[i] + 0.5 * dt * k1, xl2)
        k3 = f(x[i] + 0.5 * dt * k2, xl2)
        k4 = f(x[i] + dt * k3, xl3)
        x[i + 1] = x[i] + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return x[lag::every][discard:discard + T]


def mackey_glass(T: int, horizon: int = 1, tau: float = 17.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Input x(t), target x(t + horizon) (direct multi-step prediction)."""
    x = mackey_glass_series(T + horizon, tau=tau, seed=seed)
    return x[:T, None], x[horizon:, None]


def memory_task(T: int, max_delay: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Input u ~ U[-0.8, 0.8]; targets u(t-k), k=1..max_delay (first ``max_delay`` rows
    use zero history: drop them with the washout)."""
    rng = np.random.default_rng(seed)
    u = rng.uniform(-0.8, 0.8, T)
    y = np.stack([np.concatenate([np.zeros(k), u[:-k]]) for k in range(1, max_delay + 1)], axis=1)
    return u[:, None], y


def memory_capacity(pred: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    """``MC = sum_k r^2(pred_k, target_k)`` and the curve ``MC_k`` (squared correlation)."""
    pc = pred - pred.mean(0)
    tc = target - target.mean(0)
    r2 = (pc * tc).sum(0) ** 2 / ((pc**2).sum(0) * (tc**2).sum(0) + 1e-300)
    return float(r2.sum()), r2


def sine_square(T: int, period: float = 40.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Input sin(2 pi t/P + phi), target sign of the same sine (square wave); random phase."""
    phi = np.random.default_rng(seed).uniform(0, 2 * np.pi)
    s = np.sin(2 * np.pi * np.arange(T) / period + phi)
    return s[:, None], np.where(s >= 0, 1.0, -1.0)[:, None]


def lorenz_series(T: int, dt: float = 0.02, seed: int = 0, discard: int = 1000,
                  sigma: float = 10.0, rho: float = 28.0, beta: float = 8.0 / 3.0) -> np.ndarray:
    """Lorenz-63 trajectory ``(T, 3)`` sampled every ``dt`` (RK4 with 4 substeps)."""
    rng = np.random.default_rng(seed)
    s = np.array([1.0, 1.0, 1.0]) + rng.normal(0, 0.1, 3)

    def f(v):
        x, y, z = v
        return np.array([sigma * (y - x), x * (rho - z) - y, x * y - beta * z])

    h = dt / 4
    out = np.empty((T + discard, 3))
    for i in range(T + discard):
        for _ in range(4):
            k1 = f(s)
            k2 = f(s + 0.5 * h * k1)
            k3 = f(s + 0.5 * h * k2)
            k4 = f(s + h * k3)
            s = s + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        out[i] = s
    return out[discard:]


def valid_time(pred: np.ndarray, target: np.ndarray, dt: float, threshold: float = 0.4,
               lyapunov: float = LORENZ_LYAPUNOV) -> float:
    """First time (in Lyapunov times ``t * lambda_max``) at which the normalised error
    ``||pred - target|| / sqrt(mean ||target||^2)`` exceeds ``threshold`` (Pathak et al. 2018)."""
    err = np.linalg.norm(pred - target, axis=1) / np.sqrt(np.mean(np.sum(target**2, axis=1)))
    over = np.nonzero(err > threshold)[0]
    steps = int(over[0]) if len(over) else len(err)
    return steps * dt * lyapunov
