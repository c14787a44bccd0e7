"""Registries of substrates and learning rules, filled by the modules that define them.

A substrate module calls :func:`register_substrate` (a config section for its knobs, a builder
``build(section, n_in, n_out, key) -> Substrate`` and a small float64 ``check_case()`` for the
gradient matrix); a rule module calls :func:`register_rule` (its knobs' section, the families it
applies to and ``build(section) -> LearningRule``). Modules are discovered with ``pkgutil`` under
``physlearning.substrates`` and ``physlearning.rules``: a new substrate or rule is one file, picked
up by the config (``[rule] kind = ...`` with the rule's knobs in ``[rule.<kind>]``), by
``physlearning matrix`` and by the generic ``fit`` experiment without editing anything else.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from collections.abc import Callable
from typing import Any


@dataclasses.dataclass(frozen=True)
class RuleEntry:
    kind: str
    section: type
    """frozen config dataclass of the rule's knobs (``config.param`` fields)."""
    build: Callable[[Any], Any]
    families: tuple[type, ...]
    doc: str
    exact: bool = True
    """an exact-gradient estimator (checked to tight tolerances) or a biased one (coupled learning)."""
    check: dict = dataclasses.field(default_factory=dict)
    """knobs for gradient checks in float64 (e.g. ``beta = 1e-3``), overriding the section's defaults."""
    variants: dict = dataclasses.field(default_factory=dict)
    """named knob sets checked as separate matrix rows (``{"one_sided": {"estimator": "one_sided"}}``)."""


@dataclasses.dataclass(frozen=True)
class SubstrateEntry:
    kind: str
    section: type
    build: Callable[..., Any]
    """``build(section, n_in, n_out, key) -> Substrate``."""
    check_case: Callable[[], tuple] | None
    """``() -> (substrate, batch, cost)``: a small float64 instance for the gradient matrix (called
    with x64 enabled)."""
    reference: str
    """the rule kind that gives the exact gradient on this substrate (autodiff, implicit autodiff)."""
    doc: str
    cls: type | None = None
    """the substrate class ``build`` returns (its family decides which rules apply)."""


_RULES: dict[str, RuleEntry] = {}
_SUBSTRATES: dict[str, SubstrateEntry] = {}
_LOADED: set[str] = set()


def register_rule(kind: str, section: type, families: tuple[type, ...], doc: str, *, exact: bool = True,
                  check: dict | None = None, variants: dict | None = None):
    """Decorator: ``@register_rule("ep", EPSection, (EnergySubstrate,), "...")`` on ``build(section)``."""

    def deco(build):
        _RULES[kind] = RuleEntry(kind, section, build, tuple(families), doc, exact, dict(check or {}),
                                 dict(variants or {}))
        return build

    return deco


def register_substrate(kind: str, section: type, cls: type, *, check_case=None, reference: str = "autodiff",
                       doc: str = ""):
    """Decorator on ``build(section, n_in, n_out, key) -> Substrate`` (an instance of ``cls``)."""

    def deco(build):
        _SUBSTRATES[kind] = SubstrateEntry(kind, section, build, check_case, reference, doc, cls)
        return build

    return deco


def _discover(package: str) -> None:
    if package in _LOADED:
        return
    pkg = importlib.import_module(package)
    for info in pkgutil.walk_packages(pkg.__path__, package + "."):
        importlib.import_module(info.name)
    _LOADED.add(package)


def rules() -> dict[str, RuleEntry]:
    _discover("physlearning.rules")
    return dict(_RULES)


def substrates() -> dict[str, SubstrateEntry]:
    _discover("physlearning.substrates")
    return dict(_SUBSTRATES)


def rules_for(substrate: Any) -> list[str]:
    """Kinds of the registered rules that apply to ``substrate`` (an instance or a class)."""
    cls = substrate if isinstance(substrate, type) else type(substrate.design())
    return [k for k, r in rules().items() if issubclass(cls, r.families)]


def build_rule(kind: str, section: Any = None, **fields: Any) -> Any:
    """The rule ``kind`` built from its config ``section`` (None: the section's defaults), with ``fields``
    set on it afterwards (for example ``solver=`` for a rule whose registry build relaxes with the
    substrate's own solver)."""
    entries = rules()
    if kind not in entries:
        from physlearning.errors import ConfigError

        raise ConfigError(f"rule.kind = {kind!r}: allowed values are {sorted(entries)}")
    rule = entries[kind].build(entries[kind].section() if section is None else section)
    if fields:
        import equinox as eqx

        names = list(fields)
        rule = eqx.tree_at(lambda r: [getattr(r, n) for n in names], rule, [fields[n] for n in names],
                           is_leaf=lambda v: v is None)
    return rule


def _kind_section(name: str, what: str, entries: dict, kinds: list[str], default: str) -> type:
    from physlearning.config import param, section

    fields = [("kind", str, param(default, choices=tuple(kinds), doc=f"the {what} (its knobs: [{what}.<kind>])"))]
    fields += [(k, entries[k].section, section(entries[k].section)) for k in kinds]
    return dataclasses.make_dataclass(name, fields, frozen=True)


def rule_section(kinds: list[str], default: str) -> type:
    """A config dataclass for ``[rule]``: ``kind`` (one of ``kinds``) and one sub-table per rule with
    its own knobs (``[rule.ep] beta = 0.1``)."""
    return _kind_section("RuleSection", "rule", rules(), kinds, default)


def substrate_section(kinds: list[str], default: str) -> type:
    """A config dataclass for ``[substrate]``: ``kind`` and one sub-table per substrate."""
    return _kind_section("SubstrateSection", "substrate", substrates(), kinds, default)


def build_rule_from(section_obj: Any) -> Any:
    """The rule a ``rule_section`` instance names, built from its own sub-table."""
    return build_rule(section_obj.kind, getattr(section_obj, section_obj.kind))
