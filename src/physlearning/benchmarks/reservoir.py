"""ESN on NARMA10: physlearning (jitted ``lax.scan``) vs ReservoirPy 0.4.2, same process.

Protocol, identical for both: NARMA10 (0.3, 0.05, 1.5, 0.1), input u ~ U[0, 0.5] fed raw;
washout 200 | train 4000 | validation 1000 | test 2000 samples (quick: 2000 / 500 / 1000);
leaky-tanh ESN with recurrent density 0.1, dense input weights, and leak, spectral radius,
input scaling and bias scale (bias uniform in [-b, b]) per size from ``HYPER`` (picked per size
by ``select_hyper``: the validation NRMSE of our ESN on a separate NARMA10 draw, seed 999,
reservoir seeds 1000-1002 (neither is scored), over ``GRID``; rerun with
``python -m physlearning.benchmarks.reservoir --select-hyper 100 200 500``); ReservoirPy gets
the same hyperparameters, draws its own W (normal) and W_in (always +-scaling) and the same
bias distribution; ridge readout (with fitted bias) whose alpha (10^-10 .. 10^2) is chosen
on the validation split, then refit on train + validation (ReservoirPy's own ``Ridge`` node
for ReservoirPy, ours for ours). NRMSE = RMS error / std(target) on the test split.
Time = states + readout (including the alpha search), best of ``repeats``; our compile time
is reported apart. Ours runs two engines: the sequential ``lax.scan`` and the chunk-parallel
scan (``Reservoir.states_parallel``, warm-up ``OVERLAP`` samples, chunk length and scan unroll
picked for speed by ``tune_parallel``; its seam estimate is reported); the faster engine is
``ours_s``, and NRMSE is reported for both. On an accelerator the states stay there and the
readout's Gram matrices are reduced there in float64. ReservoirPy runs with one BLAS thread
(and, on machines with several cores, also with all of them at 500 units; the faster is the
baseline); our host-side numpy is limited to one thread (XLA's own CPU threads are not: set
``XLA_FLAGS=--xla_cpu_multi_thread_eigen=false`` for a one-thread comparison). Compile time
(states and, on an accelerator, the readout) is measured apart.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from physlearning.rules.ridge import DEFAULT_ALPHAS, fit_ridge_cv
from physlearning.substrates.reservoirs import make_esn
from physlearning.substrates.reservoirs.base import WEIGHT_DISTRIBUTIONS
from physlearning.tasks.timeseries import narma10, nrmse

_COMMON = {"density": 0.1, "leak": 1.0, "input_distribution": "bernoulli"}
HYPER = {  # output of `python -m physlearning.benchmarks.reservoir --select-hyper 100 200 500`
    100: {"spectral_radius": 0.8, "input_scaling": 0.03, "bias_scaling": 0.3, "weight_distribution": "normal",
          **_COMMON},
    200: {"spectral_radius": 0.9, "input_scaling": 0.03, "bias_scaling": 0.3, "weight_distribution": "uniform",
          **_COMMON},
    500: {"spectral_radius": 1.0, "input_scaling": 0.03, "bias_scaling": 0.3, "weight_distribution": "normal",
          **_COMMON, "input_distribution": "uniform"},
}


GRID = {"spectral_radius": (0.6, 0.7, 0.8, 0.9, 0.95, 1.0), "input_scaling": (0.03, 0.05, 0.1, 0.2, 0.3, 0.5),
        "bias_scaling": (0.1, 0.3, 1.0), "input_distribution": ("uniform", "bernoulli"), "leak": (0.5, 0.75, 1.0),
        "weight_distribution": WEIGHT_DISTRIBUTIONS}


def select_hyper(n: int, seeds: tuple[int, ...] = (1000, 1001, 1002)) -> list[tuple[float, dict]]:
    """Validation NRMSE (mean over reservoir ``seeds``, which the benchmark never scores) of
    every ``GRID`` point on a NARMA10 draw (seed 999, never scored either); sorted, best first."""
    import itertools

    import equinox as eqx
    from threadpoolctl import threadpool_limits

    T = {"washout": 200, "train": 4000, "val": 1000, "test": 0}
    u, y = narma10(sum(T.values()), seed=999)
    uj = jnp.asarray(u, jnp.float32)
    w, a, b = _split(T)
    run = eqx.filter_jit(lambda r, x: r.states(x))  # weights as arguments: one compile per size
    out = []
    with threadpool_limits(1):
        for values in itertools.product(*GRID.values()):
            h = {**_COMMON, **dict(zip(GRID, values))}
            errs = []
            for seed in seeds:
                phi = np.asarray(run(make_esn(n, 1, seed=seed, trainable=True, **h), uj))
                _, scores = fit_ridge_cv(phi[w:a], y[w:a], phi[a:b], y[a:b], DEFAULT_ALPHAS)
                errs.append(float(np.sqrt(min(scores.values())) / np.std(y[a:b])))
            out.append((float(np.mean(errs)), h))
    return sorted(out, key=lambda r: r[0])


def _split(T: dict) -> tuple[int, int, int]:
    w = T["washout"]
    return w, w + T["train"], w + T["train"] + T["val"]


def _hyper(n: int) -> dict:
    if n not in HYPER:
        raise ValueError(f"reservoir benchmark: no hyperparameters for {n} units; sizes with a selection: "
                         f"{sorted(HYPER)} (run select_hyper({n}) and add it to HYPER)")
    return HYPER[n]


PROTOCOL = {"washout": 200, "train": 4000, "val": 1000, "test": 2000}  # samples of each NARMA10 split

PARALLEL_GRID = {"chunk": (100, 200, 400, 900), "unroll": (1, 4)}
OVERLAP = 200  # warm-up samples per chunk = the protocol's washout
SEAM_TOL = 1e-5  # largest seam estimate at which the parallel states count as the sequential ones


def _on_device() -> bool:
    """Keep states on an accelerator for the readout's reductions; on the CPU use numpy (BLAS
    threads limited like ReservoirPy's)."""
    return jax.default_backend() != "cpu"


