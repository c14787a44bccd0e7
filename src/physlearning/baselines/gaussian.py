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
