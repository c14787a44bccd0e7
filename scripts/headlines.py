"""Rerun the README's headline figures on the current code and tabulate them against wave 1.

Protocol (written before any figure of these reruns was read; docs/results.md, "Headline reruns"):
each row reruns its own example config with the seeds of its wave-1 row (no setting changed, no
setting chosen on test data), reports the mean and population std over those seeds, and *agrees*
when |new mean - wave-1 mean| <= wave-1 std + new std (single-seed rows: within the wave-1 seed
spread of the same row, or, where wave 1 had one seed, the target still met). Rows that took a GPU
in wave 1 get one seed on the CPU.

    python scripts/headlines.py run [JOB ...]    # runs missing folders under runs/headlines/
    python scripts/headlines.py table            # markdown table from the saved summaries
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "runs" / "headlines"
EX = ROOT / "examples"

TOY = ["sliced_wasserstein", "gaussian_sliced_wasserstein", "mmd", "gaussian_mmd"]

# job name -> (config, extra --set overrides, seeds, summary keys, wave-1 figure as text)
JOBS: dict[str, tuple[str, list[str], list[int], list[str], str]] = {
    "ep_digits": ("ep_hopfield_digits", [], [0, 1, 2, 3, 4], ["test_accuracy"], "96.61 +- 0.60%"),
    "ep_digits_autodiff": ("ep_hopfield_digits", ['rule.name="autodiff"'], [0, 1, 2, 3, 4],
                           ["test_accuracy"], "96.22 +- 0.58%"),
    "springs": ("ep_springs", [], [0, 1, 2], ["cost_ratio"], "8.4e-6, 8.4e-6, 4.6e-6"),
    "resistors": ("ep_resistors", [], [0, 1, 2], ["test_mse_ratio"], "<= 4.4e-12"),
    "resistors_coupled": ("ep_resistors_coupled", [], [0, 1, 2], ["test_mse_ratio"], "<= 3.2e-12"),
    "resistors_xor": ("ep_resistors_xor", [], [0, 1, 2, 3, 4], ["accuracy"], "1.0 on 5/5"),
    "scattering_nohidden": ("scattering_optdigits_nohidden", [], [0, 1, 2, 3, 4], ["test_accuracy"],
                            "95.10 +- 0.34%"),
    "scattering_hidden80": ("scattering_optdigits_hidden80", [], [0, 1, 2, 3, 4], ["test_accuracy"],
                            "97.70 +- 0.31%"),
    "reservoir_mackey_glass": ("reservoir_mackey_glass", [], [0], ["nrmse"], "3.54e-5"),
    "reservoir_memory": ("reservoir_memory", [], [0], ["memory_capacity"], "35.5"),
    "reservoir_fsdd": ("reservoir_fsdd", [], [0], ["test_accuracy", "speaker_accuracy_mean"], "97.0% / 68.6%"),
    "reservoir_network": ("reservoir_network", [], [0], ["nrmse", "nrmse_std", "best_single_nrmse",
                                                         "best_single_nrmse_std"], "0.457 +- 0.025 vs 0.493 +- 0.046"),
    "thermo_moons": ("thermo_moons", [], [0, 1, 2], TOY, "SW 0.149 +- 0.023 vs 0.250; MMD 0.0010 vs 0.0038"),
    "thermo_8gaussians": ("thermo_8gaussians", [], [0, 1, 2], TOY,
                          "SW 0.201 +- 0.007 vs 0.321; MMD 0.0008 vs 0.0027"),
    "thermo_checkerboard": ("thermo_checkerboard", [], [0, 1, 2], TOY,
                            "SW 0.100 +- 0.014 vs 0.182; MMD 0.0004 vs 0.0020"),
    "thermo_digits8x8": ("thermo_digits8x8", [], [0, 1, 2, 3, 4], ["confident_fraction", "ddpm_confident_fraction"],
                         "99.74 +- 0.21% (DDPM 81.1%)"),
    "thermo_mnist012": ("thermo_mnist012", [], [0], ["confident_fraction"], "95.0 +- 1.3% (H100, 5 seeds)"),
    "ep_mnist": ("ep_hopfield_mnist", [], [0], ["test_accuracy"], "95.06 +- 0.51% (H200; CPU seed 0 95.70%)"),
}


def folder(job: str, seed: int) -> Path:
    return OUT / job / f"s{seed}"


def run(jobs: list[str]) -> None:
    exe = Path(sys.executable).with_name("physlearning")
    for job in jobs or list(JOBS):
        cfg, sets, seeds, _, _ = JOBS[job]
        for s in seeds:
            d = folder(job, s)
            if (d / "summary.json").exists() and json.loads((d / "summary.json").read_text()).get("status") == "ok":
                continue
            if d.exists():
                d.rename(d.with_name(f"{d.name}.stale{int(time.time())}"))
            d.parent.mkdir(parents=True, exist_ok=True)
            cmd = [str(exe), "run", str(EX / f"{cfg}.toml"), "--out", str(d), "--set", f"seed={s}"]
            for kv in sets:
                cmd += ["--set", kv]
            t0 = time.time()
            rc = subprocess.call(cmd, cwd=ROOT, env=os.environ.copy(), stdout=subprocess.DEVNULL)
            print(f"{job} seed {s}: rc {rc}, {time.time() - t0:.0f} s", flush=True)


def table() -> str:
    lines = ["| job | seeds | key | mean +- std (new) | per seed | wave 1 |", "|---|---|---|---|---|---|"]
    for job, (_, _, seeds, keys, old) in JOBS.items():
        sums = [json.loads((folder(job, s) / "summary.json").read_text())
                for s in seeds if (folder(job, s) / "summary.json").exists()]
        sums = [m for m in sums if m.get("status") == "ok"]
        if not sums:
            continue
        for k in keys:
            v = np.array([float(m[k]) for m in sums if k in m])
            if v.size == 0:
                continue
            lines.append(f"| {job} | {len(v)}/{len(seeds)} | {k} | {v.mean():.4g} +- {v.std():.2g} | "
                         f"{', '.join(f'{x:.4g}' for x in v)} | {old} |")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "run":
        run(sys.argv[2:])
    elif len(sys.argv) == 2 and sys.argv[1] == "table":
        print(table())
    else:
        sys.exit(__doc__)
