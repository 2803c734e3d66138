"""The official PandA factor files (``Us-…npy`` / ``Uc-…npy``) as fitted :class:`~panda_viz.PandA` models.

The authors' code (github.com/james-oldfield/PandA) saves a decomposition as two NumPy
files named after the genforce model, its integer layer and the ranks::

    Us-name_stylegan2_ffhq1024-layer_5-rank_8.npy      parts, S × R_S (S = H·W, row-major)
    Uc-name_stylegan2_ffhq1024-layer_5-rank_512.npy    appearances, C × R_C

(``model.py``, ``Model.save``: the ranks in the names are the *requested* ones,
``decompose(ranks=[R_C, R_S])``, default ``[512, 8]``; its HOSVD-initialised appearances
keep min(R_C, C) columns, so a 256-channel layer's ``rank_512`` file holds 256×256) and
its edit zoo indexes them. :func:`load_official_factors` reads such a pair into a
fitted :class:`~panda_viz.PandA` bound to the right layer of a loaded generator, so
:mod:`panda_viz.editing.edits` and :mod:`panda_viz.formats.edit_zoo` apply the paper's own edits.

The official ``layer`` is an integer that counts the synthesis loop, not a module name:
for genforce StyleGAN2 it is the output of ``synthesis.layer{L-1}`` (L = 5 is 16×16 on a
1024-pixel model, L = 6 and 7 are 32×32); for StyleGAN and PGGAN ``(synthesis.)layer{2L-5}``
(see :func:`panda_viz.generators.genforce.loader.official_layer_name`). For other generators pass
the module name with ``layer=``.
"""

from __future__ import annotations

import math
import os
import re
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._checks import describe, is_int
from ..exceptions import (
    FileLimitError,
    IncompatibleFactorsError,
    InvalidFileError,
    InvalidInputError,
    InvalidTypeError,
    MissingFileError,
)
from ..fileio.npy import (
    NpyHeader,
    check_npy_dtype,
    check_npy_size,
    read_npy_data,
    read_npy_header,
)
from ..generators.genforce.loader import ARCHITECTURES, official_layer_name

__all__ = [
    "OfficialFactorFile",
    "parse_official_name",
    "official_file_names",
    "official_layer",
    "read_factor_header",
    "read_factor_data",
    "load_official_factors",
    "MAX_FACTOR_ELEMENTS",
]

#: Most entries a factor file may declare (2**26: 256 MB as float32), far above any layer's
#: S × R_S or C × R_C (a 256×256 layer with 64 parts: 4.2 million).
MAX_FACTOR_ELEMENTS = 2**26

_NAME = re.compile(r"^(?P<kind>Us|Uc)-name_(?P<model>.+)-layer_(?P<layer>\d+)-rank_(?P<n_factors>\d+)\.npy$")


@dataclass(frozen=True)
class OfficialFactorFile:
    """What an official factor file's name says.

    Attributes
    ----------
    kind : {"Us", "Uc"}
        Parts (spatial factors, S × R_S) or appearances (channel factors, C × R_C).
    model : str
        The genforce model-zoo name, e.g. ``"stylegan2_ffhq1024"``.
    layer : int
        The official code's layer number.
    n_factors : int
        The ``rank_…`` in the name: R_S (parts) or R_C (appearances), as requested when fitting.
    """

    kind: str
    model: str
    layer: int
    n_factors: int


def parse_official_name(path: str | Path) -> OfficialFactorFile:
    """Parse ``Us-name_{model}-layer_{L}-rank_{R}.npy`` (or ``Uc-…``).

    Raises
    ------
    InvalidFileError
        The name does not follow the official pattern.
    """
    name = Path(path).name
    match = _NAME.match(name)
    if match is None:
        raise InvalidFileError(
            f"official factor files are named 'Us-name_{{model}}-layer_{{L}}-rank_{{R}}.npy' or "
            f"'Uc-name_…-layer_…-rank_….npy'; got {name!r}",
            path,
        )
    return OfficialFactorFile(match["kind"], match["model"], int(match["layer"]), int(match["n_factors"]))


