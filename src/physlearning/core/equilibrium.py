"""Equilibria of energy-based substrates: the free and nudged relaxations.

The physical system settles at a stationary point of the total energy

    F(s; theta, x, beta) = E(s; theta, x) + beta * C(readout(s), target),

(beta = 0: free phase; beta != 0: nudged phase; complex beta for holomorphic EP).
``Equilibrium.solve`` finds it with optimistix. Substrates with a relaxation map
``fixed_point_map`` Phi (the physical dynamics, e.g. u <- W rho(u) + b for the Hopfield
network, with the same nudge beta C) are solved for the equation of that dynamics,

    s - Phi(s) = 0,

* ``method="newton"``: root of s - Phi(s) by Newton's method (dense Jacobian
  1 - dPhi/ds, for small systems; complex states allowed), started from a loose physical
  relaxation (tolerance ``warm_start_tol``, at most ``warm_start_steps`` sweeps) so that it
  converges to the minimum the dynamics reaches: Newton alone is not downhill and, on
  random tanh networks (gain 1.5), stops at a saddle or another minimum in 26 of 40 solves;
* ``method="fixed_point"``: the damped iteration s <- (1 - d) s + d Phi(s).

Substrates without a map are solved for dF/ds = 0 by Newton's method (``"newton"``;
``"fixed_point"`` refuses them).

Why not dF/ds for every substrate: the state of the Hopfield network is a vector of
pre-activations u, and dF/du_i = rho'(u_i) (u_i - h_i(u)) (h the local field) vanishes
wherever a unit saturates (rho' -> 0), however far u_i is from h_i. Newton on dF/du lands
on such spurious points (|u| ~ 10^2 with sigmoid units, or NaN with tanh units), where
max|dF/du| ~ 1e-16 while the physical relaxation is nowhere near them;
tests/test_equilibrium_residual.py measures this on random networks.

The residual reported with every state means the same thing for both methods:

    residual = max_i |s_i - Phi(s)_i|     (Phi undamped, same nudge)  if the substrate has a map,
    residual = max_i |dF/ds_i|                                         otherwise,

a non-finite value (a diverged solve) being reported as +inf. It vanishes only at a
stationary point of F (both forms), and for a map it is in the units of the state (for the
Hopfield network, of the pre-activations), so compare it with the tolerances and with beta
times the state's sensitivity to the nudge. A stationary point need not be a minimum:
:func:`hessian_min_eigenvalue` / :func:`is_minimum` check the curvature, as a
diagnostic outside the training path.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import optimistix as optx
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, PyTree

from physlearning.core.cost import Cost
from physlearning.core.substrate import EnergySubstrate

# Complex states only arise in holomorphic EP, whose results are checked against the
# real-valued implicit gradient in tests/test_ep_gradients.py.
warnings.filterwarnings("ignore", message="Complex support in Optimistix")


def _is_complex(tree: PyTree) -> bool:
    return any(jnp.iscomplexobj(x) for x in jax.tree_util.tree_leaves(tree))


def cgrad(f: Callable[[PyTree], Array], x: PyTree) -> PyTree:
    """Gradient of a scalar function; holomorphic (complex) derivative for complex ``x``."""
    return jax.grad(f, holomorphic=_is_complex(x))(x)


def total_energy(substrate: EnergySubstrate, state: PyTree, x: Array, beta, target: Array, cost: Cost) -> Array:
    """F = E(state, x) + beta * C(readout(state), target) for one sample."""
    return substrate.energy(state, x) + beta * cost(substrate.readout(state), target)


def _max_abs(tree: PyTree) -> Array:
    return jnp.max(jnp.stack([jnp.max(jnp.abs(r)) for r in jax.tree_util.tree_leaves(tree)]))


def energy_gradient(substrate: EnergySubstrate, state: PyTree, x: Array, beta, target: Array, cost: Cost) -> PyTree:
    """dF/ds at ``state`` (holomorphic for complex states): the stationarity condition."""
    return cgrad(lambda s: total_energy(substrate, s, x, beta, target, cost), state)


def map_gap(substrate: EnergySubstrate, state: PyTree, x: Array, beta, target: Array, cost: Cost) -> PyTree:
    """s - Phi(s), Phi the substrate's undamped ``fixed_point_map`` with nudge beta C."""
    new = substrate.fixed_point_map(state, x, lambda y: beta * cost(y, target))
    return jax.tree_util.tree_map(lambda s, n: s - n, state, new)


