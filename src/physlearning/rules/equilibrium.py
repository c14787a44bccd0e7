"""Equilibria of energy-based substrates: the free and nudged relaxations.

The physical system settles at a stationary point of the total energy

    F(s; theta, x, beta) = E(s; theta, x) + beta * C(readout(s), target),

(beta = 0: free phase; beta != 0: nudged phase; complex beta for holomorphic EP).
``Equilibrium.solve`` finds it with optimistix:

* ``method="newton"``: root of dF/ds by Newton's method (generic, any substrate,
  complex states allowed; dense Jacobian, for small systems);
* ``method="fixed_point"``: fixed point of the substrate's relaxation map
  ``fixed_point_map`` (the physical dynamics, e.g. u <- W rho(u) + b), with damping.

The residual max|dF/ds| at the returned state is reported so users can check that the
equilibrium is tight compared with beta.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import optimistix as optx
from jaxtyping import Array, PyTree

from physlearning.core import Cost, EnergySubstrate

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


class Equilibrium(eqx.Module):
    """Relaxation settings: ``method`` ("newton" or "fixed_point"), tolerances, step cap.

    ``rtol``/``atol`` are optimistix's (on the state's change; the defaults suit float32,
    gradient checks in float64 use ~1e-12); ``damping`` in (0, 1]
    mixes the old and the mapped state in fixed-point relaxation.
    """

    method: str = eqx.field(static=True, default="newton")
    rtol: float = eqx.field(static=True, default=1e-6)
    atol: float = eqx.field(static=True, default=1e-6)
    max_steps: int = eqx.field(static=True, default=500)
    damping: float = eqx.field(static=True, default=1.0)

    def __check_init__(self):
        if self.method not in ("newton", "fixed_point"):
            raise ValueError(f"equilibrium method {self.method!r}: allowed values are ['newton', 'fixed_point']")
        if not 0 < self.damping <= 1:
            raise ValueError(f"damping = {self.damping!r}: allowed values are 0 < damping <= 1")

    def solve(
        self, substrate: EnergySubstrate, x: Array, beta, target: Array, cost: Cost, state0: PyTree | None = None
    ) -> tuple[PyTree, Array]:
        """Equilibrium state of one sample and its residual max|dF/ds|.

        Differentiable with respect to ``substrate`` by implicit differentiation
        (optimistix's ``ImplicitAdjoint``), which the autodiff reference rule uses.
        """
        if state0 is None:
            state0 = substrate.init_state(x)
        if _is_complex(beta) and not _is_complex(state0):
            state0 = jax.tree_util.tree_map(lambda s: s.astype(jnp.result_type(s.dtype, jnp.complex64)), state0)
        args = (substrate, x, beta, target)

        def dF(state, args):
            sub, xx, b, t = args
            return cgrad(lambda s: total_energy(sub, s, xx, b, t, cost), state)

        common = {"args": args, "max_steps": self.max_steps, "throw": False}
        if self.method == "newton":
            sol = optx.root_find(dF, optx.Newton(rtol=self.rtol, atol=self.atol), state0, **common)
        else:
            if substrate.fixed_point_map is None:
                raise ValueError(
                    f"equilibrium method 'fixed_point': {type(substrate).__name__} has no relaxation map "
                    "(fixed_point_map); use method 'newton'"
                )

            def relax(state, args):
                sub, xx, b, t = args
                new = sub.fixed_point_map(state, xx, lambda y: b * cost(y, t))
                return jax.tree_util.tree_map(lambda o, n: (1 - self.damping) * o + self.damping * n, state, new)

            solver = optx.FixedPointIteration(rtol=self.rtol, atol=self.atol)
            sol = optx.fixed_point(relax, solver, state0, **common)
        state = sol.value
        res = dF(jax.lax.stop_gradient(state), jax.lax.stop_gradient(args))
        residual = jnp.max(jnp.stack([jnp.max(jnp.abs(r)) for r in jax.tree_util.tree_leaves(res)]))
        return state, residual
