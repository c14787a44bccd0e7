"""Load a config, make the run folder, run the experiment, write summary and report."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from physlearning import config as cfgmod
from physlearning.config import ConfigError
from physlearning.experiments import registry
from physlearning.experiments.report import write_report
from physlearning.experiments.runstore import RunStore, command_line
from physlearning.experiments.trainer import DivergenceError


class RunInputError(ValueError):
    """Bad data or device input: found by the experiment's pre-flight check (missing data files;
    no run folder is made) or while the run was under way (unreadable data, an unstable device;
    the run folder keeps ``summary.json`` with ``status = "failed"``)."""


def _input_errors() -> tuple[type[Exception], ...]:
    """The library's errors for bad data and bad device input (each names the bad value), and
    config values found impossible only once the data are read."""
    from physlearning.experiments.thermo import DataRangeError
    from physlearning.substrates.langevin import NonFiniteStateError, StabilityError
    from physlearning.substrates.reservoirs.base import DeviceError
    from physlearning.substrates.scattering import ScatteringError
    from physlearning.tasks.datasets import DataError
    from physlearning.tasks.timeseries import SeriesError

    return (DataError, SeriesError, DeviceError, ScatteringError, DataRangeError, StabilityError, NonFiniteStateError,
            ConfigError)


def resolve(data: dict, overrides: list[str] | None = None) -> tuple[registry.Experiment, Any]:
    """Validate raw config data (+ ``--set`` overrides) into the experiment's config object."""
    data = cfgmod.apply_overrides(dict(data), list(overrides or []))
    name = data.pop("experiment", None)
    exps = registry.experiments()
    if name is None:
        raise ConfigError(f"config has no 'experiment' key: allowed values are {sorted(exps)}")
    if name not in exps:
        raise ConfigError(f"experiment = {name!r}: allowed values are {sorted(exps)}")
    exp = exps[name]
    return exp, cfgmod.from_dict(exp.config_cls, data)


def load(path: str | Path, overrides: list[str] | None = None) -> tuple[registry.Experiment, Any]:
    return resolve(cfgmod.read_toml(path), overrides)


def run(
    exp: registry.Experiment,
    cfg: Any,
    out: str | Path | None = None,
    *,
    runs_dir: str | Path = "runs",
    command: str | None = None,
    run_name: str | None = None,
) -> tuple[dict, Path]:
    """Run one experiment into a new folder; returns ``(summary, run_dir)``.

    On divergence the summary (``status = "diverged"``), metrics and last good checkpoint
    are kept and :class:`DivergenceError` is re-raised.
    """
    if exp.preflight is not None:
        try:
            exp.preflight(cfg)
        except _input_errors() as e:
            raise RunInputError(f"{type(e).__name__}: {e} (no run folder made)") from e
    path = Path(out) if out is not None else RunStore.fresh_path(runs_dir, run_name or exp.name)
    store = RunStore(path)
    resolved = {"experiment": exp.name, **cfgmod.to_dict(cfg)}
    store.write_config(resolved)
    cmd = command or f"physlearning run {path / 'config.toml'}"
    base = {"experiment": exp.name, "description": exp.description, "seed": getattr(cfg, "seed", None), "command": cmd}
    t0 = time.perf_counter()
    try:
        summary = exp.run(cfg, store)
    except DivergenceError as e:
        store.write_summary({**base, "status": "diverged", "message": str(e), "wall_time_s": time.perf_counter() - t0})
        write_report(path)
        store.close()
        raise
    except _input_errors() as e:
        msg = f"{type(e).__name__}: {e}"
        store.write_summary({**base, "status": "failed", "message": msg, "wall_time_s": time.perf_counter() - t0})
        store.close()
        raise RunInputError(f"{msg} (run folder {path} kept with status 'failed')") from e
    summary = {**base, "status": "ok", **summary}
    summary.setdefault("wall_time_s", time.perf_counter() - t0)
    store.write_summary(summary)
    write_report(path)
    store.close()
    return summary, path


def default_config(exp: registry.Experiment) -> Any:
    return exp.config_cls()


def with_overrides(exp: registry.Experiment, overrides: dict) -> Any:
    data = cfgmod.to_dict(default_config(exp))
    for k, v in overrides.items():
        node = data
        parts = k.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = v
    return cfgmod.from_dict(exp.config_cls, data)


__all__ = ["resolve", "load", "run", "with_overrides", "command_line", "dataclasses"]
