"""Saved factors: a PandA model's parts and appearances plus metadata, in a file that runs no code when read.

Format: an ``.npz`` archive (NumPy's zip of ``.npy`` arrays) holding exactly the members
``parts.npy`` (n_parts, H, W) float32, ``appearances.npy`` (C, n_appearances) float32,
``loss_history.npy`` (n,) float64 and ``metadata.npy``, a 0-d unicode array holding a
JSON object. Reading never unpickles or executes anything, and it is bounded: only those
four members are read; each member's declared size, shape and dtype (its zip entry and
its ``.npy`` header) are checked against limits, against each other and against the
metadata before a byte of its data is decompressed or allocated.

Writes are atomic (temporary file, then rename): an error or a kill never leaves a
partial file, and a temporary left by a killed write is removed by the next write.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from .._checks import describe, is_int, is_real
from .._version import __version__
from ..exceptions import (
    FileWriteError,
    InvalidFileError,
    InvalidInputError,
    InvalidTypeError,
    MissingFileError,
)
from ..fileio import npz
from ..fileio.atomic import atomic_path
from ..fileio.json_data import json_text

__all__ = ["save_factors", "load_factors", "factors_payload", "write_factors", "check_factors_path", "FactorsPayload",
           "FORMAT", "FORMAT_VERSION", "MAX_ARRAY_BYTES"]

FORMAT = "panda_viz.factors"
FORMAT_VERSION = 1
_ARRAYS = ("parts", "appearances", "loss_history", "metadata")
_META_KEYS = (
    "format",
    "format_version",
    "generator",
    "layer",
    "n_parts",
    "n_appearances",
    "feature_shape",
    "solver",
    "appearance_basis",
    "objective",
    "n_samples",
    "n_iter",
    "package_version",
)
#: Largest parts or appearances array a factor file may declare (decompressed).
MAX_ARRAY_BYTES = 2 << 30
#: Largest metadata (a JSON string, 4 bytes a character) and loss history.
MAX_METADATA_BYTES = 4 << 20
MAX_HISTORY_BYTES = 64 << 20


def _model_arrays(model) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The arrays ``save_factors`` writes, checked so that ``load_factors`` will read them back."""
    if not hasattr(model, "parts_") or not hasattr(model, "appearances_") or not hasattr(model, "feature_shape_"):
        raise InvalidInputError(
            f"save_factors needs a fitted PandA model; got {type(model).__name__} without parts_/appearances_"
        )
    arrays = {}
    for name, ndim, axes in (("parts_", 3, "(n_parts, H, W)"), ("appearances_", 2, "(C, n_appearances)")):
        value = getattr(model, name)
        if not isinstance(value, torch.Tensor) or not value.is_floating_point() or value.ndim != ndim:
            got = f"{value.dtype} tensor of shape {tuple(value.shape)}" if isinstance(value, torch.Tensor) else type(value).__name__
            raise InvalidInputError(f"save_factors: model.{name} must be a float tensor {axes}; got {got}")
        arrays[name] = value.detach().to("cpu", torch.float32).numpy()
    parts, appearances = arrays["parts_"], arrays["appearances_"]
    if parts.shape[0] == 0 or appearances.shape[1] == 0:
        raise InvalidInputError(
            f"save_factors: the model has {parts.shape[0]} parts and {appearances.shape[1]} appearances; "
            "a factor file holds at least one of each (a rank-0 model has nothing to save)"
        )
    shape = tuple(int(s) for s in model.feature_shape_)
    if len(shape) != 3 or parts.shape[1:] != shape[1:] or appearances.shape[0] != shape[0]:
        raise InvalidInputError(
            f"save_factors: parts {parts.shape} and appearances {appearances.shape} disagree with the model's "
            f"feature_shape_ {shape} (expected parts (K, H, W) and appearances (C, R))"
        )
    for name, array in (("parts_", parts), ("appearances_", appearances)):
        if not np.isfinite(array).all():
            raise InvalidInputError(f"save_factors: model.{name} holds {int((~np.isfinite(array)).sum())} NaN/inf values")
    if (parts < 0).any():
        raise InvalidInputError(f"save_factors: model.parts_ must be non-negative; found {int((parts < 0).sum())} negative entries")
    history = np.asarray(getattr(model, "loss_history_", []), dtype=np.float64).reshape(-1)
    return parts, appearances, history


