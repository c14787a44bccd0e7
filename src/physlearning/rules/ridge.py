"""Linear readouts for reservoirs: closed-form ridge regression with the regularisation
chosen on a validation split, sequence classification, and the readout delta rule.

Ridge (Tikhonov) readout: ``W = argmin ||X W + b - Y||^2 + alpha ||W||^2`` (bias not
penalised), solved in float64 from the centred Gram matrix, computed once for all
``alpha``: ``W(alpha) = (X_c^T X_c + alpha 1)^{-1} X_c^T Y_c`` (Cholesky), ``b = mean(Y) -
mean(X) W``.
"""

from __future__ import annotations

import dataclasses
import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg

from physlearning.core import SquaredError, StatelessRule

DEFAULT_ALPHAS = tuple(10.0**k for k in range(-10, 3))


@dataclasses.dataclass(frozen=True)
class Readout:
    """``y = x @ w + b``."""

    w: np.ndarray
    b: np.ndarray
    alpha: float

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, np.float64) @ self.w + self.b


def _check_shapes(x, y) -> None:
    if jnp.ndim(x) != 2 or jnp.ndim(y) != 2 or len(x) != len(y):
        raise ValueError(f"ridge: expected x (n, F) and y (n, d) with equal n, got {jnp.shape(x)} and {jnp.shape(y)}")


def _pick_alpha(scores: dict[float, float]) -> float:
    """Lowest score; ties go to the larger (more regularised) alpha."""
    return min(scores, key=lambda a: (scores[a], -a))


class RidgeSolver:
    """Sufficient statistics of ``x`` (n, F), ``y`` (n, d): ``n``, sums and ``X^T X``,
    ``X^T Y`` (additive, so train and validation statistics combine), reused for many alphas.
    Float64, on the host."""

    def __init__(self, x: np.ndarray, y: np.ndarray):
        x = np.asarray(x, np.float64)
        y = np.asarray(y, np.float64)
        _check_shapes(x, y)
        if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
            raise ValueError("ridge: states or targets contain NaN/inf")
        self.n, self.sx, self.sy = len(x), x.sum(0), y.sum(0)
        self.xx, self.xy = x.T @ x, x.T @ y

    def __add__(self, other: RidgeSolver) -> RidgeSolver:
        out = object.__new__(RidgeSolver)
        out.n, out.sx, out.sy = self.n + other.n, self.sx + other.sx, self.sy + other.sy
        out.xx, out.xy = self.xx + other.xx, self.xy + other.xy
        return out

    def solve(self, alpha: float) -> Readout:
        mx, my = self.sx / self.n, self.sy / self.n
        a = self.xx - self.n * np.outer(mx, mx) + alpha * np.eye(len(mx))
        b = self.xy - self.n * np.outer(mx, my)
        try:
            w = scipy.linalg.cho_solve(scipy.linalg.cho_factor(a), b)
        except np.linalg.LinAlgError:
            w = np.linalg.lstsq(a, b, rcond=None)[0]
        return Readout(w, my - mx @ w, float(alpha))


def fit_ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> Readout:
    """Ridge readout for one ``alpha``."""
    return RidgeSolver(x, y).solve(alpha)


def fit_ridge_cv(x_train: np.ndarray | jax.Array, y_train: np.ndarray, x_val: np.ndarray | jax.Array,
                 y_val: np.ndarray, alphas: tuple[float, ...] = DEFAULT_ALPHAS, score: str = "mse",
                 on_device: bool | None = None) -> tuple[Readout, dict[float, float]]:
    """Choose ``alpha`` on the validation split (lowest MSE, or highest accuracy with
    ``score="accuracy"`` for one-hot targets), then refit on train + validation.

    ``on_device`` (MSE only): fit where the jax-array states live, in float64, all alphas by
    one batched Cholesky (:func:`_fit_ridge_cv_on_device`); default: when ``x_train`` is a jax
    array on an accelerator. Otherwise (and if a factorisation fails there) on the host."""
    if not alphas or any(a <= 0 for a in alphas):
        raise ValueError(f"ridge alphas = {alphas!r}: need at least one value, all > 0")
    if on_device is None:
        on_device = isinstance(x_train, jax.Array) and any(d.platform != "cpu" for d in x_train.devices())
    if on_device and score == "mse":
        fitted = _fit_ridge_cv_on_device(x_train, y_train, x_val, y_val, alphas)
        if fitted is not None:
            warn_if_on_grid_edge(fitted[0].alpha, alphas)
            return fitted
    solver = RidgeSolver(x_train, y_train)
    scores = {}
    for a in alphas:
        pred = solver.solve(a)(x_val)
        if score == "accuracy":
            scores[a] = -float(np.mean(pred.argmax(1) == np.asarray(y_val).argmax(1)))
        else:
            scores[a] = float(np.mean((pred - y_val) ** 2))
    best = _pick_alpha(scores)
    warn_if_on_grid_edge(best, alphas)
    return (solver + RidgeSolver(x_val, y_val)).solve(best), scores


class GridEdgeWarning(UserWarning):
    """A regularisation chosen on validation at the edge of its grid: the optimum may lie outside it."""


def warn_if_on_grid_edge(best: float, alphas) -> None:
    """Warn when ``best`` is the smallest or largest of 2+ grid values (extend the grid that way)."""
    grid = sorted(set(float(a) for a in alphas))
    if len(grid) > 1 and float(best) in (grid[0], grid[-1]):
        side = "smallest" if float(best) == grid[0] else "largest"
        warnings.warn(f"ridge alpha = {best:g} chosen on validation is the {side} of the grid {grid}: the optimum "
                      f"may lie beyond it; extend the alphas", GridEdgeWarning, stacklevel=3)


