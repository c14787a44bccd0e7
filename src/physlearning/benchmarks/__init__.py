"""Benchmarks run on demand by ``physlearning bench NAME`` (never as tests).

Each module ``physlearning.benchmarks.NAME`` defines ``run(quick: bool) -> dict`` returning at
least ``{name, ours_s, baseline, baseline_s, speedup, ours_compile_s, baseline_compile_s}`` with
``speedup = baseline_s / ours_s`` measured in the same process (compile time excluded), plus any extra
figures as numbers (a spread as separate ``*_mean`` / ``*_std`` keys). :func:`finish` adds
``speedup_with_compile = (baseline_s + baseline_compile_s) / (ours_s + ours_compile_s)``.
"""

from __future__ import annotations


def finish(result: dict) -> dict:
    """Add ``speedup_with_compile`` (None when a timing is missing)."""
    keys = ("ours_s", "baseline_s", "ours_compile_s", "baseline_compile_s")
    vals = [result.get(k) for k in keys]
    ok = all(isinstance(v, (int, float)) for v in vals) and (vals[0] + vals[2]) > 0
    result["speedup_with_compile"] = (vals[1] + vals[3]) / (vals[0] + vals[2]) if ok else None
    return result
