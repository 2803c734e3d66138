"""A pickle reader that builds data, never runs code, and bounds what a stream may ask for.

Python's own unpicklers call whatever the stream names: a ``REDUCE`` on an allowed global
still runs it with arguments the file chose, ``BUILD`` rewrites an object's state after any
check made when it was created, and a tiny stream can declare gigabytes. This reader is a
small opcode interpreter (protocols 0-5) written for files from strangers:

- **Globals** resolve only through an allow-list of :class:`Handler` objects supplied by the
  caller (a format module: NVlabs pickles, torch checkpoints). A handler checks its
  arguments and returns data; nothing else is ever called. Python 2 module names that
  protocols 0-2 write (``__builtin__``, ``copy_reg``) are read as their Python 3 names.
- **BUILD** is honoured only on objects that declare how (handlers' placeholders, and
  ``OrderedDict``'s ``_metadata``); ``INST``/``OBJ``/``EXT*``/out-of-band buffers are refused,
  and persistent ids only reach a ``persistent_load`` the caller supplies.
- **Sizes** are checked against the bytes present before anything is sliced; integers,
  containers created and memo entries are capped (:class:`PickleLimits`); dict keys and
  set items must be flat scalars (hashing a deep tuple recurses in C).
- After the stream ends, :class:`Finisher` copies the result into plain data: nesting depth
  and the number of values, counting a shared reference each time it is reached (a
  "billion laughs" stream), are capped, and placeholders turn into their final objects, so a
  check made then cannot be undone by a later opcode.

Every failure is an exception from :mod:`panda_viz.exceptions` that names the file:
:class:`~panda_viz.exceptions.UnsafePickleError` (a global or opcode outside the allow-list;
nothing ran), :class:`~panda_viz.exceptions.FileLimitError` (past a limit; nothing was
allocated for it) or the caller's ``error`` class (a malformed stream).
"""

from __future__ import annotations

import codecs
import math
import collections
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..exceptions import FileLimitError, InvalidFileError, UnsafePickleError

__all__ = [
    "PickleLimits",
    "Handler",
    "Placeholder",
    "PlainDict",
    "RestrictedUnpickler",
    "Finisher",
    "describe",
    "check_int",
    "check_shape",
    "data_handlers",
    "SCALAR_TYPES",
]

#: Values a dict key or set item may be: flat and cheap to hash.
SCALAR_TYPES = (str, int, float, bool, type(None), bytes)

_PYTHON2_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg"}


