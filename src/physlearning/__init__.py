"""physlearning: simulate physical learning machines and train them with physical learning rules.

The public face: every name a user needs is importable from here, e.g.::

    import physlearning as pl
    net = pl.LayeredHopfield((64, 128, 10), key, activation="tanh", output="linear")

Layers (``docs/architecture.md``, enforced by ``tests/test_layers.py``): ``errors``/``config`` <
``core``/``registry`` < ``substrates`` < ``rules`` < ``tasks``/``metrics`` < ``train`` <
``baselines``/``checks`` < ``runs`` < ``experiments``/``matrix``/``benchmarks`` < ``cli``.
Substrates and rules load on first use, so ``import physlearning`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

from physlearning._version import __version__

_EXPORTS = {
    # core
    **{n: "physlearning.core" for n in (
        "Batch", "Compose", "Cost", "DynamicalSubstrate", "EnergySubstrate", "FixedPointSubstrate",
        "GaussianMeasurementNoise", "Hardware", "LearningRule", "Nonideality", "ParameterDisorder",
        "ParameterQuantisation", "ReversibleSubstrate", "Seeds", "SoftmaxCrossEntropy", "SpectrumSubstrate",
        "SquaredError", "StatelessRule", "Substrate", "ground_state", "tree_cosine", "tree_rel_error")},
    **{n: "physlearning.errors" for n in (
        "ConfigError", "DataError", "DivergenceError", "PhysLearningError", "RunFolderError", "RunInterrupted")},
    # substrates
    "LayeredHopfield": "physlearning.substrates.hopfield",
    "SpringNetwork": "physlearning.substrates.springs",
    "ResistorNetwork": "physlearning.substrates.resistors",
    "ScatteringNetwork": "physlearning.substrates.scattering",
    "LangevinComputer": "physlearning.substrates.langevin",
    "Reservoir": "physlearning.substrates.reservoirs",
    "DeviceNetwork": "physlearning.substrates.reservoirs",
    "make_esn": "physlearning.substrates.reservoirs",
    "make_stno": "physlearning.substrates.reservoirs",
    "make_delay": "physlearning.substrates.reservoirs",
    "make_mtj": "physlearning.substrates.reservoirs",
    # rules
    "Equilibrium": "physlearning.core.equilibrium",
    "EquilibriumPropagation": "physlearning.rules.ep",
    "ImplicitAutodiff": "physlearning.rules.autodiff",
    "Autodiff": "physlearning.rules.autodiff",
    "CoupledLearning": "physlearning.rules.coupled",
    "FiniteDifference": "physlearning.rules.perturbative",
    "SPSA": "physlearning.rules.perturbative",
    "MeasurementRule": "physlearning.rules.scattering_grad",
    "ScatteringAutodiff": "physlearning.rules.scattering_grad",
    "TrajectoryRule": "physlearning.rules.trajectory",
    "ReadoutDeltaRule": "physlearning.rules.ridge",
    "ReservoirModel": "physlearning.rules.reservoir_model",
    "fit_ridge": "physlearning.rules.ridge",
    "fit_ridge_cv": "physlearning.rules.ridge",
    "rule_registry": "physlearning.rules",
    # training and runs
    **{n: "physlearning.train" for n in (
        "ArrayBatches", "OptimizerSpec", "SeriesChunks", "Trainer", "TrainResult", "Unlabelled", "make_optimizer")},
    "RunStore": "physlearning.runs.store",
    "run": "physlearning.runs.api",
    "load_run": "physlearning.runs.api",
    "resume_run": "physlearning.runs.api",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module 'physlearning' has no attribute {name!r}")
    value = getattr(importlib.import_module(mod), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
