"""Saved factors: a PandA model's parts and appearances plus metadata, in a file that runs no code when read.

Format: an ``.npz`` archive (NumPy's zip of ``.npy`` arrays) holding ``parts``
(n_parts, H, W) float32, ``appearances`` (C, n_appearances) float32, ``loss_history``
float64 and ``metadata``, a JSON string. It is read with ``np.load(allow_pickle=False)``,
so a file can hold arrays and text only: loading never unpickles or executes anything.
Writes are atomic (temporary file, then rename): an error never leaves a partial file.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np
import torch

from ._files import atomic_path
from ._version import __version__

__all__ = ["save_factors", "load_factors", "FORMAT", "FORMAT_VERSION"]

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


def save_factors(model, path: str | os.PathLike) -> Path:
    """Write a fitted :class:`~panda_viz.PandA`'s factors and metadata to ``path`` (.npz).

    Metadata: generator, layer, ranks, feature shape, solver, appearance basis, final
    relative objective, n_samples, n_iter and the panda_viz version.

    Returns
    -------
    Path
        ``path``.
    """
    if not hasattr(model, "parts_") or not hasattr(model, "appearances_"):
        raise ValueError(f"save_factors needs a fitted PandA model; got {type(model).__name__} without parts_/appearances_")
    parts = model.parts_.detach().to("cpu", torch.float32).numpy()
    appearances = model.appearances_.detach().to("cpu", torch.float32).numpy()
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "generator": getattr(model, "generator_", None),
        "layer": getattr(model, "layer_", None),
        "n_parts": int(parts.shape[0]),
        "n_appearances": int(appearances.shape[1]),
        "feature_shape": [int(s) for s in model.feature_shape_],
        "solver": getattr(model, "solver_", None),
        "appearance_basis": getattr(model, "appearance_basis_", None),
        "objective": float(model.objective_),
        "n_samples": int(model.n_samples_),
        "n_iter": int(model.n_iter_),
        "package_version": __version__,
    }
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(
            f,
            parts=parts,
            appearances=appearances,
            loss_history=np.asarray(getattr(model, "loss_history_", []), dtype=np.float64),
            metadata=np.array(json.dumps(metadata)),
        )
    return path


def _fail(path: Path, why: str):
    raise ValueError(f"{path}: not a valid panda_viz factor file: {why}")


def _is_int(value, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _check_metadata_values(path: Path, metadata: dict) -> None:
    """Each metadata value of the type and range save_factors writes (a hand-edited or foreign
    file fails here, naming the key, not later with a bare TypeError)."""
    from .decomposition._validation import APPEARANCE_BASES, SOLVERS

    checks = {
        "format_version": (lambda v: _is_int(v, 1), "an int >= 1"),
        "n_parts": (lambda v: _is_int(v, 1), "an int >= 1"),
        "n_appearances": (lambda v: _is_int(v, 1), "an int >= 1"),
        "n_samples": (lambda v: _is_int(v, 0), "an int >= 0"),
        "n_iter": (lambda v: _is_int(v, 0), "an int >= 0"),
        "feature_shape": (lambda v: isinstance(v, list) and len(v) == 3 and all(_is_int(x, 1) for x in v),
                          "a list of 3 positive ints (C, H, W)"),
        "objective": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool), "a number"),
        "solver": (lambda v: v is None or v in SOLVERS, f"null or one of {list(SOLVERS)}"),
        "appearance_basis": (lambda v: v is None or v in APPEARANCE_BASES, f"null or one of {list(APPEARANCE_BASES)}"),
        "layer": (lambda v: v is None or isinstance(v, str), "null or a string"),
        "generator": (lambda v: v is None or isinstance(v, str), "null or a string"),
        "package_version": (lambda v: isinstance(v, str), "a string"),
    }
    for key, (ok, expected) in checks.items():
        if not ok(metadata[key]):
            _fail(path, f"metadata {key} must be {expected}; got {metadata[key]!r}")


def load_factors(path: str | os.PathLike, *, layer: str | None = None, generator: str | None = None):
    """Read factors written by :func:`save_factors`; returns a fitted :class:`~panda_viz.PandA`.

    Parameters
    ----------
    path : str or Path
    layer, generator : str, optional
        When given, the file must have been fitted at this layer / on this generator
        (guards against applying factors from another layer).

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        A corrupt or foreign file, missing arrays or metadata keys, shapes that disagree
        with the metadata, negative or non-finite parts, or another layer/generator.
    """
    from .decomposition import PandA

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no factor file at {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, KeyError) as error:
        _fail(path, f"cannot be read as an .npz archive ({type(error).__name__}: {error})")
    missing = [name for name in _ARRAYS if name not in arrays]
    if missing:
        _fail(path, f"missing arrays {missing}; found {sorted(arrays)}")
    try:
        metadata = json.loads(str(arrays["metadata"][()]))
    except (json.JSONDecodeError, TypeError, ValueError) as error:
        _fail(path, f"its metadata is not JSON ({error})")
    if not isinstance(metadata, dict):
        _fail(path, f"its metadata must be a JSON object; got {type(metadata).__name__}")
    missing = [key for key in _META_KEYS if key not in metadata]
    if missing:
        _fail(path, f"metadata lacks keys {missing}")
    if metadata["format"] != FORMAT:
        _fail(path, f"format {metadata['format']!r}, expected {FORMAT!r}")
    _check_metadata_values(path, metadata)
    if metadata["format_version"] > FORMAT_VERSION:
        _fail(path, f"format version {metadata['format_version']} is newer than this panda_viz reads ({FORMAT_VERSION})")
    parts, appearances = arrays["parts"], arrays["appearances"]
    C, H, W = metadata["feature_shape"]
    K, R = metadata["n_parts"], metadata["n_appearances"]
    if parts.shape != (K, H, W):
        _fail(path, f"parts have shape {parts.shape}; the metadata says ({K}, {H}, {W})")
    if appearances.shape != (C, R):
        _fail(path, f"appearances have shape {appearances.shape}; the metadata says ({C}, {R})")
    for name, array in (("parts", parts), ("appearances", appearances)):
        if array.dtype.kind != "f" or not np.isfinite(array).all():
            _fail(path, f"{name} must be finite floats; got dtype {array.dtype} with non-finite or non-float values")
    if (parts < 0).any():
        _fail(path, f"parts must be non-negative; found {int((parts < 0).sum())} negative entries")
    for key, wanted in (("layer", layer), ("generator", generator)):
        if wanted is not None and metadata[key] != wanted:
            raise ValueError(f"{path}: factors were fitted at {key} {metadata[key]!r}, not {wanted!r}")

    model = PandA.from_factors(
        torch.from_numpy(parts.astype(np.float32)),
        torch.from_numpy(appearances.astype(np.float32)),
        feature_shape=(C, H, W),
        layer=metadata["layer"],
        generator_name=metadata["generator"],
        solver=metadata["solver"],
        appearance_basis=metadata["appearance_basis"],
        objective=float(metadata["objective"]),
        loss_history=[float(x) for x in arrays["loss_history"]],
        n_iter=int(metadata["n_iter"]),
        n_samples=int(metadata["n_samples"]),
    )
    model.metadata_ = metadata
    return model
