"""Hamiltonian echo backpropagation (rules/echo.py) on a small Kerr lattice.

References, each computed without the echo:
* BPTT: ``jax.grad`` of C = |Psi_out - target|^2 through ``KerrLattice.predict`` (reverse mode
  through the same split-step integrator), and the :class:`Autodiff` rule for the batch estimate;
* central finite differences of C in Re and Im of each Theta0 site (forward evaluations only).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from physlearning.rules.autodiff import Autodiff
from physlearning.rules.echo import HamiltonianEcho, ModulusSquaredError, echo_gradient
from physlearning.substrates.wave_lattice import KerrLattice

N_STEPS = 100  # T = 5 (at T = 10 this lattice is strongly chaotic: |G| ~ 230, centred error 1e-5 at eta = 1e-4)


def _setup(L=3, g=0.7):
    rng = np.random.default_rng(3)
    shape = (L, L)
    theta0 = 0.5 * (rng.normal(size=shape) + 1j * rng.normal(size=shape))
    lat = KerrLattice(L, 2, J=1.0, g=g, kappa=0.6, dt=0.05, n_steps=N_STEPS,
                      detuning=0.3 * rng.normal(size=shape), omega=0.5 * rng.normal(size=4), theta0=theta0)
    psi_in = jnp.asarray(0.5 * (rng.normal(size=4) + 1j * rng.normal(size=4)))
    target = jnp.asarray(0.5 * (rng.normal(size=4) + 1j * rng.normal(size=4)))
    return lat, psi_in, target


def _cost_grad(psi, target):
    return psi - target  # dC/dPsi* of C = |psi - target|^2 (the reference's HEB.dC)


def _cost_of_theta(lat, psi_in, target):
    def c(theta0):
        m = eqx.tree_at(lambda s: s.theta0, lat, theta0)
        d = m.predict(psi_in[None, None])[0, 0] - target
        return jnp.sum(d.real**2 + d.imag**2)
    return c


def _bptt(lat, psi_in, target):
    """G = dC/dRe + i dC/dIm (jax.grad gives its conjugate)."""
    return jnp.conj(jax.grad(_cost_of_theta(lat, psi_in, target))(lat.theta0))


def _rel(a, b):
    return float(jnp.linalg.norm((a - b).ravel()) / jnp.linalg.norm(b.ravel()))


def _cos(a, b):
    a, b = a.ravel(), b.ravel()
    ar = jnp.concatenate([a.real, a.imag])
    br = jnp.concatenate([b.real, b.imag])
    return float(ar @ br / (jnp.linalg.norm(ar) * jnp.linalg.norm(br)))


def _slope(xs, ys) -> float:
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def test_centred_echo_matches_bptt(x64):
    lat, psi_in, target = _setup()
    g, count = jax.jit(lambda: echo_gradient(lat, psi_in, target, _cost_grad, 1e-4))()
    ref = _bptt(lat, psi_in, target)
    assert g.shape == lat.theta0.shape and jnp.iscomplexobj(g)
    assert float(jnp.linalg.norm(ref)) > 1e-2  # a nontrivial gradient
    assert _rel(g, ref) <= 1e-6
    assert _cos(g, ref) >= 1 - 1e-9


def test_centred_echo_matches_finite_differences(x64):
    lat, psi_in, target = _setup()
    c = jax.jit(_cost_of_theta(lat, psi_in, target))
    h = 1e-5
    t0 = np.asarray(lat.theta0)
    fd = np.zeros(t0.shape, complex)
    for idx in np.ndindex(t0.shape):
        for unit, part in ((1.0, 1.0), (1j, 1j)):
            e = np.zeros(t0.shape, complex)
            e[idx] = h * unit
            fd[idx] += part * float(c(jnp.asarray(t0 + e)) - c(jnp.asarray(t0 - e))) / (2 * h)
    g, _ = echo_gradient(lat, psi_in, target, _cost_grad, 1e-4)
    assert _rel(g, jnp.asarray(fd)) <= 1e-6


def test_echo_error_orders(x64):
    """Simple echo: error O(eta); centred: O(eta^2) (above round-off at these eta)."""
    lat, psi_in, target = _setup()
    ref = _bptt(lat, psi_in, target)
    etas = [1e-2, 3e-3, 1e-3]
    f = jax.jit(lambda e, c: echo_gradient(lat, psi_in, target, _cost_grad, e, c)[0], static_argnums=1)
    e_simple = [_rel(f(e, False), ref) for e in etas]
    e_centred = [_rel(f(e, True), ref) for e in etas]
    assert min(e_centred) > 1e-11  # still above round-off
    assert _slope(etas, e_simple) == pytest.approx(1.0, abs=0.1)
    assert _slope(etas, e_centred) == pytest.approx(2.0, abs=0.1)


def test_evolution_count(x64):
    lat, psi_in, target = _setup()
    assert echo_gradient(lat, psi_in, target, _cost_grad, 1e-4, centred=True)[1] == 3
    assert echo_gradient(lat, psi_in, target, _cost_grad, 1e-4, centred=False)[1] == 2


def test_rule_matches_autodiff_on_a_batch(x64):
    lat, _, _ = _setup()
    rng = np.random.default_rng(7)
    x = jnp.asarray(0.5 * (rng.normal(size=(3, 1, 4)) + 1j * rng.normal(size=(3, 1, 4))))
    t = jnp.asarray(0.5 * (rng.normal(size=(3, 1, 4)) + 1j * rng.normal(size=(3, 1, 4))))
    cost = ModulusSquaredError()
    rule = HamiltonianEcho(eta=1e-4)
    grads, aux = jax.jit(lambda: rule.estimate(lat, (x, t), cost, None))()
    ref, ref_aux = Autodiff().estimate(lat, (x, t), cost, None)
    assert jax.tree_util.tree_structure(grads) == jax.tree_util.tree_structure(ref)
    assert _rel(grads.theta0, ref.theta0) <= 1e-6
    assert float(aux["loss"]) == pytest.approx(float(ref_aux["loss"]), rel=1e-12)
    assert float(aux["forward_passes"]) == 3
    with pytest.raises(ValueError, match="one sample"):
        rule.estimate(lat, (jnp.concatenate([x, x], axis=1), t), cost, None)


@pytest.mark.parametrize("loss", [100.0, 1.0])
def test_heb_steps_implied_gradient_first_order(x64, loss):
    """The paper's HEB steps against BPTT at a real Theta0, small eta (first-order regime): the simple
    step reads dC/dRe - m dC/dIm / (1 - e^-loss) (the echo's position shift), the averaged step dC/dRe
    (its two kicks, with the first decay's residual momentum carried into the second echo at finite
    loss); m small enough that the field barely moves between the averaged step's echoes."""
    from physlearning.rules.echo import heb_update, implied_gradient

    lat, psi_in, target = _setup()
    lat = eqx.tree_at(lambda q: q.theta0, lat, jnp.real(lat.theta0) + 0j)
    g = jnp.conj(jax.grad(_cost_of_theta(lat, psi_in, target))(lat.theta0))  # dC/dRe + i dC/dIm
    eta, m = 1e-6, 1.0
    th, _, n = heb_update(lat, psi_in, target, _cost_grad, eta, m=m, loss=loss, averaged=False)
    simple = implied_gradient(lat.theta0, th, eta, m=m, loss=loss, averaged=False)
    want = g.real - m * g.imag / (1 - np.exp(-loss))
    assert n == 2 and float(jnp.linalg.norm(simple - want) / jnp.linalg.norm(want)) < 1e-4
    th, _, n = heb_update(lat, psi_in, target, _cost_grad, eta, m=m, loss=loss, averaged=True)
    averaged = implied_gradient(lat.theta0, th, eta, m=m, loss=loss, averaged=True)
    assert n == 4 and float(jnp.linalg.norm(averaged - g.real) / jnp.linalg.norm(g.real)) < 1e-4
