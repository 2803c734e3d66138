"""StyleSpace's official scoring steps, on tensors: region labels, the overlap score, the vote and the shares.

Each function transcribes one step of the official code (github.com/betterze/StyleSpace):
``align_mask.py`` (the label maps reduced to the gradient maps' resolution, ``OverlapScore``)
and ``semantic_channel.py`` (``TopRate``: the score n / o², each image's vote, a channel's
share of the images holding a region). :func:`panda_viz.baselines.stylespace.stylespace`
runs them in order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from .._checks import check_float
from ..exceptions import InvalidInputError, InvalidTypeError

__all__ = [
    "REST",
    "region_labels",
    "downsample_labels",
    "overlap_scores",
    "region_votes",
    "vote_counts",
    "vote_shares",
    "count_shares",
]

#: The region of the pixels no named mask covers (label 0).
REST = "rest"


# --------------------------------------------------------------------------- regions
def _as_tensor(value: Any, what: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    try:
        return torch.as_tensor(np.asarray(value))
    except (TypeError, ValueError, RuntimeError) as err:
        raise InvalidTypeError(f"{what} must be a tensor or array; got {type(value).__name__}") from err


def _per_image(value: torch.Tensor, n: int, hw: tuple[int, int], what: str) -> torch.Tensor:
    """``value`` (H, W), (1, H, W) or (N, H, W) as (N, H, W)."""
    given = tuple(value.shape)
    if value.ndim == 2:
        value = value[None]
    if value.ndim != 3 or tuple(value.shape[1:]) != hw or len(value) not in (1, n):
        raise InvalidInputError(
            f"{what} of shape {hw} (the image size), (1, {hw[0]}, {hw[1]}) or ({n}, {hw[0]}, {hw[1]}) expected; got {given}"
        )
    return value.expand(n, *hw)


def region_labels(
    regions: Any,
    n: int,
    image_hw: tuple[int, int],
    *,
    region_names: Sequence[str] | None = None,
    mask_threshold: float = 0.5,
) -> tuple[torch.Tensor, tuple[str, ...]]:
    """Per-image label maps (N, H, W) and region names from named masks or label maps.

    Parameters
    ----------
    regions : mapping of str to mask, or label maps
        Named masks: name → (H, W), (1, H, W) or (N, H, W) with values in [0, 1] (bool
        masks too). A pixel belongs to the region whose mask is largest there, if that is
        at least ``mask_threshold`` (the first named on ties); pixels no mask reaches form
        :data:`REST`, label 0; region ``i`` of the mapping is label ``i + 1``.
        Label maps: an integer tensor or array (H, W) or (N, H, W), labels ≥ 0 (a
        segmenter's classes; every pixel has one).
    n : int
        The number of images.
    image_hw : (int, int)
        The image size; masks and label maps must have it.
    region_names : sequence of str, optional
        Label maps only: the name of each label value (default ``"0"``, ``"1"``, …).
    mask_threshold : float
        Named masks only: in (0, 1].

    Returns
    -------
    labels : LongTensor (N, H, W)
    names : tuple of str
        ``names[label]``.
    """
    if isinstance(regions, Mapping):
        if region_names is not None:
            raise InvalidInputError("region_names= names the labels of label maps; named masks carry their names")
        if not regions:
            raise InvalidInputError("regions is empty: give at least one named mask")
        mask_threshold = check_float("mask_threshold", mask_threshold, low=0.0, high=1.0)
        names = [REST]
        masks = []
        for name, mask in regions.items():
            if not isinstance(name, str) or not name:
                raise InvalidTypeError(f"region names must be non-empty strings; got {name!r}")
            if name == REST:
                raise InvalidInputError(f"the region name {REST!r} is reserved for the pixels no mask covers")
            mask = _per_image(_as_tensor(mask, f"mask {name!r}").to(torch.float64), n, image_hw, f"mask {name!r}")
            if not bool(torch.isfinite(mask).all()) or mask.min() < 0 or mask.max() > 1:
                raise InvalidInputError(
                    f"mask {name!r} must hold values in [0, 1]; got range [{float(mask.min()):.3g}, {float(mask.max()):.3g}]"
                )
            if not bool((mask >= mask_threshold).any()):
                raise InvalidInputError(
                    f"mask {name!r} covers no pixel: no value reaches mask_threshold={mask_threshold} in any image"
                )
            names.append(name)
            masks.append(mask)
        stacked = torch.stack(masks)  # (K, N, H, W)
        best, index = stacked.max(dim=0)  # the first of equal maxima
        labels = torch.where(best >= mask_threshold, index + 1, 0)
        return labels.long(), tuple(names)
    labels = _as_tensor(regions, "regions")
    if labels.dtype == torch.bool or labels.is_floating_point() or labels.is_complex():
        raise InvalidTypeError(
            f"regions must be named masks (a dict of name to mask) or integer label maps (N, H, W); got a "
            f"{labels.dtype} array (for one mask, pass {{'name': mask}})"
        )
    labels = _per_image(labels.long(), n, image_hw, "label maps")
    if labels.min() < 0:
        raise InvalidInputError(f"label maps must hold labels >= 0; got {int(labels.min())}")
    top = int(labels.max())
    if region_names is None:
        return labels, tuple(str(v) for v in range(top + 1))
    names = tuple(region_names) if not isinstance(region_names, str) else None
    if names is None or not all(isinstance(s, str) and s for s in names) or len(set(names)) != len(names):
        raise InvalidInputError(f"region_names must be distinct non-empty strings, one per label; got {region_names!r}")
    if top >= len(names):
        raise InvalidInputError(f"label maps hold label {top}, but region_names names labels 0 … {len(names) - 1} only")
    return labels, names


def downsample_labels(labels: torch.Tensor, out_size: int, n_regions: int) -> torch.Tensor:
    """Label maps (N, H, W) reduced to (N, out_size, out_size) by a majority in each block.

    The official ``align_mask.py``: one-hot masks summed over each (H / out) × (W / out)
    block, then ``argmax`` (the lowest label wins a tie).
    """
    n, h, w = labels.shape
    bh, bw = h // out_size, w // out_size
    one_hot = torch.nn.functional.one_hot(labels, n_regions)  # (N, H, W, K)
    counts = one_hot.reshape(n, out_size, bh, out_size, bw, n_regions).sum(dim=(2, 4))
    return counts.argmax(dim=-1)  # first maximum: the lowest label


# --------------------------------------------------------------------------- scores
def overlap_scores(maps: torch.Tensor, labels: torch.Tensor, n_regions: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The official ``OverlapScore`` of every channel's gradient map with every region.

    Parameters
    ----------
    maps : Tensor (N, C, h, w)
        Per image and channel, ``mean_RGB |gradient|`` at the pooled size.
    labels : LongTensor (N, h, w)
        Label maps at the same size (:func:`downsample_labels`).
    n_regions : int
        K; labels are 0 … K − 1.

    Returns
    -------
    n : Tensor (N, C, K), float64
        Pixels of the region where the map exceeds its (1 − p) quantile, p = o / (h·w);
        NaN where the region is absent from the image.
    o : Tensor (N, K), float64
        The region's pixel count, NaN where absent (the official code returns NaN for n,
        u and o there).
    """
    N, C = maps.shape[:2]
    flat = maps.reshape(N, C, -1).to(torch.float64)
    pixels = flat.shape[-1]
    lab = labels.reshape(N, -1).to(flat.device)
    n_out = torch.full((N, C, n_regions), math.nan, dtype=torch.float64, device=flat.device)
    o_out = torch.full((N, n_regions), math.nan, dtype=torch.float64, device=flat.device)
    for i in range(N):
        sizes = torch.bincount(lab[i], minlength=n_regions)[:n_regions]
        present = torch.nonzero(sizes).flatten()
        q = 1 - sizes[present].to(torch.float64) / pixels  # 1 − p
        thresholds = torch.quantile(flat[i], q, dim=1, interpolation="linear")  # (R, C), np.percentile's default
        above = flat[i][None] > thresholds[..., None]  # (R, C, P)
        inside = lab[i][None, :] == present[:, None]  # (R, P)
        n_out[i][:, present] = (above & inside[:, None, :]).sum(-1).T.to(torch.float64)
        o_out[i, present] = sizes[present].to(torch.float64)
    return n_out, o_out


def region_votes(n: torch.Tensor, o: torch.Tensor, *, discount: float = 2.0) -> torch.Tensor:
    """Each image's vote per channel: the region with the highest score n / o^discount.

    The official ``TopRate``: ``np.nanargmax(np.abs(n / o**discount_factor), axis=1)``;
    absent regions (NaN) never win, the first region wins a tie.

    Parameters
    ----------
    n : Tensor (N, C, K)
    o : Tensor (N, K)
        As :func:`overlap_scores` returns them.
    discount : float
        The official ``discount_factor`` (2: "pay higher weight [to] precision").

    Returns
    -------
    LongTensor (N, C)
        The region each image votes for, per channel.
    """
    score = (n / o[:, None, :] ** discount).abs()
    return torch.nan_to_num(score, nan=-math.inf).argmax(dim=-1)


def vote_counts(votes: torch.Tensor, n_regions: int) -> torch.Tensor:
    """How many images voted for each region, per channel: LongTensor (C, K) from votes (N, C)."""
    return torch.nn.functional.one_hot(votes, n_regions).sum(dim=0)


def count_shares(counts: torch.Tensor, holding: torch.Tensor) -> torch.Tensor:
    # a region no image holds scores 0: the official code divides by 1 there
    return counts.to(torch.float64) / holding.clamp_min(1).to(torch.float64)


def vote_shares(votes: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """A channel's score per region: the share of the images holding the region that voted for it.

    Parameters
    ----------
    votes : LongTensor (N, C)
        :func:`region_votes`.
    present : BoolTensor (N, K)
        Which regions each image holds (``~isnan(o)``).

    Returns
    -------
    Tensor (C, K), float64
        Votes / images holding the region (a region no image holds: 0, as the official
        code divides by 1 there).
    """
    return count_shares(vote_counts(votes, present.shape[1]), present.sum(dim=0))


# --------------------------------------------------------------------------- result
