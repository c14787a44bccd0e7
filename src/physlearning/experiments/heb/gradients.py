"""``heb_gradients``: the HEB gradient table on the XOR lattice (issue #23).

Reference: V. Lopez-Pastor and F. Marquardt, PRX 13, 031020 (2023); the authors' code
github.com/victorlopezpastor/self_learning_machines, ``cavity_array/HEB.py`` (``echo_step``,
``decay_step``, ``HEB_step``, ``HEB_step_av``, ``grad_C_fd``). Only the physics is taken from it.

Set-up: the ``heb_xor`` lattice and task (:mod:`.xor`: 4 x 4 Kerr lattice, J = 10, g = -2, kappa = 0.3,
T = 20 in 500 split steps, float64; the 4 XOR rows at amplitudes a = (L^2/25) linspace(0.4, 1.4, 20);
cost C = |psi_3(T) - target|^2), all at the same real initial field Theta0 (``initial_theta``). For
every (input row, intensity) pair, the gradient of C in Theta0 (complex, ``G = dC/dRe + i dC/dIm``, lattice
shape, units of C per unit field amplitude) is computed by

* BPTT (the reference): ``jax.grad`` of the forward cost through the same split-step integrator (it
  returns conj(G), conjugated back); not a physical procedure;
* central finite differences / parameter shift of the forward cost (forward evaluations only, step ``h``
  on each of the 2 L^2 real components: 2 evolutions per real parameter, 64 for L = 4);
* the centred echo (3 evolutions) and the simple echo (2) of :func:`~physlearning.rules.echo.echo_gradient`
  (full complex G);
* the paper's simple HEB step (2 evolutions) and averaged HEB step (4) of
  :func:`~physlearning.rules.echo.heb_update`, read back with :func:`~physlearning.rules.echo.implied_gradient`
  (they give only ``g_R = dC/dRe Theta0``; compared with that), at mass ``m`` and ``loss`` (reference
  m = 1/300, loss = 100), unclipped and with the reference's soft clip of the kick (cutoff 0.1).

Error floors (first order in eta; Theta0 real; g_I = dC/dIm Theta0; clip off). The echo returns
``Theta_e = Theta0 - i (eta/2) G + O(eta^2)``: Im Theta is kicked by -(eta/2) g_R, *and Re Theta moves by
+(eta/2) g_I*. The decay step adds Im/m to Re, so

* simple step: ``implied = g_R - m g_I + O(eta)``: a relative bias ``m |g_I| / |g_R|``, O(m), that no eta
  removes (the floor of the simple step; it grows linearly in m);
* averaged step: the second echo (-eta, decay with -m) cancels the +-(eta/2) g_I shifts, but starts from
  ``Theta1 = Theta0 - (eta / 2m)(g_R - m g_I)``: ``implied = (g_R(Theta0) + g_R(Theta1))/2 - (m/2)(g_I(Theta0) -
  g_I(Theta1))``, off by ~ (eta / 4m) H g_R (H the Hessian: the gradient change between the echoes), O(eta/m);
  for large m the O(eta^2) remainder of the two echoes' Re shifts (even in eta, it adds) is compared with
  the O(eta/m) kick: O(eta m). The error is smallest near m ~ sqrt(|H| / |remainder|).
* centred echo: O(eta^2) truncation, plus round-off ~ eps / eta amplified by the chaotic flow;
* simple echo: O(eta).

The run checks the first-order models above against the measured steps (``*_model_*`` keys: the model uses
the BPTT gradient at Theta1, not the echo). The soft clip ``k / sqrt(1 + k^2 / cutoff^2)`` of the kick
``k ~ (eta / 2m) g_R`` shrinks large components by ~ k^2 / (2 cutoff^2): a bias that grows with |g_R|,
measured in the ``*_clip`` rows (off in the rules by default).

Precision: ``lattice.x64 = false`` runs in float32; every estimator is then round-off limited (on a 3x3
lattice at T = 4 the centred echo is off by ~6%, FD with h = 1e-5 by ~10%), so the table is a float64 table.

Outputs: ``data/gradients.npz`` (every estimate and reference per pair), ``data/eta_scan.npz``,
``data/m_scan.npz``, ``gradient_table.md``, figures ``error_vs_eta.png``, ``error_vs_m.png``
(:func:`figures` redraws them). Summary keys ``<estimator>_<stat>`` with estimator in
:data:`ESTIMATORS` and stat in median_rel_error, worst_rel_error, min_cosine, median_cosine,
evolutions; rel. error ``|est - ref| / |ref|`` per gradient vector, cosine of the real-embedded vectors.

:func:`matrix_rows`: the rules (:class:`~physlearning.rules.echo.HamiltonianEcho`,
:class:`~physlearning.rules.echo.HebStep`) on the 4-row batch at one intensity, vs the
:class:`~physlearning.rules.autodiff.Autodiff` rule and vs central finite differences.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from physlearning.config import ConfigError, param, section, seed_param
from physlearning.core.tree import central_differences
from physlearning.experiments.heb.xor import (
    HebXorConfig,
    Lattice,
    _PortCost,
    build_lattice,
    xor_batch,
)
from physlearning.rules.echo import _cost_grad, echo_gradient, heb_update, implied_gradient
from physlearning.runs.registry import Experiment

ESTIMATORS = ("centred", "simple_echo", "heb_simple", "heb_averaged", "heb_simple_clip", "heb_averaged_clip", "fd")
"""Rows of the table (``*_clip``: the HEB steps with the soft clip of the kick; ``fd``: central finite
differences, vs BPTT)."""
LABELS = {"centred": "centred echo", "simple_echo": "simple echo", "heb_simple": "HEB step (simple)",
          "heb_averaged": "HEB step (averaged)", "heb_simple_clip": "HEB step (simple, clipped)",
          "heb_averaged_clip": "HEB step (averaged, clipped)", "fd": "central FD / parameter shift"}
EVOLUTIONS = {"centred": 3, "simple_echo": 2, "heb_simple": 2, "heb_averaged": 4, "heb_simple_clip": 2,
              "heb_averaged_clip": 4}
"""Physical evolutions (one sample period each) per estimate; ``fd``: 2 per real parameter (set by L)."""


# ------------------------------------------------------------------------------------------ config
@dataclasses.dataclass(frozen=True)
class Task:
    """Input amplitudes a = (L^2/25) * linspace(amp_min, amp_max, n_intensities); the 4 XOR rows each."""

    n_intensities: int = param(20, ge=1, le=1000)
    amp_min: float = param(0.4, gt=0, le=100)
    amp_max: float = param(1.4, gt=0, le=100)


@dataclasses.dataclass(frozen=True)
class Echo:
    """The estimators' settings (reference: eta = 1e-4, m = 1/300, loss = 100, cutoff 0.1)."""

    eta: float = param(1e-4, gt=0, le=1.0, doc="error-injection strength of the table")
    m: float = param(1.0 / 300.0, gt=0, le=1e12, doc="mass of the learning field in the decay step")
    loss: float = param(100.0, gt=0, le=1e4, doc="damping x time of the decay step")
    cutoff: float = param(0.1, gt=0, le=1e6, doc="soft clip of the kick for the *_clip rows (reference 0.1)")
    fd_h: float = param(1e-5, gt=0, le=1.0, doc="central finite-difference step on each real component")


