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
import tomllib
import types
import typing
from pathlib import Path
from typing import Any

import tomli_w


class ConfigError(ValueError):
    """A config key, type or value that is not allowed (raised before any work)."""


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
                raise ConfigError(f"{key} = {value!r}: must be a finite number")
            for op, (_, ok) in _BOUNDS.items():
                if meta.get(op) is not None and not ok(v, meta[op]):
                    raise ConfigError(f"{key} = {value!r}: allowed values are {' and '.join(allowed)}")
        if meta.get("choices") is not None and v not in meta["choices"]:
            raise ConfigError(f"{key} = {value!r}: allowed values are {list(meta['choices'])}")
    kind = meta.get("path")
    if kind and value:
        p = Path(value).expanduser()
        if kind == "dir" and not p.is_dir():
            raise ConfigError(f"{key} = {value!r}: directory does not exist")
        if kind == "file" and not p.is_file():
            raise ConfigError(f"{key} = {value!r}: file does not exist")


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
            raise ConfigError(f"{key} = {value!r}: wrong type {type(value).__name__}, expected {_type_name(tp)}")
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
        check()
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
    except tomllib.TOMLDecodeError:
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
        return tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as e:
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
