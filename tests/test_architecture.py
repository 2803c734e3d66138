"""The import graph of panda_viz: no module reaches into another's private names or another
package's private modules, no cycles.

An AST scan of every module under ``panda_viz/`` (nothing is imported or executed). Both
module-level and function-level ``from … import`` statements count: a deferred import
still ties two modules together.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "panda_viz"

# No exemptions: a pair listed here would be allowed a cycle and private imports. Keep it empty.
KNOWN_PAIRS: set[frozenset[str]] = set()


def _modules() -> dict[str, Path]:
    modules = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


MODULES = _modules()


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _target(module: str, node: ast.ImportFrom) -> str | None:
    """The absolute module a ``from … import`` reads from (None outside panda_viz)."""
    if node.level == 0:
        name = node.module or ""
    else:
        base = module.split(".")
        if MODULES[module].name != "__init__.py":
            base = base[:-1]
        base = base[: len(base) - (node.level - 1)]
        name = ".".join(base + ([node.module] if node.module else []))
    return name if name == "panda_viz" or name.startswith("panda_viz.") else None


def _scan() -> tuple[dict[str, set[str]], list[str]]:
    """Edges module → imported module, and the private names imported across modules."""
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    private = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                edges[module].update(a.name for a in node.names if a.name in MODULES)
            elif isinstance(node, ast.ImportFrom) and (target := _target(module, node)) is not None:
                for alias in node.names:
                    submodule = f"{target}.{alias.name}"
                    if submodule in MODULES:  # `from . import hooks`: the module itself
                        edges[module].add(submodule)
                        continue
                    edges[module].add(target)
                    if _is_private(alias.name) and target != module:
                        private.append(f"{module} imports {alias.name} from {target}")
    return edges, private


def _cycles(edges: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan).

    A module importing its own package (``from .. import x`` in a package's ``__init__``
    chain) is how packages re-export: edges from a module to a package containing it are
    left out.
    """
    graph = {m: {t for t in ts if t != m and not m.startswith(t + ".")} for m, ts in edges.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_scan_sees_the_package():
    assert "panda_viz.generators.base" in MODULES and "panda_viz.decomposition.estimator" in MODULES
    edges, _ = _scan()
    assert "panda_viz.generators.base" in edges["panda_viz.generators.genforce.loader"]
    assert "panda_viz.generators.hooks" in edges["panda_viz.generators.base"]


def test_no_module_imports_another_modules_private_names():
    _, private = _scan()
    private = [line for line in private if frozenset(line.split()[::4]) not in KNOWN_PAIRS]
    assert private == [], "private names imported across modules:\n" + "\n".join(private)


def _private_module_imports(edges: dict[str, set[str]]) -> list[str]:
    """Imports of a private module (``pkg._helpers``) from outside its package ``pkg``."""
    found = []
    for module, targets in edges.items():
        for target in sorted(targets):
            package, _, leaf = target.rpartition(".")
            if _is_private(leaf) and not (module == package or module.startswith(package + ".")):
                found.append(f"{module} imports {target}")
    return found


def test_private_modules_are_imported_only_inside_their_package():
    edges, _ = _scan()
    found = _private_module_imports(edges)
    assert found == [], "private modules imported from outside their package:\n" + "\n".join(found)


def test_private_module_rule():
    edges = {"p.io": {"p.d._validation", "p._files"}, "p.d.est": {"p.d._validation"}, "p.d.sub.x": {"p.d._v"}}
    assert _private_module_imports(edges) == ["p.io imports p.d._validation"]


#: The layers of docs/architecture.md, bottom first: a module imports only from its own layer
#: or below. Every top-level module and package of panda_viz is in exactly one.
LAYERS = [
    {"exceptions", "_version", "runtime", "fileio", "imaging"},  # foundations: no model, no factors
    {"generators"},
    {"decomposition"},
    {"editing", "inversion"},
    {"formats"},  # panda_viz's own files: they hold factors, inversions and edits
    {"baselines", "metrics"},
    {"widgets", "paper"},
    {"commands"},  # the panda-viz command and its sub-commands, on top of everything
    {""},  # panda_viz/__init__.py: the public names
]


def _top(module: str) -> str:
    """``panda_viz.generators.base`` → ``generators``; ``panda_viz`` → ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _upward_imports(edges: dict[str, set[str]], layers: list[set[str]]) -> list[str]:
    layer = {name: i for i, names in enumerate(layers) for name in names}
    return [
        f"{module} (layer {layer[_top(module)]}) imports {target} (layer {layer[_top(target)]})"
        for module, targets in edges.items() for target in sorted(targets)
        if layer[_top(target)] > layer[_top(module)]
    ]


def test_every_module_has_a_layer():
    placed = [name for names in LAYERS for name in names]
    assert len(placed) == len(set(placed))
    assert {_top(m) for m in MODULES} == set(placed)


def test_no_module_imports_a_higher_layer():
    edges, _ = _scan()
    found = _upward_imports(edges, LAYERS)
    assert found == [], "imports up the layers:\n" + "\n".join(found)


def test_layer_rule():
    assert _upward_imports({"p.a.x": {"p.b.y"}, "p.b.y": {"p.a.z"}}, [{"a"}, {"b"}]) == ["p.a.x (layer 0) imports p.b.y (layer 1)"]


def test_no_import_cycles_between_modules():
    edges, _ = _scan()
    cycles = [sorted(c) for c in _cycles(edges) if c not in KNOWN_PAIRS]
    assert cycles == [], f"import cycles: {cycles}"


@pytest.mark.parametrize(
    "edges, expected",
    [
        ({"a": {"b"}, "b": {"a"}, "c": {"a"}}, [frozenset({"a", "b"})]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"p.m": {"p"}, "p": {"p.m"}}, []),  # a package re-exporting its module
    ],
)
def test_cycle_finder(edges, expected):
    assert _cycles(edges) == expected


def test_private_name_rule():
    assert _is_private("_fix_signs") and not _is_private("__version__") and not _is_private("fix_signs")
