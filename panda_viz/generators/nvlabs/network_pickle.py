"""A safe reader of NVlabs' network pickles (StyleGAN2-ADA-PyTorch, StyleGAN3).

Official ``network-snapshot-*.pkl`` files are plain Python pickles. Their networks were
pickled by ``torch_utils.persistence``: each one calls the global
``torch_utils.persistence._reconstruct_persistent_obj(meta)``, where ``meta`` holds the
class name, the *full source code* of the module that defined the class (which the
official loader executes), and the object's ``__dict__``. ``pickle.load`` on such a file
runs whatever the file names; this reader does not.

:class:`SafeUnpickler` runs the stream through
:class:`~panda_viz.fileio.safe_pickle.RestrictedUnpickler` with an allow-list of
globals, each a handler that checks its arguments and returns data: tensor rebuilds (over
storages read by :mod:`panda_viz.fileio.torch_files`, checked against their bytes),
``OrderedDict``, ``set``, bytes in protocols 0-2 (``_codecs.encode(str, 'latin1')``),
numeric NumPy dtypes/arrays/scalars, ``dnnlib.util.EasyDict`` (as a plain ``dict``), and
the persistence reconstructor, whose metadata becomes a :class:`PersistentRecord` (class
name and state, data only) once the stream has ended, so no later opcode can rewrite it.
Anything else is refused with :class:`UnsafePickleError` when the stream *names* it,
before any object is built from it. ``module_src`` is kept as text and never executed.
Sizes, counts and nesting are bounded (:class:`~panda_viz.fileio.safe_pickle.PickleLimits`).

Examples
--------
>>> data = load_network_pickle("stylegan3-t-ffhq-1024x1024.pkl")
>>> G = data["G_ema"]                        # a PersistentRecord
>>> G.class_name, G.state["_init_kwargs"]["z_dim"]
('Generator', 512)
>>> weights = record_state_dict(G)            # {'mapping.fc0.weight': tensor, ...}
"""

from __future__ import annotations

import io
import mmap
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch

from ..._checks import describe
from ...exceptions import FileLimitError, NetworkPickleError, UnsafePickleError
from ...fileio.pickle_data import TokenHandler
from ...fileio.pickle_objects import Finisher, Handler, Placeholder, PlainDict
from ...fileio.pickle_stream import PickleLimits
from ...fileio.safe_pickle import RestrictedUnpickler
from ...fileio.torch_files import Storage, finisher_for, read_legacy, torch_handlers

__all__ = [
    "PersistentRecord",
    "SafeUnpickler",
    "UnsafePickleError",
    "NetworkPickleError",
    "load_network_pickle",
    "record_state_dict",
    "plain",
    "ALLOWED_GLOBALS",
]

#: The reserved keys of a record's state and what each must hold.
_RECORD_STATE_KEYS = ("_parameters", "_buffers", "_modules", "_init_args", "_init_kwargs", "_non_persistent_buffers_set")
_META_KEYS = {"type", "version", "module_src", "class_name", "state"}


@dataclass(frozen=True)
class PersistentRecord:
    """What ``torch_utils.persistence`` pickled for one network object, as data.

    Attributes
    ----------
    class_name : str
        e.g. ``'Generator'``, ``'SynthesisNetwork'``, ``'SynthesisLayer'``.
    state : dict
        The object's ``__dict__``: ``_parameters`` and ``_buffers`` (name -> tensor or
        None), ``_modules`` (name -> record or None), ``_init_args`` (list),
        ``_init_kwargs`` (dict with str keys) and plain attributes; checked when read.
    module_src : str
        Source code of the defining module, as text (never executed).
    version : int or None
        The persistence format version.
    """

    class_name: str
    state: dict = field(repr=False)
    module_src: str = field(default="", repr=False)
    version: int | None = None

    @property
    def module_classes(self) -> list[str]:
        """Names of the classes that ``module_src`` defines (read from the text)."""
        return re.findall(r"^class\s+(\w+)", self.module_src or "", flags=re.MULTILINE)

    @property
    def children(self) -> dict[str, Any]:
        """The sub-modules: name -> :class:`PersistentRecord` (or ``None``)."""
        return dict(self.state.get("_modules") or {})


