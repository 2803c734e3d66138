"""An edit zoo's file: the versioned JSON document, read and written, and the zoos that ship.

The document (``"format": "panda_viz.edit_zoo"``, ``"version": 1``; the format id is in
users' files and never changes)::

    {"format": "panda_viz.edit_zoo", "version": 1, "name": "my-edits", "generator": "dcgan-digiface",
     "description": "…", "fit": {…},
     "edits": {"pale_lips": {"layer": "main.5", "n_parts": 12, "part": 8, "appearance": 3,
                             "alpha": 2.0, "factors": "f.npz", "description": "…"}}}

:func:`read_zoo_file` reads one through :func:`panda_viz.fileio.json_data.read_json_file`
(size, UTF-8, nesting) and checks every field, naming the file, the edit and the key;
:func:`write_zoo_file` writes one atomically. :class:`panda_viz.formats.edit_zoo.EditZoo`
is built from what :func:`read_zoo_file` returns.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ..exceptions import FileLimitError, InvalidFileError, InvalidInputError
from ..fileio.atomic import atomic_path
from ..fileio.json_data import json_text, read_json_file
from .named_edit import EDIT_NAME, TEXT_LIMIT, NamedEdit

__all__ = [
    "FORMAT",
    "VERSION",
    "MAX_ZOO_BYTES",
    "MAX_EDITS",
    "ZooContents",
    "available_edit_zoos",
    "shipped_zoo_path",
    "zoo_document",
    "zoo_text",
    "read_zoo_file",
    "write_zoo_file",
]

#: The format id in every zoo file (users' files carry it: it stays as it is).
FORMAT = "panda_viz.edit_zoo"
VERSION = 1
#: A zoo JSON larger than this is refused unread (the shipped ones are a few kB).
MAX_ZOO_BYTES = 4 << 20
#: Edits in one zoo at most.
MAX_EDITS = 10_000

_ZOO_KEYS = {"format", "version", "name", "generator", "description", "fit", "edits"}
_EDIT_KEYS = {"layer", "n_parts", "part", "appearance", "alpha", "factors"}


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
    out: dict[str, Any] = {"format": FORMAT, "version": VERSION, "name": contents.name}
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


def _contents(data: Any, source: str, path: Path) -> ZooContents:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InvalidFileError(f"{source} is not an edit zoo (expected a JSON object with \"format\": {FORMAT!r})", path)
    if data.get("version") != VERSION:
        raise _fail(source, f"edit zoo version {data.get('version')!r} is not supported (expected {VERSION})", path)
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
            raise _fail(source, f"\"{key}\" must be {expected}; got {type(data[key]).__name__} {str(data[key])[:80]!r}",
                        path)
    entries = data.get("edits")
    if not isinstance(entries, dict):
        raise _fail(source, f"\"edits\" must map names to edits; got {type(entries).__name__}", path)
    if len(entries) > MAX_EDITS:
        raise _fail(source, f"{len(entries):,} edits; a zoo holds at most {MAX_EDITS:,}", path, FileLimitError)
    return ZooContents(
        str(data.get("name", source)),
        [_edit(name, entry, source, path) for name, entry in entries.items()],
        generator_name=data.get("generator"),
        description=data.get("description", ""),
        fit=data.get("fit"),
    )


def _edit(name: str, entry: Any, source: str, path: Path) -> NamedEdit:
    if not isinstance(entry, dict):
        raise _fail(source, f"edit {name!r} must be an object; got {type(entry).__name__}", path)
    missing = _EDIT_KEYS - set(entry)
    unknown = set(entry) - _EDIT_KEYS - {"description"}
    if missing or unknown:
        raise _fail(source, f"edit {name!r} is missing {sorted(missing)} / has unknown keys {sorted(unknown)}", path)
    try:
        return NamedEdit(name, **entry)
    except (ValueError, TypeError) as error:
        message = str(error)
        where = f"edit {name!r}"
        raise _fail(source, message if message.startswith(where) else f"{where}: {message}", path) from None
