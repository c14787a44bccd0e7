"""Denoising diffusion probabilistic model (Ho, Jain, Abbeel 2020) with a small MLP denoiser.

Forward process q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I) with a linear schedule
beta_t from ``beta_1`` to ``beta_T``, abar_t = prod_{s<=t} (1 - beta_s). The denoiser
eps_phi(x_t, t) (an ``equinox`` MLP fed x_t and a sinusoidal embedding of t) is trained on the
simplified loss E |eps - eps_phi(sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, t)|^2 (the learning
rule :class:`DenoisingScoreMatching`, t and eps drawn afresh each step) by the package
:class:`~physlearning.train.trainer.Trainer` with Adam and a cosine decay. Sampling is ancestral:
x_{t-1} = (x_t - beta_t / sqrt(1 - abar_t) eps_phi) / sqrt(1 - beta_t) + sqrt(beta_t) z
(sigma_t^2 = beta_t), from x_T ~ N(0, I), as one ``lax.scan``. With a condition c
(e.g. a cluster code) the denoiser is eps_phi(x_t, t, c), fed [x_t, embed(t), c].

Ho et al. use T = 1000 with beta from 1e-4 to 0.02; with fewer steps we keep beta_1 = 1e-4 and
scale beta_T = 0.02 * 1000 / T (capped at 0.5 for T < 40) so that the total noise
sum_t beta_t is about the same.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, PRNGKeyArray

from physlearning.core import Batch, Cost, StatelessRule, Substrate
from physlearning.train.batches import ArrayBatches, Unlabelled
from physlearning.train.optim import OptimizerSpec
from physlearning.train.trainer import Trainer

EMBED = 16


def timestep_embedding(t: Array, n_steps: int, dim: int = EMBED) -> Array:
    """Sinusoidal embedding (Vaswani et al.) of integer step t in [0, n_steps)."""
    half = dim // 2
    freqs = jnp.exp(-math.log(1000.0) * jnp.arange(half) / half)
    a = (t / n_steps * 1000.0)[..., None] * freqs
    return jnp.concatenate([jnp.sin(a), jnp.cos(a)], -1)


class Denoiser(Substrate):
    """eps_phi(x, t[, c]): MLP on [x, embed(t)[, c]] with SiLU activations.

    A :class:`~physlearning.core.Substrate` so the Trainer fits it: its parameters are the MLP's
    weights and biases (its inexact jax arrays). Its forward map (:meth:`predict`) is the generator's:
    noise x_T to a sample by the reverse process; conditional models draw with :func:`sample`."""

    mlp: eqx.nn.MLP
    n_steps: int = eqx.field(static=True)
    cond_dim: int = eqx.field(static=True, default=0)

    def __init__(self, dim: int, width: int, depth: int, n_steps: int, key: PRNGKeyArray, cond_dim: int = 0):
        self.mlp = eqx.nn.MLP(dim + EMBED + cond_dim, dim, width, depth, activation=jax.nn.silu, key=key)
        self.n_steps = n_steps
        self.cond_dim = cond_dim

    def __call__(self, x: Array, t: Array, c: Array | None = None) -> Array:
        parts = [x, timestep_embedding(t, self.n_steps)] + ([] if c is None else [c])
        return self.mlp(jnp.concatenate(parts))

    def predict(self, x: Array, key: PRNGKeyArray | None = None) -> Array:
        """The generator's forward map: noise ``x`` = x_T (n, dim) to samples x_0 by ancestral sampling
        (unconditional models; ``key`` draws the per-step noise, None runs the mean path)."""
        if self.cond_dim:
            raise ValueError(f"Denoiser.predict: this model is conditioned (cond_dim = {self.cond_dim}); "
                             "draw its samples with ddpm.sample(model, key, n, dim, cond)")
        zs = (jnp.zeros((self.n_steps,) + x.shape, x.dtype) if key is None
              else jax.random.normal(key, (self.n_steps,) + x.shape, x.dtype))
        return reverse_process(self, x, zs, None)


class EpsMSE(Cost):
    """Per-sample noise-prediction error ``mean((eps_hat - eps)**2)`` over the data dimensions
    (the batch mean of it is Ho et al.'s simplified loss)."""

    def __call__(self, y: Array, target: Array) -> Array:
        return jnp.mean((y - target) ** 2)


class DenoisingScoreMatching(StatelessRule):
    """The DDPM learning rule (Ho et al. 2020, eps-prediction): per step draw t ~ U{0..T-1} and
    eps ~ N(0, I) for every sample of the batch from ``key``, form
    x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, and return the exact gradient (reverse-mode
    autodiff) of the batch mean of ``cost(eps_phi(x_t, t[, c]), eps)`` (:class:`EpsMSE`: the
    simplified loss). The batch is ``(x_0, c)``: the 'target' slot carries the condition (None:
    unconditional)."""

    n_steps: int = eqx.field(static=True)

    def estimate(self, substrate: Denoiser, batch: Batch, cost: Cost, key: PRNGKeyArray):
        x0, c = batch
        kt, ke = jax.random.split(key)
        t = jax.random.randint(kt, (x0.shape[0],), 0, self.n_steps)
        eps = jax.random.normal(ke, x0.shape, x0.dtype)
        a = schedule(self.n_steps)[1][t][:, None].astype(x0.dtype)
        xt = jnp.sqrt(a) * x0 + jnp.sqrt(1 - a) * eps
        design = substrate.design()
        params, static = eqx.partition(design, design.param_filter())

        def loss_fn(p):
            m = substrate.with_design(eqx.combine(p, static))
            return jnp.mean(jax.vmap(cost)(jax.vmap(m)(xt, t, c), eps))

        loss, grads = jax.value_and_grad(loss_fn)(params)
        return grads, {"loss": loss}


def n_parameters(model: eqx.Module) -> int:
    return int(sum(x.size for x in jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_inexact_array))))


