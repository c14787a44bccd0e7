"""``heb_xor``: XOR on a Kerr-cavity lattice trained by Hamiltonian Echo Backpropagation (issue #23).

Reference: V. Lopez-Pastor and F. Marquardt, PRX 13, 031020 (2023); the authors' code
github.com/victorlopezpastor/self_learning_machines, ``cavity_array/XOR_optimization.ipynb`` (the
set-up), ``cavity_array/datasets.py`` (``XOR_fields``: inputs, targets, Theta initialisation),
``cavity_array/HEB.py`` (``C``, ``dC``: output port and cost; ``HEB_step_av``, ``decay_step``).
Only the physics is taken from it.

Set-up (reference values are the defaults of the example ``examples/heb_xor.toml``):

* an L x L lattice (L = 4) of Kerr cavities, J = 10, g = -2, kappa = 0.3, omega = 0, one sample
  period T = 20 in ``n_steps`` = 500 split steps (:class:`~physlearning.substrates.wave_lattice.KerrLattice`,
  4 signal ports at the corners (0,0), (0,L-1), (L-1,0), (L-1,L-1));
* inputs: ports 0 and 1 get (s0, s1) * a with s = +-1 (inputs "0" -> +1, "1" -> -1; the four XOR
  rows (0,0), (0,1), (1,0), (1,1)), ports 2 and 3 get 0;
  amplitudes a = (L^2/25) * linspace(amp_min, amp_max, n_intensities) (reference 0.4 .. 1.4, 40 values);
* output: the signal mode of port 3 (corner (L-1, L-1)) after T; target +a/2 for (0,0) and (1,1),
  -a/2 for (0,1) and (1,0); cost C = |psi_3 - target|^2 (``HEB.C``); a row is right when
  sign Re psi_3 = sign target;
* the learning field Theta0 starts real, uniform in [0, 1) per site, normalised to sum |Theta0|^2 = 1
  (the same draw for every intensity, as in the reference);
* each intensity is an independent machine (the reference simulates the 40 trajectories in
  parallel, each with its own Theta): all of them side by side in one
  :class:`~physlearning.core.ensemble.Ensemble` and one :class:`~physlearning.train.Trainer` fit,
  full batch of the 4 XOR rows, gradient from :class:`~physlearning.rules.echo.HamiltonianEcho`
  (centred echo, eta = 1e-4, 3 evolutions per input and update), Adam.

Differences from the reference: the reference makes one single-sample step per iteration (a random
XOR row, 2000 iterations, 4 evolutions with ``HEB_step_av``) and turns the echo's momentum kick into a
position update through the decay step (friction, effective step (eta / 2m) dC/dRe Theta per echo,
soft-clipped at 0.1); the default here is a full-batch Adam step (cosine decay from lr 0.02, 300
updates, each update soft-clipped at 0.1 per site) on the centred-echo estimate, all 40 machines side
by side as one :class:`~physlearning.core.ensemble.Ensemble` (``train_machines``). ``rule.kind =
"heb_averaged"`` (or ``"heb_simple"``) runs the paper's learning step instead (:class:`HebStep`; with
``train.optimizer = "sgd"``, ``train.lr = 1``, ``train.max_step = 0`` the run applies exactly the
machine's own update; other settings rescale or clip it; ``train.batch_size = 1`` makes one
single-row step per update, as the reference). ``train_imag = false`` restricts the update to Re
Theta0, as the reference's decay step does (it damps the momentum Im Theta to zero after each echo);
the default also descends along Im Theta0.

Complex-gradient convention: :class:`HamiltonianEcho` (like ``jax.grad``) returns ``conj(G)``; the
optimiser is :func:`~physlearning.train.complex_optim.complex_optimizer`, which conjugates complex
leaves first, so the optimiser steps along ``-G`` (see :mod:`physlearning.train.complex_optim`).

Precision: the run is simulated in float64 (``lattice.x64``, a scoped ``jax.enable_x64``). At the
reference set-up (T = 20, strongly chaotic at the higher intensities) the float32 centred echo with
eta = 1e-4 differs from the autodiff gradient by 17% (a = 0.34) to 82% (a = 0.75); in float64 by
1e-8 .. 1e-7.

Run time: the defaults are the reference physics (40 intensities x 500 split steps) with 300
full-batch updates per machine (4 rows x 3 evolutions x 500 steps each), about 25 s on one CPU core.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from physlearning.config import ConfigError, param, section, seed_param
from physlearning.core import Seeds
from physlearning.core.ensemble import Ensemble, PerMember
from physlearning.rules.echo import HamiltonianEcho, HebStep, ModulusSquaredError
from physlearning.runs.registry import Experiment
from physlearning.substrates.wave_lattice import KerrLattice, check_time_step
from physlearning.train import OptimizerSpec, Trainer
from physlearning.train.complex_optim import complex_optimizer

RULE_KINDS = ("centred_echo", "echo", "heb_simple", "heb_averaged")
OUTPUT_PORT = 3
XOR_SIGNS = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])
"""port-0/port-1 input signs of the XOR rows (0,0), (0,1), (1,0), (1,1) (bit 0 -> +1, bit 1 -> -1)."""
XOR_TARGET_SIGNS = np.array([1.0, -1.0, -1.0, 1.0])


# ------------------------------------------------------------------------------------------ config
@dataclasses.dataclass(frozen=True)
class Lattice:
    """Kerr lattice (units: hbar = 1, coefficients are angular frequencies, time their inverse)."""

    L: int = param(4, ge=2, le=16, doc="sites per side of the square lattice")
    J: float = param(10.0, gt=-1e4, lt=1e4, doc="hopping")
    g: float = param(-2.0, gt=-1e4, lt=1e4, doc="Kerr coefficient")
    kappa: float = param(0.3, gt=-1e4, lt=1e4, doc="port coupling")
    T: float = param(20.0, gt=0, le=1e4, doc="sample period (forward time)")
    n_steps: int = param(500, ge=1, le=100_000, doc="split steps per sample period (dt = T / n_steps)")
    x64: bool = param(True, doc="simulate in float64 (float32 echo gradients at T = 20 are off by 20-80%)")
    reversibility_tol: float = param(1e-6, gt=0, le=1.0,
                                     doc="warn (run metrics) when an echo without injection misses its start by more")


@dataclasses.dataclass(frozen=True)
class Task:
    """Input amplitudes a = (L^2/25) * linspace(amp_min, amp_max, n_intensities)."""

    n_intensities: int = param(40, ge=1, le=1000)
    amp_min: float = param(0.4, gt=0, le=100)
    amp_max: float = param(1.4, gt=0, le=100)


@dataclasses.dataclass(frozen=True)
class Rule:
    """``kind``: ``centred_echo`` / ``echo`` (:class:`HamiltonianEcho`, a gradient estimate fed to the
    optimiser) or the paper's learning steps ``heb_simple`` / ``heb_averaged`` (:class:`HebStep`: the
    machine's own displacement, decay step with mass ``m`` and friction ``loss``, applied with
    ``train.optimizer = "sgd"``, ``train.lr = 1`` to reproduce the physical update)."""

    kind: str = param("centred_echo", choices=RULE_KINDS, doc="gradient estimate or HEB learning step")
    eta: float = param(1e-4, gt=0, le=1.0, doc="error-injection strength of the echo")
    m: float = param(1.0 / 300.0, gt=0, le=1e12, doc="mass of the learning field in the decay step (heb_*)")
    loss: float = param(100.0, gt=0, le=1e4, doc="damping x time of the decay step (heb_*)")
    cutoff: float = param(0.0, ge=0, le=1e3, doc="soft clip of the decay-step kick (heb_*; 0: off, reference 0.1)")


@dataclasses.dataclass(frozen=True)
class Train:
    """``batch_size`` XOR rows per update (4: full batch, one update per epoch; 1: one row per update,
    the 4 rows in a fresh random order each epoch, as the reference's single-sample steps), every
    intensity at once."""

    epochs: int = param(300, ge=1, le=1_000_000)
    batch_size: int = param(4, choices=(1, 2, 4), doc="XOR rows per update (4 // batch_size updates per epoch)")
    optimizer: str = param("adam", choices=("sgd", "adam"))
    schedule: str = param("cosine", choices=("constant", "cosine"))
    lr: float = param(0.02, gt=0, le=1e3)
    momentum: float = param(0.0, ge=0, lt=1, doc="sgd momentum (0: plain SGD)")
    train_imag: bool = param(True, doc="also descend along Im theta0 (false: Re only, as the reference)")
    max_step: float = param(0.1, ge=0, le=1e3, doc="per-site soft clip of each update (0: off; reference 0.1)")

    @property
    def updates(self) -> int:
        """Updates per machine over the run: ``epochs x 4 // batch_size``."""
        return self.epochs * (4 // self.batch_size)


@dataclasses.dataclass(frozen=True)
class HebXorConfig:
    seed: int = seed_param()
    lattice: Lattice = section(Lattice)
    task: Task = section(Task)
    rule: Rule = section(Rule)
    train: Train = section(Train)

    def validate(self) -> None:
        t = self.task
        if t.amp_max < t.amp_min:
            raise ConfigError(f"task.amp_max = {t.amp_max}: smaller than task.amp_min = {t.amp_min}; "
                              "allowed amp_min <= amp_max")
        if t.n_intensities > 1 and t.amp_max == t.amp_min:
            raise ConfigError(f"task.amp_max = task.amp_min = {t.amp_min} with n_intensities = "
                              f"{t.n_intensities}: the intensities would repeat; widen the range or use 1")
        for name in ("J", "g", "kappa"):
            v = getattr(self.lattice, name)
            if not np.isfinite(v):
                raise ConfigError(f"lattice.{name} = {v!r}: must be finite")
        check_lattice_time_step(self)


def check_lattice_time_step(cfg) -> None:
    """Refuse ``lattice.n_steps`` too small for the split step's accuracy at this J, g and the largest
    field (input amplitude or the normalised Theta0, whichever is larger), naming the value."""
    a_max = cfg.lattice.L**2 / 25 * cfg.task.amp_max
    try:
        check_time_step(build_lattice(cfg, theta0=np.zeros((cfg.lattice.L,) * 2, complex)), max(a_max**2, 1.0),
                        what=f"lattice.T / lattice.n_steps = {cfg.lattice.T} / {cfg.lattice.n_steps} = dt")
    except ValueError as e:
        raise ConfigError(str(e)) from None


# ------------------------------------------------------------------------------------------ set-up
def amplitudes(cfg: HebXorConfig) -> np.ndarray:
    t = cfg.task
    return cfg.lattice.L**2 / 25 * np.linspace(t.amp_min, t.amp_max, t.n_intensities)


def xor_batch(amp: float) -> tuple[np.ndarray, np.ndarray]:
    """``(x (4, 1, 4), target (4, 1, 4))`` complex: the four XOR rows at input amplitude ``amp``
    (target nonzero only at the output port; the cost only reads that port, see :class:`_PortCost`)."""
    ctype = (jnp.zeros(()) * 1j).dtype  # complex128 under x64
    x = np.zeros((4, 1, 4), ctype)
    x[:, 0, :2] = XOR_SIGNS * amp
    y = np.zeros((4, 1, 4), ctype)
    y[:, 0, OUTPUT_PORT] = 0.5 * amp * XOR_TARGET_SIGNS
    return x, y


class _PortCost(ModulusSquaredError):
    """C = |psi_out[port 3] - target|^2 (the reference's ``HEB.C``: only the output port counts)."""

    def __call__(self, y, target):
        d = y[..., OUTPUT_PORT] - target[..., OUTPUT_PORT]
        return jnp.sum(d.real**2 + d.imag**2)


def initial_theta(cfg: HebXorConfig) -> np.ndarray:
    L = cfg.lattice.L
    th = Seeds(cfg.seed).rng("model.theta0").random((L, L))
    return (th / np.sqrt(np.sum(th**2) + 1e-14)).astype(complex)


def build_lattice(cfg: HebXorConfig, theta0=None) -> KerrLattice:
    lc = cfg.lattice
    return KerrLattice(lc.L, 2, J=lc.J, g=lc.g, kappa=lc.kappa, dt=lc.T / lc.n_steps, n_steps=lc.n_steps,
                       theta0=initial_theta(cfg) if theta0 is None else theta0)


def _precision(cfg: HebXorConfig):
    """float64 for the whole run when ``lattice.x64`` (a scoped ``jax.enable_x64``, nothing global)."""
    return jax.enable_x64(bool(cfg.lattice.x64))


def template(cfg: HebXorConfig) -> KerrLattice:
    """The checkpoint's shape: one lattice (the checkpoint holds the machine of the last intensity;
    every trained theta0 is in ``data/theta0.npz``). Built in the default precision: ``load_run``
    reads the checkpoint outside the run's float64 scope, so a complex128 checkpoint arrives as
    complex64 (use ``data/theta0.npz`` for the full-precision fields)."""
    return build_lattice(cfg)


# ------------------------------------------------------------------------------------------ run
def run_heb_xor(cfg: HebXorConfig, store) -> dict:
    with _precision(cfg):
        return _run(cfg, store)


def build_rule(rc: Rule):
    """The per-machine rule of ``rule.kind`` (see :class:`Rule`)."""
    if rc.kind in ("centred_echo", "echo"):
        return HamiltonianEcho(eta=rc.eta, centred=rc.kind == "centred_echo")
    return HebStep(eta=rc.eta, m=rc.m, loss=rc.loss, averaged=rc.kind == "heb_averaged",
                   cutoff=rc.cutoff if rc.cutoff > 0 else None)


def ensemble_batch(amps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` of shape (4, n_intensities, 1, 4): the four XOR rows (batch axis) for every machine
    (member axis, :class:`~physlearning.core.ensemble.Ensemble` layout)."""
    rows = [xor_batch(float(a)) for a in amps]
    return np.stack([r[0] for r in rows], axis=1), np.stack([r[1] for r in rows], axis=1)


@jax.jit
def _member_outputs(ens: Ensemble, x):
    """Re/Im output port of every machine for every row, (n_intensities, 4)."""
    return ens.predict(x)[:, :, 0, OUTPUT_PORT].T


class EnsembleFit(NamedTuple):
    """What :func:`train_machines` returns: per machine (member) the outputs of the 4 XOR rows before
    and after training (complex, (n, 4)), the per-epoch cost (n, epochs), whether all four signs are
    right before/after, and the Trainer's result (``result.model`` the trained Ensemble)."""

    out0: np.ndarray
    out1: np.ndarray
    loss: np.ndarray
    correct0: np.ndarray
    correct1: np.ndarray
    target: np.ndarray
    result: object


def train_machines(machines: list, amps: np.ndarray, rc: Rule, tc: Train, seed: int,
                   desc: str = "heb_xor") -> EnsembleFit:
    """Train independent XOR machines side by side (one :class:`Ensemble`, one Trainer fit): machine k
    sees the XOR rows at amplitude ``amps[k]``; full batch of the 4 rows per update."""
    n = len(machines)
    rule = PerMember(build_rule(rc))
    spec = OptimizerSpec(tc.optimizer, tc.lr, schedule=tc.schedule, momentum=tc.momentum)
    opt = complex_optimizer(spec, tc.updates, train_imag=tc.train_imag, max_step=tc.max_step)
    ens = Ensemble.stack(machines)
    x, y = ensemble_batch(amps)
    xj, tgt = jnp.asarray(x), 0.5 * amps[:, None] * XOR_TARGET_SIGNS[None, :]
    out0 = np.asarray(_member_outputs(ens, xj))
    loss_hist = np.zeros((n, tc.epochs))

    def on_epoch(epoch, model, rec):
        out = np.asarray(_member_outputs(model, xj))
        loss_hist[:, epoch - 1] = np.mean(np.abs(out - tgt) ** 2, axis=1)

    trainer = Trainer(rule, _PortCost(), opt, tc.epochs, batch_size=tc.batch_size, seed=seed, store=None,
                      select="final", progress=False, desc=desc, loss_explosion=None, on_epoch=on_epoch)
    res = trainer.fit(ens, (x, y))
    out1 = np.asarray(_member_outputs(res.model, xj))
    sign = XOR_TARGET_SIGNS[None, :]
    return EnsembleFit(out0, out1, loss_hist, np.all(np.sign(out0.real) == sign, axis=1),
                       np.all(np.sign(out1.real) == sign, axis=1), tgt, res)


@jax.jit
def _reversibility_errors(lattice: KerrLattice, thetas, psis):
    def one(th, psi):
        lat = eqx.tree_at(lambda q: q.theta0, lattice, th)
        s0 = lat.init_state(psi)
        back = lat.time_reverse(lat.evolve(lat.time_reverse(lat.evolve(s0, lat.n_steps)), lat.n_steps))
        return jnp.max(jnp.abs(back - s0)) / jnp.max(jnp.abs(s0))

    return jax.vmap(one)(thetas, psis)


def reversibility_errors(lattice: KerrLattice, thetas: np.ndarray, psis: np.ndarray) -> np.ndarray:
    """Per machine: max |Phi_back - Phi_0| / max |Phi_0| after forward, time reversal, forward, time
    reversal with no error injected (exactly 0 in exact arithmetic; round-off amplified by chaos)."""
    return np.asarray(_reversibility_errors(lattice, jnp.asarray(thetas), jnp.asarray(psis)))


def _run(cfg: HebXorConfig, store) -> dict:
    t0 = time.perf_counter()
    amps = amplitudes(cfg)
    n_int = len(amps)
    fit = train_machines([build_lattice(cfg)] * n_int, amps, cfg.rule, cfg.train, cfg.seed)
    res, model = fit.result, fit.result.model
    out0, out1, loss_hist, right0, right1, tgt = fit.out0, fit.out1, fit.loss, fit.correct0, fit.correct1, fit.target
    thetas = np.asarray(model.members.theta0)
    evolutions = res.history[-1].get("aux_evolutions", 0.0) / n_int
    train_time, compile_time = res.wall_time_s, res.compile_time_s
    if store is not None:
        for k, a in enumerate(amps):
            store.log({"event": "intensity", "index": k, "amplitude": float(a), "final_loss": float(loss_hist[k, -1]),
                       "message": f"intensity {k + 1}/{n_int}: a = {a:.4f}, loss {loss_hist[k, 0]:.3g} -> "
                                  f"{loss_hist[k, -1]:.3g}"})
    # final cost of the trained machines (after the last update), per-sample mean over rows, mean over intensities
    final_cost = np.mean(np.abs(out1 - tgt) ** 2, axis=1)
    initial_cost = np.mean(np.abs(out0 - tgt) ** 2, axis=1)
    lat0, xb = build_lattice(cfg), ensemble_batch(amps)[0]
    rev = np.max([reversibility_errors(lat0, thetas, xb[r, :, 0]) for r in range(4)], axis=0)  # every XOR row
    warnings = []
    if float(rev.max()) > cfg.lattice.reversibility_tol:
        worst = int(np.argmax(rev))
        warnings.append(f"reversibility lost: the echo without injection misses its start by {rev.max():.3g} "
                        f"(intensity {worst}, a = {amps[worst]:.4f}) > lattice.reversibility_tol = "
                        f"{cfg.lattice.reversibility_tol:g}; the echo gradients are not trustworthy there")
    if store is not None:
        for w in warnings:
            store.log({"event": "warning", "message": w})
        store.save_checkpoint(model.member(n_int - 1))
        store.save_figure_data("xor_outputs", intensity=amps**2, amplitude=amps, output_initial=out0,
                               output_final=out1, target=tgt, correct=right1)
        store.save_figure_data("loss", loss=loss_hist, intensity=amps**2)
        store.save_array("data/theta0.npz", theta0=thetas, amplitude=amps)
        figures(store.path)
    return {
        "n_intensities_correct": int(right1.sum()),
        "n_intensities": n_int,
        "n_intensities_correct_initial": int(right0.sum()),
        "correct_per_intensity": [bool(b) for b in right1],
        "final_loss": float(np.mean(final_cost)),
        "initial_loss": float(np.mean(initial_cost)),
        "final_loss_rel": float(np.mean(final_cost / (0.5 * amps) ** 2)),
        "evolutions_per_update": float(evolutions),
        "updates_per_machine": cfg.train.updates,
        "reversibility_error": float(rev.max()),
        "warnings": warnings,
        "train_time_s": train_time, "compile_time_s": compile_time,
        "wall_time_s": time.perf_counter() - t0,
    }


def figures(run_dir) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    names = []
    with np.load(run_dir / "data" / "xor_outputs.npz") as z:
        inten, out0, out1, tgt = z["intensity"], z["output_initial"], z["output_final"], z["target"]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    labels = ["(0,0)", "(0,1)", "(1,0)", "(1,1)"]
    for j in range(4):
        (line,) = ax.plot(inten, out1[:, j].real / np.abs(tgt[:, j]), "o-", ms=3, label=f"input {labels[j]}")
        ax.plot(inten, out0[:, j].real / np.abs(tgt[:, j]), ":", color=line.get_color(), lw=1)
    ax.axhline(1, color="grey", ls="--", lw=0.8)
    ax.axhline(-1, color="grey", ls="-.", lw=0.8)
    ax.axhline(0, color="black", lw=0.5)
    ax.set_xlabel(r"input intensity $|a|^2$ per input port (photon number, dimensionless)")
    ax.set_ylabel(r"Re $\psi_3(T)$ / |target| (dimensionless)")
    ax.set_title("HEB XOR: output port vs intensity (solid: trained, dotted: initial)")
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(run_dir / "xor_outputs.png", dpi=120)
    plt.close(fig)
    names.append("xor_outputs.png")
    loss_file = run_dir / "data" / "loss.npz"
    if loss_file.exists():
        with np.load(loss_file) as z:
            loss, inten = z["loss"], z["intensity"]
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        rel = loss / (0.25 * inten[:, None])
        for k in range(len(inten)):
            ax.semilogy(np.arange(1, loss.shape[1] + 1), rel[k], lw=0.8)
        ax.set_xlabel("update (full batch of the 4 XOR rows)")
        ax.set_ylabel("cost / |target|^2 (dimensionless)")
        ax.set_title("HEB XOR training, one curve per intensity")
        fig.tight_layout()
        fig.savefig(run_dir / "loss.png", dpi=120)
        plt.close(fig)
        names.append("loss.png")
    return names


EXPERIMENTS = [
    Experiment(
        name="heb_xor",
        config_cls=HebXorConfig,
        run=run_heb_xor,
        description="XOR on a Kerr-cavity lattice trained by Hamiltonian echo backpropagation (Lopez-Pastor & "
                    "Marquardt 2023)",
        headline=("n_intensities_correct", "final_loss"),
        tour={"task.n_intensities": 20},
        template=template,
        figures=figures,
    ),
]
