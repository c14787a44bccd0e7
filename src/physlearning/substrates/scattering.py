"""Linear coupled-mode scattering network (Wanjura & Marquardt, arXiv:2308.16181).

N modes with complex amplitudes a_j obey coupled-mode theory (frequency domain, probe
a_in at frequency omega, all rates and frequencies in units of a reference decay rate kappa):

    0 = -[K/2 + i(H0 - omega)] a - sqrt(K_ext) a_in,     a_out = a_in + sqrt(K_ext) a

so  a = -G sqrt(K_ext) a_in  with  G = M^-1,  M = K/2 + i(H0 - omega),  and

    S = 1 - sqrt(K_ext) M^-1 sqrt(K_ext)          (restricted to the modes with a port).

K = diag(kappa_int + kappa_ext) holds each mode's total decay, K_ext its decay into a
waveguide (zero for modes without a port). H0 is Hermitian: diagonal detunings
Delta_j + x-encoding, off-diagonal couplings J_jk (real, or complex when ``complex_couplings``).

The input x (pixel values p/16 in [0, 1]) sets the detunings of the input modes:
Delta_j^in = input_scale * kappa * (1 - x_pixel(j)) (paper: 5 kappa (1 - p/16): background
detuned, digit strokes resonant); each pixel can drive ``duplicate`` modes. The output of
port l is Im S_ll (paper), Re S_ll or |S_ll|^2. Although the physics is linear in a,
S depends nonlinearly on the detunings, so y(x) is a nonlinear function of x.

Solvers: ``dense`` solves M X = E_out with one batched LU per sample; ``schur``
eliminates the input modes first. They are mutually uncoupled (layered network), so
their block of M is diagonal and the Schur complement A = M_RR - M_RI D^-1 M_IR
over the remaining modes R is a (|R| x |R|) system: one small solve per sample.
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, PRNGKeyArray

from physlearning.config import param
from physlearning.core import Nonideality, Substrate
from physlearning.errors import PhysLearningError
from physlearning.registry import register_substrate

READOUTS = ("im", "re", "abs2")
SOLVERS = ("schur", "dense")


class ScatteringError(PhysLearningError, ValueError):
    """A scattering network that is not physical or not solvable (bad H0, kappa, pixels)."""


def _tri_solve(t: Array, b: Array, lower: bool, unit: bool) -> Array:
    """Solve T x = b (T triangular, b (n, k)) by substitution, one ``lax.scan`` over rows."""
    n = t.shape[0]
    strict = jnp.tril(t, -1) if lower else jnp.triu(t, 1)
    diag = jnp.ones(n, t.dtype) if unit else jnp.diagonal(t)
    order = jnp.arange(n) if lower else jnp.arange(n)[::-1]

    def row(x, i):
        return x.at[i].set((b[i] - strict[i] @ x) / diag[i]), None

    return jax.lax.scan(row, jnp.zeros_like(b), order, unroll=8)[0]


def solve(a: Array, b: Array) -> Array:
    """x = a^-1 b for one (n, n) matrix and (n, k) right-hand sides.

    Partial-pivoting LU (LAPACK getrf) plus substitution by ``lax.scan``: on CPU this is
    ~20x faster than ``jnp.linalg.solve`` for batched complex64 (whose complex triangular
    solve is slow there). Differentiable through ``lax.custom_linear_solve`` (the backward
    pass is one solve with a^T reusing the same LU).
    """
    lu, _, perm = jax.lax.linalg.lu(jax.lax.stop_gradient(a))

    def fwd(_, rhs):
        y = _tri_solve(lu, rhs[perm], lower=True, unit=True)
        return _tri_solve(lu, y, lower=False, unit=False)

    def bwd(_, rhs):  # a^T x = rhs with a[perm] = L U:  U^T L^T x[perm] = rhs
        z = _tri_solve(lu.T, rhs, lower=True, unit=False)
        w = _tri_solve(lu.T, z, lower=False, unit=True)
        return jnp.zeros_like(w).at[perm].set(w)

    return jax.lax.custom_linear_solve(lambda v: a @ v, b, fwd, bwd)


def _complex_dtype(x: Array) -> jnp.dtype:
    return jnp.complex128 if jnp.asarray(x).dtype == jnp.float64 else jnp.complex64


class ScatteringNetwork(Substrate):
    """Coupled-mode network probed at its output ports; y_l = f(S_ll(x; H0, K, omega)).

    Trainable: ``detuning`` (N,), ``coupling`` (N, N; only ``mask`` entries j < k used),
    ``coupling_im`` (imaginary parts, only for complex couplings). Fixed: decays, masks,
    the input/output mode lists, omega and the input encoding.
    """

    detuning: Array
    coupling: Array
    coupling_im: Array | None
    mask: np.ndarray
    kappa_int: np.ndarray
    kappa_ext: np.ndarray
    input_modes: tuple[int, ...] = eqx.field(static=True)
    input_pixels: tuple[int, ...] = eqx.field(static=True)
    output_modes: tuple[int, ...] = eqx.field(static=True)
    n_pixels: int = eqx.field(static=True)
    omega: float = eqx.field(static=True, default=0.0)
    input_scale: float = eqx.field(static=True, default=5.0)
    kappa_ref: float = eqx.field(static=True, default=1.0)
    readout: str = eqx.field(static=True, default="im")
    solver: str = eqx.field(static=True, default="schur")

    # ----- structure -------------------------------------------------------------
    def param_filter(self):
        """Only detunings and couplings are trainable (decays, masks are fixed hardware)."""
        flags = {"detuning": True, "coupling": True}
        if self.coupling_im is not None:
            flags["coupling_im"] = True
        return self.only_fields(flags)

    @property
    def n_modes(self) -> int:
        return int(self.kappa_int.shape[0])

    @property
    def reciprocal(self) -> bool:
        """Real couplings: H0 = H0^T, so M = M^T and G_jl = G_lj (Lorentz reciprocity)."""
        return self.coupling_im is None

    def n_trainable(self) -> int:
        """Physical parameter count: detunings plus (real or complex) allowed couplings."""
        per = 2 if self.coupling_im is not None else 1
        return int(self.n_modes + per * int(np.sum(self.mask)))

    # ----- physics ---------------------------------------------------------------
    def encode(self, x: Array) -> Array:
        """Detunings set by one input x (n_pixels,) in [0, 1]: input_scale*kappa*(1 - x)."""
        d = jnp.zeros(self.n_modes, self.detuning.dtype)
        if not self.input_modes:
            return d
        if x.shape[-1] != self.n_pixels:
            raise ScatteringError(f"input has {x.shape[-1]} pixels; this network encodes {self.n_pixels}")
        x = eqx.error_if(x, ~((x >= 0) & (x <= 1)),
                         "pixel values must lie in [0, 1] (counts p/16 with p in 0..16); got a value outside or NaN")
        return d.at[np.array(self.input_modes)].set(
            self.input_scale * self.kappa_ref * (1 - x[np.array(self.input_pixels)]))

    def offdiagonal(self) -> Array:
        """Hermitian coupling part of H0: J + J^dagger over the allowed (j < k) entries."""
        j = self.coupling * self.mask
        h = j + j.T
        if self.coupling_im is not None:
            v = self.coupling_im * self.mask
            h = h + 1j * (v - v.T)
        return h

    def hamiltonian(self, x: Array) -> Array:
        """H0(x) = diag(Delta + encode(x)) + couplings (N x N, Hermitian)."""
        return self.offdiagonal() + jnp.diag(self.detuning + self.encode(x))

    def kappa(self) -> Array:
        """Total decay rate of each mode, kappa_int + kappa_ext."""
        return jnp.asarray(self.kappa_int) + jnp.asarray(self.kappa_ext)

    def dynamical_matrix(self, x: Array) -> Array:
        """M = K/2 + i(H0(x) - omega) (complex N x N)."""
        cd = _complex_dtype(self.detuning)
        h = self.hamiltonian(x).astype(cd)
        return jnp.diag(jnp.asarray(self.kappa() / 2, cd)) + 1j * (h - self.omega * jnp.eye(self.n_modes, dtype=cd))

    def _green_cols(self, x: Array, transpose: bool) -> Array:
        """G[:, out] (or (G^T)[:, out]) for one sample: N x n_out."""
        cd = _complex_dtype(self.detuning)
        n = self.n_modes
        out = np.array(self.output_modes)
        if self.solver == "dense" or not self.input_modes:
            m = self.dynamical_matrix(x)
            m = m.T if transpose else m
            rhs = jnp.eye(n, dtype=cd)[:, out]
            return solve(m, rhs)
        inp = np.array(self.input_modes)
        rest = np.setdiff1d(np.arange(n), inp)
        h = self.offdiagonal()
        h = h.T if transpose else h
        diag = (jnp.asarray(self.kappa() / 2, cd)
                + 1j * (self.detuning + self.encode(x) - self.omega).astype(cd))
        d_inv = 1 / diag[inp]
        h_ri, h_ir = h[np.ix_(rest, inp)], h[np.ix_(inp, rest)]
        # M_RI D^-1 M_IR = -H_RI D^-1 H_IR; with real couplings as two real products
        if jnp.iscomplexobj(h):
            coupled = (h_ri * d_inv) @ h_ir
        else:
            coupled = (h_ri * jnp.real(d_inv)) @ h_ir + 1j * ((h_ri * jnp.imag(d_inv)) @ h_ir)
        schur = 1j * h[np.ix_(rest, rest)] + jnp.diag(diag[rest]) + coupled
        m_ir = 1j * h_ir
        pos = np.searchsorted(rest, out)
        rhs = jnp.eye(len(rest), dtype=cd)[:, pos]
        x_r = solve(schur, rhs)
        x_i = -d_inv[:, None] * (m_ir @ x_r)
        g = jnp.zeros((n, len(out)), cd)
        return g.at[rest].set(x_r).at[inp].set(x_i)

    def probe(self, x: Array) -> tuple[Array, Array, Array]:
        """What one probe sweep measures for one input.

        Returns ``(a, b, s)``: a[j, l] = -sqrt(kappa_l) G_jl, the field in mode j when port
        l is driven with unit amplitude; b[j, l] = -sqrt(kappa_l) G_lj, the same in the
        flux-reversed network H0 -> H0^T (b = a when reciprocal); s[l] = S_ll = 1 +
        sqrt(kappa_l) a[l, l].
        """
        out = np.array(self.output_modes)
        sk = jnp.sqrt(jnp.asarray(self.kappa_ext)[out])
        a = -self._green_cols(x, False) * sk
        b = a if self.reciprocal else -self._green_cols(x, True) * sk
        s = 1 + sk * a[out, np.arange(len(out))]
        return a, b, s

    def scattering_matrix(self, x: Array) -> Array:
        """Full S over the port modes (dense solve; for checks): 1 - sqrt(K) M^-1 sqrt(K)."""
        ports = np.flatnonzero(np.asarray(self.kappa_ext) > 0)
        sk = jnp.sqrt(jnp.asarray(self.kappa_ext)[ports])
        g = jnp.linalg.inv(self.dynamical_matrix(x))[np.ix_(ports, ports)]
        return jnp.eye(len(ports)) - sk[:, None] * g * sk[None, :]

    def exact_predict(self, x: Array) -> Array:
        """Batched outputs (B, n_out) from the full S matrix (:meth:`scattering_matrix`, a dense
        inverse of M): independent of the Schur / LU route of :meth:`probe` (gradient checks)."""
        ports = np.flatnonzero(np.asarray(self.kappa_ext) > 0)
        out = np.asarray(self.output_modes)
        if not np.all(np.isin(out, ports)):
            raise ScatteringError(f"output modes {out.tolist()!r} need a port (kappa_ext > 0)")
        idx = np.searchsorted(ports, out)
        return jax.vmap(lambda xi: self.observe(jnp.diagonal(self.scattering_matrix(xi))[idx]))(x)

    def observe(self, s: Array) -> Array:
        """Output y_l from S_ll: Im, Re or |S_ll|^2."""
        return output_of(s, self.readout)

    def __call__(self, x: Array) -> Array:
        """Output y (n_out,) for one input x."""
        return self.observe(self.probe(x)[2])

    def predict(self, x: Array, key: Array | None = None) -> Array:
        """Batched outputs (B, n_out) (noiseless: the network itself has no noise)."""
        return jax.vmap(self)(x)


def output_of(s: Array, readout: str) -> Array:
    """Network output read from a scattering element: Im S (``im``), Re S (``re``) or |S|^2 (``abs2``)."""
    if readout == "im":
        return jnp.imag(s)
    if readout == "re":
        return jnp.real(s)
    return jnp.abs(s) ** 2


def output_weight(s: Array, readout: str) -> Array:
    """w with dy = Re(w dS): -i (Im), 1 (Re), 2 conj(S) (|S|^2)."""
    if readout == "im":
        return jnp.full_like(s, -1j)
    if readout == "re":
        return jnp.ones_like(s)
    return 2 * jnp.conj(s)


@dataclasses.dataclass(frozen=True)
class Layout:
    """Layered network of the paper: inputs (n_pixels * duplicate) -> hidden -> outputs.

    Couplings all-to-all between consecutive layers (none inside a layer). Only the
    output modes have ports (kappa_ext = kappa, kappa_int = 0); input and hidden modes
    decay intrinsically at rate kappa (kappa_int = kappa, no port).
    """

    n_pixels: int
    n_out: int
    hidden: int = 0
    duplicate: int = 1
    kappa: float = 1.0
    extra_loss: float = 0.0

    def layers(self) -> list[np.ndarray]:
        sizes = [self.n_pixels * self.duplicate] + ([self.hidden] if self.hidden else []) + [self.n_out]
        edges = np.cumsum([0] + sizes)
        return [np.arange(a, b) for a, b in zip(edges[:-1], edges[1:])]


def layered_network(layout: Layout, key: Array, *, coupling: float = 2.0, disorder: float = 0.5,
                    init: str = "paper", complex_couplings: bool = False, omega: float = 0.0,
                    input_scale: float = 5.0, readout: str = "im", solver: str = "schur",
                    detuning_init: float = 0.1, dtype=jnp.float32) -> ScatteringNetwork:
    """The paper's layered network. Couplings between consecutive layers (xi ~ N(0, 1)):
    ``init="paper"``: J/kappa = coupling (1 + disorder xi) (the paper starts from J = 2 kappa
    plus disorder); ``init="scaled"``: J/kappa = coupling xi / sqrt(fan-in), so each mode's
    total coupling stays ~ coupling * kappa whatever the layer width. Trainable detuning
    offsets start as N(0, (detuning_init kappa)^2)."""
    if not detuning_init >= 0:
        raise ScatteringError(f"detuning_init = {detuning_init!r}: must be >= 0 (std of the initial detunings / kappa)")
    if not layout.kappa > 0:
        raise ScatteringError(f"kappa = {layout.kappa!r}: must be > 0 (decay rate)")
    for name, v, low in (("n_pixels", layout.n_pixels, 1), ("n_out", layout.n_out, 1), ("hidden", layout.hidden, 0),
                         ("duplicate", layout.duplicate, 1)):
        if v < low:
            raise ScatteringError(f"{name} = {v!r}: must be >= {low}")
    if readout not in READOUTS:
        raise ScatteringError(f"readout = {readout!r}: allowed values are {list(READOUTS)}")
    if solver not in SOLVERS:
        raise ScatteringError(f"solver = {solver!r}: allowed values are {list(SOLVERS)}")
    layers = layout.layers()
    n = int(layers[-1][-1] + 1)
    mask = np.zeros((n, n), bool)
    for lo, hi in zip(layers[:-1], layers[1:]):
        mask[np.ix_(lo, hi)] = True
    k1, k2, k3 = jax.random.split(key, 3)
    if init not in ("paper", "scaled"):
        raise ScatteringError(f"init = {init!r}: allowed values are ['paper', 'scaled']")
    scale = np.zeros((n, n))
    for lo, hi in zip(layers[:-1], layers[1:]):
        scale[np.ix_(lo, hi)] = coupling * layout.kappa / (np.sqrt(len(lo)) if init == "scaled" else 1.0)
    xi = np.asarray(jax.random.normal(k1, (n, n)))
    j = jnp.asarray(mask * scale * ((1 + disorder * xi) if init == "paper" else xi), dtype)
    jim = None
    if complex_couplings:
        jim = jnp.asarray(mask * scale * disorder * np.asarray(jax.random.normal(k2, (n, n))), dtype)
    out = layers[-1]
    kappa_ext = np.zeros(n)
    kappa_ext[out] = layout.kappa
    kappa_int = np.full(n, layout.kappa) + layout.extra_loss
    kappa_int[out] = layout.extra_loss
    det = jnp.asarray(detuning_init * layout.kappa * np.asarray(jax.random.normal(k3, (n,))), dtype)
    return ScatteringNetwork(
        detuning=det, coupling=j, coupling_im=jim, mask=mask, kappa_int=kappa_int, kappa_ext=kappa_ext,
        input_modes=tuple(int(i) for i in layers[0]),
        input_pixels=tuple(int(i) % layout.n_pixels for i in range(len(layers[0]))),
        output_modes=tuple(int(i) for i in out), n_pixels=layout.n_pixels, omega=omega,
        input_scale=input_scale, kappa_ref=layout.kappa, readout=readout, solver=solver)


def from_hamiltonian(h0: np.ndarray, kappa_int: np.ndarray, kappa_ext: np.ndarray, *, output_modes,
                     omega: float = 0.0, readout: str = "im", atol: float = 1e-9) -> ScatteringNetwork:
    """A network from a given Hermitian H0 (no input encoding): detunings = diag(H0),
    couplings = its upper triangle. Raises :class:`ScatteringError` on a non-Hermitian H0,
    negative decay rates or output modes without a port."""
    h0 = np.asarray(h0)
    n = h0.shape[0]
    if h0.shape != (n, n):
        raise ScatteringError(f"H0 must be square, got shape {h0.shape}")
    dev = float(np.max(np.abs(h0 - h0.conj().T)))
    if dev > atol:
        raise ScatteringError(f"H0 is not Hermitian: max |H0 - H0^dagger| = {dev:.3g} > {atol} "
                              "(coupled-mode theory needs H0 = H0^dagger; loss goes into kappa)")
    kappa_int, kappa_ext = np.asarray(kappa_int, float), np.asarray(kappa_ext, float)
    for name, k in (("kappa_int", kappa_int), ("kappa_ext", kappa_ext)):
        if k.shape != (n,):
            raise ScatteringError(f"{name} must have shape ({n},), got {k.shape}")
        if not np.all(k >= 0):  # also catches NaN
            j = int(np.flatnonzero(~(k >= 0))[0])
            raise ScatteringError(f"{name}[{j}] = {float(k[j])!r}: decay rates must be >= 0 (negative = gain)")
    for l in output_modes:
        if kappa_ext[l] <= 0:
            raise ScatteringError(f"output mode {l} has kappa_ext = {float(kappa_ext[l])!r}: outputs need a port (> 0)")
    mask = np.triu(np.ones((n, n), bool), 1)
    cplx = bool(np.any(np.abs(h0.imag) > atol))
    return ScatteringNetwork(
        detuning=jnp.asarray(np.real(np.diag(h0))), coupling=jnp.asarray(np.real(h0) * mask),
        coupling_im=jnp.asarray(np.imag(h0) * mask) if cplx else None, mask=mask,
        kappa_int=kappa_int, kappa_ext=kappa_ext, input_modes=(), input_pixels=(),
        output_modes=tuple(int(i) for i in output_modes), n_pixels=0, omega=omega, readout=readout,
        solver="dense")


def check_solvable(net: ScatteringNetwork, x: np.ndarray, rcond: float = 1e-10) -> None:
    """Raise :class:`ScatteringError` if M = K/2 + i(H0 - omega) is (numerically) singular
    for any of the inputs ``x`` (B, n_pixels), naming omega and the mode carrying the
    undamped resonance (largest weight in M's null vector)."""
    x = np.atleast_2d(np.asarray(x, float))
    if net.n_pixels:
        check_pixels(x)
    for xi in x:
        m = np.asarray(net.dynamical_matrix(jnp.asarray(xi, net.detuning.dtype)), complex)
        u, sv, vh = np.linalg.svd(m)
        if sv[-1] <= rcond * max(sv[0], 1e-300):
            mode = int(np.argmax(np.abs(vh[-1])))
            raise ScatteringError(
                f"M = K/2 + i(H0 - omega) is singular at the probe frequency omega = {net.omega!r}: "
                f"an undamped resonance (no decay) sits at omega, mostly on mode {mode} "
                f"(kappa = {float(net.kappa()[mode])!r}); detune it or give it loss")


def check_pixels(x: np.ndarray, lo: float = 0.0, hi: float = 1.0) -> None:
    """Inputs must be pixel fractions p/16 in [lo, hi]; names the first bad value."""
    x = np.asarray(x)
    bad = np.argwhere(~((x >= lo) & (x <= hi)))
    if len(bad):
        idx = tuple(int(i) for i in bad[0])
        raise ScatteringError(f"pixel value x{list(idx)} = {float(x[idx])!r} outside the declared range [{lo}, {hi}] "
                              "(inputs are counts p/16, p in 0..16)")


# ----- nonidealities specific to scattering hardware ----------------------------------
class DetuningCalibrationError(Nonideality):
    """Each mode's detuning is off by a fixed offset delta_j ~ N(0, sigma^2) kappa^2 (a
    calibration error of the tuning elements; frozen per ``key``)."""

    sigma: float

    def params(self, substrate, key):
        off = self.sigma * substrate.kappa_ref * jax.random.normal(key, substrate.detuning.shape,
                                                                     substrate.detuning.dtype)
        return eqx.tree_at(lambda s: s.detuning, substrate, substrate.detuning + jax.lax.stop_gradient(off))


class CouplingDisorder(Nonideality):
    """Fabrication disorder: couplings realised as J_jk (1 + sigma xi_jk), xi ~ N(0, 1)."""

    sigma: float

    def params(self, substrate, key):
        xi = jax.lax.stop_gradient(jax.random.normal(key, substrate.coupling.shape, substrate.coupling.dtype))
        return eqx.tree_at(lambda s: s.coupling, substrate, substrate.coupling * (1 + self.sigma * xi))


class ExtraLoss(Nonideality):
    """Additional intrinsic loss kappa_extra on every mode (scattering, absorption)."""

    kappa_extra: float

    def params(self, substrate, key):
        return eqx.tree_at(lambda s: s.kappa_int, substrate, substrate.kappa_int + self.kappa_extra)


# ----- registration ---------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ScatteringSection:
    """Layered coupled-mode network (Wanjura & Marquardt): the ``n_in`` inputs (pixel fractions in
    [0, 1]) detune the input modes, the ``n_out`` output ports give y_l = f(S_ll); rates in kappa."""

    hidden: int = param(16, ge=0, le=100_000, doc="hidden modes (0: inputs couple straight to outputs)")
    duplicate: int = param(1, ge=1, le=64, doc="input modes per input")
    kappa: float = param(1.0, gt=0, doc="decay rate of every mode (port decay at outputs, intrinsic elsewhere)")
    input_scale: float = param(5.0, gt=0, doc="detuning of a zero input, in kappa (paper: 5)")
    coupling: float = param(2.0, gt=0, doc="initial coupling scale J/kappa")
    disorder: float = param(0.5, ge=0, doc="relative random spread of the initial couplings")
    detuning_init: float = param(0.1, ge=0, doc="std of the initial trainable detunings, in kappa")
    init: str = param("scaled", choices=("paper", "scaled"),
                      doc="paper: J = coupling (1 + disorder xi); scaled: J = coupling xi / sqrt(fan-in)")
    complex_couplings: bool = param(False, doc="complex couplings (needs flux-reversed probes)")
    omega: float = param(0.0, doc="probe frequency relative to the bare resonance")
    readout: str = param("im", choices=READOUTS, doc="y_l = Im S_ll, Re S_ll or |S_ll|^2")
    solver: str = param("schur", choices=SOLVERS, doc="eliminate the input modes first, or one dense LU")


@dataclasses.dataclass(frozen=True)
class ComplexScatteringSection(ScatteringSection):
    """The layered coupled-mode network with complex couplings (broken reciprocity: the measurement
    rule needs the flux-reversed probe as well)."""

    complex_couplings: bool = param(True, doc="complex couplings (needs flux-reversed probes)")


def _check_case(complex_couplings: bool):
    """The ``scattering layered`` instance of the gradient matrix (``physlearning matrix``, from this check case):
    4 pixels x 2 -> 6 hidden -> 3 outputs, scaled init, 5 samples, softmax cross-entropy, float64."""
    from physlearning.core import SoftmaxCrossEntropy

    net = layered_network(Layout(n_pixels=4, n_out=3, hidden=6, duplicate=2), jax.random.PRNGKey(0),
                          complex_couplings=complex_couplings, init="scaled", dtype=jnp.float64)
    x = jax.random.uniform(jax.random.PRNGKey(1), (5, 4), jnp.float64)
    t = jax.nn.one_hot(jnp.arange(5) % 3, 3, dtype=jnp.float64)
    return net, (x, t), SoftmaxCrossEntropy()


def _build_scattering(c: ScatteringSection, n_in: int, n_out: int, key: PRNGKeyArray) -> ScatteringNetwork:
    return layered_network(Layout(n_pixels=n_in, n_out=n_out, hidden=c.hidden, duplicate=c.duplicate, kappa=c.kappa),
                           key, coupling=c.coupling, disorder=c.disorder, init=c.init,
                           complex_couplings=c.complex_couplings, omega=c.omega, input_scale=c.input_scale,
                           readout=c.readout, solver=c.solver, detuning_init=c.detuning_init)


register_substrate("scattering", ScatteringSection, ScatteringNetwork, check_case=lambda: _check_case(False),
                   reference="autodiff", doc="layered coupled-mode scattering network, real couplings"
                   )(_build_scattering)
register_substrate("scattering_complex", ComplexScatteringSection, ScatteringNetwork,
                   check_case=lambda: _check_case(True), reference="autodiff",
                   doc="layered coupled-mode scattering network, complex couplings")(_build_scattering)
