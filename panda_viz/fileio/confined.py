"""A folder that cannot be turned against its user: every file in it read and written by name,
relative to the folder's own descriptor, never through a symbolic link.

A command that writes many files into a folder someone else can also write to (a shared
output folder, an unpacked archive) must not follow a link planted there: a
``white_lips/00000000.png`` that points at ``/etc/passwd``, or a ``white_lips`` folder that
points elsewhere. :class:`ConfinedFolder` opens the folder once and then names each file
relative to that descriptor (``openat``-style ``dir_fd=``), with ``O_NOFOLLOW``:

- :meth:`~ConfinedFolder.subfolder` refuses a sub-folder that is a link
  (:class:`~panda_viz.exceptions.UnsafePathError`) or a file
  (:class:`~panda_viz.exceptions.FileWriteError`);
- :meth:`~ConfinedFolder.regular_size` and :meth:`~ConfinedFolder.sha256` see only regular
  files with one link (a symlink, a hard link, a FIFO is "not there"), and the hash reads
  at most the size the caller expects, in 1 MiB chunks;
- :meth:`~ConfinedFolder.write` writes a temporary (``O_EXCL | O_NOFOLLOW``) and renames it
  onto the name, which replaces a link rather than writing through it;
- :meth:`~ConfinedFolder.read` reads a small regular file, refusing links and sizes past a limit;
  :meth:`~ConfinedFolder.append_lines` appends to a log, replacing a link planted under its name.

POSIX only (``dir_fd`` and ``O_NOFOLLOW``), like the rest of the commands that use it.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from ..exceptions import (
    FileLimitError,
    FileWriteError,
    InvalidInputError,
    UnsafePathError,
)
from .atomic import is_stale_temporary, temporary_name, write_error

__all__ = ["ConfinedFolder", "CHUNK_BYTES"]

#: Bytes read at a time when hashing a file.
CHUNK_BYTES = 1 << 20

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a FIFO planted under a file's name must not block the open


def _check_name(name: str) -> str:
    """``name`` if it is one plain component: no separator, not ``.``/``..``, no NUL."""
    if not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\0" in name or len(name) > 255:
        raise InvalidInputError(f"a file name inside a confined folder must be one plain component; got {name!r}")
    return name


class ConfinedFolder:
    """A folder opened once; files inside it are reached by name relative to its descriptor.

    Parameters
    ----------
    path : str or Path
        The folder, made (with its parents) if missing. The path you name may itself
        pass through links (it is resolved once); nothing inside the folder may.
    where : str
        How error messages name the folder (``"--out"``).

    Raises
    ------
    InvalidInputError
        An empty path.
    FileWriteError
        A file is where the folder (or one of its parents) should be, or it cannot be made.
    """

    def __init__(self, path: str | os.PathLike, *, where: str, _fd: int | None = None) -> None:
        self.where = where
        if _fd is not None:
            self.path, self.fd = Path(path), _fd
            return
        if not str(path).strip():
            raise InvalidInputError(f"{where}: a folder must be named; got an empty path (the current folder is '.')")
        path = Path(path)
        try:
            path.mkdir(parents=True, exist_ok=True)
            self.path = path.resolve(strict=True)
            self.fd = os.open(self.path, os.O_RDONLY | _DIRECTORY)
        except (FileExistsError, NotADirectoryError) as err:
            blocker = next((p for p in [path, *path.parents] if p.exists() and not p.is_dir()), path)
            raise FileWriteError(f"{where}: cannot use {str(path)!r} as a folder: {str(blocker)!r} is a file", path,
                                 err.errno) from err
        except OSError as err:
            raise write_error(path, err) from err

    # ------------------------------------------------------------------ folders
    def subfolder(self, name: str) -> ConfinedFolder:
        """The sub-folder ``name``, made if missing; a link or a file under that name is refused."""
        name = _check_name(name)
        where = self.path / name
        try:
            os.mkdir(name, 0o777, dir_fd=self.fd)
        except FileExistsError:
            pass
        except OSError as err:
            raise write_error(where, err) from err
        info = os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        if stat.S_ISLNK(info.st_mode):
            target = os.readlink(name, dir_fd=self.fd)
            raise UnsafePathError(
                f"{self.where}: {str(where)!r} is a symbolic link (to {target!r}); files are written only inside the "
                f"folder {str(self.path)!r}, never through a link: remove the link or name another folder", where)
        if not stat.S_ISDIR(info.st_mode):
            raise FileWriteError(f"{self.where}: {str(where)!r} is a file, not a folder; move it away or name another "
                                 "folder", where)
        try:
            fd = os.open(name, os.O_RDONLY | _DIRECTORY | _NOFOLLOW, dir_fd=self.fd)
        except OSError as err:  # swapped for a link between the check and the open
            raise UnsafePathError(f"{self.where}: {str(where)!r} could not be opened as a plain folder ({err.strerror})",
                                  where) from err
        return ConfinedFolder(where, where=self.where, _fd=fd)

    def names(self) -> Iterator[str]:
        """The names in the folder (any kind of entry), streamed: a folder of millions is never listed at once."""
        with os.scandir(self.fd) as entries:
            for entry in entries:
                yield entry.name

    def remove_stale_temporaries(self) -> int:
        """Remove temporaries left here by killed writers on this host (:func:`~panda_viz.fileio.atomic.is_stale_temporary`)."""
        removed = 0
        for name in list(n for n in self.names() if is_stale_temporary(n)):
            if self.regular_size(name, single_link=False) is not None:
                try:
                    os.unlink(name, dir_fd=self.fd)
                    removed += 1
                except OSError:
                    pass
        return removed

    # ------------------------------------------------------------------ reading
    def regular_size(self, name: str, *, single_link: bool = True) -> int | None:
        """The size of the regular file ``name``; None when missing, a link, not a regular file, or hard-linked."""
        try:
            info = os.stat(_check_name(name), dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        if not stat.S_ISREG(info.st_mode) or (single_link and info.st_nlink != 1):
            return None
        return info.st_size

    def _open_regular(self, name: str, size: int | None) -> int | None:
        """A descriptor of the regular file ``name`` (of ``size`` bytes if given); None otherwise."""
        try:
            fd = os.open(_check_name(name), os.O_RDONLY | _NOFOLLOW | _NONBLOCK, dir_fd=self.fd)
        except OSError:  # missing, a link (ELOOP), unreadable
            return None
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1 or (size is not None and info.st_size != size):
            os.close(fd)
            return None
        return fd

    def sha256(self, name: str, size: int) -> str | None:
        """SHA-256 of the regular file ``name`` if it holds exactly ``size`` bytes; None otherwise.

        Reads at most ``size`` bytes, :data:`CHUNK_BYTES` at a time (a 5 GB file is never
        read: its size does not match).
        """
        fd = self._open_regular(name, size)
        if fd is None:
            return None
        digest, left = hashlib.sha256(), size
        try:
            while left > 0:
                chunk = os.read(fd, min(CHUNK_BYTES, left))
                if not chunk:
                    return None  # shrank while read
                digest.update(chunk)
                left -= len(chunk)
            if os.read(fd, 1):
                return None  # grew while read
        finally:
            os.close(fd)
        return digest.hexdigest()

    def _open_bounded(self, name: str, max_bytes: int) -> tuple[int, Path] | None:
        """A descriptor of the regular file ``name`` and its path, checked to hold at most
        ``max_bytes``; ``None`` when there is no such file. Raises as :meth:`read` does."""
        where = self.path / _check_name(name)
        try:
            info = os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        if not stat.S_ISREG(info.st_mode):
            raise UnsafePathError(f"{str(where)!r} is not a regular file (a link or a special file); not read", where)
        if info.st_size > max_bytes:
            raise FileLimitError(f"{str(where)!r} is {info.st_size:,} bytes, more than the {max_bytes:,} allowed; not read",
                                 where)
        fd = self._open_regular(name, None)
        if fd is None:
            raise UnsafePathError(f"{str(where)!r} changed while it was opened; not read", where)
        return fd, where

    def read(self, name: str, max_bytes: int) -> bytes | None:
        """The bytes of the small regular file ``name``; None when there is none.

        Raises
        ------
        UnsafePathError
            ``name`` is a link or not a regular file (nothing is read through it).
        FileLimitError
            It holds more than ``max_bytes`` (nothing is read).
        """
        opened = self._open_bounded(name, max_bytes)
        if opened is None:
            return None
        fd, where = opened
        try:
            with os.fdopen(fd, "rb", closefd=False) as f:
                data = f.read(max_bytes + 1)
        finally:
            os.close(fd)
        if len(data) > max_bytes:
            raise FileLimitError(f"{str(where)!r} grew past {max_bytes:,} bytes while read; not used", where)
        return data

    def iter_lines(self, name: str, *, max_bytes: int, max_line: int) -> Iterator[bytes]:
        """The lines of the regular file ``name`` (without newline), streamed; nothing when there is none.

        Lines longer than ``max_line`` bytes are skipped (read past, never held), and so is a
        last line without its newline (a write cut short). Raises as :meth:`read` does.
        """
        opened = self._open_bounded(name, max_bytes)
        if opened is None:
            return
        fd, _ = opened
        with os.fdopen(fd, "rb") as f:
            total, skipping = 0, False
            while total <= max_bytes:
                line = f.readline(max_line + 1)
                if not line:
                    return
                total += len(line)
                if not line.endswith(b"\n"):
                    skipping = len(line) > max_line  # too long: skip up to its end; else the cut-short last line
                    continue
                if skipping:
                    skipping = False
                    continue
                yield line[:-1]

    # ------------------------------------------------------------------ writing
    def write(self, name: str, data: bytes) -> None:
        """Write ``data`` to ``name`` atomically: a temporary in this folder, renamed onto the name.

        A link or file already at ``name`` is replaced (never written through).

        Raises
        ------
        FileWriteError
            The write failed (a full disk, the file-size limit); no temporary is left and
            what was at ``name`` is unchanged.
        """
        name = _check_name(name)
        tmp = temporary_name(Path(name), Path(name).suffix)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o666, dir_fd=self.fd)
        except OSError as err:
            raise write_error(self.path / name, err) from err
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
            os.replace(tmp, name, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        except OSError as err:
            try:
                os.unlink(tmp, dir_fd=self.fd)
            except OSError:
                pass
            raise write_error(self.path / name, err) from err

    def append_lines(self, name: str, lines: list[str]) -> None:
        """Append ``lines`` (one newline after each) to the regular file ``name``, made if missing.

        One ``write`` in append mode, so appends of several processes do not interleave
        within a call. A link, hard link or special file under that name is removed first
        (the link itself, never its target) and a fresh file made in its place.
        """
        name = _check_name(name)
        data = "".join(line.rstrip("\n") + "\n" for line in lines).encode("utf-8")
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | _NOFOLLOW | _NONBLOCK
        fd = None
        for _ in range(2):
            try:
                fd = os.open(name, flags, 0o666, dir_fd=self.fd)
            except OSError as err:
                if err.errno not in (errno.ELOOP, errno.ENXIO, errno.EISDIR):
                    raise write_error(self.path / name, err) from err
            if fd is not None:
                info = os.fstat(fd)
                if stat.S_ISREG(info.st_mode) and info.st_nlink == 1:
                    break
                os.close(fd)
                fd = None
            self.remove(name)
        if fd is None:
            raise UnsafePathError(f"{str(self.path / name)!r} is not a plain file and could not be replaced; not written",
                                  self.path / name)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        except OSError as err:
            raise write_error(self.path / name, err) from err
        finally:
            os.close(fd)

    def remove(self, name: str) -> None:
        """Remove the file or link ``name`` (a folder under that name is left alone); nothing if missing."""
        try:
            os.unlink(_check_name(name), dir_fd=self.fd)
        except (FileNotFoundError, IsADirectoryError, PermissionError):
            pass

    def close(self) -> None:
        """Close the folder's descriptor (once; later calls do nothing)."""
        if getattr(self, "fd", -1) >= 0:
            os.close(self.fd)
            self.fd = -1

    def __del__(self) -> None:  # a folder opened on a rank whose peers failed is dropped without close()
        try:
            self.close()
        except OSError:
            pass

    def __enter__(self) -> ConfinedFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ConfinedFolder({str(self.path)!r})"
