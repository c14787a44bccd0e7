"""Pillar 3: learning with linear wave scattering (Wanjura & Marquardt, arXiv:2308.16181).

Experiments:

* ``scattering_digits``: a layered coupled-mode network (inputs -> hidden -> outputs)
  classifies digits (UCI optdigits from a directory, scikit-learn digits, MNIST), pixels
  encoded as detunings 5 kappa (1 - p/16), output Im S_ll, softmax cross-entropy, trained
  with the measurement rule (or autodiff / finite differences); logistic-regression and
  MLP baselines on the same split.
* ``scattering_robustness``: accuracy vs measurement noise and vs detuning calibration
  error (plus coupling disorder and extra loss). ``sweep.mode = "in_situ"`` (default) trains
  each level with the measurement rule on the nonideal hardware itself; ``"unknown"`` trains
  on the nominal model (an offline digital twin that knows none of the errors) and deploys
  the result on the nonideal hardware; ``"both"`` runs the two side by side. See
  :func:`run_robustness` for what each mode measures.

One module per experiment (its config, run, figures and ``EXPERIMENT``): :mod:`.digits` (with the digital
baselines) and :mod:`.robustness` (the sweep, its modes and its plot). The config sections they share
(data, network, training, hardware), their checks and what is built from them (split, network, frozen hardware
nonidealities, rule, chunked hardware outputs, metrics, the Trainer call, the checkpoint template) are declared
once in :mod:`.sections`. This package re-exports every name the single module had.
"""

from __future__ import annotations

from physlearning.experiments.scattering.digits import EXPERIMENT as _DIGITS
from physlearning.experiments.scattering.digits import (
    FD_MAX_PARAMS,
    Baselines,
    DigitsConfig,
    digital_baselines,
    figures_digits,
    run_digits,
)
from physlearning.experiments.scattering.robustness import EXPERIMENT as _ROBUSTNESS
from physlearning.experiments.scattering.robustness import (
    KIND_LABELS,
    SWEEP_MODES,
    UNKNOWN_PREFIX,
    RobustnessConfig,
    Sweep,
    _modes,
    _plot_sweep,
    figures_robustness,
    rule_nonideality,
    run_robustness,
)
from physlearning.experiments.scattering.sections import (
    N_PIXELS,
    RULES,
    Data,
    FrozenDisorder,
    Hardware,
    Network,
    ScatteringNetwork,
    Train,
    _require_data,
    _validate_common,
    build_network,
    build_nonideality,
    check_network_memory,
    data_split,
    hardware_nonideality,
    load_split,
    make_predict,
    make_rule,
    metrics,
    stream,
    template,
    train_network,
)

EXPERIMENTS = [_DIGITS, _ROBUSTNESS]

__all__ = [
    "EXPERIMENTS", "FD_MAX_PARAMS", "KIND_LABELS", "N_PIXELS", "RULES", "SWEEP_MODES", "UNKNOWN_PREFIX", "Baselines",
    "Data", "DigitsConfig", "FrozenDisorder", "Hardware", "Network", "RobustnessConfig", "ScatteringNetwork", "Sweep",
    "Train", "_modes", "_plot_sweep", "_require_data", "_validate_common", "build_network", "build_nonideality",
    "check_network_memory", "data_split", "digital_baselines", "figures_digits", "figures_robustness",
    "hardware_nonideality", "load_split", "make_predict", "make_rule", "metrics", "rule_nonideality", "run_digits",
    "run_robustness", "stream", "template", "train_network",
]
