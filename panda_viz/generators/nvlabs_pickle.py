"""A safe reader of NVlabs' network pickles (StyleGAN2-ADA-PyTorch, StyleGAN3).

Official ``network-snapshot-*.pkl`` files are plain Python pickles. Their networks were
pickled by ``torch_utils.persistence``: each one calls the global
``torch_utils.persistence._reconstruct_persistent_obj(meta)``, where ``meta`` holds the
class name, the *full source code* of the module that defined the class (which the
official loader executes), and the object's ``__dict__``. ``pickle.load`` on such a file
runs whatever the file names; this reader does not.

:class:`SafeUnpickler` resolves only an allow-list of globals (tensor and storage rebuild
functions, ``OrderedDict``, ``set``, NumPy's array/dtype/scalar reconstructors,
``dnnlib.util.EasyDict`` as a plain ``dict``, and the persistence reconstructor, which
becomes a :class:`PersistentRecord`: class name and state, data only). Anything else is
refused with :class:`UnsafePickleError` when the stream *names* it, before any object is
built from it. ``module_src`` is kept as text and never executed.

Examples
--------
>>> data = load_network_pickle("stylegan3-t-ffhq-1024x1024.pkl")
>>> G = data["G_ema"]                        # a PersistentRecord
>>> G.class_name, G.state["_init_kwargs"]["z_dim"]
('Generator', 512)
>>> weights = record_state_dict(G)            # {'mapping.fc0.weight': tensor, ...}
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch

from ..exceptions import NetworkPickleError, UnsafePickleError

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


@dataclass(frozen=True)
class PersistentRecord:
    """What ``torch_utils.persistence`` pickled for one network object, as data.

    Attributes
    ----------
    class_name : str
        e.g. ``'Generator'``, ``'SynthesisNetwork'``, ``'SynthesisLayer'``.
    state : dict
        The object's ``__dict__``: ``_parameters``, ``_buffers``, ``_modules`` (children are
        records too), ``_init_args``, ``_init_kwargs`` and plain attributes.
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


def _reconstruct_persistent_obj(meta: Any) -> PersistentRecord:
    if not isinstance(meta, dict):
        raise NetworkPickleError(f"persistent object metadata must be a dict; got {type(meta).__name__}")
    if meta.get("type") != "class":
        raise NetworkPickleError(
            f"unsupported persistent object type {meta.get('type')!r} (expected 'class')"
        )
    state = meta.get("state")
    if state is None:
        state = {}
    if not isinstance(state, dict):
        raise NetworkPickleError(
            f"persistent object {meta.get('class_name')!r} has a state of type {type(state).__name__}, expected a dict"
        )
    return PersistentRecord(
        class_name=str(meta.get("class_name")),
        state=state,
        module_src=meta.get("module_src") or "",
        version=meta.get("version"),
    )


class _EasyDict(dict):
    """``dnnlib.util.EasyDict`` read as a plain dict (attribute access is not restored)."""

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, dict):
            self.update(state)


def _load_storage_from_bytes(data: bytes) -> Any:
    """A storage that the pickle embedded as ``torch.save`` bytes, read with weights_only."""
    if not isinstance(data, (bytes, bytearray)):
        raise NetworkPickleError(f"embedded storage must be bytes; got {type(data).__name__}")
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001  (re-raised with context)
        raise NetworkPickleError(f"an embedded tensor storage could not be read: {error}") from error


def _numpy_attr(names: list[str], attr: str) -> Any:
    for name in names:
        try:
            module = __import__(name, fromlist=[attr])
            return getattr(module, attr)
        except (ImportError, AttributeError):
            continue
    return None


_MULTIARRAY = ["numpy._core.multiarray", "numpy.core.multiarray"]

