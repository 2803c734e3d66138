"""``torch.save`` files read as data: tensors and plain containers, never code.

Both formats ``torch.save`` has written are read without ``torch.load``:

- the zip format (torch >= 1.6): ``<name>/data.pkl`` (a pickle whose persistent ids name
  storages) and one uncompressed record ``<name>/data/<key>`` per storage;
- the legacy format (``_use_new_zipfile_serialization=False``, torch < 1.6, and the bytes
  of ``torch.storage._load_from_bytes`` inside NVlabs network pickles): pickles for the
  magic number, protocol, system info, the object and the storage keys, then each
  storage as an 8-byte element count and its bytes.

The pickles run through :class:`~panda_viz.fileio.safe_pickle.RestrictedUnpickler`
with tensor rebuilds as the only calls. What a file declares is checked against what it
holds before anything is allocated: a storage's element count against its record or its
bytes, and every tensor's offset, shape and strides against its storage. A tensor may not
have more elements than its storage (an expanded, stride-0 view could otherwise declare
any size over a few bytes); only members the format defines are read, uncompressed, and
the pickle itself at most :data:`MAX_PICKLE_BYTES`.
"""

from __future__ import annotations

import math
import mmap
import os
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._checks import describe
from ..exceptions import FileLimitError, InvalidFileError, UnsafePickleError
from .pickle_data import check_stream_int, check_stream_shape, data_handlers
from .pickle_objects import Finisher, Handler, Placeholder
from .pickle_stream import PickleLimits
from .safe_pickle import RestrictedUnpickler

__all__ = [
    "STORAGE_DTYPES",
    "MAX_PICKLE_BYTES",
    "Storage",
    "torch_handlers",
    "load_torch_file",
    "read_legacy",
    "finisher_for",
]

#: torch's storage classes, as pickles name them, and the dtype of their elements.
STORAGE_DTYPES: dict[str, torch.dtype] = {
    "FloatStorage": torch.float32,
    "DoubleStorage": torch.float64,
    "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "ShortStorage": torch.int16,
    "CharStorage": torch.int8,
    "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
    "ComplexFloatStorage": torch.complex64,
    "ComplexDoubleStorage": torch.complex128,
    "UntypedStorage": torch.uint8,
}

#: The largest object pickle (``data.pkl``, or a legacy file's object) read; weights live in
#: the storages, so a state dict's pickle is kilobytes.
MAX_PICKLE_BYTES = 256 * 1024 * 1024
#: Members of a zip checkpoint (a state dict has one per tensor, plus a few).
MAX_ZIP_MEMBERS = 1_000_000
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001


class Storage:
    """A storage read from a file: ``numel`` elements of ``dtype``, filled once from its bytes."""

    def __init__(self, dtype: torch.dtype, numel: int, key: str) -> None:
        self.dtype, self.numel, self.key = dtype, numel, key
        self.flat: torch.Tensor | None = None

    @property
    def nbytes(self) -> int:
        return self.numel * torch.empty(0, dtype=self.dtype).element_size()

    def fill(self, raw: bytes | bytearray | memoryview) -> None:
        """The storage's bytes (exactly :attr:`nbytes` of them, checked by the caller); a
        ``bytearray`` is used in place, anything else copied."""
        buffer = raw if isinstance(raw, bytearray) else bytearray(raw)
        if self.numel == 0:
            self.flat = torch.empty(0, dtype=self.dtype)
        elif self.dtype == torch.bool:
            self.flat = torch.frombuffer(buffer, dtype=torch.uint8) != 0
        else:
            self.flat = torch.frombuffer(buffer, dtype=self.dtype)


class _StorageType(Handler):
    """``torch.FloatStorage`` …: only an argument of a persistent id."""

    def __init__(self, qualname: str, dtype: torch.dtype) -> None:
        super().__init__(qualname)
        self.dtype = dtype