class _PendingRecord(Placeholder):
    """``_reconstruct_persistent_obj(meta)``: checked and built only when the stream has ended."""

    def __init__(self, meta: dict) -> None:
        self.meta = meta

    def finish(self, finisher: Finisher, depth: int) -> PersistentRecord:
        meta = self.meta
        where = "a pickled network object"

        def fail(message: str) -> NetworkPickleError:
            return finisher.fail(f"{where}: {message}")

        if type(meta) is not dict:
            raise fail(f"its metadata must be a dict; got {describe(meta)}")
        if not all(type(key) is str for key in meta):
            raise fail("its metadata keys must be str")
        if meta.get("type") != "class":
            raise fail(f"unsupported persistent object type {describe(meta.get('type'))} (expected 'class')")
        class_name = meta.get("class_name")
        if type(class_name) is not str or not class_name.isidentifier() or len(class_name) > 200:
            raise fail(f"class_name must be a str naming a class; got {describe(class_name)}")
        where = f"pickled network object {class_name!r}"
        module_src = meta.get("module_src")
        if module_src is not None and type(module_src) is not str:
            raise fail(f"module_src must be text (str) or None; got {describe(module_src)}")
        version = meta.get("version")
        if version is not None and type(version) is not int:
            raise fail(f"version must be an int or None; got {describe(version)}")
        state = meta.get("state")
        state = {} if state is None else state
        if type(state) not in (dict, PlainDict):
            raise fail(f"its state must be a dict; got {describe(state)}")
        state = finisher(state, depth + 1)
        _check_record_state(state, fail)
        return PersistentRecord(class_name=class_name, state=state, module_src=module_src or "", version=version)


def _check_record_state(state: dict, fail: Any) -> None:
    """The reserved keys of a record's state hold what ``nn.Module`` keeps there."""
    bad_keys = [describe(key) for key in state if type(key) is not str]
    if bad_keys:
        raise fail(f"state keys must be str; got {', '.join(bad_keys[:3])}")
    for group, kinds, what in (
        ("_parameters", (torch.Tensor,), "tensors"),
        ("_buffers", (torch.Tensor,), "tensors"),
        ("_modules", (PersistentRecord,), "pickled network objects"),
    ):
        value = state.get(group)
        if value is None:
            continue
        if not isinstance(value, dict):
            raise fail(f"'{group}' must be a dict of name -> {what}; got {describe(value)}")
        for name, item in value.items():
            if type(name) is not str or not name:
                raise fail(f"'{group}' has a key {describe(name)}; names must be non-empty str")
            if item is not None and not isinstance(item, kinds):
                raise fail(f"'{group}'[{name!r}] holds {describe(item)}; expected one of {what} or None")
    kwargs = state.get("_init_kwargs")
    if kwargs is not None:
        if not isinstance(kwargs, dict):
            raise fail(f"'_init_kwargs' must be a dict of keyword arguments; got {describe(kwargs)}")
        bad = [describe(key) for key in kwargs if type(key) is not str]
        if bad:
            raise fail(f"'_init_kwargs' keys must be argument names (str); got {', '.join(bad[:3])}")
    args = state.get("_init_args")
    if args is not None and type(args) not in (list, tuple):
        raise fail(f"'_init_args' must be a list or tuple; got {describe(args)}")
    skip = state.get("_non_persistent_buffers_set")
    if skip is not None and (type(skip) not in (set, frozenset, list, tuple) or not all(type(n) is str for n in skip)):
        raise fail(f"'_non_persistent_buffers_set' must be a set of names; got {describe(skip)}")


class _ReconstructHandler(Handler):
    """``torch_utils.persistence._reconstruct_persistent_obj(meta)``."""

    def call(self, reader: RestrictedUnpickler, args: tuple) -> _PendingRecord:
        if len(args) != 1 or type(args[0]) is not dict:
            raise reader.fail(f"_reconstruct_persistent_obj takes one metadata dict; got {describe(args)}")
        return _PendingRecord(args[0])


class _EasyDictHandler(Handler):
    """``dnnlib.util.EasyDict``: a plain dict (attribute access is not restored)."""

    def new(self, reader: RestrictedUnpickler, args: tuple) -> PlainDict:
        if args:
            raise reader.fail(f"EasyDict is created empty and then filled; got arguments {describe(args)}")
        return PlainDict()

    def call(self, reader: RestrictedUnpickler, args: tuple) -> PlainDict:
        if not args:
            return PlainDict()
        if len(args) == 1 and type(args[0]) in (dict, PlainDict) and all(type(k) is str for k in args[0]):
            return PlainDict(args[0])
        raise reader.fail(f"EasyDict takes nothing or one dict with str keys; got {describe(args)}")