def official_file_names(model: str, layer: int, n_parts: int, n_appearances: int) -> tuple[str, str]:
    """The official names ``(Us-…, Uc-…)`` of a decomposition, as the authors' ``Model.save`` writes them."""
    return (
        f"Us-name_{model}-layer_{layer}-rank_{n_parts}.npy",
        f"Uc-name_{model}-layer_{layer}-rank_{n_appearances}.npy",
    )


def official_layer(generator: Any, layer: int) -> str:
    """The module name of official layer number ``layer`` in a genforce ``generator``."""
    architecture = getattr(getattr(generator, "module", None), "architecture", None)
    if architecture not in ARCHITECTURES:
        raise InvalidInputError(
            f"official layer numbers count genforce synthesis layers; generator {getattr(generator, 'name', generator)!r} "
            f"is not a genforce {'/'.join(ARCHITECTURES)} generator: pass layer='<module name>' (one of its .layers)"
        )
    return official_layer_name(architecture, layer)


def read_factor_header(path: str | Path, what: str = "factor") -> NpyHeader:
    """Read and check an official factor file's ``.npy`` header before any of its data.

    The header is read by :func:`panda_viz.fileio.npy.read_npy_header` (magic, version
    1.0/2.0/3.0, a header of at most :data:`~panda_viz.fileio.npy.MAX_HEADER_BYTES` and
    within the file, numpy's parser), so nothing is allocated for what it declares. Then
    refused: a file that is not a regular file; dtypes other than float16/32/64 (object
    arrays, which only pickle can read, raise :class:`~panda_viz.exceptions.UnsafeFileError`;
    void and structured dtypes :class:`~panda_viz.exceptions.InvalidFileError`); shapes that
    are not 2-D or declare more than :data:`MAX_FACTOR_ELEMENTS` entries
    (:class:`~panda_viz.exceptions.FileLimitError`); data shorter (truncated) or longer than
    the shape and dtype declare.

    Parameters
    ----------
    path : str or Path
    what : str
        How messages name the file (e.g. ``"parts (Us)"``).

    Returns
    -------
    NpyHeader

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    InvalidFileError, UnsafeFileError, FileLimitError
        As above; the message names the file, what was expected and what was found.
    """
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise MissingFileError(f"{what} file {str(path)!r} does not exist") from None
    except OSError as err:
        raise InvalidFileError(f"{what} file {str(path)!r} cannot be read: {err}", path) from err
    if not stat.S_ISREG(info.st_mode):
        raise InvalidFileError(f"{what} file {str(path)!r} is not a regular file", path)
    where = f"{what} file {path.name!r}"
    with path.open("rb") as f:
        header = read_npy_header(f, size=os.fstat(f.fileno()).st_size, where=where, path=path)
    check_npy_dtype(header, kinds="f", where=where, path=path)
    shape = header.shape
    if len(shape) != 2 or any(n < 0 for n in shape):
        raise InvalidFileError(f"{where} holds an array of shape {shape}; a 2-D matrix expected", path)
    if math.prod(shape) > MAX_FACTOR_ELEMENTS:
        raise FileLimitError(
            f"{where} declares a {shape[0]}×{shape[1]} matrix ({math.prod(shape)} entries); at most "
            f"{MAX_FACTOR_ELEMENTS} expected", path)
    check_npy_size(header, where=where, path=path)
    return header


def read_factor_data(path: str | Path, header: NpyHeader, what: str = "factor") -> np.ndarray:
    """The matrix a checked header (:func:`read_factor_header`) describes, as float64 (C order); finite values only."""
    path = Path(path)
    where = f"{what} file {path.name!r}"
    with path.open("rb") as f:
        f.seek(header.data_offset)
        array = np.ascontiguousarray(read_npy_data(f, header, where=where, path=path, dtype=np.float64))
    if not np.isfinite(array).all():
        raise InvalidFileError(f"{where} holds non-finite values; a finite matrix expected", path)
    return array