@dataclasses.dataclass(frozen=True)
class Scan:
    """Error vs eta (at m) and vs m (at eta), log-spaced; slopes fitted in log-log over a window."""

    eta_min: float = param(1e-8, gt=0, le=1.0)
    eta_max: float = param(1e-1, gt=0, le=1.0)
    n_eta: int = param(15, ge=2, le=200)
    m_min: float = param(1e-4, gt=0, le=1e12)
    m_max: float = param(1e4, gt=0, le=1e12)
    n_m: int = param(17, ge=2, le=200)
    fit_eta_min: float = param(1e-3, gt=0, le=1.0, doc="eta window of the echo slopes (truncation regime)")
    fit_eta_max: float = param(3e-2, gt=0, le=1.0)
    fit_av_eta_min: float = param(1e-7, gt=0, le=1.0, doc="eta window of the averaged step's O(eta/m) slope")
    fit_av_eta_max: float = param(1e-4, gt=0, le=1.0)
    fit_floor_eta_min: float = param(1e-8, gt=0, le=1.0, doc="eta window of the simple step's O(m) floor (slope 0)")
    fit_floor_eta_max: float = param(1e-5, gt=0, le=1.0)
    fit_m_small_min: float = param(1e-3, gt=0, le=1e12, doc="m window of the averaged step's O(eta/m) slope")
    fit_m_small_max: float = param(1e-1, gt=0, le=1e12)
    fit_m_large_min: float = param(1e2, gt=0, le=1e12,
                                   doc="m window of the large-m slopes (averaged O(eta m), simple O(m))")
    fit_m_large_max: float = param(1e4, gt=0, le=1e12)


