"""An edit zoo's file: the versioned JSON document, read and written, and the zoos that ship.

The document (``"format": "panda_viz.edit_zoo"``, ``"version": 1`` or ``2``; the format id
is in users' files and never changes)::

    {"format": "panda_viz.edit_zoo", "version": 2, "name": "my-edits", "generator": "dcgan-digiface",
     "description": "…", "fit": {…},
     "edits": {"pale_lips": {"layer": "main.5", "n_parts": 12, "part": 8, "appearance": 3,
                             "alpha": 2.0, "factors": "f.npz", "description": "…"},
               "pale_mouth": {"layer": "main.5", "n_parts": 12, "factors": "f.npz",
                              "terms": [{"part": 8, "appearance": 3, "alpha": 2.0},
                                        {"part": [1, 2], "appearance": 5, "alpha": -1.5}]}}}

Version 2 adds edits of several terms (``"terms"``, applied together, in place of
``part``/``appearance``/``alpha``). A zoo is written as version 1 when none of its edits has
several terms, so earlier panda_viz releases read it; versions other than 1 and 2 are
refused. Version 1 files written by earlier releases stored a several-term edit ``X`` as
entries ``X.0``, ``X.1``… whose descriptions end "term j of 'X', apply its terms together";
such a group (complete, in order, same layer, parts and factors, no entry ``X``) is read
back as the one edit ``X`` it was saved from. Entries without that mark are never merged.

:func:`read_zoo_file` reads one through :func:`panda_viz.fileio.json_data.read_json_file`
(size, UTF-8, nesting) and checks every field, naming the file, the edit and the key;
:func:`write_zoo_file` writes one atomically. :class:`panda_viz.formats.edit_zoo.EditZoo`
is built from what :func:`read_zoo_file` returns.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .._checks import describe
from ..exceptions import FileLimitError, InvalidFileError, InvalidInputError
from ..fileio.atomic import atomic_path
from ..fileio.json_data import json_text, read_json_file
from .named_edit import EDIT_NAME, MAX_TERMS, TEXT_LIMIT, NamedEdit

__all__ = [
    "FORMAT",
    "VERSION",
    "VERSIONS",
    "MAX_ZOO_BYTES",
    "MAX_EDITS",
    "ZooContents",
    "available_edit_zoos",
    "shipped_zoo_path",
    "zoo_document",
    "zoo_text",
    "read_zoo_file",
    "write_zoo_file",
    "merge_legacy_terms",
]

#: The format id in every zoo file (users' files carry it: it stays as it is).
FORMAT = "panda_viz.edit_zoo"
#: The newest version written and read (2: edits of several terms); 1 is still read and written.
VERSION = 2
VERSIONS = (1, 2)
#: A zoo JSON larger than this is refused unread (the shipped ones are a few kB).
MAX_ZOO_BYTES = 4 << 20
#: Edits in one zoo at most.
MAX_EDITS = 10_000

_ZOO_KEYS = {"format", "version", "name", "generator", "description", "fit", "edits"}
_TERM_KEYS = {"part", "appearance", "alpha"}
_EDIT_KEYS = {"layer", "n_parts", "factors"}
#: What an earlier release's ``add_terms`` wrote at the end of each entry of a several-term edit.
_LEGACY_TERM = re.compile(r"(?:^|; )term (\d+) of '([A-Za-z0-9][A-Za-z0-9_.+-]*)', apply its terms together$")


@dataclass
class ZooContents:
    """What a zoo file holds, checked: the arguments of :class:`~panda_viz.formats.edit_zoo.EditZoo`."""

    name: str
    edits: list[NamedEdit] = field(default_factory=list)
    generator_name: str | None = None
    description: str = ""
    fit: dict | None = None


def _shipped_folder() -> Path:
    return Path(str(resources.files("panda_viz") / "data" / "edit_zoo"))


def available_edit_zoos() -> list[str]:
    """Names of the edit zoos shipped with panda_viz."""
    return sorted(p.stem for p in _shipped_folder().glob("*.json"))


def shipped_zoo_path(name: str) -> Path | None:
    """The file of the shipped zoo ``name``; ``None`` if no zoo ships under that name."""
    if not EDIT_NAME.match(name):
        return None
    path = _shipped_folder() / f"{name}.json"
    return path if path.is_file() else None


def zoo_document(contents: ZooContents) -> dict:
    """The JSON document of a zoo (what :func:`write_zoo_file` writes)."""
    # version 1 while every edit has one term: earlier releases read the file
    version = VERSION if any(len(edit.terms) > 1 for edit in contents.edits) else 1
    out: dict[str, Any] = {"format": FORMAT, "version": version, "name": contents.name}
    if contents.generator_name is not None:
        out["generator"] = contents.generator_name
    if contents.description:
        out["description"] = contents.description
    if contents.fit is not None:
        out["fit"] = contents.fit
    out["edits"] = {edit.name: edit.to_dict() for edit in contents.edits}
    return out


def zoo_text(contents: ZooContents, *, where: str) -> str:
    """The zoo's document as JSON text, checked to read back as the same zoo (nothing is written).

    Raises
    ------
    InvalidTypeError, NonFiniteError
        A value JSON cannot hold (e.g. an object in ``fit``), named by its place.
    InvalidInputError
        A document :func:`read_zoo_file` would refuse (an empty name, a ``fit`` that is not a dict …).
    """
    text = json_text(zoo_document(contents), where=where, root="zoo")
    try:
        _contents(json.loads(text), where, Path(where))
    except InvalidFileError as error:
        raise InvalidInputError(f"{error}: the zoo would not read back; nothing was written") from None
    return text


def write_zoo_file(path: Path, contents: ZooContents | str) -> Path:
    """Write the zoo (its contents, or the text :func:`zoo_text` made of them) to ``path``, atomically."""
    text = contents if isinstance(contents, str) else zoo_text(contents, where=f"edit zoo {str(path)!r}")
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def read_zoo_file(path: Path) -> ZooContents:
    """Read and check a zoo file (at most :data:`MAX_ZOO_BYTES`, UTF-8 JSON, every field).

    Raises
    ------
    FileLimitError
        Larger than :data:`MAX_ZOO_BYTES`, nested too deeply, more than :data:`MAX_EDITS` edits.
    InvalidFileError
        Not UTF-8, not JSON, not an edit zoo, or a field that is not what it must be (the
        message names the file, the edit and the key).
    """
    data = read_json_file(path, where=f"edit zoo {str(path)!r}", what="an edit zoo", max_bytes=MAX_ZOO_BYTES)
    return _contents(data, repr(str(path)), path)


def _fail(source: str, why: str, path: Path, error: type[InvalidFileError] = InvalidFileError) -> InvalidFileError:
    """The error to raise for a zoo file that is not what it must be."""
    return error(f"{source}: {why}", path)


def _got(value: Any) -> str:
    """``int 5``, ``str 'x'``, ``list of 3 items``, ``null``: a JSON value's kind and a short form (text alone quoted)."""
    if value is None:
        return "null"
    if isinstance(value, (str, int, float)):
        return f"{type(value).__name__} {describe(value)}"
    return describe(value).removeprefix("a ")


