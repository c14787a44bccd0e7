"""The ReservoirPy-like model: run/fit/predict over lists of series of different lengths.

References: the reservoir's own scan (`Reservoir.states`) for the states; a ridge readout fitted by
`fit_ridge` on the series' post-washout states stacked by hand (the same normal equations)."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from physlearning.rules.reservoir_model import ReservoirModel
from physlearning.rules.ridge import fit_ridge
from physlearning.substrates.reservoirs import make_esn
from physlearning.tasks import timeseries as ts


def test_run_fit_predict_over_series_of_different_lengths():
    res = make_esn(50, 1, seed=3)
    rng = np.random.default_rng(0)
    us = [rng.uniform(0, 0.5, (n, 1)).astype(np.float32) for n in (300, 451, 220)]
    ys = [np.roll(u, 2, axis=0) for u in us]  # a 2-step delay line
    m = ReservoirModel(res, alpha=1e-6, washout=20).fit(us, ys)
    states = m.run(us)
    assert [len(s) for s in states] == [300, 451, 220]
    np.testing.assert_allclose(states[1], np.asarray(res.states(jax.numpy.asarray(us[1]))), rtol=1e-5, atol=1e-6)
    ref = fit_ridge(np.concatenate([s[20:] for s in states]), np.concatenate([y[20:] for y in ys]), 1e-6)
    np.testing.assert_allclose(m.readout.w, ref.w, rtol=1e-6, atol=1e-8)
    preds = m.predict(us)
    assert all(ts.nrmse(p[20:], y[20:]) < 0.1 for p, y in zip(preds, ys))


def test_state_is_kept_only_without_reset():
    res = make_esn(20, 1, seed=1)
    u = np.random.default_rng(1).uniform(-1, 1, (100, 1)).astype(np.float32)
    m = ReservoirModel(res)
    whole = m.run(u)
    first = m.run(u[:60])
    cont = m.run(u[60:], reset=False)  # continues from the state the first half ended in
    np.testing.assert_allclose(np.concatenate([first, cont]), whole, rtol=1e-5, atol=1e-6)
    m.reset()
    assert not np.allclose(m.run(u[60:], reset=False), whole[60:])  # after reset: from the initial state


def test_bad_use_is_refused():
    m = ReservoirModel(make_esn(10, 1))
    with pytest.raises(ValueError, match="call fit first"):
        m.predict(np.zeros((5, 1)))
    with pytest.raises(ValueError, match="washout"):
        ReservoirModel(make_esn(10, 1), washout=10).fit([np.zeros((5, 1))], [np.zeros((5, 1))])
    with pytest.raises(ValueError, match="alpha"):
        ReservoirModel(make_esn(10, 1), alpha=-1)


def test_alpha_on_the_grid_edge_warns():
    """A readout whose best alpha is the grid's largest value (noise-only targets favour the most
    regularisation) warns; an interior optimum does not."""
    import warnings

    from physlearning.rules.ridge import GridEdgeWarning, fit_ridge_cv

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(200, 5)), rng.normal(size=(200, 1))
    with pytest.warns(GridEdgeWarning, match="largest"):
        fit_ridge_cv(x[:100], y[:100], x[100:], y[100:], (1e-6, 1e-3, 1.0))
    w = rng.normal(size=(5, 1))
    yy = x @ w + 0.5 * rng.normal(size=(200, 1))
    grid = tuple(np.logspace(-3, 6, 19))
    with warnings.catch_warnings():
        warnings.simplefilter("error", GridEdgeWarning)
        best = fit_ridge_cv(x[:100], yy[:100], x[100:], yy[100:], grid)[0].alpha
    assert grid[0] < best < grid[-1]