@dataclasses.dataclass(frozen=True)
class HebGradientsConfig:
    seed: int = seed_param()
    lattice: Lattice = section(Lattice)
    task: Task = section(Task)
    echo: Echo = section(Echo)
    scan: Scan = section(Scan)

    def validate(self) -> None:
        t, s = self.task, self.scan
        if t.amp_max < t.amp_min:
            raise ConfigError(f"task.amp_max = {t.amp_max}: smaller than task.amp_min = {t.amp_min}; "
                              "allowed amp_min <= amp_max")
        fits = ("fit_eta", "fit_av_eta", "fit_floor_eta", "fit_m_small", "fit_m_large")
        for lo, hi in (("eta_min", "eta_max"), ("m_min", "m_max"), *((f"{f}_min", f"{f}_max") for f in fits)):
            if getattr(s, hi) <= getattr(s, lo):
                raise ConfigError(f"scan.{hi} = {getattr(s, hi)}: must be > scan.{lo} = {getattr(s, lo)}")
        for lo in fits:
            grid, what = (self.etas(), "etas") if "eta" in lo else (self.ms(), "masses")
            a, b = getattr(s, f"{lo}_min"), getattr(s, f"{lo}_max")
            inside = int(np.sum(_window(grid, a, b)))
            if inside < 2:
                raise ConfigError(f"scan.{lo}_min .. {lo}_max = {a} .. {b}: holds {inside} of the scanned "
                                  f"{what}; allowed: a window holding at least 2")
        for name in ("J", "g", "kappa"):
            v = getattr(self.lattice, name)
            if not np.isfinite(v):
                raise ConfigError(f"lattice.{name} = {v!r}: must be finite")

    def etas(self) -> np.ndarray:
        s = self.scan
        return np.geomspace(s.eta_min, s.eta_max, s.n_eta)

    def ms(self) -> np.ndarray:
        s = self.scan
        return np.geomspace(s.m_min, s.m_max, s.n_m)

    def xor(self) -> HebXorConfig:
        """The ``heb_xor`` config of the same lattice, intensities and seed (for its builders)."""
        from physlearning.experiments.heb.xor import Task as XorTask

        t = self.task
        return HebXorConfig(seed=self.seed, lattice=self.lattice,
                            task=XorTask(n_intensities=t.n_intensities, amp_min=t.amp_min, amp_max=t.amp_max))


# ------------------------------------------------------------------------------------------ metrics
def _embed(g) -> np.ndarray:
    """Real embedding (P, 2 n) of complex gradient vectors (P, ...), (P, n) of real ones."""
    g = np.asarray(g).reshape(len(g), -1)
    return np.concatenate([g.real, g.imag], axis=1) if np.iscomplexobj(g) else g


def rel_errors(est, ref) -> np.ndarray:
    """|est - ref| / |ref| per gradient vector (rows of the leading axis)."""
    e, r = _embed(est), _embed(ref)
    return np.linalg.norm(e - r, axis=1) / np.linalg.norm(r, axis=1)


def cosines(est, ref) -> np.ndarray:
    """Cosine of the real-embedded gradient vectors, per row."""
    e, r = _embed(est), _embed(ref)
    return np.sum(e * r, axis=1) / (np.linalg.norm(e, axis=1) * np.linalg.norm(r, axis=1))


def stats(est, ref) -> dict:
    rel, cos = rel_errors(est, ref), cosines(est, ref)
    return {"median_rel_error": float(np.median(rel)), "worst_rel_error": float(np.max(rel)),
            "min_cosine": float(np.min(cos)), "median_cosine": float(np.median(cos))}


def _window(x, lo: float, hi: float) -> np.ndarray:
    x = np.asarray(x)
    return (x >= lo * (1 - 1e-9)) & (x <= hi * (1 + 1e-9))


