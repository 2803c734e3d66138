"""Direction files published with official code, read as :class:`Directions`.

LowRankGAN's repository (github.com/zhujiapeng/LowRankGAN, ``directions/ffhq1024/*.npy``,
``directions/metfaces1024/*.npy``) publishes directions for StyleGAN2 FFHQ-1024 and
MetFaces-1024 as ``.npy`` arrays of shape (k, 512), float64, one unit-norm direction in W a
row, which its ``manipulate.py`` adds to layers 4–7 of w+. ``compute_directions.py`` writes
the same format (``directions_img_…_lowrankgan.npy`` and ``…_projected.npy``).

The file is data: its header is checked (a 2-D float matrix, sizes within limits, nothing
after the data) before any byte of data is read, by the same reader as the official PandA
factor files (:func:`panda_viz.formats.official.read_factor_header`); no pickle is ever loaded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..exceptions import InvalidFileError, InvalidInputError, InvalidTypeError
from ..formats.official import read_factor_data, read_factor_header
from ..generators.base import Generator
from ._directions import Directions

__all__ = ["load_directions", "DIRECTION_FILE_METHODS", "direction_width"]

#: The methods whose direction files :func:`load_directions` reads.
DIRECTION_FILE_METHODS = ("lowrankgan",)
#: How far from 1 a row's norm may be (float16 files round it more).
_UNIT_TOLERANCE = {2: 1e-2, 4: 1e-3, 8: 1e-3}


def direction_width(generator: Generator) -> tuple[int, str]:
    """The width of a LowRankGAN direction for ``generator``, and the space it lives in.

    ``w_dim`` for a style-based generator with w or w+ latents (``latent_space="w"`` /
    ``"w+"``); the flat latent size for a generator without a W space (a DCGAN, PGGAN), whose
    directions live in its latent space (as ``compute_directions.py`` computes them from
    z Jacobians). A style-based generator with z latents has no width here: LowRankGAN's
    directions are in W.

    Raises
    ------
    InvalidInputError
        A style-based generator whose latents are z.
    """
    space = getattr(generator, "latent_space", None)
    if space in ("w", "w+"):
        return generator.latent_shape[-1], "w"
    if space == "z" or generator.downstream_needs_latents:
        raise InvalidInputError(
            f"generator {generator.name!r} is style-based and takes z latents, but LowRankGAN's directions are in W: "
            "load it with latent_space='w' or 'w+' (NVlabs StyleGAN2/3; the genforce loaders give z latents only)"
        )
    return int(np.prod(generator.latent_shape)), "latent"


def load_directions(path: str | Path, generator: Generator, *, method: str = "lowrankgan") -> Directions:
    """Read an official direction file as :class:`Directions` for ``generator``.

    Parameters
    ----------
    path : str or Path
        A LowRankGAN ``.npy`` file: a (k, width) float matrix (float64 as published;
        float32 and float16 are read exactly as float64), k ≥ 1, one unit-norm direction a row.
    generator : Generator
        What the directions will edit. Its width (:func:`direction_width`): ``w_dim`` for
        w / w+ latents — edit w+ the official way with
        ``apply_direction(ws, result[j], alpha, layers=EDIT_LAYERS)`` — or the flat latent
        size of a generator without a W space.
    method : {"lowrankgan"}
        Whose file format.

    Returns
    -------
    Directions
        ``directions`` (k, width) float64 in the file's order; ``scores`` NaN (the files
        hold none); ``method`` ``"lowrankgan"``; ``info``: ``path``, ``space`` (``"w"`` or
        ``"latent"``), ``dtype`` (the file's).

    Raises
    ------
    FileNotFoundError
        No such file.
    InvalidFileError, UnsafeFileError, FileLimitError
        Not a ``.npy`` file; not a 2-D float matrix (object arrays are refused unread);
        truncated or too large; non-finite values; no rows; a row whose norm is not 1; a
        width other than the generator's. Each message names the file.
    InvalidInputError
        An unknown ``method``, or a style-based generator with z latents.
    """
    if method not in DIRECTION_FILE_METHODS:
        raise InvalidInputError(f"Invalid method: got {method!r} instead of one of {set(DIRECTION_FILE_METHODS)}")
    if not isinstance(generator, Generator):
        raise InvalidTypeError(f"generator must be a panda_viz Generator; got {type(generator).__name__}")
    width, space = direction_width(generator)
    what = "LowRankGAN direction"
    path = Path(path)
    header = read_factor_header(path, what)
    k, cols = header.shape
    if cols != width:
        where = f"w_dim {width}" if space == "w" else f"its flat latent size {width}"
        raise InvalidFileError(
            f"{what} file {path.name!r} holds {k}×{cols} directions; generator {generator.name!r} needs rows of "
            f"width {width} ({where})", path)
    if k == 0:
        raise InvalidFileError(f"{what} file {path.name!r} holds no directions (0×{cols}); at least one row expected", path)
    array = read_factor_data(path, header, what)
    norms = np.linalg.norm(array, axis=1)
    bad = np.flatnonzero(np.abs(norms - 1) > _UNIT_TOLERANCE[header.dtype.itemsize])
    if len(bad):
        raise InvalidFileError(
            f"{what} file {path.name!r}: row {int(bad[0])} has norm {norms[bad[0]]:.6g} ({len(bad)} of {k} rows are "
            f"not unit vectors); LowRankGAN's directions have unit norm (is it a file of latent codes?)", path)
    return Directions(
        directions=torch.tensor(array),  # a copy: the array may be a read-only view of the bytes read
        scores=torch.full((k,), float("nan"), dtype=torch.float64),
        method=method,
        info={"path": str(path), "space": space, "dtype": str(header.dtype)},
    )
