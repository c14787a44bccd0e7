"""Substrate families: what a simulated physical system offers to learning rules.

Abstract classes here, final concrete ones in ``physlearning.substrates``. A substrate is an
``eqx.Module`` whose trainable fields are its physical parameters. The families:

* :class:`Substrate`: every substrate. ``predict(x, key)`` is its forward map (a batch of
  inputs to a batch of outputs, as the device would produce them); ``params()`` the trainable
  part; ``project()`` maps parameters back into their physical domain after an update.
  ``design()`` / ``realised()`` / ``measure()`` are the hooks of :class:`~physlearning.core.Hardware`
  (identity here).
* :class:`FixedPointSubstrate`: the state settles at a zero of a vector field
  ``vector_field(state, x, nudge)`` (nonreciprocal networks: no energy needed).
* :class:`EnergySubstrate`: a fixed-point substrate whose vector field is derived once from an
  energy, ``vector_field = -dF/dstate`` with ``F = E + nudge(readout(state))`` (Hopfield,
  springs, resistors); relaxed by its ``equilibrium`` solver.
* :class:`DynamicalSubstrate`: a state stepped in time, ``step(state, drive, key)`` (reservoirs,
  Langevin units, wave lattices); ``trajectory`` scans it once with ``lax.scan``; the
  integrator declares its ``order`` (global error ~ dt^order) and a test fits it.
* :class:`ReversibleSubstrate`: a dynamical substrate with a time-reversal operation
  ``time_reverse(state)`` (Hamiltonian echo learning).
* :class:`SpectrumSubstrate`: a Hamiltonian ``hamiltonian(x)`` whose ground state is found by a
  named eigensolver (quantum spins): ``"dense"`` (``eigh``, small systems only) or
  ``"lobpcg"`` (matrix-free).
"""

from __future__ import annotations

import abc
import copy
from collections.abc import Callable
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, PRNGKeyArray, PyTree

Batch = tuple[Array, Array]
"""``(x, target)`` with a leading batch axis on both."""

Nudge = Callable[[Array], Array]
"""A nudging energy of the output, ``y -> beta * C(y, target)`` (scalar, possibly complex)."""


def is_param(leaf: Any) -> bool:
    """Trainable leaves: inexact *jax* arrays (numpy arrays are treated as constants)."""
    return isinstance(leaf, jax.Array) and jnp.issubdtype(leaf.dtype, jnp.inexact)


class Substrate(eqx.Module):
    """A simulated physical system with trainable physical parameters (abstract)."""

    def param_filter(self) -> PyTree[bool]:
        """Boolean pytree (same structure) marking trainable leaves."""
        return jax.tree_util.tree_map(is_param, self)

    def only_fields(self, flags: dict[str, bool]) -> PyTree[bool]:
        """A ``param_filter`` marking exactly the named fields (``{name: trainable}``); for
        substrates holding numpy constants, which become tracers under ``eqx.filter_jit``
        and would otherwise count as trainable."""
        names = tuple(flags)
        return eqx.tree_at(
            lambda s: tuple(getattr(s, n) for n in names),
            jax.tree_util.tree_map(lambda _: False, self),
            tuple(flags[n] for n in names),
        )

    def params(self) -> PyTree:
        """The trainable part, ``None`` elsewhere (what rules return gradients for)."""
        return eqx.filter(self, self.param_filter())

    def project(self) -> Substrate:
        """Map parameters back to their physical domain after an update (e.g. k >= 0)."""
        return self

    @abc.abstractmethod
    def predict(self, x: Array, key: PRNGKeyArray | None = None) -> Array:
        """Forward map: a batch of inputs (leading axis) to the batch of outputs the device
        produces (``key`` for its noise, if any)."""

    # -- Hardware hooks (the identity on a bare substrate) -------------------------------------
    def design(self) -> Substrate:
        """The trainable design (what the optimiser updates): the substrate itself."""
        return self

    def with_design(self, design: Substrate) -> Substrate:
        """This model with its design replaced (a bare substrate is its design)."""
        return design

    def realised(self) -> Substrate:
        """The substrate as realised on hardware (disorder, quantisation): itself."""
        return self

    def measure(self, value: PyTree, key: PRNGKeyArray | None) -> PyTree:
        """A measured quantity as read out (measurement noise): unchanged."""
        return value


