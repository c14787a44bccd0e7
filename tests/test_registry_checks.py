"""The registry-driven gradient matrix: every registered substrate's float64 check case x every exact rule.

References: each substrate's reference rule (implicit autodiff / autodiff through its own solver) and
central finite differences of the loss at equilibria found by a different method
(:func:`physlearning.checks.independent_predict`: closed form, Newton <-> fixed point, BFGS + Newton
polish on the energy's Hessian, or the dense S matrix for scattering networks). Exact rules must
agree with both to the solver floor; EP with nudging beta has its own O(beta) (one-sided) and
O(beta^2) (symmetric) bias, the same against either reference.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import physlearning as pl
from physlearning import registry
from physlearning.checks import check_rows

KINDS = sorted(k for k, e in registry.substrates().items() if e.check_case is not None)


@pytest.fixture(scope="module")
def rows_by_kind() -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in check_rows(exact_only=True):
        out.setdefault(r["substrate"], []).append(r)
    return out


def test_new_substrates_are_registered():
    """Springs (linear, quartic), diode-resistor and scattering (real, complex couplings) networks have check
    cases; the scattering measurement rule applies to scattering networks only."""
    assert {"springs", "springs_quartic", "resistors", "scattering", "scattering_complex"} <= set(KINDS)
    from physlearning.substrates.scattering import ScatteringNetwork
    from physlearning.substrates.springs import SpringNetwork

    assert "measurement" in registry.rules_for(ScatteringNetwork)
    assert "measurement" not in registry.rules_for(SpringNetwork)


@pytest.mark.parametrize("kind", KINDS)
def test_exact_rules_match_reference_and_finite_differences(kind, rows_by_kind):
    """Exact rules: cosine > 1 - 1e-9 to the reference and relative error < 1e-6 to finite differences at
    independently found equilibria; EP (beta = 1e-3): symmetric within 50 beta^2, one-sided within 10 beta
    of both references (theory: O(beta^2), O(beta); the linear lattice's symmetric bias is 1.7e-5)."""
    beta = registry.rules()["ep"].check["beta"]
    rows = rows_by_kind[kind]
    assert rows and all(r["exact"] for r in rows)
    bad = []
    for r in rows:
        name, cos, fd = r["rule"], r["cosine"], r["fd_rel_error"]
        if name.startswith("ep_one_sided"):
            ok = cos > 1 - 1e-4 and fd < 10 * beta and r["rel_error"] < 10 * beta
        elif name.startswith("ep_symmetric"):
            ok = cos > 1 - 1e-9 and fd < 50 * beta**2 and abs(fd - r["rel_error"]) < 1e-6
        else:
            ok = cos > 1 - 1e-9 and fd < 1e-6
        if not ok:
            bad.append(f"{name}: cosine {cos!r}, rel_error {r['rel_error']:.3g}, fd_rel_error {fd:.3g}")
    assert not bad, f"{kind}: " + "; ".join(bad)


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_builds_from_its_default_section(kind):
    """``build(section(), n_in, n_out, key)`` with the check case's own input and output sizes returns the
    registered class, with finite float32 parameters and a forward map of the right output shape (traced
    by ``eval_shape``, not compiled: the gradient checks run every forward map)."""
    entry = registry.substrates()[kind]
    with jax.enable_x64(True):
        _, (x, t), _ = entry.check_case()
        x, n_out = np.asarray(x, np.float32), int(t.shape[-1])
    net = entry.build(entry.section(), x.shape[-1], n_out, jax.random.PRNGKey(0))
    assert isinstance(net, entry.cls)
    params = jax.tree_util.tree_leaves(net.params())
    assert params and all(p.dtype == jnp.float32 and np.all(np.isfinite(p)) for p in params)
    y = jax.eval_shape(lambda xx: net.predict(xx, None), jnp.asarray(x))
    assert y.shape == (len(x), n_out)


def test_springs_builder_names_what_it_needs():
    build = registry.substrates()["springs"].build
    section = registry.substrates()["springs"].section()
    with pytest.raises(pl.ConfigError, match="task.n_inputs = 4"):
        build(section, 3, 1, jax.random.PRNGKey(0))
    with pytest.raises(pl.ConfigError, match="eligible target edges"):
        build(section, 4, 100, jax.random.PRNGKey(0))


def test_scattering_dense_route_agrees_with_the_probe_solve():
    """``exact_predict`` (full S matrix, dense inverse) equals ``predict`` (Schur-eliminated probe solve)."""
    with jax.enable_x64(True):
        for kind in ("scattering", "scattering_complex"):
            net, (x, _), _ = registry.substrates()[kind].check_case()
            dense, probe = jax.jit(lambda xx, n=net: (n.exact_predict(xx), n.predict(xx)))(x)
            np.testing.assert_allclose(dense, probe, rtol=0, atol=1e-12)