class FactorsPayload(NamedTuple):
    """What :func:`save_factors` writes, prepared and checked before any file is touched."""

    parts: np.ndarray
    appearances: np.ndarray
    loss_history: np.ndarray
    metadata: str


def _metadata_value(model, attribute: str, kind: str, default):
    """``model.<attribute>`` as the metadata holds it; an error naming the attribute otherwise."""
    value = getattr(model, attribute, default)
    if kind != "text" and isinstance(value, (torch.Tensor, np.ndarray)) and value.ndim == 0:
        value = value.item()  # a 0-d tensor or array holds one number
    if kind == "text" and (value is None or isinstance(value, str)):
        return value
    if kind == "count" and is_int(value) and value >= 0:
        return int(value)
    if kind == "number" and (value is None or is_real(value)):
        return None if value is None or not math.isfinite(float(value)) else float(value)
    expected = {"text": "a str or None", "count": "an int >= 0", "number": "a number or None"}[kind]
    raise InvalidTypeError(f"save_factors: model.{attribute} must be {expected} to be saved; got {describe(value)}")


def factors_payload(model) -> FactorsPayload:
    """The arrays and the metadata text :func:`save_factors` would write, checked to read back.

    Raises
    ------
    InvalidInputError, InvalidTypeError
        What :func:`save_factors` raises for the model; nothing is written.
    """
    parts, appearances, history = _model_arrays(model)
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "generator": _metadata_value(model, "generator_", "text", None),
        "layer": _metadata_value(model, "layer_", "text", None),
        "n_parts": int(parts.shape[0]),
        "n_appearances": int(appearances.shape[1]),
        "feature_shape": [int(s) for s in model.feature_shape_],
        "solver": _metadata_value(model, "solver_", "text", None),
        "appearance_basis": _metadata_value(model, "appearance_basis_", "text", None),
        "objective": _metadata_value(model, "objective_", "number", None),
        "n_samples": _metadata_value(model, "n_samples_", "count", 0),
        "n_iter": _metadata_value(model, "n_iter_", "count", 0),
        "package_version": __version__,
    }
    text = json_text(metadata, where="save_factors", root="the metadata", indent=None).rstrip("\n")
    try:  # what is written must read back: the reader's checks, run on the metadata now
        _check_metadata_values(Path("<not written>"), json.loads(text))
    except InvalidFileError as error:
        raise InvalidInputError(f"save_factors: the model's metadata would not read back ({error}); nothing was written") from None
    return FactorsPayload(parts, appearances, history, text)


def check_factors_path(path, where: str = "save_factors") -> Path:
    """``path`` as a Path a factor file can be written to: not a folder, not under a file."""
    if not isinstance(path, (str, os.PathLike)) or str(path) == "":
        raise InvalidTypeError(f"{where}: path must be a non-empty str or Path; got {describe(path)}")
    path = Path(path)
    if path.is_dir():
        raise InvalidInputError(f"{where}: {str(path)!r} is a folder; pass a file name such as {str(path / 'factors.npz')!r}")
    blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise FileWriteError(f"{where}: cannot write {str(path)!r}: {str(blocker)!r} is a file, not a folder", path)
    return path