@dataclass(frozen=True)
class PickleLimits:
    """Caps on what a pickle stream may make the reader allocate or walk.

    Attributes
    ----------
    max_containers : int
        Lists, tuples, dicts, sets and handler results created while reading.
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

    max_containers: int = 2_000_000
    max_memo: int = 2_000_000
    max_int_bytes: int = 256
    max_values: int = 2_000_000
    max_depth: int = 100


def _clip(text: str, n: int = 80) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def describe(value: Any) -> str:
    """A short, safe description of an untrusted value for an error message (never a deep repr)."""
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:57] + "...")
    if isinstance(value, (bool, int, float, type(None))):
        text = repr(value)
        return text if len(text) <= 40 else text[:37] + "..."
    if isinstance(value, (bytes, bytearray)):
        return f"{type(value).__name__} of {len(value)} bytes"
    if isinstance(value, (list, tuple, dict, set, frozenset)):
        return f"a {type(value).__name__} of {len(value)} items"
    return f"a {type(value).__name__}"


class Handler:
    """An allow-listed global: what the stream gets when it names ``module.name``.

    Subclasses override :meth:`call` (for ``REDUCE``) and/or :meth:`new` (for ``NEWOBJ``);
    both receive the argument tuple the stream built and return data. ``reader`` is the
    running :class:`RestrictedUnpickler` (its :meth:`~RestrictedUnpickler.fail` names the
    file and the offset; :meth:`~RestrictedUnpickler.count` charges a container).
    """

    def __init__(self, qualname: str) -> None:
        self.qualname = qualname

    def call(self, reader: RestrictedUnpickler, args: tuple) -> Any:
        raise reader.unsafe(f"to call {self.qualname}: it is allowed only as an argument")

    def new(self, reader: RestrictedUnpickler, args: tuple) -> Any:
        raise reader.unsafe(f"to instantiate {self.qualname} with NEWOBJ")

    def __repr__(self) -> str:
        return f"<allowed global {self.qualname}>"


class Placeholder:
    """An object a handler returned that becomes its final value only once the stream ends.

    :meth:`build` receives a ``BUILD`` state (refused unless overridden); :meth:`finish`
    returns the final object, converting children through ``finisher(child, depth + 1)``.
    """

    def build(self, reader: RestrictedUnpickler, state: Any) -> None:
        raise reader.fail(f"BUILD on {type(self).__name__.lstrip('_')} is not allowed (it would rewrite it after its checks)")

    def finish(self, finisher: Finisher, depth: int) -> Any:
        raise NotImplementedError


class PlainDict(dict):
    """What a handler returns for a dict-like class (``dnnlib.util.EasyDict``): it takes
    items, a ``BUILD`` of an empty instance state, and finishes as a plain ``dict``."""

    def build(self, reader: RestrictedUnpickler, state: Any) -> None:
        if state not in (None, {}) and not (type(state) is tuple and len(state) == 2 and state[0] in (None, {})):
            raise reader.fail(f"BUILD on a dict-like object may not set attributes; got {describe(state)}")


class _Mark:
    """What MARK pushes: a boundary on the stack."""


_MARK = _Mark()


class RestrictedUnpickler:
    """Read one pickle from ``data`` with only ``handlers`` as globals.

    Parameters
    ----------
    data : bytes, bytearray or mmap
        The whole stream (declared lengths are checked against it before slicing).
    handlers : mapping
        ``(module, name) -> Handler``.
    where : str
        The file, for messages.
    error : type
        The :class:`~panda_viz.exceptions.InvalidFileError` subclass for malformed streams.
    persistent_load : callable, optional
        ``f(reader, pid) -> object`` for persistent ids; without it they are refused.
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
        Offset just past the ``STOP`` opcode after :meth:`load`.
    """

    def __init__(
        self,
        data: bytes | bytearray | Any,
        handlers: Mapping[tuple[str, str], Handler],
        *,
        where: str,
        error: type[InvalidFileError] = InvalidFileError,
        persistent_load: Callable[[RestrictedUnpickler, Any], Any] | None = None,
        limits: PickleLimits = PickleLimits(),
        start: int = 0,
        path: Any = None,
        what: str = "pickle",
    ) -> None:
        self.raw = data  # bytes, bytearray or mmap: searched for the text opcodes' line ends
        self.data = memoryview(data)
        self.handlers = handlers
        self.where = where
        self.error = error
        self.persistent = persistent_load
        self.limits = limits
        self.position = start
        self.path = path
        self.what = what
        self.containers = 0
        self._opcode_at = start
        self._opcode = ""

    # ------------------------------------------------------------------ errors
    def fail(self, message: str) -> InvalidFileError:
        """The caller's error class, naming the file, the offset and the opcode."""
        return self.error(
            f"{self.where} is not a readable {self.what}: {message} (at byte {self._opcode_at}, opcode {self._opcode})", self.path
        )

    def unsafe(self, message: str) -> UnsafePickleError:
        """``message`` completes "refusing …": ``"to load global os.system: …"``."""
        return UnsafePickleError(f"{self.where}: refusing {message}; nothing from the file was run", self.path)

    def limit(self, message: str) -> FileLimitError:
        return FileLimitError(f"{self.where}: {message}; nothing was allocated for it", self.path)

    def count(self, n: int = 1) -> None:
        """Charge ``n`` created containers against :attr:`PickleLimits.max_containers`."""
        self.containers += n
        if self.containers > self.limits.max_containers:
            raise self.limit(f"the pickle creates more than {self.limits.max_containers:,} containers")

    # ------------------------------------------------------------------ reading
    def _read(self, n: int) -> memoryview:
        end = self.position + n
        if n < 0 or end > len(self.data):
            raise self.error(
                f"{self.where} ends early: the pickle declares {n:,} more bytes at byte {self.position} "
                f"but the file has {len(self.data) - self.position:,} left (truncated or corrupt)", self.path,
            )
        chunk = self.data[self.position:end]
        self.position = end
        return chunk

    def _readline(self) -> bytes:
        stop = self.raw.find(b"\n", self.position)
        if stop < 0:
            raise self.error(f"{self.where} ends early: a text opcode has no end of line (truncated or corrupt)", self.path)
        line = bytes(self.data[self.position:stop])
        self.position = stop + 1
        return line

    def _int_text(self, text: bytes) -> int:
        if len(text) > self.limits.max_int_bytes * 3:
            raise self.limit(f"an integer of {len(text):,} digits")
        try:
            return int(text)
        except ValueError:
            raise self.fail(f"{describe(text.decode('latin-1'))} is not an integer") from None

    # ------------------------------------------------------------------ the machine
    def load(self) -> Any:
        """Run the stream to its ``STOP`` and return the top of the stack (not yet finished)."""
        stack: list[Any] = []
        marks: list[list[Any]] = []
        memo: dict[int, Any] = {}
        limits = self.limits
        unpack = struct.unpack

        def pop_mark() -> list[Any]:
            nonlocal stack
            if not marks:
                raise self.fail("a MARK-based opcode without a MARK")
            items = stack
            stack = marks.pop()
            return items

        def push_new(value: Any) -> None:
            self.count()
            stack.append(value)

        def top() -> Any:
            if not stack:
                raise self.fail("the stack is empty")
            return stack[-1]

        def pop() -> Any:
            if not stack:
                raise self.fail("the stack is empty")
            return stack.pop()

        def check_key(key: Any) -> Any:
            if type(key) in SCALAR_TYPES:
                return key
            if type(key) is tuple and all(type(k) in SCALAR_TYPES for k in key):
                return key
            raise self.fail(f"a dict key or set item must be a str, number, bytes or None; got {describe(key)}")

        def memo_put(index: int, value: Any) -> None:
            if index not in memo and len(memo) >= limits.max_memo:
                raise self.limit(f"the pickle stores more than {limits.max_memo:,} memo entries")
            memo[index] = value

        def memo_get(index: int) -> Any:
            try:
                return memo[index]
            except KeyError:
                raise self.fail(f"memo entry {index} is used before it is stored") from None

        def set_items(target: Any, items: list[Any]) -> None:
            if not isinstance(target, dict) or isinstance(target, Placeholder):
                raise self.fail(f"SETITEM(S) on {describe(target)}: only dicts take items")
            if len(items) % 2:
                raise self.fail("SETITEMS with an odd number of stack items")
            for i in range(0, len(items), 2):
                target[check_key(items[i])] = items[i + 1]

        def decode(raw: memoryview | bytes, encoding: str) -> str:
            try:
                return str(raw, encoding, "surrogatepass" if encoding == "utf-8" else "strict")
            except UnicodeDecodeError as error:
                raise self.fail(f"a string is not valid {encoding}: {error.reason}") from None

        def resolve(module: str, name: str) -> Handler:
            key = (_PYTHON2_MODULES.get(module, module), name)
            handler = self.handlers.get(key)
            if handler is None:
                raise self.unsafe(
                    f"to load global {_clip(module)}.{_clip(name)}: this file needs only tensor data and containers, and "
                    f"this reader resolves nothing else (allowed: {', '.join(sorted(f'{m}.{n}' for m, n in self.handlers))})"
                )
            return handler

        while True:
            self._opcode_at = self.position
            code = self._read(1)[0]
            self._opcode = f"{bytes([code])!r}"
            if code == 0x80:  # PROTO
                version = self._read(1)[0]
                if version > 5:
                    raise self.fail(f"unsupported pickle protocol {version} (0-5 are read)")
            elif code == 0x95:  # FRAME: a hint; the length must fit in the file
                (length,) = unpack("<Q", self._read(8))
                if length > len(self.data) - self.position:
                    raise self.fail(f"a frame declares {length:,} bytes but {len(self.data) - self.position:,} remain (truncated or corrupt)")
            elif code == 0x2E:  # STOP
                return pop()
            # ---- constants
            elif code == 0x4E:  # NONE
                stack.append(None)
            elif code == 0x88:
                stack.append(True)
            elif code == 0x89:
                stack.append(False)
            elif code == 0x4B:  # BININT1
                stack.append(self._read(1)[0])
            elif code == 0x4D:  # BININT2
                stack.append(unpack("<H", self._read(2))[0])
            elif code == 0x4A:  # BININT
                stack.append(unpack("<i", self._read(4))[0])
            elif code in (0x8A, 0x8B):  # LONG1, LONG4
                n = self._read(1)[0] if code == 0x8A else unpack("<i", self._read(4))[0]
                if n < 0:
                    raise self.fail("a negative integer length")
                if n > limits.max_int_bytes:
                    raise self.limit(f"an integer of {n:,} bytes (at most {limits.max_int_bytes})")
                stack.append(int.from_bytes(self._read(n), "little", signed=True))
            elif code == 0x49:  # INT (text)
                line = self._readline()
                stack.append(False if line == b"00" else True if line == b"01" else self._int_text(line))
            elif code == 0x4C:  # LONG (text)
                line = self._readline()
                stack.append(self._int_text(line[:-1] if line.endswith(b"L") else line))
            elif code == 0x46:  # FLOAT (text)
                line = self._readline()
                try:
                    stack.append(float(line))
                except ValueError:
                    raise self.fail(f"{describe(line.decode('latin-1'))} is not a float") from None
            elif code == 0x47:  # BINFLOAT
                stack.append(unpack(">d", self._read(8))[0])
            # ---- strings and bytes
            elif code in (0x58, 0x8C, 0x8D):  # BINUNICODE, SHORT_BINUNICODE, BINUNICODE8
                fmt, size = {0x58: ("<I", 4), 0x8C: ("<B", 1), 0x8D: ("<Q", 8)}[code]
                (n,) = unpack(fmt, self._read(size))
                stack.append(decode(self._read(n), "utf-8"))
            elif code == 0x56:  # UNICODE (text, raw-unicode-escape)
                stack.append(decode(self._readline(), "raw-unicode-escape"))
            elif code in (0x42, 0x43, 0x8E):  # BINBYTES, SHORT_BINBYTES, BINBYTES8
                fmt, size = {0x42: ("<I", 4), 0x43: ("<B", 1), 0x8E: ("<Q", 8)}[code]
                (n,) = unpack(fmt, self._read(size))
                stack.append(bytes(self._read(n)))
            elif code == 0x96:  # BYTEARRAY8
                (n,) = unpack("<Q", self._read(8))
                push_new(bytearray(self._read(n)))
            elif code in (0x54, 0x55):  # BINSTRING, SHORT_BINSTRING: Python 2 str, read as ASCII
                n = unpack("<i", self._read(4))[0] if code == 0x54 else self._read(1)[0]
                stack.append(decode(self._read(n), "ascii"))
            elif code == 0x53:  # STRING (text, quoted)
                line = self._readline()
                if len(line) < 2 or line[0] != line[-1] or line[:1] not in (b"'", b'"'):
                    raise self.fail("a STRING opcode whose argument is not quoted")
                try:
                    raw = codecs.escape_decode(line[1:-1])[0]
                except ValueError as error:
                    raise self.fail(f"a STRING opcode with a bad escape: {error}") from None
                stack.append(decode(raw, "ascii"))
            # ---- containers
            elif code == 0x5D:  # EMPTY_LIST
                push_new([])
            elif code == 0x29:  # EMPTY_TUPLE
                stack.append(())
            elif code == 0x7D:  # EMPTY_DICT
                push_new({})
            elif code == 0x8F:  # EMPTY_SET
                push_new(set())
            elif code == 0x28:  # MARK
                marks.append(stack)
                stack = []
            elif code == 0x31:  # POP_MARK
                pop_mark()
            elif code == 0x6C:  # LIST
                items = pop_mark()
                push_new(list(items))
            elif code == 0x74:  # TUPLE
                items = pop_mark()
                push_new(tuple(items))
            elif code in (0x85, 0x86, 0x87):  # TUPLE1-3
                n = code - 0x84
                if len(stack) < n:
                    raise self.fail("the stack is too short for a TUPLE opcode")
                items = tuple(stack[-n:])
                del stack[-n:]
                push_new(items)
            elif code == 0x64:  # DICT
                items = pop_mark()
                target: dict = {}
                set_items(target, items)
                push_new(target)
            elif code == 0x61:  # APPEND
                value = pop()
                target = top()
                if type(target) is not list:
                    raise self.fail(f"APPEND to {describe(target)}: only lists take appends")
                target.append(value)
            elif code == 0x65:  # APPENDS
                items = pop_mark()
                target = top()
                if type(target) is not list:
                    raise self.fail(f"APPENDS to {describe(target)}: only lists take appends")
                target.extend(items)
            elif code == 0x73:  # SETITEM
                value = pop()
                key = pop()
                set_items(top(), [key, value])
            elif code == 0x75:  # SETITEMS
                items = pop_mark()
                set_items(top(), items)
            elif code == 0x90:  # ADDITEMS
                items = pop_mark()
                target = top()
                if type(target) is not set:
                    raise self.fail(f"ADDITEMS to {describe(target)}: only sets take items")
                target.update(check_key(item) for item in items)
            elif code == 0x91:  # FROZENSET
                items = pop_mark()
                push_new(frozenset(check_key(item) for item in items))
            # ---- stack and memo
            elif code == 0x30:  # POP
                if stack:
                    stack.pop()
                else:
                    pop_mark()
            elif code == 0x32:  # DUP
                stack.append(top())
            elif code == 0x67:  # GET
                stack.append(memo_get(self._int_text(self._readline())))
            elif code == 0x68:  # BINGET
                stack.append(memo_get(self._read(1)[0]))
            elif code == 0x6A:  # LONG_BINGET
                stack.append(memo_get(unpack("<I", self._read(4))[0]))
            elif code == 0x70:  # PUT
                memo_put(self._int_text(self._readline()), top())
            elif code == 0x71:  # BINPUT
                memo_put(self._read(1)[0], top())
            elif code == 0x72:  # LONG_BINPUT
                memo_put(unpack("<I", self._read(4))[0], top())
            elif code == 0x94:  # MEMOIZE
                memo_put(len(memo), top())
            # ---- globals and calls
            elif code == 0x63:  # GLOBAL
                module = decode(self._readline(), "utf-8")
                name = decode(self._readline(), "utf-8")
                stack.append(resolve(module, name))
            elif code == 0x93:  # STACK_GLOBAL
                name = pop()
                module = pop()
                if type(module) is not str or type(name) is not str:
                    raise self.fail("STACK_GLOBAL needs a module and a name as str")
                stack.append(resolve(module, name))
            elif code == 0x52:  # REDUCE
                args = pop()
                function = pop()
                if not isinstance(function, Handler):
                    raise self.unsafe(f"a REDUCE that calls {describe(function)}, which is not an allowed global")
                if type(args) is not tuple:
                    raise self.fail(f"REDUCE with arguments {describe(args)}, not a tuple")
                push_new(function.call(self, args))
            elif code in (0x81, 0x92):  # NEWOBJ, NEWOBJ_EX
                kwargs = pop() if code == 0x92 else {}
                args = pop()
                cls = pop()
                if not isinstance(cls, Handler):
                    raise self.unsafe(f"a NEWOBJ of {describe(cls)}, which is not an allowed global")
                if type(args) is not tuple or kwargs:
                    raise self.fail("NEWOBJ with arguments that are not a tuple, or with keyword arguments")
                push_new(cls.new(self, args))
            elif code == 0x62:  # BUILD
                state = pop()
                target = top()
                if isinstance(target, Placeholder):
                    target.build(self, state)
                elif type(target) is collections.OrderedDict:
                    _build_ordered_dict(self, target, state)
                elif type(target) is PlainDict:
                    target.build(self, state)
                else:
                    raise self.fail(f"BUILD on {describe(target)} is not allowed")
            elif code in (0x69, 0x6F):  # INST, OBJ
                raise self.unsafe("INST/OBJ opcodes (they instantiate classes)")
            elif code in (0x82, 0x83, 0x84):  # EXT1, EXT2, EXT4
                raise self.unsafe("EXT opcodes (the copyreg extension registry)")
            elif code in (0x97, 0x98):  # NEXT_BUFFER, READONLY_BUFFER
                raise self.unsafe("out-of-band buffers (NEXT_BUFFER/READONLY_BUFFER)")
            elif code in (0x50, 0x51):  # PERSID, BINPERSID
                pid = decode(self._readline(), "ascii") if code == 0x50 else pop()
                if self.persistent is None:
                    raise self.unsafe(f"persistent id {describe(pid)}: not part of this format")
                stack.append(self.persistent(self, pid))
            else:
                raise self.fail(f"unknown opcode {bytes([code])!r}: not a pickle, or a corrupt one")


