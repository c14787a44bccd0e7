"""report.md: figures inline, the headline numbers, and the command that reproduces the run."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from physlearning.errors import PhysLearningError, RunFolderError
from physlearning.runs import plots
from physlearning.runs.store import read_metrics, read_summary


def _fmt(v) -> str:
    """A table cell: floats to 6 digits; ``|`` and line breaks escaped so the row stays one row."""
    if isinstance(v, float):
        return f"{v:.6g}"
    return " ".join(str(v).splitlines()).replace("|", "\\|")


def _status_line(summary: dict) -> str:
    """How the run ended, and why when it did not end "ok" (the reason from summary.json)."""
    status = summary.get("status")
    if not summary:
        return "**Status: unknown** (no summary.json in the run folder)"
    if status == "ok":
        return "**Status: ok**"
    if status is None:
        return "**Status: unknown** (summary.json has no status)"
    if status == "running":
        reason = summary.get("message") or ("no reason recorded: the run is still going, or its process was killed "
                                            "before it could record one")
    else:
        reason = summary.get("message") or "no reason recorded"
    return f"**Status: {status}**: {' '.join(str(reason).splitlines())}"


def redraw_figures(run_dir: Path, experiment: str | None) -> list[str]:
    """Redraw every figure of a run from what its folder saved: the experiment's ``figures`` hook when
    it has one, else the generic training curves."""
    from physlearning.runs import registry

    exp = registry.experiments().get(experiment or "")
    if exp is not None and exp.figures is not None:
        return exp.figures(run_dir)
    return plots.run_curves(run_dir, experiment or "")


def write_report(run_dir: str | Path, command: str | None = None) -> Path:
    """(Re)draw the run's figures from its saved data and write report.md."""
    run_dir = Path(run_dir)
    summary = read_summary(run_dir)
    history = read_metrics(run_dir)
    try:
        (run_dir / "plots").mkdir(exist_ok=True)
    except OSError as e:
        raise RunFolderError(f"cannot write in run folder {str(run_dir)!r}: {e.strerror or e}") from None
    if history:
        experiment = summary.get("experiment")
        try:
            redraw_figures(run_dir, experiment if isinstance(experiment, str) else None)
        except PhysLearningError:
            raise
        except (ValueError, TypeError, KeyError, IndexError, OSError, EOFError, zipfile.BadZipFile) as e:
            raise RunFolderError(f"cannot redraw the figures of run folder {str(run_dir)!r} from its metrics.jsonl "
                                 f"and data/*.npz ({type(e).__name__}: {e}); a file or value there is not what the "
                                 "figure needs (damaged, edited or from another version?)") from None
    lines = [f"# Run report: {summary.get('experiment', run_dir.name)}", ""]
    if summary.get("description"):
        lines += [str(summary["description"]), ""]
    lines += [_status_line(summary), ""]
    lines += ["## Numbers", "", "| key | value |", "|---|---|"]
    for k, v in summary.items():
        if k in ("description",) or isinstance(v, (dict, list)):
            continue
        lines.append(f"| {k} | {_fmt(v)} |")
    lines.append("")
    for k, v in summary.items():
        if isinstance(v, (dict, list)):
            lines += [f"**{k}**: `{json.dumps(v)}`", ""]
    pngs = sorted((run_dir / "plots").glob("*.png"))
    if pngs:
        lines += ["## Figures", ""]
        lines += [f"![{p.stem}](plots/{p.name})" for p in pngs]
        lines.append("")
    events = [r for r in history if "event" in r]
    if events:
        lines += ["## Events", ""] + [f"- {r.get('event')}: {r.get('message', '')}" for r in events] + [""]
    cmd = command or summary.get("command") or f"physlearning run {run_dir / 'config.toml'}"
    lines += [
        "## Reproduce",
        "",
        "```",
        cmd,
        "```",
        "",
        f"(the resolved config is `{run_dir / 'config.toml'}`; same config and seed give the same numbers on CPU)",
        "",
    ]
    out = run_dir / "report.md"
    try:
        out.write_text("\n".join(lines))
    except OSError as e:
        raise RunFolderError(f"cannot write {str(out)!r}: {e.strerror or e}") from None
    return out


def _curve(d: Path, records: list[dict], metric: str) -> dict[int, float]:
    """``{epoch: value}`` of ``metric`` from a run's epoch records; ValueError naming the file, the epoch and
    the value for an epoch or value that is not a number."""
    curve: dict[int, float] = {}
    for r in records:
        if metric not in r or "epoch" not in r:
            continue
        e, v = r["epoch"], r[metric]
        if isinstance(e, bool) or not isinstance(e, (int, float, str)) or isinstance(v, bool) or \
                not isinstance(v, (int, float, str)):
            e = v = None
        try:
            epoch, value = int(e), float(v)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ValueError(f"{str(d / 'metrics.jsonl')!r}: record {r!r} has an epoch or {metric} that is not a "
                             "number") from None
        curve[epoch] = value
    return curve


