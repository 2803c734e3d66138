"""A pickle reader that builds data, never runs code, and bounds what a stream may ask for.

Python's own unpicklers call whatever the stream names: a ``REDUCE`` on an allowed global
still runs it with arguments the file chose, ``BUILD`` rewrites an object's state after any
check made when it was created, and a tiny stream can declare gigabytes. This reader is a
small opcode interpreter (protocols 0-5) written for files from strangers:

- **Globals** resolve only through an allow-list of
  :class:`~panda_viz.fileio.pickle_objects.Handler` objects supplied by the
  caller (a format module: NVlabs pickles, torch checkpoints). A handler checks its
  arguments and returns data; nothing else is ever called. Python 2 module names that
  protocols 0-2 write (``__builtin__``, ``copy_reg``) are read as their Python 3 names.
- **BUILD** is honoured only on objects that declare how (handlers' placeholders, and
  ``OrderedDict``'s ``_metadata``); ``INST``/``OBJ``/``EXT*``/out-of-band buffers are refused
  (:data:`REFUSED`), and persistent ids only reach a ``persistent_load`` the caller supplies.
- **Sizes** are checked against the bytes present before anything is sliced; integers,
  containers created and memo entries are capped
  (:class:`~panda_viz.fileio.pickle_stream.PickleLimits`); dict keys and set items must be
  flat scalars (hashing a deep tuple recurses in C).
- After the stream ends, :class:`~panda_viz.fileio.pickle_objects.Finisher` copies the result
  into plain data: nesting depth and the number of values, counting a shared reference each
  time it is reached (a "billion laughs" stream), are capped, and placeholders turn into
  their final objects, so a check made then cannot be undone by a later opcode.

The machine is :class:`RestrictedUnpickler`: one method per opcode, named after it as
``pickletools`` names it (``op_binint1`` runs ``BININT1``), and :data:`OPCODES`, the table
from opcode byte to method. Reading bytes into constants is its base class,
:class:`~panda_viz.fileio.pickle_stream.PickleStream`.

Every failure is an exception from :mod:`panda_viz.exceptions` that names the file:
:class:`~panda_viz.exceptions.UnsafePickleError` (a global or opcode outside the allow-list;
nothing ran), :class:`~panda_viz.exceptions.FileLimitError` (past a limit; nothing was
allocated for it) or the caller's ``error`` class (a malformed stream).
"""

from __future__ import annotations

import collections
import sys
from collections.abc import Callable, Mapping
from typing import Any

from .._checks import describe
from ..exceptions import InvalidFileError
from .pickle_objects import SCALAR_TYPES, Handler, Placeholder, PlainDict
from .pickle_stream import PickleLimits, PickleStream, gc_paused

__all__ = ["RestrictedUnpickler", "OPCODES", "REFUSED"]

_PYTHON2_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg"}

#: Every opcode the reader runs: its byte -> the :class:`RestrictedUnpickler` method (named
#: ``op_`` + its ``pickletools`` name). The constants and framing are
#: :class:`~panda_viz.fileio.pickle_stream.PickleStream`'s.
OPCODES: dict[int, str] = {
    # framing and control
    0x80: "op_proto", 0x95: "op_frame", 0x2E: "op_stop",
    # constants
    0x4E: "op_none", 0x88: "op_newtrue", 0x89: "op_newfalse",
    0x4B: "op_binint1", 0x4D: "op_binint2", 0x4A: "op_binint", 0x8A: "op_long1", 0x8B: "op_long4",
    0x49: "op_int", 0x4C: "op_long", 0x46: "op_float", 0x47: "op_binfloat",
    # text and bytes
    0x58: "op_binunicode", 0x8C: "op_short_binunicode", 0x8D: "op_binunicode8", 0x56: "op_unicode",
    0x42: "op_binbytes", 0x43: "op_short_binbytes", 0x8E: "op_binbytes8", 0x96: "op_bytearray8",
    0x54: "op_binstring", 0x55: "op_short_binstring", 0x53: "op_string",
    # containers and the stack
    0x5D: "op_empty_list", 0x29: "op_empty_tuple", 0x7D: "op_empty_dict", 0x8F: "op_empty_set",
    0x28: "op_mark", 0x31: "op_pop_mark", 0x6C: "op_list", 0x74: "op_tuple",
    0x85: "op_tuple1", 0x86: "op_tuple2", 0x87: "op_tuple3", 0x64: "op_dict",
    0x61: "op_append", 0x65: "op_appends", 0x73: "op_setitem", 0x75: "op_setitems",
    0x90: "op_additems", 0x91: "op_frozenset", 0x30: "op_pop", 0x32: "op_dup",
    # the memo
    0x67: "op_get", 0x68: "op_binget", 0x6A: "op_long_binget",
    0x70: "op_put", 0x71: "op_binput", 0x72: "op_long_binput", 0x94: "op_memoize",
    # globals, calls and state: only through handlers
    0x63: "op_global", 0x93: "op_stack_global", 0x52: "op_reduce", 0x81: "op_newobj", 0x92: "op_newobj_ex",
    0x62: "op_build", 0x50: "op_persid", 0x51: "op_binpersid",
}