def equilibrium_residual(substrate: EnergySubstrate, state: PyTree, x: Array, beta, target: Array, cost: Cost) -> Array:
    """The residual ``Equilibrium.solve`` reports (see the module docstring):
    max|s - Phi(s)| if the substrate has a ``fixed_point_map``, else max|dF/ds|; +inf if
    not finite."""
    f = energy_gradient if substrate.fixed_point_map is None else map_gap
    r = _max_abs(f(substrate, state, x, beta, target, cost))
    return jnp.where(jnp.isfinite(r), r, jnp.inf)


def hessian_min_eigenvalue(
    substrate: EnergySubstrate,
    state: PyTree,
    x: Array,
    beta: float = 0.0,
    target: Array | None = None,
    cost: Cost | None = None,
) -> Array:
    """Smallest eigenvalue of the Hessian d^2F/ds^2 at ``state`` (a scalar, for ``aux``).

    F = E + beta C (E alone when ``cost`` is None). Positive at a strict local minimum,
    negative at a saddle or maximum; ~0 along flat directions (for the Hopfield network in
    u, a saturated unit: d^2F/du^2 = J (d^2F/ds^2) J + O(dF/ds), J = diag rho'(u), so at a
    stationary point the inertia is that of the rates' Hessian, with eigenvalues shrunk by
    rho'). Dense (n x n, n = state size): a diagnostic for small states, not for the
    training path. Real states and beta only.
    """
    if _is_complex(state) or _is_complex(beta):
        raise ValueError("hessian_min_eigenvalue: a minimum is defined for real states and beta only")
    flat, unravel = ravel_pytree(state)
    if cost is None:
        f = lambda v: substrate.energy(unravel(v), x)
    else:
        f = lambda v: total_energy(substrate, unravel(v), x, beta, target, cost)
    h = jax.hessian(f)(flat)
    return jnp.min(jnp.linalg.eigvalsh(0.5 * (h + h.T)))


def is_minimum(
    substrate: EnergySubstrate,
    state: PyTree,
    x: Array,
    beta: float = 0.0,
    target: Array | None = None,
    cost: Cost | None = None,
    tol: float = 1e-8,
) -> Array:
    """True where :func:`hessian_min_eigenvalue` >= -tol (no direction of descent beyond
    ``tol``, in energy / state^2 units): a local minimum, possibly flat, not a saddle."""
    return hessian_min_eigenvalue(substrate, state, x, beta, target, cost) >= -tol


