"""Trajectory-likelihood (minimal-heat) training of a Langevin computer (Whitelam, arXiv:2506.15121).

1. Noising: data are loaded into the visible units, the hidden units settle to equilibrium
   given the data (or are loaded with a code of the image, which then relaxes too, or is held
   fixed as a register with ``hold_hidden``), and then the computer relaxes under its fixed *noising potential*
   theta_0 (its initial potential: J2, J4 device constants, fixed random couplings J0 and hidden
   biases b0) for ``n_steps`` Euler-Maruyama steps, ending at the noise distribution (the
   equilibrium of theta_0). The whole state, hidden units included, is recorded.
2. The recorded path is reversed in time: omega = (x_T, ..., x_0) goes noise -> data.
3. Objective: the log-probability of omega under the computer's Euler-Maruyama dynamics with
   the time-dependent protocol theta(t) (the discretised Onsager-Machlup action),

       ln P_theta[omega] = sum_n sum_i ln N(x_{n+1,i}; x_{n,i} + mu dt F_{k(n),i}(x_n), 2 mu kT dt),

   i over the units that move (all, or the visible ones when the hidden register is held),

   maximised over the protocol parameters theta = (J^(k), b^(k), J2^(k)[, J4^(k) of the visible
   units with ``train_j4``]), k < K.

Why no backpropagation through the simulation is needed: the trajectory is *recorded data*
(held fixed: it came from the noising relaxation, not from the protocol being trained), and
ln P is a sum of Gaussian transition densities whose only dependence on theta is through the
drift at the recorded states. With the residual r_n = x_{n+1} - x_n - mu dt F(x_n) (the realised
thermal kick), d ln P / d b_i^(k) = -sum_{n in k} r_{n,i} / (2 kT),
d ln P / d J_ij^(k) = -sum_{n in k} (r_{n,i} x_{n,j} + r_{n,j} x_{n,i}) / (4 kT) and
d ln P / d J2_i^(k) = -sum_{n in k} r_{n,i} x_{n,i} / kT and
d ln P / d J4_i^(k) = -2 sum_{n in k} r_{n,i} x_{n,i}^3 / kT: local correlations of each unit's kick
with its neighbour's state, accumulated over the slice. The objective is a concave quadratic in
theta (the drift is linear in theta; with J4 trained, over the convex set J4 >= 0), so
gradient ascent has no spurious optima.

Heat: for fixed parameters the EM densities obey microscopic reversibility,
kT [ln P(omega) - ln P(omega reversed)] = Q[omega] + O(dt) boundary terms, with Q the heat
emitted (Sekimoto). Training drives the path KL divergence
D = <ln P_0[noising path] - ln P_theta[omega]> (nats per trajectory; the dissipation of generation
beyond that of the exactly time-reversed noising process) down. Both are logged as ``aux``.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, PRNGKeyArray

from physlearning.core import Batch, Cost, StatelessRule
from physlearning.substrates.langevin import LangevinComputer


def noising_paths(computer: LangevinComputer, data: Array, key: PRNGKeyArray) -> Array:
    """Full noising paths (B, n_steps+1, N): visible units start at ``data``, hidden units at
    their equilibrium given the data (relaxed for n_steps under theta_0 with the visible units
    held), then every unit relaxes freely under the noising potential theta_0.

    ``data`` of width N (all units) loads the hidden units too: they start at the given values
    (a code of the image prepared by the loading step, e.g. :func:`cluster_code`), no settling;
    with ``hold_hidden`` they keep that code along the whole path (and must be given)."""
    k0, k1, k2 = jax.random.split(key, 3)
    nv = computer.n_visible
    noising = computer.noising()
    if data.shape[-1] not in (nv, computer.n_units):
        raise ValueError(f"noising data have width {data.shape[-1]}: allowed {nv} (visible units) or "
                         f"{computer.n_units} (all units, hidden units loaded with a code)")
    if computer.hold_hidden and data.shape[-1] != computer.n_units:
        raise ValueError(f"noising data have width {data.shape[-1]}: a held hidden register needs its code, "
                         f"width {computer.n_units} (visible + hidden)")
    x0 = data
    if data.shape[-1] == nv:  # hidden units settle given the image
        x0 = computer.sample_bare(k0, data.shape[0]).at[:, :nv].set(data)
        if computer.coupled_noising:
            hold = jnp.broadcast_to(data[:, None], (data.shape[0], computer.n_steps + 1, nv))
            x0, _, _, _ = noising.simulate(x0, k1, clamp=hold, track_heat=False)
    _, path, _, _ = noising.simulate(x0, k2, record=True, track_heat=False)
    return path


def residuals(computer: LangevinComputer, path: Array) -> Array:
    """r_n = x_{n+1} - x_n - mu dt F_{k(n)}(x_n), grouped by slice: (B, K, n_steps/K, N); zero for
    held hidden units (``hold_hidden``: they make no stochastic transitions)."""
    x, y = computer.by_slice(path)
    r = y - x - computer.mu * computer.dt * computer.sliced_force(x)
    return r.at[..., computer.n_visible:].set(0.0) if computer.hold_hidden else r


def path_log_likelihood(computer: LangevinComputer, path: Array) -> Array:
    """ln P[path] per sample (B,) under Euler-Maruyama: sum of Gaussian transition log-densities
    over steps and free units (all, or the visible ones when the hidden register is held)."""
    r = residuals(computer, path)
    var = 2 * computer.mu * computer.kT * computer.dt
    return -jnp.sum(r**2, (1, 2, 3)) / (2 * var) - 0.5 * computer.n_steps * computer.n_free * jnp.log(2 * jnp.pi * var)


def objective(computer: LangevinComputer, path: Array) -> Array:
    """Training loss: -<ln P[path]> per unit and time step (nats)."""
    return -jnp.mean(path_log_likelihood(computer, path)) / (computer.n_steps * computer.n_free)


def local_gradient(computer: LangevinComputer, path: Array) -> LangevinComputer:
    """d objective / d (J, b, J2[, J4]) from the recorded path alone (no autodiff): kick-state correlations,

    dL/db_i^k = c sum r_i,  dL/dJ_ij^k = c mask_ij sum (r_i x_j + r_j x_i)/2,  dL/dJ2_i^k = 2 c sum r_i x_i,
    dL/dJ4_i^k = 4 c sum r_i x_i^3 (visible units, when J4 is trainable),

    with c = 1/(2 kT B n_steps N_free), sums over the samples and the steps of slice k (r = 0 for
    held hidden units, so their own couplings get no gradient). Computed in the path's dtype: the
    (float32, numpy) coupling mask is cast to it first, since a Python float times it would round c
    to float32 (a relative error float32(c)/c - 1 ~ 1e-8 on the coupling gradient in float64).
    """
    B = path.shape[0]
    x, _ = computer.by_slice(path)
    r = residuals(computer, path)
    c = 1.0 / (B * computer.n_steps * computer.n_free * 2 * computer.kT)
    R = jnp.einsum("bksi,bksj->kij", r, x)
    mask = jnp.asarray(computer.mask, R.dtype)
    gJ = c * mask * 0.5 * (R + jnp.swapaxes(R, -1, -2))
    gb = c * jnp.sum(r, (0, 2))
    g2 = 2 * c * jnp.sum(r * x, (0, 2))
    grads = eqx.tree_at(lambda s: (s.J, s.b), computer.params(), (gJ, gb))
    if computer.train_j4:
        visible = jnp.arange(computer.n_units) < computer.n_visible
        g4 = jnp.where(visible, 4 * c * jnp.sum(r * x**3, (0, 2)), 0.0)
        grads = eqx.tree_at(lambda s: s.J4, grads, g4)
    return eqx.tree_at(lambda s: s.J2, grads, g2) if computer.train_j2 else grads


def autodiff_gradient(computer: LangevinComputer, path: Array) -> LangevinComputer:
    """Reference: jax autodiff of :func:`objective` through the Euler-Maruyama densities."""
    path = jax.lax.stop_gradient(path)
    params, static = eqx.partition(computer, computer.param_filter())
    return jax.grad(lambda p: objective(eqx.combine(p, static), path))(params)


def training_paths(computer: LangevinComputer, data: Array, key: PRNGKeyArray) -> tuple[Array, Array]:
    """(noising paths, their time reverses omega), both recorded data held fixed."""
    fwd = jax.lax.stop_gradient(noising_paths(computer, data, key))
    return fwd, fwd[:, ::-1]


class TrajectoryRule(StatelessRule):
    """Maximise ln P_theta[reversed noising path] with the local kick-state correlation gradient
    (``autodiff=True``: jax autodiff of the same objective, the reference).

    ``aux``: ``loss`` (nats per unit-step), ``path_kl`` (<ln P_0[noising path] - ln P_theta[omega]>,
    nats per trajectory), ``heat`` (mean heat emitted along omega under theta, energy unit).
    """

    autodiff: bool = False

    def estimate(self, substrate: LangevinComputer, batch: Batch, cost: Cost | None, key: PRNGKeyArray):
        fwd, omega = training_paths(substrate, batch[0], key)
        grads = autodiff_gradient(substrate, omega) if self.autodiff else local_gradient(substrate, omega)
        lp = path_log_likelihood(substrate, omega)
        lp0 = path_log_likelihood(substrate.noising(), fwd)
        aux = {"loss": -jnp.mean(lp) / (substrate.n_steps * substrate.n_free),
               "path_kl": jnp.mean(lp0 - lp),
               "heat": jnp.mean(substrate.path_heat(omega))}
        return grads, aux
