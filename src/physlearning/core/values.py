"""Checks of constructor arguments shared by the substrates (clear errors naming the value)."""

from __future__ import annotations

import math

import numpy as np


def finite_real(name: str, value, *, gt: float | None = None, ge: float | None = None) -> float:
    """``float(value)`` if it is a finite real number (and ``> gt`` / ``>= ge`` when given), else a
    ``ValueError`` naming ``name``, the value and what is allowed."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r}: must be a finite real number") from None
    if not math.isfinite(v):
        raise ValueError(f"{name}={value!r}: must be a finite real number")
    if gt is not None and not v > gt:
        raise ValueError(f"{name}={value!r}: must be > {gt}")
    if ge is not None and not v >= ge:
        raise ValueError(f"{name}={value!r}: must be >= {ge}")
    return v


def integer(name: str, value, *, ge: int, what: str = "") -> int:
    """``int(value)`` if it is an integer (not a bool) ``>= ge``, else a ``ValueError`` naming ``name``,
    the value and what is allowed (``what``: the quantity, in brackets)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < ge:
        raise ValueError(f"{name}={value!r}: must be an integer >= {ge}" + (f" ({what})" if what else ""))
    return int(value)