class _PendingTensor(Placeholder):
    """A tensor over a :class:`Storage`, checked when declared and made when the data ends."""

    def __init__(self, storage: Storage, offset: int, size: tuple[int, ...], stride: tuple[int, ...]) -> None:
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride
        self.tensor: torch.Tensor | None = None

    def finish(self, finisher: Finisher, depth: int) -> torch.Tensor:
        if self.tensor is None:
            if self.storage.flat is None:
                raise finisher.fail(f"storage {describe(self.storage.key)} is used by a tensor but its data is missing")
            self.tensor = self.storage.flat.as_strided(self.size, self.stride, self.offset)
        return self.tensor


class _RebuildTensor(Handler):
    """``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad,
    backward_hooks[, metadata])`` and the older ``_rebuild_tensor(storage, offset, size, stride)``."""

    def __init__(self, qualname: str, v2: bool) -> None:
        super().__init__(qualname)
        self.v2 = v2

    def call(self, reader: RestrictedUnpickler, args: tuple) -> _PendingTensor:
        counts = (6, 7) if self.v2 else (4,)
        if len(args) not in counts:
            raise reader.fail(f"{self.qualname} takes {' or '.join(map(str, counts))} arguments; got {len(args)}")
        storage, offset, size, stride = args[:4]
        if not isinstance(storage, Storage):
            raise reader.fail(f"a tensor's storage must be a storage record; got {describe(storage)}")
        offset = check_stream_int(reader, offset, "a tensor's storage offset")
        size = check_stream_shape(reader, size, "a tensor's size")
        stride = check_stream_shape(reader, stride, "a tensor's stride")
        if len(size) != len(stride):
            raise reader.fail(f"a tensor's size {size} and stride {stride} differ in length")
        if self.v2:
            if type(args[4]) is not bool:
                raise reader.fail(f"requires_grad must be a bool; got {describe(args[4])}")
            if not isinstance(args[5], dict) or args[5]:
                raise reader.unsafe("a tensor with backward hooks (hooks are code)")
        numel = math.prod(size)
        if numel:
            last = offset + sum((n - 1) * s for n, s in zip(size, stride))
            if last >= storage.numel:
                raise reader.fail(
                    f"a tensor of size {size}, stride {stride} at offset {offset} reaches element {last:,} "
                    f"of storage {describe(storage.key)}, which holds {storage.numel:,}"
                )
            if numel > storage.numel:
                raise reader.fail(
                    f"a tensor declares {numel:,} elements (size {size}, stride {stride}) over storage "
                    f"{describe(storage.key)} of {storage.numel:,}: expanded views are not read, "
                    "weights must be stored in full"
                )
        elif offset > storage.numel:
            raise reader.fail(f"a tensor's offset {offset} is past its storage of {storage.numel:,} elements")
        return _PendingTensor(storage, offset, size, stride)


class _RebuildParameter(Handler):
    """``torch._utils._rebuild_parameter(data, requires_grad, hooks)`` (and ``_with_state``): the data."""

    def call(self, reader: RestrictedUnpickler, args: tuple) -> _PendingTensor:
        if len(args) not in (3, 4) or not isinstance(args[0], _PendingTensor):
            raise reader.fail(f"{self.qualname} takes a tensor and 2 or 3 more arguments; got {describe(args)}")
        if not isinstance(args[2], dict) or args[2]:
            raise reader.unsafe("a parameter with backward hooks (hooks are code)")
        return args[0]


