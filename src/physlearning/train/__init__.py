"""Training: the one Trainer, batch sources, optimisers, interruption handling."""

from physlearning.errors import DivergenceError, RunInterrupted
from physlearning.train.batches import ArrayBatches, SeriesChunks, Unlabelled
from physlearning.train.optim import OptimizerSpec, make_optimizer
from physlearning.train.trainer import Trainer, TrainResult, train_step

__all__ = ["ArrayBatches", "DivergenceError", "OptimizerSpec", "RunInterrupted", "SeriesChunks", "TrainResult",
           "Trainer", "Unlabelled", "make_optimizer", "train_step"]
