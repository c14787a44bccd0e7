"""Recurrent Hamiltonian Echo Learning (rules/rhel.py) on the oscillator chain (substrates/oscillator_chain.py),
and the ``rhel_toy`` / ``rhel_sequence`` experiments (experiments/heb/rhel.py).

References, each computed without the echo:
* BPTT: ``jax.grad`` of the forward loss through ``OscillatorChain.predict`` (reverse mode through the
  same leapfrog), and the :class:`Autodiff` rule for the batch estimate;
* central finite differences of the forward loss, one parameter coordinate at a time (forward passes only);
* physics invariants: the exact identity for the time-reversal test, the initial energy for the drift
  test, a 16x finer leapfrog for the global-order test.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest

import physlearning
from physlearning.config import ConfigError
from physlearning.core.cost import SoftmaxCrossEntropy, SquaredError
from physlearning.rules.autodiff import Autodiff
from physlearning.rules.rhel import RHEL, rhel_gradient
from physlearning.substrates.oscillator_chain import OscillatorChain


def _chain(seed=0, n=5, n_out=0, window=1, alpha=0.5, dt=0.1, n_sub=2):
    rng = np.random.default_rng(seed)
    return OscillatorChain(rng.uniform(0.5, 1.5, n), rng.uniform(0.1, 0.5, n - 1), rng.normal(size=n), alpha=alpha,
                           dt=dt, n_sub=n_sub, n_out=n_out, window=window,
                           W=0.5 * rng.normal(size=(n_out, n)), c=0.1 * rng.normal(size=n_out))


def _series(seed, T=40):
    rng = np.random.default_rng(100 + seed)
    t = np.arange(T)
    return jnp.asarray(np.sin(rng.uniform(0.2, 0.6) * t + rng.uniform(0, 6)) + 0.3 * rng.normal(size=T))


def _flat(tree) -> np.ndarray:
    return np.asarray(jax.flatten_util.ravel_pytree(tree)[0])


def _cos(a, b) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _rel(a, b) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _loss_fn(chain, u, target, cost):
    params, static = eqx.partition(chain, chain.param_filter())
    return params, jax.jit(lambda p: cost(eqx.combine(p, static).predict(u[None])[0], target))


def _bptt(chain, u, target, cost):
    params, f = _loss_fn(chain, u, target, cost)
    return _flat(jax.grad(f)(params))


def _rhel(chain, u, target, cost, beta):
    return _flat(jax.jit(lambda c: rhel_gradient(c, u, target, cost, beta))(chain)[0])


# ------------------------------------------------------------------------------------------ physics
def test_echo_returns_the_initial_state(x64):
    """forward (driven), momentum flip, forward on the reversed input, flip: the identity to round-off."""
    ch = _chain(1)
    rng = np.random.default_rng(2)
    s0 = (jnp.asarray(rng.normal(size=5)), jnp.asarray(rng.normal(size=5)))
    u = _series(1, T=200)
    s_t, _ = ch.run(u, s0)
    assert float(jnp.max(jnp.abs(s_t[0] - s0[0]))) > 0.1  # it did move
    q, p = ch.echo_identity(u, s0)
    assert float(jnp.max(jnp.abs(q - s0[0]))) < 1e-12
    assert float(jnp.max(jnp.abs(p - s0[1]))) < 1e-12
    # the flip is an involution that keeps q
    qq, pp = ch.time_reverse(ch.time_reverse(s0))
    assert bool(jnp.all(qq == s0[0])) and bool(jnp.all(pp == s0[1]))


def test_energy_error_is_second_order_in_dt(x64):
    """undriven chain: max |H(t) - H(0)| over t in [0, 20] scales as dt^2 (reference: H(0))."""
    rng = np.random.default_rng(4)
    s0 = (jnp.asarray(rng.normal(size=5)), jnp.asarray(rng.normal(size=5)))
    errs, dts = [], np.array([0.1, 0.05, 0.025])
    for dt in dts:
        ch = _chain(3, alpha=1.0, dt=float(dt), n_sub=1)
        n = int(round(20.0 / dt))
        def body(s, _):
            s = ch.leapfrog(s, jnp.zeros(()))
            return s, ch.energy(s)

        _, h = jax.lax.scan(body, s0, None, length=n)
        h0 = float(ch.energy(s0))
        errs.append(float(jnp.max(jnp.abs(h - h0))) / h0)
    slope = np.polyfit(np.log(dts), np.log(errs), 1)[0]
    assert 1.8 < slope < 2.2, (errs, slope)  # fails for a first-order (non-symmetric) step: energy error slope 1
    assert errs[-1] < 2e-3, errs


def test_global_error_is_second_order(x64):
    """driven trajectory at t = 8 against a 16x finer leapfrog: error ~ dt^order with order = 2."""
    assert OscillatorChain.order == 2
    u = _series(5, T=8)

    def final(n_sub):
        ch = _chain(5, dt=1.0 / n_sub, n_sub=n_sub)
        return ch.run(u)[0][0]

    ref = final(128)
    dts = np.array([1 / 8, 1 / 16, 1 / 32])
    errs = [float(jnp.linalg.norm(final(int(1 / dt)) - ref)) for dt in dts]
    slope = np.polyfit(np.log(dts), np.log(errs), 1)[0]
    assert 1.8 < slope < 2.3, (errs, slope)  # fails for a first-order integrator (slope 1) or a wrong force (0)


# ------------------------------------------------------------------------------------------ gradients
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rhel_matches_bptt_on_a_trajectory_loss(x64, seed):
    """RHEL (beta = 1e-4) vs BPTT (jax.grad through the same leapfrog) for L = sum_n ||q_n - q*_n||^2 / 2."""
    ch, u = _chain(seed), _series(seed)
    target = jnp.asarray(0.3 * np.random.default_rng(seed).normal(size=(40, 5)))
    g = _rhel(ch, u, target, SquaredError(), 1e-4)
    r = _bptt(ch, u, target, SquaredError())
    assert np.linalg.norm(r) > 0.1  # a nontrivial gradient
    assert _cos(g, r) >= 0.9999
    assert _rel(g, r) < 1e-5


def test_rhel_matches_finite_differences_with_readout(x64):
    """RHEL (beta = 1e-4, echo for omega, k, b; local rule for W, c) vs central finite differences (h = 1e-6)
    of the cross-entropy of an intensity readout over the last 10 samples, every parameter coordinate."""
    ch, u = _chain(7, n_out=3, window=10), _series(7)
    target = jnp.asarray([0.0, 1.0, 0.0])
    cost = SoftmaxCrossEntropy()
    g = _rhel(ch, u, target, cost, 1e-4)
    params, f = _loss_fn(ch, u, target, cost)
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    fv = jax.jit(lambda v: f(unravel(v)))
    h = 1e-6
    fd = np.array([(fv(flat + h * e) - fv(flat - h * e)) / (2 * h) for e in np.eye(flat.shape[0])])
    assert g.shape == fd.shape == (5 + 4 + 5 + 15 + 3,)
    assert _cos(g, fd) >= 0.9999
    assert _rel(g, fd) < 1e-5
    assert _rel(g, _bptt(ch, u, target, cost)) < 1e-6


def test_rhel_error_is_second_order_in_beta(x64):
    """||RHEL(beta) - BPTT|| / ||BPTT|| ~ beta^2 (centred echoes) over beta = 1e-2 .. 1e-3."""
    ch, u = _chain(8), _series(8)
    target = jnp.asarray(0.3 * np.random.default_rng(8).normal(size=(40, 5)))
    r = _bptt(ch, u, target, SquaredError())
    betas = np.array([1e-2, 3e-3, 1e-3])
    errs = [_rel(_rhel(ch, u, target, SquaredError(), float(b)), r) for b in betas]
    slope = np.polyfit(np.log(betas), np.log(errs), 1)[0]
    assert 1.9 < slope < 2.1, (errs, slope)  # fails for a one-sided echo (slope 1) or a non-vanishing bias (0)


def test_rule_batch_estimate_matches_autodiff(x64):
    """RHEL.estimate vs the Autodiff rule (BPTT) on a batch of 4 series: same loss, same params tree."""
    ch = _chain(9, n_out=3, window=8)
    x = jnp.stack([_series(s, T=30) for s in range(4)])
    y = jnp.asarray(np.eye(3)[[0, 1, 2, 1]])
    cost = SoftmaxCrossEntropy()
    g, aux = eqx.filter_jit(RHEL(beta=1e-4).estimate)(ch, (x, y), cost, None)
    r, aux_r = eqx.filter_jit(Autodiff().estimate)(ch, (x, y), cost, jax.random.PRNGKey(0))
    assert jax.tree_util.tree_structure(g) == jax.tree_util.tree_structure(r)
    assert abs(float(aux["loss"] - aux_r["loss"])) < 1e-12
    assert float(aux["evolutions"]) == 12.0 and float(aux["forward_passes"]) == 3.0
    assert _cos(_flat(g), _flat(r)) >= 0.9999
    assert _rel(_flat(g), _flat(r)) < 1e-5


# ------------------------------------------------------------------------------------------ experiments
TOY = {"experiment": "rhel_toy", "seed": 3, "chain": {"n": 4},
       "check": {"n_draws": 2, "T": 20, "betas": [1e-2, 3e-3, 1e-3]}}

SEQ = {"experiment": "rhel_sequence", "seed": 0, "chain": {"n": 6},
       "task": {"T": 32, "n_train": 128, "n_val": 64, "n_test": 128, "noise": 0.3},
       "model": {"window": 8}, "train": {"epochs": 6, "n_seeds": 1, "lr": 0.05}}


def test_toy_experiment_run(tmp_path):
    """rhel_toy through the runner: RHEL vs BPTT and vs central FD, beta slope near 2."""
    summary, run_dir = physlearning.run(TOY, out=tmp_path / "toy")
    assert summary["status"] == "ok"
    assert summary["cosine_bptt_min"] >= 0.9999
    assert summary["cosine_fd_min"] >= 0.9999
    assert summary["rel_error_bptt_max"] < 1e-4
    assert 1.8 < summary["beta_slope"] < 2.2  # one-sided: 1; a biased estimate: 0
    assert summary["n_params"] == 4 + 3 + 4
    assert (run_dir / "beta_scan.png").exists()


def test_sequence_experiment_trains(tmp_path):
    """rhel_sequence, tiny (6 epochs, 128 training series): RHEL and BPTT (the Autodiff rule), from the same
    initialisation and minibatches, both learn well above chance (0.25); over this short run their models
    agree to within 1 test point, and at the trained model RHEL still matches BPTT (cosine >= 0.9999)."""
    summary, run_dir = physlearning.run(SEQ, out=tmp_path / "seq")
    assert summary["status"] == "ok"
    for r in ("rhel", "bptt"):
        assert summary[f"{r}_val_accuracy_mean"] >= 0.6, summary
        assert summary[f"{r}_test_accuracy_mean"] >= 0.5, summary
    assert summary["rhel_minus_bptt_test_accuracy_max_abs"] <= 0.01
    assert summary["trained_gradient_cosine_min"] >= 0.9999
    assert summary["evolutions_per_sample_rhel"] == 3
    assert (run_dir / "val_accuracy.png").exists()
    assert physlearning.load_run(run_dir).model.W.shape == (4, 6)


@pytest.mark.slow
def test_sequence_example_rhel_within_one_point_of_bptt(tmp_path):
    """examples/rhel_sequence.toml (5 seeds, 120 epochs, about 1.5 min): RHEL's mean test accuracy within
    1 point of BPTT's (the Autodiff rule; same initialisations and minibatches), both >= 0.9."""
    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / "examples" / "rhel_sequence.toml"
    summary, _ = physlearning.run(example, out=tmp_path / "seq")
    assert summary["bptt_test_accuracy_mean"] >= 0.9 and summary["rhel_test_accuracy_mean"] >= 0.9
    assert abs(summary["rhel_minus_bptt_test_accuracy_mean"]) <= 0.01, summary