def _factor_count(info: OfficialFactorFile, header: NpyHeader, path: Path, what: str) -> int:
    """The number of factors a file holds, checked against the ``rank_…`` its name says.

    The official ``Model.save()`` names the files by the *requested* ranks
    (``decompose(ranks=[R_C, R_S])``, default ``[512, 8]``), and its HOSVD-initialised
    appearances keep ``Uc_init[:, :R_C]``, i.e. min(R_C, C) columns: a ``Uc-…-rank_512.npy``
    of a 256-channel layer holds a 256×256 matrix. That case loads with a warning;
    any other disagreement is refused.
    """
    rows, cols = header.shape
    if cols == 0 or info.n_factors == 0:
        raise InvalidFileError(
            f"{what} file {path.name!r} says rank {info.n_factors} and holds a {rows}×{cols} matrix: rank 0, no "
            f"{'parts' if info.kind == 'Us' else 'appearances'}; a decomposition has at least one", path)
    if cols == info.n_factors:
        return cols
    if info.kind == "Uc" and info.n_factors > cols == rows:
        warnings.warn(
            f"{path.name!r} says rank {info.n_factors} but holds a {rows}×{cols} matrix: the official Model.save() names "
            f"files by the requested rank R_C = {info.n_factors}, and its HOSVD appearances have min({info.n_factors}, C) = "
            f"{cols} columns; loading {cols} appearances",
            UserWarning,
            stacklevel=3,
        )
        return cols
    raise InvalidFileError(f"{path.name!r} says rank {info.n_factors} but holds a {rows}×{cols} matrix", path)


