"""``heb_gradients`` (experiments/heb/gradients.py): the HEB gradient table on the XOR lattice.

One reduced run through the runner (the reference physics: 4x4 lattice, T = 20, 500 split steps, float64;
4 intensities spanning the reference range x 4 XOR rows; one eta and one m per decade) shared by the
tests. References, each computed without the echo:
* BPTT: ``jax.grad`` of the forward cost through the same split-step integrator (the run's reference,
  re-derived here through ``KerrLattice.predict`` for a few pairs);
* central finite differences of the forward cost in the 32 real components of Theta0 (forward
  evaluations only);
* the first-order models of the HEB steps in the module docstring (evaluated with BPTT gradients).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import physlearning
from physlearning.config import ConfigError
from physlearning.experiments.heb import gradients as hg

REDUCED = {"experiment": "heb_gradients", "seed": 0,
           "task": {"n_intensities": 4},
           "scan": {"n_eta": 8, "n_m": 9}}  # eta 1e-8 .. 1e-1 and m 1e-4 .. 1e4, one point per decade


@pytest.fixture(scope="module")
def reduced(tmp_path_factory):
    summary, run_dir = physlearning.run(REDUCED, out=tmp_path_factory.mktemp("heb_gradients") / "run")
    assert summary["status"] == "ok"
    return summary, run_dir


def test_centred_echo_meets_issue_thresholds(reduced):
    """Centred echo (eta = 1e-4) vs BPTT on every pair: the issue's median <= 1e-6, worst <= 1e-5,
    cosine >= 0.999999; the same against central finite differences (independent of autodiff)."""
    s, _ = reduced
    assert s["n_pairs"] == 16 and s["n_real_params"] == 32
    assert s["grad_norm_min"] > 1e-2  # nontrivial gradients on every pair
    assert s["centred_median_rel_error"] <= 1e-6
    assert s["centred_worst_rel_error"] <= 1e-5
    assert s["centred_min_cosine"] >= 0.999999
    assert s["centred_fd_worst_rel_error"] <= 1e-5
    # the simple echo is O(eta): measurably worse at the same eta
    assert s["simple_echo_median_rel_error"] > 10 * s["centred_median_rel_error"]


def test_reference_is_independent_bptt_and_fd_agrees(reduced, x64):
    """The run's BPTT reference equals jax.grad through ``KerrLattice.predict`` (recomputed here for 3 pairs)
    and agrees with central finite differences of the forward cost (forward evaluations only)."""
    s, run_dir = reduced
    assert s["fd_worst_rel_error"] <= 1e-6
    assert s["fd_min_cosine"] >= 1 - 1e-10
    with np.load(run_dir / "data" / "gradients.npz") as z:
        bptt, fd, amp, row, theta0 = z["bptt"], z["fd"], z["amplitude"], z["row"], z["theta0"]
    cfg = physlearning.config.from_dict(hg.HebGradientsConfig, {k: v for k, v in REDUCED.items()
                                                                  if k != "experiment"})
    lat = hg.build_lattice(cfg.xor())
    np.testing.assert_allclose(np.asarray(lat.theta0), theta0, rtol=0, atol=0)
    cost = hg._PortCost()
    for p in (0, 7, 15):
        x, t = hg.xor_batch(float(amp[p]))
        xi, ti = jnp.asarray(x[row[p]]), jnp.asarray(t[row[p]])

        def c(th, xi=xi, ti=ti):
            return cost(eqx.tree_at(lambda m: m.theta0, lat, th).predict(xi[None])[0], ti)

        g = np.conj(np.asarray(jax.grad(c)(lat.theta0)))
        np.testing.assert_allclose(bptt[p], g, rtol=1e-12, atol=1e-12 * np.abs(g).max())
        assert hg.rel_errors(fd[p][None], g[None])[0] <= 1e-6


def test_eta_slopes(reduced):
    """Error vs eta in the truncation regime (1e-3 .. 1e-2, vs BPTT): centred O(eta^2), simple echo O(eta);
    below it the centred echo is limited by round-off (its best eta is below 1e-3)."""
    s, run_dir = reduced
    assert s["centred_eta_slope"] == pytest.approx(2.0, abs=0.1)
    assert s["simple_echo_eta_slope"] == pytest.approx(1.0, abs=0.1)
    assert s["centred_best_eta"] < 1e-3
    with np.load(run_dir / "data" / "eta_scan.npz") as z:
        med = z["centred_median"]
    assert med[0] > 10 * med.min()  # the round-off branch at eta = 1e-8 is visible


def test_heb_step_floors_match_first_order_models(reduced):
    """The paper's HEB steps (m = 1/300, loss = 100) vs BPTT dC/dRe Theta0, against their first-order
    models (BPTT gradients): simple step off by m g_I (an O(m) floor flat in eta); averaged step off by the
    gradient change between the echoes, O(eta/m), and at large m by O(eta m)."""
    s, _ = reduced
    # simple step: the error is the O(m) bias m |g_I| / |g_R|, independent of eta at small eta
    assert s["heb_simple_median_rel_error"] == pytest.approx(s["heb_simple_mgi_over_gr_median"], rel=0.15)
    assert s["heb_simple_model_residual_median"] < 0.2
    assert abs(s["heb_simple_eta_slope_small"]) < 0.1
    assert s["heb_simple_floor"] > 100 * s["centred_median_rel_error"]
    assert s["heb_simple_m_slope_large"] == pytest.approx(1.0, abs=0.1)
    # averaged step: the model (gradient at the moved field) explains the measured error to 1%
    assert s["heb_averaged_model_residual_median"] < 1e-2
    assert s["heb_averaged_median_rel_error"] > s["heb_simple_median_rel_error"]
    assert s["heb_averaged_eta_slope"] == pytest.approx(1.0, abs=0.15)
    assert s["heb_averaged_m_slope_small"] == pytest.approx(-1.0, abs=0.2)
    assert s["heb_averaged_m_slope_large"] == pytest.approx(1.0, abs=0.2)
    assert 1e-2 < s["heb_averaged_best_m"] < 1e2


def test_soft_clip_bias_exceeds_unclipped_error(reduced):
    """The reference's soft clip of the kick (0.1) vs the unclipped simple step, both vs BPTT dC/dRe."""
    s, _ = reduced
    assert s["heb_simple_clip_worst_rel_error"] > 10 * s["heb_simple_worst_rel_error"]
    assert s["heb_simple_clip_median_rel_error"] >= s["heb_simple_median_rel_error"]


