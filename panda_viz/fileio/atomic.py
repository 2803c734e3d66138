"""Atomic file writes: a bad input or a crash never leaves a half-written file behind.

A write goes to a temporary file beside the target, then is renamed onto it. The
temporary is named ``.<target name>.<pid>.<random>.partial<suffix>``: when a writer is
killed (SIGKILL, power loss) its temporary stays, and the next write to the same target
recognises it by that name and removes it once the process that made it is gone.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..exceptions import FileWriteError, PandaVizError

__all__ = ["atomic_path", "temporary_name", "remove_stale_temporaries", "is_stale_temporary", "write_error"]

#: The marker in every temporary's name (no user file is named like this).
PARTIAL = "partial"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _host() -> str:
    # temporaries on a shared (network) folder: only the host that made one may judge its pid
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:32] or "host"


def temporary_name(path: Path, suffix: str) -> str:
    """The name of a new temporary for ``path``: ``.<name>.<host>-<pid>.<random>.partial<suffix>``."""
    return f".{path.name}.{_host()}-{os.getpid()}.{secrets.token_hex(4)}.{PARTIAL}{suffix}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    except OSError:
        return False
    return True


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove temporaries of ``path`` left by writers on this host that no longer run.

    Only files named as :func:`temporary_name` names them, for this very target, are
    considered; one whose process still runs (a concurrent write) is left alone.

    Returns
    -------
    list of Path
        The temporaries removed.
    """
    path = Path(path)
    removed = []
    try:
        candidates = list(path.parent.iterdir())
    except OSError:
        return removed
    for candidate in candidates:
        if not is_stale_temporary(candidate.name, path.name) or not candidate.is_file() or candidate.is_symlink():
            continue
        try:
            candidate.unlink()
            removed.append(candidate)
        except OSError:
            pass
    return removed


_SUFFIX = r"(?P<host>[A-Za-z0-9-]+)-(?P<pid>\d+)\.[0-9a-f]{8}\." + PARTIAL + r"(\.[^/]*)?"


def is_stale_temporary(name: str, target: str | None = None) -> bool:
    """Whether ``name`` is a temporary (of ``target``, if given) left by a writer on this host that no longer runs."""
    if target is not None:
        match = re.fullmatch(re.escape(f".{target}.") + _SUFFIX, name)
    else:
        match = re.fullmatch(r"\..+\." + _SUFFIX, name)
    if not match or match["host"] != _host():
        return False
    pid = int(match["pid"])
    return pid != os.getpid() and not _pid_alive(pid)


@contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``.

    Parent folders are created. The temporary file keeps ``path``'s suffix (or ``suffix``),
    so writers that pick a format by suffix (``savefig``, ``np.savez``) behave the same.
    On an exception the temporary file is removed and ``path`` is left as it was; an
    ``OSError`` on the way (a parent that is a file, a full disk, the file-size limit) is
    re-raised as :class:`~panda_viz.exceptions.FileWriteError` naming ``path``.
    Temporaries of ``path`` left by killed writers are removed first
    (:func:`remove_stale_temporaries`).

    Examples
    --------
    >>> with atomic_path("figures/demo/parts.png") as tmp:
    ...     fig.savefig(tmp)
    """
    path = Path(path)
    _make_parent(path)
    remove_stale_temporaries(path)
    tmp_path = path.parent / temporary_name(path, path.suffix if suffix is None else suffix)
    try:  # O_EXCL: never write through a file or link someone placed at that name
        os.close(os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as err:
        raise write_error(path, err) from err
    try:
        try:
            yield tmp_path
            # a plain open() would give the mode the umask allows, not mkstemp's private 0600
            os.chmod(tmp_path, 0o666 & ~_umask())
            os.replace(tmp_path, path)
        except PandaVizError:
            raise
        except OSError as err:  # a full disk, a file-size limit (EFBIG), a quota: name the file
            raise write_error(path, err) from err
    finally:
        try:
            tmp_path.unlink(missing_ok=True)
        except OSError:  # the folder went away or became unwritable: nothing more to clean
            pass


def write_error(path: Path, err: OSError) -> FileWriteError:
    """The error for a failed write of ``path`` (``raise write_error(...)``): the file, the reason, the errno."""
    reason = {errno.EFBIG: "the file-size limit of this process (ulimit -f) or of the file system was reached",
              errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exhausted"}.get(err.errno, "")
    detail = err.strerror or str(err)
    why = f"{reason} ({detail})" if reason else detail
    return FileWriteError(f"could not write {str(path)!r}: {why}; nothing was left at that path "
                          "(a file already there is unchanged)", path, err.errno)


def _make_parent(path: Path) -> None:
    """Make ``path``'s folders, or say which part of the path is in the way."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return
    except (FileExistsError, NotADirectoryError) as err:
        blocker = next((p for p in [path.parent, *path.parent.parents] if p.exists() and not p.is_dir()), None)
        where = f"{str(blocker)!r} is a file, not a folder" if blocker is not None else str(err)
        raise FileWriteError(f"cannot write {str(path)!r}: {where}", path, err.errno) from err
    except OSError as err:
        raise write_error(path, err) from err
