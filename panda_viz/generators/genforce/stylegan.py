"""genforce's StyleGAN generator (Karras et al. 2019), with genforce's state-dict keys.

``mapping`` (pixel norm, ``dense0 …``) gives w; ``truncation`` (``w_avg``) repeats it per
layer and truncates; ``synthesis`` runs ``layer0`` (the learnt constant) … ``layer{2k+1}``,
each: [up-sample, 3×3 convolution, blur], noise, bias, leaky ReLU, instance norm, AdaIN
style; then ``output{last}`` (1×1 to RGB). A layer's output is the feature map after the
style modulation, as genforce's block returns it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ...exceptions import InvalidFileError, InvalidInputError
from .blocks import (
    Holder,
    MappingModule,
    StyleAffine,
    StyleBasedGenerator,
    check_lod,
    check_size,
    count_blocks,
    leaky,
    read_mapping_widths,
    tensor_shape,
)

__all__ = ["StyleGANGenerator", "StyleGANSynthesis", "StyleGANConvBlock"]

_GAIN = math.sqrt(2.0)
_AUTO_FUSED_SCALE_MIN_RES = 128


def _instance_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    x = x - x.mean(dim=(2, 3), keepdim=True)
    return x * torch.rsqrt(x.square().mean(dim=(2, 3), keepdim=True) + eps)


class StyleGANConvBlock(nn.Module):
    """One synthesis layer (genforce ``ConvBlock``); returns the styled feature map.

    Parameters
    ----------
    in_channels, out_channels : int
    resolution : int
        Output resolution (that of its noise buffer).
    w_dim : int
    const : bool
        The first layer: a learnt constant instead of a convolution.
    upsample, fused_scale : bool
        Double the resolution: nearest + 3×3 convolution, or one stride-2 transposed
        convolution with the kernel summed into 4×4; a [1 2 1]² blur follows either.
    noise_shape : tuple
        ``(1, 1, R, R)`` for genforce's "spatial" noise, ``(1, C, 1, 1)`` for "channel".
    """

    def __init__(
        self,
        in_channels: int, out_channels: int,
        *,
        resolution: int, w_dim: int,
        const: bool = False, upsample: bool = False, fused_scale: bool = False,
        noise_shape: tuple[int, ...] | None = None,
    ) -> None:
        super().__init__()
        self.const_input = const
        self.upsample = upsample
        self.transposed = upsample and fused_scale
        self.resolution = resolution
        self.out_channels = out_channels
        self.bias = nn.Parameter(torch.zeros(out_channels))
        if const:
            self.const = nn.Parameter(torch.zeros(1, in_channels, resolution, resolution))
        else:
            self.weight = nn.Parameter(torch.zeros(out_channels, in_channels, 3, 3))
            self.wscale = _GAIN / math.sqrt(9 * in_channels)
        if upsample:
            self.blur = Holder()
            self.blur.register_buffer("kernel", torch.zeros(out_channels, 1, 3, 3))
        noise_shape = noise_shape or (1, 1, resolution, resolution)
        self.spatial_noise = noise_shape[1] == 1
        self.apply_noise = Holder()
        self.apply_noise.register_buffer("noise", torch.zeros(noise_shape))
        self.apply_noise.weight = nn.Parameter(
            torch.zeros(out_channels) if self.spatial_noise else torch.zeros(resolution, resolution)
        )
        self.style = StyleAffine(w_dim, 2 * out_channels)  # (scale, shift) of the AdaIN

    def forward(self, x: torch.Tensor | None, w: torch.Tensor, randomize_noise: bool = False) -> torch.Tensor:
        if self.const_input:
            x = self.const.expand(len(w), -1, -1, -1)
        else:
            weight = self.weight * self.wscale
            if self.transposed:
                weight = F.pad(weight, (1, 1, 1, 1))
                weight = weight[:, :, 1:, 1:] + weight[:, :, :-1, 1:] + weight[:, :, 1:, :-1] + weight[:, :, :-1, :-1]
                x = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2, padding=1)
            else:
                if self.upsample:
                    x = F.interpolate(x, scale_factor=2, mode="nearest")
                x = F.conv2d(x, weight, padding=1)
            if self.upsample:
                x = F.conv2d(x, self.blur.kernel, padding=1, groups=x.shape[1])
        noise = self.apply_noise.noise
        if randomize_noise:
            noise = torch.randn((len(x), *noise.shape[1:]), dtype=x.dtype, device=x.device)
        if self.spatial_noise:
            x = x + noise * self.apply_noise.weight.view(1, -1, 1, 1)
        else:
            x = x + noise * self.apply_noise.weight.view(1, 1, self.resolution, self.resolution)
        x = _instance_norm(leaky(x + self.bias.view(1, -1, 1, 1)))
        style = self.style(w)
        scale, shift = style.view(-1, 2, self.out_channels, 1, 1).unbind(1)
        return x * (scale + 1) + shift


class StyleGANToRGB(nn.Module):
    """1×1 convolution to RGB plus bias (genforce ``ConvBlock(position='last')``)."""

    def __init__(self, in_channels: int, image_channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(image_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(image_channels))
        self.wscale = 1.0 / math.sqrt(in_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.wscale, self.bias)


class StyleGANSynthesis(nn.Module):
    """wp (N, num_layers, w_dim) → image, through ``layer0 …`` and ``output{last}``."""

    def __init__(
        self,
        widths: list[int],
        w_dim: int,
        *,
        image_channels: int = 3,
        fused_scale: bool | str = "auto",
        noise_shapes: list[tuple[int, ...]] | None = None,
    ) -> None:
        super().__init__()
        self.num_blocks = len(widths)
        self.num_layers = 2 * self.num_blocks
        self.resolution = 4 * 2 ** (self.num_blocks - 1)
        self.register_buffer("lod", torch.zeros(()))
        shapes = noise_shapes or [None] * self.num_layers
        for b, width in enumerate(widths):
            res = 4 * 2**b
            fused = res >= _AUTO_FUSED_SCALE_MIN_RES if fused_scale == "auto" else bool(fused_scale)
            common = dict(resolution=res, w_dim=w_dim)
            if b == 0:
                first = StyleGANConvBlock(width, width, const=True, noise_shape=shapes[0], **common)
            else:
                first = StyleGANConvBlock(
                    widths[b - 1], width, upsample=True, fused_scale=fused, noise_shape=shapes[2 * b], **common
                )
            self.add_module(f"layer{2 * b}", first)
            self.add_module(f"layer{2 * b + 1}", StyleGANConvBlock(width, width, noise_shape=shapes[2 * b + 1], **common))
            self.add_module(f"output{b}", StyleGANToRGB(width, image_channels))

    def forward(self, wp: torch.Tensor, randomize_noise: bool = False) -> torch.Tensor:
        x = None
        for i in range(self.num_layers):
            x = getattr(self, f"layer{i}")(x, wp[:, i], randomize_noise)
        return getattr(self, f"output{self.num_blocks - 1}")(x)


class StyleGANGenerator(StyleBasedGenerator):
    """StyleGAN generator with genforce's module names: ``mapping``, ``truncation``, ``synthesis``."""

    architecture = "stylegan"

    def __init__(
        self,
        z_dim: int, mapping_widths: list[int], widths: list[int],
        *,
        image_channels: int = 3, fused_scale: bool | str = "auto", mapping_lr_mul: float = 0.01,
        noise_shapes: list[tuple[int, ...]] | None = None,
    ) -> None:
        super().__init__(
            MappingModule([z_dim, *mapping_widths], gain=_GAIN, lr_mul=mapping_lr_mul, act_scale=1.0),
            StyleGANSynthesis(
                widths, mapping_widths[-1], image_channels=image_channels, fused_scale=fused_scale, noise_shapes=noise_shapes
            ),
        )

    @classmethod
    def from_state_dict(
        cls,
        state_dict: Mapping[str, torch.Tensor],
        *,
        fused_scale: bool | str = "auto",
        mapping_lr_mul: float = 0.01,
        where: str = "genforce StyleGAN state dict",
    ) -> StyleGANGenerator:
        """The generator whose shapes match ``state_dict`` (weights not loaded yet; build it
        on the ``meta`` device to allocate nothing before comparing).

        Raises
        ------
        InvalidFileError
            A missing or mis-shaped weight (named), inconsistent layer counts, ``lod`` ≠ 0,
            an unsupported variant.
        FileLimitError
            More resolutions, mapping layers or channels than
            :data:`~panda_viz.generators.genforce.loader.LIMITS`.
        """
        if fused_scale not in (True, False, "auto"):
            raise InvalidInputError(f"Invalid fused_scale: got {fused_scale!r} instead of one of {{True, False, 'auto'}}")
        if "mapping.label_weight" in state_dict:
            raise InvalidFileError(f"{where}: conditional genforce StyleGAN generators (label_size > 0) are not supported")
        if "synthesis.layer0.const" not in state_dict:
            raise InvalidFileError(f"{where}: genforce StyleGAN without a constant input (const_input=False) is not supported")
        check_lod(state_dict, "synthesis.lod", where)
        z_dim, *widths_of_mapping = read_mapping_widths(state_dict, where)
        num_blocks = count_blocks(state_dict, "synthesis.", "StyleGAN", where, others=(f"{len(widths_of_mapping)} mapping layers",))
        widths = [check_size(tensor_shape(state_dict, f"synthesis.layer{2 * b + 1}.bias", 1, where)[0], "channels",
                             f"the width of synthesis.layer{2 * b + 1}", where) for b in range(num_blocks)]
        noise_shapes = [tensor_shape(state_dict, f"synthesis.layer{i}.apply_noise.noise", 4, where) for i in range(2 * num_blocks)]
        for i, shape in enumerate(noise_shapes):
            resolution = 4 * 2 ** (i // 2)
            if shape not in ((1, 1, resolution, resolution), (1, widths[i // 2], 1, 1)):
                raise InvalidFileError(
                    f"{where}: synthesis.layer{i}.apply_noise.noise has shape {shape}; expected (1, 1, {resolution}, "
                    f"{resolution}) or (1, {widths[i // 2]}, 1, 1)"
                )
        image_channels = check_size(tensor_shape(state_dict, f"synthesis.output{num_blocks - 1}.weight", 4, where)[0],
                                    "image_channels", "the image channels", where)
        return cls(
            z_dim, widths_of_mapping, widths, image_channels=image_channels, fused_scale=fused_scale,
            mapping_lr_mul=mapping_lr_mul, noise_shapes=noise_shapes,
        )