def _run_status(d: Path) -> tuple[str | None, str]:
    """(status, reason) from a run's summary.json; (None, "") when it has none (a folder not made by
    ``physlearning run``)."""
    summary = read_summary(d)
    if not summary:
        return None, ""
    status = summary.get("status")
    return (str(status) if status is not None else "missing"), str(summary.get("message") or "")


def mean_curve(run_dirs: list[str | Path], metric: str = "val_loss", minimize: bool | None = None, *,
               allow_unequal: bool = False) -> dict:
    """Mean of ``metric`` per epoch over several run folders, e.g. the folds of a k-fold
    cross-validation (one run per validation block): the epoch where the mean is best, the mean
    there and at the last epoch, and each run's own best epoch with the mean at that epoch.
    ``minimize`` None: lower is better unless the metric's name contains "accuracy".

    Runs that recorded different epochs (an interrupted 5-epoch run next to a 30-epoch one) or whose
    ``summary.json`` status is not "ok" are refused with a ValueError naming each run's epoch count and
    status; ``allow_unequal`` averages them anyway over the epochs every run recorded, and lists the same
    facts in ``warnings``. A folder without summary.json (not made by ``physlearning run``) has status
    unknown: a warning, never a refusal."""
    import numpy as np

    if minimize is None:
        minimize = "accuracy" not in metric
    curves, runs = [], []
    for d in map(Path, run_dirs):
        if not (d / "metrics.jsonl").is_file():
            raise ValueError(f"{str(d)!r} is not a run folder (no metrics.jsonl)")
        records = read_metrics(d)
        curve = _curve(d, records, metric)
        if not curve:
            keys = sorted({k for r in records for k in r} - {"epoch", "time_s", "event", "message"})
            raise ValueError(f"{str(d)!r}: no epoch records with metric {metric!r} (metrics there: {keys})")
        if bad := [e for e, v in curve.items() if not np.isfinite(v)]:
            raise ValueError(f"{str(d)!r}: {metric} is not finite at epoch {bad[0]} (the run diverged)")
        status, reason = _run_status(d)
        curves.append(curve)
        runs.append({"run": str(d), "epochs": len(curve), "first_epoch": min(curve), "last_epoch": max(curve),
                     "status": status, "reason": reason})

    def describe(r: dict) -> str:
        status = "no summary.json (status unknown)" if r["status"] is None else f"status {r['status']!r}"
        return f"{r['run']!r}: {r['epochs']} epochs ({r['first_epoch']}-{r['last_epoch']}), {status}"

    unequal = len({frozenset(c) for c in curves}) > 1
    not_ok = [r for r in runs if r["status"] not in ("ok", None)]
    if (unequal or not_ok) and not allow_unequal:
        why = " and ".join(w for w, bad in (("recorded different epochs", unequal),
                                            ("did not all finish with status 'ok'", not_ok)) if bad)
        raise ValueError(f"the runs {why}: " + "; ".join(describe(r) for r in runs)
                         + f"; averaging them would mix unequal runs (give --allow-unequal to average {metric} over "
                         "the epochs every run recorded)")
    warnings = ["the runs recorded different epochs: the mean is over the epochs every run recorded"] if unequal else []
    for r in runs if unequal else [r for r in runs if r["status"] != "ok"]:
        warnings.append(describe(r) + (f" ({r['reason']})" if r["reason"] and r["status"] != "ok" else ""))
    epochs = sorted(set.intersection(*(set(c) for c in curves)))
    if not epochs:
        raise ValueError(f"the {len(curves)} runs share no epoch with metric {metric!r}: "
                         + "; ".join(describe(r) for r in runs))
    table = np.array([[c[e] for e in epochs] for c in curves])
    mean = table.mean(0)
    pick = np.argmin if minimize else np.argmax
    own = [int(pick(row)) for row in table]
    best = int(pick(mean))
    return {"metric": metric, "minimize": minimize, "runs": len(curves), "epochs": [epochs[0], epochs[-1]],
            "best_epoch": epochs[best], "best_mean": float(mean[best]),
            "last_epoch": epochs[-1], "last_mean": float(mean[-1]),
            "own_best_epochs": [epochs[i] for i in own], "mean_at_own_best": [float(mean[i]) for i in own],
            "mean": {e: float(m) for e, m in zip(epochs, mean)}, "run_epochs": runs, "warnings": warnings}
