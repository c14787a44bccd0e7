"""Gradients of a scattering network's cost from scattering measurements.

Derivation (S = 1 - sqrt(K) G sqrt(K), G = M^-1, M = K/2 + i(H0 - omega)): a parameter
theta of H0 enters as dM/dtheta = i dH0/dtheta, and dG = -G dM G, so for an output port l

    dS_ll/dtheta = kappa_l [G (dM/dtheta) G]_ll.

With the probe fields a_j^(l) = -sqrt(kappa_l) G_jl (mode j's amplitude when port l is
driven with unit amplitude) and b_j^(l) = -sqrt(kappa_l) G_lj (the same in the
flux-reversed network H0^T; b = a for real couplings, where M = M^T):

    detuning Delta_j (dM = i e_j e_j^T):              dS_ll/dDelta_j = i b_j a_j
    real coupling u_jk (dM = i(E_jk + E_kj)):         dS_ll/du_jk   = i (b_j a_k + b_k a_j)
    imaginary coupling v_jk (dM = -(E_jk - E_kj)):    dS_ll/dv_jk   = -(b_j a_k - b_k a_j)

If mode j has a port, a_j^(l) = (S - 1)_jl / sqrt(kappa_j) and b_j^(l) = (S - 1)_lj / sqrt(kappa_j),
which gives the paper's dS_rp/dDelta_j = (i/kappa_j) (S - 1)_rj (S - 1)_jp. Modes without a
port (input and hidden modes of the layered network) are read by a weak tap (a drop
port or pick-up) on each mode during the same probe: the internal field a_j^(l).

Measurements per sample: one probe setting per output port (n_out; 2 n_out for
complex couplings, which also need the flux-reversed setting), each reading S_ll and
all N mode amplitudes. The cost derivative dC/dy (from the measured outputs) is digital.
With y_l = Re(w_l^* ...) i.e. dy_l = Re(w_l dS_ll) (w = -i for Im S, 1 for Re S, 2 S* for
|S|^2), dC/dtheta = sum_l dC/dy_l Re(w_l dS_ll/dtheta), assembled for all parameters at
once from C_jk = sum_l c_l b_j^(l) a_k^(l), c_l = dC/dy_l w_l.
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import PRNGKeyArray

from physlearning.core import Batch, Cost, Nonideality, StatelessRule
from physlearning.registry import register_rule
from physlearning.substrates.scattering import ScatteringNetwork, output_of, output_weight


def hardware(substrate: ScatteringNetwork, nonideality: Nonideality | None, seed: int) -> ScatteringNetwork:
    """The network as realised on hardware: fabrication/calibration errors frozen by ``seed``."""
    if nonideality is None:
        return substrate
    return nonideality.params(substrate, jax.random.PRNGKey(seed))


def measure(substrate: ScatteringNetwork, x, nonideality: Nonideality | None, seed: int, key: PRNGKeyArray):
    """Probe every input on the hardware: (a, b, s) with measurement noise if any."""
    hw = hardware(substrate, nonideality, seed)
    a, b, s = jax.vmap(hw.probe)(x)
    if nonideality is not None:
        ka, kb, ks = jax.random.split(key, 3)
        a = nonideality.measure(a, ka)
        b = a if substrate.reciprocal else nonideality.measure(b, kb)
        s = nonideality.measure(s, ks)
    return a, b, s


def hardware_outputs(substrate: ScatteringNetwork, x, nonideality: Nonideality | None = None, seed: int = 0,
                     key: PRNGKeyArray | None = None):
    """Outputs y (B, n_out) as the hardware reads them (for evaluation)."""
    hw = hardware(substrate, nonideality, seed)
    s = jax.vmap(lambda xi: hw.probe(xi)[2])(x)
    if nonideality is not None and key is not None:
        s = nonideality.measure(s, key)
    return output_of(s, substrate.readout)


def assemble(substrate: ScatteringNetwork, a, b, c) -> ScatteringNetwork:
    """Gradient pytree from probe fields a, b (B, N, n_out) and weights c (B, n_out)
    (c already holds the 1/B of the batch mean)."""
    cmat = jnp.einsum("bjl,bl,bkl->jk", b, c, a)
    mask = jnp.asarray(substrate.mask, substrate.coupling.dtype)
    g_det = -jnp.imag(jnp.diagonal(cmat)).astype(substrate.detuning.dtype)
    g_j = (-jnp.imag(cmat + cmat.T) * mask).astype(substrate.coupling.dtype)
    grads = eqx.tree_at(lambda s: (s.detuning, s.coupling), substrate.params(), (g_det, g_j))
    if substrate.coupling_im is not None:
        g_v = (-jnp.real(cmat - cmat.T) * mask).astype(substrate.coupling.dtype)
        grads = eqx.tree_at(lambda s: s.coupling_im, grads, g_v)
    return grads


class MeasurementRule(StatelessRule):
    """Gradient assembled only from measured fields a, b and S_ll (see module docstring).

    ``nonideality`` acts where the hardware suffers it: ``params`` (disorder, calibration
    error, extra loss; frozen by ``hardware_seed``) on the probed network, ``measure``
    (noise) on every measured amplitude. The rule does not know the disorder: it returns
    the gradient measured on the realised network.
    """

    nonideality: Nonideality | None = None
    hardware_seed: int = 0

    def estimate(self, substrate: ScatteringNetwork, batch: Batch, cost: Cost, key: PRNGKeyArray):
        x, t = batch
        a, b, s = measure(substrate, x, self.nonideality, self.hardware_seed, key)
        y = output_of(s, substrate.readout)
        losses, dcdy = jax.vmap(jax.value_and_grad(cost))(y, t)
        c = dcdy * output_weight(s, substrate.readout) / x.shape[0]
        grads = assemble(substrate, a, b, c)
        n_set = x.shape[0] * len(substrate.output_modes) * (1 if substrate.reciprocal else 2)
        aux = {"loss": jnp.mean(losses), "probe_settings": jnp.asarray(n_set, jnp.float32),
               "mode_readouts": jnp.asarray(n_set * substrate.n_modes, jnp.float32)}
        return grads, aux


class ScatteringAutodiff(StatelessRule):
    """Reference: reverse-mode autodiff of mean C(f(S_ll)) through the linear solve, with the
    same nonideality (the disorder is known to this model: a perfect digital twin)."""

    nonideality: Nonideality | None = None
    hardware_seed: int = 0

    def estimate(self, substrate: ScatteringNetwork, batch: Batch, cost: Cost, key: PRNGKeyArray):
        x, t = batch
        params, static = eqx.partition(substrate, substrate.param_filter())

        def loss_fn(p):
            sub = eqx.combine(p, static)
            y = hardware_outputs(sub, x, self.nonideality, self.hardware_seed, key)
            return jnp.mean(jax.vmap(cost)(y, t))

        loss, grads = jax.value_and_grad(loss_fn)(params)
        return grads, {"loss": loss}


def dense_reference_loss(substrate: ScatteringNetwork, x, t, cost: Cost):
    """Mean cost through the full S matrix (dense inverse), independent of ``probe``:
    the autodiff reference for gradient checks."""

    def one(xi, ti):
        s_full = substrate.scattering_matrix(xi)
        ports = [int(p) for p in jnp.flatnonzero(jnp.asarray(substrate.kappa_ext) > 0)]
        idx = jnp.array([ports.index(l) for l in substrate.output_modes])
        return cost(output_of(jnp.diagonal(s_full)[idx], substrate.readout), ti)

    return jnp.mean(jax.vmap(one)(x, t))


@dataclasses.dataclass(frozen=True)
class MeasurementSection:
    """Scattering measurement rule: one probe setting per output port (two with complex couplings), the
    gradient assembled from the measured mode fields and S_ll."""


@register_rule("measurement", MeasurementSection, (ScatteringNetwork,),
               "scattering networks: gradient from probe fields and S_ll (Wanjura & Marquardt)")
def _build_measurement(c: MeasurementSection) -> MeasurementRule:
    return MeasurementRule()
