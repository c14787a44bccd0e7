"""HEB speed: one averaged HEB update on the XOR set-up for all 40 machines, ours vs plain NumPy (issue #23).

Set-up (``experiments/heb/xor.py`` defaults, the reference's ``XOR_optimization.ipynb``): 4 x 4 Kerr
lattice, J = 10, g = -2, kappa = 0.3, omega = 0, T = 20 in 500 split steps (dt = 0.04), 40 input
amplitudes a = (16/25) linspace(0.4, 1.4, 40), each an independent machine with its own Theta; eta = 1e-4,
loss = 100, m = 1/300, soft clip 0.1. One update = the reference's ``HEB_step_av`` (4 evolutions of 500
steps) for one XOR row, applied to all machines; the timed loop cycles the 4 rows, each update
starting from the previous one's field, as in training.

``ours``: :func:`physlearning.rules.echo.heb_update` (``averaged=True``, ``cutoff=0.1``), vmapped over the
machines and jitted, float64 (``jax.enable_x64``, as the experiment). ``baseline``:
:func:`physlearning.benchmarks._heb_numpy.heb_update_averaged`, the reference code's algorithm (sine-
transform split step) in NumPy, vectorised over the machines, same number of split steps. Both in this
process; seconds per update after compilation (median over the repeats; ``*_min_s`` the fastest).

``speedup`` is measured on one device (one core). With more than one CPU device (the full run asks for
one host device per core, at most 2) also ``ours_sharded_s`` / ``speedup_sharded``: the 40 machines split
over the devices (the member axis sharded), against the same single-threaded NumPy baseline (plain NumPy
has no second core to use without multiprocessing).

Agreement (the two splits differ at O(dt^2)): ``agree_eigen_max_abs`` = max |Theta_ours - Theta_numpy| after
one update with the NumPy module on our split (``splitting="eigen"``; round-off, amplified by the
chaotic dynamics; ``agree_eigen_median_abs``: the median over machines of the per-machine max);
``split_diff_*``: max |Theta_ours - Theta_numpy reference split| at n_steps, 2 n_steps, 4 n_steps (same T;
full run only) and the ratios of successive differences (4 for second order). ``reference_notebook_update_s``:
the reference notebook's own figure (2000 updates in 34:14 on the authors' machine), not measured here.
"""

from __future__ import annotations

import dataclasses
import os
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from physlearning.benchmarks import _heb_numpy as heb_numpy
from physlearning.experiments.heb.xor import OUTPUT_PORT, HebXorConfig, amplitudes, build_lattice, xor_batch
from physlearning.rules.echo import heb_update
from physlearning.substrates.wave_lattice import KerrLattice

ETA, LOSS, MASS, CUTOFF = 1e-4, 100.0, 1.0 / 300.0, 0.1


def _port_error(psi, target):
    """dC/dPsi* of C = |Psi_3 - target_3|^2 (the reference's ``HEB.dC``)."""
    return jnp.zeros_like(psi).at[OUTPUT_PORT].set(psi[OUTPUT_PORT] - target[OUTPUT_PORT])


def ours_update(lattice: KerrLattice):
    """Jitted ``(theta0 (B, L, L), psi_in (B, 4), target (B, 4)) -> theta_new``: the library's averaged HEB
    update vmapped over B machines of one set-up."""

    def one(theta0, psi_in, target):
        lat = eqx.tree_at(lambda x: x.theta0, lattice, theta0)
        return heb_update(lat, psi_in, target, _port_error, ETA, m=MASS, loss=LOSS, averaged=True, cutoff=CUTOFF)[0]

    return jax.jit(jax.vmap(one))


def numpy_lattice(cfg: HebXorConfig, n_steps: int, splitting: str = "reference") -> heb_numpy.NumpyKerrLattice:
    lc = cfg.lattice
    return heb_numpy.NumpyKerrLattice(lc.L, lc.J, lc.g, lc.kappa, lc.T / n_steps, splitting=splitting)


def numpy_update(lat: heb_numpy.NumpyKerrLattice, theta, psi_in, target, n_steps: int) -> np.ndarray:
    return heb_numpy.heb_update_averaged(lat, theta, psi_in, target[:, OUTPUT_PORT], eta=ETA, m=MASS, loss=LOSS,
                                         cutoff=CUTOFF, n_steps=n_steps, port=OUTPUT_PORT)


def xor_rows(cfg: HebXorConfig) -> tuple[np.ndarray, np.ndarray]:
    """``(psi_in, target)`` of shape (4 rows, B machines, 4 ports), complex."""
    rows = [xor_batch(float(a)) for a in amplitudes(cfg)]
    return (np.stack([r[0][:, 0] for r in rows], axis=1), np.stack([r[1][:, 0] for r in rows], axis=1))


def _time(step, theta, x, y, reps: int) -> tuple[float, float, float, np.ndarray]:
    """(first call s, median s and min s of ``reps`` chained updates cycling the XOR rows, first output)."""
    t0 = time.perf_counter()
    first = np.asarray(step(theta, x[0], y[0]))
    first_s = time.perf_counter() - t0
    th, ts = theta, []
    for i in range(reps):
        t0 = time.perf_counter()
        th = jax.block_until_ready(step(th, x[i % 4], y[i % 4]))
        ts.append(time.perf_counter() - t0)
    return first_s, float(np.median(ts)), float(np.min(ts)), first