def _contents(data: Any, source: str, path: Path) -> ZooContents:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InvalidFileError(f"{source} is not an edit zoo (expected a JSON object with \"format\": {json.dumps(FORMAT)})", path)
    version = data.get("version")
    if isinstance(version, bool) or version not in VERSIONS:
        raise _fail(source, f"edit zoo version {describe(version)} is not supported (this panda_viz reads versions "
                            f"{' and '.join(map(str, VERSIONS))}; a newer release may read it)", path)
    unknown = sorted(set(data) - _ZOO_KEYS)
    if unknown:
        raise _fail(source, f"unknown top-level keys {unknown[:5]}; an edit zoo has {sorted(_ZOO_KEYS)}", path)
    for key, ok, expected in (
        ("name", lambda v: isinstance(v, str) and 0 < len(v) <= TEXT_LIMIT, "a non-empty string"),
        ("generator", lambda v: v is None or (isinstance(v, str) and len(v) <= TEXT_LIMIT), "null or a string"),
        ("description", lambda v: isinstance(v, str) and len(v) <= TEXT_LIMIT, f"a string (≤ {TEXT_LIMIT} characters)"),
        ("fit", lambda v: v is None or isinstance(v, dict), "null or an object"),
    ):
        if key in data and not ok(data[key]):
            raise _fail(source, f"\"{key}\" must be {expected}; got {_got(data[key])}", path)
    entries = data.get("edits")
    if not isinstance(entries, dict):
        raise _fail(source, f"\"edits\" must map names to edits; got {type(entries).__name__}", path)
    if len(entries) > MAX_EDITS:
        raise _fail(source, f"{len(entries):,} edits; a zoo holds at most {MAX_EDITS:,}", path, FileLimitError)
    edits = [_edit(name, entry, source, path, version) for name, entry in entries.items()]
    return ZooContents(
        str(data.get("name", source)),
        merge_legacy_terms(edits) if version == 1 else edits,
        generator_name=data.get("generator"),
        description=data.get("description", ""),
        fit=data.get("fit"),
    )


