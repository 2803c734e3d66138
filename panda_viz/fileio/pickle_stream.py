"""A pickle stream's bytes read as values: bounded reads, the constant opcodes, errors naming the offset.

:class:`PickleStream` is the lower half of the safe pickle reader
(:class:`~panda_viz.fileio.safe_pickle.RestrictedUnpickler` builds on it): every read first
checks that the file holds the bytes a length declares, integers are capped
(:attr:`PickleLimits.max_int_bytes`), text is decoded strictly, and the containers a stream
creates are charged against :attr:`PickleLimits.max_container_bytes`. Its ``op_<name>``
methods run the opcodes that push a constant (integers, floats, text, bytes, ``None``,
``True``, ``False``) and the framing opcodes PROTO and FRAME;
:data:`~panda_viz.fileio.safe_pickle.OPCODES` maps every opcode byte to its method.
"""

from __future__ import annotations

import codecs
import gc
import struct
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from .._checks import describe
from ..exceptions import FileLimitError, InvalidFileError, UnsafePickleError

__all__ = ["PickleLimits", "PickleStream", "gc_paused"]


@dataclass(frozen=True)
class PickleLimits:
    """Caps on what a pickle stream may make the reader allocate or walk.

    Attributes
    ----------
    max_container_bytes : int
        Bytes of the lists, tuples, dicts, sets, marks and handler results created while
        reading, as ``sys.getsizeof`` gives them when created (a 1-byte opcode can create a
        216-byte set; an official StyleGAN3 snapshot creates about 2 MB of them).
    max_memo : int
        Memo entries (``PUT``/``MEMOIZE``).
    max_int_bytes : int
        Bytes of one integer (``LONG1``/``LONG4``; digits for the text forms).
    max_values : int
        Values visited when the result is turned into plain data, a shared reference
        counted each time it is reached.
    max_depth : int
        Nesting depth of the result.
    """

    max_container_bytes: int = 128 * 2**20
    max_memo: int = 500_000
    max_int_bytes: int = 256
    max_values: int = 1_000_000
    max_depth: int = 100