def _ridge_moments(x, y):
    return x.shape[0], x.sum(0), y.sum(0), x.T @ x, x.T @ y


def _ridge_solve(moments, alphas):
    """Ridge weights (k, F, d) and biases (k, d) for every alpha at once (batched Cholesky)."""
    n, sx, sy, xx, xy = moments
    mx, my = sx / n, sy / n
    a = xx - n * jnp.outer(mx, mx)
    b = xy - n * jnp.outer(mx, my)
    chol = jnp.linalg.cholesky(a[None] + alphas[:, None, None] * jnp.eye(len(mx), dtype=a.dtype))
    w = jax.vmap(lambda c: jax.scipy.linalg.cho_solve((c, True), b))(chol)
    return w, my - jnp.einsum("f,kfd->kd", mx, w)


@jax.jit
def _ridge_val_scores(xt, yt, xv, yv, alphas):
    w, b = _ridge_solve(_ridge_moments(xt, yt), alphas)
    pred = jnp.einsum("mf,kfd->kmd", xv, w) + b[:, None, :]
    finite = jnp.isfinite(xt).all() & jnp.isfinite(yt).all() & jnp.isfinite(xv).all() & jnp.isfinite(yv).all()
    return jnp.mean((pred - yv) ** 2, axis=(1, 2)), finite


@jax.jit
def _ridge_refit(xt, yt, xv, yv, alpha):
    mt, mv = _ridge_moments(xt, yt), _ridge_moments(xv, yv)
    w, b = _ridge_solve(jax.tree.map(jnp.add, mt, mv), alpha[None])
    return w[0], b[0]


def _fit_ridge_cv_on_device(x_train, y_train, x_val, y_val, alphas) -> tuple[Readout, dict[float, float]] | None:
    """:func:`fit_ridge_cv` (MSE) with states left on their jax device (e.g. a GPU): the same
    centred normal equations (the moments of ``RidgeSolver``, in ``jnp``), reduced and
    Cholesky-solved there in float64 for all alphas at once. ``None`` (use the host path) when
    a validation factorisation fails; a failed refit is redone on the host."""
    _check_shapes(x_train, y_train)
    _check_shapes(x_val, y_val)
    with jax.enable_x64(True):
        data = tuple(jnp.asarray(a, jnp.float64) for a in (x_train, y_train, x_val, y_val))
        mse, finite = jax.device_get(_ridge_val_scores(*data, jnp.asarray(alphas, jnp.float64)))
        if not finite:
            raise ValueError("ridge: states or targets contain NaN/inf")
        if not np.all(np.isfinite(mse)):
            return None
        scores = {a: float(m) for a, m in zip(alphas, mse)}
        best = _pick_alpha(scores)
        w, b = jax.device_get(_ridge_refit(*data, jnp.asarray(best, jnp.float64)))
    if not (np.all(np.isfinite(w)) and np.all(np.isfinite(b))):
        return (RidgeSolver(x_train, y_train) + RidgeSolver(x_val, y_val)).solve(best), scores
    return Readout(np.asarray(w), np.asarray(b), float(best)), scores


def sequence_features(states: np.ndarray, lengths: np.ndarray, mode: str = "mean") -> np.ndarray:
    """Sequence-classification features from states ``(B, T, N)`` with valid ``lengths``:
    ``mean`` (state averaging over valid frames), ``last`` (last valid state) or
    ``mean+last``."""
    states = np.asarray(states, np.float64)
    mask = (np.arange(states.shape[1])[None, :] < lengths[:, None]).astype(np.float64)
    mean = (states * mask[..., None]).sum(1) / np.maximum(lengths, 1)[:, None]
    last = states[np.arange(len(states)), np.maximum(lengths - 1, 0)]
    if mode == "mean":
        return mean
    if mode == "last":
        return last
    if mode == "mean+last":
        return np.concatenate([mean, last], axis=1)
    raise ValueError(f"sequence readout mode {mode!r}: allowed values are ['mean', 'last', 'mean+last']")


class ReadoutDeltaRule(StatelessRule):
    """Gradient of the squared readout error from *measured* features only (the delta
    rule; needs no model of the device): for ``C = 1/2 sum_t ||y_t - target_t||^2`` per
    series, ``dC/dW_out = sum_t (y_t - target_t) [phi_t, 1]^T`` averaged over the batch.
    Substrates provide ``features(x, key)`` (T, F) and a ``w_out`` field (d_out, F + 1);
    every other parameter gets a zero gradient."""

    def estimate(self, substrate, batch, cost, key):
        if not isinstance(cost, SquaredError):
            raise ValueError(f"ReadoutDeltaRule needs the SquaredError cost, got {type(cost).__name__}")
        x, target = batch
        phi = jax.lax.stop_gradient(jax.vmap(lambda xi: substrate.features(xi))(x))
        phi1 = jnp.concatenate([phi, jnp.ones(phi.shape[:-1] + (1,), phi.dtype)], axis=-1)
        err = phi1 @ substrate.w_out.T - target
        g_out = jnp.einsum("btk,btf->kf", err, phi1) / x.shape[0]
        grads = jax.tree_util.tree_map(jnp.zeros_like, substrate.params())
        grads = eqx.tree_at(lambda s: s.w_out, grads, g_out)
        return grads, {"loss": 0.5 * jnp.sum(err**2) / x.shape[0]}
