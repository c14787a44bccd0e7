"""Hamiltonian Echo Backpropagation (issue #23): experiments on the Kerr-cavity lattice.

One file per experiment: :mod:`.xor` (``heb_xor``, the reference XOR recipe), :mod:`.gradients`
(``heb_gradients``, the echo estimators against BPTT and finite differences, and the rows of
``physlearning matrix``), :mod:`.robustness` (``heb_robustness``, XOR vs hardware-fault level),
:mod:`.digits` (``heb_digits``), :mod:`.digits_faults` (``heb_digits_faults``, digits vs hardware-fault
level), :mod:`.rhel` (recurrent Hamiltonian echo learning on an oscillator
chain).
"""

from physlearning.experiments.heb import digits, digits_faults, gradients, rhel, robustness, xor
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

EXPERIMENTS = [*xor.EXPERIMENTS, *gradients.EXPERIMENTS, *robustness.EXPERIMENTS, *digits.EXPERIMENTS,
               *digits_faults.EXPERIMENTS, *rhel.EXPERIMENTS]


def matrix_rows() -> list[dict]:
    """The HEB rows of ``physlearning matrix``: the echo rules on the XOR lattice, RHEL on the toy chain."""
    return gradients.matrix_rows() + rhel.matrix_rows()


__all__ = ["EXPERIMENTS", "HebXorConfig", "amplitudes", "build_lattice", "complex_sgd", "conj_complex", "figures",
           "initial_theta", "matrix_rows", "real_part_only", "run_heb_xor", "soft_clip", "template", "xor_batch"]