class FixedPointSubstrate(Substrate):
    """A state that settles where ``vector_field(state, x, nudge) = 0`` (abstract).

    ``x`` is one sample's input; ``nudge`` adds an output energy (``beta * C``) or is None."""

    @abc.abstractmethod
    def init_state(self, x: Array) -> PyTree:
        """Initial state of the free relaxation for input ``x`` (one sample)."""

    @abc.abstractmethod
    def readout(self, state: PyTree) -> Array:
        """Output read from the state (one sample)."""

    @abc.abstractmethod
    def vector_field(self, state: PyTree, x: Array, nudge: Nudge | None = None) -> PyTree:
        """d state / dt of the relaxation (one sample); zero at an equilibrium."""


class EnergySubstrate(FixedPointSubstrate):
    """A substrate whose state settles at a minimum of an energy E(state; params, x) (abstract).

    Subclasses give ``energy`` for one sample, ``init_state`` and ``readout``; the vector field
    ``-dF/dstate`` (``F = E + nudge(readout)``) is derived here once. ``equilibrium`` (a static
    :class:`~physlearning.core.equilibrium.Equilibrium`, or None for the default solver) is how
    :meth:`predict` and the rules relax it. EP nudges with ``beta * cost``.
    """

    equilibrium: Any = eqx.field(static=True, default=None, kw_only=True)

    @abc.abstractmethod
    def energy(self, state: PyTree, x: Array) -> Array:
        """Energy of one sample (scalar), in the substrate's energy unit."""

    fixed_point_map: ClassVar[Any] = None
    """Optional relaxation map ``(state, x, nudge) -> state`` whose fixed points are the
    stationary points of ``E + nudge(readout(state))`` (``nudge(y) = beta * C(y, target)``,
    possibly complex). Substrates without one (None) are relaxed by Newton's method on
    ``dF/dstate``; ``Equilibrium(method="fixed_point")`` refuses them with a clear error."""

    def vector_field(self, state: PyTree, x: Array, nudge: Nudge | None = None) -> PyTree:
        def f(s):
            e = self.energy(s, x)
            return e if nudge is None else e + nudge(self.readout(s))

        complex_state = any(jnp.iscomplexobj(v) for v in jax.tree_util.tree_leaves(state))
        return jax.tree_util.tree_map(jnp.negative, jax.grad(f, holomorphic=complex_state)(state))

    def solver(self):
        """The relaxation solver: ``equilibrium``, or the default one (fixed-point relaxation when
        the substrate has a relaxation map, else Newton)."""
        from physlearning.core.equilibrium import Equilibrium  # imported here: equilibrium imports this module

        if self.equilibrium is not None:
            return self.equilibrium
        return Equilibrium(method="newton" if self.fixed_point_map is None else "fixed_point")

    def with_equilibrium(self, solver) -> EnergySubstrate:
        """This substrate relaxed by ``solver`` instead (a static field: the parameters are shared)."""
        new = copy.copy(self)
        object.__setattr__(new, "equilibrium", solver)  # frozen module; nothing else is derived from it
        return new

    def predict(self, x: Array, key: PRNGKeyArray | None = None) -> Array:
        """Outputs at the free equilibrium, batched over the leading axis of ``x``."""
        solver = self.solver()
        dummy = jnp.zeros(())

        def one(xi):
            s, _ = solver.solve(self, xi, 0.0, dummy, _zero_cost)
            return self.readout(s)

        return jax.vmap(one)(x)


def _zero_cost(y: Array, target: Array) -> Array:
    return jnp.zeros((), jnp.real(y).dtype)


