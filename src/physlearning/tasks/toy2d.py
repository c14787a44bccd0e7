"""2D toy distributions for generative models with exact metrics on fresh samples.

Every sampler returns float32 arrays ``(n, 2)`` with zero mean and unit overall standard
deviation per coordinate (standardised with the distribution's own constants, not the
sample's), so all toys share one scale; points lie within about [-2.5, 2.5].
"""

from __future__ import annotations

import numpy as np

TOYS = ("moons", "8gaussians", "checkerboard")


def two_moons(n: int, rng: np.random.Generator, noise: float = 0.05) -> np.ndarray:
    """Two interleaved half circles (scikit-learn's ``make_moons`` geometry) with Gaussian noise."""
    n1 = n // 2
    t = rng.uniform(0, np.pi, n)
    upper = np.arange(n) < n1
    x = np.where(upper, np.cos(t), 1 - np.cos(t))
    y = np.where(upper, np.sin(t), 0.5 - np.sin(t))
    pts = np.stack([x, y], 1) + noise * rng.standard_normal((n, 2))
    return ((pts - [0.5, 0.25]) / [0.87, 0.50]).astype(np.float32)


def eight_gaussians(n: int, rng: np.random.Generator, radius: float = 2.0, std: float = 0.1) -> np.ndarray:
    """Eight isotropic Gaussians (std ``std``) equally spaced on a circle of ``radius``."""
    ang = 2 * np.pi * rng.integers(0, 8, n) / 8
    pts = radius * np.stack([np.cos(ang), np.sin(ang)], 1) + std * rng.standard_normal((n, 2))
    return (pts / np.sqrt(radius**2 / 2 + std**2)).astype(np.float32)


def checkerboard(n: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform density on the 8 black squares of a 4x4 checkerboard on [-2, 2]^2."""
    x1 = rng.uniform(-2, 2, n)
    x2 = rng.uniform(0, 1, n) - 2 * rng.integers(0, 2, n)
    x2 = x2 + (np.floor(x1) % 2)
    pts = np.stack([x1, x2], 1)
    return (pts / np.sqrt(4 / 3)).astype(np.float32)


def sample(name: str, n: int, seed: int) -> np.ndarray:
    """``n`` points of toy ``name`` (one of :data:`TOYS`) from a fixed seed."""
    rng = np.random.default_rng(seed)
    if name == "moons":
        return two_moons(n, rng)
    if name == "8gaussians":
        return eight_gaussians(n, rng)
    if name == "checkerboard":
        return checkerboard(n, rng)
    raise ValueError(f"toy = {name!r}: allowed values are {list(TOYS)}")