def load_official_factors(
    parts_path: str | Path,
    appearances_path: str | Path,
    generator: Any,
    *,
    layer: str | int | None = None,
) -> Any:
    """Read an official ``Us``/``Uc`` pair into a fitted PandA bound to ``generator``'s layer.

    Parameters
    ----------
    parts_path : str or Path
        ``Us-name_{model}-layer_{L}-rank_{R_S}.npy``: the parts, S × R_S, non-negative.
    appearances_path : str or Path
        ``Uc-name_{model}-layer_{L}-rank_{R_C}.npy``: the appearances, C × R_C (or C × C
        when R_C > C, as the official ``Model.save()`` writes them).
    generator : panda_viz.Generator
        The generator the factors were learnt on (a genforce checkpoint loaded with
        :func:`panda_viz.load_generator`).
    layer : str or int, optional
        The module name to bind to, or an official layer number; default: the ``L`` in the
        file names, converted for genforce generators (StyleGAN2: ``synthesis.layer{L-1}``).

    Returns
    -------
    PandA
        Fitted: ``parts_`` (R_S, H, W) (each column of Us reshaped row-major to H × W, as the
        official code does), ``appearances_`` (C, R_C), ``feature_shape_``, ``layer_`` (the
        module name), ``generator_`` (the generator's name), and ``official_`` (what the file
        names say). ``n_samples_`` is 0 and ``objective_`` NaN: they are not in the files.

    Raises
    ------
    FileNotFoundError
        A file does not exist.
    InvalidFileError
        A name does not follow the pattern; a file is not a readable ``.npy`` float matrix
        (bad magic or header, another dtype, not 2-D, truncated, trailing bytes, non-finite
        values, negative parts); a rank in a name disagrees with the matrix, or is 0.
        :class:`~panda_viz.exceptions.UnsafeFileError` for object arrays (pickle),
        :class:`~panda_viz.exceptions.FileLimitError` for headers or shapes past the limits.
    IncompatibleFactorsError
        The two files disagree (model or layer), or the matrices do not fit the layer's
        features (C × H × W); the message names both files.

    Warns
    -----
    UserWarning
        ``Uc-…-rank_{R}.npy`` holds C < R columns for a C-channel layer: the official
        ``Model.save()`` names the file by the requested rank (its default ``ranks=[512, 8]``
        on a 256-channel layer writes ``rank_512`` for a 256×256 matrix); C appearances load.

    Notes
    -----
    Both headers are read and checked (dtype, shape against the layer and the names, size
    limits, file length) before any data is read; ``allow_pickle`` never comes into it, as
    the data are read as raw floats (see :func:`read_factor_header`).
    """
    from ..decomposition import PandA

    parts_path, appearances_path = Path(parts_path), Path(appearances_path)
    us, uc = parse_official_name(parts_path), parse_official_name(appearances_path)
    if us.kind != "Us" or uc.kind != "Uc":
        raise InvalidInputError(
            f"parts_path must be the 'Us-…' (parts) file and appearances_path the 'Uc-…' (appearances) "
            f"file; got {parts_path.name!r} and {appearances_path.name!r}"
        )
    if (us.model, us.layer) != (uc.model, uc.layer):
        raise IncompatibleFactorsError(
            f"the two files belong to different decompositions: {parts_path.name!r} is model {us.model!r} "
            f"layer {us.layer}, {appearances_path.name!r} is model {uc.model!r} layer {uc.layer}"
        )
    if layer is None:
        layer = us.layer
    module_name = official_layer(generator, int(layer)) if is_int(layer) else layer
    if not isinstance(module_name, str):
        raise InvalidTypeError(
            f"layer must be a module name (str) or an official layer number (int); got {type(layer).__name__} "
            f"{describe(layer)}")
    C, H, W = generator.check_layer(module_name)

    # headers first: nothing is allocated for a file until its shape fits the layer
    us_header = read_factor_header(parts_path, "parts (Us)")
    uc_header = read_factor_header(appearances_path, "appearances (Uc)")
    if uc_header.shape[0] != C or us_header.shape[0] != H * W:
        raise IncompatibleFactorsError(
            f"factor pair {parts_path.name!r} (parts {us_header.shape[0]}×{us_header.shape[1]}) and "
            f"{appearances_path.name!r} (appearances {uc_header.shape[0]}×{uc_header.shape[1]}) does not fit layer "
            f"{module_name!r} of {getattr(generator, 'name', 'the generator')!r}: its features are {C}×{H}×{W}, so "
            f"parts need S = {H * W} rows and appearances C = {C} rows"
        )
    n_parts = _factor_count(us, us_header, parts_path, "parts (Us)")
    n_appearances = _factor_count(uc, uc_header, appearances_path, "appearances (Uc)")
    if n_parts > H * W or n_appearances > C:
        raise IncompatibleFactorsError(
            f"ranks R_S = {n_parts} ({parts_path.name!r}), R_C = {n_appearances} ({appearances_path.name!r}) exceed "
            f"S = {H * W}, C = {C} of layer {module_name!r}: at most S parts and C appearances expected"
        )
    Us = read_factor_data(parts_path, us_header, "parts (Us)")
    Uc = read_factor_data(appearances_path, uc_header, "appearances (Uc)")
    if (Us < 0).any():
        raise InvalidFileError(
            f"parts file {parts_path.name!r} has negative entries (min {Us.min():g}); parts are non-negative",
            parts_path,
        )

    parts = torch.from_numpy(np.ascontiguousarray(Us.T, dtype=np.float32)).reshape(n_parts, H, W)
    appearances = torch.from_numpy(np.ascontiguousarray(Uc, dtype=np.float32))
    model = PandA.from_factors(
        parts,
        appearances,
        feature_shape=(C, H, W),
        layer=module_name,
        generator_name=getattr(generator, "name", None),
        solver="pgd",  # the official code's Algorithm 1
        appearance_basis="free",
    )
    model.official_ = {
        "model": us.model,
        "layer": us.layer,
        "parts_file": parts_path.name,
        "appearances_file": appearances_path.name,
    }
    return model
