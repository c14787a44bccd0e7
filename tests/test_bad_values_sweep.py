"""Bad values for every key of every example config, checked at load time (``runner.resolve``; nothing
is run): nan, +-inf, wrong types, empty strings, an unknown key next to it, negative, zero and huge
numbers. Each case must be refused with ConfigError, or accepted only when the key's declared
constraints (``config.param`` metadata) allow the value; any other exception is a failure.

The full sweep is slow (``-m slow``); ``test_bad_values_one_example`` runs a handful of keys of one
example by default."""

from __future__ import annotations

import copy
import dataclasses
import math
import typing
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from physlearning import config as cfgmod
from physlearning.config import ConfigError
from physlearning.runs import registry
from physlearning.runs.runner import resolve

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.toml"))
UNKNOWN = "no_such_key_in_any_config"
HUGE = 10**15


def leaves(data: dict, prefix: tuple = ()) -> list[tuple[tuple, Any]]:
    """(key path, value) of every non-table value in a TOML document."""
    out = []
    for k, v in data.items():
        if isinstance(v, dict):
            out += leaves(v, prefix + (k,))
        else:
            out.append((prefix + (k,), v))
    return out


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def bad_values(value: Any) -> list[tuple[str, Any]]:
    """(case name, value) to try in place of ``value``."""
    cases: list[tuple[str, Any]] = [("nan", math.nan), ("inf", math.inf), ("-inf", -math.inf), ("empty string", "")]
    if isinstance(value, list):
        cases += [("empty list", []), ("scalar for a list", value[0] if value else 1), ("[nan]", [math.nan]),
                  ("[inf]", [math.inf]), ("[empty string]", [""]), ("nested list", [value])]
        if value and _is_number(value[0]):
            cases += [("[string]", ["1"]), ("[negative]", [-abs(value[0]) - 1]), ("[zero]", [0 * value[0]]),
                      ("[huge]", [HUGE if isinstance(value[0], int) else float(HUGE)]),
                      ("[beyond float range]", [10**400]), ("[largest float]", [1e308])]
        elif value and isinstance(value[0], str):
            cases += [("[number]", [1])]
        return cases
    cases += [("list for a scalar", [value]), ("table for a scalar", {"a": 1})]
    if isinstance(value, bool):
        cases += [("string for a bool", "true"), ("number for a bool", 1)]
    elif _is_number(value):
        one = type(value)(1)
        cases += [("string for a number", str(value)), ("bool for a number", True),
                  ("negative", -abs(value) - one), ("zero", 0 * one),
                  ("huge", HUGE if isinstance(value, int) else float(HUGE)),
                  ("largest 64-bit integer", 2**63 - 1), ("beyond 64 bits", 2**63), ("beyond float range", 10**400),
                  ("below float range", -(10**400)), ("largest float", 1e308), ("smallest float", 5e-324)]
        if isinstance(value, int):
            cases += [("float for an int", value + 0.5)]
    elif isinstance(value, str):
        cases += [("number for a string", 1), ("float for a string", 1.5), ("bool for a string", True)]
    return cases


