"""Load a config, make the run folder, run the experiment, write summary and report; resume a run.

Every run folder ends with a ``summary.json`` holding ``status`` and, unless ``ok``, the reason:
``diverged`` (DivergenceError), ``interrupted`` (SIGINT/SIGTERM), ``failed`` (a library error found
while running: bad data, an unstable device; or an unexpected exception, whose traceback is kept in
``error.txt``). Errors found before any work (config, missing data files) make no folder.
"""

from __future__ import annotations

import dataclasses
import time
import traceback
from pathlib import Path
from typing import Any

from physlearning import config as cfgmod
from physlearning.errors import (
    ConfigError,
    DivergenceError,
    PhysLearningError,
    RunFolderError,
    RunInterrupted,
)
from physlearning.runs import registry
from physlearning.runs.report import write_report
from physlearning.runs.store import RunStore, check_run_folder, command_line, provenance, read_summary
from physlearning.train import interrupt


class RunInputError(PhysLearningError, ValueError):
    """Bad data or device input: found by the experiment's pre-flight check (missing data files;
    no run folder is made) or while the run was under way (unreadable data, an unstable device;
    the run folder keeps ``summary.json`` with ``status = "failed"``)."""


class RunFailed(PhysLearningError, RuntimeError):
    """An unexpected exception inside a run; its traceback is in the run folder's ``error.txt``."""


def resolve(data: dict, overrides: list[str] | None = None) -> tuple[registry.Experiment, Any]:
    """Validate raw config data (+ ``--set`` overrides) into the experiment's config object."""
    data = cfgmod.apply_overrides(dict(data), list(overrides or []))
    name = data.pop("experiment", None)
    exps = registry.experiments()
    if name is None:
        raise ConfigError(f"config has no 'experiment' key: allowed values are {sorted(exps)}")
    if not isinstance(name, str) or name not in exps:
        raise ConfigError(f"experiment = {name!r}: allowed values are {sorted(exps)}")
    exp = exps[name]
    return exp, cfgmod.from_dict(exp.config_cls, data)


def load(path: str | Path, overrides: list[str] | None = None) -> tuple[registry.Experiment, Any]:
    """A config file or the name of a built-in experiment (its defaults)."""
    if not str(path).endswith(".toml") and not Path(path).exists() and str(path) in registry.experiments():
        return resolve({"experiment": str(path)}, overrides)
    return resolve(cfgmod.read_toml(path), overrides)


def _finish(store: RunStore, base: dict, status: str, message: str, t0: float) -> None:
    store.write_summary({**base, "status": status, "message": message, "wall_time_s": time.perf_counter() - t0})
    try:
        write_report(store.path)
    except Exception:  # noqa: BLE001  the report must never hide the run's own error
        pass
    store.close()


def run(
    exp: registry.Experiment,
    cfg: Any,
    out: str | Path | None = None,
    *,
    runs_dir: str | Path = "runs",
    command: str | None = None,
    run_name: str | None = None,
    resume: bool = False,
) -> tuple[dict, Path]:
    """Run one experiment into a new folder (``resume``: continue the run in ``out``); returns
    ``(summary, run_dir)``.

    On divergence, interruption or failure the summary (with its status and reason), metrics and
    last good checkpoint are kept and the error is re-raised (unexpected exceptions as
    :class:`RunFailed`)."""
    if exp.preflight is not None and not resume:
        try:
            exp.preflight(cfg)
        except PhysLearningError as e:
            raise RunInputError(f"{type(e).__name__}: {e} (no run folder made)") from e
    if resume:
        store = RunStore(out, resume=True)
    elif out is not None:
        store = RunStore(out)
    else:
        store = RunStore.create_fresh(runs_dir, run_name or exp.name)
    path = store.path
    previous = read_summary(path) if resume else {}
    if not resume:
        store.write_config({"experiment": exp.name, **cfgmod.to_dict(cfg)})
    cmd = command or previous.get("command") or f"physlearning run {path / 'config.toml'}"
    base = {"experiment": exp.name, "description": exp.description, "seed": getattr(cfg, "seed", None),
            "command": cmd, **provenance()}
    if resume:
        base["resumed"] = int(previous.get("resumed", 0)) + 1
        base["resume_command"] = command or command_line()
    store.write_summary({**base, "status": "running"})
    t0 = time.perf_counter() - float(previous.get("wall_time_s", 0.0) if resume else 0.0)
    try:
        with interrupt.guard():
            summary = exp.run(cfg, store)
    except DivergenceError as e:
        _finish(store, base, "diverged", str(e), t0)
        raise
    except (RunInterrupted, KeyboardInterrupt) as e:
        msg = (f"{str(e) or 'interrupted by SIGINT'}; checkpoint and training state kept: continue with "
               f"physlearning run --resume {path}")
        _finish(store, base, "interrupted", msg, t0)
        raise RunInterrupted(msg) from None
    except PhysLearningError as e:
        msg = f"{type(e).__name__}: {e}"
        _finish(store, base, "failed", msg, t0)
        raise RunInputError(f"{msg} (run folder {path} kept with status 'failed')") from e
    except Exception as e:
        (path / "error.txt").write_text(traceback.format_exc())
        msg = f"unexpected {type(e).__name__}: {e}"
        _finish(store, base, "failed", msg + " (traceback in error.txt)", t0)
        raise RunFailed(f"{msg}; run folder {path} kept with status 'failed', traceback in {path / 'error.txt'}") \
            from e
    summary = {**base, "status": "ok", **summary}
    summary.setdefault("wall_time_s", time.perf_counter() - t0)
    store.write_summary(summary)
    write_report(path)
    store.close()
    return summary, path


def resume(run_dir: str | Path, *, command: str | None = None) -> tuple[dict, Path]:
    """Continue an interrupted (or diverged/failed) run in its own folder from its last training
    state; ends with the same numbers as an uninterrupted run (CPU)."""
    path = check_run_folder(run_dir)
    status = read_summary(path).get("status")
    if status == "ok":
        raise RunFolderError(f"run {str(path)!r} finished (status 'ok'); nothing to resume")
    try:
        exp, cfg = resolve(cfgmod.read_toml(path / "config.toml"))
    except ConfigError as e:
        raise ConfigError(f"cannot resume {str(path)!r}: its config.toml no longer validates: {e}") from None
    return run(exp, cfg, path, resume=True, command=command)


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


__all__ = ["resolve", "load", "run", "resume", "with_overrides", "command_line", "dataclasses", "RunInputError",
           "RunFailed"]
