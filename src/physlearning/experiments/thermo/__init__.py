"""Pillar 5b: generative thermodynamic computing (Whitelam, arXiv:2506.15121).

A Langevin computer (``substrates.langevin``) is trained with the trajectory-likelihood rule
(``rules.trajectory``) to generate data from noise by its own dynamics; the same data and metrics
are run through a Gaussian model and a DDPM of about the same parameter count.

Experiments: ``thermo_toy2d`` (two moons / 8 Gaussians / checkerboard; sliced Wasserstein and
MMD to held-out samples) and ``thermo_digits`` (scikit-learn 8x8 digits or MNIST digits from a
directory; classifier confidence and class shares, copy check, MMD / SW to held-out images).

One file per experiment (``toy``, ``digits``); shared config sections in ``sections``, the training
loop's set-up and the DDPM baseline in ``training``, gradient rows in ``checks``.
"""

from __future__ import annotations

from physlearning.experiments.thermo.checks import matrix_rows
from physlearning.experiments.thermo.digits import EXPERIMENT as _DIGITS
from physlearning.experiments.thermo.digits import (
                                                   DigitsConfig,
                                                   DigitsData,
                                                   DigitsDevice,
                                                   DigitsEval,
                                                   DigitsTrain,
                                                   figures_digits,
                                                   fit_classifier,
                                                   load_digits,
                                                   run_digits,
                                                   template_digits,
)
from physlearning.experiments.thermo.sections import (
                                                   DDPM,
                                                   HIDDEN_LOADINGS,
                                                   DataRangeError,
                                                   Device,
                                                   Eval,
                                                   Train,
                                                   check_range,
                                                   validate_device,
)
from physlearning.experiments.thermo.toy import EXPERIMENT as _TOY
from physlearning.experiments.thermo.toy import ToyConfig, ToyData, figures_toy, run_toy, template_toy, toy_data
from physlearning.experiments.thermo.training import (
                                                   build_computer,
                                                   cluster_code,
                                                   draw_codes,
                                                   fit_ddpm,
                                                   generate_samples,
                                                   heat_plot,
                                                   train_computer,
)

EXPERIMENTS = [_TOY, _DIGITS]

__all__ = [
    "DDPM", "EXPERIMENTS", "HIDDEN_LOADINGS", "DataRangeError", "Device", "DigitsConfig", "DigitsData", "DigitsDevice",
    "DigitsEval", "DigitsTrain", "Eval", "ToyConfig", "ToyData", "Train", "build_computer", "check_range",
    "cluster_code", "draw_codes", "figures_digits", "figures_toy", "fit_classifier", "fit_ddpm", "generate_samples",
    "heat_plot", "load_digits", "matrix_rows", "run_digits", "run_toy", "template_digits", "template_toy", "toy_data",
    "train_computer", "validate_device",
]
