"""``physlearning bench heb`` (issue #23): the CLI run, and the NumPy baseline's physics against ours."""

from __future__ import annotations

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np

from physlearning.benchmarks import _heb_numpy as heb_numpy
from physlearning.benchmarks import heb
from physlearning.cli import main
from physlearning.experiments.heb.xor import HebXorConfig, Lattice, Task, build_lattice

# a short, weakly chaotic version of the XOR set-up (T = 4 instead of 20, 8 machines)
SHORT = HebXorConfig(lattice=Lattice(T=4.0, n_steps=50), task=Task(n_intensities=8))


def test_quick_bench_through_cli(capsys):
    assert main(["bench", "heb", "--quick", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    for k in ("ours_s", "baseline_s", "speedup", "ours_compile_s", "speedup_with_compile", "ours_min_s",
              "baseline_min_s"):
        assert isinstance(r[k], float) and r[k] > 0, k
    assert r["name"] == "heb" and r["baseline_compile_s"] == 0.0
    assert r["n_machines"] == 40 and r["n_steps"] == 500 and r["evolutions_per_update"] == 4
    assert 0 < r["max_abs_displacement"] < 1
    assert r["agree_eigen_max_abs"] < 1e-7 * 1e2 * r["max_abs_displacement"]  # round-off x chaos


def test_dst_matrix_and_reference_split_reversible():
    s = heb_numpy.dst1_matrix(4)
    np.testing.assert_allclose(s @ s, np.eye(4), atol=1e-15)
    lat = heb_numpy.NumpyKerrLattice(4, 10.0, -2.0, 0.3, 0.04, omega=np.array([0.1, 0.0, -0.2, 0.3]))
    rng = np.random.default_rng(0)
    th = rng.normal(size=(3, 4, 4)) + 1j * rng.normal(size=(3, 4, 4))
    ps = rng.normal(size=(3, 4)) + 1j * rng.normal(size=(3, 4))
    t1, p1 = lat.evolve(th, ps, 40)
    norm = lambda t, p: np.sum(np.abs(t) ** 2, axis=(1, 2)) + np.sum(np.abs(p) ** 2, axis=1)
    np.testing.assert_allclose(norm(t1, p1), norm(th, ps), rtol=1e-12)
    t2, p2 = lat.evolve(np.conj(t1), np.conj(p1), 40)
    np.testing.assert_allclose(np.conj(t2), th, atol=1e-9)
    np.testing.assert_allclose(np.conj(p2), ps, atol=1e-9)


def _updates(cfg: HebXorConfig, n_steps: int):
    """(theta0, ours, numpy reference split, numpy eigen split) after one averaged update of row (0,1)."""
    cfg = dataclasses.replace(cfg, lattice=dataclasses.replace(cfg.lattice, n_steps=n_steps))
    lat = build_lattice(cfg)
    x, y = heb.xor_rows(cfg)
    th0 = np.broadcast_to(np.asarray(lat.theta0), (x.shape[1],) + lat.theta0.shape).copy()
    ours = np.asarray(heb.ours_update(lat)(jnp.asarray(th0), jnp.asarray(x[1]), jnp.asarray(y[1])))
    ref = heb.numpy_update(heb.numpy_lattice(cfg, n_steps), th0, x[1], y[1], n_steps)
    eig = heb.numpy_update(heb.numpy_lattice(cfg, n_steps, "eigen"), th0, x[1], y[1], n_steps)
    return th0, ours, ref, eig


def test_numpy_update_matches_ours_and_converges_at_second_order():
    with jax.enable_x64(True):
        diffs = []
        for n in (50, 100, 200):
            th0, ours, ref, eig = _updates(SHORT, n)
            disp = np.max(np.abs(ours - th0))
            assert disp > 1e-3  # the update moved the field
            assert np.max(np.abs(ours - eig)) < 1e-10  # same split: the same map to round-off
            diffs.append(np.max(np.abs(ours - ref)))
    assert diffs[0] < 0.05 * disp  # the two splits agree to O(dt^2)
    ratios = [diffs[0] / diffs[1], diffs[1] / diffs[2]]
    assert all(3.2 < q < 4.8 for q in ratios), ratios  # 4 per halving of dt
