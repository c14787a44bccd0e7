"""Checks of constructor arguments shared by the substrates (clear errors naming the value)."""

from __future__ import annotations

import math


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
