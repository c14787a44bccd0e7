"""Sample-quality metrics for generative models (generic: any pillar may use them).

All functions take NumPy-convertible arrays ``(n, d)`` of samples and return Python floats
(or dicts of them), so they can go straight into ``summary.json``.

* :func:`sliced_wasserstein`: SW_p between two empirical distributions (Bonneel et al. 2015).
* :func:`mmd_rbf`: unbiased squared maximum mean discrepancy with a Gaussian kernel whose
  bandwidth is the median pairwise distance of the pooled sample (Gretton et al. 2012).
* :func:`confident_fraction`: share of samples a classifier labels with probability > threshold,
  with the share of each class (a collapsed generator scores high on confidence alone).
* :func:`copy_fraction`: share of generated samples closer to a training sample than almost
  all held-out samples are (memorisation check).
"""

from __future__ import annotations

import numpy as np


def _as2d(x) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    return a.reshape(len(a), -1)


def sliced_wasserstein(x, y, n_projections: int = 256, p: int = 2, seed: int = 0) -> float:
    """Sliced p-Wasserstein distance SW_p(x, y) = (E_theta W_p^p(theta.x, theta.y))^(1/p).

    Directions theta are uniform on the unit sphere (``n_projections`` of them, fixed ``seed``);
    each 1D W_p compares the two projected samples' quantile functions on a common grid
    (exact for equal sample sizes). Same units as the data.
    """
    x, y = _as2d(x), _as2d(y)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"sliced_wasserstein: dimensions differ ({x.shape[1]} vs {y.shape[1]})")
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal((x.shape[1], n_projections))
    theta /= np.linalg.norm(theta, axis=0, keepdims=True)
    px, py = np.sort(x @ theta, 0), np.sort(y @ theta, 0)
    if len(px) != len(py):
        q = (np.arange(max(len(px), len(py))) + 0.5) / max(len(px), len(py))
        px = np.quantile(px, q, axis=0)
        py = np.quantile(py, q, axis=0)
    return float(np.mean(np.abs(px - py) ** p) ** (1 / p))


def _sqdist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.maximum(np.sum(a**2, 1)[:, None] + np.sum(b**2, 1)[None] - 2 * a @ b.T, 0.0)


def median_bandwidth(x, y, max_points: int = 1000, seed: int = 0) -> float:
    """Median pairwise Euclidean distance of the pooled sample (subsampled to ``max_points``)."""
    z = np.concatenate([_as2d(x), _as2d(y)])
    if len(z) > max_points:
        z = z[np.random.default_rng(seed).choice(len(z), max_points, replace=False)]
    d = np.sqrt(_sqdist(z, z))
    return float(np.median(d[np.triu_indices(len(z), 1)]))


def mmd_rbf(x, y, bandwidth: float | None = None) -> float:
    """Unbiased MMD^2 with k(a, b) = exp(-|a-b|^2 / (2 h^2)); h = median heuristic if not given.

    Zero in expectation when x and y come from the same distribution (can be slightly negative).
    """
    x, y = _as2d(x), _as2d(y)
    h = median_bandwidth(x, y) if bandwidth is None else bandwidth
    if not h > 0:
        raise ValueError(f"mmd_rbf: bandwidth = {h!r} must be > 0 (are all samples identical?)")
    g = 1.0 / (2 * h * h)
    kxx, kyy, kxy = np.exp(-g * _sqdist(x, x)), np.exp(-g * _sqdist(y, y)), np.exp(-g * _sqdist(x, y))
    n, m = len(x), len(y)
    return float((kxx.sum() - np.trace(kxx)) / (n * (n - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                 - 2 * kxy.mean())


def confident_fraction(probs, threshold: float = 0.9) -> dict:
    """Classifier confidence of generated samples.

    ``probs`` (n, C) are class probabilities. Returns ``confident_fraction`` (share with
    max probability > ``threshold``), ``class_shares`` (list: share of the *confident* samples
    given each class) and ``class_share_max_dev`` (max |share - 1/C|: 0 is perfectly uniform).
    """
    p = np.asarray(probs)
    conf = p.max(1) > threshold
    labels = p.argmax(1)[conf]
    c = p.shape[1]
    shares = np.bincount(labels, minlength=c) / max(int(conf.sum()), 1)
    return {"confident_fraction": float(conf.mean()), "class_shares": [float(s) for s in shares],
            "class_share_max_dev": float(np.max(np.abs(shares - 1.0 / c)))}


def nearest_distance(x, ref, chunk: int = 1024) -> np.ndarray:
    """Euclidean distance of every row of ``x`` to its nearest row of ``ref``."""
    x, ref = _as2d(x), _as2d(ref)
    out = np.empty(len(x))
    for i in range(0, len(x), chunk):
        out[i:i + chunk] = np.sqrt(_sqdist(x[i:i + chunk], ref).min(1))
    return out


def copy_fraction(generated, train, heldout, quantile: float = 0.01) -> float:
    """Share of generated samples closer to their nearest training sample than the
    ``quantile`` of held-out samples' nearest-training distances.

    A generator that does not replay training data scores about ``quantile``; a copying one
    scores near 1.
    """
    thr = np.quantile(nearest_distance(heldout, train), quantile)
    return float(np.mean(nearest_distance(generated, train) < thr))
