"""JSON read as data: one reader for every JSON panda_viz reads (edit zoos, generator
configurations, the metadata inside saved archives).

- :func:`read_json_file`: a file's size is checked before it is read (and at most that
  many bytes are read, should it grow); it must be UTF-8 (a UTF-8 byte-order mark is
  allowed; UTF-16/32 text is named as such), then parsed as :func:`parse_json` does.
- :func:`parse_json`: text parsed by :func:`json.loads`; nesting past what the parser
  can follow is a :class:`~panda_viz.exceptions.FileLimitError`, anything else it refuses
  (bad syntax, integers of thousands of digits) an :class:`~panda_viz.exceptions.InvalidFileError`.
- :func:`json_text`: the writing side: a value as JSON text, or an error naming the first
  place in it that JSON cannot hold (``fit['x']``), raised before anything is written.

Every message starts with the caller's ``where`` (``"edit zoo 'z.json'"``).
"""

from __future__ import annotations

import codecs
import json
import math
import stat
from pathlib import Path
from typing import Any

from ..exceptions import (
    FileLimitError,
    InvalidFileError,
    InvalidInputError,
    InvalidTypeError,
    NonFiniteError,
)

__all__ = ["read_json_file", "parse_json", "decode_utf8", "json_text", "MAX_WRITE_DEPTH"]

#: Nesting a written JSON value may have at most (the readers follow far deeper; a value
#: deeper than this is a mistake, and json.dumps would exhaust the recursion limit).
MAX_WRITE_DEPTH = 100

_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


def parse_json(text: str, *, where: str, what: str, path: str | Path | None = None) -> Any:
    """``text`` parsed as JSON into plain data (dicts, lists, str, int, float, bool, None).

    Parameters
    ----------
    text : str
    where : str
        How messages name the text (``"config file 'G.json'"``, ``"….npz: its metadata"``).
    what : str
        What the text should be, for messages (``"a generator configuration"``).
    path : str or Path, optional
        The file, for the error's ``path``.

    Raises
    ------
    FileLimitError
        Nested too deeply for the parser (it would exhaust the interpreter's recursion limit).
    InvalidFileError
        Not valid JSON, or a value the parser refuses (e.g. an integer of over 4300 digits).
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidFileError(f"{where} is not valid JSON: {error}", path) from None
    except RecursionError:
        raise FileLimitError(f"{where} nests too deeply to be {what} (the JSON parser gave up: RecursionError)",
                             path) from None
    except ValueError as error:  # e.g. the int-digits limit on 5000-digit numbers
        raise InvalidFileError(f"{where} is not readable JSON (ValueError: {str(error)[:200]})", path) from None


def decode_utf8(raw: bytes, *, where: str, what: str, path: str | Path | None = None) -> str:
    """``raw`` decoded as UTF-8 (a leading byte-order mark dropped); UTF-16/32 text is named.

    Raises
    ------
    InvalidFileError
        UTF-16 or UTF-32 text (a byte-order mark or NUL bytes), or bytes that are not UTF-8.
    """
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            raise InvalidFileError(f"{where} is not UTF-8 text: it is {encoding} text (a byte-order mark); "
                                   "save it as UTF-8", path)
    if len(raw) >= 2 and (raw[0] == 0 or raw[1] == 0):
        raise InvalidFileError(f"{where} is not UTF-8 text: it looks like UTF-16/32 text (NUL bytes); save it as UTF-8",
                               path)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InvalidFileError(
            f"{where} is not UTF-8 text (byte {raw[error.start]:#04x} at offset {error.start}); {what} is a UTF-8 "
            "JSON file", path) from None


def read_json_file(path: str | Path, *, where: str, what: str, max_bytes: int) -> Any:
    """A JSON file read as data: its size checked before it is read, UTF-8, nesting bounded.

    Parameters
    ----------
    path : str or Path
    where : str
        How messages name the file (e.g. ``"config file 'G.json'"``).
    what : str
        What the file should be, for messages (e.g. ``"a generator configuration"``).
    max_bytes : int
        Larger files are refused unread.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist (the operating system's error).
    FileLimitError
        Larger than ``max_bytes``, or nested too deeply to parse.
    InvalidFileError
        Not a regular file, not UTF-8, or not JSON.
    """
    path = Path(path)
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):  # a FIFO would block, a device never end
        raise InvalidFileError(f"{where} is not a regular file", path)
    if info.st_size > max_bytes:
        raise FileLimitError(f"{where} is {info.st_size:,} bytes; {what} is at most {max_bytes:,} bytes (not read)", path)
    with open(path, "rb") as f:
        raw = f.read(max_bytes + 1)
    if len(raw) > max_bytes:  # it grew while we looked
        raise FileLimitError(f"{where} holds more than {max_bytes:,} bytes; {what} is at most that (not read)", path)
    return parse_json(decode_utf8(raw, where=where, what=what, path=path), where=where, what=what, path=path)


def _first_problem(value: Any, root: str) -> tuple[type[Exception], str] | None:
    """Where ``value`` holds something JSON cannot (breadth first, no recursion): (error class, message)."""
    queue = [(value, root, 0)]
    while queue:
        item, place, depth = queue.pop()
        if depth > MAX_WRITE_DEPTH:
            return InvalidInputError, f"{root} nests deeper than {MAX_WRITE_DEPTH} levels"
        if item is None or isinstance(item, (bool, str)):
            continue
        if isinstance(item, (int, float)):
            if isinstance(item, float) and not math.isfinite(item):
                return NonFiniteError, f"{place} is {item} (JSON holds finite numbers only)"
            continue
        if isinstance(item, (list, tuple)):
            queue.extend((v, f"{place}[{i}]", depth + 1) for i, v in enumerate(item))
        elif isinstance(item, dict):
            for key, v in item.items():
                if not isinstance(key, str):
                    return InvalidTypeError, f"{place} has the key {key!r} ({type(key).__name__}); JSON keys are strings"
                queue.append((v, f"{place}[{key!r}]", depth + 1))
        else:
            return InvalidTypeError, (f"{place} is a {type(item).__module__}.{type(item).__qualname__}; JSON holds None, "
                                      "bools, numbers, strings, lists and dicts with string keys")
    return None


def json_text(value: Any, *, where: str, root: str = "the value", indent: int | None = 2) -> str:
    """``value`` as JSON text (UTF-8 safe, one trailing newline), checked before it is written.

    Parameters
    ----------
    value : object
        Plain data: None, bool, int, finite float, str, lists/tuples, dicts with str keys.
    where : str
        How messages name what is being saved (``"EditZoo.save('z.json')"``).
    root : str
        How messages name ``value`` itself (``"fit"``), so a place reads ``fit['x'][0]``.
    indent : int or None

    Raises
    ------
    InvalidTypeError
        A value JSON cannot hold (an object, a set, bytes, a non-string key), named by its place.
    NonFiniteError
        A NaN or infinite float (JSON has none; ``json.dumps`` would write a non-standard ``NaN``).
    InvalidInputError
        Nested deeper than :data:`MAX_WRITE_DEPTH`.
    """
    problem = _first_problem(value, root)
    if problem is not None:
        error, message = problem
        raise error(f"{where}: {message}; nothing was written")
    try:
        return json.dumps(value, indent=indent, ensure_ascii=False, allow_nan=False) + "\n"
    except ValueError as error:  # an integer past the int-to-text digits limit
        raise InvalidInputError(f"{where}: {root} cannot be written as JSON ({str(error)[:200]}); nothing was written") from None
