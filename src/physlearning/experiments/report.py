"""report.md: figures inline, the headline numbers, and the command that reproduces the run."""

from __future__ import annotations

import json
from pathlib import Path

from physlearning.experiments import plots
from physlearning.experiments.runstore import read_metrics


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def write_report(run_dir: str | Path, command: str | None = None) -> Path:
    """(Re)build the generic curves from metrics.jsonl and write report.md."""
    run_dir = Path(run_dir)
    summary_p = run_dir / "summary.json"
    summary = json.loads(summary_p.read_text()) if summary_p.is_file() else {}
    history = read_metrics(run_dir)
    (run_dir / "plots").mkdir(exist_ok=True)
    plots.curves(history, run_dir / "plots" / "curves.png", title=summary.get("experiment", ""))
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
