"""Chain of coupled nonlinear oscillators driven by a time-dependent input: the RHEL substrate.

Reference: G. Pourcel and M. Ernoult, "Learning long range dependencies through time reversal symmetry
breaking" (Recurrent Hamiltonian Echo Learning, RHEL), arXiv:2506.05259 (2025); their demo of coupled
harmonic oscillators (guillaumepourcel.github.io, ``rhel-demo``). Only the physics is taken from it.

N unit masses on a line (units: mass 1, time in units of 1/omega_0, every coefficient dimensionless),
positions q and momenta p, a scalar input u(t) driving every mass through a trainable input weight::

    H(q, p; theta, u) = sum_i p_i^2 / 2 + V(q; theta, u)
    V = sum_i (omega_i^2 q_i^2 / 2 + alpha q_i^4 / 4) + sum_{i<N} k_i (q_{i+1} - q_i)^2 / 2 - u sum_i b_i q_i

theta = (omega, k, b) the physical parameters (``k >= 0`` after ``project``); alpha (Duffing
nonlinearity) is a fixed constant. An optional linear readout (``n_out > 0``) maps a measured
*intensity* of each oscillator, m_i = mean over the last ``window`` samples of q_i^2 (a power
detector: phase-independent, so classes that differ only by the input's phase are not separable
from q itself), to outputs ``y = W m + c``; W, c are trainable but not part of H (the paper's HSSMs
likewise have non-Hamiltonian encoder/decoder layers). With ``n_out = 0`` the output is the position
trajectory q (T, N).

Integrator (``order = 2``): Stormer-Verlet / leapfrog (kick-drift-kick) with the input held
constant over one sample period of ``n_sub`` steps of length ``dt``::

    p <- p - (dt/2) dV/dq(q; u_n);   q <- q + dt p;   p <- p - (dt/2) dV/dq(q; u_n)

Each substep (kick, drift) is symplectic and its own time reverse: with S (q, p) = (q, -p),
``S K S = K^-1`` and ``S D S = D^-1``. Hence the forward pass over u_0 .. u_{T-1}, a momentum flip,
the same dynamics over the reversed input u_{T-1} .. u_0 and a second flip returns the initial state
to round-off (``time_reverse`` = momentum flip; :meth:`echo_identity`). The energy error of the
undriven system is O(dt^2) and bounded (no secular drift).

State: ``(q, p)`` two arrays of shape (N,). ``step(state, drive)`` advances one sample period under a
scalar drive; ``observe`` returns q; ``predict`` vmaps over a batch of series x (B, T).
"""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, PRNGKeyArray

from physlearning.core.substrate import ReversibleSubstrate
from physlearning.core.values import finite_real, integer

State = tuple[Array, Array]


