"""The package version (layer 0: importable without jax)."""

__version__ = "0.2.0"
