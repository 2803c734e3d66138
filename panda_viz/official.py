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
:mod:`panda_viz.editing` and :mod:`panda_viz.edit_zoo` apply the paper's own edits.

The official ``layer`` is an integer that counts the synthesis loop, not a module name:
for genforce StyleGAN2 it is the output of ``synthesis.layer{L-1}`` (L = 5 is 16×16 on a
1024-pixel model, L = 6 and 7 are 32×32); for StyleGAN and PGGAN ``(synthesis.)layer{2L-5}``
(see :func:`panda_viz.generators.genforce.official_layer_name`). For other generators pass
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
import numpy.lib.format as npformat
import torch

from .exceptions import (
    FileLimitError,
    IncompatibleFactorsError,
    InvalidFileError,
    InvalidInputError,
    InvalidTypeError,
    UnsafeFileError,
)
from .generators.genforce import ARCHITECTURES, official_layer_name

__all__ = [
    "OfficialFactorFile",
    "NpyHeader",
    "parse_official_name",
    "official_file_names",
    "official_layer",
    "read_npy_header",
    "read_npy_data",
    "load_official_factors",
    "MAX_HEADER_BYTES",
    "MAX_FACTOR_ELEMENTS",
]

#: Longest ``.npy`` header read (numpy's own ``max_header_size`` default); a float matrix's is 128 bytes.
MAX_HEADER_BYTES = 10_000
#: Most entries a factor file may declare (2**26: 256 MB as float32), far above any layer's
#: S × R_S or C × R_C (a 256×256 layer with 64 parts: 4.2 million).
MAX_FACTOR_ELEMENTS = 2**26