def test_table_counts_and_figures(reduced):
    """Evolutions per estimate (parameter shift: 2 per real parameter) and the redrawn figures."""
    s, run_dir = reduced
    assert [s[f"{n}_evolutions"] for n in hg.ESTIMATORS] == [3, 2, 2, 4, 2, 4, 64]
    table = (run_dir / "gradient_table.md").read_text()
    assert all(hg.LABELS[n] in table for n in hg.ESTIMATORS)
    assert hg.figures(run_dir) == ["error_vs_eta.png", "error_vs_m.png"]
    assert (run_dir / "error_vs_eta.png").stat().st_size > 0


def test_metrics_helpers():
    """rel_errors / cosines on hand-computed vectors (real embedding of complex vectors)."""
    ref = np.array([[1.0 + 0j, 0.0], [3.0, 4.0j]])
    est = np.array([[1.0 + 1j, 0.0], [-3.0, -4.0j]])
    np.testing.assert_allclose(hg.rel_errors(est, ref), [1.0, 2.0])
    np.testing.assert_allclose(hg.cosines(est, ref), [1 / np.sqrt(2), -1.0])
    assert hg.loglog_slope([1, 10, 100], [3, 300, 30000], 1, 100) == pytest.approx(2.0)


def test_matrix_rows():
    """``physlearning matrix`` rows: HamiltonianEcho and HebStep on the XOR batch vs the Autodiff rule and
    vs central finite differences (float64 scope as ``physlearning.matrix.rows`` uses)."""
    with jax.enable_x64(True):
        rows = hg.matrix_rows()
    assert [r["rule"].split()[0] for r in rows] == ["HamiltonianEcho"] * 2 + ["HebStep"] * 2
    for r in rows:
        assert set(r) == {"substrate", "rule", "cosine", "rel_error", "fd_cosine", "fd_rel_error", "note"}
    centred, simple, heb_s, heb_a = rows
    assert centred["rel_error"] <= 1e-6 and centred["fd_rel_error"] <= 1e-6 and centred["cosine"] >= 0.999999
    assert 1e-5 < simple["rel_error"] < 1e-2
    assert 1e-4 < heb_s["rel_error"] < 1e-1
    assert heb_a["rel_error"] > heb_s["rel_error"]


@pytest.mark.parametrize("override, bad", [
    ({"echo": {"eta": 0.0}}, "eta"),
    ({"echo": {"m": -1.0}}, "m"),
    ({"echo": {"cutoff": 0.0}}, "cutoff"),
    ({"task": {"n_intensities": 0}}, "n_intensities"),
    ({"task": {"amp_min": 1.0, "amp_max": 0.5}}, "amp_max"),
    ({"scan": {"eta_min": 1e-2, "eta_max": 1e-3}}, "eta_max"),
    ({"scan": {"fit_eta_min": 1e-3, "fit_eta_max": 1.1e-3}}, "fit_eta"),
    ({"scan": {"fit_m_large_min": 1e5, "fit_m_large_max": 1e6}}, "fit_m_large"),
    ({"lattice": {"n_steps": 0}}, "n_steps"),
])
def test_bad_config_refused(tmp_path, override, bad):
    """Bad values are refused before any work, naming the key."""
    cfg = {**REDUCED, **{k: {**REDUCED.get(k, {}), **v} for k, v in override.items()}}
    with pytest.raises((ConfigError, ValueError)) as e:
        physlearning.run(cfg, out=tmp_path / "bad")
    assert bad in str(e.value)
    assert not (tmp_path / "bad").exists()


@pytest.mark.slow
def test_full_default_table(tmp_path):
    """The issue's must-show on the full default (20 intensities x 4 rows) vs BPTT and FD."""
    summary, _ = physlearning.run("examples/heb_gradients.toml", out=tmp_path / "full")
    assert summary["n_pairs"] == 80
    assert summary["centred_median_rel_error"] <= 1e-6
    assert summary["centred_worst_rel_error"] <= 1e-5
    assert summary["centred_min_cosine"] >= 0.999999
    assert summary["fd_worst_rel_error"] <= 1e-6
    assert summary["centred_eta_slope"] == pytest.approx(2.0, abs=0.1)
    assert summary["simple_echo_eta_slope"] == pytest.approx(1.0, abs=0.1)
