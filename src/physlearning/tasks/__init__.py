"""Data sets and task definitions."""
