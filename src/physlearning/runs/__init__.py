"""Runs: config resolution, the experiment registry, the runner, run folders, reports, plots, the tour."""
