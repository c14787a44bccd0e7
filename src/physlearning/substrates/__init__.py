"""Simulated physical systems; one module per system."""
