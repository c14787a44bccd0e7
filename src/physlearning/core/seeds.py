"""Named seed streams: one root seed, independent streams by name.

Every random draw of a run comes from a named stream (:class:`Seeds`, ``numpy_rng``, ``jax_key``)
with a name saying what it is for
("data.split", "model.init", "train.batches", "hardware.disorder", ...). Streams are keyed by
``(root, crc32(name))`` through numpy's ``SeedSequence`` (for numpy and scikit-learn) and
``jax.random.fold_in`` (for jax), so root s's "data.test" stream shares nothing with root s+1's
"data.val" stream (integer offsets such as ``seed + 1`` did exactly that). ``crc32`` is stable
across processes, unlike Python's salted ``hash``.
"""

from __future__ import annotations

import zlib

import jax
import numpy as np

MAX_SEED = 2**32
"""seeds are 0 <= seed < 2**32 (numpy's and scikit-learn's range)."""


def _check(root: int) -> int:
    if isinstance(root, bool) or not isinstance(root, (int, np.integer)) or not 0 <= int(root) < MAX_SEED:
        raise ValueError(f"seed = {root!r}: allowed values are integers 0 <= seed < 2**32")
    return int(root)


def name_id(name: str) -> int:
    """Stable 32-bit id of a stream name."""
    if not name:
        raise ValueError("seed stream name must be a non-empty string")
    return zlib.crc32(name.encode())


def sequence(root: int, name: str, *index: int) -> np.random.SeedSequence:
    """numpy ``SeedSequence`` of stream ``name`` under root seed ``root`` (``index``: e.g. the epoch, for a
    stream that restarts identically at every epoch of a resumed run)."""
    return np.random.SeedSequence([_check(root), name_id(name), *index])


def numpy_rng(root: int, name: str, *index: int) -> np.random.Generator:
    """numpy generator of stream ``name`` (sub-stream ``index``)."""
    return np.random.default_rng(sequence(root, name, *index))


def int_seed(root: int, name: str) -> int:
    """A 32-bit integer seed of stream ``name`` (for APIs that take an int, e.g. scikit-learn's
    ``random_state``)."""
    return int(sequence(root, name).generate_state(1)[0])


def jax_key(root: int, name: str, *index: int) -> jax.Array:
    """jax PRNG key of stream ``name``: ``fold_in(PRNGKey(root), crc32(name))``, then folded with ``index``."""
    key = jax.random.fold_in(jax.random.PRNGKey(_check(root)), name_id(name) & 0x7FFFFFFF)
    for i in index:
        key = jax.random.fold_in(key, i)
    return key


class Seeds:
    """The streams of one root seed: ``Seeds(7).key("model.init")``, ``.rng("data.split")``,
    ``.int("baselines.mlp")``."""

    def __init__(self, root: int):
        self.root = _check(root)

    def key(self, name: str) -> jax.Array:
        return jax_key(self.root, name)

    def rng(self, name: str) -> np.random.Generator:
        return numpy_rng(self.root, name)

    def int(self, name: str) -> int:
        return int_seed(self.root, name)

    def __repr__(self) -> str:
        return f"Seeds({self.root})"