_NAME = re.compile(r"^(?P<kind>Us|Uc)-name_(?P<model>.+)-layer_(?P<layer>\d+)-rank_(?P<rank>\d+)\.npy$")


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
    rank : int
        R_S for parts, R_C for appearances.
    """

    kind: str
    model: str
    layer: int
    rank: int


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
    return OfficialFactorFile(match["kind"], match["model"], int(match["layer"]), int(match["rank"]))


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


@dataclass(frozen=True)
class NpyHeader:
    """What a ``.npy`` file's header declares, read without touching its data.

    Attributes
    ----------
    shape : tuple of int
    fortran_order : bool
    dtype : numpy.dtype
    data_offset : int
        Where the data starts (bytes from the file's start).
    data_bytes : int
        The bytes the file holds after the header.
    """

    shape: tuple[int, ...]
    fortran_order: bool
    dtype: np.dtype
    data_offset: int
    data_bytes: int

    @property
    def nbytes(self) -> int:
        """The bytes the declared shape and dtype need."""
        return math.prod(self.shape) * self.dtype.itemsize


def read_npy_header(path: str | Path, what: str = "factor") -> NpyHeader:
    """Read and check a ``.npy`` header (magic, version, shape, dtype, order) before any data.

    Uses :func:`numpy.lib.format.read_magic` and ``read_array_header_1_0`` / ``_2_0`` after
    checking the declared header length against the file, so nothing is allocated for what
    the header declares. Refused: a file that is not a regular file or not a ``.npy``;
    headers over :data:`MAX_HEADER_BYTES`; dtypes other than float16/32/64 (object arrays,
    which only pickle can read, raise :class:`~panda_viz.exceptions.UnsafeFileError`; void
    and structured dtypes :class:`~panda_viz.exceptions.InvalidFileError`); shapes that are
    not 2-D or declare more than :data:`MAX_FACTOR_ELEMENTS` entries
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
        raise FileNotFoundError(f"{what} file {str(path)!r} does not exist") from None
    except OSError as err:
        raise InvalidFileError(f"{what} file {str(path)!r} cannot be read: {err}", path) from err
    if not stat.S_ISREG(info.st_mode):
        raise InvalidFileError(f"{what} file {str(path)!r} is not a regular file", path)
    name = path.name
    with path.open("rb") as f:
        size = os.fstat(f.fileno()).st_size
        try:
            version = npformat.read_magic(f)
        except ValueError as err:
            head = path.read_bytes()[:8] if size else b""
            raise InvalidFileError(
                f"{what} file {name!r} is not a .npy file: expected the magic string b'\\x93NUMPY' and a version, "
                f"found {head!r}", path) from err
        if version not in ((1, 0), (2, 0), (3, 0)):
            raise InvalidFileError(f"{what} file {name!r}: .npy format version 1.0, 2.0 or 3.0 expected; got {version}", path)
        length_bytes = 2 if version == (1, 0) else 4
        raw = f.read(length_bytes)
        if len(raw) != length_bytes:
            raise InvalidFileError(f"{what} file {name!r} is truncated inside its header ({size} bytes in all)", path)
        header_length = int.from_bytes(raw, "little")
        if header_length > MAX_HEADER_BYTES or f.tell() + header_length > size:
            raise FileLimitError(
                f"{what} file {name!r} declares a {header_length}-byte header; at most "
                f"{min(MAX_HEADER_BYTES, max(size - f.tell(), 0))} bytes expected (limit {MAX_HEADER_BYTES}, "
                f"file size {size})", path)
        f.seek(6 + 2)  # back to the header length: numpy reads it again
        reader = npformat.read_array_header_1_0 if version == (1, 0) else npformat.read_array_header_2_0
        try:
            shape, fortran_order, dtype = reader(f, max_header_size=MAX_HEADER_BYTES)
        except Exception as err:  # numpy's parser raises ValueError, SyntaxError, tokenize's TokenError, RecursionError…
            raise InvalidFileError(f"{what} file {name!r} has an unreadable .npy header: {err}", path) from err
        offset = f.tell()
    if dtype.hasobject:
        raise UnsafeFileError(
            f"{what} file {name!r} holds an object array ({dtype}), which only pickle can read (running code "
            f"from the file); a float matrix expected", path)
    if dtype.kind != "f" or dtype.itemsize not in (2, 4, 8):
        raise InvalidFileError(
            f"{what} file {name!r} holds {dtype} data; a float16, float32 or float64 matrix expected", path)
    if len(shape) != 2 or any(n < 0 for n in shape):
        raise InvalidFileError(f"{what} file {name!r} holds an array of shape {shape}; a 2-D matrix expected", path)
    if math.prod(shape) > MAX_FACTOR_ELEMENTS:
        raise FileLimitError(
            f"{what} file {name!r} declares a {shape[0]}×{shape[1]} matrix ({math.prod(shape)} entries); at most "
            f"{MAX_FACTOR_ELEMENTS} expected", path)
    header = NpyHeader(tuple(shape), bool(fortran_order), dtype, offset, size - offset)
    if header.data_bytes < header.nbytes:
        raise InvalidFileError(
            f"{what} file {name!r} is truncated: its header declares a {shape[0]}×{shape[1]} {dtype} matrix "
            f"({header.nbytes} bytes of data), the file holds {header.data_bytes}", path)
    if header.data_bytes > header.nbytes:
        raise InvalidFileError(
            f"{what} file {name!r} has {header.data_bytes - header.nbytes} bytes after the {shape[0]}×{shape[1]} "
            f"{dtype} matrix its header declares ({header.nbytes} bytes of data expected)", path)
    return header


def read_npy_data(path: str | Path, header: NpyHeader, what: str = "factor") -> np.ndarray:
    """The matrix a checked header (:func:`read_npy_header`) describes, as float64 (C order); finite values only."""
    path = Path(path)
    with path.open("rb") as f:
        f.seek(header.data_offset)
        data = f.read(header.nbytes)
    if len(data) != header.nbytes:  # the file changed since its header was read
        raise InvalidFileError(f"{what} file {path.name!r} is truncated: {header.nbytes} bytes of data expected, "
                               f"found {len(data)}", path)
    flat = np.frombuffer(data, dtype=header.dtype)
    rows, cols = header.shape
    array = flat.reshape(cols, rows).T if header.fortran_order else flat.reshape(rows, cols)
    array = np.ascontiguousarray(array, dtype=np.float64)
    if not np.isfinite(array).all():
        raise InvalidFileError(f"{what} file {path.name!r} holds non-finite values; a finite matrix expected", path)
    return array


def _check_rank(info: OfficialFactorFile, header: NpyHeader, path: Path, what: str) -> int:
    """The number of factors a file holds, checked against the rank its name says.

    The official ``Model.save()`` names the files by the *requested* ranks
    (``decompose(ranks=[R_C, R_S])``, default ``[512, 8]``), and its HOSVD-initialised
    appearances keep ``Uc_init[:, :R_C]``, i.e. min(R_C, C) columns: a ``Uc-…-rank_512.npy``
    of a 256-channel layer holds a 256×256 matrix. That case loads with a warning;
    any other disagreement is refused.
    """
    rows, cols = header.shape
    if cols == 0 or info.rank == 0:
        raise InvalidFileError(
            f"{what} file {path.name!r} says rank {info.rank} and holds a {rows}×{cols} matrix: rank 0, no "
            f"{'parts' if info.kind == 'Us' else 'appearances'}; a decomposition has at least one", path)
    if cols == info.rank:
        return cols
    if info.kind == "Uc" and info.rank > cols == rows:
        warnings.warn(
            f"{path.name!r} says rank {info.rank} but holds a {rows}×{cols} matrix: the official Model.save() names "
            f"files by the requested rank R_C = {info.rank}, and its HOSVD appearances have min({info.rank}, C) = "
            f"{cols} columns; loading {cols} appearances",
            UserWarning,
            stacklevel=3,
        )
        return cols
    raise InvalidFileError(f"{path.name!r} says rank {info.rank} but holds a {rows}×{cols} matrix", path)


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
    the data are read as raw floats (see :func:`read_npy_header`).
    """
    from .decomposition import PandA

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
    module_name = official_layer(generator, layer) if isinstance(layer, int) and not isinstance(layer, bool) else layer
    if not isinstance(module_name, str):
        raise InvalidTypeError(f"layer must be a module name (str) or an official layer number (int); got {layer!r}")
    C, H, W = generator.check_layer(module_name)

    # headers first: nothing is allocated for a file until its shape fits the layer
    us_header = read_npy_header(parts_path, "parts (Us)")
    uc_header = read_npy_header(appearances_path, "appearances (Uc)")
    if uc_header.shape[0] != C or us_header.shape[0] != H * W:
        raise IncompatibleFactorsError(
            f"factor pair {parts_path.name!r} (parts {us_header.shape[0]}×{us_header.shape[1]}) and "
            f"{appearances_path.name!r} (appearances {uc_header.shape[0]}×{uc_header.shape[1]}) does not fit layer "
            f"{module_name!r} of {getattr(generator, 'name', 'the generator')!r}: its features are {C}×{H}×{W}, so "
            f"parts need S = {H * W} rows and appearances C = {C} rows"
        )
    n_parts = _check_rank(us, us_header, parts_path, "parts (Us)")
    n_appearances = _check_rank(uc, uc_header, appearances_path, "appearances (Uc)")
    if n_parts > H * W or n_appearances > C:
        raise IncompatibleFactorsError(
            f"ranks R_S = {n_parts} ({parts_path.name!r}), R_C = {n_appearances} ({appearances_path.name!r}) exceed "
            f"S = {H * W}, C = {C} of layer {module_name!r}: at most S parts and C appearances expected"
        )
    Us = read_npy_data(parts_path, us_header, "parts (Us)")
    Uc = read_npy_data(appearances_path, uc_header, "appearances (Uc)")
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