def torch_handlers() -> dict[tuple[str, str], Handler]:
    """Handlers for what ``torch.save`` pickles: plain data, tensors, parameters, storages."""
    handlers = data_handlers()
    handlers[("torch._utils", "_rebuild_tensor_v2")] = _RebuildTensor("torch._utils._rebuild_tensor_v2", v2=True)
    handlers[("torch._utils", "_rebuild_tensor")] = _RebuildTensor("torch._utils._rebuild_tensor", v2=False)
    handlers[("torch._utils", "_rebuild_parameter")] = _RebuildParameter("torch._utils._rebuild_parameter")
    handlers[("torch._utils", "_rebuild_parameter_with_state")] = _RebuildParameter("torch._utils._rebuild_parameter_with_state")
    for name, dtype in STORAGE_DTYPES.items():
        handlers[("torch", name)] = _StorageType(f"torch.{name}", dtype)
    handlers[("torch.storage", "UntypedStorage")] = _StorageType("torch.storage.UntypedStorage", torch.uint8)
    return handlers


def finisher_for(where: str, *, error: type[InvalidFileError] = InvalidFileError, path: Any = None,
                 limits: PickleLimits = PickleLimits()) -> Finisher:
    """A :class:`Finisher` whose leaves are tensors, arrays and NumPy scalars."""
    return Finisher(where, (torch.Tensor, np.ndarray, np.generic, np.dtype), limits=limits, error=error, path=path)


def _storage_loader(storages: dict[str, Storage], *, legacy: bool,
                    new_storage: Callable[[RestrictedUnpickler, _StorageType, str, int], Storage]) -> Callable[..., Storage]:
    """The ``persistent_load`` of a ``torch.save`` pickle: each storage id checked, a key
    declared again returning the same :class:`Storage` (type and size must agree), a new
    key made by ``new_storage(reader, kind, key, numel)`` and kept in ``storages``."""

    def persistent_load(reader: RestrictedUnpickler, pid: Any) -> Storage:
        kind, key, numel = _storage_id(reader, pid, legacy=legacy)
        if key not in storages:
            storages[key] = new_storage(reader, kind, key, numel)
        elif storages[key].dtype != kind.dtype or storages[key].numel != numel:
            raise reader.fail(f"storage {key!r} is declared twice with different types or sizes")
        return storages[key]

    return persistent_load


def _storage_id(reader: RestrictedUnpickler, pid: Any, *, legacy: bool) -> tuple[_StorageType, str, int]:
    """Check a persistent id ``('storage', type, key, location, numel[, view])``."""
    if type(pid) is not tuple or len(pid) not in (5, 6) or pid[0] != "storage":
        kind = describe(pid[0]) if type(pid) is tuple and pid else describe(pid)
        raise UnsafePickleError(
            f"{reader.where}: refusing persistent id {kind}: only storages ('storage', type, key, location, count) "
            "are read (saved modules would need their code); nothing from the file was run", reader.path,
        )
    _, kind, key, location, numel = pid[:5]
    if not isinstance(kind, _StorageType):
        raise reader.fail(f"a storage's type must be one of torch's storage classes; got {describe(kind)}")
    if type(key) is not str or not key or len(key) > 64 or "/" in key or "\\" in key or ".." in key:
        raise reader.fail(f"a storage key must be a short name; got {describe(key)}")
    if type(location) is not str:
        raise reader.fail(f"a storage location must be a str such as 'cpu'; got {describe(location)}")
    numel = check_stream_int(reader, numel, f"the element count of storage {describe(key)}")
    if legacy and len(pid) == 6 and pid[5] is not None:
        raise reader.fail("storage views (files of torch < 0.4) are not read")
    return kind, key, numel


