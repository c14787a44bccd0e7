"""Langevin computer speed: a training step of the trajectory rule, and generation throughput.

Device: 64 visible + 512 hidden units, dense couplings, K = 10 slices, 100 Euler-Maruyama steps.
``ours``: the local kick-state-correlation gradient (noising paths + gradient, one jitted call);
``baseline``: jax autodiff of the same Euler-Maruyama path log-likelihood on the same paths.
Extras: time per trajectory time step (per sample), generation samples/s, and a DDPM of about the
same parameter count sampling the same number of points (200 ancestral steps), for scale.
Compile time is reported apart from run time (first call vs the median of later calls).
"""

from __future__ import annotations

import time

import equinox as eqx
import jax
import numpy as np

from physlearning.baselines import ddpm
from physlearning.rules.trajectory import TrajectoryRule
from physlearning.substrates.langevin import LangevinComputer, generate


def _timed(fn, reps: int) -> tuple[float, float]:
    """(compile + first run seconds, median seconds of ``reps`` later runs)."""
    t0 = time.perf_counter()
    jax.block_until_ready(fn(0))
    first = time.perf_counter() - t0
    ts = []
    for i in range(reps):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(i + 1))
        ts.append(time.perf_counter() - t0)
    return first, float(np.median(ts))


def run(quick: bool = False) -> dict:
    nv, nh = 64, 512
    batch, n_gen, reps = (16, 64, 2) if quick else (64, 256, 5)
    c = LangevinComputer(nv, nh, n_slices=10, n_steps=100, dt=0.02, kT=0.1, j4_visible=0.5, couplings="dense",
                         noising_coupling=1.0)
    x = jax.random.uniform(jax.random.PRNGKey(0), (batch, nv), minval=-1, maxval=1)
    local = eqx.filter_jit(lambda c, x, k: TrajectoryRule().estimate(c, (x, x), None, k)[0])
    auto = eqx.filter_jit(lambda c, x, k: TrajectoryRule(autodiff=True).estimate(c, (x, x), None, k)[0])
    ours_first, ours_s = _timed(lambda i: local(c, x, jax.random.PRNGKey(i)), reps)
    base_first, base_s = _timed(lambda i: auto(c, x, jax.random.PRNGKey(i)), reps)
    gen_first, gen_s = _timed(lambda i: generate(c, jax.random.PRNGKey(i), n_gen)[0], reps)
    width = ddpm.width_for(nv, c.n_parameters())
    den = ddpm.Denoiser(nv, width, 2, 200, jax.random.PRNGKey(1))
    dd_first, dd_s = _timed(lambda i: ddpm.sample(den, jax.random.PRNGKey(i), n_gen, nv), reps)
    steps = batch * c.n_steps
    return {
        "name": "thermo", "ours_s": ours_s, "baseline": "jax autodiff of the same EM path log-likelihood",
        "baseline_s": base_s, "speedup": base_s / ours_s,
        "units": f"{nv} visible + {nh} hidden, dense, K=10, 100 steps", "batch": batch,
        "train_step_per_trajectory_step_us": 1e6 * ours_s / steps,
        "ours_compile_s": ours_first - ours_s, "baseline_compile_s": base_first - base_s,
        "generation_samples_per_s": n_gen / gen_s, "generation_compile_s": gen_first - gen_s,
        "n_parameters": c.n_parameters(), "ddpm_n_parameters": ddpm.n_parameters(den),
        "ddpm_samples_per_s": n_gen / dd_s, "ddpm_sample_compile_s": dd_first - dd_s,
        "device": str(jax.devices()[0]),
    }
