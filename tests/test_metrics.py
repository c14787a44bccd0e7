"""Sample-quality metrics (metrics.py).

References: sliced Wasserstein of a translated sample (SW_2 = |c| / sqrt(d) for a shift c, Bonneel
et al. 2015); unbiased MMD^2 is zero in expectation for equal distributions (Gretton et al. 2012).
"""

from __future__ import annotations

import numpy as np
import pytest

from physlearning import metrics


def test_sliced_wasserstein_of_a_shift_is_closed_form():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2000, 3))
    c = np.array([1.0, -2.0, 0.5])
    assert metrics.sliced_wasserstein(x, x) == 0.0
    # projecting a pure shift: W_2 on direction theta is |theta . c|; E (theta . c)^2 = |c|^2 / d
    sw = metrics.sliced_wasserstein(x, x + c, n_projections=4000)
    assert sw == pytest.approx(np.linalg.norm(c) / np.sqrt(3), rel=0.03)
    # unequal sample sizes go through quantile functions
    y = rng.standard_normal((1500, 3))
    assert metrics.sliced_wasserstein(x, y) < 0.1
    with pytest.raises(ValueError, match="dimensions differ"):
        metrics.sliced_wasserstein(x, y[:, :2])


def test_mmd_zero_for_same_distribution_positive_for_different():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((800, 2)), rng.standard_normal((800, 2))
    assert abs(metrics.mmd_rbf(a, b)) < 5e-3
    assert metrics.mmd_rbf(a, b + 1.0) > 0.05
    assert metrics.median_bandwidth(a, b) == pytest.approx(np.sqrt(2) * 1.1774, rel=0.1)  # median |a-b| of N(0, 2I)
    with pytest.raises(ValueError, match="bandwidth"):
        metrics.mmd_rbf(np.zeros((5, 2)), np.zeros((5, 2)))


def test_confident_fraction_and_class_shares():
    p = np.array([[0.95, 0.05], [0.2, 0.8], [0.05, 0.95], [0.92, 0.08]])
    r = metrics.confident_fraction(p, 0.9)
    assert r["confident_fraction"] == 0.75
    assert r["class_shares"] == pytest.approx([2 / 3, 1 / 3])
    assert r["class_share_max_dev"] == pytest.approx(1 / 6)


def test_copy_fraction_detects_replayed_training_samples():
    rng = np.random.default_rng(2)
    train, held = rng.standard_normal((500, 5)), rng.standard_normal((500, 5))
    assert metrics.copy_fraction(train[:200] + 1e-6, train, held) == 1.0
    fresh = rng.standard_normal((2000, 5))
    assert metrics.copy_fraction(fresh, train, held, quantile=0.05) < 0.1
