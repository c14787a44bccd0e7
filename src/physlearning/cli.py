"""Command line: ``physlearning {tour,run,list,report,curves,matrix,bench}``."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

from physlearning.config import ConfigError


def _cmd_run(args) -> int:
    from physlearning.runs import runner

    if args.resume:
        if args.config or args.set or args.out:
            raise ConfigError("--resume DIR continues a run from its own config.toml: give no CONFIG, --set or --out")
        summary, path = runner.resume(args.resume, command=_command())
        exp = registry_get(summary["experiment"])
    else:
        if not args.config:
            raise ConfigError("physlearning run: give CONFIG (a TOML file or a built-in experiment name, see "
                              "`physlearning list`) or --resume DIR")
        exp, cfg = runner.load(args.config, args.set)
        summary, path = runner.run(exp, cfg, args.out, runs_dir=args.runs_dir, run_name=Path(args.config).stem,
                                   command=_command())
    print(f"run folder: {path}")
    for k in exp.headline or ():
        if k in summary:
            print(f"  {k} = {summary[k]}")
    print(f"  wall_time_s = {summary['wall_time_s']:.1f}")
    return 0


def registry_get(name: str):
    from physlearning.runs import registry

    return registry.experiments()[name]


def _cmd_config(args) -> int:
    from physlearning import config as cfgmod
    from physlearning.runs import registry, runner

    exps = registry.experiments()
    if args.name not in exps:
        raise ConfigError(f"experiment {args.name!r}: allowed values are {sorted(exps)}")
    exp = exps[args.name]
    print(cfgmod.dumps({"experiment": exp.name, **cfgmod.to_dict(runner.default_config(exp))}), end="")
    return 0


def _cmd_list(args) -> int:
    from physlearning.config import describe
    from physlearning.runs import registry

    exps = registry.experiments()
    if unknown := sorted(set(args.names) - set(exps)):
        raise ConfigError(f"experiment {unknown[0]!r}: allowed values are {sorted(exps)}")
    for name, exp in sorted(exps.items()):
        if args.names and name not in args.names:
            continue
        print(f"{name:<26} {exp.description}")
        if args.verbose or args.names:
            print("\n".join(describe(exp.config_cls)))
    return 0


def _cmd_report(args) -> int:
    from physlearning.runs.report import write_report

    run_dir = Path(args.run_dir)
    if not (run_dir / "metrics.jsonl").is_file() and not (run_dir / "summary.json").is_file():
        raise ConfigError(f"{str(run_dir)!r} is not a run folder (no metrics.jsonl or summary.json)")
    print(write_report(run_dir))
    return 0


def _cmd_curves(args) -> int:
    from physlearning.runs.report import mean_curve

    try:
        out = mean_curve(args.run_dirs, args.metric, minimize=False if args.max else None,
                         allow_unequal=args.allow_unequal)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    for w in out["warnings"]:
        print(f"warning: {w}", file=sys.stderr)
    if missing := [e for e in args.at if e not in out["mean"]]:
        raise ConfigError(f"--at {missing[0]}: not an epoch every run recorded ({out['epochs'][0]}-{out['epochs'][1]})")
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"{out['metric']}, mean over {out['runs']} runs per epoch (epochs {out['epochs'][0]}-{out['epochs'][1]})")
    print(f"  best mean     {out['best_mean']:.6g} at epoch {out['best_epoch']}")
    print(f"  last epoch    {out['last_mean']:.6g} at epoch {out['last_epoch']}")
    for e in args.at:
        print(f"  epoch {e:<7} {out['mean'][e]:.6g}")
    for d, e, v in zip(args.run_dirs, out["own_best_epochs"], out["mean_at_own_best"]):
        print(f"  {d}: own best epoch {e}, mean there {v:.6g}")
    return 0


def _cmd_matrix(args) -> int:
    from physlearning import matrix

    rs = matrix.rows()
    print(json.dumps(rs, indent=1) if args.json else matrix.format_table(rs))
    return 0


def _cmd_bench(args) -> int:
    name = args.name
    try:
        if name.startswith("_"):  # helper modules of a benchmark are not benchmarks
            raise ModuleNotFoundError(name=f"physlearning.benchmarks.{name}")
        mod = importlib.import_module(f"physlearning.benchmarks.{name}")
    except ModuleNotFoundError as e:
        if e.name != f"physlearning.benchmarks.{name}":
            raise
        import pkgutil

        import physlearning.benchmarks as b

        names = sorted(m.name for m in pkgutil.iter_modules(b.__path__) if not m.name.startswith("_"))
        raise ConfigError(f"benchmark {name!r}: allowed values are {names}") from None
    from physlearning.benchmarks import finish

    result = finish(mod.run(quick=args.quick))
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:<28} {v}")
    return 0


def _cmd_tour(args) -> int:
    from physlearning.runs.tour import tour

    path = tour(args.out, runs_dir=args.runs_dir, only=args.only)
    print(f"tour report: {path}")
    return 0


def _command() -> str:
    import shlex

    return "physlearning " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="physlearning", description="Physical learning machines and physical learning rules."
    )
    from physlearning import __version__

    p.add_argument("--version", action="version", version=f"physlearning {__version__}")
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("tour", help="short run of every pillar, with one report (the README's main job)")
    t.add_argument("--out", default=None, help="tour folder (must not exist)")
    t.add_argument("--runs-dir", default="runs")
    t.add_argument("--only", nargs="*", default=None, help="experiment names to include")
    t.set_defaults(fn=_cmd_tour)
    r = sub.add_parser("run", help="run one experiment from a TOML config")
    r.add_argument("config", nargs="?", default=None, help="a TOML config or a built-in experiment name")
    r.add_argument("--resume", default=None, metavar="RUN_DIR", help="continue an interrupted run in its folder")
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    r.add_argument("--out", default=None, help="run folder (must not exist); default runs/<config>-N")
    r.add_argument("--runs-dir", default="runs")
    r.set_defaults(fn=_cmd_run)
    ls = sub.add_parser("list", help="built-in experiments")
    ls.add_argument("-v", "--verbose", action="store_true", help="show every config key with defaults and limits")
    ls.add_argument("names", nargs="*", help="only these experiments (with their keys)")
    cf = sub.add_parser("config", help="print an experiment's full default config (TOML)")
    cf.add_argument("name")
    cf.set_defaults(fn=_cmd_config)
    ls.set_defaults(fn=_cmd_list)
    rep = sub.add_parser("report", help="rebuild plots and report.md of a run folder")
    rep.add_argument("run_dir")
    rep.set_defaults(fn=_cmd_report)
    c = sub.add_parser("curves", help="mean of a metric per epoch over run folders (e.g. cross-validation folds)")
    c.add_argument("run_dirs", nargs="+")
    c.add_argument("--metric", default="val_loss")
    c.add_argument("--max", action="store_true", help="higher is better (default: only for *accuracy* metrics)")
    c.add_argument("--at", type=int, nargs="*", default=[], metavar="EPOCH", help="also print the mean at these epochs")
    c.add_argument("--json", action="store_true")
    c.add_argument("--allow-unequal", action="store_true",
                   help="average runs that recorded different epochs or did not finish with status 'ok' (over the "
                        "epochs every run recorded; a warning names each run's epochs and status)")
    c.set_defaults(fn=_cmd_curves)
    m = sub.add_parser("matrix", help="rule x substrate gradient check against autodiff")
    m.add_argument("--json", action="store_true")
    m.set_defaults(fn=_cmd_matrix)
    b = sub.add_parser("bench", help="run a benchmark (ratios against a baseline in the same process)")
    b.add_argument("name")
    b.add_argument("--json", action="store_true")
    b.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke check")
    b.set_defaults(fn=_cmd_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from physlearning.errors import PhysLearningError

    try:
        return args.fn(args)
    except PhysLearningError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