def field_of(cls: type, path: tuple) -> tuple[dataclasses.Field, Any] | None:
    """The dataclass field (and its type hint) a key path names; None when no field has that path."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if path[0] not in fields:
        return None
    tp = hints[path[0]]
    if len(path) == 1:
        return fields[path[0]], tp
    return field_of(tp, path[1:]) if dataclasses.is_dataclass(tp) else None


def metadata_allows(cls: type, path: tuple, value: Any) -> bool:
    """Whether the declared type and constraints of key ``path`` allow ``value`` (the ``experiment``
    key: a registered experiment name)."""
    if path == ("experiment",):
        return isinstance(value, str) and value in registry.experiments()
    found = field_of(cls, path)
    if found is None:
        return False
    f, tp = found
    if dataclasses.is_dataclass(tp) or not cfgmod._type_ok(value, tp):
        return False
    meta = f.metadata
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if meta.get("nonempty") and isinstance(value, (list, tuple)) and not value:
        return False
    bounds = {"gt": lambda v, b: v > b, "ge": lambda v, b: v >= b, "lt": lambda v, b: v < b, "le": lambda v, b: v <= b}
    for v in values:
        if isinstance(v, int) and not isinstance(v, bool) and not cfgmod.INT_MIN <= v <= cfgmod.INT_MAX:
            return False  # TOML integers are 64-bit: a type limit, like the declared type
        if _is_number(v):
            if not math.isfinite(v):
                return False
            if any(meta.get(op) is not None and not ok(v, meta[op]) for op, ok in bounds.items()):
                return False
        if meta.get("choices") is not None and v not in meta["choices"]:
            return False
    kind = meta.get("path")
    if kind and value:
        p = Path(value).expanduser()
        if (kind == "dir" and not p.is_dir()) or (kind == "file" and not p.is_file()):
            return False
    return True


def _set(data: dict, path: tuple, value: Any) -> dict:
    out = copy.deepcopy(data)
    node = out
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    return out


def sweep(example: Path, keys: set[tuple] | None = None) -> dict:
    """Try every bad value on every leaf key (or only ``keys``) of ``example``; the outcome counts and
    the failures (tracebacks, values accepted that the metadata does not allow)."""
    data = cfgmod.read_toml(example)
    try:
        exp, _ = resolve(copy.deepcopy(data))
    except ConfigError as e:  # e.g. its data folder is not on this machine
        pytest.skip(f"{example.name} does not resolve here: {e}")
    cls = exp.config_cls
    counts: Counter = Counter()
    failures: list[str] = []
    allowed: list[str] = []
    tables_done: set[tuple] = set()
    for path, value in leaves(data):
        if keys is not None and path not in keys:
            continue
        cases = [(name, path, v) for name, v in bad_values(value)]
        if path[:-1] not in tables_done:  # one unknown key per table
            tables_done.add(path[:-1])
            cases.append(("unknown key next to it", path[:-1] + (UNKNOWN,), 1))
        for name, key, v in cases:
            counts["cases"] += 1
            label = f"{example.name}: {'.'.join(key)} = {v!r} ({name})"
            try:
                resolve(_set(data, key, v))
            except ConfigError:
                counts["refused"] += 1
                continue
            except Exception as e:  # noqa: BLE001  what the sweep looks for
                counts["tracebacks"] += 1
                failures.append(f"{label}: {type(e).__name__}: {e}")
                continue
            if key[-1] != UNKNOWN and metadata_allows(cls, key, v):
                counts["allowed-valid"] += 1
                allowed.append(label)
            else:
                counts["wrongly accepted"] += 1
                failures.append(f"{label}: accepted, but the key's declared constraints do not allow it")
    return {"counts": counts, "failures": failures, "allowed": allowed}


def _check(results: list[dict]) -> Counter:
    total: Counter = Counter()
    failures = []
    for r in results:
        total += r["counts"]
        failures += r["failures"]
    print(f"bad-value sweep: {total['cases']} cases, {total['refused']} refused (ConfigError), "
          f"{total['allowed-valid']} accepted and allowed by the key's constraints, "
          f"{total['wrongly accepted']} wrongly accepted, {total['tracebacks']} tracebacks")
    assert not failures, "\n".join(failures)
    assert total["cases"] == total["refused"] + total["allowed-valid"]
    return total


def test_bad_values_one_example():
    """A handful of keys of one example: an int, a float, a choice, a section key, the seed."""
    example = Path(__file__).resolve().parents[1] / "examples" / "fit_resistor_lattice.toml"
    keys = {("seed",), ("train", "epochs"), ("train", "lr"), ("rule", "kind"), ("rule", "ep", "beta"),
            ("task", "n_train")}
    result = sweep(example, keys)
    total = _check([result])
    assert total["cases"] > 100 and total["refused"] > 90
    # valid by the declared constraints: seed = 0 (0 <= seed < 2**32), beta = 1e15 (> 0); epochs = 0 is not (>= 1)
    assert "fit_resistor_lattice.toml: seed = 0 (zero)" in result["allowed"]
    assert "fit_resistor_lattice.toml: rule.ep.beta = 1000000000000000.0 (huge)" in result["allowed"]
    assert not any(a.startswith("fit_resistor_lattice.toml: train.epochs = 0 ") for a in result["allowed"])


@pytest.mark.slow
def test_bad_values_every_example_every_key():
    _check([sweep(example) for example in EXAMPLES])