class _CopyregReconstructor(Handler):
    """``copyreg._reconstructor(EasyDict, dict, state)``: how protocols 0-1 write an EasyDict."""

    def call(self, reader: RestrictedUnpickler, args: tuple) -> PlainDict:
        if (len(args) != 3 or not isinstance(args[0], _EasyDictHandler)
                or not (isinstance(args[1], TokenHandler) and args[1].qualname == "builtins.dict")
                or type(args[2]) not in (dict, PlainDict, type(None))):
            raise reader.unsafe(f"copyreg._reconstructor other than (EasyDict, dict, items); got {describe(args)}")
        return PlainDict(args[2] or {})


class _LoadFromBytes(Handler):
    """``torch.storage._load_from_bytes(data)``: a storage in the legacy torch.save format."""

    def call(self, reader: RestrictedUnpickler, args: tuple) -> Storage:
        if len(args) != 1 or type(args[0]) not in (bytes, bytearray):
            raise reader.fail(f"_load_from_bytes takes the bytes of one storage; got {describe(args)}")
        storage = read_legacy(args[0], f"{reader.where} (a tensor storage at byte {reader.opcode_at})",
                              path=reader.path, error=reader.error, limits=reader.limits, finish=False)
        if not isinstance(storage, Storage) or storage.flat is None:
            raise reader.fail(f"an embedded tensor storage holds {describe(storage)}, not one storage")
        return storage


def _nvlabs_handlers() -> dict[tuple[str, str], Handler]:
    handlers = torch_handlers()
    easydict = _EasyDictHandler("dnnlib.util.EasyDict")
    handlers.update({
        ("torch_utils.persistence", "_reconstruct_persistent_obj"): _ReconstructHandler("torch_utils.persistence._reconstruct_persistent_obj"),
        ("dnnlib.util", "EasyDict"): easydict,
        ("dnnlib", "EasyDict"): easydict,
        ("copyreg", "_reconstructor"): _CopyregReconstructor("copyreg._reconstructor"),
        ("builtins", "dict"): TokenHandler("builtins.dict"),
        ("torch.storage", "_load_from_bytes"): _LoadFromBytes("torch.storage._load_from_bytes"),
    })
    return handlers


#: (module, name) -> the handler the stream gets instead. Everything else is refused.
#: Python 2 names that protocols 0-2 write (``__builtin__``, ``copy_reg``) map to these.
ALLOWED_GLOBALS: dict[tuple[str, str], Handler] = _nvlabs_handlers()


class SafeUnpickler:
    """Read a network pickle from a binary file object with only :data:`ALLOWED_GLOBALS`.

    A global the stream names outside the allow-list is refused before anything is built
    from it; persistent ids are refused (they belong to ``torch.save``'s zip format).

    Parameters
    ----------
    file : binary file object
    where : str, optional
        The file's name, for messages.
    limits : PickleLimits
    """

    def __init__(self, file: IO[bytes], where: str | None = None, *, limits: PickleLimits = PickleLimits(), path: Any = None) -> None:
        self.file, self.limits, self.path = file, limits, path
        self.where = where or str(getattr(file, "name", "<stream>"))

    def load(self) -> Any:
        """The pickled object, network objects as :class:`PersistentRecord`.

        A file on disk is memory-mapped (a sparse file of gigabytes costs nothing until the
        reader gets there); other streams are read whole.
        """
        try:
            fileno = self.file.fileno()
        except (AttributeError, OSError, io.UnsupportedOperation):
            fileno = None
        if fileno is not None:
            if os.fstat(fileno).st_size == 0:
                raise NetworkPickleError(f"{self.where} is empty (0 bytes): not a network pickle", self.path)
            with mmap.mmap(fileno, 0, access=mmap.ACCESS_READ) as data:
                return self._read(data)
        data = self.file.read()
        if not isinstance(data, (bytes, bytearray)):
            raise NetworkPickleError(f"{self.where}: expected a binary file; read {describe(data)}", self.path)
        if not data:
            raise NetworkPickleError(f"{self.where} is empty (0 bytes): not a network pickle", self.path)
        return self._read(data)

    def _read(self, data: Any) -> Any:
        reader = RestrictedUnpickler(data, ALLOWED_GLOBALS, where=self.where, error=NetworkPickleError,
                                     limits=self.limits, path=self.path)
        result = reader.load()
        return finisher_for(self.where, error=NetworkPickleError, path=self.path, limits=self.limits)(result)