def load_torch_file(path: str | os.PathLike, *, error: type[InvalidFileError] = InvalidFileError,
                    limits: PickleLimits = PickleLimits()) -> Any:
    """Read a ``torch.save`` file (zip or legacy format) into plain data with CPU tensors.

    Parameters
    ----------
    path : path
    error : type
        The :class:`~panda_viz.exceptions.InvalidFileError` subclass raised for a malformed file.
    limits : PickleLimits

    Returns
    -------
    object
        Dicts (``OrderedDict`` kept, with ``_metadata``), lists, tuples, scalars, tensors
        (views of the storages read), NumPy arrays and scalars.

    Raises
    ------
    InvalidFileError (or ``error``)
        An empty, truncated or corrupt file; not a ``torch.save`` file.
    UnsafePickleError
        The pickle names a global or persistent id outside the allow-list (nothing ran).
    FileLimitError
        Past a limit (pickle size, members, containers, nesting).
    """
    path = Path(path)
    where = str(path)
    size = path.stat().st_size
    if size == 0:
        raise error(f"{where} is empty (0 bytes): not a torch.save file", path)
    with open(path, "rb") as handle:
        head = handle.read(4)
        if head[:2] == b"PK":
            return _load_zip(handle, where, path, error, limits)
        if head[:1] != b"\x80":
            raise error(
                f"{where} is not a torch.save file: it starts with {head!r}, neither a zip archive "
                "(torch >= 1.6) nor a pickle (the legacy format)", path,
            )
        # memory-mapped: a sparse file of gigabytes costs nothing until the reader gets there
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as raw:
            return read_legacy(raw, where, path=path, error=error, limits=limits)


