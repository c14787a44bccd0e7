"""Plain NumPy averaged HEB update on the Kerr-cavity lattice, vectorised over machines (no JAX): the
baseline of ``physlearning bench heb``.

The algorithm is the reference code's (Lopez-Pastor & Marquardt, PRX 13, 031020 (2023);
github.com/victorlopezpastor/self_learning_machines, ``cavity_array/eqs_motion.py``,
``SplitFourier.py``, ``HEB.py``), re-implemented here; units hbar = 1, coefficients angular frequencies.
An L x L lattice Theta, signal modes Psi at the 4 corners (order (0,0), (0,L-1), (L-1,0), (L-1,L-1)), and

    H = 2 J sum_<ij> Re(Theta_i* Theta_j) + 2 kappa sum_p Re(Psi_p* Theta_p) + sum_p omega_p |Psi_p|^2
      + (g/2) sum_all |Phi|^4.

``splitting = "reference"`` (``SplitFourier_step``): one step of length dt is
``L(dt/2) N(dt) L(dt/2)`` with

* L(t): the hopping only, diagonal in the 2D sine basis (DST-I along each axis, the orthonormal
  symmetric involution ``S_jk = sqrt(2/(L+1)) sin(pi (j+1)(k+1)/(L+1))``):
  ``Theta -> S (exp(-2 i J t (cos kx + cos ky)) * (S Theta S)) S``, k = pi (1..L)/(L+1);
* N(dt) = K(dt/2) C(dt) K(dt/2): Kerr ``Phi -> exp(-i g |Phi|^2 t) Phi`` on every mode, and the port
  coupling C(dt): ``Psi -> e^{-i omega dt/2} Psi``, then the rotation
  ``(Psi, Theta_p) -> (c Psi - i s Theta_p, c Theta_p - i s Psi)`` with c, s = cos, sin(kappa dt),
  then ``Psi -> e^{-i omega dt/2} Psi``.

``splitting = "eigen"`` is the library's split (:class:`~physlearning.substrates.wave_lattice.KerrLattice`):
``A(dt/2) K(dt) A(dt/2)`` with A(t) = exp(-i M t) of the full quadratic part M (hopping, port coupling,
omega) by its eigendecomposition; it checks that both codes implement the same physics. The two splits
are second-order and differ at O(dt^2).

The averaged HEB step (``HEB.HEB_step_av``, see :func:`physlearning.rules.echo.heb_update`): echo with
+eta (forward, inject ``-i eta dC/dPsi*`` at the output, conjugate, evolve, conjugate), decay step with
mass m; then the same from the updated field with -eta and mass -m (4 evolutions). Cost
C = |Psi_out - target|^2 at one output port. Note: the reference's ``output_SLM`` takes N_steps - 1
split steps; here ``n_steps`` means exactly that many steps (as the library).

Timed by :mod:`physlearning.benchmarks.heb` as its baseline (``"baseline_s"``; ``"baseline_compile_s"`` is 0,
nothing compiles; ``"ours_s"`` and ``"ours_compile_s"`` there are the JAX update's). Not a benchmark itself
(no ``run``).
"""

from __future__ import annotations

import dataclasses

import numpy as np


def dst1_matrix(n: int) -> np.ndarray:
    """Orthonormal DST-I matrix (n, n): symmetric, ``S @ S = 1`` (scipy's ``dst(type=1, norm='ortho')``)."""
    j = np.arange(1, n + 1)
    return np.sqrt(2.0 / (n + 1)) * np.sin(np.pi * np.outer(j, j) / (n + 1))


