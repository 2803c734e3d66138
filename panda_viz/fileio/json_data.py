"""JSON read as data: one reader for every JSON panda_viz reads (edit zoos, generator
configurations, the metadata inside saved archives).

- :func:`read_json_file`: a file's size is checked before it is read (and at most that
  many bytes are read, should it grow); it must be UTF-8 (a UTF-8 byte-order mark is
  allowed; UTF-16/32 text is named as such), then parsed as :func:`parse_json` does.
- :func:`parse_json`: text parsed by :func:`json.loads`; nesting past what the parser
  can follow is a :class:`~panda_viz.exceptions.FileLimitError`, anything else it refuses
  (bad syntax, integers of thousands of digits) an :class:`~panda_viz.exceptions.InvalidFileError`.

Every message starts with the caller's ``where`` (``"edit zoo 'z.json'"``).
"""

from __future__ import annotations

import codecs
import json
import stat
from pathlib import Path
from typing import Any

from ..exceptions import FileLimitError, InvalidFileError

__all__ = ["read_json_file", "parse_json", "decode_utf8"]

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
