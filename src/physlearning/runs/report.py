"""report.md: figures inline, the headline numbers, and the command that reproduces the run."""

from __future__ import annotations

import json
from pathlib import Path

from physlearning.runs import plots
from physlearning.runs.store import read_metrics, read_summary


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def redraw_figures(run_dir: Path, experiment: str | None) -> list[str]:
    """Redraw every figure of a run from what its folder saved: the experiment's ``figures`` hook when
    it has one, else the generic training curves."""
    from physlearning.runs import registry

    exp = registry.experiments().get(experiment or "")
    if exp is not None and exp.figures is not None:
        return exp.figures(run_dir)
    plots.curves(read_metrics(run_dir), run_dir / "plots" / "curves.png", title=experiment or "")
    return ["curves.png"]


def write_report(run_dir: str | Path, command: str | None = None) -> Path:
    """(Re)draw the run's figures from its saved data and write report.md."""
    run_dir = Path(run_dir)
    summary = read_summary(run_dir)
    history = read_metrics(run_dir)
    (run_dir / "plots").mkdir(exist_ok=True)
    if history:
        redraw_figures(run_dir, summary.get("experiment"))
    lines = [f"# Run report: {summary.get('experiment', run_dir.name)}", ""]
    if summary.get("description"):
        lines += [summary["description"], ""]
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
    out.write_text("\n".join(lines))
    return out


def mean_curve(run_dirs: list[str | Path], metric: str = "val_loss", minimize: bool | None = None) -> dict:
    """Mean of ``metric`` per epoch over several run folders, e.g. the folds of a k-fold
    cross-validation (one run per validation block): the epoch where the mean is best, the mean
    there and at the last epoch, and each run's own best epoch with the mean at that epoch.
    Only epochs that every run recorded count. ``minimize`` None: lower is better unless the
    metric's name contains "accuracy"."""
    import numpy as np

    if minimize is None:
        minimize = "accuracy" not in metric
    curves = []
    for d in run_dirs:
        if not (Path(d) / "metrics.jsonl").is_file():
            raise ValueError(f"{str(d)!r} is not a run folder (no metrics.jsonl)")
        records = read_metrics(d)
        rows = [r for r in records if metric in r and "epoch" in r]
        if not rows:
            keys = sorted({k for r in records for k in r} - {"epoch", "time_s", "event", "message"})
            raise ValueError(f"{str(d)!r}: no epoch records with metric {metric!r} (metrics there: {keys})")
        curve = {int(r["epoch"]): float(r[metric]) for r in rows}
        if bad := [e for e, v in curve.items() if not np.isfinite(v)]:
            raise ValueError(f"{str(d)!r}: {metric} is not finite at epoch {bad[0]} (the run diverged)")
        curves.append(curve)
    epochs = sorted(set.intersection(*(set(c) for c in curves)))
    if not epochs:
        raise ValueError(f"the {len(curves)} runs share no epoch with metric {metric!r}")
    table = np.array([[c[e] for e in epochs] for c in curves])
    mean = table.mean(0)
    pick = np.argmin if minimize else np.argmax
    own = [int(pick(row)) for row in table]
    best = int(pick(mean))
    return {"metric": metric, "minimize": minimize, "runs": len(curves), "epochs": [epochs[0], epochs[-1]],
            "best_epoch": epochs[best], "best_mean": float(mean[best]),
            "last_epoch": epochs[-1], "last_mean": float(mean[-1]),
            "own_best_epochs": [epochs[i] for i in own], "mean_at_own_best": [float(mean[i]) for i in own],
            "mean": {e: float(m) for e, m in zip(epochs, mean)}}
