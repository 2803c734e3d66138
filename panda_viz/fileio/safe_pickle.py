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
import collections
import gc
import struct
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
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
    "gc_paused",
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
        self.raw = data  # bytes, bytearray or mmap: indexed, sliced and searched for line ends
        self.handlers = handlers
        self.where = where
        self.error = error
        self.persistent = persistent_load
        self.limits = limits
        self.position = start
        self.path = path
        self.what = what
        self.container_bytes = 0
        self._opcode_at = start

    # ------------------------------------------------------------------ errors
    def unsafe(self, message: str) -> UnsafePickleError:
        """``message`` completes "refusing …": ``"to load global os.system: …"``."""
        return UnsafePickleError(f"{self.where}: refusing {message}; nothing from the file was run", self.path)

    def limit(self, message: str) -> FileLimitError:
        return FileLimitError(f"{self.where}: {message}; nothing was allocated for it", self.path)

    def count(self, created: Any = None) -> None:
        """Charge a created container against :attr:`PickleLimits.max_container_bytes`."""
        self.container_bytes += sys.getsizeof(created)
        if self.container_bytes > self.limits.max_container_bytes:
            raise self.limit(
                f"the pickle creates more than {self.limits.max_container_bytes / 2**20:,.0f} MB of containers"
            )

    # ------------------------------------------------------------------ reading
    def _truncated(self, n: int) -> InvalidFileError:
        return self.error(
            f"{self.where} ends early: the pickle declares {n:,} more bytes at byte {self.position} "
            f"but the file has {len(self.raw) - self.position:,} left (truncated or corrupt)", self.path,
        )

    def _read(self, n: int) -> bytes:
        """The next ``n`` bytes, after checking that the file has them."""
        start = self.position
        end = start + n
        if n < 0 or end > len(self.raw):
            raise self._truncated(n)
        self.position = end
        return self.raw[start:end]

    def _readline(self) -> bytes:
        stop = self.raw.find(b"\n", self.position)
        if stop < 0:
            raise self.error(f"{self.where} ends early: a text opcode has no end of line (truncated or corrupt)", self.path)
        line = bytes(self.raw[self.position:stop])
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
        """Run the stream to its ``STOP`` and return the top of the stack (not yet finished).

        One small function per opcode, found in a dict: every opcode costs the same, so no
        choice of opcodes makes a stream slow to read (about a microsecond each).
        """
        state = _MachineState()
        dispatch = _dispatch_table(self, state)
        raw = self.raw
        size = len(raw)
        with gc_paused():
            while True:
                position = self.position
                if position >= size:
                    raise self._truncated(1)
                code = raw[position]
                self._opcode_at = position
                self.position = position + 1
                operation = dispatch.get(code)
                if operation is None:
                    raise self.fail(f"unknown opcode {bytes([code])!r}: not a pickle, or a corrupt one")
                if operation():  # STOP returns True
                    return state.result

    def fail(self, message: str) -> InvalidFileError:
        """The caller's error class, naming the file, the offset and the opcode."""
        code = self.raw[self._opcode_at] if self._opcode_at < len(self.raw) else None
        opcode = repr(bytes([code])) if code is not None else "none"
        return self.error(
            f"{self.where} is not a readable {self.what}: {message} (at byte {self._opcode_at}, opcode {opcode})", self.path
        )


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


_EMPTY_LIST_BYTES = sys.getsizeof([])
_TUPLE_BYTES = {n: sys.getsizeof((None,) * n) for n in (1, 2, 3)}


class _MachineState:
    """The stack, the mark stack and the memo of one :meth:`RestrictedUnpickler.load`."""

    __slots__ = ("stack", "marks", "memo", "result")

    def __init__(self) -> None:
        self.stack: list[Any] = []
        self.marks: list[list[Any]] = []
        self.memo: dict[int, Any] = {}
        self.result: Any = None