def _load_zip(handle: Any, where: str, path: Path, error: type[InvalidFileError], limits: PickleLimits) -> Any:
    try:
        archive = zipfile.ZipFile(handle)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise error(f"{where} is not a readable zip archive ({exc}); torch.save files of torch >= 1.6 are", path) from None
    archive_size = os.fstat(handle.fileno()).st_size
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_ZIP_MEMBERS:
            raise FileLimitError(f"{where} holds {len(infos):,} zip members (at most {MAX_ZIP_MEMBERS:,})", path)
        members = {info.filename: info for info in infos}
        pickles = [name for name in members if name.count("/") == 1 and name.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise error(
                f"{where} is a zip archive but not a torch.save file: expected one '<name>/data.pkl' member, "
                f"found {len(pickles)} (members: {', '.join(list(members)[:5])}{' …' if len(members) > 5 else ''})", path,
            )
        prefix = pickles[0][: -len("data.pkl")]

        def read_member(info: zipfile.ZipInfo, nbytes: int, what: str) -> bytearray:
            if info.compress_type != zipfile.ZIP_STORED:
                raise error(f"{where}: member {info.filename!r} ({what}) is compressed; torch.save stores members uncompressed", path)
            if info.compress_size != info.file_size or info.header_offset + info.compress_size > archive_size:
                raise error(
                    f"{where}: member {info.filename!r} declares {info.file_size:,} bytes, more than the "
                    f"{archive_size:,}-byte archive holds (truncated or corrupt)", path,
                )
            if info.file_size < nbytes:
                raise error(f"{where}: {what} declares {nbytes:,} bytes but member {info.filename!r} holds {info.file_size:,}", path)
            data = bytearray(nbytes)  # at most the member's size, itself within the file
            try:
                with archive.open(info) as member:
                    got = member.readinto(data)
            except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
                raise error(f"{where}: member {info.filename!r} cannot be read ({exc})", path) from None
            if got != nbytes:
                raise error(f"{where}: member {info.filename!r} ends early ({got:,} of {nbytes:,} bytes; truncated)", path)
            return data

        order = members.get(prefix + "byteorder")
        if order is not None:
            value = read_member(order, min(order.file_size, 16), "the byte order")
            if value != b"little":
                raise error(f"{where} was saved on a {value.decode('latin-1')!r}-endian machine; only little-endian files are read", path)
        info = members[pickles[0]]
        if info.file_size > MAX_PICKLE_BYTES:
            raise FileLimitError(f"{where}: its pickle declares {info.file_size:,} bytes (at most {MAX_PICKLE_BYTES:,})", path)
        data = read_member(info, info.file_size, "the pickle")
        storages: dict[str, Storage] = {}

        def read_storage(reader: RestrictedUnpickler, kind: _StorageType, key: str, numel: int) -> Storage:
            record = members.get(f"{prefix}data/{key}")
            if record is None:
                raise reader.fail(f"storage {key!r} has no record {prefix}data/{key} in the archive")
            storage = Storage(kind.dtype, numel, key)
            storage.fill(read_member(record, storage.nbytes, f"storage {key!r} ({numel:,} × {kind.dtype})"))
            return storage

        persistent_load = _storage_loader(storages, legacy=False, new_storage=read_storage)
        reader = RestrictedUnpickler(data, torch_handlers(), where=where, error=error, persistent_load=persistent_load,
                                     limits=limits, path=path)
        result = reader.load()
        return finisher_for(where, error=error, path=path, limits=limits)(result)


def read_legacy(raw: Any, where: str, *, path: Any = None, error: type[InvalidFileError] = InvalidFileError,
                limits: PickleLimits = PickleLimits(), finish: bool = True) -> Any:
    """Read the legacy ``torch.save`` format from ``raw`` (bytes, bytearray or mmap).

    Parameters
    ----------
    raw : bytes, bytearray or mmap
        The whole file (or the bytes of ``torch.storage._load_from_bytes``).
    where : str
        For messages.
    finish : bool
        Return plain data (True), or the unfinished object (for a caller that finishes a
        larger structure it is part of).
    """
    handlers = torch_handlers()
    position = 0

    def next_pickle(persistent_load: Any = None) -> Any:
        nonlocal position
        reader = RestrictedUnpickler(raw, handlers, where=where, error=error, persistent_load=persistent_load,
                                     limits=limits, start=position, path=path)
        value = reader.load()
        position = reader.position
        return value

    magic = next_pickle()
    if magic != _LEGACY_MAGIC:
        raise error(f"{where} is a pickle but not a torch.save file (no torch magic number); is it another format?", path)
    protocol = next_pickle()
    if protocol != _LEGACY_PROTOCOL:
        raise error(f"{where}: unsupported torch.save legacy protocol {describe(protocol)} (expected {_LEGACY_PROTOCOL})", path)
    info = next_pickle()
    if type(info) is not dict or info.get("little_endian") is not True:
        raise error(f"{where} was not saved on a little-endian machine (system info {describe(info)}); only little-endian files are read", path)
    if position > MAX_PICKLE_BYTES:
        raise FileLimitError(f"{where}: its header pickles take {position:,} bytes", path)
    storages: dict[str, Storage] = {}

    # the data follow the pickles: a storage is filled once its key list has been read
    persistent_load = _storage_loader(storages, legacy=True, new_storage=lambda reader, kind, key, numel: Storage(kind.dtype, numel, key))
    start = position
    result = next_pickle(persistent_load)
    if position - start > MAX_PICKLE_BYTES:
        raise FileLimitError(f"{where}: its object pickle takes {position - start:,} bytes (at most {MAX_PICKLE_BYTES:,})", path)
    keys = next_pickle()
    if type(keys) is not list or not all(type(k) is str for k in keys):
        raise error(f"{where}: the storage key list is {describe(keys)}, not a list of names", path)
    if set(keys) != set(storages) or len(keys) != len(storages):
        raise error(f"{where}: the storage key list names {len(keys)} storages, the data uses {len(storages)}", path)
    for key in keys:
        storage = storages[key]
        if position + 8 > len(raw):
            raise error(f"{where} ends early: storage {key!r} is missing (truncated)", path)
        (count,) = struct.unpack("<q", raw[position:position + 8])
        position += 8
        if count != storage.numel:
            raise error(f"{where}: storage {key!r} is declared with {storage.numel:,} elements but its data says {count:,}", path)
        end = position + storage.nbytes
        if end > len(raw):
            raise error(
                f"{where} ends early: storage {key!r} declares {storage.nbytes:,} bytes, {len(raw) - position:,} remain (truncated)", path
            )
        storage.fill(raw[position:end])
        position = end
    if not finish:
        return result
    return finisher_for(where, error=error, path=path, limits=limits)(result)