def write_factors(payload: FactorsPayload, path: Path) -> Path:
    """Write a prepared :class:`FactorsPayload` to ``path``, atomically; returns ``path``."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, parts=payload.parts, appearances=payload.appearances, loss_history=payload.loss_history,
                 metadata=np.array(payload.metadata))
    return path


def save_factors(model, path: str | os.PathLike) -> Path:
    """Write a fitted :class:`~panda_viz.PandA`'s factors and metadata to ``path`` (.npz).

    Metadata: generator, layer, ranks, feature shape, solver, appearance basis, final
    relative objective, n_samples, n_iter and the panda_viz version. The write is atomic;
    a temporary left beside ``path`` by a killed earlier write is removed.

    Parameters
    ----------
    model : fitted PandA
        At least one part and one appearance, finite values, parts >= 0.
    path : str or Path

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    InvalidInputError
        An unfitted or inconsistent model (no parts, NaN factors …): nothing is written.
    InvalidTypeError
        A metadata attribute that cannot be saved (``model.generator_`` not a str …), or
        ``path`` not a str or Path: nothing is written.
    FileWriteError
        ``path`` is under a file, or the write failed (a full disk, the file-size limit):
        no half-written file is left, a file already at ``path`` is unchanged.
    """
    payload = factors_payload(model)
    return write_factors(payload, check_factors_path(path))


def _fail(path: Path, why: str) -> InvalidFileError:
    """The error for a file that is not a valid factor file (``raise _fail(...)``)."""
    return InvalidFileError(f"{path}: not a valid panda_viz factor file: {why}", path)


def _int_at_least(value, low: int) -> bool:
    return is_int(value) and value >= low


def _check_metadata_values(path: Path, metadata: dict) -> None:
    """Each metadata value of the type and range save_factors writes (a hand-edited or foreign
    file fails here, naming the key, not later with a bare TypeError)."""
    from ..decomposition import APPEARANCE_BASES, SOLVERS

    checks = {
        "format_version": (lambda v: _int_at_least(v, 1), "an int >= 1"),
        "n_parts": (lambda v: _int_at_least(v, 1), "an int >= 1"),
        "n_appearances": (lambda v: _int_at_least(v, 1), "an int >= 1"),
        "n_samples": (lambda v: _int_at_least(v, 0), "an int >= 0"),
        "n_iter": (lambda v: _int_at_least(v, 0), "an int >= 0"),
        "feature_shape": (lambda v: isinstance(v, list) and len(v) == 3 and all(_int_at_least(x, 1) for x in v),
                          "a list of 3 positive ints (C, H, W)"),
        "objective": (lambda v: v is None or is_real(v), "a number"),
        "solver": (lambda v: v is None or v in SOLVERS, f"null or one of {list(SOLVERS)}"),
        "appearance_basis": (lambda v: v is None or v in APPEARANCE_BASES, f"null or one of {list(APPEARANCE_BASES)}"),
        "layer": (lambda v: v is None or isinstance(v, str), "null or a string"),
        "generator": (lambda v: v is None or isinstance(v, str), "null or a string"),
        "package_version": (lambda v: isinstance(v, str), "a string"),
    }
    for key, (ok, expected) in checks.items():
        if not ok(metadata[key]):
            raise _fail(path, f"metadata {key} must be {expected}; got {metadata[key]!r}")
    if metadata["objective"] is not None and not math.isfinite(metadata["objective"]):
        raise _fail(path, f"metadata objective must be finite (or null); got {metadata['objective']!r}")


# ------------------------------------------------------------------------ bounded reading
WHAT = "factor file"


def _open_archive(path: Path) -> zipfile.ZipFile:
    return npz.open_archive(path, what=WHAT, npy_hint=" of parts, appearances and metadata (the official PandA "
                            "Us-/Uc- .npy pairs load with panda_viz.load_official_factors)")


def _members(path: Path, archive: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    members = npz.archive_members(path, archive, what=WHAT, accepts=lambda name: name in _ARRAYS,
                                  max_members=4 * len(_ARRAYS), expected=str(sorted(f"{n}.npy" for n in _ARRAYS)))
    missing = [name for name in _ARRAYS if name not in members]
    if missing:
        raise _fail(path, f"missing arrays {missing}; found {sorted(members)}")
    return members


def _read_member(path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo, **checks) -> np.ndarray:
    return npz.read_member(path, archive, info, what=WHAT, **checks)


def _read_metadata(path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> dict:
    return npz.read_metadata(path, archive, info, what=WHAT, max_bytes=MAX_METADATA_BYTES, format=FORMAT,
                             version=FORMAT_VERSION, keys=_META_KEYS, check=lambda m: _check_metadata_values(path, m))


def load_factors(path: str | os.PathLike, *, layer: str | None = None, generator_name: str | None = None):
    """Read factors written by :func:`save_factors`; returns a fitted :class:`~panda_viz.PandA`.

    Reading runs no code and is bounded: only the four members of the format are read,
    and each one's declared size, shape and dtype are checked (against
    :data:`MAX_ARRAY_BYTES`, the metadata and the member's real size) before it is
    decompressed.

    Parameters
    ----------
    path : str or Path
    layer, generator_name : str, optional
        When given, the file must have been fitted at this layer / on this generator
        (guards against applying factors from another layer).

    Raises
    ------
    MissingFileError (a FileNotFoundError)
        No such file.
    InvalidFileError (a ValueError)
        A corrupt, truncated or foreign file (e.g. a lone ``.npy``), unexpected or
        missing members, a member of the wrong dtype (object, void, strings), shapes that
        disagree with the metadata, NaN/inf or negative parts, or another layer/generator.
        The message names the file and the member or metadata key.
    FileLimitError (an InvalidFileError)
        A member declaring more than the limits (a decompression bomb); nothing of it was
        decompressed.
    """
    from ..decomposition import PandA

    if not isinstance(path, (str, os.PathLike)):
        raise InvalidTypeError(f"load_factors: path must be a str or Path; got {type(path).__name__}")
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"load_factors: no factor file at {path}", path)
    with _open_archive(path) as archive:
        members = _members(path, archive)
        metadata = _read_metadata(path, archive, members["metadata"])
        C, H, W = metadata["feature_shape"]
        K, R = metadata["n_parts"], metadata["n_appearances"]
        parts = _read_member(path, archive, members["parts"], max_bytes=MAX_ARRAY_BYTES, kinds="f", ndim=3,
                             shape=(K, H, W))
        appearances = _read_member(path, archive, members["appearances"], max_bytes=MAX_ARRAY_BYTES, kinds="f",
                                   ndim=2, shape=(C, R))
        history = _read_member(path, archive, members["loss_history"], max_bytes=MAX_HISTORY_BYTES, kinds="f", ndim=1)
    for name, array in (("parts", parts), ("appearances", appearances), ("loss_history", history)):
        if not np.isfinite(array).all():
            raise _fail(path, f"member '{name}.npy': {name} must be finite floats; found {int((~np.isfinite(array)).sum())} "
                        "NaN/inf values")
    if (parts < 0).any():
        raise _fail(path, f"member 'parts.npy': parts must be non-negative; found {int((parts < 0).sum())} negative entries")
    for key, wanted in (("layer", layer), ("generator", generator_name)):
        if wanted is not None and metadata[key] != wanted:
            raise InvalidFileError(f"{path}: factors were fitted at {key} {metadata[key]!r}, not {wanted!r}", path)

    model = PandA.from_factors(
        torch.from_numpy(parts.astype(np.float32)),
        torch.from_numpy(appearances.astype(np.float32)),
        feature_shape=(C, H, W),
        layer=metadata["layer"],
        generator_name=metadata["generator"],
        solver=metadata["solver"],
        appearance_basis=metadata["appearance_basis"],
        objective=float("nan") if metadata["objective"] is None else float(metadata["objective"]),
        loss_history=[float(x) for x in history],
        n_iter=int(metadata["n_iter"]),
        n_samples=int(metadata["n_samples"]),
    )
    model.metadata_ = metadata
    return model