def _engine(res, parallel: dict | None):
    if parallel is None:
        return jax.jit(lambda x: (res.states(x), jnp.zeros(())))
    return jax.jit(lambda x: res.states_parallel(x, parallel["chunk"], OVERLAP, parallel["unroll"]))


def tune_parallel(u, n: int, reps: int = 3) -> dict:
    """Fastest ``PARALLEL_GRID`` point for the chunk-parallel states: a speed choice only (the
    states do not depend on it beyond float32 rounding; the chosen point's seam is checked
    against ``SEAM_TOL`` in :func:`run`)."""
    res = make_esn(n, 1, seed=0, **_hyper(n))
    uj = jnp.asarray(u, jnp.float32)
    best, choice = np.inf, None
    for chunk in PARALLEL_GRID["chunk"]:
        for unroll in PARALLEL_GRID["unroll"]:
            run = _engine(res, {"chunk": chunk, "unroll": unroll})
            jax.block_until_ready(run(uj))
            t0 = time.perf_counter()
            for _ in range(reps):
                jax.block_until_ready(run(uj))
            if (t := time.perf_counter() - t0) < best:
                best, choice = t, {"chunk": chunk, "unroll": unroll}
    return choice


def _ours(res, u, y, T, repeats, parallel=None):
    """(test NRMSE, best time, compile time, (states, readout) split, seam) of our ESN ``res``
    with the sequential scan (``parallel=None``) or the chunk-parallel one."""
    run = _engine(res, parallel)
    uj = jnp.asarray(u, jnp.float32)
    w, a, b = _split(T)
    keep = jax.block_until_ready if _on_device() else np.asarray
    t0 = time.perf_counter()
    phi = keep(run(uj)[0])
    fit_ridge_cv(phi[w:a], y[w:a], phi[a:b], y[a:b], DEFAULT_ALPHAS)  # compiles the on-device readout
    compile_s = time.perf_counter() - t0
    best, split = np.inf, (0.0, 0.0)
    for _ in range(repeats):
        t0 = time.perf_counter()
        phi, seam = run(uj)
        phi = keep(phi)
        t1 = time.perf_counter()
        readout, _ = fit_ridge_cv(phi[w:a], y[w:a], phi[a:b], y[a:b], DEFAULT_ALPHAS)
        pred = readout(np.asarray(phi[b:]))
        t2 = time.perf_counter()
        if t2 - t0 < best:
            best, split = t2 - t0, (t1 - t0, t2 - t1)
    return nrmse(pred, y[b:]), best, compile_s, split, float(seam)


def _rpy_reservoir(n: int, seed: int):
    """ReservoirPy's ESN with ``HYPER[n]`` and the bias distribution our ESN uses."""
    from reservoirpy.nodes import Reservoir

    h = _hyper(n)
    bias = np.random.default_rng(seed).uniform(-1, 1, n) * h["bias_scaling"]
    return Reservoir(n, sr=h["spectral_radius"], lr=h["leak"], input_scaling=h["input_scaling"],
                     rc_connectivity=h["density"], input_connectivity=1.0, bias=bias, seed=seed)


