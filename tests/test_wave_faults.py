"""``substrates.wave_faults``: hardware faults of the Kerr-lattice echo machine, through ``Hardware``."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from physlearning.core import Hardware
from physlearning.core.hardware import GaussianMeasurementNoise
from physlearning.rules.echo import HamiltonianEcho, HebStep, ModulusSquaredError
from physlearning.substrates.wave_faults import FaultyKerrLattice, WaveFaults
from physlearning.substrates.wave_lattice import KerrLattice


def _lattice():
    rng = np.random.default_rng(3)
    return KerrLattice(3, 2, J=1.0, g=0.7, kappa=0.6, dt=0.05, n_steps=60,
                       theta0=rng.normal(size=(3, 3)) + 0.2j * rng.normal(size=(3, 3)))


def _batch():
    rng = np.random.default_rng(4)
    x = jnp.asarray(rng.normal(size=(3, 1, 4)) + 0j)
    t = jnp.asarray(rng.normal(size=(3, 1, 4)) + 1j * rng.normal(size=(3, 1, 4)))
    return x, t


def _grad(model, rule, key=None):
    return rule.estimate(model, _batch(), ModulusSquaredError(), key)[0].theta0


@pytest.fixture(autouse=True)
def _x64():
    with jax.enable_x64(True):
        yield


def test_zero_faults_are_the_ideal_machine():
    """Reference: the bare lattice. Every fault level 0 gives its gradient and outputs exactly."""
    lat = _lattice()
    hw = Hardware(lat, WaveFaults(), jax.random.PRNGKey(0))
    assert isinstance(hw.realised(), FaultyKerrLattice)
    key = jax.random.PRNGKey(1)
    for rule in (HamiltonianEcho(eta=1e-4), HebStep(eta=1e-4, m=0.1)):
        np.testing.assert_allclose(np.asarray(_grad(hw, rule, key)), np.asarray(_grad(lat, rule, key)),
                                   rtol=1e-12, atol=1e-14)
    x, _ = _batch()
    np.testing.assert_allclose(np.asarray(hw.predict(x)), np.asarray(lat.predict(x)), rtol=1e-12, atol=1e-14)


def test_detuning_disorder_matches_a_lattice_built_with_those_detunings():
    """Reference: a KerrLattice constructed (numpy eigh) with the realised onsite detunings."""
    lat = _lattice()
    dev = Hardware(lat, WaveFaults(detuning_std=0.03), jax.random.PRNGKey(2)).realised()
    delta = np.asarray(dev.detuning)
    assert 0.003 < np.std(delta) < 0.1
    ref = KerrLattice(3, 2, J=1.0, g=0.7, kappa=0.6, dt=0.05, n_steps=60, detuning=delta, theta0=lat.theta0)
    x, _ = _batch()
    np.testing.assert_allclose(np.asarray(dev.predict(x)), np.asarray(ref.predict(x)), rtol=1e-10, atol=1e-12)


def test_loss_with_reamplification_keeps_the_power_but_breaks_the_echo():
    """Closed forms: uniform damping then gain e^{gamma T / 2} restores sum |Phi|^2 exactly (the split
    steps conserve it); the echo no longer returns the initial state (Kerr saw a weaker field)."""
    lat = _lattice()
    dev = Hardware(lat, WaveFaults(loss_rate=0.5), jax.random.PRNGKey(0)).realised()
    s0 = lat.init_state(jnp.asarray([0.5, -0.3, 0.2, 0.1]) + 0j)
    s1 = dev.evolve(s0, 60)
    assert abs(float(lat.norm(s1) - lat.norm(s0))) < 1e-12 * float(lat.norm(s0))
    back = dev.time_reverse(dev.evolve(dev.time_reverse(s1), 60))
    ideal = lat.time_reverse(lat.evolve(lat.time_reverse(lat.evolve(s0, 60)), 60))
    assert float(jnp.max(jnp.abs(ideal - s0))) < 1e-10
    assert float(jnp.max(jnp.abs(back - s0))) > 1e-4


def test_conjugator_applies_its_factor_and_its_noise_has_the_stated_variance():
    """Closed forms: the faulty reversal is exactly conj_factor * conj(Phi) (so two reversals with no
    evolution give |c|^2 Phi), c = (1 + a) e^{i phi} with |c| - 1 and arg c of the stated spreads; the
    added noise has E|xi|^2 = reversal_noise^2 per mode (sample mean over 4000 draws within 10%)."""
    lat = _lattice()
    dev = Hardware(lat, WaveFaults(conj_phase_std=0.05, conj_amp_std=0.02, reversal_noise=0.1),
                   jax.random.PRNGKey(3)).realised()
    s = lat.init_state(jnp.asarray([0.5, -0.3, 0.2, 0.1]) + 0j)
    c = dev.conj_factor
    np.testing.assert_allclose(np.asarray(dev.time_reverse(s)), np.asarray(c * jnp.conj(s)), rtol=1e-15)
    np.testing.assert_allclose(np.asarray(dev.time_reverse(dev.time_reverse(s))), np.asarray(jnp.abs(c) ** 2 * s),
                               rtol=1e-14)
    assert 0.005 < float(jnp.std(jnp.abs(c) - 1)) < 0.05 and 0.01 < float(jnp.std(jnp.angle(c))) < 0.12
    keys = jax.random.split(jax.random.PRNGKey(4), 4000)
    noise = jax.vmap(lambda k: dev.time_reverse(s, k))(keys) - c * jnp.conj(s)
    power = float(jnp.mean(jnp.abs(noise) ** 2))
    assert abs(power / 0.1**2 - 1) < 0.1


def test_imperfect_conjugation_and_reversal_noise():
    """A phase/amplitude error changes the echo gradient; reversal noise needs the rule's key (no key:
    no noise) and differs between keys."""
    lat = _lattice()
    rule = HamiltonianEcho(eta=1e-3)
    g0 = _grad(lat, rule)
    g_conj = _grad(Hardware(lat, WaveFaults(conj_phase_std=0.05, conj_amp_std=0.05), jax.random.PRNGKey(0)), rule)
    assert float(jnp.linalg.norm(g_conj - g0) / jnp.linalg.norm(g0)) > 1e-3
    noisy = Hardware(lat, WaveFaults(reversal_noise=1e-6), jax.random.PRNGKey(0))
    np.testing.assert_allclose(np.asarray(_grad(noisy, rule)), np.asarray(g0), rtol=1e-12, atol=1e-14)
    ga, gb = _grad(noisy, rule, jax.random.PRNGKey(1)), _grad(noisy, rule, jax.random.PRNGKey(2))
    assert float(jnp.linalg.norm(ga - gb)) > 0
    # noise sigma on the field shows up as ~ sigma / eta in the estimate
    rel = float(jnp.linalg.norm(ga - g0) / jnp.linalg.norm(g0))
    assert 1e-5 < rel < 1.0


def test_readout_noise_enters_through_the_error_signal():
    """``Hardware.measure`` (Gaussian read-out noise n) perturbs the error signal dC/dPsi* = Psi + n -
    target, not the field. Reference: the echo's first-order response, linear in the injected error,
    so the gradient shift at 2 sigma (same key) is twice the shift at sigma; no key: no noise."""
    lat = _lattice()
    rule = HamiltonianEcho(eta=1e-4)
    g0 = _grad(lat, rule)
    hw = lambda sigma: Hardware(lat, GaussianMeasurementNoise(sigma), jax.random.PRNGKey(0))  # noqa: E731
    np.testing.assert_allclose(np.asarray(_grad(hw(0.01), rule)), np.asarray(g0), rtol=1e-12, atol=1e-14)
    key = jax.random.PRNGKey(7)
    d1, d2 = _grad(hw(0.01), rule, key) - g0, _grad(hw(0.02), rule, key) - g0
    assert float(jnp.linalg.norm(d1) / jnp.linalg.norm(g0)) > 1e-3
    np.testing.assert_allclose(np.asarray(d2), 2 * np.asarray(d1), rtol=1e-5, atol=1e-9 * float(jnp.linalg.norm(g0)))
    # the paper's step reads the same measured error
    step = HebStep(eta=1e-4, m=0.1)
    assert float(jnp.linalg.norm(_grad(hw(0.01), step, key) - _grad(lat, step))) > 0


def test_imperfect_decay_step_scales_the_written_update_per_site():
    """Reference: the ideal update times the realised per-site gain (linear in the gain)."""
    lat = _lattice()
    hw = Hardware(lat, WaveFaults(decay_std=0.2), jax.random.PRNGKey(5))
    gain = np.asarray(hw.realised().decay_gain)
    assert np.std(gain) > 0.02
    rule = HamiltonianEcho(eta=1e-4)
    np.testing.assert_allclose(np.asarray(_grad(hw, rule)), gain * np.asarray(_grad(lat, rule)), rtol=1e-12)
    # the paper's step: the decay-step kick (the position change, Re) scales with the gain per site
    step = HebStep(eta=1e-4, m=0.1, averaged=False)
    d_hw, d_ideal = np.asarray(_grad(hw, step)), np.asarray(_grad(lat, step))
    echo_shift = np.asarray(_grad(Hardware(lat, WaveFaults(decay_std=0.2), jax.random.PRNGKey(5)),
                                  HebStep(eta=1e-4, m=1e12, averaged=False)))  # kick ~ 0: the echo's own shift
    np.testing.assert_allclose(d_hw.real - echo_shift.real, gain * (d_ideal.real - echo_shift.real), rtol=1e-6)


def test_bad_fault_levels_are_named():
    with pytest.raises(ValueError, match="loss_rate=-1"):
        WaveFaults(loss_rate=-1.0)
    with pytest.raises(ValueError, match="detuning_std=inf"):
        WaveFaults(detuning_std=float("inf"))