#: Opcodes refused outright: their byte -> why (completing "refusing …").
REFUSED: dict[int, str] = {
    0x69: "INST/OBJ opcodes (they instantiate classes)",  # INST
    0x6F: "INST/OBJ opcodes (they instantiate classes)",  # OBJ
    0x82: "EXT opcodes (the copyreg extension registry)",  # EXT1
    0x83: "EXT opcodes (the copyreg extension registry)",  # EXT2
    0x84: "EXT opcodes (the copyreg extension registry)",  # EXT4
    0x97: "out-of-band buffers (NEXT_BUFFER/READONLY_BUFFER)",  # NEXT_BUFFER
    0x98: "out-of-band buffers (NEXT_BUFFER/READONLY_BUFFER)",  # READONLY_BUFFER
}


def _clip(text: str, n: int = 80) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


_EMPTY_LIST_BYTES = sys.getsizeof([])
_EMPTY_DICT_BYTES = sys.getsizeof({})
_EMPTY_SET_BYTES = sys.getsizeof(set())
_TUPLE_BYTES = {n: sys.getsizeof((None,) * n) for n in (1, 2, 3)}


class RestrictedUnpickler(PickleStream):
    """Read one pickle from ``data`` with only ``handlers`` as globals.

    Parameters
    ----------
    handlers : mapping
        ``(module, name) -> Handler``.
    persistent_load : callable, optional
        ``f(reader, pid) -> object`` for persistent ids; without it they are refused.
    data, where, error, limits, start, path, what
        As :class:`~panda_viz.fileio.pickle_stream.PickleStream`'s.

    Attributes
    ----------
    position : int
        Offset just past the ``STOP`` opcode after :meth:`load`.
    marks : list of list
        The stack segments below each open ``MARK`` (:attr:`stack` is the one above the last).
    memo : dict
        What ``PUT``/``MEMOIZE`` stored.
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
        super().__init__(data, where=where, error=error, limits=limits, start=start, path=path, what=what)
        self.handlers = handlers
        self.persistent = persistent_load
        self.marks: list[list[Any]] = []
        self.memo: dict[int, Any] = {}
        self.result: Any = None

    def load(self) -> Any:
        """Run the stream to its ``STOP`` and return the top of the stack (not yet finished).

        One method per opcode, found in a dict of bound methods: every opcode costs about
        the same, so no choice of opcodes makes a stream slow to read (about a microsecond
        each).
        """
        dispatch = {code: getattr(self, name) for code, name in OPCODES.items()}
        raw = self.raw
        size = len(raw)
        with gc_paused():
            while True:
                position = self.position
                if position >= size:
                    raise self.truncated(1)
                code = raw[position]
                self.opcode_at = position
                self.position = position + 1
                operation = dispatch.get(code)
                if operation is None:
                    if code in REFUSED:
                        raise self.unsafe(REFUSED[code])
                    raise self.fail(f"unknown opcode {bytes([code])!r}: not a pickle, or a corrupt one")
                if operation():  # only STOP returns True
                    return self.result

    # ------------------------------------------------------------------ the stack
    def pop(self) -> Any:
        """The top of the stack, removed."""
        if not self.stack:
            raise self.fail("the stack is empty")
        return self.stack.pop()

    def top(self) -> Any:
        """The top of the stack, left there."""
        if not self.stack:
            raise self.fail("the stack is empty")
        return self.stack[-1]

    def pop_mark(self) -> list[Any]:
        """The items above the last ``MARK``; the stack below it becomes the stack again."""
        if not self.marks:
            raise self.fail("a MARK-based opcode without a MARK")
        items = self.stack
        self.stack = self.marks.pop()
        return items

    def push_new(self, value: Any) -> None:
        """Push a container just created, charging its size."""
        self.charge(sys.getsizeof(value))
        self.stack.append(value)

    def check_key(self, key: Any) -> Any:
        """``key`` if it may be a dict key or set item: a scalar, or a tuple of scalars."""
        if type(key) in SCALAR_TYPES:
            return key
        if type(key) is tuple and all(type(k) in SCALAR_TYPES for k in key):
            return key
        raise self.fail(f"a dict key or set item must be a str, number, bytes or None; got {describe(key)}")

    def set_items(self, target: Any, items: list[Any]) -> None:
        """``target[key] = value`` for the (key, value) pairs laid flat in ``items``."""
        if not isinstance(target, dict):
            raise self.fail(f"SETITEM(S) on {describe(target)}: only dicts take items")
        if len(items) % 2:
            raise self.fail("SETITEMS with an odd number of stack items")
        for i in range(0, len(items), 2):
            target[self.check_key(items[i])] = items[i + 1]

    # ------------------------------------------------------------------ control
    def op_stop(self) -> bool:
        self.result = self.pop()
        return True

    def op_mark(self) -> None:
        self.charge(_EMPTY_LIST_BYTES)  # the new stack segment
        self.marks.append(self.stack)
        self.stack = []

    def op_pop_mark(self) -> None:
        self.pop_mark()

    def op_pop(self) -> None:
        if self.stack:
            self.stack.pop()
        else:
            self.pop_mark()

    def op_dup(self) -> None:
        self.stack.append(self.top())

    # ------------------------------------------------------------------ containers
    def op_empty_list(self) -> None:
        self.charge(_EMPTY_LIST_BYTES)
        self.stack.append([])

    def op_empty_tuple(self) -> None:
        self.stack.append(())  # a singleton: nothing is created

    def op_empty_dict(self) -> None:
        self.charge(_EMPTY_DICT_BYTES)
        self.stack.append({})

    def op_empty_set(self) -> None:
        self.charge(_EMPTY_SET_BYTES)
        self.stack.append(set())

    def op_list(self) -> None:
        self.push_new(list(self.pop_mark()))

    def op_tuple(self) -> None:
        self.push_new(tuple(self.pop_mark()))

    def op_tuple1(self) -> None:
        stack = self.stack
        if not stack:
            raise self.fail("the stack is too short for TUPLE1")
        self.charge(_TUPLE_BYTES[1])
        stack[-1] = (stack[-1],)

    def _tuple_n(self, n: int) -> None:
        stack = self.stack
        if len(stack) < n:
            raise self.fail(f"the stack is too short for TUPLE{n}")
        self.charge(_TUPLE_BYTES[n])
        items = tuple(stack[-n:])
        del stack[-n:]
        stack.append(items)

    def op_tuple2(self) -> None:
        self._tuple_n(2)

    def op_tuple3(self) -> None:
        self._tuple_n(3)

    def op_dict(self) -> None:
        items = self.pop_mark()
        target: dict = {}
        self.set_items(target, items)
        self.push_new(target)

    def op_append(self) -> None:
        value = self.pop()
        target = self.top()
        if type(target) is not list:
            raise self.fail(f"APPEND to {describe(target)}: only lists take appends")
        target.append(value)

    def op_appends(self) -> None:
        items = self.pop_mark()
        target = self.top()
        if type(target) is not list:
            raise self.fail(f"APPENDS to {describe(target)}: only lists take appends")
        target.extend(items)

    def op_setitem(self) -> None:
        value = self.pop()
        key = self.pop()
        self.set_items(self.top(), [key, value])

    def op_setitems(self) -> None:
        items = self.pop_mark()
        self.set_items(self.top(), items)

    def op_additems(self) -> None:
        items = self.pop_mark()
        target = self.top()
        if type(target) is not set:
            raise self.fail(f"ADDITEMS to {describe(target)}: only sets take items")
        target.update(self.check_key(item) for item in items)

    def op_frozenset(self) -> None:
        self.push_new(frozenset(self.check_key(item) for item in self.pop_mark()))

    # ------------------------------------------------------------------ the memo
    def _memo_get(self, index: int) -> None:
        try:
            self.stack.append(self.memo[index])
        except KeyError:
            raise self.fail(f"memo entry {index} is used before it is stored") from None

    def _memo_put(self, index: int) -> None:
        memo = self.memo
        if index not in memo and len(memo) >= self.limits.max_memo:
            raise self.limit(f"the pickle stores more than {self.limits.max_memo:,} memo entries")
        memo[index] = self.top()

    def op_get(self) -> None:
        self._memo_get(self.int_text(self.readline()))

    def op_binget(self) -> None:
        self._memo_get(self.read(1)[0])

    def op_long_binget(self) -> None:
        self._memo_get(self.sized("<I", 4))

    def op_put(self) -> None:
        self._memo_put(self.int_text(self.readline()))

    def op_binput(self) -> None:
        self._memo_put(self.read(1)[0])

    def op_long_binput(self) -> None:
        self._memo_put(self.sized("<I", 4))

    def op_memoize(self) -> None:
        self._memo_put(len(self.memo))

    # ------------------------------------------------------------------ globals, calls and state
    def _resolve(self, module: str, name: str) -> Handler:
        handler = self.handlers.get((_PYTHON2_MODULES.get(module, module), name))
        if handler is None:
            allowed = ", ".join(sorted(f"{m}.{n}" for m, n in self.handlers))
            raise self.unsafe(
                f"to load global {_clip(module)}.{_clip(name)}: this file needs only tensor data and containers, and "
                f"this reader resolves nothing else (allowed: {allowed})"
            )
        return handler

    def op_global(self) -> None:
        module = self.decode(self.readline(), "utf-8")
        name = self.decode(self.readline(), "utf-8")
        self.stack.append(self._resolve(module, name))

    def op_stack_global(self) -> None:
        name = self.pop()
        module = self.pop()
        if type(module) is not str or type(name) is not str:
            raise self.fail("STACK_GLOBAL needs a module and a name as str")
        self.stack.append(self._resolve(module, name))

    def op_reduce(self) -> None:
        args = self.pop()
        function = self.pop()
        if not isinstance(function, Handler):
            raise self.unsafe(f"a REDUCE that calls {describe(function)}, which is not an allowed global")
        if type(args) is not tuple:
            raise self.fail(f"REDUCE with arguments {describe(args)}, not a tuple")
        self.push_new(function.call(self, args))

    def _newobj(self, with_kwargs: bool) -> None:
        kwargs = self.pop() if with_kwargs else {}
        args = self.pop()
        cls = self.pop()
        if not isinstance(cls, Handler):
            raise self.unsafe(f"a NEWOBJ of {describe(cls)}, which is not an allowed global")
        if type(args) is not tuple or kwargs:
            raise self.fail("NEWOBJ with arguments that are not a tuple, or with keyword arguments")
        self.push_new(cls.new(self, args))

    def op_newobj(self) -> None:
        self._newobj(False)

    def op_newobj_ex(self) -> None:
        self._newobj(True)

    def op_build(self) -> None:
        value = self.pop()
        target = self.top()
        if isinstance(target, Placeholder):
            target.build(self, value)
        elif type(target) is collections.OrderedDict:
            self._build_ordered_dict(target, value)
        elif type(target) is PlainDict:
            target.build(self, value)
        else:
            raise self.fail(f"BUILD on {describe(target)} is not allowed")

    def _build_ordered_dict(self, target: collections.OrderedDict, state: Any) -> None:
        """``OrderedDict`` BUILD: torch state dicts carry ``_metadata`` (module versions) this way."""
        if state is None:
            return
        if type(state) is tuple and len(state) == 2 and state[1] is None:  # (dict state, slots)
            state = state[0]
        if type(state) is not dict or set(state) - {"_metadata"}:
            raise self.fail(f"BUILD on an OrderedDict may set only '_metadata'; got {describe(state)}")
        if "_metadata" in state:
            if type(state["_metadata"]) not in (dict, collections.OrderedDict):
                raise self.fail(f"an OrderedDict's '_metadata' must be a dict; got {describe(state['_metadata'])}")
            target._metadata = state["_metadata"]  # type: ignore[attr-defined]

    def _persistent(self, pid: Any) -> None:
        if self.persistent is None:
            raise self.unsafe(f"persistent id {describe(pid)}: not part of this format")
        self.stack.append(self.persistent(self, pid))

    def op_persid(self) -> None:
        self._persistent(self.decode(self.readline(), "ascii"))

    def op_binpersid(self) -> None:
        self._persistent(self.pop())