def _dispatch_table(reader: RestrictedUnpickler, st: _MachineState) -> dict[int, Callable[[], bool | None]]:
    """``opcode -> operation`` for one load; each operation works on ``st`` and ``reader``."""
    limits = reader.limits
    read = reader._read
    readline = reader._readline
    int_text = reader._int_text
    unpack = struct.unpack
    fail = reader.fail

    def stack_pop() -> Any:
        if not st.stack:
            raise fail("the stack is empty")
        return st.stack.pop()

    def stack_top() -> Any:
        if not st.stack:
            raise fail("the stack is empty")
        return st.stack[-1]

    def pop_mark() -> list[Any]:
        if not st.marks:
            raise fail("a MARK-based opcode without a MARK")
        items = st.stack
        st.stack = st.marks.pop()
        return items

    cap = limits.max_container_bytes

    def charge(nbytes: int) -> None:
        reader.container_bytes += nbytes
        if reader.container_bytes > cap:
            raise reader.limit(f"the pickle creates more than {cap / 2**20:,.0f} MB of containers")

    def push_new(value: Any) -> None:
        charge(sys.getsizeof(value))
        st.stack.append(value)

    def check_key(key: Any) -> Any:
        if type(key) in SCALAR_TYPES:
            return key
        if type(key) is tuple and all(type(k) in SCALAR_TYPES for k in key):
            return key
        raise fail(f"a dict key or set item must be a str, number, bytes or None; got {describe(key)}")

    def memo_put(index: int) -> None:
        memo = st.memo
        if index not in memo and len(memo) >= limits.max_memo:
            raise reader.limit(f"the pickle stores more than {limits.max_memo:,} memo entries")
        memo[index] = stack_top()

    def memo_get(index: int) -> None:
        try:
            st.stack.append(st.memo[index])
        except KeyError:
            raise fail(f"memo entry {index} is used before it is stored") from None

    def set_items(target: Any, items: list[Any]) -> None:
        if not isinstance(target, dict):
            raise fail(f"SETITEM(S) on {describe(target)}: only dicts take items")
        if len(items) % 2:
            raise fail("SETITEMS with an odd number of stack items")
        for i in range(0, len(items), 2):
            target[check_key(items[i])] = items[i + 1]

    def decode(raw: bytes, encoding: str) -> str:
        try:
            return str(raw, encoding, "surrogatepass" if encoding == "utf-8" else "strict")
        except UnicodeDecodeError as error:
            raise fail(f"a string is not valid {encoding}: {error.reason}") from None

    def resolve(module: str, name: str) -> Handler:
        handler = reader.handlers.get((_PYTHON2_MODULES.get(module, module), name))
        if handler is None:
            raise reader.unsafe(
                f"to load global {_clip(module)}.{_clip(name)}: this file needs only tensor data and containers, and "
                f"this reader resolves nothing else (allowed: {', '.join(sorted(f'{m}.{n}' for m, n in reader.handlers))})"
            )
        return handler

    def sized(fmt: str, width: int) -> int:
        return unpack(fmt, read(width))[0]

    # ---- framing and control
    def proto() -> None:
        version = read(1)[0]
        if version > 5:
            raise fail(f"unsupported pickle protocol {version} (0-5 are read)")

    def frame() -> None:  # a hint; the length must fit in the file
        length = sized("<Q", 8)
        if length > len(reader.raw) - reader.position:
            raise fail(f"a frame declares {length:,} bytes but {len(reader.raw) - reader.position:,} remain (truncated or corrupt)")

    def stop() -> bool:
        st.result = stack_pop()
        return True

    # ---- constants
    def long_binary(n: int) -> None:
        if n < 0:
            raise fail("a negative integer length")
        if n > limits.max_int_bytes:
            raise reader.limit(f"an integer of {n:,} bytes (at most {limits.max_int_bytes})")
        st.stack.append(int.from_bytes(read(n), "little", signed=True))

    def int_line() -> None:
        line = readline()
        st.stack.append(False if line == b"00" else True if line == b"01" else int_text(line))

    def long_line() -> None:
        line = readline()
        st.stack.append(int_text(line[:-1] if line.endswith(b"L") else line))

    def float_line() -> None:
        line = readline()
        try:
            st.stack.append(float(line))
        except ValueError:
            raise fail(f"{describe(line.decode('latin-1'))} is not a float") from None

    def string_line() -> None:  # STRING: a quoted Python 2 str, read as ASCII
        line = readline()
        if len(line) < 2 or line[0] != line[-1] or line[:1] not in (b"'", b'"'):
            raise fail("a STRING opcode whose argument is not quoted")
        try:
            value = codecs.escape_decode(line[1:-1])[0]
        except ValueError as error:
            raise fail(f"a STRING opcode with a bad escape: {error}") from None
        st.stack.append(decode(value, "ascii"))

    # ---- containers
    def mark() -> None:
        charge(_EMPTY_LIST_BYTES)  # the new stack segment
        st.marks.append(st.stack)
        st.stack = []

    def tuple1() -> None:
        stack = st.stack
        if not stack:
            raise fail("the stack is too short for TUPLE1")
        charge(_TUPLE_BYTES[1])
        stack[-1] = (stack[-1],)

    def tuple_n(n: int) -> None:
        stack = st.stack
        if len(stack) < n:
            raise fail(f"the stack is too short for TUPLE{n}")
        charge(_TUPLE_BYTES[n])
        items = tuple(stack[-n:])
        del stack[-n:]
        stack.append(items)

    def new_empty(make: Callable[[], Any], nbytes: int) -> Callable[[], None]:
        def operation() -> None:
            charge(nbytes)
            st.stack.append(make())

        return operation

    def dict_from_mark() -> None:
        items = pop_mark()
        target: dict = {}
        set_items(target, items)
        push_new(target)

    def append() -> None:
        value = stack_pop()
        target = stack_top()
        if type(target) is not list:
            raise fail(f"APPEND to {describe(target)}: only lists take appends")
        target.append(value)

    def appends() -> None:
        items = pop_mark()
        target = stack_top()
        if type(target) is not list:
            raise fail(f"APPENDS to {describe(target)}: only lists take appends")
        target.extend(items)

    def setitem() -> None:
        value = stack_pop()
        key = stack_pop()
        set_items(stack_top(), [key, value])

    def setitems() -> None:
        items = pop_mark()
        set_items(stack_top(), items)

    def additems() -> None:
        items = pop_mark()
        target = stack_top()
        if type(target) is not set:
            raise fail(f"ADDITEMS to {describe(target)}: only sets take items")
        target.update(check_key(item) for item in items)

    def pop() -> None:
        if st.stack:
            st.stack.pop()
        else:
            pop_mark()

    # ---- globals and calls
    def global_line() -> None:
        module = decode(readline(), "utf-8")
        name = decode(readline(), "utf-8")
        st.stack.append(resolve(module, name))

    def stack_global() -> None:
        name = stack_pop()
        module = stack_pop()
        if type(module) is not str or type(name) is not str:
            raise fail("STACK_GLOBAL needs a module and a name as str")
        st.stack.append(resolve(module, name))

    def reduce() -> None:
        args = stack_pop()
        function = stack_pop()
        if not isinstance(function, Handler):
            raise reader.unsafe(f"a REDUCE that calls {describe(function)}, which is not an allowed global")
        if type(args) is not tuple:
            raise fail(f"REDUCE with arguments {describe(args)}, not a tuple")
        push_new(function.call(reader, args))

    def newobj(with_kwargs: bool) -> None:
        kwargs = stack_pop() if with_kwargs else {}
        args = stack_pop()
        cls = stack_pop()
        if not isinstance(cls, Handler):
            raise reader.unsafe(f"a NEWOBJ of {describe(cls)}, which is not an allowed global")
        if type(args) is not tuple or kwargs:
            raise fail("NEWOBJ with arguments that are not a tuple, or with keyword arguments")
        push_new(cls.new(reader, args))

    def build() -> None:
        value = stack_pop()
        target = stack_top()
        if isinstance(target, Placeholder):
            target.build(reader, value)
        elif type(target) is collections.OrderedDict:
            _build_ordered_dict(reader, target, value)
        elif type(target) is PlainDict:
            target.build(reader, value)
        else:
            raise fail(f"BUILD on {describe(target)} is not allowed")

    def persistent(text: bool) -> None:
        pid = decode(readline(), "ascii") if text else stack_pop()
        if reader.persistent is None:
            raise reader.unsafe(f"persistent id {describe(pid)}: not part of this format")
        st.stack.append(reader.persistent(reader, pid))

    def refuse(message: str) -> Callable[[], None]:
        def operation() -> None:
            raise reader.unsafe(message)

        return operation

    def push(make: Callable[[], Any]) -> Callable[[], None]:
        def operation() -> None:
            st.stack.append(make())

        return operation

    def push_container(make: Callable[[], Any]) -> Callable[[], None]:
        def operation() -> None:
            push_new(make())

        return operation

    return {
        0x80: proto,
        0x95: frame,
        0x2E: stop,
        0x4E: push(lambda: None),  # NONE
        0x88: push(lambda: True),  # NEWTRUE
        0x89: push(lambda: False),  # NEWFALSE
        0x4B: push(lambda: read(1)[0]),  # BININT1
        0x4D: push(lambda: sized("<H", 2)),  # BININT2
        0x4A: push(lambda: sized("<i", 4)),  # BININT
        0x8A: lambda: long_binary(read(1)[0]),  # LONG1
        0x8B: lambda: long_binary(sized("<i", 4)),  # LONG4
        0x49: int_line,  # INT
        0x4C: long_line,  # LONG
        0x46: float_line,  # FLOAT
        0x47: push(lambda: sized(">d", 8)),  # BINFLOAT
        0x58: push(lambda: decode(read(sized("<I", 4)), "utf-8")),  # BINUNICODE
        0x8C: push(lambda: decode(read(read(1)[0]), "utf-8")),  # SHORT_BINUNICODE
        0x8D: push(lambda: decode(read(sized("<Q", 8)), "utf-8")),  # BINUNICODE8
        0x56: push(lambda: decode(readline(), "raw-unicode-escape")),  # UNICODE
        0x42: push(lambda: bytes(read(sized("<I", 4)))),  # BINBYTES
        0x43: push(lambda: bytes(read(read(1)[0]))),  # SHORT_BINBYTES
        0x8E: push(lambda: bytes(read(sized("<Q", 8)))),  # BINBYTES8
        0x96: push_container(lambda: bytearray(read(sized("<Q", 8)))),  # BYTEARRAY8
        0x54: push(lambda: decode(read(sized("<i", 4)), "ascii")),  # BINSTRING (Python 2 str)
        0x55: push(lambda: decode(read(read(1)[0]), "ascii")),  # SHORT_BINSTRING
        0x53: string_line,  # STRING
        0x5D: new_empty(list, _EMPTY_LIST_BYTES),  # EMPTY_LIST
        0x29: push(tuple),  # EMPTY_TUPLE (a singleton)
        0x7D: new_empty(dict, sys.getsizeof({})),  # EMPTY_DICT
        0x8F: new_empty(set, sys.getsizeof(set())),  # EMPTY_SET
        0x28: mark,
        0x31: pop_mark,  # POP_MARK
        0x6C: lambda: push_new(list(pop_mark())),  # LIST
        0x74: lambda: push_new(tuple(pop_mark())),  # TUPLE
        0x85: tuple1,
        0x86: lambda: tuple_n(2),
        0x87: lambda: tuple_n(3),
        0x64: dict_from_mark,  # DICT
        0x61: append,
        0x65: appends,
        0x73: setitem,
        0x75: setitems,
        0x90: additems,
        0x91: lambda: push_new(frozenset(check_key(item) for item in pop_mark())),  # FROZENSET
        0x30: pop,
        0x32: lambda: st.stack.append(stack_top()),  # DUP
        0x67: lambda: memo_get(int_text(readline())),  # GET
        0x68: lambda: memo_get(read(1)[0]),  # BINGET
        0x6A: lambda: memo_get(sized("<I", 4)),  # LONG_BINGET
        0x70: lambda: memo_put(int_text(readline())),  # PUT
        0x71: lambda: memo_put(read(1)[0]),  # BINPUT
        0x72: lambda: memo_put(sized("<I", 4)),  # LONG_BINPUT
        0x94: lambda: memo_put(len(st.memo)),  # MEMOIZE
        0x63: global_line,  # GLOBAL
        0x93: stack_global,
        0x52: reduce,
        0x81: lambda: newobj(False),  # NEWOBJ
        0x92: lambda: newobj(True),  # NEWOBJ_EX
        0x62: build,
        0x69: refuse("INST/OBJ opcodes (they instantiate classes)"),
        0x6F: refuse("INST/OBJ opcodes (they instantiate classes)"),
        0x82: refuse("EXT opcodes (the copyreg extension registry)"),
        0x83: refuse("EXT opcodes (the copyreg extension registry)"),
        0x84: refuse("EXT opcodes (the copyreg extension registry)"),
        0x97: refuse("out-of-band buffers (NEXT_BUFFER/READONLY_BUFFER)"),
        0x98: refuse("out-of-band buffers (NEXT_BUFFER/READONLY_BUFFER)"),
        0x50: lambda: persistent(True),  # PERSID
        0x51: lambda: persistent(False),  # BINPERSID
    }


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
        if depth == 0:
            with gc_paused():
                return self._convert(value, 0)
        return self._convert(value, depth)

    def _convert(self, value: Any, depth: int) -> Any:
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