def _build_ordered_dict(reader: RestrictedUnpickler, target: collections.OrderedDict, state: Any) -> None:
    """``OrderedDict`` BUILD: torch state dicts carry ``_metadata`` (module versions) this way."""
    if state is None:
        return
    if type(state) is tuple and len(state) == 2 and state[1] is None:  # (dict state, slots)
        state = state[0]
    if type(state) is not dict or set(state) - {"_metadata"}:
        raise reader.fail(f"BUILD on an OrderedDict may set only '_metadata'; got {describe(state)}")
    if "_metadata" in state:
        if type(state["_metadata"]) not in (dict, collections.OrderedDict):
            raise reader.fail(f"an OrderedDict's '_metadata' must be a dict; got {describe(state['_metadata'])}")
        target._metadata = state["_metadata"]  # type: ignore[attr-defined]


class Finisher:
    """Turn what :meth:`RestrictedUnpickler.load` returned into plain data, within limits.

    Containers are copied (lists, tuples, dicts, ``OrderedDict`` with its ``_metadata``,
    sets), placeholders become their final objects, and ``leaf_types`` pass through. The
    depth and the number of values visited (a shared reference counted each time it is
    reached) are capped, so a self-referencing or exponentially shared structure fails
    cleanly instead of recursing or expanding.

    Parameters
    ----------
    where : str
    leaf_types : tuple of type
        Final objects handlers produce (tensors, arrays, NumPy scalars).
    limits : PickleLimits
    error : type
    path : path, optional
    """

    def __init__(self, where: str, leaf_types: tuple[type, ...] = (), *, limits: PickleLimits = PickleLimits(),
                 error: type[InvalidFileError] = InvalidFileError, path: Any = None) -> None:
        self.where, self.leaf_types, self.limits, self.error, self.path = where, leaf_types, limits, error, path
        self.values = 0

    def fail(self, message: str) -> InvalidFileError:
        return self.error(f"{self.where}: {message}", self.path)

    def _charge(self, n: int) -> None:
        self.values += n
        if self.values > self.limits.max_values:
            raise FileLimitError(
                f"{self.where}: the data expands to more than {self.limits.max_values:,} values (shared references "
                "counted each time they are reached); nothing more was built", self.path,
            )

    def __call__(self, value: Any, depth: int = 0) -> Any:
        if depth > self.limits.max_depth:
            raise FileLimitError(
                f"{self.where}: the data nests deeper than {self.limits.max_depth} levels (or refers to itself)", self.path
            )
        self._charge(1)
        kind = type(value)
        if kind in SCALAR_TYPES or kind is bytearray:
            return value
        if kind is list:
            self._charge(len(value))
            return [self(item, depth + 1) for item in value]
        if kind is tuple:
            self._charge(len(value))
            return tuple(self(item, depth + 1) for item in value)
        if kind is dict or kind is PlainDict:
            self._charge(len(value))
            return {key: self(item, depth + 1) for key, item in value.items()}
        if kind is collections.OrderedDict:
            self._charge(len(value))
            copy = collections.OrderedDict((key, self(item, depth + 1)) for key, item in value.items())
            if hasattr(value, "_metadata"):
                copy._metadata = self(value._metadata, depth + 1)  # type: ignore[attr-defined]
            return copy
        if kind in (set, frozenset):
            self._charge(len(value))
            return kind(value)  # items are flat scalars (checked when added)
        if isinstance(value, Placeholder):
            return value.finish(self, depth)
        if isinstance(value, self.leaf_types):
            return value
        if isinstance(value, Handler):
            raise self.fail(f"the allowed global {value.qualname} is stored as a value, not called")
        raise self.fail(f"unexpected {describe(value)} in the data")


