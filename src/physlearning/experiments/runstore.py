"""Run folders: resolved config, metrics stream, summary, checkpoint, plots, report.

Layout (DESIGN.md section 5)::

    RUN_DIR/config.toml      fully resolved config (rerun with `physlearning run RUN_DIR/config.toml`)
    RUN_DIR/metrics.jsonl    one JSON object per step/epoch/event
    RUN_DIR/summary.json     headline figures as flat keys (test_accuracy, nrmse, wall_time_s, ...)
    RUN_DIR/checkpoint.eqx   equinox serialisation of the last good (or selected) model
    RUN_DIR/plots/*.png
    RUN_DIR/report.md        figures inline, the numbers, the command to reproduce

An existing run folder is never overwritten.
"""

from __future__ import annotations

import json
import math
import shlex
import sys
from pathlib import Path
from typing import Any

import equinox as eqx
import numpy as np

from physlearning import config as cfgmod


class RunExistsError(FileExistsError):
    pass


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if hasattr(v, "item") and getattr(v, "ndim", 1) == 0:
        v = v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return v


class RunStore:
    """One run folder. Creating it refuses a path that already exists."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if self.path.exists():
            raise RunExistsError(
                f"run folder {str(self.path)!r} already exists; choose another --out "
                "(an existing run is never overwritten)"
            )
        (self.path / "plots").mkdir(parents=True)
        self._metrics = open(self.path / "metrics.jsonl", "a")

    @staticmethod
    def fresh_path(base: str | Path, name: str) -> Path:
        """``base/name``, or ``base/name-2``, ``-3``... if taken."""
        base = Path(base)
        p = base / name
        i = 2
        while p.exists():
            p = base / f"{name}-{i}"
            i += 1
        return p

    def write_config(self, data: dict) -> None:
        (self.path / "config.toml").write_text(cfgmod.dumps(data))

    def log(self, record: dict) -> None:
        self._metrics.write(json.dumps(_jsonable(record)) + "\n")
        self._metrics.flush()

    def save_checkpoint(self, model: eqx.Module, name: str = "checkpoint.eqx") -> Path:
        target = self.path / name
        tmp = target.with_suffix(".tmp")
        eqx.tree_serialise_leaves(tmp, model)
        tmp.replace(target)
        return target

    def load_checkpoint(self, like: eqx.Module, name: str = "checkpoint.eqx") -> eqx.Module:
        return eqx.tree_deserialise_leaves(self.path / name, like)

    def write_summary(self, summary: dict) -> None:
        (self.path / "summary.json").write_text(json.dumps(_jsonable(summary), indent=2) + "\n")

    def plot_path(self, name: str) -> Path:
        return self.path / "plots" / name

    def save_array(self, name: str, **arrays: np.ndarray) -> Path:
        target = self.path / name
        np.savez_compressed(target, **{k: np.asarray(v) for k, v in arrays.items()})
        return target

    def close(self) -> None:
        self._metrics.close()


def read_metrics(run_dir: str | Path) -> list[dict]:
    p = Path(run_dir) / "metrics.jsonl"
    if not p.is_file():
        return []
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]


def command_line() -> str:
    args = [Path(sys.argv[0]).name if sys.argv[0].endswith("physlearning") else "physlearning"]
    return " ".join(shlex.quote(a) for a in args + sys.argv[1:])
