"""Typed, validated experiment configs read from TOML.

An experiment declares its config as nested frozen dataclasses; each field carries its
constraints in ``metadata`` (built with :func:`param`). :func:`from_dict` rejects unknown
keys, wrong types and impossible values *before* any work starts, naming the key, the
value and what is allowed.

Example::

    @dataclasses.dataclass(frozen=True)
    class Train:
        epochs: int = param(10, ge=1, doc="passes over the training set")
        lr: float = param(1e-3, gt=0)
        optimizer: str = param("adam", choices=("adam", "sgd"))
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
import types
import typing
from pathlib import Path
from typing import Any

import tomli_w

from physlearning.errors import ConfigError, PhysLearningError  # noqa: E402  (one error base class: physlearning.errors)


def param(
    default: Any,
    *,
    doc: str = "",
    gt: float | None = None,
    ge: float | None = None,
    lt: float | None = None,
    le: float | None = None,
    choices: tuple | None = None,
    path: str | None = None,
    nonempty: bool = False,
) -> Any:
    """A config field with constraints. ``path="dir"`` / ``"file"`` checks existence
    (empty string means "not given"); ``nonempty`` requires a list with at least one entry."""
    meta = {"doc": doc, "gt": gt, "ge": ge, "lt": lt, "le": le, "choices": choices, "path": path,
            "nonempty": nonempty}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


SEED_LIMIT = 2**32
"""Seeds are 0 <= seed < 2**32: numpy, scikit-learn (``random_state``) and JAX keys all take them."""


def seed_param(default: int = 0, *, doc: str = "random seed") -> Any:
    """A seed field: an integer with 0 <= seed < 2**32 (what numpy's and scikit-learn's generators
    accept; JAX keys use the same 32 bits)."""
    return param(default, ge=0, lt=SEED_LIMIT, doc=doc)


def round_up(x: float, digits: int = 3) -> float:
    """``x`` > 0 rounded up to ``digits`` significant digits: a lower bound quoted in a message that the
    quoted value itself satisfies."""
    step = 10.0 ** (math.floor(math.log10(x)) - digits + 1)
    return float(f"{math.ceil(x / step * (1 - 1e-12)) * step:.{digits}g}")


MEMORY_ENV = "PHYSLEARNING_MEMORY_LIMIT_GB"
MEMORY_FRACTION = 0.8
"""Default memory limit: this share of the machine's physical memory."""


def memory_limit() -> tuple[float, str]:
    """(limit in bytes, where it comes from): ``$PHYSLEARNING_MEMORY_LIMIT_GB`` (GiB) if set, else
    :data:`MEMORY_FRACTION` of physical memory (``SC_PAGE_SIZE * SC_PHYS_PAGES``)."""
    raw = os.environ.get(MEMORY_ENV, "").strip()
    if raw:
        try:
            gib = float(raw)
        except ValueError:
            gib = float("nan")
        if not (math.isfinite(gib) and gib > 0):
            raise ConfigError(f"environment variable {MEMORY_ENV} = {raw!r}: allowed values are a number of GiB > 0")
        return gib * 2**30, f"{MEMORY_ENV} = {raw}"
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        total = 0
    if total <= 0:
        return 64.0 * 2**30, f"physical memory unknown, assumed 64 GiB; set {MEMORY_ENV}"
    return MEMORY_FRACTION * total, f"{MEMORY_FRACTION:.0%} of {total / 2**30:.1f} GiB physical memory; " \
        f"set {MEMORY_ENV} to change it"


def check_memory(nbytes: float, what: str, key_values: dict, *, parts: dict[str, float] | None = None) -> None:
    """Raise :class:`ConfigError` when ``nbytes``, an estimate of the memory the run's dominant
    arrays need (``what``), exceeds :func:`memory_limit`; the message names ``key_values`` (the
    config keys the estimate depends on), the estimate and the limit (and, with ``parts``, the
    largest contribution)."""
    limit, source = memory_limit()
    nbytes = float(nbytes) if nbytes < 1e300 else 1e300
    if nbytes <= limit:
        return
    keys = ", ".join(f"{k} = {v!r}" for k, v in key_values.items())
    largest = ""
    if parts:
        name, size = max(parts.items(), key=lambda kv: kv[1])
        largest = f"; the largest part is {name}, about {min(float(size), 1e300) / 2**30:.3g} GiB"
    raise ConfigError(f"{keys}: {what} need about {nbytes / 2**30:.3g} GiB{largest}, more than the memory limit of "
                      f"{limit / 2**30:.3g} GiB ({source}); allowed: smaller values of these keys")


