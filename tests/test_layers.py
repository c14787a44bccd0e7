"""Layering of the package: no module imports from a layer above its own (docs/architecture.md).

Every module under ``src/physlearning`` is parsed with :mod:`ast` (nothing is imported or executed).
Its ``import`` / ``from ... import`` statements inside the package are resolved to module names
(``from physlearning.runs import plots`` -> ``physlearning.runs.plots``; ``from physlearning.core import
Cost`` -> ``physlearning.core``; relative imports against the module's package), including imports
inside functions: a lazy import is still a dependency. Each module belongs to the layer of its
top-level name (``physlearning.substrates.reservoirs.base`` -> ``substrates``; the package face
``physlearning/__init__.py`` -> ``__init__``). Same-layer and downward imports are allowed.

Not checked: plug-in discovery by name (``registry._discover`` walking ``physlearning.substrates`` and
``physlearning.rules`` with ``pkgutil``, ``runs.registry.PILLAR_MODULES``, the face's lazy
``_EXPORTS``, ``physlearning bench NAME``). A lower layer finding its plug-ins by name is the
design; the plug-ins import the lower layer, never the reverse.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PKG = "physlearning"

LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "config", "_version"),  # 0: no jax; what every layer may raise and read
    ("core", "registry"),  # 1: abstract families, rules, Hardware, seeds; the substrate/rule registries
    ("substrates",),  # 2: the physics, one module per system
    ("rules",),  # 3: learning rules (may know a substrate: scattering_grad, trajectory)
    ("tasks", "metrics"),  # 4: data and tasks, sample metrics
    ("train",),  # 5: the one Trainer (a run folder only through the duck-typed ``store``)
    ("baselines", "checks"),  # 6: digital baselines (trained by the Trainer); registry-driven gradient checks
    ("runs",),  # 7: run folders, runner, experiment registry, plots, report, tour
    ("experiments", "matrix", "benchmarks"),  # 8: experiments (plug-ins of runs), pillar matrix, benchmarks
    ("cli", "__main__", "__init__"),  # 9: the command line and the package face
)
"""Lowest first (the order in ``physlearning/__init__.py``'s docstring). Why two layers sit where they do:

* ``runs`` sits below ``experiments``: every experiment module imports ``runs.registry.Experiment``,
  ``runs.store.RunStore`` or ``runs.plots``, while ``runs`` reaches experiments only by name
  (``runs.registry.PILLAR_MODULES``), as ``registry`` reaches substrates and rules;
* ``baselines`` sits above ``train``: the DDPM baseline trains through the one Trainer
  (``baselines.ddpm`` imports ``train.trainer``, ``train.batches``, ``train.optim``)."""

LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}

KNOWN: frozenset[tuple[str, str]] = frozenset()
"""Violations in the code today, as ``(importer, imported)``: tolerated so the test passes now and fails
on any new one. This set must shrink to empty: fix the import, then delete its entry here (a stale
entry fails :func:`test_known_violations_still_exist`)."""

LAZY_ALLOWED: dict[tuple[str, str], str] = {}
"""Lazy (in-function) upward imports that cannot be avoided, ``(importer, imported): reason``. A listed
pair is tolerated only inside a function; the same import at module level is still a violation.
Empty: every upward import found so far can be removed."""


@dataclasses.dataclass(frozen=True)
class Import:
    target: str
    line: int
    lazy: bool


@dataclasses.dataclass(frozen=True)
class Violation:
    path: str
    line: int
    importer: str
    imported: str
    lazy: bool

    @property
    def key(self) -> tuple[str, str]:
        return self.importer, self.imported

    def __str__(self) -> str:
        a, b = layer_of(self.importer), layer_of(self.imported)
        return (f"{self.path}:{self.line}: {self.importer} -> {self.imported} "
                f"(layer {a} {component(self.importer)} imports layer {b} {component(self.imported)} above it)"
                + (" [lazy]" if self.lazy else ""))


def module_files(src: Path = SRC) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package (packages by their ``__init__``)."""
    out = {}
    for path in sorted((src / PKG).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = module_files()


def component(module: str) -> str:
    """The layer-table name of a module: its top-level name under the package (the face: ``__init__``)."""
    parts = module.split(".")
    return "__init__" if len(parts) == 1 else parts[1]


def layer_of(module: str) -> int:
    return LAYER[component(module)]


def imports_of(module: str, source: str, *, is_package: bool = False,
               modules: set[str] | dict[str, Path] = MODULES) -> list[Import]:
    """Package-internal import targets of one module's source (module-level and lazy)."""
    package = module if is_package else module.rpartition(".")[0]
    found: list[Import] = []

    def resolve_from(node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        base = package.split(".")
        if node.level > 1:
            base = base[:-(node.level - 1)]
        return ".".join(base + ([node.module] if node.module else []))

    class Visitor(ast.NodeVisitor):
        depth = 0

        def visit_FunctionDef(self, node):
            self.depth += 1
            self.generic_visit(node)
            self.depth -= 1

        visit_AsyncFunctionDef = visit_FunctionDef

        def visit_Import(self, node: ast.Import):
            for alias in node.names:
                if alias.name == PKG or alias.name.startswith(PKG + "."):
                    found.append(Import(alias.name, node.lineno, self.depth > 0))

        def visit_ImportFrom(self, node: ast.ImportFrom):
            base = resolve_from(node)
            if base != PKG and not base.startswith(PKG + "."):
                return
            targets = {f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base: None for a in node.names}
            found.extend(Import(t, node.lineno, self.depth > 0) for t in targets)

    Visitor().visit(ast.parse(source))
    return found


def check_source(module: str, source: str, path: str = "<source>", *, is_package: bool = False,
                 modules: set[str] | dict[str, Path] = MODULES,
                 lazy_allowed: dict[tuple[str, str], str] | None = None) -> list[Violation]:
    """Upward imports of one module (``lazy_allowed`` pairs tolerated inside functions only)."""
    allowed = LAZY_ALLOWED if lazy_allowed is None else lazy_allowed
    own = layer_of(module)
    out = []
    for imp in imports_of(module, source, is_package=is_package, modules=modules):
        if layer_of(imp.target) > own and not (imp.lazy and (module, imp.target) in allowed):
            out.append(Violation(path, imp.line, module, imp.target, imp.lazy))
    return out


def all_violations() -> list[Violation]:
    out = []
    for module, path in MODULES.items():
        out += check_source(module, path.read_text(), str(path.relative_to(ROOT)),
                            is_package=path.name == "__init__.py")
    return out


# ------------------------------------------------------------------------------------------------- tests
def test_every_module_and_import_has_a_layer():
    missing = set()
    for module, path in MODULES.items():
        missing |= {m for m in [module] if component(m) not in LAYER}
        for imp in imports_of(module, path.read_text(), is_package=path.name == "__init__.py"):
            if component(imp.target) not in LAYER:
                missing.add(f"{imp.target} (imported by {module}, {path.relative_to(ROOT)}:{imp.line})")
    assert not missing, "place these in LAYERS (tests/test_layers.py and docs/architecture.md):\n" + "\n".join(
        sorted(missing))


def test_no_upward_imports():
    new = [v for v in all_violations() if v.key not in KNOWN]
    assert not new, "imports from a higher layer (see docs/architecture.md, Layers):\n" + "\n".join(map(str, new))


def test_known_violations_still_exist():
    found = {v.key for v in all_violations()}
    stale = sorted(KNOWN - found)
    assert not stale, f"fixed: remove these from KNOWN in tests/test_layers.py: {stale}"


def test_lazy_allow_list_names_modules_of_the_package():
    for importer, imported in LAZY_ALLOWED:
        assert importer in MODULES and imported in MODULES, (importer, imported)
        assert layer_of(imported) > layer_of(importer), f"{importer} -> {imported} is not upward: drop it"


def test_checker_catches_a_violation():
    src = (
        "import numpy as np\n"
        "from physlearning.errors import ConfigError\n"  # down: allowed
        "from physlearning.core.tree import tree_cosine\n"  # same layer: allowed
        "from physlearning.train import Trainer\n"  # up (line 4)
        "from physlearning import metrics, registry\n"  # metrics up (line 5), registry same layer
        "from ..runs import store\n"  # relative, up (line 6)
        "\n"
        "def f():\n"
        "    import physlearning\n"  # the face, lazily (line 9)
        "    from physlearning.core import Cost\n"
    )
    found = check_source("physlearning.core.fake", src, "core/fake.py")
    assert [(v.line, v.imported, v.lazy) for v in found] == [
        (4, "physlearning.train", False),
        (5, "physlearning.metrics", False),
        (6, "physlearning.runs.store", False),
        (9, "physlearning", True),
    ]
    assert str(found[0]) == ("core/fake.py:4: physlearning.core.fake -> physlearning.train "
                             "(layer 1 core imports layer 5 train above it)")
    assert check_source("physlearning.cli", src, "cli.py") == []  # the top layer may import anything


def test_lazy_allow_list_tolerates_only_lazy_imports():
    src = "from physlearning.runs import store\n\ndef f():\n    from physlearning.runs import store\n"
    allowed = {("physlearning.train.fake", "physlearning.runs.store"): "synthetic"}
    found = check_source("physlearning.train.fake", src, lazy_allowed=allowed)
    assert [(v.line, v.lazy) for v in found] == [(1, False)]
    assert len(check_source("physlearning.train.fake", src, lazy_allowed={})) == 2


@pytest.mark.parametrize("module,is_package,source,target", [
    ("physlearning.substrates.reservoirs", True, "from .base import Reservoir\n",
     "physlearning.substrates.reservoirs.base"),
    ("physlearning.substrates.reservoirs.esn", False, "from . import base\n",
     "physlearning.substrates.reservoirs.base"),
    ("physlearning.substrates.reservoirs.esn", False, "from ...core import Substrate\n", "physlearning.core"),
    ("physlearning.runs.api", False, "import physlearning.runs.store as s\n", "physlearning.runs.store"),
])
def test_import_resolution(module, is_package, source, target):
    assert [i.target for i in imports_of(module, source, is_package=is_package)] == [target]


def test_docs_table_matches_layers():
    """docs/architecture.md's layer table (section "## Layers", rows ``| N | `name/`, ... |``) lists exactly
    ``LAYERS``."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.partition("\n## Layers")[2].partition("\n## ")[0]
    rows: dict[int, set[str]] = {}
    for line in section.splitlines():
        m = re.match(r"\|\s*(\d+)\s*\|([^|]*)\|", line)
        if m:
            rows[int(m.group(1))] = {n.removesuffix("/").removesuffix(".py")
                                     for n in re.findall(r"`([^`]+)`", m.group(2))}
    assert rows == {i: set(names) for i, names in enumerate(LAYERS)}
