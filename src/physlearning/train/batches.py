"""Batch sources for the Trainer: labelled arrays, chunks of a series, unlabelled samples.

A source has ``steps_per_epoch`` and ``epoch(rng)`` yielding ``(x, target)`` numpy batches of a
fixed shape (so the jitted step compiles once); ``target`` is None for unlabelled data. The
generator ``rng`` is the Trainer's, derived from the run seed and the epoch, so a resumed run
draws the same batches as an uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from physlearning.errors import ConfigError


def _check_batch(batch_size: int, n: int, what: str) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ConfigError(f"batch size = {batch_size!r}: allowed values are integers >= 1")
    if n == 0:
        raise ConfigError(f"the {what} is empty: nothing to train on")
    if batch_size > n:
        raise ConfigError(f"batch size = {batch_size}: larger than the {what} ({n}); allowed values are "
                          f"1 <= batch size <= {n}")


class ArrayBatches:
    """Shuffled mini-batches of labelled rows ``(x, y)``; ``n // batch_size`` per epoch (the last
    partial batch is dropped so every batch has one shape)."""

    def __init__(self, x: np.ndarray, y: np.ndarray | None, batch_size: int):
        n = len(x)
        if y is not None and len(y) != n:
            raise ConfigError(f"inputs have {n} rows but targets {len(y)}")
        _check_batch(batch_size, n, "training set")
        self.x, self.y, self.batch_size = x, y, int(batch_size)
        self.n = n
        self.steps_per_epoch = n // self.batch_size

    def epoch(self, rng: np.random.Generator) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        perm = rng.permutation(self.n)
        bs = self.batch_size
        for i in range(self.steps_per_epoch):
            idx = perm[i * bs:(i + 1) * bs]
            yield self.x[idx], (None if self.y is None else self.y[idx])


class Unlabelled(ArrayBatches):
    """Shuffled mini-batches of samples without targets (generative training)."""

    def __init__(self, x: np.ndarray, batch_size: int):
        super().__init__(x, None, batch_size)


class SeriesChunks:
    """Chunks of a long series ``u`` (T, d_in) with targets ``y`` (T, d_out): windows of
    ``chunk`` samples every ``hop`` samples; each step draws ``batch`` windows without
    replacement; ``steps_per_epoch`` steps make an epoch."""

    def __init__(self, u: np.ndarray, y: np.ndarray, chunk: int, batch: int, steps_per_epoch: int,
                 hop: int | None = None):
        if len(u) != len(y):
            raise ConfigError(f"series input has {len(u)} samples but target {len(y)}")
        if not 1 <= chunk <= len(u):
            raise ConfigError(f"chunk = {chunk}: allowed values are 1 <= chunk <= series length {len(u)}")
        hop = hop or max(chunk // 2, 1)
        starts = np.arange(0, len(u) - chunk + 1, hop)
        self.u = np.stack([u[s:s + chunk] for s in starts])
        self.y = np.stack([y[s:s + chunk] for s in starts])
        self.batch = min(int(batch), len(starts))
        if steps_per_epoch < 1:
            raise ConfigError(f"steps_per_epoch = {steps_per_epoch}: allowed values are >= 1")
        self.steps_per_epoch = int(steps_per_epoch)

    def epoch(self, rng: np.random.Generator) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for _ in range(self.steps_per_epoch):
            idx = rng.choice(len(self.u), self.batch, replace=False)
            yield self.u[idx], self.y[idx]