def section(cls: type) -> Any:
    """A nested config table with its defaults."""
    return dataclasses.field(default_factory=cls, metadata={"doc": cls.__doc__ or ""})


def _type_ok(value: Any, tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if tp is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, a) for a in typing.get_args(tp))
    if tp is type(None):
        return value is None
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is bool:
        return isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    if origin in (list, tuple):
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            return False
        inner = args[0] if args else Any
        return all(_type_ok(v, inner) for v in value)
    return isinstance(value, tp)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


_BOUNDS = {
    "gt": (">", lambda v, b: v > b),
    "ge": (">=", lambda v, b: v >= b),
    "lt": ("<", lambda v, b: v < b),
    "le": ("<=", lambda v, b: v <= b),
}


def _check_value(key: str, value: Any, meta: dict) -> None:
    allowed = [f"{sym} {meta[op]}" for op, (sym, _) in _BOUNDS.items() if meta.get(op) is not None]
    values = value if isinstance(value, (list, tuple)) else [value]
    if meta.get("nonempty") and isinstance(value, (list, tuple)) and not value:
        raise ConfigError(f"{key} = []: give at least one value")
    for v in values:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            if v != v or v in (float("inf"), float("-inf")):
                raise ConfigError(f"{key} = {_short(value)}: must be a finite number")
            for op, (_, ok) in _BOUNDS.items():
                if meta.get(op) is not None and not ok(v, meta[op]):
                    raise ConfigError(f"{key} = {_short(value)}: allowed values are {' and '.join(allowed)}")
        if meta.get("choices") is not None and v not in meta["choices"]:
            raise ConfigError(f"{key} = {_short(value)}: allowed values are {list(meta['choices'])}")
    kind = meta.get("path")
    if kind and value:
        p = Path(value).expanduser()
        if kind == "dir" and not p.is_dir():
            raise ConfigError(f"{key} = {value!r}: directory does not exist")
        if kind == "file" and not p.is_file():
            raise ConfigError(f"{key} = {value!r}: file does not exist")


INT_MIN, INT_MAX = -(2**63), 2**63 - 1
"""Integers a config may hold: TOML's 64-bit range (larger ones cannot reach numpy, JAX or a float)."""