# --------------------------------------------------------------------------------------
# handlers for plain data that protocols 0-5 write through globals
# --------------------------------------------------------------------------------------
def check_int(reader: RestrictedUnpickler, value: Any, what: str, low: int = 0, high: int | None = None) -> int:
    """``value`` as an int in ``[low, high]`` or the reader's error naming ``what``."""
    if type(value) is not int or value < low or (high is not None and value > high):
        bound = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise reader.fail(f"{what} must be an int {bound}; got {describe(value)}")
    return value


def check_shape(reader: RestrictedUnpickler, value: Any, what: str, max_dims: int = 32) -> tuple[int, ...]:
    """A shape: a tuple (or list) of at most ``max_dims`` ints >= 0."""
    if type(value) not in (tuple, list) or len(value) > max_dims:
        raise reader.fail(f"{what} must be a tuple of at most {max_dims} ints; got {describe(value)}")
    return tuple(check_int(reader, item, f"each entry of {what}") for item in value)


class OrderedDictHandler(Handler):
    """``collections.OrderedDict()`` or ``OrderedDict([(key, value), ...])``."""

    def call(self, reader: RestrictedUnpickler, args: tuple) -> collections.OrderedDict:
        if not args:
            return collections.OrderedDict()
        if len(args) != 1 or type(args[0]) is not list:
            raise reader.fail(f"OrderedDict takes no arguments or a list of pairs; got {len(args)} arguments")
        result = collections.OrderedDict()
        for pair in args[0]:
            if type(pair) not in (tuple, list) or len(pair) != 2 or type(pair[0]) not in SCALAR_TYPES:
                raise reader.fail(f"an OrderedDict item must be a (key, value) pair with a scalar key; got {describe(pair)}")
            result[pair[0]] = pair[1]
        return result

    def new(self, reader: RestrictedUnpickler, args: tuple) -> collections.OrderedDict:
        return self.call(reader, args)