class Equilibrium(eqx.Module):
    """Relaxation settings: ``method`` ("newton" or "fixed_point"), tolerances, step cap.

    ``rtol``/``atol`` are optimistix's (on the state's change; the defaults suit float32,
    gradient checks in float64 use ~1e-12); ``damping`` in (0, 1]
    mixes the old and the mapped state in fixed-point relaxation. ``warm_start_tol`` and
    ``warm_start_steps`` set the physical relaxation that precedes Newton on substrates with
    a ``fixed_point_map`` (``warm_start_steps=0``: Newton from ``state0`` directly); it does
    not enter the gradient (implicit differentiation at the root).
    """

    method: str = eqx.field(static=True, default="newton")
    rtol: float = eqx.field(static=True, default=1e-6)
    atol: float = eqx.field(static=True, default=1e-6)
    max_steps: int = eqx.field(static=True, default=500)
    damping: float = eqx.field(static=True, default=1.0)
    warm_start_tol: float = eqx.field(static=True, default=1e-2)
    warm_start_steps: int = eqx.field(static=True, default=200)

    def __check_init__(self):
        if self.method not in ("newton", "fixed_point"):
            raise ValueError(f"equilibrium method {self.method!r}: allowed values are ['newton', 'fixed_point']")
        if not 0 < self.damping <= 1:
            raise ValueError(f"damping = {self.damping!r}: allowed values are 0 < damping <= 1")
        if self.warm_start_steps < 0:
            raise ValueError(f"warm_start_steps = {self.warm_start_steps!r}: allowed values are >= 0")
        if not self.warm_start_tol > 0:
            raise ValueError(f"warm_start_tol = {self.warm_start_tol!r}: allowed values are > 0")

    def _relax(self, substrate, state0, cost, args, tol: float, max_steps: int):
        """Damped fixed-point relaxation s <- (1 - d) s + d Phi(s) (optimistix solution)."""

        def relax(state, args):
            sub, xx, b, t = args
            new = sub.fixed_point_map(state, xx, lambda y: b * cost(y, t))
            return jax.tree_util.tree_map(lambda o, n: (1 - self.damping) * o + self.damping * n, state, new)

        solver = optx.FixedPointIteration(rtol=tol, atol=tol)
        return optx.fixed_point(relax, solver, state0, args=args, max_steps=max_steps, throw=False)

    def solve(
        self, substrate: EnergySubstrate, x: Array, beta, target: Array, cost: Cost, state0: PyTree | None = None
    ) -> tuple[PyTree, Array]:
        """Equilibrium state of one sample and its residual.

        The residual is max|s - Phi(s)| (undamped relaxation map, same nudge) for a
        substrate with a ``fixed_point_map``, else max|dF/ds|; +inf if the solve diverged.
        It vanishes only at a stationary point of F = E + beta C; with a map, Newton solves
        s - Phi(s) = 0 (see the module docstring for why not dF/ds = 0).

        Differentiable with respect to ``substrate`` by implicit differentiation
        (optimistix's ``ImplicitAdjoint``, through the root of s - Phi(s) or dF/ds, or the
        fixed point), which the autodiff reference rule uses.
        """
        if state0 is None:
            state0 = substrate.init_state(x)
        if _is_complex(beta) and not _is_complex(state0):
            state0 = jax.tree_util.tree_map(lambda s: s.astype(jnp.result_type(s.dtype, jnp.complex64)), state0)
        args = (substrate, x, beta, target)
        has_map = substrate.fixed_point_map is not None

        if self.method == "newton":
            if has_map and self.warm_start_steps > 0:
                # physical relaxation into the basin first: Newton alone may land on a saddle
                # or another minimum (tests/test_equilibrium_residual.py, tanh networks)
                warm = self._relax(substrate, state0, cost, args, self.warm_start_tol, self.warm_start_steps)
                state0 = jax.lax.stop_gradient(warm.value)
            equation = map_gap if has_map else energy_gradient
            fn = lambda state, args: equation(args[0], state, args[1], args[2], args[3], cost)
            solver = optx.Newton(rtol=self.rtol, atol=self.atol)
            sol = optx.root_find(fn, solver, state0, args=args, max_steps=self.max_steps, throw=False)
        else:
            if not has_map:
                raise ValueError(
                    f"equilibrium method 'fixed_point': {type(substrate).__name__} has no relaxation map "
                    "(fixed_point_map); use method 'newton'"
                )
            sol = self._relax(substrate, state0, cost, args, self.rtol, self.max_steps)
        state = sol.value
        sub, xx, b, t = jax.lax.stop_gradient(args)
        residual = equilibrium_residual(sub, jax.lax.stop_gradient(state), xx, b, t, cost)
        return state, residual
