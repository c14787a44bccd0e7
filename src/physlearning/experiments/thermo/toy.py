"""Experiment ``thermo_toy2d``: a Langevin computer generating a 2D toy distribution (two moons, 8
Gaussians, checkerboard), scored by sliced Wasserstein and MMD to held-out samples against a Gaussian fit
and a DDPM."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from physlearning import metrics
from physlearning.baselines.gaussian import GaussianModel
from physlearning.config import param, section, seed_param
from physlearning.core import Seeds
from physlearning.experiments.thermo.sections import (
    DDPM,
    Device,
    Eval,
    Train,
    check_range,
    check_thermo_memory,
    validate_device,
)
from physlearning.experiments.thermo.training import (
    build_computer,
    first_heat,
    fit_ddpm,
    generate_samples,
    heat_figure,
    train_computer,
)
from physlearning.runs import plots
from physlearning.runs.registry import Experiment
from physlearning.runs.store import RunStore
from physlearning.substrates.langevin import LangevinComputer
from physlearning.tasks import toy2d


@dataclasses.dataclass(frozen=True)
class ToyData:
    toy: str = param("moons", choices=toy2d.TOYS)
    n_train: int = param(8000, ge=10)
    n_val: int = param(1000, ge=10)
    n_test: int = param(2000, ge=10)
    limit: float = param(3.0, gt=0, doc="declared range: every coordinate must lie in [-limit, limit]")



@dataclasses.dataclass(frozen=True)
class ToyConfig:
    seed: int = seed_param(0, doc="seed of the toy samples, the device's couplings, noise and training")
    data: ToyData = section(ToyData)
    device: Device = section(Device)
    train: Train = section(Train)
    ddpm: DDPM = section(DDPM)
    eval: Eval = section(Eval)

    def validate(self) -> None:
        validate_device(self, self.data.limit)
        check_thermo_memory(self, 2, self.data.n_train, self.data.n_val, self.data.n_test,
                            sizes={"data.n_train": self.data.n_train})



def toy_data(cfg: ToyConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training, validation and test samples of the toy: streams "data.train", "data.val", "data.test"."""
    seeds, d = Seeds(cfg.seed), cfg.data
    return tuple(toy2d.sample(d.toy, n, seeds.int(f"data.{part}"))  # type: ignore[return-value]
                 for part, n in (("train", d.n_train), ("val", d.n_val), ("test", d.n_test)))


def run_toy(cfg: ToyConfig, store: RunStore) -> dict:
    """Train, generate, score against the test samples with the Gaussian and DDPM baselines; figures:
    :func:`figures_toy` (the runner draws them from the run folder)."""
    d = cfg.data
    seeds = Seeds(cfg.seed)
    x_tr, x_va, x_te = toy_data(cfg)
    for name, x in (("training data", x_tr), ("validation data", x_va), ("test data", x_te)):
        check_range(x, d.limit, name)
    t0 = time.perf_counter()
    model, history, compile_s, sel, codes = train_computer(cfg, x_tr, x_va, store, d.limit)
    train_s = time.perf_counter() - t0
    store.save_checkpoint(model)
    s, heat, _ = generate_samples(model, seeds.key("samples.final"), cfg.eval.n_samples, codes)
    s = np.asarray(s)
    store.save_array("samples.npz", thermo=s, heat=np.asarray(heat))
    out = {"toy": d.toy, "n_parameters": model.n_parameters(), "train_time_s": train_s, "compile_time_s": compile_s,
           "sliced_wasserstein": metrics.sliced_wasserstein(s, x_te), "mmd": metrics.mmd_rbf(s, x_te),
           "heat": float(jnp.mean(heat)), "heat_kT": float(jnp.mean(heat)) / cfg.device.kT,
           "heat_untrained_kT": first_heat(store), "selected_epoch": sel}
    g = GaussianModel.fit(x_tr).sample(cfg.eval.n_samples, seeds.int("baselines.gaussian"))
    out.update(gaussian_sliced_wasserstein=metrics.sliced_wasserstein(g, x_te), gaussian_mmd=metrics.mmd_rbf(g, x_te))
    ref = toy2d.sample(d.toy, cfg.eval.n_samples, seeds.int("data.reference"))
    out.update(heldout_sliced_wasserstein=metrics.sliced_wasserstein(ref, x_te), heldout_mmd=metrics.mmd_rbf(ref, x_te))
    # panel 0 is the held-out data, scored by a new draw of the toy (the floor); the others by their samples
    panels = {"data (held out)": (x_te, "heldout_"), "Langevin computer": (s, ""), "Gaussian": (g, "gaussian_")}
    if cfg.ddpm.enabled:
        sd, nd, ts = fit_ddpm(cfg, x_tr, model.n_parameters(), cfg.eval.n_samples)
        out.update(ddpm_sliced_wasserstein=metrics.sliced_wasserstein(sd, x_te), ddpm_mmd=metrics.mmd_rbf(sd, x_te),
                   ddpm_n_parameters=nd, ddpm_train_time_s=ts)
        panels["DDPM"] = (sd, "ddpm_")
        store.save_array("samples_ddpm.npz", ddpm=sd)
    store.save_figure_data("samples", limit=d.limit, names=np.array(list(panels)),
                           sliced_wasserstein=np.array([out[p + "sliced_wasserstein"] for _, p in panels.values()]),
                           mmd=np.array([out[p + "mmd"] for _, p in panels.values()]),
                           **{f"panel{i}": x for i, (x, _) in enumerate(panels.values())})
    out["beats_gaussian"] = bool(out["sliced_wasserstein"] < out["gaussian_sliced_wasserstein"]
                                 and out["mmd"] < out["gaussian_mmd"])
    return out



