"""Building blocks shared by the genforce generator families (PGGAN, StyleGAN, StyleGAN2).

Pixel norm, genforce's dense layer with equalised learning rate, the mapping and
truncation modules, the style-based forward, and the checks every family's constructor
runs on a state dict (level of detail, indexed keys, tensor shapes, size limits).
:mod:`.pggan`, :mod:`.stylegan` and :mod:`.stylegan2` build on
this module, and :mod:`.loader` imports those: keeping the blocks here
means no family module imports the loader back.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..._checks import describe
from ...exceptions import FileLimitError, InvalidFileError, InvalidStateError
from ...fileio.weights import count_indexed  # shared with the BigGAN loader

__all__ = [
    "LIMITS",
    "pixel_norm",
    "Holder",
    "DenseBlock",
    "StyleAffine",
    "MappingModule",
    "TruncationModule",
    "StyleBasedGenerator",
    "leaky",
    "check_lod",
    "count_blocks",
    "count_indexed",
    "read_mapping_widths",
    "tensor_shape",
    "check_size",
]

#: Upper bounds on what the shapes of a checkpoint may describe (far above every model-zoo
#: file: 1024 px is 9 resolutions, 512 channels, 8 mapping layers).
LIMITS = {
    "resolutions": 12,  # 4 px · 2**11 = 8192 px
    "channels": 16_384,  # feature maps, z and w
    "mapping_layers": 64,
    "image_channels": 16,
}


def pixel_norm(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """``x / sqrt(mean(x², dim) + eps)``: genforce's ``PixelNormLayer``."""
    return x * torch.rsqrt(x.square().mean(dim=dim, keepdim=True) + eps)


class Holder(nn.Module):
    """A container of parameters/buffers under genforce's key names, never called itself.

    genforce keeps e.g. a layer's noise in a child module ``apply_noise``; here the
    parent reads it directly, so such children never run and do not show up as
    hookable layers of the :class:`~panda_viz.generators.Generator`.
    """

    def forward(self, *_args: Any) -> None:  # pragma: no cover - never called
        raise InvalidStateError(f"{type(self).__name__} only holds tensors and is never called; its parent reads them")


