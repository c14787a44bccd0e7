"""Hardware faults of a Kerr-lattice echo machine (HEB, issue #23), as a :class:`~physlearning.core.Nonideality`.

``Hardware(lattice, WaveFaults(...), key)`` realises the lattice as a :class:`FaultyKerrLattice`;
the echo rules (:mod:`physlearning.rules.echo`) run on ``realised()``, so every fault acts where the
physical machine would suffer it. Units as in :mod:`~physlearning.substrates.wave_lattice`
(hbar = 1; rates are angular frequencies, time their inverse; fields dimensionless).

* ``detuning_std``: onsite disorder, Delta_i ~ N(0, detuning_std^2) added to every site's frequency
  (the reference code's ``cavity_array_disorder`` study, std 0 to 0.03), drawn once per device;
  the realised lattice is re-diagonalised (``jnp.linalg.eigh`` of the disordered M).
* ``reversal_noise``: complex Gaussian noise of standard deviation ``reversal_noise`` per mode
  (E|xi|^2 = reversal_noise^2) added at each time reversal, fresh per call (the rule's key).
* ``conj_phase_std``, ``conj_amp_std``: imperfect phase conjugation, ``Phi_i -> (1 + a_i) e^{i phi_i}
  conj(Phi_i)`` with a_i ~ N(0, conj_amp_std^2), phi_i ~ N(0, conj_phase_std^2) (rad) fixed per device
  (a miscalibrated conjugator); applied at both reversals of an echo.
* ``loss_rate``: intensity loss gamma during every evolution (|Phi|^2 decays as e^{-gamma t}; the
  amplitude is damped by e^{-gamma dt / 2} after each split step) followed by noiseless
  re-amplification by e^{gamma t / 2} at the end of the pass, which restores the power but not the
  Kerr dynamics of the lossless machine.
* ``decay_std``: imperfect decay step: a per-site gain (1 + sigma xi_i) on the update the machine
  writes into its learning field (the decay-step kick of :class:`~physlearning.rules.echo.HebStep`,
  the gradient estimate of :class:`~physlearning.rules.echo.HamiltonianEcho`), fixed per device.

All levels 0 give back the ideal lattice's behaviour (each fault is skipped at a Python 0). Levels
may be arrays (``jnp`` scalars), so an :class:`~physlearning.core.ensemble.Ensemble` of
``Hardware`` members can sweep a level in one computation.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from jaxtyping import Array, PRNGKeyArray

from physlearning.core.hardware import Nonideality
from physlearning.core.values import integer
from physlearning.substrates.wave_lattice import KerrLattice

FAULTS = ("detuning_std", "reversal_noise", "conj_phase_std", "conj_amp_std", "loss_rate", "decay_std")


def _is_zero(level) -> bool:
    """A level known to be 0 at trace time (a Python number); array levels (an ensemble sweeping the
    level) always take the general path, which is exact at 0 as well."""
    return isinstance(level, (int, float)) and level == 0


class WaveFaults(Nonideality):
    """Faults of a Kerr-lattice echo machine (see the module docstring); every level >= 0, finite."""

    detuning_std: float = 0.0
    reversal_noise: float = 0.0
    conj_phase_std: float = 0.0
    conj_amp_std: float = 0.0
    loss_rate: float = 0.0
    decay_std: float = 0.0

    def __check_init__(self):
        for name in FAULTS:
            v = getattr(self, name)
            if isinstance(v, (int, float)) and not (0 <= v < float("inf")):
                raise ValueError(f"{name}={v!r}: allowed values are finite numbers >= 0")

    def params(self, substrate, key: PRNGKeyArray):
        if not isinstance(substrate, KerrLattice):
            raise ValueError(f"WaveFaults applies to a KerrLattice, got {type(substrate).__name__}")
        return FaultyKerrLattice(substrate, self, key)


class FaultyKerrLattice(KerrLattice):
    """A :class:`KerrLattice` as realised with :class:`WaveFaults` (built by ``WaveFaults.params``)."""

    reversal_noise: float
    loss_rate: float
    conj_factor: Array
    """(1 + a_i) e^{i phi_i} per mode (n_sites + n_ports,)."""
    decay_gain: Array
    """per-site gain of the written update (lattice shape)."""

    def __init__(self, lattice: KerrLattice, faults: WaveFaults, key: PRNGKeyArray):
        for f in dataclasses.fields(lattice):
            setattr(self, f.name, getattr(lattice, f.name))
        k_det, k_amp, k_phase, k_decay = jax.random.split(key, 4)
        rtype = jnp.real(lattice.theta0).dtype
        n, n_modes = lattice.n_sites, lattice.n_sites + lattice.n_ports
        if not _is_zero(faults.detuning_std):
            delta = faults.detuning_std * jax.random.normal(k_det, (n,), rtype)
            m = jnp.asarray(lattice._m, rtype) + jnp.diag(jnp.concatenate([delta, jnp.zeros(lattice.n_ports, rtype)]))
            w, v = jnp.linalg.eigh(m)
            self._m, self._w, self._v = m, w, v
            self.detuning = jnp.asarray(lattice.detuning, rtype) + delta.reshape(lattice.detuning.shape)
        amp = 1 + faults.conj_amp_std * jax.random.normal(k_amp, (n_modes,), rtype)
        phase = faults.conj_phase_std * jax.random.normal(k_phase, (n_modes,), rtype)
        self.conj_factor = amp * jnp.exp(1j * phase)
        self.decay_gain = (1 + faults.decay_std * jax.random.normal(k_decay, lattice.theta0.shape, rtype))
        self.reversal_noise = faults.reversal_noise
        self.loss_rate = faults.loss_rate

    def evolve(self, state: Array, n: int) -> Array:
        """``n`` split steps with amplitude damping e^{-gamma dt / 2} after each, then re-amplification
        e^{gamma n dt / 2} (``loss_rate`` gamma = 0: the ideal evolution)."""
        if _is_zero(self.loss_rate) or n == 0:
            return super().evolve(state, n)  # (also its check of n)
        integer("n", n, ge=0, what="number of split steps")
        n = int(n)
        substep = self._substep()
        damp = jnp.exp(-0.5 * self.loss_rate * self.dt)
        out, _ = jax.lax.scan(lambda x, _: (substep(x) * damp, None), state, None, length=n)
        return out * jnp.exp(0.5 * self.loss_rate * self.dt * n)

    def time_reverse(self, state: Array, key: PRNGKeyArray | None = None) -> Array:
        """Imperfect phase conjugation ``conj_factor * conj(Phi)`` plus, when ``key`` is given, the
        reversal noise."""
        out = self.conj_factor * jnp.conj(state)
        if key is not None and not _is_zero(self.reversal_noise):
            k1, k2 = jax.random.split(key)
            rtype = jnp.real(state).dtype
            xi = jax.random.normal(k1, state.shape, rtype) + 1j * jax.random.normal(k2, state.shape, rtype)
            out = out + self.reversal_noise * xi / jnp.sqrt(2.0)
        return out


def update_gain(device) -> Array | float:
    """The per-site gain with which ``device`` writes an update into its learning field (1 on an ideal
    lattice; ``decay_gain`` on a :class:`FaultyKerrLattice`)."""
    return getattr(device, "decay_gain", 1.0)


__all__ = ["FAULTS", "FaultyKerrLattice", "WaveFaults", "update_gain"]
