"""What ``panda-viz render`` has already done: the records of its files, written and read back.

Every image a render writes gets a record — its path inside the output folder, its size
and its SHA-256 — in two places:

- each rank appends the records of every batch it finishes to its **journal**,
  ``OUT/.render-journal.rank<R>.jsonl`` (one JSON object a line), so a run killed halfway
  leaves the records of what it finished;
- rank 0 writes them all to ``OUT/manifest.json`` once every rank is done (one file record
  a line, so it too can be read line by line), and removes the journals.

A later run trusts a file only through a record: it counts as done when it is a regular
file (not a link, not hard-linked) inside its folder, of exactly the recorded size, whose
SHA-256 (read in chunks, never more than that size) is the recorded one. Anything else is
rendered again. The records are read as data, within limits: at most
:data:`MAX_RECORDS_BYTES` in all, a line of at most :data:`MAX_LINE_BYTES`, a size of at most
:data:`MAX_IMAGE_BYTES`, and only the records of the files the run needs are kept.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from ..exceptions import PandaVizError
from ..fileio.confined import ConfinedFolder

__all__ = [
    "Record",
    "MANIFEST",
    "JOURNAL",
    "MAX_RECORDS_BYTES",
    "MAX_LINE_BYTES",
    "MAX_IMAGE_BYTES",
    "journal_name",
    "record_line",
    "manifest_text",
    "read_records",
    "remove_journals",
]

#: The manifest's file name inside the output folder.
MANIFEST = "manifest.json"
#: A rank's journal: ``.render-journal.rank<R>.jsonl``.
JOURNAL = re.compile(r"\.render-journal\.rank(\d{1,5})\.jsonl")
#: Bytes of manifest and journals read at most, all together; a file past what is left is
#: not read (its files are rendered again).
MAX_RECORDS_BYTES = 1 << 30
#: A record line longer than this is skipped.
MAX_LINE_BYTES = 4096
#: A recorded image size past this is not believed (a 1024×1024 PNG is a few MB).
MAX_IMAGE_BYTES = 256 << 20

_SHA256 = re.compile(r"[0-9a-f]{64}")


class Record(NamedTuple):
    """A file a render wrote: its size in bytes and its SHA-256 (hex)."""

    size: int
    sha256: str


def journal_name(rank: int) -> str:
    return f".render-journal.rank{rank}.jsonl"


def record_line(entry: dict[str, Any]) -> str:
    """One record as a line of JSON: ``file``, ``edit``, ``seed``, ``size``, ``sha256``, ``written``."""
    return json.dumps(entry, ensure_ascii=False, separators=(", ", ": "))


def manifest_text(header: dict[str, Any], files: Iterable[dict[str, Any]]) -> str:
    """The manifest: the job's description, then ``"files"`` with one record a line (valid JSON)."""
    head = json.dumps(header, ensure_ascii=False, allow_nan=False)
    lines = [record_line(entry) for entry in files]
    body = ",\n".join(lines)
    return head[:-1] + (', "files": [\n' + body + "\n]}\n" if lines else ', "files": []}\n')


def _parse(line: bytes, wanted: Callable[[str], bool]) -> tuple[str, Record] | None:
    """The record on ``line`` if it is one, for a wanted file, with believable values."""
    line = line.strip().rstrip(b",")
    if not line.startswith(b'{"file"'):
        return None
    try:
        entry = json.loads(line)
    except ValueError:  # json.JSONDecodeError, or a number past the digits limit
        return None
    if not isinstance(entry, dict):
        return None
    name, size, sha = entry.get("file"), entry.get("size"), entry.get("sha256")
    if not isinstance(name, str) or not wanted(name):
        return None
    if type(size) is not int or not 0 < size <= MAX_IMAGE_BYTES or not isinstance(sha, str) or not _SHA256.fullmatch(sha):
        return None
    return name, Record(size, sha)


def read_records(root: ConfinedFolder, wanted: Callable[[str], bool], *, warn: bool = True) -> dict[str, Record]:
    """The records of earlier runs in ``root`` (its manifest, then its journals), for the files ``wanted`` accepts.

    A manifest or journal that is a link, not a regular file, or too large is not read
    (with a ``UserWarning`` when ``warn``): the files it would vouch for are rendered again.
    """
    records: dict[str, Record] = {}
    journals = sorted((n for n in root.names() if JOURNAL.fullmatch(n)), key=lambda n: int(JOURNAL.fullmatch(n)[1]))
    budget = MAX_RECORDS_BYTES  # for all of them together: thousands of planted journals cannot stall a run
    skipped = False
    for name in [MANIFEST, *journals]:
        size = root.regular_size(name, single_link=False) or 0
        if size > budget:  # unread, and said once: a folder of planted journals gives one warning, not thousands
            if warn and not skipped:
                warnings.warn(f"render: {name} in {str(root.path)!r} was not read ({size:,} bytes; the records of a "
                              f"folder are read up to {MAX_RECORDS_BYTES:,} bytes in all); the files it lists are "
                              "rendered again", UserWarning, stacklevel=2)
            skipped = True
            continue
        try:
            for line in root.iter_lines(name, max_bytes=budget, max_line=MAX_LINE_BYTES):
                parsed = _parse(line, wanted)
                if parsed is not None:
                    records[parsed[0]] = parsed[1]
            budget -= size
        except (PandaVizError, OSError) as err:
            if warn:
                warnings.warn(f"render: {name} in {str(root.path)!r} was not used ({err}); the files it lists are "
                              "checked against other records or rendered again", UserWarning, stacklevel=3)
    return records


def remove_journals(root: ConfinedFolder) -> None:
    """Remove every rank's journal (once the manifest holds their records)."""
    for name in [n for n in root.names() if JOURNAL.fullmatch(n)]:
        root.remove(name)