def corners(L: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of the 4 port sites (the reference's ``index_x``, ``index_y``)."""
    return np.array([0, 0, L - 1, L - 1]), np.array([0, L - 1, 0, L - 1])


def quadratic_matrix(L: int, J: float, kappa: float, omega) -> np.ndarray:
    """M (L^2 + 4, L^2 + 4), real symmetric: H's quadratic part ``Phi^dagger M Phi`` on the flat state
    ``(Theta.ravel(), Psi)``."""
    n = L * L
    m = np.zeros((n + 4, n + 4))
    idx = np.arange(n).reshape(L, L)
    for a, b in ((idx[:-1, :], idx[1:, :]), (idx[:, :-1], idx[:, 1:])):
        m[a.ravel(), b.ravel()] = m[b.ravel(), a.ravel()] = J
    rows, cols = corners(L)
    for p, site in enumerate(rows * L + cols):
        m[n + p, site] = m[site, n + p] = kappa
        m[n + p, n + p] = omega[p]
    return m


@dataclasses.dataclass
class NumpyKerrLattice:
    """The split-step integrator of one set-up, applied to a batch of machines at once: Theta (B, L, L),
    Psi (B, 4), complex128. ``splitting``: ``"reference"`` or ``"eigen"`` (module docstring)."""

    L: int
    J: float
    g: float
    kappa: float
    dt: float
    omega: np.ndarray | None = None
    splitting: str = "reference"

    def __post_init__(self):
        if self.splitting not in ("reference", "eigen"):
            raise ValueError(f"splitting={self.splitting!r}: allowed values are 'reference' and 'eigen'")
        L, dt = self.L, self.dt
        self.omega = np.zeros(4) if self.omega is None else np.asarray(self.omega, float)
        self._s = dst1_matrix(L)
        k = np.pi / (L + 1) * np.arange(1, L + 1)
        eps = np.cos(k)[:, None] + np.cos(k)[None, :]
        self._u_half = np.exp(-2j * self.J * (dt / 2) * eps)  # L(dt/2) in the sine basis
        self._c, self._sn = np.cos(self.kappa * dt), np.sin(self.kappa * dt)
        self._w_half = np.exp(-0.5j * self.omega * dt)
        self._rows, self._cols = corners(L)
        w, v = np.linalg.eigh(quadratic_matrix(L, self.J, self.kappa, self.omega))
        self._a_half = (v * np.exp(-0.5j * dt * w)) @ v.T  # A(dt/2) = V e^{-i w dt/2} V^T (symmetric)

    # -- reference split: L(dt/2) K(dt/2) C(dt) K(dt/2) L(dt/2) -----------------------------------
    def _hop(self, theta: np.ndarray) -> np.ndarray:
        s = self._s
        return s @ (self._u_half * (s @ theta @ s)) @ s

    def _kerr(self, x: np.ndarray, t: float) -> np.ndarray:
        return np.exp(-1j * self.g * t * (x.real**2 + x.imag**2)) * x

    def _reference_step(self, theta: np.ndarray, psi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        half = 0.5 * self.dt
        theta = self._kerr(self._hop(theta), half)
        psi = self._kerr(psi, half) * self._w_half
        tp = theta[:, self._rows, self._cols]
        psi, tp = self._c * psi - 1j * self._sn * tp, self._c * tp - 1j * self._sn * psi
        theta[:, self._rows, self._cols] = tp
        psi = self._kerr(psi * self._w_half, half)
        return self._hop(self._kerr(theta, half)), psi

    def evolve(self, theta: np.ndarray, psi: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` split steps (time ``n dt``) of every machine: ``(Theta (B, L, L), Psi (B, 4))``."""
        theta, psi = np.array(theta, complex), np.array(psi, complex)
        if self.splitting == "reference":
            for _ in range(n):
                theta, psi = self._reference_step(theta, psi)
            return theta, psi
        b, nn = theta.shape[0], self.L * self.L
        x = np.concatenate([theta.reshape(b, nn), psi], axis=1)
        a, gdt = self._a_half, self.g * self.dt
        for _ in range(n):
            x = x @ a
            x = x * np.exp(-1j * gdt * (x.real**2 + x.imag**2))
            x = x @ a
        return x[:, :nn].reshape(b, self.L, self.L), x[:, nn:]


def decay_step(theta: np.ndarray, loss: float, m: float, cutoff: float | None) -> np.ndarray:
    """``HEB.decay_step``: kick ``k = Im(Theta)(1 - e^-loss)/m``, soft clip ``k / sqrt(1 + k^2/cutoff^2)``,
    ``Re <- Re + k``, ``Im <- Im e^-loss``."""
    kick = theta.imag * (1.0 - np.exp(-loss)) / m
    if cutoff is not None:
        kick = kick / np.sqrt(1.0 + kick**2 / cutoff**2)
    return (theta.real + kick) + 1j * (theta.imag * np.exp(-loss))


def echo_step(lat: NumpyKerrLattice, theta0: np.ndarray, psi_in: np.ndarray, target: np.ndarray, eta: float,
              n_steps: int, port: int = 3) -> np.ndarray:
    """``HEB.echo_step``: the learning field after forward pass, error injection ``-i eta (Psi_port - target)``
    at ``port``, phase conjugation, the same evolution, phase conjugation. ``target`` (B,)."""
    theta_t, psi_t = lat.evolve(theta0, psi_in, n_steps)
    psi_t[:, port] -= 1j * eta * (psi_t[:, port] - target)
    theta_e, _ = lat.evolve(np.conj(theta_t), np.conj(psi_t), n_steps)
    return np.conj(theta_e)


def heb_update_averaged(lat: NumpyKerrLattice, theta0: np.ndarray, psi_in: np.ndarray, target: np.ndarray, *,
                        eta: float, m: float, loss: float, cutoff: float | None, n_steps: int,
                        port: int = 3) -> np.ndarray:
    """``HEB.HEB_step_av`` for every machine: echo +eta, decay m, echo -eta from the updated field, decay -m
    (4 evolutions of ``n_steps`` steps). ``theta0`` (B, L, L), ``psi_in`` (B, 4), ``target`` (B,)."""
    theta = decay_step(echo_step(lat, theta0, psi_in, target, eta, n_steps, port), loss, m, cutoff)
    return decay_step(echo_step(lat, theta, psi_in, target, -eta, n_steps, port), loss, -m, cutoff)