def loglog_slope(x, y, lo: float, hi: float) -> float:
    """Least-squares slope of log y vs log x over lo <= x <= hi."""
    x, y = np.asarray(x), np.asarray(y)
    k = _window(x, lo, hi)
    return float(np.polyfit(np.log(x[k]), np.log(y[k]), 1)[0])


# ------------------------------------------------------------------------------------------ kernels
def pairs(cfg: HebGradientsConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x (P, 4), target (P, 4), amplitude (P,), row (P,))``: every (intensity, XOR row) pair,
    P = 4 n_intensities, intensity-major."""
    a = cfg.lattice.L**2 / 25 * np.linspace(cfg.task.amp_min, cfg.task.amp_max, cfg.task.n_intensities)
    xs, ts = zip(*(xor_batch(float(ai)) for ai in a))
    return (np.concatenate(xs)[:, 0], np.concatenate(ts)[:, 0], np.repeat(a, 4), np.tile(np.arange(4), len(a)))


class Kernels:
    """Jitted per-pair estimators on one lattice, vmapped over pairs (x, target) of shape (P, n_ports);
    complex gradients in the G = dC/dRe + i dC/dIm convention."""

    def __init__(self, lattice, cost=None):
        self.lattice = lat = lattice
        self.cost = cost = _PortCost() if cost is None else cost
        cgf = _cost_grad(cost)
        shape = lat.theta0.shape

        def c_of(theta, xi, ti):
            m = eqx.tree_at(lambda s: s.theta0, lat, theta)
            return cost(m.observe(m.evolve(m.init_state(xi), m.n_steps))[None], ti[None])

        def bptt(theta, xi, ti):
            return jnp.conj(jax.grad(c_of)(theta, xi, ti))

        def fd(xi, ti, h):
            n = lat.theta0.size
            flat = jnp.concatenate([lat.theta0.real.ravel(), lat.theta0.imag.ravel()])
            loss = lambda v: c_of((v[:n] + 1j * v[n:]).reshape(shape), xi, ti)  # noqa: E731
            d = central_differences(loss, flat, h)
            return (d[:n] + 1j * d[n:]).reshape(shape)

        def echoes(xi, ti, eta):
            gc, _ = echo_gradient(lat, xi, ti, cgf, eta, centred=True)
            gs, _ = echo_gradient(lat, xi, ti, cgf, eta, centred=False)
            return gc, gs

        def heb(xi, ti, eta, m, loss, averaged, cutoff):
            th, _, _ = heb_update(lat, xi, ti, cgf, eta, m=m, loss=loss, averaged=averaged, cutoff=cutoff)
            return implied_gradient(lat.theta0, th, eta, m=m, loss=loss, averaged=averaged)

        def model(xi, ti, eta, m, loss):
            """First-order models of the steps (module docstring), from BPTT at Theta0 and at Theta1."""
            th1, _, _ = heb_update(lat, xi, ti, cgf, eta, m=m, loss=loss, averaged=False)
            g0, g1 = bptt(lat.theta0, xi, ti), bptt(th1.astype(lat.theta0.dtype), xi, ti)
            simple = g0.real - m * g0.imag / (1.0 - jnp.exp(-loss))
            # averaged: for e^-loss -> 0 (the first decay leaves no momentum for the second echo)
            averaged = 0.5 * (g0.real + g1.real) - 0.5 * m * (g0.imag - g1.imag)
            return simple, averaged

        P = (0, 0)
        self.bptt = jax.jit(jax.vmap(lambda xi, ti: bptt(lat.theta0, xi, ti)))
        self.fd = jax.jit(jax.vmap(fd, in_axes=(*P, None)))
        self.echoes = jax.jit(jax.vmap(echoes, in_axes=(*P, None)))
        self.echoes_eta = jax.jit(jax.vmap(jax.vmap(echoes, in_axes=(*P, None)), in_axes=(None, None, 0)))
        self.heb = jax.jit(jax.vmap(heb, in_axes=(*P, None, None, None, None, None)), static_argnums=(5, 6))
        self.heb_scan = jax.jit(jax.vmap(jax.vmap(heb, in_axes=(*P, None, None, None, None, None)),
                                         in_axes=(None, None, 0, 0, None, None, None)), static_argnums=(5, 6))
        self.model = jax.jit(jax.vmap(model, in_axes=(*P, None, None, None)))
        self.model_scan = jax.jit(jax.vmap(jax.vmap(model, in_axes=(*P, None, None, None)),
                                           in_axes=(None, None, 0, 0, None)))


# ------------------------------------------------------------------------------------------ run
def run_heb_gradients(cfg: HebGradientsConfig, store) -> dict:
    with jax.enable_x64(bool(cfg.lattice.x64)):
        return _run(cfg, store)


def _scan_stats(est, ref) -> dict:
    """Per scan point (leading axis): median and worst rel. error, min cosine over the pairs (a step that
    overflowed, far outside its regime, gives inf / nan: kept, not hidden)."""
    with np.errstate(over="ignore", invalid="ignore"):
        rel = np.stack([rel_errors(e, ref) for e in est])
        cos = np.stack([cosines(e, ref) for e in est])
    return {"median": np.median(rel, axis=1), "worst": np.max(rel, axis=1), "min_cosine": np.min(cos, axis=1),
            "rel": rel}


def _run(cfg: HebGradientsConfig, store) -> dict:
    t_start = time.perf_counter()
    ec = cfg.echo
    lat = build_lattice(cfg.xor())
    k = Kernels(lat)
    x_np, t_np, amp, row = pairs(cfg)
    x, t = jnp.asarray(x_np), jnp.asarray(t_np)
    n_real = 2 * lat.theta0.size

    ref = np.asarray(k.bptt(x, t))
    t_fd = time.perf_counter()
    fd = np.asarray(k.fd(x, t, ec.fd_h))
    t_fd = time.perf_counter() - t_fd
    gc, gs = (np.asarray(a) for a in k.echoes(x, t, ec.eta))
    est = {"centred": gc, "simple_echo": gs, "fd": fd}
    for name, averaged, cutoff in (("heb_simple", False, None), ("heb_averaged", True, None),
                                   ("heb_simple_clip", False, ec.cutoff), ("heb_averaged_clip", True, ec.cutoff)):
        est[name] = np.asarray(k.heb(x, t, ec.eta, ec.m, ec.loss, averaged, cutoff))
    model_simple, model_av = (np.asarray(a) for a in k.model(x, t, ec.eta, ec.m, ec.loss))

    def reference(name):
        return ref.real if name.startswith("heb") else ref

    table = {name: {**stats(est[name], reference(name)),
                    "evolutions": EVOLUTIONS.get(name, 2 * n_real)} for name in ESTIMATORS}
    fd_cmp = {name: stats(est[name], fd.real if name.startswith("heb") else fd) for name in ESTIMATORS if name != "fd"}
    summary: dict = {}
    for name, row_ in table.items():
        summary.update({f"{name}_{key}": v for key, v in row_.items()})
    for name, row_ in fd_cmp.items():
        summary.update({f"{name}_fd_median_rel_error": row_["median_rel_error"],
                        f"{name}_fd_worst_rel_error": row_["worst_rel_error"]})
    gnorm = np.linalg.norm(_embed(ref), axis=1)
    summary.update({"n_pairs": len(amp), "n_real_params": n_real, "eta": ec.eta, "m": ec.m,
                    "grad_norm_min": float(gnorm.min()), "grad_norm_max": float(gnorm.max())})
    # first-order models of the HEB steps (module docstring): measured error vs modelled error
    for name, mod in (("heb_simple", model_simple), ("heb_averaged", model_av)):
        rel_meas, rel_mod = rel_errors(est[name], ref.real), rel_errors(mod, ref.real)
        summary[f"{name}_model_median_rel_error"] = float(np.median(rel_mod))
        summary[f"{name}_model_residual_median"] = float(np.median(rel_errors(est[name], mod) / rel_meas))
    summary["heb_simple_mgi_over_gr_median"] = float(np.median(
        ec.m * np.linalg.norm(_embed(ref.imag), axis=1) / np.linalg.norm(_embed(ref.real), axis=1)))

    # error vs eta (every estimator at m), error vs m (HEB steps at eta)
    etas, ms = cfg.etas(), cfg.ms()
    gce, gse = (np.asarray(a) for a in k.echoes_eta(x, t, jnp.asarray(etas)))
    m_fix, eta_fix = jnp.full(len(etas), ec.m), jnp.full(len(ms), ec.eta)
    hs_e = np.asarray(k.heb_scan(x, t, jnp.asarray(etas), m_fix, ec.loss, False, None))
    ha_e = np.asarray(k.heb_scan(x, t, jnp.asarray(etas), m_fix, ec.loss, True, None))
    hs_m = np.asarray(k.heb_scan(x, t, eta_fix, jnp.asarray(ms), ec.loss, False, None))
    ha_m = np.asarray(k.heb_scan(x, t, eta_fix, jnp.asarray(ms), ec.loss, True, None))
    hac_m = np.asarray(k.heb_scan(x, t, eta_fix, jnp.asarray(ms), ec.loss, True, ec.cutoff))
    mods_m, moda_m = (np.asarray(a) for a in k.model_scan(x, t, eta_fix, jnp.asarray(ms), ec.loss))
    eta_stats = {"centred": _scan_stats(gce, ref), "simple_echo": _scan_stats(gse, ref),
                 "heb_simple": _scan_stats(hs_e, ref.real), "heb_averaged": _scan_stats(ha_e, ref.real)}
    m_stats = {"heb_simple": _scan_stats(hs_m, ref.real), "heb_averaged": _scan_stats(ha_m, ref.real),
               "heb_averaged_clip": _scan_stats(hac_m, ref.real),
               "model_simple": _scan_stats(mods_m, ref.real), "model_averaged": _scan_stats(moda_m, ref.real)}
    sc = cfg.scan
    for name in ("centred", "simple_echo"):
        summary[f"{name}_eta_slope"] = loglog_slope(etas, eta_stats[name]["median"], sc.fit_eta_min, sc.fit_eta_max)
    summary["heb_averaged_eta_slope"] = loglog_slope(etas, eta_stats["heb_averaged"]["median"], sc.fit_av_eta_min,
                                                     sc.fit_av_eta_max)
    # the simple step's floor: slope over the small etas (flat: the O(m) bias), and its value there
    summary["heb_simple_eta_slope_small"] = loglog_slope(etas, eta_stats["heb_simple"]["median"],
                                                         sc.fit_floor_eta_min, sc.fit_floor_eta_max)
    summary["heb_simple_floor"] = float(eta_stats["heb_simple"]["median"][0])
    best = int(np.argmin(eta_stats["centred"]["median"]))
    summary["centred_best_eta"], summary["centred_best_median_rel_error"] = (
        float(etas[best]), float(eta_stats["centred"]["median"][best]))
    ma = m_stats["heb_averaged"]["median"]
    summary["heb_averaged_m_slope_small"] = loglog_slope(ms, ma, sc.fit_m_small_min, sc.fit_m_small_max)
    summary["heb_averaged_m_slope_large"] = loglog_slope(ms, ma, sc.fit_m_large_min, sc.fit_m_large_max)
    summary["heb_simple_m_slope_large"] = loglog_slope(ms, m_stats["heb_simple"]["median"], sc.fit_m_large_min,
                                                       sc.fit_m_large_max)
    summary["heb_averaged_best_m"] = float(ms[int(np.argmin(ma))])
    summary["heb_averaged_best_m_median_rel_error"] = float(np.min(ma))
    summary["heb_averaged_min_cosine_over_m"] = float(np.min(m_stats["heb_averaged"]["min_cosine"]))
    summary["heb_averaged_clip_min_cosine_over_m"] = float(np.min(m_stats["heb_averaged_clip"]["min_cosine"]))
    summary["fd_time_s"] = t_fd
    summary["wall_time_s"] = time.perf_counter() - t_start

    text = format_table(table, fd_cmp, cfg)
    if store is not None:
        store.save_array("data/gradients.npz", amplitude=amp, row=row, bptt=ref, model_simple=model_simple,
                         model_averaged=model_av, theta0=np.asarray(lat.theta0), **est)
        store.save_figure_data("eta_scan", eta=etas, m=ec.m, eta_table=ec.eta,
                               slopes=np.array([summary["centred_eta_slope"], summary["simple_echo_eta_slope"],
                                                summary["heb_simple_eta_slope_small"],
                                                summary["heb_averaged_eta_slope"]]),
                               **{f"{n}_{q}": v[q] for n, v in eta_stats.items() for q in ("median", "worst", "rel")})
        store.save_figure_data("m_scan", m=ms, eta=ec.eta, m_table=ec.m,
                               **{f"{n}_{q}": v[q] for n, v in m_stats.items()
                                  for q in ("median", "worst", "min_cosine", "rel")})
        (Path(store.path) / "gradient_table.md").write_text(text + "\n")
        for name, row_ in table.items():
            store.log({"event": "estimator", "estimator": name, **row_,
                       "message": f"{LABELS[name]}: median {row_['median_rel_error']:.3g}, worst "
                                  f"{row_['worst_rel_error']:.3g}, min cos {row_['min_cosine']:.9f}"})
        figures(store.path)
    return summary


def format_table(table: dict, fd_cmp: dict, cfg: HebGradientsConfig) -> str:
    """Markdown table of the estimators (vs BPTT; the HEB steps vs dC/dRe Theta0 only)."""
    ec = cfg.echo
    lines = [f"HEB gradient table: {cfg.task.n_intensities} intensities x 4 XOR rows, eta = {ec.eta:g}, "
             f"m = {ec.m:.6g}, loss = {ec.loss:g}, clip cutoff {ec.cutoff:g}, FD step {ec.fd_h:g}", "",
             "| estimator | reference | median rel. err | worst rel. err | min cosine | median cosine | "
             "worst rel. err vs FD | evolutions |", "|---|---|---|---|---|---|---|---|"]
    for name, r in table.items():
        what = "dC/dRe (BPTT)" if name.startswith("heb") else "G (BPTT)"
        vs_fd = f"{fd_cmp[name]['worst_rel_error']:.2e}" if name in fd_cmp else "-"
        lines.append(f"| {LABELS[name]} | {what} | {r['median_rel_error']:.2e} | {r['worst_rel_error']:.2e} | "
                     f"{r['min_cosine']:.12f} | {r['median_cosine']:.12f} | {vs_fd} | {r['evolutions']} |")
    lines.append("| BPTT (autodiff) | - | 0 | 0 | 1 | 1 | - | not physical |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ figures
def figures(run_dir) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    names = []
    with np.load(run_dir / "data" / "eta_scan.npz") as z:
        d = dict(z)
    fig, ax = plt.subplots(figsize=(6.6, 4.4))
    for name, slope in zip(("centred", "simple_echo", "heb_simple", "heb_averaged"), d["slopes"]):
        (line,) = ax.loglog(d["eta"], d[f"{name}_median"], "o-", ms=3,
                            label=f"{LABELS[name]} (median; fitted slope {slope:.2f})")
        ax.loglog(d["eta"], d[f"{name}_worst"], ":", color=line.get_color(), lw=1)
    ax.set_xlabel(r"error-injection strength $\eta$ (dimensionless)")
    ax.set_ylabel("relative error vs BPTT (dimensionless)")
    ax.axvline(float(d["eta_table"]), color="grey", lw=0.6)
    ax.set_title(f"gradient error vs eta (HEB steps: m = {float(d['m']):.3g}); dotted: worst pair", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(run_dir / "error_vs_eta.png", dpi=120)
    plt.close(fig)
    names.append("error_vs_eta.png")
    with np.load(run_dir / "data" / "m_scan.npz") as z:
        d = dict(z)
    fig, ax = plt.subplots(figsize=(6.6, 4.4))
    for name, label, style in (("heb_simple", "simple step", "o-"), ("heb_averaged", "averaged step", "s-"),
                               ("heb_averaged_clip", "averaged step, clipped", "x--")):
        (line,) = ax.loglog(d["m"], d[f"{name}_median"], style, ms=4, label=f"{label} (median)")
        ax.loglog(d["m"], d[f"{name}_worst"], ":", color=line.get_color(), lw=1)
    for name, label, style in (("model_simple", "first-order model, simple", "--"),
                               ("model_averaged", "first-order model, averaged", "-.")):
        ax.loglog(d["m"], d[f"{name}_median"], style, color="grey", lw=1, label=label)
    ax.axvline(float(d["m_table"]), color="grey", lw=0.6)
    ax.set_xlabel("mass m of the learning field in the decay step (dimensionless)")
    ax.set_ylabel("relative error of dC/dRe Theta0 vs BPTT")
    ax.set_title(f"HEB step error vs m at eta = {float(d['eta']):.3g}; dotted: worst pair", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(run_dir / "error_vs_m.png", dpi=120)
    plt.close(fig)
    names.append("error_vs_m.png")
    return names


# ------------------------------------------------------------------------------------------ matrix
MATRIX_AMPLITUDE = 0.9
"""The matrix rows' intensity: a = (L^2/25) * 0.9 (mid reference range), L = 4."""


