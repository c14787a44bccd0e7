"""The tour: a short run of every pillar, one report linking each run's plot and key figure."""

from __future__ import annotations

import json
import time
from pathlib import Path

from physlearning.config import ConfigError
from physlearning.errors import RunFolderError
from physlearning.runs import registry, runner
from physlearning.runs.store import RunStore, make_folder


def _make_root(out: str | Path | None, runs_dir: str | Path) -> Path:
    """The new tour folder: ``out`` (which must not exist), else ``runs_dir/tour[-N]`` (the next free name,
    taken atomically); a RunFolderError naming the path and the reason when it cannot be made."""
    if out is not None:
        make_folder(Path(out))
        return Path(out)
    for _ in range(1000):
        try:
            root = RunStore.fresh_path(runs_dir, "tour")
        except (OSError, ValueError):  # a name too long, a NUL byte...: make_folder says which
            root = Path(runs_dir) / "tour"
        try:
            make_folder(root)
            return root
        except RunFolderError as e:
            if "already exists" not in str(e):
                raise
    raise RunFolderError(f"no free tour folder name tour-N under {str(runs_dir)!r}")


def tour(out: str | Path | None = None, *, runs_dir: str | Path = "runs", only: list[str] | None = None) -> Path:
    touring = [name for name, exp in registry.experiments().items() if exp.tour is not None]
    if only is not None and (unknown := sorted(set(only) - set(touring))):
        raise ConfigError(f"tour --only {unknown}: allowed values are {touring}")
    root = _make_root(out, runs_dir)
    lines = [
        "# physlearning tour",
        "",
        "One short run per pillar on built-in defaults (2-core CPU sized). Each run folder holds",
        "its config, metrics, checkpoint, plots and report.",
        "",
    ]
    rows = []
    t_all = time.perf_counter()
    for name, exp in registry.experiments().items():
        if exp.tour is None or (only and name not in only):
            continue
        print(f"[tour] {name}: {exp.description}", flush=True)
        cfg = runner.with_overrides(exp, exp.tour)
        summary, path = runner.run(exp, cfg, root / name, command=f"physlearning run {root / name / 'config.toml'}")
        figures = {k: summary[k] for k in exp.headline if k in summary}
        rows.append({"experiment": name, **figures, "wall_time_s": summary["wall_time_s"]})
        lines += [f"## {name}", "", exp.description, ""]
        lines += [f"- {k} = {v:.4g}" if isinstance(v, float) else f"- {k} = {v}" for k, v in figures.items()]
        lines += [f"- wall time {summary['wall_time_s']:.1f} s; report: [{name}/report.md]({name}/report.md)", ""]
        for png in sorted((path / "plots").glob("*.png")):
            lines.append(f"![{name} {png.stem}]({name}/plots/{png.name})")
        lines.append("")
    lines += [f"Total wall time: {time.perf_counter() - t_all:.1f} s", ""]
    (root / "report.md").write_text("\n".join(lines))
    (root / "summary.json").write_text(json.dumps(rows, indent=2) + "\n")
    return root / "report.md"
