"""Benchmarks run on demand by ``physlearning bench NAME`` (never as tests).

Each module ``physlearning.benchmarks.NAME`` defines ``run(quick: bool) -> dict`` returning at
least ``{name, ours_s, baseline, baseline_s, speedup}`` with ``speedup = baseline_s / ours_s``
measured in the same process, plus any extra figures.
"""
