"""Core abstractions shared by every pillar (the lowest layer above ``errors`` and ``config``).

* substrate families (:mod:`.substrate`): :class:`Substrate`, :class:`FixedPointSubstrate`,
  :class:`EnergySubstrate`, :class:`DynamicalSubstrate`, :class:`ReversibleSubstrate`,
  :class:`SpectrumSubstrate`;
* costs (:mod:`.cost`), learning rules with state (:mod:`.rule`);
* hardware and nonidealities (:mod:`.hardware`);
* named seed streams (:mod:`.seeds`), pytree utilities (:mod:`.tree`).
"""

from physlearning.core.cost import Cost, SoftmaxCrossEntropy, SquaredError
from physlearning.core.equilibrium import Equilibrium
from physlearning.core.hardware import (
    Compose,
    GaussianMeasurementNoise,
    Hardware,
    Nonideality,
    ParameterDisorder,
    ParameterQuantisation,
)
from physlearning.core.rule import LearningRule, StatelessRule
from physlearning.core.seeds import Seeds
from physlearning.core.substrate import (
    EIGENSOLVERS,
    Batch,
    DynamicalSubstrate,
    EnergySubstrate,
    FixedPointSubstrate,
    Nudge,
    ReversibleSubstrate,
    SpectrumSubstrate,
    Substrate,
    ground_state,
    is_param,
)
from physlearning.core.tree import tree_cosine, tree_finite, tree_rel_error, tree_where
from physlearning.errors import ConfigError, DataError, DivergenceError, PhysLearningError, RunInterrupted

__all__ = [
    "Batch", "Compose", "ConfigError", "Cost", "DataError", "DivergenceError", "DynamicalSubstrate",
    "EIGENSOLVERS", "EnergySubstrate", "Equilibrium", "FixedPointSubstrate", "GaussianMeasurementNoise", "Hardware",
    "LearningRule", "Nonideality", "Nudge", "ParameterDisorder", "ParameterQuantisation", "PhysLearningError",
    "ReversibleSubstrate", "RunInterrupted", "Seeds", "SoftmaxCrossEntropy", "SpectrumSubstrate", "SquaredError",
    "StatelessRule", "Substrate", "ground_state", "is_param", "tree_cosine", "tree_finite", "tree_rel_error",
    "tree_where",
]
