"""Linear wave scattering pillar (Wanjura & Marquardt, arXiv:2308.16181).

References: coupled-mode theory input-output relations (Haus; Gardiner & Collett 1985)
for S = 1 - sqrt(K) M^-1 sqrt(K); the paper's measurement formula
dS_rp/dDelta_j = (i/kappa_j) (S - 1)_rj (S - 1)_jp; autodiff through a dense inverse
as the exact gradient; central finite differences (error O(h^2)).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from physlearning.config import ConfigError
from physlearning.core import SoftmaxCrossEntropy, tree_cosine, tree_rel_error
from physlearning.rules.perturbative import FiniteDifference
from physlearning.rules.scattering_grad import MeasurementRule, ScatteringAutodiff, dense_reference_loss
from physlearning.runs import runner
from physlearning.runs.registry import get
from physlearning.substrates.scattering import (
    CouplingDisorder,
    DetuningCalibrationError,
    Layout,
    ScatteringError,
    check_pixels,
    check_solvable,
    from_hamiltonian,
    layered_network,
    solve,
)

COST = SoftmaxCrossEntropy()


def _small(cplx=False, readout="im", solver="schur", hidden=5, dtype=jnp.float64):
    return layered_network(Layout(n_pixels=4, n_out=3, hidden=hidden, duplicate=2), jax.random.PRNGKey(0),
                           complex_couplings=cplx, readout=readout, solver=solver, init="scaled", dtype=dtype)


def _batch(n=6, dtype=jnp.float64):
    x = jax.random.uniform(jax.random.PRNGKey(1), (n, 4), dtype)
    return x, jax.nn.one_hot(jnp.arange(n) % 3, 3)


def _reference(net, x, t):
    params, static = eqx.partition(net, net.param_filter())
    return jax.grad(lambda p: dense_reference_loss(eqx.combine(p, static), x, t, COST))(params)


@pytest.mark.parametrize("cplx,readout", [(False, "im"), (False, "abs2"), (True, "im"), (True, "re")])
def test_measurement_rule_equals_autodiff(x64, cplx, readout):
    """Measurement-rule gradient (detunings and couplings) = autodiff through the dense
    S = 1 - sqrt(K) M^-1 sqrt(K), relative error <= 1e-8 in float64."""
    net = _small(cplx, readout)
    x, t = _batch()
    g, aux = MeasurementRule().estimate(net, (x, t), COST, jax.random.PRNGKey(2))
    ref = _reference(net, x, t)
    assert float(tree_rel_error(g.detuning, ref.detuning)) <= 1e-8
    assert float(tree_rel_error(g.coupling, ref.coupling)) <= 1e-8
    if cplx:
        assert float(tree_rel_error(g.coupling_im, ref.coupling_im)) <= 1e-8
    assert float(aux["probe_settings"]) == 6 * 3 * (2 if cplx else 1)
    assert np.isclose(float(aux["loss"]), float(dense_reference_loss(net, x, t, COST)), rtol=1e-12)


def test_measurement_rule_equals_finite_differences(x64):
    """Central finite differences (step 1e-5, error O(h^2)) agree with the measurement rule."""
    net = _small()
    x, t = _batch()
    g, _ = MeasurementRule().estimate(net, (x, t), COST, jax.random.PRNGKey(2))
    gf, aux = FiniteDifference(1e-5).estimate(net, (x, t), COST, jax.random.PRNGKey(2))
    assert float(tree_rel_error(gf, g)) < 1e-7
    assert float(aux["forward_passes"]) == 2 * net.n_modes + 2 * (net.coupling.size) + 1


def test_paper_formula_for_port_modes(x64):
    """With a port on every mode: dS_rp/dDelta_j = (i/kappa_j) (S - 1)_rj (S - 1)_jp
    (Wanjura & Marquardt, eq. for the gradient from two scattering measurements)."""
    rng = np.random.default_rng(0)
    n = 5
    a = rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))
    h0 = (a + a.conj().T) / 2
    kext = rng.uniform(0.5, 1.5, n)
    net = from_hamiltonian(h0, np.full(n, 0.2), kext, output_modes=[0, 1])
    x = jnp.zeros(0)
    s = net.scattering_matrix(x)
    jac = jax.jacfwd(lambda d: eqx.tree_at(lambda m: m.detuning, net, d).scattering_matrix(x))(net.detuning)
    sm1 = s - jnp.eye(n)
    # formula[r, p, j] = (i/kappa_j) (S-1)_rj (S-1)_jp
    formula = jnp.einsum("rj,jp,j->rpj", sm1, sm1, 1j / kext)
    np.testing.assert_allclose(np.asarray(jac), np.asarray(formula), rtol=1e-9, atol=1e-12)


def test_lossless_scattering_is_unitary_and_reciprocal(x64):
    """Energy conservation: no intrinsic loss -> S^dagger S = 1; real couplings -> S = S^T
    (Lorentz reciprocity); a synthetic flux (complex couplings) breaks S = S^T."""
    rng = np.random.default_rng(1)
    n = 4
    a = rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))
    for h0, recip in (((a.real + a.real.T) / 2, True), ((a + a.conj().T) / 2, False)):
        net = from_hamiltonian(h0, np.zeros(n), np.ones(n), output_modes=[0])
        s = np.asarray(net.scattering_matrix(jnp.zeros(0)))
        np.testing.assert_allclose(s.conj().T @ s, np.eye(n), atol=1e-12)
        if recip:
            np.testing.assert_allclose(s, s.T, atol=1e-12)
        else:
            assert np.max(np.abs(s - s.T)) > 1e-3


def test_single_mode_lorentzian(x64):
    """One mode: S = 1 - kappa_ext / (kappa/2 + i(Delta - omega)) (closed form); at
    critical coupling (kappa_int = kappa_ext) and resonance the reflection vanishes."""
    for delta, kint in ((0.0, 1.0), (0.7, 0.3), (-2.0, 0.0)):
        net = from_hamiltonian(np.array([[delta]]), np.array([kint]), np.array([1.0]), output_modes=[0], omega=0.1)
        s = complex(net.scattering_matrix(jnp.zeros(0))[0, 0])
        expect = 1 - 1.0 / ((1.0 + kint) / 2 + 1j * (delta - 0.1))
        assert abs(s - expect) < 1e-13
    crit = from_hamiltonian(np.array([[0.0]]), np.array([1.0]), np.array([1.0]), output_modes=[0])
    assert abs(complex(crit.scattering_matrix(jnp.zeros(0))[0, 0])) < 1e-14


def test_schur_solver_equals_dense_and_lu_solve(x64):
    """Eliminating the (diagonal) input block gives the same outputs as one dense solve;
    the LU + substitution solve and its transpose (custom_linear_solve) match numpy."""
    x, _ = _batch()
    a = _small(solver="schur").predict(x)
    b = _small(solver="dense").predict(x)
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-12)
    rng = np.random.default_rng(3)
    m = rng.normal(size=(7, 7)) + 1j * rng.normal(size=(7, 7))
    rhs = rng.normal(size=(7, 2)) + 0j
    np.testing.assert_allclose(np.asarray(solve(jnp.asarray(m), jnp.asarray(rhs))), np.linalg.solve(m, rhs),
                               atol=1e-12)
    g = jax.grad(lambda mm: jnp.sum(jnp.real(solve(mm, jnp.asarray(rhs)))))(jnp.asarray(m))
    g_ref = jax.grad(lambda mm: jnp.sum(jnp.real(jnp.linalg.solve(mm, jnp.asarray(rhs)))))(jnp.asarray(m))
    np.testing.assert_allclose(np.asarray(g), np.asarray(g_ref), atol=1e-10)


def test_float32_gradient_accurate():
    """float32 training gradients (64 pixels x2 -> 20 hidden -> 10) stay within cosine
    0.9999 of the float64 gradient (same parameters)."""
    layout = Layout(n_pixels=64, n_out=10, hidden=20, duplicate=2)
    x = np.random.default_rng(0).integers(0, 17, (32, 64)) / 16.0
    t = jax.nn.one_hot(np.arange(32) % 10, 10)
    net32 = layered_network(layout, jax.random.PRNGKey(0), init="scaled")
    g32, _ = MeasurementRule().estimate(net32, (jnp.asarray(x, jnp.float32), t), COST, jax.random.PRNGKey(0))
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        net64 = jax.tree_util.tree_map(lambda p: jnp.asarray(p, jnp.float64) if eqx.is_inexact_array(p) else p, net32)
        g64, _ = MeasurementRule().estimate(net64, (jnp.asarray(x), t), COST, jax.random.PRNGKey(0))
        cos = float(tree_cosine(g32, g64))
        rel = float(tree_rel_error(jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), g32), g64))
    finally:
        jax.config.update("jax_enable_x64", old)
    assert cos > 0.9999 and rel < 1e-2


def test_nonidealities_act_on_hardware(x64):
    """Detuning calibration offsets are additive, so the measured gradient equals the exact
    gradient of the realised network; coupling disorder J(1 + s xi) scales the coupling
    gradient: measured = autodiff / (1 + s xi) (the rule cannot know xi)."""
    net = _small()
    x, t = _batch()
    cal = DetuningCalibrationError(0.3)
    g, _ = MeasurementRule(cal, 7).estimate(net, (x, t), COST, jax.random.PRNGKey(0))
    ga, _ = ScatteringAutodiff(cal, 7).estimate(net, (x, t), COST, jax.random.PRNGKey(0))
    assert float(tree_rel_error(g, ga)) < 1e-10
    hw = cal.params(net, jax.random.PRNGKey(7))
    assert not np.allclose(np.asarray(hw.detuning), np.asarray(net.detuning))
    dis = CouplingDisorder(0.2)
    g, _ = MeasurementRule(dis, 7).estimate(net, (x, t), COST, jax.random.PRNGKey(0))
    ga, _ = ScatteringAutodiff(dis, 7).estimate(net, (x, t), COST, jax.random.PRNGKey(0))
    factor = dis.params(net, jax.random.PRNGKey(7)).coupling / jnp.where(net.mask, net.coupling, 1.0)
    np.testing.assert_allclose(np.asarray(g.coupling * factor), np.asarray(ga.coupling), atol=1e-12)


def test_bad_inputs_have_clear_errors():
    """Non-Hermitian H0, negative kappa, pixels out of range, a singular M at omega, bad
    config values: each names the bad value and what is allowed."""
    with pytest.raises(ScatteringError, match="not Hermitian"):
        from_hamiltonian(np.array([[0.0, 1.0], [0.5, 0.0]]), np.ones(2), np.ones(2), output_modes=[0])
    with pytest.raises(ScatteringError, match=r"kappa_int\[1\] = -0.5.*>= 0"):
        from_hamiltonian(np.zeros((2, 2)), np.array([1.0, -0.5]), np.ones(2), output_modes=[0])
    with pytest.raises(ScatteringError, match=r"pixel value x\[1, 2\] = 1.5 outside the declared range \[0.0, 1.0\]"):
        x = np.zeros((3, 4))
        x[1, 2] = 1.5
        check_pixels(x)
    # mode 2: lossless, no port, uncoupled, resonant at omega = 0.3 -> M singular
    h0 = np.diag([0.0, 0.1, 0.3])
    h0[0, 1] = h0[1, 0] = 0.5
    net = from_hamiltonian(h0, np.array([0.0, 0.5, 0.0]), np.array([1.0, 0.0, 0.0]), output_modes=[0], omega=0.3)
    with pytest.raises(ScatteringError, match=r"singular at the probe frequency omega = 0.3.*mode 2"):
        check_solvable(net, np.zeros((1, 0)))
    exp = get("scattering_digits")
    with pytest.raises(ConfigError, match=r"network.kappa = 0.0: allowed values are > 0"):
        runner.resolve({"experiment": exp.name, "network": {"kappa": 0.0}})
    with pytest.raises(ConfigError, match=r"data.val_split = 'writer_block' needs data.name = 'optdigits'"):
        runner.resolve({"experiment": exp.name, "data": {"val_split": "writer_block"}})
    with pytest.raises(ConfigError, match=r"data.val_frac = 0.5 with data.val_split = 'writer_block': allowed up to"):
        runner.resolve({"experiment": exp.name, "data": {"name": "optdigits", "dir": ".", "val_split": "writer_block",
                                                         "val_frac": 0.5}})
    with pytest.raises(ConfigError, match=r"data.val_frac = 0 leaves no validation rows, but train.select = 'val'"):
        runner.resolve({"experiment": exp.name, "data": {"val_frac": 0}, "train": {"select": "val"}})
    with pytest.raises(ConfigError, match=r"data.val_split = 'writer_block' with data.val_frac = 0: there are no"):
        runner.resolve({"experiment": exp.name, "data": {"name": "optdigits", "dir": ".", "val_split": "writer_block",
                                                         "val_frac": 0}, "train": {"select": "final"}})
    with pytest.raises(ConfigError, match=r"data.dir = '': data.name = 'optdigits'"):
        runner.resolve({"experiment": exp.name, "data": {"name": "optdigits"}})
    with pytest.raises(ConfigError, match=r"network.readout = 'phase': allowed values are"):
        runner.resolve({"experiment": exp.name, "network": {"readout": "phase"}})
    with pytest.raises(ConfigError, match=r"finite_difference' with 11258 parameters"):
        runner.resolve({"experiment": exp.name, "train": {"rule": "finite_difference"}})
    # complex couplings count twice: 256 x 10 x 2 + 266 detunings = 5386 > 5000 (real: 2826, allowed)
    fd4 = {"experiment": exp.name, "network": {"hidden": 0, "duplicate": 4}, "train": {"rule": "finite_difference"}}
    runner.resolve(fd4)
    with pytest.raises(ConfigError, match=r"finite_difference' with 5386 parameters"):
        runner.resolve({**fd4, "network": {**fd4["network"], "complex_couplings": True}})
    with pytest.raises(ConfigError, match=r"sweep: every level list .* is empty"):
        runner.resolve({"experiment": "scattering_robustness", "sweep": {"measurement_noise": [],
                                                                         "calibration_error": []}})
    with pytest.raises(ScatteringError, match=r"kappa_ext\[0\] = nan"):
        from_hamiltonian(np.zeros((2, 2)), np.ones(2), np.array([np.nan, 0.0]), output_modes=[0])
    with pytest.raises(ScatteringError, match=r"duplicate = 0: must be >= 1"):
        layered_network(Layout(4, 2, duplicate=0), jax.random.PRNGKey(0))
    with pytest.raises(ScatteringError, match=r"kappa = nan: must be > 0"):
        layered_network(Layout(4, 2, kappa=float("nan")), jax.random.PRNGKey(0))
    small = layered_network(Layout(4, 2), jax.random.PRNGKey(0))
    with pytest.raises(ScatteringError, match=r"input has 3 pixels; this network encodes 4"):
        small.encode(jnp.zeros(3))
    with pytest.raises(Exception, match=r"got a value outside or NaN"):
        jax.block_until_ready(small.encode(jnp.array([0.0, jnp.nan, 0.5, 1.0])))


def test_matrix_rows_measurement_exact():
    """The gradient matrix's scattering rows (registry checks): measurement rule = autodiff (real and
    complex couplings) and = finite differences of the dense-S outputs."""
    from physlearning.checks import check_rows

    rows = check_rows(["scattering", "scattering_complex"])
    meas = [r for r in rows if r["rule"] == "measurement"]
    assert len(meas) == 2 and all(r["rel_error"] <= 1e-8 and r["fd_rel_error"] < 1e-6 for r in meas)
    fd = [r for r in rows if r["rule"].startswith("finite")]
    assert fd and fd[0]["rel_error"] < 1e-6


def test_example_config_end_to_end(tmp_path, shared_data):
    """examples/scattering_optdigits_hidden80.toml, shrunk (1,200 rows, 8 hidden modes, 3
    epochs): trains from measurements on optdigits and beats chance (0.1) clearly; writes
    summary, plots and checkpoint."""
    from pathlib import Path

    ex = Path(__file__).resolve().parents[1] / "examples" / "scattering_optdigits_hidden80.toml"
    exp, cfg = runner.load(ex, [f"data.dir='{shared_data / 'optdigits'}'", "data.max_train=1200",
                                "network.hidden=8", "train.epochs=3", "train.lr=0.05", "baselines.enabled=false"])
    summary, path = runner.run(exp, cfg, tmp_path / "r")
    assert summary["status"] == "ok" and summary["test_accuracy"] > 0.5  # chance: 0.1
    # the example trains on all training rows (no validation split) and tests the final model
    assert summary["val_accuracy"] is None and summary["selected_epoch"] == 3
    assert "first 1200 training rows used" in summary["data"]
    assert (path / "plots" / "scattering_training.png").is_file()
    assert (path / "checkpoint.eqx").is_file() and (path / "summary.json").is_file()


def test_detuning_init_sets_the_spread_and_rejects_negative():
    from physlearning.substrates.scattering import Layout, ScatteringError, layered_network

    lay = Layout(n_pixels=16, n_out=3, hidden=8, duplicate=2, kappa=1.0)
    wide = layered_network(lay, jax.random.PRNGKey(0), detuning_init=2.0)
    narrow = layered_network(lay, jax.random.PRNGKey(0), detuning_init=0.1)
    np.testing.assert_allclose(np.asarray(wide.detuning), 20.0 * np.asarray(narrow.detuning), rtol=1e-5)
    with pytest.raises(ScatteringError, match="detuning_init = -1"):
        layered_network(lay, jax.random.PRNGKey(0), detuning_init=-1.0)


# ----- robustness sweep: in situ vs error unknown to the rule ----------------------------------
_TINY_SWEEP = {"experiment": "scattering_robustness", "seed": 0,
               "data": {"name": "sklearn_digits", "max_train": 200}, "network": {"hidden": 0},
               "train": {"epochs": 1, "lr": 0.03}}


def _sweep(tmp_path, name, **sweep):
    from physlearning import load_run

    levels = {"measurement_noise": [], "calibration_error": [], "coupling_disorder": [], "extra_loss": []}
    exp, cfg = runner.resolve({**_TINY_SWEEP, "sweep": {**levels, "seeds": 1, **sweep}})
    summary, path = runner.run(exp, cfg, tmp_path / name)
    assert summary["status"] == "ok"
    return summary, path, load_run(path).model


def test_robustness_unknown_mode_trains_on_the_nominal_model(tmp_path):
    """sweep.mode: at zero error in situ and unknown give the same network and accuracy (the mode only
    matters with an error); with a 1 kappa calibration error the unknown-mode network (its only training
    run, at that level) is exactly the one trained at zero error, i.e. its rule never saw the error; both
    modes are tested on the faulty hardware, where the nominal network loses accuracy and in situ differs."""
    both, path, first = _sweep(tmp_path, "both", mode="both", calibration_error=[0.0, 1.0])
    assert both["sweep_mode"] == "both"
    assert both["test_accuracy_calibration_error_0"] == both["test_accuracy_unknown_calibration_error_0"]
    assert both["test_accuracy_calibration_error_1"] != both["test_accuracy_unknown_calibration_error_1"]
    assert (path / "plots" / "scattering_robustness.png").is_file()
    with np.load(path / "data" / "robustness.npz") as z:
        assert sorted(z.files) == ["calibration_error", "unknown__calibration_error"]
        np.testing.assert_array_equal(z["unknown__calibration_error"][:, 0], [0.0, 1.0])
    # the same nominal network, tested on the faulty hardware: the error costs accuracy
    assert both["test_accuracy_unknown_calibration_error_1"] != both["test_accuracy_unknown_calibration_error_0"]
    unknown, _, net_unknown = _sweep(tmp_path, "unknown", mode="unknown", calibration_error=[1.0])
    # ``first`` is the in-situ network at zero error, trained on the nominal model
    for a, b in ((first.detuning, net_unknown.detuning), (first.coupling, net_unknown.coupling)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert unknown["test_accuracy_unknown_calibration_error_1"] == both["test_accuracy_unknown_calibration_error_1"]
    assert "test_accuracy_calibration_error_1" not in unknown  # no in-situ rows in this mode


def test_unknown_mode_rule_measures_the_nominal_gradient(x64):
    """With the error unknown, the rule's gradient is the nominal network's exact gradient (autodiff through the
    dense S of the network without disorder or calibration error), not the faulty hardware's; in situ it is
    the faulty hardware's measured gradient, which differs."""
    from physlearning.experiments.scattering import Hardware, Train, hardware_nonideality, make_rule, rule_nonideality

    net = _small()
    x, t = _batch()
    hw = hardware_nonideality(Hardware(calibration_error=0.3, coupling_disorder=0.3))
    g_unknown, _ = make_rule(Train(), rule_nonideality("unknown", hw)).estimate(net, (x, t), COST,
                                                                                jax.random.PRNGKey(0))
    g_in_situ, _ = make_rule(Train(), rule_nonideality("in_situ", hw)).estimate(net, (x, t), COST,
                                                                                jax.random.PRNGKey(0))
    ref = _reference(net, x, t)
    assert float(tree_rel_error(g_unknown.detuning, ref.detuning)) <= 1e-8
    assert float(tree_rel_error(g_unknown.coupling, ref.coupling)) <= 1e-8
    assert float(tree_rel_error(g_in_situ.coupling, ref.coupling)) > 1e-2
    assert float(tree_rel_error(g_in_situ.detuning, ref.detuning)) > 1e-2


def test_bad_sweep_mode_is_named():
    """A bad sweep.mode names the value and the allowed ones."""
    from physlearning.experiments.scattering import rule_nonideality

    with pytest.raises(ConfigError, match=r"sweep.mode = 'offline': allowed values are \['in_situ', 'unknown', "
                                          r"'both'\]"):
        runner.resolve({"experiment": "scattering_robustness", "sweep": {"mode": "offline"}})
    with pytest.raises(ConfigError, match=r"sweep.mode = 'both': allowed values are 'in_situ' and 'unknown'"):
        rule_nonideality("both", None)
