"""SIGINT / SIGTERM handling: a run ends at the next training step with ``RunInterrupted``.

:func:`guard` (used by the runner) installs handlers for the duration of a run. Inside a training
loop (:func:`deferring`) a signal only sets a flag, and the Trainer raises
:class:`~physlearning.errors.RunInterrupted` after the current step, its last epoch checkpoint
intact; outside one (data loading, evaluation) it raises at once. A second signal always raises
at once.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

from physlearning.errors import RunInterrupted

_state = {"requested": None, "deferring": 0}


def _handler(signum, frame) -> None:
    name = signal.Signals(signum).name
    if _state["deferring"] and _state["requested"] is None:
        _state["requested"] = name
        return
    raise RunInterrupted(f"interrupted by {name}")


@contextlib.contextmanager
def guard() -> Iterator[None]:
    """Install the SIGINT/SIGTERM handlers (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, _handler) for s in (signal.SIGINT, signal.SIGTERM)}
    _state["requested"] = None
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        _state["requested"] = None


@contextlib.contextmanager
def deferring() -> Iterator[None]:
    """Inside a training loop: signals set a flag that :func:`check` turns into RunInterrupted."""
    _state["deferring"] += 1
    try:
        yield
    finally:
        _state["deferring"] -= 1


def check(where: str = "") -> None:
    """Raise RunInterrupted when a signal arrived."""
    if (name := _state["requested"]) is not None:
        _state["requested"] = None
        raise RunInterrupted(f"interrupted by {name}{' ' + where if where else ''}")


def request(name: str = "SIGINT") -> None:
    """Ask the running loop to stop as a signal would (tests, callbacks)."""
    _state["requested"] = name
