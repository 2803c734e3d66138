"""The test data ship in ``tests/data/``, stay light, load without running code, and no test
reads anything outside the checkout (a clone passes its own tests with nothing beside it)."""

from __future__ import annotations

import ast
import json
from pathlib import Path, PurePosixPath

import pytest
import torch
from testdata import TESTDATA, data_folder

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
BUDGET_BYTES = 12_000_000  # all of tests/data/ (tests/data/README.md says why and what was trimmed)
#: tests/data/make_testdata.py rebuilds tests/data from ../shared on a maintainer's machine:
#: it is the one file under tests/ that reads outside the checkout, by design, and no test runs it.
MAINTAINER_TOOLS = {TESTS / "data" / "make_testdata.py"}
#: the folder beside the checkout that tests used to read (built at run time, so this file's
#: own strings do not name it and the scan below covers this file too)
OUTSIDE_FOLDER = "".join(["test", "vectors"])
FOLDERS = ["stylegan2", "stylegan3-t", "stylegan3-r", "genforce-pggan", "genforce-stylegan", "genforce-stylegan2"]


# --------------------------------------------------------------------------- the data
def test_test_data_fit_the_budget():
    files = [p for p in TESTDATA.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    total = sum(p.stat().st_size for p in files)
    assert 0 < total <= BUDGET_BYTES, f"tests/data holds {total / 1e6:.2f} MB; the budget is {BUDGET_BYTES / 1e6:.0f} MB"


@pytest.mark.parametrize("name", FOLDERS)
def test_each_folder_has_config_weights_and_vectors_readable_without_code(name):
    folder = data_folder(name)
    config = json.loads((folder / "config.json").read_text())
    weights = folder / ("checkpoint.pth" if name.startswith("genforce") else "G_ema_state_dict.pt")
    state = torch.load(weights, weights_only=True)
    dicts = list(state.values()) if name.startswith("genforce") else [state]
    assert dicts and all(isinstance(d, dict) and d and all(torch.is_tensor(t) for t in d.values()) for d in dicts)
    vectors = torch.load(folder / "vectors.pt", weights_only=True)
    assert all(torch.is_tensor(t) for t in vectors.values())
    assert vectors["z"].shape[0] == 2 and vectors["img_psi1"].shape == (2, 3, 32, 32)
    features = {k.split("/", 1)[1]: t for k, t in vectors.items() if k.startswith("features_psi1/")}
    assert features and set(features) <= set(config["hooked_layers"])
    assert all(t.shape[0] == 1 for t in features.values())  # trimmed to the first sample
    assert f"`{name}/`" in (TESTDATA / "README.md").read_text()  # its provenance is written down


def test_missing_data_folder_is_an_error_not_a_skip():
    with pytest.raises(FileNotFoundError, match=r"no test data folder 'stylegan4'.*there are: .*genforce-pggan"):
        data_folder("stylegan4")


# --------------------------------------------------------------------------- nothing from outside the checkout
class _Outside(Exception):
    """A path expression that leaves the checkout."""


def _climb(parts: tuple[str, ...] | None, levels: int) -> tuple[str, ...] | None:
    if parts is None:
        return None
    if levels > len(parts):
        raise _Outside(f"climbs {levels - len(parts)} folder(s) above the checkout")
    return parts[: len(parts) - levels]


def _join(parts: tuple[str, ...] | None, pieces: list[ast.expr]) -> tuple[str, ...] | None:
    for piece in pieces:
        if parts is None:
            return None
        if not (isinstance(piece, ast.Constant) and isinstance(piece.value, str)):
            return None  # a computed name: stays anchored only where we can see it
        if piece.value.startswith(("/", "~")):
            return None
        for component in piece.value.replace("\\", "/").split("/"):
            if component == "..":
                parts = _climb(parts, 1)
            elif component not in ("", "."):
                parts = (*parts, component)
    return parts


def _call_name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return f"{_call_name(func.value)}.{func.attr}"
    return ""


def _anchored(node: ast.expr, env: dict[str, tuple[str, ...] | None], file: tuple[str, ...]) -> tuple[str, ...] | None:
    """Where ``node`` points, as parts relative to the checkout root, when it is built from
    ``__file__`` (directly or through names bound to such paths); None when it is not."""
    if isinstance(node, ast.Name):
        return file if node.id == "__file__" else env.get(node.id)
    if isinstance(node, ast.Attribute) and node.attr == "parent":
        return _climb(_anchored(node.value, env, file), 1)
    if (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) and node.value.attr == "parents"):
        base = _anchored(node.value.value, env, file)
        index = node.slice
        if base is None:
            return None
        if not (isinstance(index, ast.Constant) and isinstance(index.value, int) and index.value >= 0):
            raise _Outside("indexes .parents with something other than a small non-negative constant")
        return _climb(base, index.value + 1)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        return _join(_anchored(node.left, env, file), [node.right])
    if isinstance(node, ast.Call):
        name = _call_name(node.func)
        if isinstance(node.func, ast.Attribute) and node.func.attr in ("resolve", "absolute", "expanduser"):
            return _anchored(node.func.value, env, file)
        if isinstance(node.func, ast.Attribute) and node.func.attr == "joinpath":
            return _join(_anchored(node.func.value, env, file), list(node.args))
        if not node.args:
            return None
        if name.split(".")[-1] in ("Path", "PurePath", "PosixPath", "PurePosixPath") or name in (
                "os.path.abspath", "os.path.realpath", "os.path.normpath", "os.fspath", "str"):
            return _join(_anchored(node.args[0], env, file), list(node.args[1:]))
        if name == "os.path.join":
            return _join(_anchored(node.args[0], env, file), list(node.args[1:]))
        if name == "os.path.dirname":
            return _climb(_anchored(node.args[0], env, file), 1)
    return None


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def _path_pieces(node: ast.AST) -> list[ast.expr]:
    """String pieces that a path is built from: operands of ``/`` and arguments of path calls."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        return [node.left, node.right]
    if isinstance(node, ast.Call):
        name = _call_name(node.func)
        if name.split(".")[-1] in ("Path", "PurePath", "PosixPath", "joinpath", "open") or name == "os.path.join":
            return list(node.args)
    return []


def outside_references(source: str, path: PurePosixPath) -> list[str]:
    """Places in a test file (``path`` relative to the checkout root) that point outside the checkout.

    Finds: paths built from ``__file__`` (``.parents[N]``, ``.parent`` chains,
    ``os.path.dirname``, ``/ ".."``, also through names bound to such paths) that climb
    above the checkout root; path pieces named ``shared``; any string (docstrings aside)
    naming :data:`OUTSIDE_FOLDER`, the folder beside the checkout that tests used to read.
    """
    tree = ast.parse(source)
    file = tuple(path.parts)
    env: dict[str, tuple[str, ...] | None] = {}
    found: dict[tuple[int, str], None] = {}

    reported: set[int] = set()  # nodes inside a reported expression: one report per way out

    def check(node: ast.expr) -> tuple[str, ...] | None:
        if id(node) in reported:
            return None
        try:
            return _anchored(node, env, file)
        except _Outside as why:
            found[(node.lineno, f"{ast.unparse(node)}: {why}")] = None
            reported.update(id(n) for n in ast.walk(node))
            return None

    assignments = sorted((n for n in ast.walk(tree) if isinstance(n, (ast.Assign, ast.AnnAssign)) and n.value),
                         key=lambda n: n.lineno)
    for node in assignments:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        value = check(node.value)
        for target in targets:
            if isinstance(target, ast.Name):
                env[target.id] = value
    docstrings = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Attribute, ast.Subscript, ast.BinOp, ast.Call)):
            check(node)
        for piece in _path_pieces(node):
            if isinstance(piece, ast.Constant) and isinstance(piece.value, str):
                if "shared" in piece.value.replace("\\", "/").split("/"):
                    found[(piece.lineno, f"path piece {piece.value!r} names the folder beside the checkout")] = None
        if (isinstance(node, ast.Constant) and isinstance(node.value, str) and OUTSIDE_FOLDER in node.value
                and id(node) not in docstrings):
            found[(node.lineno, f"string {node.value!r} names ../shared/{OUTSIDE_FOLDER}")] = None
    return [f"{path}:{line}: {what}" for line, what in sorted(found)]


def test_no_test_reads_outside_the_checkout():
    files = sorted(p for p in TESTS.rglob("*.py") if p not in MAINTAINER_TOOLS and "__pycache__" not in p.parts)
    assert len(files) > 20  # the scan sees the suite
    problems = [hit for p in files for hit in outside_references(p.read_text(), PurePosixPath(p.relative_to(ROOT).as_posix()))]
    assert not problems, "tests must read only the checkout (put data in tests/data):\n" + "\n".join(problems)


@pytest.mark.parametrize(
    ("where", "source"),
    [
        ("tests/generators/t.py", 'V = Path(__file__).resolve().parents[3] / "shared" / "{TV}"'),
        ("tests/t.py", 'V = Path(__file__).resolve().parents[2]'),
        ("tests/t.py", 'ROOT = Path(__file__).resolve().parents[1]\nX = ROOT.parent / "data"'),
        ("tests/t.py", 'ROOT = Path(__file__).parent.parent\nX = ROOT / "data" / ".." / ".." / "other"'),
        ("tests/t.py", 'X = Path(__file__).parent.parent.parent'),
        ("tests/t.py", 'X = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "x")'),
        ("tests/t.py", 'HERE = Path(__file__).parent\nX = HERE.joinpath("../../x")'),
        ("tests/t.py", 'X = Path(__file__).parents[-1]'),
        ("tests/t.py", 'def f():\n    pytest.skip("../shared/{TV} not found")'),
        ("tests/t.py", 'X = Path("/work/shared/anything")'),
        ("tests/t.py", 'def f(root):\n    return root / "shared" / "x.pt"'),
    ],
)
def test_the_scan_catches_each_way_out(where, source):
    source = source.replace("{TV}", OUTSIDE_FOLDER)
    assert outside_references(source, PurePosixPath(where)), source


@pytest.mark.parametrize(
    ("where", "source"),
    [
        ("tests/t.py", 'ROOT = Path(__file__).resolve().parents[1]\nX = ROOT / "figures" / "widgets"'),
        ("tests/browser/t.py", 'REPO = Path(__file__).resolve().parents[2]\nN = REPO / "notebooks" / "explore.ipynb"'),
        ("tests/t.py", 'X = os.path.dirname(os.path.dirname(__file__))'),
        ("tests/t.py", '"""Reads nothing from ../shared/{TV} any more."""'),
        ("tests/t.py", 'def f(tmp_path):\n    return tmp_path / ".." / "sibling"'),  # not the checkout
        ("tests/t.py", 'CELL = \'save_figure(f, "../figures/fig9_b.png")\''),  # text, not a path
        ("tests/t.py", 'CHROMIUM = Path("/usr/bin/chromium")'),
    ],
)
def test_the_scan_lets_paths_inside_the_checkout_pass(where, source):
    source = source.replace("{TV}", OUTSIDE_FOLDER)
    assert outside_references(source, PurePosixPath(where)) == []