class DenseBlock(nn.Module):
    """A fully connected layer with equalised learning rate (genforce ``DenseBlock``).

    ``y = act(x @ (weight * gain / sqrt(in) * lr_mul)ᵀ + bias * lr_mul + additional_bias)
    * act_scale``, with a leaky ReLU (slope 0.2) or no activation.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        gain: float,
        lr_mul: float = 1.0,
        lrelu: bool = True,
        act_scale: float = 1.0,
        additional_bias: float = 0.0,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(out_channels, in_channels))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.wscale = gain / math.sqrt(in_channels) * lr_mul
        self.bscale = lr_mul
        self.lrelu = lrelu
        self.act_scale = act_scale
        self.additional_bias = additional_bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.linear(x.flatten(1), self.weight * self.wscale, self.bias * self.bscale)
        if self.additional_bias:
            x = x + self.additional_bias
        if self.lrelu:
            x = F.leaky_relu(x, 0.2)
        return x * self.act_scale if self.act_scale != 1.0 else x


class StyleAffine(nn.Module):
    """A synthesis layer's affine map w → style, ``w @ (weight / sqrt(w_dim))ᵀ + bias + offset``.

    genforce keeps these weights in a child ``style`` of each layer (``style.weight``,
    ``style.bias``); here that child is a module its parent calls, so the style a layer
    receives (its part of StyleSpace's S) can be read and replaced by forward hooks
    (:mod:`panda_viz.generators.styles`). Its output is 2-D, so it is not a hookable
    feature layer. ``offset`` is StyleGAN2's ``+ 1`` (the style that scales the kernel).
    """

    def __init__(self, w_dim: int, out_channels: int, *, offset: float = 0.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(out_channels, w_dim))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.wscale = 1.0 / math.sqrt(w_dim)
        self.offset = offset

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        style = F.linear(w, self.weight * self.wscale, self.bias)
        return style + self.offset if self.offset else style


class MappingModule(nn.Module):
    """z → w: pixel norm, then ``dense0 … dense{n-1}`` (genforce ``MappingModule``)."""

    def __init__(self, widths: list[int], *, gain: float, lr_mul: float, act_scale: float) -> None:
        super().__init__()
        self.widths = list(widths)  # z_dim, then each layer's output width (the last is w_dim)
        self.num_layers = len(widths) - 1
        for i in range(self.num_layers):
            self.add_module(
                f"dense{i}",
                DenseBlock(widths[i], widths[i + 1], gain=gain, lr_mul=lr_mul, act_scale=act_scale),
            )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        w = pixel_norm(z)
        for i in range(self.num_layers):
            w = getattr(self, f"dense{i}")(w)
        return w


class TruncationModule(nn.Module):
    """w → wp (N, num_layers, w_dim), pulled towards ``w_avg`` on the first layers.

    Layers ``0 … trunc_layers-1`` get ``w_avg + psi (w - w_avg)``; the rest keep w
    (genforce ``TruncationModule``; psi = 1 or trunc_layers = 0 disables it).
    """

    def __init__(self, w_dim: int, num_layers: int) -> None:
        super().__init__()
        self.num_layers = num_layers
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, w: torch.Tensor, trunc_psi: float = 1.0, trunc_layers: int | None = None) -> torch.Tensor:
        wp = w[:, None, :].expand(-1, self.num_layers, -1) if w.ndim == 2 else w
        trunc_layers = self.num_layers if trunc_layers is None else trunc_layers
        if trunc_psi < 1.0 and trunc_layers > 0:
            coefs = torch.ones(self.num_layers, 1, dtype=wp.dtype, device=wp.device)
            coefs[: min(trunc_layers, self.num_layers)] = trunc_psi
            wp = torch.lerp(self.w_avg.to(wp.dtype), wp, coefs)
        return wp


class StyleBasedGenerator(nn.Module):
    """A style-based genforce generator: ``mapping``, ``truncation`` and a family's ``synthesis``.

    Parameters
    ----------
    mapping : MappingModule
        z (N, z_dim) → w (N, w_dim).
    synthesis : nn.Module
        Per-layer latents wp (N, num_layers, w_dim) → images; has ``num_layers`` and
        ``resolution``.
    """

    architecture: str

    def __init__(self, mapping: MappingModule, synthesis: nn.Module) -> None:
        super().__init__()
        self.z_dim, self.w_dim = mapping.widths[0], mapping.widths[-1]
        self.mapping = mapping
        self.synthesis = synthesis
        self.truncation = TruncationModule(self.w_dim, synthesis.num_layers)
        self.resolution = synthesis.resolution
        self.num_layers = synthesis.num_layers

    def mapping_and_truncation(
        self, z: torch.Tensor, trunc_psi: float = 1.0, trunc_layers: int | None = None
    ) -> torch.Tensor:
        """The per-layer latents wp (N, num_layers, w_dim) for z (N, z_dim)."""
        return self.truncation(self.mapping(z), trunc_psi, trunc_layers)

    def forward(
        self,
        z: torch.Tensor,
        trunc_psi: float = 1.0,
        trunc_layers: int | None = None,
        randomize_noise: bool = False,
    ) -> torch.Tensor:
        """Images (N, 3, H, W) for z (N, z_dim)."""
        return self.synthesis(self.mapping_and_truncation(z, trunc_psi, trunc_layers), randomize_noise)


def leaky(x: torch.Tensor) -> torch.Tensor:
    """genforce's activation: leaky ReLU with slope 0.2 (not in place)."""
    return F.leaky_relu(x, 0.2)


def check_lod(state_dict: Mapping[str, torch.Tensor], key: str, where: str = "genforce checkpoint") -> None:
    """Refuse a checkpoint saved mid progressive growing (``lod`` ≠ 0), or a malformed ``lod``."""
    if key not in state_dict:
        return
    value = state_dict[key]
    if not isinstance(value, torch.Tensor) or value.numel() != 1 or not value.dtype.is_floating_point:
        shape = tuple(value.shape) if isinstance(value, torch.Tensor) else describe(value)
        raise InvalidFileError(f"{where}: {key!r} must be one floating-point number (the level of detail); got {shape}")
    lod = float(value.reshape(()))
    if lod != 0.0:
        raise InvalidFileError(
            f"{where}: genforce checkpoint has {key} = {lod} (saved during progressive "
            "growing); only finished generators (lod = 0) are supported"
        )


def count_blocks(state_dict: Mapping[str, Any], prefix: str, model: str, where: str, *,
                 others: tuple[str, ...] = ()) -> int:
    """The number of resolutions of a PGGAN-style synthesis: ``{prefix}output{b}`` per block,
    two ``{prefix}layer{i}`` per block.

    Parameters
    ----------
    prefix : str
        ``""`` (PGGAN) or ``"synthesis."`` (StyleGAN); the layers are named "synthesis
        layers" in messages when it is given.
    model : str
        The family, for messages ("PGGAN", "StyleGAN").
    others : tuple of str
        Further counts the mismatch message lists (e.g. ``("8 mapping layers",)``).

    Raises
    ------
    InvalidFileError
        No layers, no outputs, or not two layers per output.
    FileLimitError
        More resolutions than ``LIMITS["resolutions"]``.
    """
    num_blocks = count_indexed(state_dict, f"{prefix}output")
    num_layers = count_indexed(state_dict, f"{prefix}layer")
    layers = f"{prefix.rstrip('.')} layers".lstrip()
    check_size(num_layers // 2, "resolutions", f"the number of resolutions ({layers} / 2)", where, low=0)
    check_size(num_blocks, "resolutions", "the number of resolutions (outputs)", where)
    if num_layers != 2 * num_blocks:
        counts = [f"{num_layers} {layers}", f"{num_blocks} outputs", *others]
        raise InvalidFileError(
            f"{where}: genforce {model} state dict with {', '.join(counts[:-1])} and {counts[-1]}; "
            "expected two layers per output"
        )
    return num_blocks


def read_mapping_widths(state_dict: Mapping[str, Any], where: str) -> list[int]:
    """z_dim and the output widths of ``mapping.dense0 …`` of a style-based genforce generator.

    Returns
    -------
    list of int
        ``[z_dim, width of dense0, …, w_dim]``, as :class:`MappingModule` takes them.

    Raises
    ------
    InvalidFileError
        A missing or mis-shaped layer, or a ``truncation.w_avg`` that is not one w
        (only ``repeat_w=True`` models are supported).
    FileLimitError
        More layers or channels than :data:`LIMITS`.
    """
    n_dense = check_size(count_indexed(state_dict, "mapping.dense"), "mapping_layers", "the number of mapping layers", where)
    widths = [check_size(tensor_shape(state_dict, f"mapping.dense{i}.weight", 2, where)[0], "channels",
                         f"the width of mapping.dense{i}", where) for i in range(n_dense)]
    z_dim = check_size(tensor_shape(state_dict, "mapping.dense0.weight", 2, where)[1], "channels", "z_dim", where)
    w_avg = tensor_shape(state_dict, "truncation.w_avg", 1, where)
    if w_avg != (widths[-1],):
        raise InvalidFileError(
            f"{where}: truncation.w_avg of shape {w_avg}; only repeat_w=True models "
            f"(w_avg of shape ({widths[-1]},)) are supported"
        )
    return [z_dim, *widths]


def tensor_shape(state_dict: Mapping[str, Any], key: str, ndim: int, where: str) -> tuple[int, ...]:
    """The shape of ``state_dict[key]``, which must be a tensor with ``ndim`` dimensions.

    Raises
    ------
    InvalidFileError
        Naming the file (``where``) and the key: missing, not a tensor, or of another number of dimensions.
    """
    if key not in state_dict:
        raise InvalidFileError(f"{where}: the weight {key!r} is missing")
    value = state_dict[key]
    if not isinstance(value, torch.Tensor):
        raise InvalidFileError(f"{where}: {key!r} holds {describe(value)}, expected a tensor")
    if value.ndim != ndim:
        raise InvalidFileError(f"{where}: {key!r} has shape {tuple(value.shape)}; expected {ndim} dimensions")
    return tuple(value.shape)


def check_size(value: int, limit: str, what: str, where: str, *, low: int = 1) -> int:
    """``value`` if in ``[low, LIMITS[limit]]``; :class:`FileLimitError` above, InvalidFileError below."""
    if value > LIMITS[limit]:
        raise FileLimitError(f"{where}: {what} is {value:,}; at most {LIMITS[limit]:,} are read")
    if value < low:
        raise InvalidFileError(f"{where}: {what} is {value}; expected at least {low}")
    return value
