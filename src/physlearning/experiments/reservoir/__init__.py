"""Pillar 4: physical reservoir computing.

Experiments:

* ``reservoir_timeseries``: one reservoir (ESN, STNO network, delay node, SMTJ network)
  with a ridge readout (regularisation chosen on a validation split) on NARMA10,
  Mackey-Glass (h-step), linear memory capacity, sine-to-square or Lorenz forecasting.
* ``reservoir_fsdd``: spoken digits (FSDD), MFCC features, state-averaged ridge readout;
  standard split and leave-one-speaker-out.
* ``reservoir_network``: heterogeneous device network (parallel or deep) trained by
  backpropagation through the device models (optionally with device noise on), compared
  with every single-kind network of the same node count over several seeds.

NRMSE everywhere is RMS error divided by the target's standard deviation.

Every random draw of a run comes from a named stream of ``Seeds(root)``: ``data.series`` (the input
series), ``device.<kind>`` (a reservoir's weights; ``device.<kind>.<layer>`` in a device network),
``device.noise`` (state noise of a noisy reservoir), ``data.val_split.<split>`` (FSDD validation
split of each train/test split), ``eval.noise`` (device noise while a network is evaluated); the
Trainer names its own streams after the fit. ``reservoir_network`` runs root seeds ``seed``,
``seed + 1``, ... (each the root of its own streams). Each run saves the arrays of its figures under
``data/`` and its experiment's ``figures(run_dir)`` draws every figure from the run folder
(``physlearning report`` redraws them); ``template(cfg)`` is the checkpoint's shape.

One module per experiment (its config, run, template, figures and ``EXPERIMENT``): :mod:`.timeseries`,
:mod:`.fsdd`, :mod:`.network` (with the gradient-matrix rows, :func:`matrix_rows`). The config sections they
share, and the reservoir and task series built from them, are declared once in :mod:`.sections`; shared
figure helpers in :mod:`.figures`; the jitted state runs and closed-loop generation live with the substrate
(:mod:`physlearning.substrates.reservoirs.series`). This package re-exports every name the single module had.
"""

from physlearning.experiments.reservoir import fsdd, network, timeseries
from physlearning.experiments.reservoir.figures import _plot_series
from physlearning.experiments.reservoir.fsdd import (
    AudioCfg,
    FSDDConfig,
    _classify,
    _fsdd_preflight,
    fsdd_figures,
    fsdd_template,
    run_fsdd,
)
from physlearning.experiments.reservoir.network import (
    NetTrainCfg,
    NetworkConfig,
    _evaluate_network,
    _features_jit,
    _plot_bars,
    _train_network,
    build_network,
    matrix_rows,
    network_figures,
    network_template,
    run_network,
)
from physlearning.experiments.reservoir.sections import (
    DEVICES,
    TASKS,
    DelayCfg,
    ESNCfg,
    MTJCfg,
    ReadoutCfg,
    ReservoirCfg,
    STNOCfg,
    TaskCfg,
    _check_device,
    _device_kwargs,
    _standardize,
    _task_data,
    build,
)
from physlearning.experiments.reservoir.timeseries import (
    TimeseriesConfig,
    _closed_loop,
    _plot_mc,
    _states_jit,
    reservoir_states,
    run_timeseries,
    timeseries_figures,
    timeseries_template,
)

EXPERIMENTS = [timeseries.EXPERIMENT, fsdd.EXPERIMENT, network.EXPERIMENT]

__all__ = [
    "EXPERIMENTS", "DEVICES", "TASKS", "ESNCfg", "STNOCfg", "DelayCfg", "MTJCfg", "ReservoirCfg", "TaskCfg",
    "ReadoutCfg", "build", "TimeseriesConfig", "reservoir_states", "run_timeseries", "timeseries_figures",
    "timeseries_template", "AudioCfg", "FSDDConfig", "run_fsdd", "fsdd_figures", "fsdd_template", "NetTrainCfg",
    "NetworkConfig", "build_network", "run_network", "network_figures", "network_template", "matrix_rows",
    "_check_device", "_device_kwargs", "_task_data", "_standardize", "_states_jit", "_features_jit",
    "_closed_loop", "_plot_series", "_plot_mc", "_plot_bars", "_fsdd_preflight", "_classify",
    "_train_network", "_evaluate_network",
]
