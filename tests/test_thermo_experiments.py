"""Baselines, experiment runs end to end, and the gradient-matrix rows of the thermo pillar.

References: DDPM (Ho et al. 2020) must recover a Gaussian's moments; the Gaussian baseline
reproduces sample mean and covariance; the matrix compares the local trajectory rule to autodiff.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np
import pytest

from physlearning.baselines import ddpm
from physlearning.baselines.gaussian import GaussianModel, shared_covariance_mixture
from physlearning.config import ConfigError
from physlearning.experiments import thermo
from physlearning.runs import runner

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_gaussian_baseline_matches_moments():
    rng = np.random.default_rng(0)
    x = rng.multivariate_normal([1.0, -2.0], [[1.0, 0.6], [0.6, 0.5]], 5000)
    s = GaussianModel.fit(x).sample(20000, seed=1)
    np.testing.assert_allclose(s.mean(0), x.mean(0), atol=0.03)
    np.testing.assert_allclose(np.cov(s.T), np.cov(x.T), atol=0.04)
    assert GaussianModel.fit(x).n_parameters() == 5


def test_ddpm_learns_a_gaussian():
    x = (np.array([1.0, -1.0]) + np.array([0.5, 0.2]) * np.random.default_rng(0).standard_normal((4096, 2)))
    model, losses = ddpm.train(x.astype(np.float32), jax.random.PRNGKey(0), n_steps=50, width=32, train_steps=600,
                               batch_size=256, lr=3e-3)
    assert losses[-1] < losses[0]
    s = np.asarray(ddpm.sample(model, jax.random.PRNGKey(1), 4000, 2))
    np.testing.assert_allclose(s.mean(0), [1.0, -1.0], atol=0.12)
    np.testing.assert_allclose(s.std(0), [0.5, 0.2], atol=0.1)
    assert ddpm.n_parameters(model) == 1730  # (2+16)*32+32 + 32*32+32 + 32*2+2
    assert ddpm.width_for(2, 1730) == 32


def test_conditional_ddpm_and_mixture_follow_the_code():
    """A code-conditioned DDPM and the shared-covariance mixture both put a sample at the mean of
    the cluster its code names (two 1-D clusters at +-1.5 with std 0.3, codes +-1 one-hot)."""
    rng = np.random.default_rng(0)
    lab = rng.integers(0, 2, 4096)
    x = (np.where(lab == 1, 1.5, -1.5) + 0.3 * rng.standard_normal(4096))[:, None].astype(np.float32)
    code = (2 * np.eye(2)[lab] - 1).astype(np.float32)
    model, _ = ddpm.train(x, jax.random.PRNGKey(0), n_steps=50, width=32, train_steps=800, batch_size=256, lr=3e-3,
                          cond=code)
    want = np.repeat([0, 1], 1000)
    s = np.asarray(ddpm.sample(model, jax.random.PRNGKey(1), 2000, 1, np.asarray(2 * np.eye(2)[want] - 1)))
    np.testing.assert_allclose([s[:1000].mean(), s[1000:].mean()], [-1.5, 1.5], atol=0.15)
    assert s[:1000].std() < 0.6 and s[1000:].std() < 0.6  # one mode per code, not the bimodal marginal
    m = shared_covariance_mixture(x, lab, want, seed=2)
    np.testing.assert_allclose([m[:1000].mean(), m[1000:].mean()], [-1.5, 1.5], atol=0.05)
    np.testing.assert_allclose([m[:1000].std(), m[1000:].std()], [0.3, 0.3], atol=0.03)


def test_example_toy_config_runs_end_to_end(tmp_path):
    exp, cfg = runner.load(EXAMPLES / "thermo_moons.toml", [
        "train.epochs=1", "data.n_train=512", "data.n_val=100", "data.n_test=200", "eval.n_samples=100",
        "eval.n_epoch_samples=100", "ddpm.train_steps=20", "ddpm.n_steps=20", "device.n_hidden=4"])
    summary, path = runner.run(exp, cfg, tmp_path / "r")
    for k in ("sliced_wasserstein", "mmd", "gaussian_sliced_wasserstein", "ddpm_sliced_wasserstein", "heat_kT"):
        assert np.isfinite(summary[k]), k
    assert (path / "plots" / "heat.png").is_file() and (path / "plots" / "samples.png").is_file()
    assert (path / "checkpoint.eqx").is_file() and (path / "samples.npz").is_file()
    rows = [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows if "gen_heat" in r] == [0, 1]


def test_digits_sklearn_runs(tmp_path):
    exp, cfg = runner.load(EXAMPLES / "thermo_digits8x8.toml", [
        "train.epochs=1", "eval.n_samples=100", "eval.n_epoch_samples=100", "ddpm.train_steps=10",
        "ddpm.n_steps=20", "device.n_hidden=8", "device.n_slices=5"])
    summary, path = runner.run(exp, cfg, tmp_path / "d")
    assert summary["image_shape"] == [8, 8] and len(summary["class_shares"]) == 3
    assert summary["heldout_confident_fraction"] > 0.8  # the ceiling: real held-out images
    assert 0 <= summary["confident_fraction"] <= 1 and 0 <= summary["ddpm_copy_fraction"] <= 1
    assert (path / "plots" / "samples_thermo.png").is_file()
    # a held register (the example's loading): its codes are kept, and the code baselines are scored
    assert np.load(path / "hidden_codes.npz")["codes"].shape[1] == 8
    assert 0 <= summary["ddpm_code_confident_fraction"] <= 1 and 0 <= summary["mixture_confident_fraction"] <= 1


def test_mnist_loader_and_run(tmp_path, shared_data):
    exp, cfg = runner.load(EXAMPLES / "thermo_mnist012.toml", [
        f"data.dir={json.dumps(str(shared_data / 'mnist'))}", "data.downsample=4", "train.epochs=1",
        "train.batch_size=256", "eval.n_samples=100", "eval.n_epoch_samples=100", "ddpm.enabled=false",
        "device.n_hidden=3", "device.n_slices=5", "device.hidden_loading=kmeans"])  # the free (generated) code
    summary, _ = runner.run(exp, cfg, tmp_path / "m")
    assert summary["image_shape"] == [7, 7] and summary["classes"] == [0, 1, 2]
    assert "MNIST 10k test split only" in summary["data_note"]


def test_matrix_rows_match_autodiff(x64):
    rows = thermo.matrix_rows()
    assert len(rows) == 3
    for r in rows:
        assert float(r["cosine"]) > 1 - 1e-12 and float(r["rel_error"]) < 1e-6


@pytest.mark.slow
def test_toy_example_full_run(tmp_path):
    exp, cfg = runner.load(EXAMPLES / "thermo_moons.toml")
    summary, _ = runner.run(exp, cfg, tmp_path / "full")
    assert summary["sliced_wasserstein"] < 2 * summary["gaussian_sliced_wasserstein"]



def test_cluster_code_is_one_hot():
    """k-means hidden code: one unit at +A per image (its cluster), the others at -A; images of
    one cluster share a code; too many clusters is refused naming the value. (The digit runs above
    load this code into their hidden units: held on 8x8, free on MNIST.)"""
    x = np.concatenate([np.zeros((20, 4)), np.ones((20, 4))]).astype(np.float32)
    code = thermo.cluster_code(x, 2, 3.0, seed=0)
    assert code.shape == (40, 2) and set(np.unique(code)) == {-3.0, 3.0}
    assert np.all((code > 0).sum(1) == 1)
    assert len(np.unique(code[:20], axis=0)) == 1 and not np.array_equal(code[0], code[-1])
    with pytest.raises(ConfigError, match="n_hidden = 41"):
        thermo.cluster_code(x, 41, 1.0, seed=0)
