"""Recurrent Hamiltonian Echo Learning (RHEL) on the oscillator chain: gradients from two nudged echoes.

Reference: G. Pourcel and M. Ernoult, "Learning long range dependencies through time reversal symmetry
breaking", arXiv:2506.05259 (2025), code github.com/guillaumepourcel/rhel. Only the method is taken
from it; the discrete form below is derived here for the leapfrog of
:class:`~physlearning.substrates.oscillator_chain.OscillatorChain`.

Problem: a forward pass over the input u_0 .. u_{T-1} from rest gives positions q_1 .. q_T after each
sample; the loss L = C(readout(q_1 .. q_T), target) may depend on q at any of these times.

RHEL (one sample, 3 physical evolutions):

1. forward pass; measure the error signal g_n = dL/dq_n (the local derivative of the cost of the
   measured outputs; no Jacobian of the dynamics);
2. two echoes, eps = +beta and eps = -beta: flip the momenta of the final state, p -> -p, and run the
   same dynamics on the reversed input u_{T-1} .. u_0, kicking the momenta by ``p -= eps g_n`` at the
   echo time that mirrors forward time n (a force eps dL/dq, i.e. H + eps L for an impulsive L);
   along each echo record the time integral of dH/dtheta with the leapfrog's own quadrature (each
   half kick of length dt/2 contributes (dt/2) dV/dtheta(q, u), V the potential, theta = (omega, k,
   b); dH/dtheta = dV/dtheta as the kinetic term has no parameter);
3. gradient::

       dL/dtheta = [I(+beta) - I(-beta)] / (2 beta) + O(beta^2),    I(eps) = sum_kicks (dt/2) dV/dtheta

Derivation (discrete, exact as beta -> 0): write the forward pass as a composition of elementary
symplectic maps F_m (half kicks K and drifts D), x_m = F_m(x_{m-1}). Each is its own time reverse,
S F S = F^-1 with S the momentum flip, so the unperturbed echo retraces y_j = S x_{M-j}. Linearising
the echo around it, delta_{j+1} = DF(S x_{M-j}) delta_j = S (DF_{M-j})^-1 S delta_j, and symplecticity
(DF)^-1 = -J (DF)^T J (J = [[0, I], [-I, 0]]) gives for w_j = J S delta_j the recursion
w_{j+1} = (DF_{M-j})^T w_j: the BPTT adjoint recursion lambda_{m-1} = DF_m^T lambda_m run in the
echo's time, with w = beta lambda when the error signal is injected as delta p = -beta dL/dq (the
source term of the adjoint). The parameter gradient of BPTT is sum_m (dF_m/dtheta)^T lambda_m; drifts
do not depend on theta, a half kick K: p -> p - h dV/dq(q) gives -h (d^2V/dtheta dq)^T lambda_p, and
lambda_p = -delta q / beta (from w = (-delta p, -delta q)), so each half kick contributes
(h / beta)(d^2V/dtheta dq) delta q = (h / beta) [dV/dtheta(q_echo) - dV/dtheta(q_free)] + O(beta).
The centred difference of two echoes cancels the free term and the O(beta) remainder. So the
estimate converges to the BPTT gradient of the *discrete* forward pass (not of the ODE), which is what
the gradient checks compare with. The paper derives the continuous-time version (equivalence with the
continuous adjoint method) and a discrete version for its Hamiltonian Recurrent Units; we did not
check that its discrete update coincides term by term with this one (it is the same construction:
reversible symplectic step, momentum flip, nudged echo on the reversed input, finite difference of
dH/dtheta along the echoes).

The readout (W, c; not part of H) gets its gradient locally, dC/dW and dC/dc at the measured
intensities (a delta rule; no propagation through time).
"""

from __future__ import annotations

import math
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, PRNGKeyArray, PyTree

from physlearning.core import Batch, Cost, StatelessRule
from physlearning.substrates.oscillator_chain import OscillatorChain

EVOLUTIONS = 3
"""physical evolutions per sample: one forward pass and two echoes (+beta, -beta)."""


def check_beta(beta) -> None:
    """A ValueError naming ``beta`` unless it is a finite number > 0 (tracers pass unchecked)."""
    if isinstance(beta, bool):
        raise ValueError(f"beta={beta!r}: the nudging strength must be a finite number > 0")
    if isinstance(beta, (int, float)) and not (0 < beta and math.isfinite(beta)):
        raise ValueError(f"beta={beta!r}: the nudging strength must be a finite number > 0")


def _split(chain: OscillatorChain):
    return eqx.partition(chain, chain.param_filter())