def load_network_pickle(source: str | os.PathLike | IO[bytes], *, limits: PickleLimits = PickleLimits()) -> Any:
    """Read a network pickle safely; network objects come back as :class:`PersistentRecord`.

    Parameters
    ----------
    source : path or binary file object
    limits : PickleLimits
        Caps on containers, memo entries, integer sizes, nesting and expanded values.

    Returns
    -------
    object
        For official pickles a dict with keys such as ``'G'``, ``'D'``, ``'G_ema'``,
        ``'training_set_kwargs'``, ``'augment_pipe'``.

    Raises
    ------
    UnsafePickleError
        The stream names a global or opcode outside the allow-list (nothing was run).
    FileLimitError
        The stream declares sizes, counts or nesting past the limits (nothing was
        allocated for them).
    NetworkPickleError
        The file is empty, truncated, corrupt, a zip archive, or not a pickle.
    """
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        with open(path, "rb") as handle:
            return _load(handle, str(path), path, limits)
    return _load(source, str(getattr(source, "name", "<stream>")), None, limits)


def _load(handle: IO[bytes], where: str, path: Path | None, limits: PickleLimits) -> Any:
    head = handle.peek(2)[:2] if hasattr(handle, "peek") else b""
    if head[:2] == b"PK":
        raise NetworkPickleError(
            f"{where} is a zip archive (a torch.save file?), not a network pickle; "
            "for a state dict use a .pt/.pth path with config=", path,
        )
    try:
        return SafeUnpickler(handle, where, limits=limits, path=path).load()
    except (UnsafePickleError, NetworkPickleError, FileLimitError):
        raise
    except RecursionError:
        raise FileLimitError(f"{where}: the data nests too deeply", path) from None
    except MemoryError:
        raise
    except Exception as error:  # noqa: BLE001  (a safety net: every failure names the file)
        raise NetworkPickleError(f"{where} is not a readable pickle ({type(error).__name__}: {error})", path) from None


def plain(value: Any, *, max_depth: int = 100) -> Any:
    """``value`` with EasyDicts and OrderedDicts as dicts, tuples as lists, NumPy scalars as
    Python numbers (for keyword arguments read from a pickle).

    Raises
    ------
    FileLimitError
        Nesting deeper than ``max_depth`` (or a structure that contains itself).
    """

    def convert(item: Any, depth: int) -> Any:
        if depth > max_depth:
            raise FileLimitError(f"keyword arguments nest deeper than {max_depth} levels (or contain themselves)")
        if isinstance(item, dict):
            return {key: convert(inner, depth + 1) for key, inner in item.items()}
        if isinstance(item, (list, tuple)):
            return [convert(inner, depth + 1) for inner in item]
        if isinstance(item, np.generic):
            return item.item()
        return item

    return convert(value, 0)


def record_state_dict(record: PersistentRecord, prefix: str = "", *, max_depth: int = 64) -> dict[str, torch.Tensor]:
    """The ``state_dict()`` that the recorded module would have: parameters and persistent
    buffers of it and its children, keyed by dotted path.

    Raises
    ------
    NetworkPickleError
        A child that is not a record, a parameter that is not a tensor.
    FileLimitError
        Modules nested deeper than ``max_depth``.
    """
    out: dict[str, torch.Tensor] = {}
    pending: list[tuple[Any, str, int]] = [(record, prefix, 0)]
    while pending:
        node, path, depth = pending.pop()
        if not isinstance(node, PersistentRecord):
            raise NetworkPickleError(f"expected a pickled network object at {path.rstrip('.') or 'top level'!r}; got {type(node).__name__}")
        if depth > max_depth:
            raise FileLimitError(f"pickled modules nest deeper than {max_depth} levels at {path.rstrip('.')!r}")
        state = node.state
        skip = set(state.get("_non_persistent_buffers_set") or ())
        for group in ("_parameters", "_buffers"):
            for name, tensor in (state.get(group) or {}).items():
                if tensor is None or (group == "_buffers" and name in skip):
                    continue
                if not isinstance(tensor, torch.Tensor):
                    raise NetworkPickleError(f"{path}{name} holds a {type(tensor).__name__}, expected a tensor")
                out[path + name] = tensor.detach()
        children = [(child, f"{path}{name}.", depth + 1) for name, child in (state.get("_modules") or {}).items() if child is not None]
        pending.extend(reversed(children))
    return out