def _reservoirpy(u, y, n, seed, T, repeats):
    from reservoirpy.nodes import Ridge

    w, a, b = _split(T)
    best, split = np.inf, (0.0, 0.0)
    for _ in range(repeats):
        t0 = time.perf_counter()
        s = _rpy_reservoir(n, seed).run(u)
        t1 = time.perf_counter()
        scores = {}
        for alpha in DEFAULT_ALPHAS:
            r = Ridge(ridge=alpha)
            r.fit(s[w:a], y[w:a])
            scores[alpha] = float(np.mean((r.run(s[a:b]) - y[a:b]) ** 2))
        alpha = min(scores, key=lambda k: (scores[k], -k))
        r = Ridge(ridge=alpha)
        r.fit(s[w:b], y[w:b])
        pred = r.run(s[b:])
        t2 = time.perf_counter()
        if t2 - t0 < best:
            best, split = t2 - t0, (t1 - t0, t2 - t1)
    return nrmse(pred, y[b:]), best, split


def compare(n: int, n_seeds: int) -> dict:
    """Paired NRMSE comparison at ``n`` units over ``n_seeds`` seeds (NARMA10 seed 100 + s with
    reservoir seed s for both libraries, the protocol of :func:`run`, no timing): per-seed
    figures, means, sample standard deviations, and the paired t statistic of ours - ReservoirPy
    with its two-sided p-value (scipy)."""
    import scipy.stats
    from threadpoolctl import threadpool_limits

    T = PROTOCOL
    ours, rpy = [], []
    with threadpool_limits(1):
        for seed in range(n_seeds):
            u, y = narma10(sum(T.values()), seed=100 + seed)
            ours.append(_ours(make_esn(n, 1, seed=seed, **_hyper(n)), u, y, T, 1)[0])
            rpy.append(_reservoirpy(u, y, n, seed, T, 1)[0])
    d = np.asarray(ours) - np.asarray(rpy)
    t = scipy.stats.ttest_rel(ours, rpy) if n_seeds > 1 else None
    return {"units": n, "seeds": n_seeds, "nrmse_ours": [round(v, 4) for v in ours],
            "nrmse_reservoirpy": [round(v, 4) for v in rpy],
            "mean_ours": float(np.mean(ours)), "mean_reservoirpy": float(np.mean(rpy)),
            "std_ours": float(np.std(ours, ddof=1)) if n_seeds > 1 else 0.0,
            "std_reservoirpy": float(np.std(rpy, ddof=1)) if n_seeds > 1 else 0.0,
            "ours_lower_in": int(np.sum(d < 0)), "mean_difference": float(np.mean(d)),
            "paired_t": None if t is None else float(t.statistic),
            "paired_p_two_sided": None if t is None else float(t.pvalue)}


def engine_check(n: int = 100, seed: int = 0, steps: int = 2000) -> float:
    """Largest |state difference| between ReservoirPy's run and our ``lax.scan`` driven with
    ReservoirPy's own W, W_in and bias (float32 here, float64 there): checks that both compute
    the same leaky-tanh map, so NRMSE differences come from the random weight draws."""
    import scipy.sparse

    from physlearning.substrates.reservoirs.base import Reservoir

    u, _ = narma10(steps, seed=100 + seed)
    rpy = _rpy_reservoir(n, seed)
    states = rpy.run(u)
    dense = lambda m: m.toarray() if scipy.sparse.issparse(m) else np.asarray(m)
    ours = Reservoir(make_esn(n, 1, seed=seed).device, dense(rpy.Win).astype(np.float32),
                     dense(rpy.W).astype(np.float32), np.asarray(rpy.bias, np.float32).ravel())
    phi = np.asarray(jax.jit(lambda x: ours.states(x))(jnp.asarray(u, jnp.float32)))
    return float(np.max(np.abs(phi - states)))