def _short(value: Any) -> str:
    """``repr(value)``, shortened for a huge integer or a long value."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**20:
        digits = len(str(abs(value))) if abs(value) < 10**4000 else "4000+"
        return f"{'-' if value < 0 else ''}(an integer of {digits} digits)"
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "..."


def _check_int_range(key: str, value: Any) -> None:
    for v in value if isinstance(value, (list, tuple)) else [value]:
        if isinstance(v, int) and not isinstance(v, bool) and not INT_MIN <= v <= INT_MAX:
            raise ConfigError(f"{key} = {_short(value)}: outside the 64-bit integer range; allowed: "
                              f"{INT_MIN} <= value <= {INT_MAX} (TOML integers)")


def _extreme_values(obj: Any, prefix: str) -> list[str]:
    """``key = value`` of the numbers in config object ``obj`` (nested sections too) that are far from an
    ordinary size (magnitude above 1e12 or, not zero, below 1e-12): the likely cause when a check fails."""
    out = []
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        if dataclasses.is_dataclass(v):
            out += _extreme_values(v, f"{prefix}{f.name}.")
            continue
        for x in v if isinstance(v, (list, tuple)) else [v]:
            if isinstance(x, (int, float)) and not isinstance(x, bool) and x != 0 and not 1e-12 <= abs(x) <= 1e12:
                out.append(f"{prefix}{f.name} = {_short(v)}")
                break
    return out


def from_dict(cls: type, data: dict, prefix: str = "") -> Any:
    """Build dataclass ``cls`` from ``data``, validating keys, types and values."""
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'} must be a table, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown config key {prefix}{unknown[0]!s}: allowed keys in "
            f"{prefix.rstrip('.') or 'the top level'} are {sorted(fields)}"
        )
    kwargs = {}
    for name, f in fields.items():
        if name not in data:
            continue
        key = f"{prefix}{name}"
        value = data[name]
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            kwargs[name] = from_dict(tp, value, key + ".")
            continue
        if not _type_ok(value, tp):
            raise ConfigError(f"{key} = {_short(value)}: wrong type {type(value).__name__}, expected {_type_name(tp)}")
        _check_int_range(key, value)  # first: a float field given a huge integer cannot become a float
        if tp is float or (
            typing.get_origin(tp) in (typing.Union, types.UnionType)
            and isinstance(value, int)
            and not isinstance(value, bool)
            and float in typing.get_args(tp)
        ):
            value = float(value)
        _check_value(key, value, dict(f.metadata))
        kwargs[name] = tuple(value) if isinstance(value, list) and typing.get_origin(tp) is tuple else value
    obj = cls(**kwargs)
    check = getattr(obj, "validate", None)
    if callable(check):
        try:
            check()
        except PhysLearningError:
            raise
        except Exception as e:  # noqa: BLE001  an arithmetic or other failure on values its checks did not foresee
            where = prefix.rstrip(".") or "config"
            suspects = _extreme_values(obj, prefix)
            cause = (f"likely cause: {', '.join(suspects)}, far outside the range the experiment computes with; "
                     "allowed: values of ordinary size" if suspects else
                     "allowed: values the experiment can compute with")
            raise ConfigError(f"{where}: checking the values failed ({type(e).__name__}: {e}); {cause}") from e
    return obj


def to_dict(obj: Any) -> dict:
    """Fully resolved config as plain TOML-serialisable data."""
    out = {}
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        if dataclasses.is_dataclass(v):
            out[f.name] = to_dict(v)
        elif v is None:
            continue
        elif isinstance(v, tuple):
            out[f.name] = list(v)
        else:
            out[f.name] = v
    return out


def parse_override(item: str) -> tuple[list[str], Any]:
    """Parse ``a.b=value`` (value as a TOML literal, else a bare string)."""
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected key=value")
    key, raw = item.split("=", 1)
    key = key.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except (tomllib.TOMLDecodeError, ValueError):  # ValueError: an integer of more than 4300 digits
        value = raw
    return key.split("."), value


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    for item in overrides:
        path, value = parse_override(item)
        node = data
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {item!r}: {part} is not a table")
        node[path[-1]] = value
    return data


def read_toml(path: str | Path) -> dict:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {str(p)!r} does not exist")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"config file {str(p)!r} is not UTF-8 text (byte {e.start}: {e.reason}); "
                          "TOML files must be UTF-8: save it as UTF-8") from None
    except OSError as e:
        raise ConfigError(f"config file {str(p)!r} cannot be read: {e.strerror or e}") from None
    try:
        return tomllib.loads(text)
    except (tomllib.TOMLDecodeError, ValueError) as e:  # ValueError: an integer of more than 4300 digits
        raise ConfigError(f"config file {str(p)!r} is not valid TOML: {e}") from e


def dumps(data: dict) -> str:
    return tomli_w.dumps(data)


def describe(cls: type, prefix: str = "") -> list[str]:
    """One line per key: name, default, constraints, doc (for ``physlearning list -v``)."""
    lines = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            lines += describe(tp, f"{prefix}{f.name}.")
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        meta = f.metadata
        cons = [f"{k} {meta[k]}" for k in ("gt", "ge", "lt", "le") if meta.get(k) is not None]
        if meta.get("choices"):
            cons.append(f"one of {list(meta['choices'])}")
        if meta.get("nonempty"):
            cons.append("at least one value")
        lines.append(f"  {prefix}{f.name} = {default!r}  {'; '.join(cons)}  {meta.get('doc', '')}".rstrip())
    return lines