class SetHandler(Handler):
    """``set(items)`` / ``frozenset(items)`` (protocols 0-3 write sets this way); flat items only."""

    def __init__(self, qualname: str, kind: type) -> None:
        super().__init__(qualname)
        self.kind = kind

    def call(self, reader: RestrictedUnpickler, args: tuple) -> set | frozenset:
        if not args:
            return self.kind()
        if len(args) != 1 or type(args[0]) not in (list, tuple, set, frozenset):
            raise reader.fail(f"{self.qualname} takes one list of items; got {describe(args)}")
        items = args[0]
        if not all(type(item) in SCALAR_TYPES for item in items):
            raise reader.fail(f"{self.qualname} items must be str, numbers, bytes or None")
        return self.kind(items)


class CodecsEncodeHandler(Handler):
    """``_codecs.encode(text, 'latin1')``: how protocols 0-2 write ``bytes``; nothing else."""

    def call(self, reader: RestrictedUnpickler, args: tuple) -> bytes:
        if len(args) != 2 or type(args[0]) is not str or args[1] not in ("latin1", "latin-1"):
            raise reader.unsafe(f"_codecs.encode other than encode(str, 'latin1') (how protocols 0-2 write bytes); got {describe(args)}")
        try:
            return args[0].encode("latin-1")
        except UnicodeEncodeError:
            raise reader.fail("_codecs.encode(..., 'latin1') of text with characters above U+00FF") from None


