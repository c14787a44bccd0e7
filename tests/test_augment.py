"""Training-time augmentation (tasks/augment.py): range, mass conservation, clear errors."""

import numpy as np
import pytest

from physlearning.tasks.augment import make_augment, pixel_dropout, pixel_noise, random_shift


def test_shift_keeps_range_and_conserves_interior_mass():
    """Bilinear translation of content away from the border conserves the pixel sum
    (interpolation weights sum to one) and keeps values in [0, 1]."""
    rng = np.random.default_rng(0)
    x = np.zeros((16, 8, 8))
    x[:, 3:5, 3:5] = rng.uniform(0, 1, (16, 2, 2))
    out = random_shift(x.reshape(16, 64), (8, 8), 1.0, rng)
    assert out.min() >= 0 and out.max() <= 1
    np.testing.assert_allclose(out.sum(1), x.reshape(16, 64).sum(1), rtol=1e-12)
    assert not np.allclose(out, x.reshape(16, 64))
    np.testing.assert_allclose(random_shift(x.reshape(16, 64), (8, 8), 0.0, rng), x.reshape(16, 64))


def test_noise_and_dropout_statistics():
    rng = np.random.default_rng(1)
    x = np.full((200, 64), 0.5)
    n = pixel_noise(x, 0.1, rng)
    assert 0.09 < np.std(n - x) < 0.11 and n.min() >= 0 and n.max() <= 1
    d = pixel_dropout(x, 0.25, rng)
    assert 0.23 < np.mean(d == 0) < 0.27 and set(np.unique(d)) <= {0.0, 0.5}


def test_bad_augmentation_is_named():
    with pytest.raises(ValueError, match="augment 'rotate'"):
        make_augment("rotate", (8, 8))
    with pytest.raises(ValueError, match="needs image data"):
        make_augment("shift", None)
    with pytest.raises(ValueError, match="max_shift = -1"):
        random_shift(np.zeros((1, 64)), (8, 8), -1.0, np.random.default_rng(0))
    assert make_augment("none", (8, 8)) is None


def test_bad_strengths_are_named():
    x = np.zeros((2, 64))
    with pytest.raises(ValueError, match="std = -0.1"):
        pixel_noise(x, -0.1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="probability = 1.5"):
        pixel_dropout(x, 1.5, np.random.default_rng(0))
