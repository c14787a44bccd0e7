"""Pillar 1b: spring and resistor networks trained by Equilibrium Propagation and coupled learning.

Experiments:

* ``ep_springs``: a 2D triangular-lattice spring network learns an allosteric strain
  response (strain imposed on a source edge -> desired strain on target edges;
  Rocks et al. PNAS 2017, Stern et al. PRX 2021) by EP.
* ``ep_resistors``: a resistor (optionally diode) network learns a teacher network's
  input -> output-voltage map (regression) by EP, coupled learning or autodiff.
* ``ep_resistors_xor``: a diode-resistor network learns XOR (complementary input voltages).

``matrix_rows`` compares EP (one-sided, symmetric, holomorphic) and coupled learning with
the implicit-differentiation gradient on small float64 instances.

Every random draw of a run comes from a named stream of ``Seeds(cfg.seed)``: ``model.lattice``
(spring-node jitter), ``model.init`` (initial stiffnesses / conductances), ``model.teacher``
(teacher conductances), ``data.train`` / ``data.test`` (input voltages); the Trainer names its
own streams after the fit. Each run saves the arrays of its figures under ``data/`` and its
experiment's ``figures(run_dir)`` (:func:`springs_figures`, :func:`resistors_figures`,
:func:`xor_figures`) draws every figure from the run folder (the runner when the run ends,
``physlearning report`` again); ``template(cfg)`` is the checkpoint's shape, relaxed by the run's
solver, for ``physlearning.load_run``.

One file per experiment (``springs``, ``resistors``, ``xor``); shared config sections, the rule and solver
they build and the Trainer call in ``sections``; small float64 instances in ``checks``.
"""

from __future__ import annotations

from physlearning.experiments.ep_networks.checks import _matrix_instances, ep_bias_slopes
from physlearning.experiments.ep_networks.resistors import (
    RegressionTask,
    ResistorNetConfig,
    ResistorsConfig,
    resistor_network,
    resistors_figures,
    resistors_task,
    resistors_template,
    run_resistors,
)
from physlearning.experiments.ep_networks.sections import (
    RULES,
    RuleConfig,
    SolverConfig,
    TrainConfig,
    make_rule,
    make_solver,
)
from physlearning.experiments.ep_networks.springs import (
    SpringNetConfig,
    SpringsConfig,
    StrainTask,
    run_springs,
    spring_task,
    spring_template,
    springs_figures,
)
from physlearning.experiments.ep_networks.xor import (
    XorConfig,
    XorNetConfig,
    XorTask,
    run_xor,
    xor_figures,
    xor_task,
    xor_template,
)
from physlearning.runs.registry import Experiment

EXPERIMENTS = [
    Experiment("ep_springs", SpringsConfig, run_springs,
               "2D spring network learns an allosteric strain response by EP",
               headline=("cost_ratio", "final_cost"),
               tour={"train.epochs": 120, "network.rows": 3, "network.cols": 3, "task.n_samples": 3},
               template=spring_template, figures=springs_figures),
    Experiment("ep_resistors", ResistorsConfig, run_resistors,
               "resistor network learns a teacher network's voltages (EP / coupled learning)",
               headline=("test_mse_ratio", "test_nrmse"),
               tour={"train.epochs": 40, "task.n_train": 16, "task.n_test": 32},
               template=resistors_template, figures=resistors_figures),
    Experiment("ep_resistors_xor", XorConfig, run_xor,
               "diode-resistor network learns XOR by EP",
               headline=("accuracy", "final_cost"),
               tour={"train.epochs": 150}, template=xor_template, figures=xor_figures),
]


__all__ = [
    "EXPERIMENTS", "RULES", "RegressionTask", "ResistorNetConfig", "ResistorsConfig", "RuleConfig", "SolverConfig",
    "SpringNetConfig", "SpringsConfig", "StrainTask", "TrainConfig", "XorConfig", "XorNetConfig", "XorTask",
    "_matrix_instances", "ep_bias_slopes", "make_rule", "make_solver", "resistor_network", "resistors_figures",
    "resistors_task", "resistors_template", "run_resistors", "run_springs", "run_xor", "spring_task",
    "spring_template", "springs_figures", "xor_figures", "xor_task", "xor_template",
]