class OscillatorChain(ReversibleSubstrate):
    """N coupled Duffing oscillators with a scalar drive (see the module docstring for H, the leapfrog
    step and the readout).

    Args: ``omega`` (N,) natural frequencies, ``k`` (N-1,) spring constants (>= 0), ``b`` (N,) input
    weights; ``alpha`` quartic coefficient (>= 0); ``dt`` (> 0) leapfrog step; ``n_sub`` (>= 1) steps
    per input sample; ``n_out`` outputs of the intensity readout (0: output the q trajectory);
    ``window`` samples averaged by the readout (>= 1); ``W`` (n_out, N), ``c`` (n_out,) the readout
    (default zero)."""

    omega: Array
    k: Array
    b: Array
    W: Array
    c: Array
    alpha: float = eqx.field(static=True)
    dt: float = eqx.field(static=True)
    n_sub: int = eqx.field(static=True)
    n_out: int = eqx.field(static=True)
    window: int = eqx.field(static=True)

    order: ClassVar[float | None] = 2

    def __init__(self, omega, k, b, *, alpha: float = 0.0, dt: float = 0.1, n_sub: int = 1, n_out: int = 0,
                 window: int = 1, W=None, c=None):
        rtype = jnp.zeros(()).dtype
        om = jnp.asarray(omega, rtype)
        if om.ndim != 1 or om.shape[0] < 1:
            raise ValueError(f"omega has shape {om.shape}: must be (N,) with N >= 1")
        n = om.shape[0]
        kk, bb = jnp.asarray(k, rtype), jnp.asarray(b, rtype)
        if kk.shape != (n - 1,):
            raise ValueError(f"k has shape {kk.shape}: must be ({n - 1},) (one spring per neighbour pair)")
        if bb.shape != (n,):
            raise ValueError(f"b has shape {bb.shape}: must be ({n},) (one input weight per oscillator)")
        for name, a in (("omega", om), ("k", kk), ("b", bb)):
            if not bool(jnp.all(jnp.isfinite(a))):
                raise ValueError(f"{name}: must be finite")
        if bool(jnp.any(kk < 0)):
            raise ValueError(f"k={np.asarray(kk)!r}: spring constants must be >= 0")
        self.omega, self.k, self.b = om, kk, bb
        self.alpha = finite_real("alpha", alpha, ge=0.0)
        self.dt = finite_real("dt", dt, gt=0.0)
        self.n_sub = integer("n_sub", n_sub, ge=1)
        self.n_out = integer("n_out", n_out, ge=0)
        self.window = integer("window", window, ge=1)
        w = jnp.zeros((self.n_out, n), rtype) if W is None else jnp.asarray(W, rtype)
        cc = jnp.zeros((self.n_out,), rtype) if c is None else jnp.asarray(c, rtype)
        if w.shape != (self.n_out, n):
            raise ValueError(f"W has shape {w.shape}: must be ({self.n_out}, {n})")
        if cc.shape != (self.n_out,):
            raise ValueError(f"c has shape {cc.shape}: must be ({self.n_out},)")
        self.W, self.c = w, cc

    @property
    def n(self) -> int:
        return self.omega.shape[0]

    def project(self) -> OscillatorChain:
        """Spring constants back to k >= 0."""
        return eqx.tree_at(lambda s: s.k, self, jnp.maximum(self.k, 0.0))

    # -- Hamiltonian ----------------------------------------------------------------------------
    def potential(self, q: Array, u: Array) -> Array:
        """V(q; theta, u) (scalar), see the module docstring."""
        on = 0.5 * self.omega**2 * q**2 + 0.25 * self.alpha * q**4
        dq = q[1:] - q[:-1]
        return jnp.sum(on) + 0.5 * jnp.sum(self.k * dq**2) - u * jnp.sum(self.b * q)

    def force(self, q: Array, u: Array) -> Array:
        """-dV/dq (N,)."""
        f = -(self.omega**2) * q - self.alpha * q**3 + u * self.b
        dq = q[1:] - q[:-1]
        s = self.k * dq  # tension of spring i between q_i and q_{i+1}
        return f.at[:-1].add(s).at[1:].add(-s)

    def energy(self, state: State, u: Array | float = 0.0) -> Array:
        """H(q, p; theta, u)."""
        q, p = state
        return 0.5 * jnp.sum(p**2) + self.potential(q, jnp.asarray(u, q.dtype))

    # -- dynamics -------------------------------------------------------------------------------
    def init_state(self) -> State:
        z = jnp.zeros_like(self.omega)
        return z, z

    def leapfrog(self, state: State, u: Array, n: int | None = None) -> State:
        """``n`` (default ``n_sub``) kick-drift-kick steps of length dt under constant input u."""
        h = 0.5 * self.dt

        def one(s, _):
            q, p = s
            p = p + h * self.force(q, u)
            q = q + self.dt * p
            p = p + h * self.force(q, u)
            return (q, p), None

        out, _ = jax.lax.scan(one, state, None, length=self.n_sub if n is None else n)
        return out

    def _drive(self, drive) -> Array:
        d = jnp.asarray(drive, self.omega.dtype)
        if d.shape != ():
            raise ValueError(f"drive has shape {d.shape}: must be () (one scalar input per sample)")
        return d

    def step(self, state: State, drive: Array, key: PRNGKeyArray | None = None) -> State:
        """One sample period (``n_sub`` leapfrog steps) under the scalar ``drive`` (deterministic)."""
        return self.leapfrog(state, self._drive(drive))

    def observe(self, state: State) -> Array:
        """The positions q (N,)."""
        return state[0]

    def time_reverse(self, state: State) -> State:
        """Momentum flip S (q, p) = (q, -p)."""
        q, p = state
        return q, -p

    def check_series(self, u: Array) -> Array:
        """One input series as an array (T,) (T >= 1), else a ValueError naming the shape."""
        u = jnp.asarray(u, self.omega.dtype)
        if u.ndim != 1 or u.shape[0] < 1:
            raise ValueError(f"input series has shape {u.shape}: must be (T,) with T >= 1 (one scalar drive per "
                             "sample; a batch is (B, T))")
        return u

    def run(self, u: Array, state0: State | None = None) -> tuple[State, Array]:
        """``(final state, q trajectory (T, N))`` over one series ``u`` (T,) from ``state0`` (default rest)."""
        u = self.check_series(u)
        s0 = self.init_state() if state0 is None else state0

        def body(s, ui):
            s = self.leapfrog(s, ui)
            return s, s[0]

        return jax.lax.scan(body, s0, u)

    def trajectory(self, drives: Array, key: PRNGKeyArray | None = None, state0: State | None = None) -> Array:
        return self.run(drives, state0)[1]

    def echo_identity(self, u: Array, state0: State | None = None) -> State:
        """S o evolve(reversed u) o S o evolve(u) applied to ``state0``: the identity up to round-off."""
        s, _ = self.run(u, state0)
        back, _ = self.run(u[::-1], self.time_reverse(s))
        return self.time_reverse(back)

    # -- readout --------------------------------------------------------------------------------
    def readout(self, qs: Array) -> Array:
        """Output of one sample from its q trajectory (T, N): ``qs`` itself when ``n_out = 0``, else
        ``W m + c`` with m = mean of q^2 over the last ``window`` samples."""
        if self.n_out == 0:
            return qs
        if qs.shape[0] < self.window:
            raise ValueError(f"series of length {qs.shape[0]} is shorter than the readout window {self.window}")
        m = jnp.mean(qs[-self.window:] ** 2, axis=0)
        return self.W @ m + self.c

    def predict(self, x: Array, key: PRNGKeyArray | None = None) -> Array:
        """Outputs for a batch of input series ``x`` (B, T) (deterministic, ``key`` unused)."""
        x = jnp.asarray(x)
        if x.ndim != 2:
            raise ValueError(f"x has shape {x.shape}: must be (B, T) (a batch of scalar input series)")
        return jax.vmap(lambda u: self.readout(self.run(u)[1]))(x)
