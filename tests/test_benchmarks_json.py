"""`physlearning bench --json`: speedups with and without compile time, numbers as numbers."""

from __future__ import annotations

import pkgutil
from pathlib import Path

import pytest

import physlearning.benchmarks as b
from physlearning.benchmarks import finish


def test_speedup_with_compile_is_computed_from_the_timings():
    r = finish({"ours_s": 1.0, "baseline_s": 4.0, "ours_compile_s": 1.0, "baseline_compile_s": 0.0})
    assert r["speedup_with_compile"] == pytest.approx(2.0)
    assert finish({"ours_s": 1.0, "baseline_s": None})["speedup_with_compile"] is None


def test_every_benchmark_reports_both_compile_times():
    for m in pkgutil.iter_modules(b.__path__):
        if m.name.startswith("_"):  # helper modules of a benchmark (e.g. a baseline implementation)
            continue
        src = (Path(b.__path__[0]) / f"{m.name}.py").read_text()
        assert '"ours_compile_s"' in src and '"baseline_compile_s"' in src, m.name
        assert '+- ' not in src.split("def run")[-1].split("return")[-1], f"{m.name}: a spread as a string"