def _with_steps(cfg: HebXorConfig, n_steps: int) -> HebXorConfig:
    return dataclasses.replace(cfg, lattice=dataclasses.replace(cfg.lattice, n_steps=n_steps))


def _split_diff(cfg: HebXorConfig, theta0, x, y) -> float:
    """max |Theta_ours - Theta_numpy reference split| after one update (row x[0]) at ``cfg``'s n_steps."""
    n = cfg.lattice.n_steps
    ours = np.asarray(ours_update(build_lattice(cfg))(jnp.asarray(theta0), jnp.asarray(x[0]), jnp.asarray(y[0])))
    return float(np.max(np.abs(ours - numpy_update(numpy_lattice(cfg, n), theta0, x[0], y[0], n))))


def _cpu_devices(n: int) -> list:
    """Up to ``n`` CPU devices: asks JAX for ``n`` host devices when its backend is not running yet (the
    ``physlearning bench`` process), else whatever it already has."""
    try:
        jax.config.update("jax_num_cpu_devices", n)
    except RuntimeError:  # backend already initialised
        pass
    return jax.devices("cpu")[:n]


def _time_sharded(lat: KerrLattice, devices: list, theta0, x, y, reps: int) -> tuple[float, float, float]:
    """``_time`` with the machines split over ``devices`` (one host device per core: the member axis
    sharded, each device evolving its share of the machines)."""
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    sh = NamedSharding(Mesh(np.array(devices), ("machines",)), PartitionSpec("machines"))
    put = lambda a: jax.device_put(jnp.asarray(a), sh)  # noqa: E731
    first, med, fastest, _ = _time(ours_update(lat), put(theta0), [put(a) for a in x], [put(a) for a in y], reps)
    return first, med, fastest


def run(quick: bool = False) -> dict:
    cfg = HebXorConfig()
    # full run: one host device per core (at most 2, the project's CI machine), for the sharded timing;
    # quick run: leave the process's devices alone (it may share the process with other JAX code)
    devices = jax.devices("cpu")[:2] if quick else _cpu_devices(min(2, os.cpu_count() or 1))
    n = cfg.lattice.n_steps
    reps_ours, reps_base = (4, 1) if quick else (40, 8)
    with jax.enable_x64(True):
        lat = build_lattice(cfg)
        x, y = xor_rows(cfg)
        b = x.shape[1]
        theta0 = np.broadcast_to(np.asarray(lat.theta0), (b,) + lat.theta0.shape).copy()
        ours_first, ours_s, ours_min, th_ours = _time(ours_update(lat), jnp.asarray(theta0), jnp.asarray(x),
                                                      jnp.asarray(y), reps_ours)
        ref = numpy_lattice(cfg, n)
        base_first, base_s, base_min, th_base = _time(lambda t, xi, yi: numpy_update(ref, t, xi, yi, n), theta0,
                                                      x, y, reps_base)
        eig = np.max(np.abs(th_ours - numpy_update(numpy_lattice(cfg, n, "eigen"), theta0, x[0], y[0], n)),
                     axis=(1, 2))
        res = {
            "name": "heb", "ours": "physlearning heb_update (averaged, jit + vmap over machines, float64)",
            "ours_s": ours_s, "baseline": "plain NumPy, reference algorithm (sine-transform split step)",
            "baseline_s": base_s, "speedup": base_s / ours_s,
            "ours_min_s": ours_min, "baseline_min_s": base_min, "speedup_min": base_min / ours_min,
            "ours_compile_s": max(ours_first - ours_s, 0.0), "baseline_compile_s": 0.0,
            "baseline_first_call_s": base_first,
            "n_machines": b, "n_steps": n, "evolutions_per_update": 4, "repeats_ours": reps_ours,
            "repeats_baseline": reps_base,
            "ours_us_per_split_step": 1e6 * ours_s / (4 * n),
            "baseline_us_per_split_step": 1e6 * base_s / (4 * n),
            "max_abs_displacement": float(np.max(np.abs(th_ours - theta0))),
            "agree_eigen_max_abs": float(np.max(eig)), "agree_eigen_median_abs": float(np.median(eig)),
            "split_diff_n": float(np.max(np.abs(th_ours - th_base))),
            "reference_notebook_update_s": 1.03,
            "device": str(jax.devices()[0]),
        }
        if len(devices) > 1 and x.shape[1] % len(devices) == 0:
            _, sh_s, sh_min = _time_sharded(lat, devices, theta0, x, y, reps_ours)
            res.update({"n_devices_sharded": len(devices), "ours_sharded_s": sh_s, "ours_sharded_min_s": sh_min,
                        "speedup_sharded": base_s / sh_s})
        if not quick:
            d = [res["split_diff_n"]] + [_split_diff(_with_steps(cfg, k * n), theta0, x, y) for k in (2, 4)]
            res.update({"split_diff_2n": d[1], "split_diff_4n": d[2],
                        "split_diff_ratio_n_2n": d[0] / d[1], "split_diff_ratio_2n_4n": d[1] / d[2]})
    return res
