"""Saved inversions: an :class:`~panda_viz.generators.inverted.Inversion` in a file that runs no code when read.

Format (as :mod:`panda_viz.formats.factors` does for factors): an ``.npz`` archive, read member by
member through :mod:`panda_viz.fileio.npz` (only the arrays the metadata names, each header
checked before its data), holding float arrays ``latents`` (N, *latent_shape), ``target`` and ``reconstruction`` (N, 3, H, W), ``psnr`` (N,), optionally ``features``
(N, C, H, W) and ``anchor`` (N, *latent_shape), optionally ``crop_box`` (N, 4) and
``crop_scale`` (N, 2) together (what was done to each photo; files written before they were
recorded lack them and still load), one array ``tuned.<parameter name>`` per
tuned parameter, ``stage_psnr.<stage>`` (N,) per stage run, and ``metadata``, a JSON
string (format, version, generator, layer, shapes, the tuned parameters' names and
shapes, the loss history, stage times, the settings). Everything is checked against the
metadata before an Inversion is built; writes are atomic.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._checks import is_int, is_real
from .._version import __version__
from ..exceptions import (
    InvalidFileError,
    InvalidInputError,
    InvalidTypeError,
    MissingFileError,
)
from ..fileio import npz
from ..fileio.atomic import atomic_path
from ..generators.inverted import STAGES, Inversion

__all__ = ["save_inversion", "load_inversion", "FORMAT", "FORMAT_VERSION"]

FORMAT = "panda_viz.inversion"
FORMAT_VERSION = 1
WHAT = "inversion file"
#: Largest array an inversion file may declare (inflated), and its metadata (JSON, 4 bytes a character).
MAX_ARRAY_BYTES = 2 << 30
MAX_METADATA_BYTES = 16 << 20
#: Members at most (one a tuned parameter: a 1024-px StyleGAN's later layers have a few hundred).
MAX_MEMBERS = 4096
_FIXED_ARRAYS = ("metadata", "latents", "target", "reconstruction", "psnr", "features", "anchor", "crop_box",
                 "crop_scale")


def _known_array(name: str) -> bool:
    return name in _FIXED_ARRAYS or name.startswith(("tuned.", "stage_psnr."))


_META_KEYS = ("format", "format_version", "generator", "layer", "n_images", "latent_shape", "image_shape",
              "feature_shape", "tuned", "history", "stage_seconds", "settings", "package_version")


def _array(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().to("cpu", torch.float32).numpy()


def save_inversion(inversion: Inversion, path: str | os.PathLike) -> Path:
    """Write ``inversion`` to ``path`` (.npz, no pickle); returns the path."""
    if not isinstance(inversion, Inversion):
        raise InvalidTypeError(f"save_inversion needs an Inversion; got {type(inversion).__name__}")
    if inversion.target is None or inversion.reconstruction is None or inversion.psnr is None:
        raise InvalidInputError("save_inversion needs an inversion with target, reconstruction and psnr (from invert)")
    arrays = {
        "latents": _array(inversion.latents),
        "target": _array(inversion.target),
        "reconstruction": _array(inversion.reconstruction),
        "psnr": _array(inversion.psnr),
    }
    if inversion.features is not None:
        arrays["features"] = _array(inversion.features)
    if inversion.anchor is not None:
        arrays["anchor"] = _array(inversion.anchor)
    if inversion.crop_box is not None and inversion.crop_scale is not None:
        arrays["crop_box"], arrays["crop_scale"] = _array(inversion.crop_box), _array(inversion.crop_scale)
    for name, value in (inversion.tuned or {}).items():
        arrays[f"tuned.{name}"] = _array(value)
    for stage, value in inversion.stage_psnr.items():
        arrays[f"stage_psnr.{stage}"] = _array(value)
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "generator": inversion.generator_name,
        "layer": inversion.layer,
        "n_images": len(inversion),
        "latent_shape": list(inversion.latents.shape[1:]),
        "image_shape": list(inversion.target.shape[1:]),
        "feature_shape": None if inversion.features is None else list(inversion.features.shape[1:]),
        "tuned": {name: list(value.shape) for name, value in (inversion.tuned or {}).items()},
        "history": {stage: [float(v) for v in values] for stage, values in inversion.history.items()},
        "stage_seconds": {stage: float(v) for stage, v in inversion.stage_seconds.items()},
        "settings": _jsonable(inversion.settings),
        "package_version": __version__,
    }
    arrays["metadata"] = np.array(json.dumps(metadata))
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)
    return path


def _jsonable(value: Any) -> Any:
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        return repr(value)


def _fail(path: Path, why: str) -> InvalidFileError:
    """The error for a file that is not a valid inversion file (``raise _fail(...)``)."""
    return InvalidFileError(f"{path}: not a valid panda_viz inversion file: {why}", path)


def _positive_int(value: Any) -> bool:
    return is_int(value) and value >= 1


def _shape(value: Any) -> bool:
    return isinstance(value, list) and all(_positive_int(v) for v in value)


def _check_metadata(path: Path, metadata: dict) -> None:
    number = lambda v: is_real(v) and math.isfinite(v)  # noqa: E731
    checks = {
        "format_version": (_positive_int, "an int >= 1"),
        "generator": (lambda v: v is None or isinstance(v, str), "null or a string"),
        "layer": (lambda v: v is None or (isinstance(v, str) and v), "null or a layer name"),
        "n_images": (_positive_int, "an int >= 1"),
        "latent_shape": (lambda v: _shape(v) and len(v) >= 1, "a list of positive ints"),
        "image_shape": (lambda v: _shape(v) and len(v) == 3, "a list of 3 positive ints"),
        "feature_shape": (lambda v: v is None or (_shape(v) and len(v) == 3), "null or a list of 3 positive ints"),
        "tuned": (lambda v: isinstance(v, dict) and all(isinstance(k, str) and (s == [] or _shape(s)) for k, s in v.items()),
                  "an object of parameter name to shape"),
        "history": (lambda v: isinstance(v, dict) and all(k in STAGES and isinstance(x, list) and all(number(y) for y in x)
                                                          for k, x in v.items()), f"an object of stage ({STAGES}) to numbers"),
        "stage_seconds": (lambda v: isinstance(v, dict) and all(k in STAGES and number(x) for k, x in v.items()),
                          "an object of stage to seconds"),
        "settings": (lambda v: isinstance(v, (dict, str)), "an object"),
        "package_version": (lambda v: isinstance(v, str), "a string"),
    }
    for key, (ok, expected) in checks.items():
        if not ok(metadata[key]):
            raise _fail(path, f"metadata {key} must be {expected}; got {metadata[key]!r}")
    if (metadata["layer"] is None) != (metadata["feature_shape"] is None):
        raise _fail(path, f"metadata layer {metadata['layer']!r} and feature_shape {metadata['feature_shape']!r} go together")


def load_inversion(path: str | os.PathLike, *, generator: Any = None) -> Inversion:
    """Read an inversion written by :func:`save_inversion`.

    Parameters
    ----------
    path : str or Path
    generator : Generator, optional
        When given, the inversion is checked against it (name, latent shape, layer and
        feature shape, tuned parameter names and shapes) and moved to its device.

    Raises
    ------
    MissingFileError (a FileNotFoundError)
        No such file.
    InvalidFileError
        Not an .npz, a foreign or corrupt file, missing arrays or metadata keys, shapes
        that disagree with the metadata, non-finite or non-float values.
    InvalidInputError
        An inversion that does not fit ``generator``.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"load_inversion: no inversion file at {path}", path)
    with npz.open_archive(path, what=WHAT) as archive:
        members = npz.archive_members(path, archive, what=WHAT, accepts=_known_array, max_members=MAX_MEMBERS,
                                      expected="latents, images, features, tuned.* and stage_psnr.* arrays and metadata")
        if "metadata" not in members:
            raise _fail(path, f"no metadata array; found {sorted(members)}")
        metadata = npz.read_metadata(path, archive, members.pop("metadata"), what=WHAT, max_bytes=MAX_METADATA_BYTES,
                                     format=FORMAT, version=FORMAT_VERSION, keys=_META_KEYS,
                                     check=lambda m: _check_metadata(path, m))

        n = metadata["n_images"]
        expected = {
            "latents": (n, *metadata["latent_shape"]),
            "target": (n, *metadata["image_shape"]),
            "reconstruction": (n, *metadata["image_shape"]),
            "psnr": (n,),
        }
        if metadata["feature_shape"] is not None:
            expected["features"] = (n, *metadata["feature_shape"])
        if "anchor" in members:
            expected["anchor"] = expected["latents"]
        if ("crop_box" in members) != ("crop_scale" in members):
            raise _fail(path, "arrays crop_box and crop_scale go together; it holds only one of them")
        if "crop_box" in members:
            expected.update(crop_box=(n, 4), crop_scale=(n, 2))
        for name, shape in metadata["tuned"].items():
            expected[f"tuned.{name}"] = tuple(shape)
        for key in members:
            if key.startswith("stage_psnr."):
                if key.partition(".")[2] not in STAGES:
                    raise _fail(path, f"array {key!r}: unknown stage (stages: {STAGES})")
                expected[key] = (n,)
        missing = [name for name in expected if name not in members]
        unknown = [name for name in members if name not in expected]
        if missing or unknown:
            raise _fail(path, f"arrays {missing} are missing and {unknown} unexpected (the metadata decides which belong)")
        # each member's header (dtype, shape) is checked against the metadata before its data is read
        arrays = {name: npz.read_member(path, archive, members[name], what=WHAT, max_bytes=MAX_ARRAY_BYTES,
                                        kinds="f", shape=shape)
                  for name, shape in expected.items()}
    for name, array in arrays.items():
        if not np.isfinite(array).all():
            raise _fail(path, f"array {name!r} must hold finite floats; found {int((~np.isfinite(array)).sum())} NaN/inf values")

    def tensor(name: str) -> torch.Tensor | None:
        return torch.from_numpy(arrays[name].astype(np.float32)) if name in arrays else None

    tuned = {name: tensor(f"tuned.{name}") for name in metadata["tuned"]} or None
    inversion = Inversion(
        latents=tensor("latents"),
        layer=metadata["layer"],
        features=tensor("features"),
        tuned=tuned,
        target=tensor("target"),
        reconstruction=tensor("reconstruction"),
        psnr=tensor("psnr"),
        history={k: list(v) for k, v in metadata["history"].items()},
        stage_psnr={k.partition(".")[2]: tensor(k) for k in arrays if k.startswith("stage_psnr.")},
        stage_seconds=dict(metadata["stage_seconds"]),
        generator_name=metadata["generator"],
        anchor=tensor("anchor"),
        crop_box=tensor("crop_box"),
        crop_scale=tensor("crop_scale"),
        settings=metadata["settings"] if isinstance(metadata["settings"], dict) else {},
    )
    if generator is not None:
        inversion = inversion.check_for(generator)
    return inversion
