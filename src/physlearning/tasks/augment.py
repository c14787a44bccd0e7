"""Training-time data augmentation for image inputs (numpy, seeded by the trainer's rng).

``random_shift``: each image is translated by an independent uniform random offset
(dy, dx) in [-max_shift, max_shift] pixels, bilinear interpolation, zero (blank) fill
outside the frame. Pixel values stay in their range [0, 1] (convex combinations of pixels
and zeros), so physical encodings that require that range remain valid.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.ndimage


def random_shift(x: np.ndarray, image_shape: tuple[int, int], max_shift: float, rng: np.random.Generator) -> np.ndarray:
    """Translate each flattened image in ``x`` (B, H*W) by a random sub-pixel offset."""
    if max_shift < 0:
        raise ValueError(f"max_shift = {max_shift!r}: must be >= 0 pixels")
    h, w = image_shape
    if x.shape[-1] != h * w:
        raise ValueError(f"random_shift: rows have {x.shape[-1]} values, image_shape {image_shape} needs {h * w}")
    imgs = np.asarray(x, np.float64).reshape(-1, h, w)
    offsets = rng.uniform(-max_shift, max_shift, size=(len(imgs), 2))
    out = np.stack([scipy.ndimage.shift(im, off, order=1, mode="constant", cval=0.0) for im, off in zip(imgs, offsets)])
    return np.clip(out, 0.0, 1.0).reshape(x.shape).astype(x.dtype)


def pixel_noise(x: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Add N(0, sigma^2) to every pixel, clipped back to [0, 1]. The clip biases blank (0) and
    full (1) pixels inwards: a blank pixel gains sigma / sqrt(2 pi) on average."""
    if not sigma >= 0:
        raise ValueError(f"pixel noise std = {sigma!r}: must be >= 0")
    return np.clip(x + sigma * rng.standard_normal(x.shape), 0.0, 1.0).astype(x.dtype)


def pixel_dropout(x: np.ndarray, p: float, rng: np.random.Generator) -> np.ndarray:
    """Blank each pixel (value 0) with probability ``p``."""
    if not 0 <= p <= 1:
        raise ValueError(f"pixel dropout probability = {p!r}: allowed values are 0 <= p <= 1")
    return np.where(rng.random(x.shape) < p, 0.0, x).astype(x.dtype)


def make_augment(kind: str, image_shape: tuple[int, int] | None, max_shift: float = 1.0, strength: float = 0.1
                 ) -> Callable[[np.ndarray, np.random.Generator], np.ndarray] | None:
    """Augmentation by name: ``none``, ``shift`` (needs the data's image shape; ``max_shift``
    pixels), ``noise`` (pixel noise std ``strength``) or ``dropout`` (blank probability
    ``strength``)."""
    if kind == "none":
        return None
    if kind == "noise":
        return lambda x, rng: pixel_noise(x, strength, rng)
    if kind == "dropout":
        return lambda x, rng: pixel_dropout(x, strength, rng)
    if kind == "shift":
        if image_shape is None:
            raise ValueError("augment = 'shift' needs image data (the data set has no image shape)")
        return lambda x, rng: random_shift(x, image_shape, max_shift, rng)
    raise ValueError(f"augment {kind!r}: allowed values are ['none', 'shift', 'noise', 'dropout']")
