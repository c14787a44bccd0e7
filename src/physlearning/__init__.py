"""physlearning: simulate physical learning machines and train them with physical learning rules.

Public API (everything else may be private):

* core: :class:`Substrate`, :class:`EnergySubstrate`, :class:`Cost`, :class:`LearningRule`,
  :class:`Nonideality` and the standard costs/nonidealities;
* :class:`Trainer`, :func:`make_optimizer`, :class:`RunStore`;
* experiments: :func:`physlearning.experiments.runner.run`.
"""

from physlearning.core import (
    Batch,
    Compose,
    Cost,
    EnergySubstrate,
    GaussianMeasurementNoise,
    LearningRule,
    Nonideality,
    ParameterDisorder,
    ParameterQuantisation,
    SoftmaxCrossEntropy,
    SquaredError,
    Substrate,
    tree_cosine,
    tree_rel_error,
)
from physlearning.experiments.runstore import RunStore
from physlearning.experiments.trainer import DivergenceError, Trainer, make_optimizer

__version__ = "0.1.0"

__all__ = [
    "Batch", "Compose", "Cost", "EnergySubstrate", "GaussianMeasurementNoise", "LearningRule",
    "Nonideality", "ParameterDisorder", "ParameterQuantisation", "SoftmaxCrossEntropy",
    "SquaredError", "Substrate", "tree_cosine", "tree_rel_error", "RunStore", "DivergenceError",
    "Trainer", "make_optimizer",
]