class TokenHandler(Handler):
    """A global that is only ever an argument of another handler (``numpy.ndarray``)."""


# NumPy: numbers and arrays of numbers only (no object, void, structured or sub-array dtypes)
_NUMPY_KINDS = "biufc"


class _PendingDtype(Placeholder):
    def __init__(self, dtype: Any) -> None:
        self.dtype = dtype
        self.built = False

    def build(self, reader: RestrictedUnpickler, state: Any) -> None:
        if self.built:
            raise reader.fail("a NumPy dtype is built twice")
        if type(state) is not tuple or len(state) < 5 or state[1] not in ("<", ">", "|", "=") or any(s is not None for s in state[2:5]):
            raise reader.fail(f"only plain numeric NumPy dtypes are read (no fields, sub-arrays or names); got state {describe(state)}")
        self.dtype = self.dtype.newbyteorder(state[1]) if state[1] in "<>" else self.dtype
        self.built = True

    def finish(self, finisher: Finisher, depth: int) -> Any:
        return self.dtype


class NumpyDtypeHandler(Handler):
    """``numpy.dtype(code, align, copy)`` for numeric codes (``'f8'``, ``'i8'``, ``'b1'`` …)."""

    def call(self, reader: RestrictedUnpickler, args: tuple) -> _PendingDtype:
        import numpy as np

        code = args[0] if args else None
        if type(code) is not str or len(code) > 4:
            raise reader.fail(f"a NumPy dtype code must be a short str such as 'f8'; got {describe(code)}")
        try:
            dtype = np.dtype(code)
        except TypeError:
            raise reader.fail(f"unknown NumPy dtype code {describe(code)}") from None
        if dtype.kind not in _NUMPY_KINDS or dtype.itemsize > 16 or dtype.fields is not None or dtype.subdtype is not None:
            raise reader.unsafe(
                f"NumPy dtype {describe(code)} (kind {dtype.kind!r}): only bool, integer, float and complex dtypes "
                "are read (object and void dtypes can run code or claim gigabytes)"
            )
        return _PendingDtype(dtype)


