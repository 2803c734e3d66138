"""Griffe extension: the docstrings' Sphinx cross-reference roles become links on the API page.

The docstrings name other objects the Sphinx way (``:func:`~panda_viz.formats.factors.save_factors```,
``:class:`Generator```, ``:meth:`.features```); mkdocstrings renders Markdown, where a role is
literal text. Once griffe has loaded a package, this extension rewrites each role into an
*optional* mkdocs-autorefs reference to the object's full path, found with Sphinx's rules
(``~`` shows the last name only, ``!`` links nothing, ``title <target>`` sets the text, a
leading ``.`` matches the nearest object whose path ends so, a bare name is looked up in the
docstring's own scope). autorefs makes it a link where the site documents the object and
leaves the name as code where it does not (a private helper, another library), so strict
mode does not fail on those; a role naming an object of the package that does not exist is
a griffe warning, which strict mode does fail on.

Loaded by mkdocstrings-python (``extensions:`` in mkdocs.yml).
"""

from __future__ import annotations

import ast
import builtins
import html
import re
from typing import Any

from griffe import (
    AliasResolutionError,
    CyclicAliasError,
    Extension,
    NameResolutionError,
    Object,
    logger,
)

# the Python-domain roles the docstrings use (exc/obj/const for completeness)
ROLE = re.compile(r":(?:py:)?(?P<role>func|class|meth|mod|data|attr|exc|obj|const):`(?P<body>[^`]+)`")
EXPLICIT = re.compile(r"^(?P<title>.+?)\s*<(?P<target>[^<>]+)>$")
# a package's lazily re-exported names (PEP 562 __getattr__): name -> defining module
LAZY_TABLE = "_LAZY"

_LOOKUP_ERRORS = (KeyError, ValueError, AliasResolutionError, CyclicAliasError)


class SphinxRoles(Extension):
    """Rewrite ``:role:`target``` in every docstring of a loaded package into autorefs markup."""

    def on_package(self, *, pkg: Object, loader: Any, **kwargs: Any) -> None:
        collection = loader.modules_collection
        objects = list(_walk(pkg))
        paths = [obj.path for obj in objects]
        lazy = _lazy_table(pkg)
        for obj in objects:
            docstring = obj.docstring
            if docstring is None or ":`" not in docstring.value:
                continue

            def replace(match: re.Match, obj: Object = obj, lineno: int | None = docstring.lineno) -> str:
                return _markup(match, obj, pkg, collection, paths, lazy, lineno)

            docstring.value = ROLE.sub(replace, docstring.value)


def _walk(obj: Object):
    """The object and every object defined under it (aliases are documented where they point)."""
    yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from _walk(member)


def _lazy_table(pkg: Object) -> dict[str, str]:
    member = pkg.members.get(LAZY_TABLE)
    if member is None or member.is_alias or member.value is None:
        return {}
    try:
        table = ast.literal_eval(str(member.value))
    except (ValueError, SyntaxError):
        return {}
    return {f"{pkg.path}.{name}": f"{module}.{name}" for name, module in table.items()} if isinstance(table, dict) else {}


def _get(collection, path: str) -> Object | None:
    try:
        return collection[path]
    except _LOOKUP_ERRORS:
        return None


def _canonical(collection, path: str, lazy: dict[str, str], role: str = "obj") -> str | None:
    """The path of the object ``path`` names, through imports and lazy re-exports; None if none."""
    for prefix, target in lazy.items():
        if path == prefix or path.startswith(prefix + "."):
            path = target + path[len(prefix):]
            break
    found = _get(collection, path)
    if found is None:
        return None
    # ``from .sefa import sefa`` in a package: at run time the name is the function, while
    # griffe's member of that name is the submodule; a non-:mod: role means the function
    if role != "mod" and found.is_module and (inner := _get(collection, f"{path}.{found.name}")) is not None \
            and not inner.is_module:
        found, path = inner, f"{path}.{found.name}"
    try:
        return found.canonical_path
    except _LOOKUP_ERRORS:
        return path


def _nearest(suffix: str, paths: list[str], scope: str) -> str | None:
    """The path ending in ``suffix`` (".name" or ".a.b") that shares the longest prefix with ``scope``."""
    matches = [p for p in paths if p.endswith(suffix)]
    if not matches:
        return None

    def shared(path: str) -> int:
        n = 0
        for a, b in zip(path.split("."), scope.split(".")):
            if a != b:
                break
            n += 1
        return n

    return max(matches, key=lambda p: (shared(p), -len(p)))


def _resolve(role: str, target: str, obj: Object, collection, paths: list[str], lazy: dict[str, str]) -> str | None:
    if target.startswith("."):
        found = _nearest(target, paths, obj.path)
        return _canonical(collection, found, lazy, role) if found else None
    if (found := _canonical(collection, target, lazy, role)) is not None:
        return found
    head, _, rest = target.partition(".")
    try:
        scoped = obj.resolve(head)
    except NameResolutionError:
        scoped = None
    if scoped is not None and (found := _canonical(collection, f"{scoped}.{rest}" if rest else scoped, lazy, role)):
        return found
    # a bare name the docstring's module does not import (a type named in prose): the nearest
    # object of the package with that name
    found = _nearest(f".{target}", paths, obj.path)
    return _canonical(collection, found, lazy, role) if found else None


def _markup(match: re.Match, obj: Object, pkg: Object, collection, paths: list[str], lazy: dict[str, str],
            lineno: int | None) -> str:
    body = match["body"].strip()
    explicit = EXPLICIT.match(body)
    if explicit:
        title, target = explicit["title"], explicit["target"].strip()
    else:
        title, target = None, body
    no_link = target.startswith("!")
    short = target.startswith("~")
    target = target.lstrip("!~")
    if title is None:
        title = target.rsplit(".", 1)[-1] if short else target.lstrip(".")
    code = f"<code>{html.escape(title)}</code>"
    if no_link:
        return code
    path = _resolve(match["role"], target, obj, collection, paths, lazy)
    if path is None:
        # another library's object (torch.nn.Module, numpy.ndarray): its name, unlinked
        ours = (target.startswith(".") or target.split(".", 1)[0] == pkg.name
                or ("." not in target and not hasattr(builtins, target)))
        if ours:
            where = f"{obj.relative_filepath}:{lineno}" if lineno else obj.path
            logger.warning(f"{where}: {match[0]} names no object of {pkg.name}")
        return code
    return f'<autoref identifier="{html.escape(path)}" optional>{code}</autoref>'
