"""Hamiltonian Echo Backpropagation (issue #23): experiments on the Kerr-cavity lattice.

One file per experiment: :mod:`.xor` (``heb_xor``, the reference XOR recipe).
"""

from physlearning.experiments.heb import xor
from physlearning.experiments.heb.xor import (
    HebXorConfig,
    amplitudes,
    build_lattice,
    figures,
    initial_theta,
    run_heb_xor,
    template,
    xor_batch,
)
from physlearning.train.complex_optim import complex_sgd, conj_complex, real_part_only, soft_clip

EXPERIMENTS = [*xor.EXPERIMENTS]

__all__ = ["EXPERIMENTS", "HebXorConfig", "amplitudes", "build_lattice", "complex_sgd", "conj_complex", "figures",
           "initial_theta", "real_part_only", "run_heb_xor", "soft_clip", "template", "xor_batch"]