def width_for(dim: int, target: int, depth: int = 2, cond_dim: int = 0) -> int:
    """MLP width whose parameter count is closest to ``target`` (at least 8)."""
    def count(w):
        return (dim + EMBED + cond_dim) * w + w + (depth - 1) * (w * w + w) + w * dim + dim
    return max(8, min(range(8, 4097), key=lambda w: abs(count(w) - target)))


def schedule(n_steps: int, beta_1: float = 1e-4) -> tuple[Array, Array]:
    """(beta_t, abar_t) of the linear schedule, t = 0..n_steps-1."""
    betas = jnp.linspace(beta_1, min(0.02 * 1000 / n_steps, 0.5), n_steps)
    return betas, jnp.cumprod(1 - betas)


def train(x: np.ndarray, key: PRNGKeyArray, *, n_steps: int = 200, width: int = 64, depth: int = 2,
          train_steps: int = 2000, batch_size: int = 256, lr: float = 1e-3,
          cond: np.ndarray | None = None) -> tuple[Denoiser, list[float]]:
    """Fit a DDPM to data ``x`` (n, d), conditioned on ``cond`` (n, c) when given; returns the
    denoiser and the mean training loss of every epoch.

    The :class:`~physlearning.train.trainer.Trainer` runs :class:`DenoisingScoreMatching` with Adam
    (cosine decay to 0 over the run) on shuffled mini-batches: an epoch is ``n // batch_size``
    steps and there are ``ceil(train_steps / steps_per_epoch)`` epochs, so the run takes at least
    ``train_steps`` steps (up to one epoch more). ``key`` seeds the initial weights and the
    Trainer's batch and noise streams."""
    km, ks = jax.random.split(key)
    model = Denoiser(x.shape[1], width, depth, n_steps, km, cond_dim=0 if cond is None else cond.shape[1])
    # callers pass a fixed batch size (256) for data sets of any size: with fewer samples every
    # step uses the whole (shuffled) data set
    batch_size = min(batch_size, len(x))
    source = Unlabelled(x, batch_size) if cond is None else ArrayBatches(x, cond, batch_size)
    epochs = math.ceil(train_steps / source.steps_per_epoch)
    seed = int(jax.random.randint(ks, (), 0, 2**31 - 1))
    trainer = Trainer(DenoisingScoreMatching(n_steps), EpsMSE(), OptimizerSpec("adam", lr, "cosine"), epochs,
                      seed=seed, select="final", progress=False, desc="ddpm", name="ddpm")
    res = trainer.fit(model, source)
    return res.model, [r["train_loss"] for r in res.history]


@eqx.filter_jit
def sample(model: Denoiser, key: PRNGKeyArray, n: int, dim: int, cond: Array | None = None) -> Array:
    """Ancestral sampling of n points (conditioned on ``cond`` (n, c) for a conditional model)."""
    if cond is not None and cond.shape[0] != n:
        raise ValueError(f"ddpm.sample: cond has {cond.shape[0]} rows; allowed: n = {n}")
    k0, k1 = jax.random.split(key)
    return reverse_process(model, jax.random.normal(k0, (n, dim)), jax.random.normal(k1, (model.n_steps, n, dim)),
                           cond)


def reverse_process(model: Denoiser, xT: Array, zs: Array, cond: Array | None) -> Array:
    """Ancestral steps x_{t-1} = (x_t - beta_t / sqrt(1 - abar_t) eps(x_t, t)) / sqrt(1 - beta_t) + sqrt(beta_t) z_t
    from t = T-1 down to 0 (no noise at t = 0), with ``zs`` (T, n, dim) the per-step noise."""
    betas, abar = schedule(model.n_steps)
    n = xT.shape[0]

    def step(x, inp):
        t, z = inp
        eps = jax.vmap(model)(x, jnp.full((n,), t), cond)
        mean = (x - betas[t] / jnp.sqrt(1 - abar[t]) * eps) / jnp.sqrt(1 - betas[t])
        return mean + jnp.where(t > 0, jnp.sqrt(betas[t]), 0.0) * z, None

    x, _ = jax.lax.scan(step, xT, (jnp.arange(model.n_steps - 1, -1, -1), zs))
    return x