class PickleStream:
    """The bytes of one pickle in ``data`` from offset ``start``, read as values onto :attr:`stack`.

    Parameters
    ----------
    data : bytes, bytearray or mmap
        The whole stream (declared lengths are checked against it before slicing).
    where : str
        The file, for messages.
    error : type
        The :class:`~panda_viz.exceptions.InvalidFileError` subclass for malformed streams.
    limits : PickleLimits
    start : int
        Offset of the pickle in ``data`` (several pickles may follow one another).
    path : path, optional
        Stored on the errors raised.
    what : str
        What the stream is, for messages (``"{where} is not a readable {what}: …"``).

    Attributes
    ----------
    position : int
        Offset of the next byte to read.
    opcode_at : int
        Offset of the opcode being run (named by :meth:`fail`).
    stack : list
        The values pushed so far (the top is last).
    container_bytes : int
        What :meth:`charge` has counted.
    """

    def __init__(self, data: bytes | bytearray | Any, *, where: str, error: type[InvalidFileError] = InvalidFileError,
                 limits: PickleLimits = PickleLimits(), start: int = 0, path: Any = None, what: str = "pickle") -> None:
        self.raw = data  # bytes, bytearray or mmap: indexed, sliced and searched for line ends
        self.where = where
        self.error = error
        self.limits = limits
        self.position = start
        self.opcode_at = start
        self.path = path
        self.what = what
        self.stack: list[Any] = []
        self.container_bytes = 0

    # ------------------------------------------------------------------ errors
    def fail(self, message: str) -> InvalidFileError:
        """The caller's error class, naming the file, the offset and the opcode."""
        code = self.raw[self.opcode_at] if self.opcode_at < len(self.raw) else None
        opcode = repr(bytes([code])) if code is not None else "none"
        return self.error(
            f"{self.where} is not a readable {self.what}: {message} (at byte {self.opcode_at}, opcode {opcode})", self.path
        )

    def unsafe(self, message: str) -> UnsafePickleError:
        """``message`` completes "refusing …": ``"to load global os.system: …"``."""
        return UnsafePickleError(f"{self.where}: refusing {message}; nothing from the file was run", self.path)

    def limit(self, message: str) -> FileLimitError:
        """A :class:`~panda_viz.exceptions.FileLimitError` naming the file."""
        return FileLimitError(f"{self.where}: {message}; nothing was allocated for it", self.path)

    def truncated(self, n: int) -> InvalidFileError:
        """The stream declares ``n`` more bytes than the file holds."""
        return self.error(
            f"{self.where} ends early: the pickle declares {n:,} more bytes at byte {self.position} "
            f"but the file has {len(self.raw) - self.position:,} left (truncated or corrupt)", self.path,
        )

    # ------------------------------------------------------------------ bounded reads
    def charge(self, nbytes: int) -> None:
        """Count ``nbytes`` of created containers against :attr:`PickleLimits.max_container_bytes`."""
        self.container_bytes += nbytes
        cap = self.limits.max_container_bytes
        if self.container_bytes > cap:
            raise self.limit(f"the pickle creates more than {cap / 2**20:,.0f} MB of containers")

    def count(self, created: Any = None) -> None:
        """Charge a created container (its ``sys.getsizeof``); for handlers that build one."""
        self.charge(sys.getsizeof(created))

    def read(self, n: int) -> bytes:
        """The next ``n`` bytes, after checking that the file has them."""
        start = self.position
        end = start + n
        if n < 0 or end > len(self.raw):
            raise self.truncated(n)
        self.position = end
        return self.raw[start:end]

    def readline(self) -> bytes:
        """The bytes up to the next end of line (which is skipped)."""
        stop = self.raw.find(b"\n", self.position)
        if stop < 0:
            raise self.error(f"{self.where} ends early: a text opcode has no end of line (truncated or corrupt)", self.path)
        line = bytes(self.raw[self.position:stop])
        self.position = stop + 1
        return line

    def sized(self, fmt: str, width: int) -> int:
        """The next ``width`` bytes as the number ``struct`` format ``fmt`` spells."""
        return struct.unpack(fmt, self.read(width))[0]

    def int_text(self, text: bytes) -> int:
        """An integer written in digits, at most ``3 × max_int_bytes`` of them."""
        if len(text) > self.limits.max_int_bytes * 3:
            raise self.limit(f"an integer of {len(text):,} digits")
        try:
            return int(text)
        except ValueError:
            raise self.fail(f"{describe(text.decode('latin-1'))} is not an integer") from None

    def decode(self, raw: bytes, encoding: str) -> str:
        """``raw`` as text (UTF-8 keeps lone surrogates, as pickle writes them)."""
        try:
            return str(raw, encoding, "surrogatepass" if encoding == "utf-8" else "strict")
        except UnicodeDecodeError as error:
            raise self.fail(f"a string is not valid {encoding}: {error.reason}") from None

    def long_binary(self, n: int) -> int:
        """The next ``n`` bytes as a little-endian signed integer (LONG1, LONG4)."""
        if n < 0:
            raise self.fail("a negative integer length")
        if n > self.limits.max_int_bytes:
            raise self.limit(f"an integer of {n:,} bytes (at most {self.limits.max_int_bytes})")
        return int.from_bytes(self.read(n), "little", signed=True)

    # ------------------------------------------------------------------ framing
    def op_proto(self) -> None:
        version = self.read(1)[0]
        if version > 5:
            raise self.fail(f"unsupported pickle protocol {version} (0-5 are read)")

    def op_frame(self) -> None:  # a hint; the length must fit in the file
        length = self.sized("<Q", 8)
        left = len(self.raw) - self.position
        if length > left:
            raise self.fail(f"a frame declares {length:,} bytes but {left:,} remain (truncated or corrupt)")

    # ------------------------------------------------------------------ constants
    def op_none(self) -> None:
        self.stack.append(None)

    def op_newtrue(self) -> None:
        self.stack.append(True)

    def op_newfalse(self) -> None:
        self.stack.append(False)

    def op_binint1(self) -> None:
        self.stack.append(self.read(1)[0])

    def op_binint2(self) -> None:
        self.stack.append(self.sized("<H", 2))

    def op_binint(self) -> None:
        self.stack.append(self.sized("<i", 4))

    def op_long1(self) -> None:
        self.stack.append(self.long_binary(self.read(1)[0]))

    def op_long4(self) -> None:
        self.stack.append(self.long_binary(self.sized("<i", 4)))

    def op_int(self) -> None:  # INT: digits, or "00"/"01" for False/True (protocol 0)
        line = self.readline()
        self.stack.append(False if line == b"00" else True if line == b"01" else self.int_text(line))

    def op_long(self) -> None:
        line = self.readline()
        self.stack.append(self.int_text(line[:-1] if line.endswith(b"L") else line))

    def op_float(self) -> None:
        line = self.readline()
        try:
            self.stack.append(float(line))
        except ValueError:
            raise self.fail(f"{describe(line.decode('latin-1'))} is not a float") from None

    def op_binfloat(self) -> None:
        self.stack.append(self.sized(">d", 8))

    # ------------------------------------------------------------------ text and bytes
    def op_binunicode(self) -> None:
        self.stack.append(self.decode(self.read(self.sized("<I", 4)), "utf-8"))

    def op_short_binunicode(self) -> None:
        self.stack.append(self.decode(self.read(self.read(1)[0]), "utf-8"))

    def op_binunicode8(self) -> None:
        self.stack.append(self.decode(self.read(self.sized("<Q", 8)), "utf-8"))

    def op_unicode(self) -> None:
        self.stack.append(self.decode(self.readline(), "raw-unicode-escape"))

    def op_binbytes(self) -> None:
        self.stack.append(bytes(self.read(self.sized("<I", 4))))

    def op_short_binbytes(self) -> None:
        self.stack.append(bytes(self.read(self.read(1)[0])))

    def op_binbytes8(self) -> None:
        self.stack.append(bytes(self.read(self.sized("<Q", 8))))

    def op_bytearray8(self) -> None:  # mutable, so charged like a container
        value = bytearray(self.read(self.sized("<Q", 8)))
        self.count(value)
        self.stack.append(value)

    def op_binstring(self) -> None:  # a Python 2 str, read as ASCII
        self.stack.append(self.decode(self.read(self.sized("<i", 4)), "ascii"))

    def op_short_binstring(self) -> None:
        self.stack.append(self.decode(self.read(self.read(1)[0]), "ascii"))

    def op_string(self) -> None:  # STRING: a quoted Python 2 str, read as ASCII
        line = self.readline()
        if len(line) < 2 or line[0] != line[-1] or line[:1] not in (b"'", b'"'):
            raise self.fail("a STRING opcode whose argument is not quoted")
        try:
            value = codecs.escape_decode(line[1:-1])[0]
        except ValueError as error:
            raise self.fail(f"a STRING opcode with a bad escape: {error}") from None
        self.stack.append(self.decode(value, "ascii"))


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a stream builds many containers.

    Each container created can trigger a collection that walks the young ones; with a
    crafted stream of a million one-byte container opcodes that tripled the reading time.
    The collector's previous state is restored on exit (also on an exception); nothing the
    reader creates holds a cycle it needs collected meanwhile.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