def _scatter(panels: dict, path, limit: float) -> Path:
    """One scatter panel per ``{title: points (n, 2)}``."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(2.8 * len(panels), 3.4), squeeze=False)
    for ax, (name, x) in zip(axes[0], panels.items()):
        ax.scatter(x[:, 0], x[:, 1], s=1, alpha=0.4)
        ax.set_xlim(-limit, limit)
        ax.set_ylim(-limit, limit)
        ax.set_aspect("equal")
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return Path(path)



def figures_toy(run_dir) -> list[str]:
    """Training curves, heat per epoch (metrics.jsonl) and the sample panels (data/samples.npz: panel i's
    points, its name, and the sliced Wasserstein distance / MMD^2 to the test samples in its title)."""
    run_dir = Path(run_dir)
    drawn = plots.run_curves(run_dir, "thermo_toy2d") + heat_figure(run_dir)
    if (run_dir / "data" / "samples.npz").is_file():
        with np.load(run_dir / "data" / "samples.npz") as z:
            panels = {}
            for i, (name, sw, mmd) in enumerate(zip(z["names"], z["sliced_wasserstein"], z["mmd"])):
                what = "new draw: " if i == 0 else ""  # panel 0: the data, scored by a new draw (the floor)
                panels[f"{name}\n{what}SW {sw:.3g}, MMD\u00b2 {mmd:.2g}"] = z[f"panel{i}"]
            drawn.append(_scatter(panels, run_dir / "plots" / "samples.png", float(z["limit"])).name)
    return drawn



def template_toy(cfg: ToyConfig) -> LangevinComputer:
    """The checkpoint's shape (two visible units), for ``physlearning.load_run``."""
    return build_computer(cfg.device, 2, Seeds(cfg.seed).key("model.init"))




EXPERIMENT = Experiment(
    "thermo_toy2d", ToyConfig, run_toy,
    "Langevin computer generating a 2D toy distribution (trajectory likelihood) vs Gaussian and DDPM",
    headline=("sliced_wasserstein", "gaussian_sliced_wasserstein", "ddpm_sliced_wasserstein", "mmd",
              "gaussian_mmd", "ddpm_mmd", "heat_kT"),
    tour={"train.epochs": 30, "data.n_train": 4096, "train.schedule": "constant", "eval.n_samples": 500,
          "eval.n_epoch_samples": 500, "ddpm.train_steps": 300, "ddpm.n_steps": 100,
          # the settings of examples/thermo_moons.toml
          "device.n_hidden": 0, "device.couplings": "dense", "device.train_j4": True, "device.n_slices": 20,
          "train.lr": 0.03, "ddpm.width": 27},
    template=template_toy,
    figures=figures_toy,
)