class _PendingArray(Placeholder):
    def __init__(self) -> None:
        self.array = None

    def build(self, reader: RestrictedUnpickler, state: Any) -> None:
        import numpy as np

        if self.array is not None:
            raise reader.fail("a NumPy array is built twice")
        if type(state) is tuple and len(state) == 5:
            state = state[1:]
        if type(state) is not tuple or len(state) != 4:
            raise reader.fail(f"a NumPy array state must be (shape, dtype, fortran, data); got {describe(state)}")
        shape = check_shape(reader, state[0], "a NumPy array's shape")
        dtype, fortran, raw = state[1], state[2], state[3]
        if not isinstance(dtype, _PendingDtype):
            raise reader.fail(f"a NumPy array's dtype must be a numeric dtype; got {describe(dtype)}")
        if type(raw) not in (bytes, bytearray) or type(fortran) is not bool:
            raise reader.unsafe("a NumPy array whose data is not raw bytes (object arrays)")
        expected = math.prod(shape) * dtype.dtype.itemsize
        if len(raw) != expected:
            raise reader.fail(
                f"a NumPy array declares shape {shape} of {dtype.dtype} ({expected:,} bytes) but holds {len(raw):,} bytes"
            )
        self.array = np.frombuffer(raw, dtype=dtype.dtype).reshape(shape, order="F" if fortran else "C").copy()

    def finish(self, finisher: Finisher, depth: int) -> Any:
        if self.array is None:
            raise finisher.fail("a NumPy array is created but never filled")
        return self.array