class DynamicalSubstrate(Substrate):
    """A state stepped in time by ``step(state, drive, key)`` (abstract).

    ``order`` is the integrator's global order (error ~ dt^order; ``None`` when the step is exact
    or not an integrator); ``trajectory`` scans ``step`` over a drive series once."""

    order: ClassVar[float | None] = None

    @abc.abstractmethod
    def init_state(self) -> PyTree:
        """State before the first drive."""

    @abc.abstractmethod
    def step(self, state: PyTree, drive: Array, key: PRNGKeyArray | None) -> PyTree:
        """Advance one sample period under ``drive``."""

    def observe(self, state: PyTree) -> Array:
        """What is measured of a state (default: the state)."""
        return state

    def trajectory(self, drives: Array, key: PRNGKeyArray | None = None, state0: PyTree | None = None) -> Array:
        """Observed states after each drive (T, ...) from one ``lax.scan``."""
        s0 = self.init_state() if state0 is None else state0
        keys = None if key is None else jax.random.split(key, drives.shape[0])

        def body(s, inp):
            d, k = inp
            s = self.step(s, d, k)
            return s, self.observe(s)

        _, ys = jax.lax.scan(body, s0, (drives, keys))
        return ys

    def predict(self, x: Array, key: PRNGKeyArray | None = None) -> Array:
        """Observed trajectories for a batch of drive series ``x`` (B, T, ...)."""
        if key is None:
            return jax.vmap(lambda xi: self.trajectory(xi))(x)
        return jax.vmap(self.trajectory)(x, jax.random.split(key, x.shape[0]))


class ReversibleSubstrate(DynamicalSubstrate):
    """A dynamical substrate with a time-reversal operation (abstract): evolving, reversing,
    evolving for the same time and reversing again returns the initial state."""

    @abc.abstractmethod
    def time_reverse(self, state: PyTree) -> PyTree:
        """The time-reversed state (e.g. complex conjugation of a wave field, p -> -p)."""


EIGENSOLVERS = ("dense", "lobpcg")
DENSE_LIMIT = 4096
"""largest Hilbert-space dimension the dense eigensolver accepts (its cost is O(d^3), memory d^2)."""


def ground_state(h: Array | Callable[[Array], Array], dim: int, method: str, key: PRNGKeyArray | None = None,
                 tol: float = 1e-10, max_iters: int = 500) -> tuple[Array, Array]:
    """Lowest eigenpair ``(E0, psi0)`` of a Hermitian operator.

    ``method="dense"``: ``jnp.linalg.eigh`` of the matrix ``h`` (d <= ``DENSE_LIMIT``);
    ``"lobpcg"``: matrix-free LOBPCG (``jax.experimental.sparse.linalg.lobpcg_standard``) on the
    matvec ``h`` (a callable ``v -> H v`` or a matrix); it finds the *largest* eigenvalue of -H."""
    if method not in EIGENSOLVERS:
        raise ValueError(f"eigensolver {method!r}: allowed values are {list(EIGENSOLVERS)}")
    if method == "dense":
        if callable(h):
            raise ValueError("eigensolver 'dense' needs the Hamiltonian as a matrix, got a matvec")
        if dim > DENSE_LIMIT:
            raise ValueError(f"eigensolver 'dense': dimension {dim} > {DENSE_LIMIT}; use 'lobpcg'")
        w, v = jnp.linalg.eigh(h)
        return w[0], v[:, 0]
    from jax.experimental.sparse.linalg import lobpcg_standard

    matvec = h if callable(h) else (lambda v: h @ v)
    k = jax.random.PRNGKey(0) if key is None else key
    x0 = jax.random.normal(k, (dim, 1))
    theta, u, _ = lobpcg_standard(lambda v: -matvec(v), x0, m=max_iters, tol=tol)
    return -theta[0], u[:, 0]


class SpectrumSubstrate(Substrate):
    """A Hamiltonian H(x; params) whose ground state carries the computation (abstract).

    ``eigensolver`` names the method (:data:`EIGENSOLVERS`); never dense ``eigh`` past
    :data:`DENSE_LIMIT` states."""

    eigensolver: str = eqx.field(static=True, default="dense", kw_only=True)

    @abc.abstractmethod
    def hamiltonian(self, x: Array) -> Array:
        """H for one input (a Hermitian matrix, or for 'lobpcg' a matrix whose matvec is used)."""

    def ground(self, x: Array) -> tuple[Array, Array]:
        """Ground-state energy and vector for one input."""
        h = self.hamiltonian(x)
        return ground_state(h, h.shape[-1], self.eigensolver)