def error_signal(chain: OscillatorChain, qs: Array, target: Array, cost: Cost) -> tuple[Array, Array, PyTree]:
    """``(loss, g, readout_grads)`` of one sample from its measured q trajectory ``qs`` (T, N):
    g = dL/dq_n (T, N) and the local gradient of L in the readout parameters (a params-shaped tree,
    zero outside W, c), both at fixed ``qs``."""
    params, static = _split(chain)

    def f(p, q):
        return cost(eqx.combine(p, static).readout(q), target)

    loss, (g_p, g_q) = jax.value_and_grad(f, argnums=(0, 1))(params, qs)
    return loss, g_q, g_p


def echo_integral(chain: OscillatorChain, u: Array, final: tuple[Array, Array], g: Array, eps: Array) -> PyTree:
    """I(eps) = sum over the echo's half kicks of (dt/2) dV/dtheta(q, u) (a params-shaped tree), for the
    echo from ``S final`` on the reversed input ``u[::-1]`` with momentum kicks ``p -= eps g_n`` at the
    echo times mirroring forward time n (see the module docstring)."""
    params, static = _split(chain)
    dv = jax.grad(lambda p, q, ui: eqx.combine(p, static).potential(q, ui))
    h = 0.5 * chain.dt
    zero = jax.tree_util.tree_map(jnp.zeros_like, params)
    add = lambda acc, q, ui: jax.tree_util.tree_map(lambda a, d: a + h * d, acc, dv(params, q, ui))

    q, p = chain.time_reverse(final)
    p = p - eps * g[-1]
    # mirror of forward time n (after sample n-1): the kick for g[n-1], none at n = 0 (the rest state)
    g_next = jnp.concatenate([g[:-1][::-1], jnp.zeros_like(g[:1])], axis=0)

    def sample(carry, inp):
        ui, gi = inp

        def one(c, _):
            q, p, acc = c
            acc = add(acc, q, ui)
            p = p + h * chain.force(q, ui)
            q = q + chain.dt * p
            acc = add(acc, q, ui)
            p = p + h * chain.force(q, ui)
            return (q, p, acc), None

        (q, p, acc), _ = jax.lax.scan(one, carry, None, length=chain.n_sub)
        return (q, p - eps * gi, acc), None

    (_, _, acc), _ = jax.lax.scan(sample, (q, p, zero), (u[::-1], g_next))
    return acc


def rhel_gradient(chain: OscillatorChain, u: Array, target: Array, cost: Cost, beta: float) -> tuple[PyTree, Array]:
    """``(grads, loss)`` for one input series ``u`` (T,): the RHEL estimate of dL/dtheta (params-shaped:
    omega, k, b from the echoes, W, c from the local readout gradient), 3 physical evolutions."""
    check_beta(beta)
    u = chain.check_series(u)
    final, qs = chain.run(u)
    loss, g, g_read = error_signal(chain, qs, target, cost)
    b = jnp.asarray(beta, qs.dtype)
    acc = jax.vmap(lambda e: echo_integral(chain, u, final, g, e))(jnp.stack([b, -b]))
    g_echo = jax.tree_util.tree_map(lambda a: (a[0] - a[1]) / (2 * b), acc)
    grads = jax.tree_util.tree_map(lambda x, y: x + y, g_echo, g_read)
    return grads, loss


class RHEL(StatelessRule):
    """Recurrent Hamiltonian Echo Learning (see the module docstring): per sample a forward pass and two
    nudged echoes (+beta, -beta); batch-mean grads shaped like ``design().params()``.

    ``batch = (x, target)``: x (B, T) input series, target as ``predict``'s output per sample. On a
    Hardware the echoes run on ``realised()`` and the grads are assigned to the design one to one."""

    families: ClassVar[tuple[type, ...]] = (OscillatorChain,)
    beta: float = 1e-3

    def __check_init__(self):
        check_beta(self.beta)

    def estimate(self, substrate, batch: Batch, cost: Cost, key: PRNGKeyArray | None):
        x, t = batch
        x = jnp.asarray(x)
        if x.ndim != 2:
            raise ValueError(f"x has shape {x.shape}: RHEL needs (B, T) (a batch of scalar input series)")
        dev = substrate.realised()
        grads, losses = jax.vmap(lambda xi, ti: rhel_gradient(dev, xi, ti, cost, self.beta))(x, t)
        grads = jax.tree_util.tree_map(lambda a: jnp.mean(a, axis=0), grads)
        return grads, {"loss": jnp.mean(losses),
                       "evolutions": jnp.asarray(EVOLUTIONS * x.shape[0], jnp.float32),
                       "forward_passes": jnp.asarray(EVOLUTIONS, jnp.float32)}
