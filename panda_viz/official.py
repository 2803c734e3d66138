"""The official PandA factor files (``Us-…npy`` / ``Uc-…npy``) as fitted :class:`~panda_viz.PandA` models.

The authors' code (github.com/james-oldfield/PandA) saves a decomposition as two NumPy
files named after the genforce model, its integer layer and the ranks::

    Us-name_stylegan2_ffhq1024-layer_5-rank_8.npy      parts, S × R_S (S = H·W, row-major)
    Uc-name_stylegan2_ffhq1024-layer_5-rank_512.npy    appearances, C × R_C

and its edit zoo indexes them. :func:`load_official_factors` reads such a pair into a
fitted :class:`~panda_viz.PandA` bound to the right layer of a loaded generator, so
:mod:`panda_viz.editing` and :mod:`panda_viz.edit_zoo` apply the paper's own edits.

The official ``layer`` is an integer that counts the synthesis loop, not a module name:
for genforce StyleGAN2 it is the output of ``synthesis.layer{L-1}`` (L = 5 is 16×16 on a
1024-pixel model, L = 6 and 7 are 32×32); for StyleGAN and PGGAN ``(synthesis.)layer{2L-5}``
(see :func:`panda_viz.generators.genforce.official_layer_name`). For other generators pass
the module name with ``layer=``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .generators.genforce import ARCHITECTURES, official_layer_name

__all__ = ["OfficialFactorFile", "parse_official_name", "official_file_names", "official_layer", "load_official_factors"]

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
    ValueError
        The name does not follow the official pattern.
    """
    name = Path(path).name
    match = _NAME.match(name)
    if match is None:
        raise ValueError(
            f"official factor files are named 'Us-name_{{model}}-layer_{{L}}-rank_{{R}}.npy' or "
            f"'Uc-name_…-layer_…-rank_….npy'; got {name!r}"
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
        raise ValueError(
            f"official layer numbers count genforce synthesis layers; generator {getattr(generator, 'name', generator)!r} "
            f"is not a genforce {'/'.join(ARCHITECTURES)} generator: pass layer='<module name>' (one of its .layers)"
        )
    return official_layer_name(architecture, layer)


def _load_npy(path: Path, what: str) -> np.ndarray:
    if not path.is_file():
        raise FileNotFoundError(f"{what} file {str(path)!r} does not exist")
    array = np.load(path, allow_pickle=False)
    if array.ndim != 2 or not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"{what} file {path.name!r} must hold a 2-D float matrix; got {array.dtype} {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{what} file {path.name!r} holds non-finite values")
    return array


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
        ``Uc-name_{model}-layer_{L}-rank_{R_C}.npy``: the appearances, C × R_C.
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
    ValueError
        The names do not follow the pattern, the two files disagree (model or layer), a
        rank in a name disagrees with the matrix, or the matrices do not fit the layer's
        features (C × H × W); the message names both.
    """
    from .decomposition import PandA

    parts_path, appearances_path = Path(parts_path), Path(appearances_path)
    us, uc = parse_official_name(parts_path), parse_official_name(appearances_path)
    if us.kind != "Us" or uc.kind != "Uc":
        raise ValueError(
            f"parts_path must be the 'Us-…' (parts) file and appearances_path the 'Uc-…' (appearances) "
            f"file; got {parts_path.name!r} and {appearances_path.name!r}"
        )
    if (us.model, us.layer) != (uc.model, uc.layer):
        raise ValueError(
            f"the two files belong to different decompositions: {parts_path.name!r} is model {us.model!r} "
            f"layer {us.layer}, {appearances_path.name!r} is model {uc.model!r} layer {uc.layer}"
        )
    Us = _load_npy(parts_path, "parts (Us)")
    Uc = _load_npy(appearances_path, "appearances (Uc)")
    for info, matrix, path in ((us, Us, parts_path), (uc, Uc, appearances_path)):
        if matrix.shape[1] != info.rank:
            raise ValueError(f"{path.name!r} says rank {info.rank} but holds a {matrix.shape[0]}×{matrix.shape[1]} matrix")
    if (Us < 0).any():
        raise ValueError(f"parts file {parts_path.name!r} has negative entries (min {Us.min():g}); parts are non-negative")

    if layer is None:
        layer = us.layer
    module_name = official_layer(generator, layer) if isinstance(layer, int) and not isinstance(layer, bool) else layer
    if not isinstance(module_name, str):
        raise TypeError(f"layer must be a module name (str) or an official layer number (int); got {layer!r}")
    C, H, W = generator._check_layer(module_name)
    if Uc.shape[0] != C or Us.shape[0] != H * W:
        raise ValueError(
            f"factor pair {parts_path.name!r} (parts {Us.shape[0]}×{Us.shape[1]}) and {appearances_path.name!r} "
            f"(appearances {Uc.shape[0]}×{Uc.shape[1]}) does not fit layer {module_name!r} of "
            f"{getattr(generator, 'name', 'the generator')!r}: its features are {C}×{H}×{W}, so parts "
            f"need S = {H * W} rows and appearances C = {C} rows"
        )
    if us.rank > H * W or uc.rank > C:
        raise ValueError(f"ranks R_S = {us.rank}, R_C = {uc.rank} exceed S = {H * W}, C = {C} of layer {module_name!r}")

    parts = torch.from_numpy(np.ascontiguousarray(Us.T, dtype=np.float32)).reshape(us.rank, H, W)
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
