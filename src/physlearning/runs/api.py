"""The Python face of runs: :func:`run` an experiment, :func:`load_run` a finished one to predict with,
:func:`resume_run` an interrupted one."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import jax
import numpy as np

from physlearning import config as cfgmod
from physlearning.errors import ConfigError, RunFolderError
from physlearning.runs import registry, runner
from physlearning.runs.store import check_run_folder, read_summary


@dataclasses.dataclass
class LoadedRun:
    """A run folder reloaded: its ``config`` (the experiment's config object), ``model`` (the
    checkpoint, ready to ``predict``), ``readout`` (a trained linear readout, when the run has one),
    ``summary`` and ``path``."""

    experiment: str
    config: Any
    model: Any
    readout: Any
    summary: dict
    path: Path

    def predict(self, x, key=None):
        """The run's model on inputs ``x`` (its readout applied when it has one; an experiment with its own
        ``predict`` hook, e.g. ``reservoir_fsdd`` on a list of MFCC sequences, applies its preprocessing)."""
        hook = registry.get(self.experiment).predict
        if hook is not None:
            return hook(self, x)
        y = self.model.predict(jax.numpy.asarray(x), key)
        return y if self.readout is None else self.readout(np.asarray(y))


def run(config: str | Path | dict, *overrides: str, out: str | Path | None = None,
        runs_dir: str | Path = "runs") -> tuple[dict, Path]:
    """Run an experiment from a TOML path, a built-in name or a config dict (+ ``key=value``
    overrides); returns ``(summary, run_dir)``."""
    if isinstance(config, dict):
        exp, cfg = runner.resolve(config, list(overrides))
    else:
        exp, cfg = runner.load(config, list(overrides))
    return runner.run(exp, cfg, out, runs_dir=runs_dir)


def resume_run(run_dir: str | Path) -> tuple[dict, Path]:
    """Continue an interrupted run (see :func:`physlearning.runs.runner.resume`)."""
    return runner.resume(run_dir)


def load_run(run_dir: str | Path) -> LoadedRun:
    """Reload a run folder: config, model (from ``checkpoint.eqx``) and readout."""
    from physlearning._version import __version__

    path = check_run_folder(run_dir)
    summary = read_summary(path)
    try:
        exp, cfg = runner.resolve(cfgmod.read_toml(path / "config.toml"))
    except ConfigError as e:
        raise RunFolderError(f"cannot load {str(path)!r}: its config.toml does not validate with physlearning "
                             f"{__version__} (written by version "
                             f"{summary.get('physlearning_version', 'unknown')}): {e}") from None
    if exp.template is None:
        raise RunFolderError(f"experiment {exp.name!r} has no reloadable model (no template)")
    if not (path / "checkpoint.eqx").is_file():
        raise RunFolderError(f"{str(path)!r} has no checkpoint.eqx (status {summary.get('status', 'unknown')!r}: "
                             "the run saved no model)")
    import equinox as eqx

    template = exp.template(cfg)
    try:
        model = eqx.tree_deserialise_leaves(path / "checkpoint.eqx", template)
    except Exception as e:  # noqa: BLE001  shapes or dtypes differ: another version or an edited config
        raise RunFolderError(
            f"cannot load {str(path / 'checkpoint.eqx')!r} into the {type(template).__name__} built from its "
            f"config by physlearning {__version__} (run written by version "
            f"{summary.get('physlearning_version', 'unknown')}): {type(e).__name__}: {e}") from None
    readout = None
    if (path / "readout.npz").is_file():
        from physlearning.rules.ridge import Readout

        with np.load(path / "readout.npz") as z:
            readout = Readout(z["w"], z["b"], float(z["alpha"]) if "alpha" in z else 0.0)
    return LoadedRun(exp.name, cfg, model, readout, summary, path)