def run(quick: bool = False) -> dict:
    try:
        import reservoirpy
    except ImportError:
        return {"name": "reservoir", "ours_s": None, "baseline": "reservoirpy 0.4.2 (not installed)",
                "baseline_s": None, "speedup": None,
                "message": "skipped: ReservoirPy is not installed; install it with "
                           "`pip install 'physlearning[bench]'` (reservoirpy==0.4.2)"}
    import os

    from threadpoolctl import threadpool_limits

    T = {"washout": 200, "train": 2000, "val": 500, "test": 1000} if quick else PROTOCOL
    sizes = (100, 500) if quick else (100, 200, 500)
    seeds = (0,) if quick else (0, 1, 2)
    repeats = 1 if quick else 3
    threads = os.cpu_count() or 1
    parallel = tune_parallel(narma10(sum(T.values()), seed=100)[0], 500, 1 if quick else 3)
    variants = {"seq": None, "par": parallel}
    rows: dict[int, dict[str, list[float]]] = {n: {} for n in sizes}

    def add(n, key, value):
        rows[n].setdefault(key, []).append(value)

    with threadpool_limits(1):
        for seed in seeds:
            u, y = narma10(sum(T.values()), seed=100 + seed)
            for n in sizes:
                reps = repeats if n == 500 else 1
                res = make_esn(n, 1, seed=seed, **_hyper(n))
                for name, par in variants.items():
                    e, t, c, (s1, r1), seam = _ours(res, u, y, T, reps, par)
                    for k, v in (("nrmse", e), ("total_s", t), ("compile_s", c), ("states_s", s1),
                                 ("readout_s", r1), ("seam", seam)):
                        add(n, f"{name}_{k}", v)
                e2, t2, (s2, r2) = _reservoirpy(u, y, n, seed, T, reps)
                for k, v in (("nrmse", e2), ("total_s", t2), ("states_s", s2), ("readout_s", r2)):
                    add(n, f"rpy_{k}", v)
                if n == 500 and threads > 1:  # ReservoirPy with all BLAS threads: the faster one is the baseline
                    with threadpool_limits(threads):
                        add(n, "rpy_all_threads_total_s", _reservoirpy(u, y, n, seed, T, reps)[1])
    big = {k: float(np.mean(v)) for k, v in rows[500].items()}
    # the chunk-parallel engine counts only where it reproduced the sequential states (seam <= 1e-5)
    eligible = [v for v in variants if v == "seq" or max(rows[500][f"{v}_seam"]) <= SEAM_TOL]
    ours = min(eligible, key=lambda v: big[f"{v}_total_s"])
    base_s = min(big["rpy_total_s"], big.get("rpy_all_threads_total_s", np.inf))
    out = {"name": "reservoir", "ours_s": big[f"{ours}_total_s"],
           "baseline": f"reservoirpy {reservoirpy.__version__}", "baseline_s": base_s,
           "speedup": base_s / big[f"{ours}_total_s"],
           "task": "NARMA10, ESN 500 units, states + ridge readout (alpha on validation)",
           "protocol": f"washout/train/val/test = {T['washout']}/{T['train']}/{T['val']}/{T['test']}, "
                       f"seeds {list(seeds)}",
           "nrmse_definition": "RMS error / std(target), test split",
           "device": str(jax.devices()[0]), "readout_on": "accelerator (float64)" if _on_device() else "host numpy",
           "ours_engine": "sequential lax.scan" if ours == "seq" else f"chunk-parallel scan {parallel}, "
                                                                   f"overlap {OVERLAP}",
           "baseline_blas_threads": 1 if big["rpy_total_s"] <= big.get("rpy_all_threads_total_s", np.inf) else threads,
           "ours_compile_s": big[f"{ours}_compile_s"], "baseline_compile_s": 0.0,  # a Python loop: nothing compiled
           **{f"{k}_500": v for k, v in big.items() if k.endswith("_s")},
           "parallel_max_seam_500": max(rows[500]["par_seam"])}
    for n in sizes:
        r = rows[n]
        for name in ("seq", "par", "rpy"):
            out[f"nrmse_{name}_{n}_mean"] = float(np.mean(r[f"{name}_nrmse"]))
            out[f"nrmse_{name}_{n}_std"] = float(np.std(r[f"{name}_nrmse"]))
        out[f"ours_not_worse_{n}"] = bool(np.mean(r[f"{ours}_nrmse"]) <= np.mean(r["rpy_nrmse"]))
    out["us_per_step_ours_500"] = 1e6 * out["ours_s"] / sum(T.values())
    out["us_per_step_reservoirpy_500"] = 1e6 * base_s / sum(T.values())
    out["engine_check_max_state_diff_100"] = engine_check()
    return out


if __name__ == "__main__":
    import argparse
    import json

    ap = argparse.ArgumentParser(description="ESN hyperparameter selection for the reservoir benchmark, and the "
                                             "paired many-seed NRMSE comparison with ReservoirPy")
    ap.add_argument("--select-hyper", type=int, nargs="+", default=[], metavar="UNITS",
                    help="validation grid search of the ESN hyperparameters at these sizes (about 13 min for 3 sizes)")
    ap.add_argument("--compare", type=int, nargs="+", default=[], metavar="UNITS",
                    help=f"paired NRMSE comparison with ReservoirPy at these sizes (one of {sorted(HYPER)})")
    ap.add_argument("--seeds", type=int, default=10, help="seeds for --compare (default 10)")
    args = ap.parse_args()
    if not args.select_hyper and not args.compare:
        ap.error("give --select-hyper UNITS... and/or --compare UNITS... [--seeds N]")
    if bad := sorted(set(args.compare) - set(HYPER)):
        ap.error(f"--compare {bad}: sizes with selected hyperparameters are {sorted(HYPER)}")
    if args.seeds < 1:
        ap.error(f"--seeds {args.seeds}: must be >= 1")
    for units in args.select_hyper:
        best = select_hyper(units)
        print(json.dumps({"units": units, "best": best[0][1], "val_nrmse": best[0][0],
                          "next": [(round(e, 4), h) for e, h in best[1:4]]}), flush=True)
    for units in args.compare:
        print(json.dumps(compare(units, args.seeds)), flush=True)