# ------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("beta", [0.0, -1e-3, float("nan"), float("inf")])
def test_bad_beta_refused(beta):
    with pytest.raises(ValueError, match="beta="):
        RHEL(beta=beta)
    with pytest.raises(ValueError, match="beta="):
        rhel_gradient(_chain(), _series(0), jnp.zeros((40, 5)), SquaredError(), beta)


def test_wrong_input_shape_refused():
    ch = _chain()
    with pytest.raises(ValueError, match=r"x has shape \(2, 40, 1\)"):
        RHEL().estimate(ch, (jnp.zeros((2, 40, 1)), jnp.zeros((2, 40, 5))), SquaredError(), None)
    with pytest.raises(ValueError, match=r"input series has shape \(40, 1\)"):
        rhel_gradient(ch, jnp.zeros((40, 1)), jnp.zeros((40, 5)), SquaredError(), 1e-3)
    with pytest.raises(ValueError, match=r"x has shape \(40,\)"):
        ch.predict(jnp.zeros(40))
    with pytest.raises(ValueError, match=r"drive has shape \(2,\)"):
        ch.step(ch.init_state(), jnp.zeros(2))


@pytest.mark.parametrize("kwargs, bad", [
    ({"k": [0.1, -0.2, 0.1, 0.1]}, "k="),
    ({"k": [0.1, 0.1]}, "k has shape"),
    ({"b": [1.0]}, "b has shape"),
    ({"dt": 0.0}, "dt=0.0"),
    ({"alpha": -1.0}, "alpha=-1.0"),
    ({"n_sub": 0}, "n_sub=0"),
])
def test_bad_chain_refused(kwargs, bad):
    args = {"omega": np.ones(5), "k": np.full(4, 0.1), "b": np.ones(5), **kwargs}
    with pytest.raises(ValueError, match=bad):
        OscillatorChain(args.pop("omega"), args.pop("k"), args.pop("b"), **args)


@pytest.mark.parametrize("override, bad", [
    ({"rule": {"beta": 0.0}}, "beta"),
    ({"chain": {"dt": 1.0}}, "dt"),
    ({"model": {"window": 100}}, "window"),
    ({"task": {"freqs": [1.0]}}, "freqs"),
])
def test_bad_config_refused(tmp_path, override, bad):
    cfg = {**SEQ, **{k: {**SEQ.get(k, {}), **v} for k, v in override.items()}}
    with pytest.raises((ConfigError, ValueError)) as e:
        physlearning.run(cfg, out=tmp_path / "bad")
    assert bad in str(e.value)
    assert not (tmp_path / "bad").exists()


def test_matrix_row_rhel_against_bptt_and_fd():
    """The `physlearning matrix` row: RHEL vs BPTT through the same leapfrog and vs central FD."""
    from physlearning.experiments.heb import rhel as rhel_exp

    with jax.enable_x64(True):
        (row,) = rhel_exp.matrix_rows()
    assert row["rule"] == "RHEL"
    assert row["cosine"] >= 0.9999 and row["fd_cosine"] >= 0.9999
    assert row["rel_error"] < 1e-4 and row["fd_rel_error"] < 1e-4
