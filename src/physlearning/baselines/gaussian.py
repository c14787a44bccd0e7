"""Multivariate Gaussian model of the data: the moment-matching baseline.

Fits the sample mean m and covariance C (plus ``ridge`` times the identity, so that images with
constant pixels still give a proper density) and samples x = m + L z, L L^T = C, z ~ N(0, 1).
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class GaussianModel:
    mean: np.ndarray
    chol: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray, ridge: float = 1e-6) -> GaussianModel:
        x = np.asarray(x, np.float64)
        cov = np.atleast_2d(np.cov(x, rowvar=False)) + ridge * np.eye(x.shape[1])
        return cls(x.mean(0), np.linalg.cholesky(cov))

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        z = np.random.default_rng(seed).standard_normal((n, len(self.mean)))
        return (self.mean + z @ self.chol.T).astype(np.float32)

    def n_parameters(self) -> int:
        d = len(self.mean)
        return d + d * (d + 1) // 2


def shared_covariance_mixture(x: np.ndarray, labels: np.ndarray, drawn: np.ndarray, seed: int = 0,
                              ridge: float = 1e-6) -> np.ndarray:
    """Samples of the Gaussian mixture with per-cluster means and one shared within-cluster
    covariance, fitted to ``x`` with cluster ``labels``, one sample per entry of ``drawn`` (the
    clusters to sample): the J4 = 0 ideal of a held code register, where the forces are linear in x
    and the code only shifts them (b + J_vh h_c), so every code-conditional distribution stays
    Gaussian with a code-independent covariance."""
    x = np.asarray(x, np.float64)
    missing = sorted(set(np.unique(drawn).tolist()) - set(np.unique(labels).tolist()))
    if missing:
        raise ValueError(f"shared_covariance_mixture: drawn clusters {missing} have no training points")
    means = np.stack([x[labels == c].mean(0) if np.any(labels == c) else np.zeros(x.shape[1])
                      for c in range(int(max(labels.max(), drawn.max())) + 1)])
    resid = x - means[labels]
    chol = np.linalg.cholesky(resid.T @ resid / len(x) + ridge * np.eye(x.shape[1]))
    z = np.random.default_rng(seed).standard_normal((len(drawn), x.shape[1]))
    return (means[drawn] + z @ chol.T).astype(np.float32)
