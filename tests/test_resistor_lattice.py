"""The linear resistor lattice, the worked example of a one-file substrate.

References: Kirchhoff's current law (the closed-form solve L_ff V_f = -L_fc V_c) for the equilibrium;
central finite differences at that closed-form equilibrium for every rule of its family."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import physlearning as pl
from physlearning import registry
from physlearning.runs import runner
from physlearning.substrates.resistor_lattice import ResistorLattice


def test_a_one_file_substrate_is_picked_up_everywhere():
    """The lattice registers itself: every rule of its family applies, the matrix has its rows (with
    a finite-difference column at its closed-form equilibrium) and the fit experiment accepts it."""
    assert "resistor_lattice" in registry.substrates()
    kinds = registry.rules_for(ResistorLattice)
    assert {"ep", "implicit_autodiff", "autodiff", "coupled", "finite_difference", "spsa"} <= set(kinds)
    from physlearning.checks import check_rows

    rows = {r["rule"]: r for r in check_rows(["resistor_lattice"])}
    assert rows["autodiff"]["fd_rel_error"] < 1e-8 and rows["implicit_autodiff"]["fd_cosine"] > 1 - 1e-12
    assert rows["ep_symmetric (beta=1e-3)"]["fd_cosine"] > 1 - 1e-9  # symmetric EP, beta = 1e-3: O(beta^2) bias
    exp, cfg = runner.load("fit", ["rule.kind=implicit_autodiff"])
    assert cfg.substrate.kind == "resistor_lattice"
    with pytest.raises(pl.ConfigError, match="rule.kind = 'nope'"):
        runner.load("fit", ["rule.kind=nope"])


def test_lattice_equilibrium_is_kirchhoff():
    """Reference: the closed-form solve of L_ff V_f = -L_fc V_c; the Newton relaxation agrees."""
    with jax.enable_x64(True):
        net = ResistorLattice(4, 5, jax.random.PRNGKey(3), dtype=jnp.float64,
                              equilibrium=pl.Equilibrium("newton", rtol=1e-12, atol=1e-12))
        x = jax.random.uniform(jax.random.PRNGKey(4), (3, 4), jnp.float64)
        np.testing.assert_allclose(net.predict(x), net.exact_predict(x), atol=1e-12)
        v = net.exact_state(x[0])  # Kirchhoff's current law at every free node
        full = net.voltages(v, x[0])
        e = net.edges
        current = np.zeros(20)
        np.add.at(current, e[:, 0], net.g * (full[e[:, 0]] - full[e[:, 1]]))
        np.add.at(current, e[:, 1], net.g * (full[e[:, 1]] - full[e[:, 0]]))
        np.testing.assert_allclose(current[net.free], 0, atol=1e-12)