class NumpyReconstructHandler(Handler):
    """``numpy.core.multiarray._reconstruct(numpy.ndarray, (0,), b'b')``, filled by BUILD."""

    def call(self, reader: RestrictedUnpickler, args: tuple) -> _PendingArray:
        if len(args) != 3 or not isinstance(args[0], TokenHandler) or args[0].qualname != "numpy.ndarray":
            raise reader.unsafe(f"numpy _reconstruct of anything but numpy.ndarray; got {describe(args)}")
        return _PendingArray()


class NumpyScalarHandler(Handler):
    """``numpy.core.multiarray.scalar(dtype, raw bytes)``: one number."""

    def call(self, reader: RestrictedUnpickler, args: tuple) -> Any:
        import numpy as np

        if len(args) != 2 or not isinstance(args[0], _PendingDtype) or type(args[1]) not in (bytes, bytearray):
            raise reader.unsafe("numpy scalar other than scalar(numeric dtype, bytes)")
        dtype = args[0].dtype
        if len(args[1]) != dtype.itemsize:
            raise reader.fail(f"a NumPy {dtype} scalar needs {dtype.itemsize} bytes; got {len(args[1])}")
        return np.frombuffer(args[1], dtype=dtype)[0]


def data_handlers() -> dict[tuple[str, str], Handler]:
    """Handlers for the globals plain data needs: OrderedDict, set, frozenset, bytes in
    protocols 0-2 (``_codecs.encode``) and numeric NumPy dtypes, arrays and scalars."""
    handlers: dict[tuple[str, str], Handler] = {
        ("collections", "OrderedDict"): OrderedDictHandler("collections.OrderedDict"),
        ("builtins", "set"): SetHandler("builtins.set", set),
        ("builtins", "frozenset"): SetHandler("builtins.frozenset", frozenset),
        ("_codecs", "encode"): CodecsEncodeHandler("_codecs.encode"),
        ("numpy", "dtype"): NumpyDtypeHandler("numpy.dtype"),
        ("numpy", "ndarray"): TokenHandler("numpy.ndarray"),
    }
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        handlers[(module, "_reconstruct")] = NumpyReconstructHandler(f"{module}._reconstruct")
        handlers[(module, "scalar")] = NumpyScalarHandler(f"{module}.scalar")
    return handlers