#: (module, name) -> the object the stream gets instead. Everything else is refused.
ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("dnnlib.util", "EasyDict"): _EasyDict,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("torch._utils", "_rebuild_tensor"): torch._utils._rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): torch._utils._rebuild_parameter_with_state,
    ("torch.storage", "_load_from_bytes"): _load_storage_from_bytes,
    ("numpy", "dtype"): np.dtype,
    ("numpy", "ndarray"): np.ndarray,
}
for _module in ("numpy.core.multiarray", "numpy._core.multiarray"):
    ALLOWED_GLOBALS[(_module, "scalar")] = _numpy_attr(_MULTIARRAY, "scalar")
    ALLOWED_GLOBALS[(_module, "_reconstruct")] = _numpy_attr(_MULTIARRAY, "_reconstruct")
ALLOWED_GLOBALS = {key: value for key, value in ALLOWED_GLOBALS.items() if value is not None}


class SafeUnpickler(pickle.Unpickler):
    """An Unpickler that resolves only :data:`ALLOWED_GLOBALS`.

    ``find_class`` runs when the stream names a global, before the stream can call it, so a
    refused global never runs. Persistent ids (``torch.save``'s zip format) are refused too.
    """

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refusing to load global {module}.{name}: a network pickle needs only tensor data, "
                "containers and the persistence records, and this loader runs nothing else "
                f"(allowed: {', '.join(sorted(f'{m}.{n}' for m, n in ALLOWED_GLOBALS))})"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"refusing persistent id {pid!r}: not part of a network pickle")


def load_network_pickle(source: str | os.PathLike | IO[bytes]) -> Any:
    """Read a network pickle safely; network objects come back as :class:`PersistentRecord`.

    Parameters
    ----------
    source : path or binary file object

    Returns
    -------
    object
        For official pickles a dict with keys such as ``'G'``, ``'D'``, ``'G_ema'``,
        ``'training_set_kwargs'``, ``'augment_pipe'``.

    Raises
    ------
    UnsafePickleError
        The stream names a global outside the allow-list (nothing was run).
    NetworkPickleError
        The file is truncated, corrupt, or not a pickle.
    """
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        with open(path, "rb") as handle:
            return _load(handle, str(path))
    return _load(source, getattr(source, "name", "<stream>"))


def _load(handle: IO[bytes], where: str) -> Any:
    head = handle.peek(2)[:2] if hasattr(handle, "peek") else b""
    if head[:2] == b"PK":
        raise NetworkPickleError(
            f"{where} is a zip archive (a torch.save file?), not a network pickle; "
            "for a state dict use a .pt/.pth path with config="
        )
    try:
        return SafeUnpickler(handle).load()
    except (UnsafePickleError, NetworkPickleError):
        raise
    except EOFError:
        raise NetworkPickleError(f"{where} ends early: the pickle is truncated") from None
    except Exception as error:  # noqa: BLE001  (corrupt streams raise many kinds)
        raise NetworkPickleError(f"{where} is not a readable pickle ({type(error).__name__}: {error})") from None


def plain(value: Any) -> Any:
    """``value`` with EasyDicts and OrderedDicts as dicts, tuples as lists, NumPy scalars as
    Python numbers (for keyword arguments read from a pickle)."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def record_state_dict(record: PersistentRecord, prefix: str = "") -> dict[str, torch.Tensor]:
    """The ``state_dict()`` that the recorded module would have: parameters and persistent
    buffers of it and its children, keyed by dotted path."""
    if not isinstance(record, PersistentRecord):
        raise NetworkPickleError(f"expected a pickled network object at {prefix or 'top level'!r}; got {type(record).__name__}")
    state = record.state
    out: dict[str, torch.Tensor] = {}
    skip = set(state.get("_non_persistent_buffers_set") or ())
    for group in ("_parameters", "_buffers"):
        for name, tensor in (state.get(group) or {}).items():
            if tensor is None or (group == "_buffers" and name in skip):
                continue
            if not isinstance(tensor, torch.Tensor):
                raise NetworkPickleError(f"{prefix}{name} holds a {type(tensor).__name__}, expected a tensor")
            out[prefix + name] = tensor.detach()
    for name, child in (state.get("_modules") or {}).items():
        if child is not None:
            out.update(record_state_dict(child, f"{prefix}{name}."))
    return out
