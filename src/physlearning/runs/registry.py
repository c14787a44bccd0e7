"""Experiment registry: every pillar declares its experiments in its own module.

A pillar module (listed in ``PILLAR_MODULES``) defines ``EXPERIMENTS: list[Experiment]``.
``Experiment.run(cfg, store)`` trains/evaluates, writes plots into ``store`` and returns the
summary dict (flat keys: ``test_accuracy``, ``nrmse``, ``wall_time_s``, ...).
``Experiment.tour`` gives ``--set``-style overrides for the short run the tour makes
(``None``: not in the tour).
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from typing import Any

PILLAR_MODULES = (
    "physlearning.experiments.ep",
    "physlearning.experiments.ep_networks",
    "physlearning.experiments.reservoir",
    "physlearning.experiments.scattering",
    "physlearning.experiments.thermo",
    "physlearning.experiments.fit",
    "physlearning.experiments.heb",
)


@dataclasses.dataclass(frozen=True)
class Experiment:
    name: str
    config_cls: type
    run: Callable[[Any, Any], dict]
    description: str
    headline: tuple[str, ...] = ()
    """summary keys shown in the tour report and `physlearning list`."""
    tour: dict[str, Any] | None = None
    """overrides for the tour's short run (None: not in the tour)."""
    preflight: Callable[[Any], None] | None = None
    """cheap checks of what the run reads (data files present), run before the run folder is
    made; raises the library's data errors."""
    template: Callable[[Any], Any] | None = None
    """``template(cfg) -> model`` of the checkpoint's shape (``physlearning.load_run`` deserialises the
    run's checkpoint into it); None: the run cannot be reloaded."""
    predict: Callable[[Any, Any], Any] | None = None
    """``predict(loaded_run, x) -> outputs`` for a run whose inputs need the run's own preprocessing or
    features (``LoadedRun.predict`` calls it; None: ``readout(model.predict(x))``)."""
    figures: Callable[[Any], list[str]] | None = None
    """``figures(run_dir) -> [png names]`` redraws every figure of a run from what its folder saved
    (``physlearning report RUN`` calls it)."""


def pillar_modules() -> list:
    """The imported pillar modules (a pillar not present in this install is skipped)."""
    mods = []
    for mod in PILLAR_MODULES:
        try:
            mods.append(importlib.import_module(mod))
        except ModuleNotFoundError as e:
            if e.name != mod:
                raise
    return mods


def _load() -> dict[str, Experiment]:
    return {exp.name: exp for m in pillar_modules() for exp in getattr(m, "EXPERIMENTS", [])}


_CACHE: dict[str, Experiment] | None = None


def experiments() -> dict[str, Experiment]:
    global _CACHE
    if _CACHE is None:
        _CACHE = _load()
    return _CACHE


def get(name: str) -> Experiment:
    exps = experiments()
    if name not in exps:
        raise KeyError(name)
    return exps[name]
