"""Small float64 instances of the spring and diode networks, and EP's bias slopes in beta."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from physlearning.core import SquaredError
from physlearning.core.equilibrium import Equilibrium
from physlearning.experiments.ep_networks.resistors import resistor_network
from physlearning.experiments.ep_networks.springs import SpringNetConfig, SpringsConfig, StrainTask, spring_task
from physlearning.rules.autodiff import ImplicitAutodiff
from physlearning.rules.ep import energy_param_grad


def _matrix_instances():
    """Small float64 instances: (name, substrate, x, t); the gradient matrix's rows of these substrates
    come from their registrations (``substrates/springs.py``, ``resistors.py``), which build the same."""
    dt = jnp.float64
    out = []
    for spring in ("linear", "quartic"):
        cfg = SpringsConfig(network=SpringNetConfig(rows=3, cols=3, spring=spring),
                            task=StrainTask(n_samples=3, ratios=[1.0]))
        net, x, y = spring_task(cfg, dtype=dt)
        out.append((f"springs_{spring}_2d", net, jnp.asarray(x, dt), jnp.asarray(y, dt)))
    net = resistor_network(2, 3, 2, None, jax.random.PRNGKey(0), diodes=True, dtype=dt)
    x = jax.random.uniform(jax.random.PRNGKey(1), (3, 2), dt, -1, 1)
    t = jax.random.uniform(jax.random.PRNGKey(2), (3, 2), dt, -0.5, 0.5)
    out.append(("resistors_diodes", net, x, t))
    return out


def ep_bias_slopes(betas=(0.2, 0.1, 0.05, 0.025)) -> dict:
    """Relative error of one-sided and symmetric EP vs the implicit gradient as beta shrinks, on
    one sample of the diode network (call with x64 enabled), and the log-log slopes (theory:
    1 and 2; Scellier & Bengio 2017, Laborieux et al. 2021)."""
    sol = Equilibrium(rtol=1e-13, atol=1e-13, max_steps=60)
    cost = SquaredError()
    net, x, t = _matrix_instances()[-1][1:]
    x, t = x[0], t[0]
    ref = ImplicitAutodiff(sol).estimate(net, (x[None], t[None]), cost, None)[0].g
    bs = jnp.asarray(betas, x.dtype)

    @jax.jit
    def grads_at(bs):
        free, _ = sol.solve(net, x, 0.0, t, cost)
        g_of = lambda b: energy_param_grad(net, sol.solve(net, x, b, t, cost, free)[0], x).g
        return energy_param_grad(net, free, x).g, jax.vmap(g_of)(bs), jax.vmap(g_of)(-bs)

    g0, gp, gm = grads_at(bs)
    err = lambda est: np.asarray(jnp.linalg.norm(est - ref, axis=1) / jnp.linalg.norm(ref))
    one, sym = err((gp - g0) / bs[:, None]), err((gp - gm) / (2 * bs[:, None]))
    slope = lambda e: float(np.polyfit(np.log(np.asarray(betas)), np.log(e), 1)[0])
    return {"betas": list(betas), "one_sided_error": one.tolist(), "symmetric_error": sym.tolist(),
            "one_sided_slope": slope(one), "symmetric_slope": slope(sym)}


