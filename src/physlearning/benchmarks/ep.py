"""Benchmark: one EP gradient step vs one implicit-autodiff gradient step, same network.

Layered Hopfield 64-256-10 (digits size) and 784-500-10 (MNIST size), batch 32, float32,
fixed-point relaxation with the same tolerances for both rules. The autodiff rule does one
free relaxation plus an implicit adjoint solve; symmetric EP does three relaxations (free,
+beta, -beta, nudged ones warm-started). Goal: EP / autodiff <= 3.
"""

from __future__ import annotations

import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from physlearning.core import SoftmaxCrossEntropy
from physlearning.core.equilibrium import Equilibrium
from physlearning.rules.autodiff import ImplicitAutodiff
from physlearning.rules.ep import EquilibriumPropagation
from physlearning.substrates.hopfield import LayeredHopfield


def _time(fn, *args, repeats: int) -> tuple[float, float]:
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    compile_s = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), compile_s


def run(quick: bool = False) -> dict:
    sizes = [(64, 256, 10)] if quick else [(64, 256, 10), (784, 500, 10)]
    repeats = 3 if quick else 10
    solver = Equilibrium(method="fixed_point", rtol=1e-5, atol=1e-5, max_steps=1000)
    cost = SoftmaxCrossEntropy()
    out: dict = {
        "name": "ep",
        "baseline": "implicit autodiff (optimistix ImplicitAdjoint), same network",
        "device": jax.devices()[0].device_kind,
    }
    for sz in sizes:
        key = jax.random.PRNGKey(0)
        net = LayeredHopfield(sz, key, output="linear")
        x = jax.random.uniform(key, (32, sz[0]))
        t = jax.nn.one_hot(jnp.arange(32) % sz[-1], sz[-1])
        ep = eqx.filter_jit(EquilibriumPropagation(0.5, "symmetric", 4, solver).estimate)
        ad = eqx.filter_jit(ImplicitAutodiff(solver).estimate)
        ep_s, ep_c = _time(ep, net, (x, t), cost, key, repeats=repeats)
        ad_s, ad_c = _time(ad, net, (x, t), cost, key, repeats=repeats)
        tag = "x".join(map(str, sz))
        out.update(
            {
                f"ep_step_s[{tag}]": ep_s,
                f"autodiff_step_s[{tag}]": ad_s,
                f"ratio_ep_over_autodiff[{tag}]": ep_s / ad_s,
                f"compile_s_ep[{tag}]": ep_c,
                f"compile_s_autodiff[{tag}]": ad_c,
            }
        )
        out["ours_s"], out["baseline_s"] = ep_s, ad_s
        out["ours_compile_s"], out["baseline_compile_s"] = ep_c, ad_c
    out["speedup"] = out["baseline_s"] / out["ours_s"]
    out["goal"] = "ratio_ep_over_autodiff <= 3"
    return out