def _edit(name: str, entry: Any, source: str, path: Path, version: int) -> NamedEdit:
    if not isinstance(entry, dict):
        raise _fail(source, f"edit {name!r} must be an object; got {type(entry).__name__}", path)
    several = "terms" in entry and version >= 2
    expected = _EDIT_KEYS | ({"terms"} if several else _TERM_KEYS)
    missing = expected - set(entry)
    unknown = set(entry) - expected - {"description"}
    if missing or unknown:
        why = " (several terms need version 2)" if "terms" in unknown else ""
        raise _fail(source, f"edit {name!r} is missing {sorted(missing)} / has unknown keys {sorted(unknown)}{why}", path)
    fields = dict(entry)
    if several:
        fields["terms"] = _terms(name, entry["terms"], source, path)
    try:
        return NamedEdit(name, **fields)
    except (ValueError, TypeError) as error:
        message = str(error)
        where = f"edit {name!r}"
        raise _fail(source, message if message.startswith(where) else f"{where}: {message}", path) from None


def _terms(name: str, terms: Any, source: str, path: Path) -> list[tuple]:
    """The ``"terms"`` list of edit ``name`` as (part, appearance, alpha) triples; NamedEdit checks the values."""
    if not isinstance(terms, list) or not terms:
        raise _fail(source, f"edit {name!r}: \"terms\" must be a non-empty list of terms; got {_got(terms)}", path)
    if len(terms) > MAX_TERMS:
        raise _fail(source, f"edit {name!r}: {len(terms):,} terms; an edit has at most {MAX_TERMS}", path, FileLimitError)
    out = []
    for j, term in enumerate(terms):
        if not isinstance(term, dict) or set(term) != _TERM_KEYS:
            got = sorted(term) if isinstance(term, dict) else _got(term)
            raise _fail(source, f"edit {name!r}: term {j} must be an object with keys {sorted(_TERM_KEYS)}; got {got}", path)
        out.append((term["part"], term["appearance"], term["alpha"]))
    return out


def merge_legacy_terms(edits: list[NamedEdit]) -> list[NamedEdit]:
    """Version 1's ``X.0``, ``X.1``… entries of one several-term edit, read back as the one edit ``X``.

    A group is merged only when it is what an earlier ``add_terms`` wrote: consecutive
    entries ``X.0`` … ``X.(k-1)``, k >= 2, each description ending "term j of 'X', apply its
    terms together", one layer, number of parts and factor files, and no entry ``X``;
    anything else is kept as it is. The merged description is what the user wrote (the
    text before the mark).
    """
    names = {edit.name for edit in edits}
    out, i = [], 0
    while i < len(edits):
        group = _legacy_group(edits, i, names)
        if group is None:
            out.append(edits[i])
            i += 1
            continue
        first, name = group[0], group[0].name.rsplit(".", 1)[0]
        text = _LEGACY_TERM.sub("", first.description)
        out.append(NamedEdit(name, first.layer, first.n_parts, factors=first.factors, description=text,
                             terms=[t for e in group for t in e.terms]))
        i += len(group)
    return out


def _legacy_group(edits: list[NamedEdit], start: int, names: set[str]) -> list[NamedEdit] | None:
    """The legacy group of several-term entries starting at ``edits[start]``, or None."""
    mark = _LEGACY_TERM.search(edits[start].description)
    if mark is None or mark[1] != "0" or edits[start].name != f"{mark[2]}.0" or mark[2] in names:
        return None
    name, first, group = mark[2], edits[start], []
    for j, edit in enumerate(edits[start:]):
        mark = _LEGACY_TERM.search(edit.description)
        if (edit.name != f"{name}.{j}" or mark is None or mark[1] != str(j) or mark[2] != name
                or (edit.layer, edit.n_parts, edit.factors) != (first.layer, first.n_parts, first.factors)
                or _LEGACY_TERM.sub("", edit.description) != _LEGACY_TERM.sub("", first.description)):
            break
        group.append(edit)
    return group if len(group) >= 2 else None
