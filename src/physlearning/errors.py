"""The library's errors: one base class, :class:`PhysLearningError`, that the runner and the CLI catch.

Every error raised for a bad value, a bad file, an unstable device or a failed run derives from
it and names the value, the file or the key and what is allowed. The classes also derive from the
matching built-in exception (``ValueError``, ``RuntimeError``, ...) so ``except ValueError`` in
user code keeps working. Modules define their own subclasses next to the code that raises them
(``DeviceError`` in ``substrates.reservoirs.base``, ``ScatteringError``, ...).

This module imports nothing heavy (no jax), so the config layer and the CLI can use it.
"""

from __future__ import annotations


class PhysLearningError(Exception):
    """Base class of every error the library raises on purpose (caught by the runner and the CLI)."""

    exit_code: int = 2
    """process exit status the CLI returns for this error."""


class ConfigError(PhysLearningError, ValueError):
    """A config key, type or value that is not allowed (raised before any work)."""


class DataError(PhysLearningError, ValueError):
    """A data file or directory that is missing, corrupt or out of range (names the file)."""


class DivergenceError(PhysLearningError, RuntimeError):
    """Training produced NaN/inf or an exploding loss; the run folder keeps metrics and the last good
    checkpoint (when one exists)."""

    exit_code = 3


class RunInterrupted(PhysLearningError):
    """A run stopped by SIGINT/SIGTERM; ``summary.json`` says ``status = "interrupted"`` and the last
    checkpoint is kept, so ``physlearning run --resume DIR`` can continue it."""

    exit_code = 130


class RunFolderError(PhysLearningError, OSError):
    """A run folder that cannot be made or read (exists already, not writable, not a run folder)."""


__all__ = ["PhysLearningError", "ConfigError", "DataError", "DivergenceError", "RunInterrupted", "RunFolderError"]