def matrix_rows() -> list[dict]:
    """The HEB rules on the XOR lattice (L = 4, T = 20, 500 split steps; the 4 rows at one intensity,
    batch mean) vs the :class:`Autodiff` rule (BPTT) and vs central finite differences of the batch-mean
    cost (step 1e-5, 64 forward evaluations). HEB steps compare dC/dRe Theta0 only. Call under float64."""
    from physlearning.rules.autodiff import Autodiff
    from physlearning.rules.echo import HamiltonianEcho, HebStep

    cfg = HebGradientsConfig()
    lat = build_lattice(cfg.xor())
    x, t = (jnp.asarray(a) for a in xor_batch(cfg.lattice.L**2 / 25 * MATRIX_AMPLITUDE))
    cost = _PortCost()
    ec = cfg.echo
    n = lat.theta0.size
    ref = jnp.conj(Autodiff().estimate(lat, (x, t), cost, None)[0].theta0)

    def batch_cost(v):
        m = eqx.tree_at(lambda s: s.theta0, lat, (v[:n] + 1j * v[n:]).reshape(lat.theta0.shape))
        return jnp.mean(jax.vmap(lambda xi, ti: cost(m.predict(xi[None])[0], ti))(x, t))

    flat = jnp.concatenate([lat.theta0.real.ravel(), lat.theta0.imag.ravel()])
    d = jax.jit(lambda v: central_differences(batch_cost, v, ec.fd_h))(flat)
    fd = (d[:n] + 1j * d[n:]).reshape(lat.theta0.shape)
    scale = lambda r: r.m / (r.eta * (1.0 - np.exp(-r.loss))) * (1.0 if r.averaged else 2.0)  # noqa: E731
    mass = f"m=1/{1 / ec.m:.0f}" if abs(1 / ec.m - round(1 / ec.m)) < 1e-9 * (1 / ec.m) else f"m={ec.m:.3g}"
    rules = [(HamiltonianEcho(eta=ec.eta, centred=True), "HamiltonianEcho (centred)", False, "3 evolutions"),
             (HamiltonianEcho(eta=ec.eta, centred=False), "HamiltonianEcho (simple)", False, "2 evolutions"),
             (HebStep(eta=ec.eta, m=ec.m, loss=ec.loss, averaged=False), f"HebStep simple {mass}", True,
              "dC/dRe only; O(m) bias m|g_I|/|g_R|; 2 evolutions"),
             (HebStep(eta=ec.eta, m=ec.m, loss=ec.loss, averaged=True), f"HebStep averaged {mass}", True,
              "dC/dRe only; O(eta/m) bias (gradient change between echoes); 4 evolutions")]
    rows = []
    for rule, name, real, note in rules:
        g = jax.jit(lambda r=rule: r.estimate(lat, (x, t), cost, None)[0].theta0)()
        est = scale(rule) * jnp.real(g) if real else jnp.conj(g)
        r_ref, r_fd = (ref.real, fd.real) if real else (ref, fd)
        rows.append({"substrate": "KerrLattice 4x4 (HEB XOR)", "rule": name,
                     "cosine": float(cosines(est[None], r_ref[None])[0]),
                     "rel_error": float(rel_errors(est[None], r_ref[None])[0]),
                     "fd_cosine": float(cosines(est[None], r_fd[None])[0]),
                     "fd_rel_error": float(rel_errors(est[None], r_fd[None])[0]),
                     "note": f"eta={ec.eta:g}, batch of 4 XOR rows at a={float(x[0, 0, 0].real):.3f}; {note}"})
    return rows


EXPERIMENTS = [
    Experiment(
        name="heb_gradients",
        config_cls=HebGradientsConfig,
        run=run_heb_gradients,
        description="HEB gradient table on the XOR Kerr lattice: echoes and the paper's HEB steps vs BPTT and "
                    "finite differences, error vs eta and m (Lopez-Pastor & Marquardt 2023)",
        headline=("centred_median_rel_error", "centred_worst_rel_error", "heb_averaged_median_rel_error"),
        figures=figures,
    ),
]
