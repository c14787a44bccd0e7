"""``core.ensemble``: independent machines trained side by side."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from physlearning.core.ensemble import Ensemble, PerMember
from physlearning.rules.autodiff import Autodiff
from physlearning.rules.echo import HamiltonianEcho, ModulusSquaredError
from physlearning.substrates.wave_lattice import KerrLattice


def _machines(n=3):
    rng = np.random.default_rng(0)
    return [KerrLattice(2, 2, J=1.0, g=0.5, kappa=0.4, dt=0.05, n_steps=20,
                        theta0=rng.normal(size=(2, 2)) + 1j * rng.normal(size=(2, 2))) for _ in range(n)]


def _batch(n, b=2):
    rng = np.random.default_rng(1)
    x = (rng.normal(size=(b, n, 1, 4)) + 0j)
    t = (rng.normal(size=(b, n, 1, 4)) + 1j * rng.normal(size=(b, n, 1, 4)))
    return jnp.asarray(x), jnp.asarray(t)


def test_stack_and_member_round_trip_and_predict_per_member():
    """Reference: each machine's own ``predict`` on its own slice of the batch."""
    ms = _machines()
    ens = Ensemble.stack(ms)
    x, _ = _batch(3)
    y = ens.predict(x)
    for i, m in enumerate(ms):
        np.testing.assert_allclose(np.asarray(ens.member(i).theta0), np.asarray(m.theta0))
        np.testing.assert_allclose(np.asarray(y[:, i]), np.asarray(m.predict(x[:, i])), atol=1e-6)


def test_per_member_grads_are_the_gradient_of_the_summed_loss():
    """Reference: ``jax.grad`` of the sum over machines of each machine's batch-mean cost, written here
    without the ensemble (machines do not interact, so each member's grad is its own)."""
    with jax.enable_x64(True):
        ms = _machines()
        ens = Ensemble.stack(ms)
        x, t = _batch(3)
        cost = ModulusSquaredError()
        grads, aux = PerMember(Autodiff()).estimate(ens, (x, t), cost, None)

        def total(thetas):
            out = 0.0
            for i, m in enumerate(ms):
                mi = eqx.tree_at(lambda q: q.theta0, m, thetas[i])
                out = out + jnp.mean(jax.vmap(cost)(mi.predict(x[:, i]), t[:, i]))
            return out

        ref = jax.grad(total)(jnp.stack([m.theta0 for m in ms]))
        np.testing.assert_allclose(np.asarray(grads.members.theta0), np.asarray(ref), rtol=1e-10, atol=1e-12)
        assert aux["member_loss"].shape == (3,)


def test_per_member_echo_counts_are_summed():
    """Counts of physical evolutions add over machines (3 machines x 2 inputs x 3 evolutions)."""
    with jax.enable_x64(True):
        ens = Ensemble.stack(_machines())
        x, t = _batch(3)
        _, aux = PerMember(HamiltonianEcho(eta=1e-4)).estimate(ens, (x, t), ModulusSquaredError(), None)
        assert float(aux["evolutions"]) == 3 * 2 * 3


def test_mismatched_machines_are_refused():
    a = KerrLattice(2, 2, J=1.0)
    with pytest.raises(ValueError, match="static fields"):
        Ensemble.stack([a, KerrLattice(2, 2, J=2.0)])
    with pytest.raises(ValueError, match="structure|shapes"):
        Ensemble.stack([a, KerrLattice(3, 2, J=1.0)])
    with pytest.raises(ValueError, match=r"\(B, 2, \.\.\.\)"):
        Ensemble.stack([a, a]).predict(jnp.zeros((1, 3, 1, 4)))
    with pytest.raises(ValueError, match="member index 5"):
        Ensemble.stack([a, a]).member(5)
