"""The house rules of panda_viz: the import graph (no module reaches into another's private
names or another package's private modules, no cycles, no import up the layers) and the rules
every module keeps (only the foundations at the top, errors from panda_viz.exceptions, argument
checks through panda_viz._checks, modules and functions of a readable size).

An AST scan of every module under ``panda_viz/`` (nothing is imported or executed). Both
module-level and function-level ``from … import`` statements count: a deferred import
still ties two modules together.
"""

from __future__ import annotations

import ast
import builtins
import re
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
    {"exceptions", "_checks", "_version", "runtime", "fileio", "imaging"},  # foundations: no model, no factors
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


# ----------------------------------------------------------------------------- house rules
#: The only modules directly in panda_viz/: the public names, the version, the error
#: hierarchy and the one validation module. Everything else lives in a folder that says what it is.
TOP_LEVEL = {"panda_viz", "panda_viz._version", "panda_viz._checks", "panda_viz.exceptions"}

MAX_MODULE_LINES = 500
MAX_FUNCTION_CODE_LINES = 100

#: Built-in exceptions the package may still raise: control flow, and the PEP 562 protocol
#: (a module-level ``__getattr__`` must raise AttributeError).
_BUILTIN_EXCEPTIONS = {
    name for name in dir(builtins) if isinstance(getattr(builtins, name), type) and issubclass(getattr(builtins, name), BaseException)
}
_ALLOWED_BUILTIN_RAISES = {"StopIteration", "KeyboardInterrupt", "SystemExit", "GeneratorExit"}

#: Argument checks written inline instead of through panda_viz._checks.
_INLINE_CHECKS = [
    re.compile(r"isinstance\([^()]*,\s*bool\)\s*or\s*not\s*isinstance"),
    re.compile(r"not\s+isinstance\([^()]*,\s*(int|numbers\.Integral|\(int[^)]*\))\)\s*or\s*isinstance\([^()]*,\s*bool\)"),
    re.compile(r"isinstance\([^()]*,\s*\(?\s*(int|numbers\.Integral)[^)]*\)?\)\s*and\s*not\s*isinstance\([^()]*,\s*bool\)"),
]
#: Names only panda_viz._checks may define: one rule for integers, numbers, choices, random states.
_CHECK_NAMES = {"is_int", "_is_int", "check_int", "_check_int", "check_float", "_check_float", "check_choice",
                "_check_choice", "_rng", "as_rng", "check_random_state"}


def _bare_raises(source: str) -> list[str]:
    """``raise ValueError(...)``-style statements (line: name) in a module's source."""
    found = []
    tree = ast.parse(source)
    allowed_nodes = set()
    for node in tree.body:  # PEP 562: module __getattr__ raises AttributeError
        if isinstance(node, ast.FunctionDef) and node.name == "__getattr__":
            allowed_nodes |= {id(n) for n in ast.walk(node)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and node.exc is not None and id(node) not in allowed_nodes:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            name = exc.id if isinstance(exc, ast.Name) else exc.attr if isinstance(exc, ast.Attribute) and \
                isinstance(exc.value, ast.Name) and exc.value.id == "builtins" else None
            if name in _BUILTIN_EXCEPTIONS and name not in _ALLOWED_BUILTIN_RAISES:
                found.append(f"{node.lineno}: {name}")
    return found


def _inline_checks(source: str) -> list[str]:
    """Lines that check an argument inline, and definitions of the check names _checks owns."""
    found = [f"{i}: {line.strip()}" for i, line in enumerate(source.splitlines(), 1)
             if any(p.search(line) for p in _INLINE_CHECKS)]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in _CHECK_NAMES:
            found.append(f"{node.lineno}: def {node.name}")
    return found


def _long_functions(source: str, limit: int) -> list[str]:
    """Functions with more than ``limit`` lines of code (blank lines, comments and the docstring not counted)."""
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            code = [line for line in lines[node.lineno - 1:node.end_lineno] if line.strip() and not line.strip().startswith("#")]
            doc = ast.get_docstring(node, clean=False)
            n = len(code) - (len(doc.splitlines()) if doc else 0)
            if n > limit:
                found.append(f"{node.lineno}: {node.name} ({n} lines of code)")
    return found


def _per_module(check) -> list[str]:
    return [f"{module}:{line}" for module, path in MODULES.items() for line in check(path.read_text(encoding="utf-8"))]


def test_only_the_foundations_sit_at_the_top():
    top = {m for m, path in MODULES.items() if path.parent == ROOT}
    assert top == TOP_LEVEL, f"modules directly in panda_viz/ besides {sorted(TOP_LEVEL)}: {sorted(top - TOP_LEVEL)}"


def test_no_bare_builtin_raises():
    found = _per_module(_bare_raises)
    assert found == [], "raise a panda_viz.exceptions class instead of a bare built-in:\n" + "\n".join(found)


def test_argument_checks_go_through_the_one_validation_module():
    found = [line for line in _per_module(_inline_checks) if not line.startswith("panda_viz._checks:")]
    assert found == [], "check arguments with panda_viz._checks:\n" + "\n".join(found)


def test_no_module_or_function_is_too_long():
    long_modules = [f"{m}: {n} lines" for m, path in MODULES.items()
                    if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES]
    long_functions = _per_module(lambda source: _long_functions(source, MAX_FUNCTION_CODE_LINES))
    assert long_modules == [] and long_functions == [], "\n".join(long_modules + long_functions)


def test_house_rule_finders():
    assert _bare_raises("def f(x):\n    raise ValueError('no')\n") == ["2: ValueError"]
    assert _bare_raises("import builtins\nraise builtins.TypeError\n") == ["2: TypeError"]
    assert _bare_raises("def __getattr__(name):\n    raise AttributeError(name)\n") == []
    assert _bare_raises("from .exceptions import InvalidInputError\nraise InvalidInputError('x')\n") == []
    assert _inline_checks("ok = isinstance(n, bool) or not isinstance(n, int)\n") == ["1: ok = isinstance(n, bool) or not isinstance(n, int)"]
    assert _inline_checks("def _rng(seed):\n    pass\n") == ["1: def _rng"]
    assert _inline_checks("from .._checks import check_int\ncheck_int('n', n, low=1)\n") == []
    body = "\n".join(f"    x{i} = {i}" for i in range(100))  # with the def line: 101 lines of code
    assert _long_functions(f'def f():\n    """Doc."""\n{body}\n', 100) == ["1: f (101 lines of code)"]
    assert _long_functions(f"def f():\n{body}\n", 101) == []
