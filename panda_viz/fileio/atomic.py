"""Atomic file writes: a bad input or a crash never leaves a half-written file behind.

A write goes to a temporary file beside the target, then is renamed onto it. The
temporary is named ``.<target name>.<pid>.<random>.partial<suffix>``: when a writer is
killed (SIGKILL, power loss) its temporary stays, and the next write to the same target
recognises it by that name and removes it once the process that made it is gone.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "temporary_name", "remove_stale_temporaries"]

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
    pattern = re.compile(
        re.escape(f".{path.name}.") + r"(?P<host>[A-Za-z0-9-]+)-(?P<pid>\d+)\.[0-9a-f]{8}\." + PARTIAL + r"(\.[^/]*)?$"
    )
    removed = []
    try:
        candidates = list(path.parent.iterdir())
    except OSError:
        return removed
    host = _host()
    for candidate in candidates:
        match = pattern.match(candidate.name)
        if not match or match["host"] != host or not candidate.is_file() or candidate.is_symlink():
            continue
        pid = int(match["pid"])
        if pid == os.getpid() or _pid_alive(pid):
            continue
        try:
            candidate.unlink()
            removed.append(candidate)
        except OSError:
            pass
    return removed


@contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``.

    Parent folders are created. The temporary file keeps ``path``'s suffix (or ``suffix``),
    so writers that pick a format by suffix (``savefig``, ``np.savez``) behave the same.
    On an exception the temporary file is removed and ``path`` is left as it was.
    Temporaries of ``path`` left by killed writers are removed first
    (:func:`remove_stale_temporaries`).

    Examples
    --------
    >>> with atomic_path("figures/demo/parts.png") as tmp:
    ...     fig.savefig(tmp)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    tmp_path = path.parent / temporary_name(path, path.suffix if suffix is None else suffix)
    # O_EXCL: never write through a file or link someone placed at that name
    fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    try:
        yield tmp_path
        # a plain open() would give the mode the umask allows, not mkstemp's private 0600
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()

