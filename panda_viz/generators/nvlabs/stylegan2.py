"""StyleGAN2 (Karras et al., 2020) in plain PyTorch, loading NVlabs' official weights.

The module tree and parameter names are those of the ``G_ema`` in network pickles of
StyleGAN2-ADA-PyTorch and of the StyleGAN3 repository's ``networks_stylegan2``, so an
official state dict loads one to one (``mapping.fc0.weight``, ``mapping.w_avg``,
``synthesis.b8.conv0.affine.weight``, ``synthesis.b8.conv0.noise_const``, …). The
custom CUDA kernels of the official code are replaced by the plain ops of
:mod:`panda_viz.generators.nvlabs._ops`; everything runs in float32 on any device (the
official fp16 layers run in float32 off the GPU too).

Layers worth hooking are the synthesis blocks ``synthesis.b4 … synthesis.b{resolution}``;
each returns ``(x, img)`` and the hooks read and replace ``x``.

Use :func:`panda_viz.load_generator` with a ``.pkl`` network pickle, or with a state dict
plus its configuration; see :mod:`panda_viz.generators.nvlabs.loader`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from ...exceptions import InvalidInputError
from ._ops import (
    FullyConnectedLayer,
    bias_act,
    binomial_filter,
    modulated_conv2d,
    upsample2d,
)
from .mapping import MappedGenerator, MappingNetwork, check_synthesis_input

__all__ = ["StyleGAN2", "MappingNetwork", "SynthesisNetwork", "SynthesisBlock", "SynthesisLayer", "ToRGBLayer"]

class SynthesisLayer(nn.Module):
    """Modulated 3×3 convolution (optionally upsampling ×2), noise, bias, leaky ReLU, clamp."""

    def __init__(
        self,
        in_channels: int, out_channels: int, w_dim: int, resolution: int,
        kernel_size: int = 3, up: int = 1, use_noise: bool = True, activation: str = "lrelu",
        resample_filter: list[float] = (1, 3, 3, 1),
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.w_dim = in_channels, out_channels, w_dim
        self.resolution, self.up, self.use_noise = resolution, up, use_noise
        self.activation, self.conv_clamp = activation, conv_clamp
        self.register_buffer("resample_filter", binomial_filter(resample_filter))
        self.padding = kernel_size // 2
        self.affine = FullyConnectedLayer(w_dim, in_channels)
        self.weight = nn.Parameter(torch.zeros(out_channels, in_channels, kernel_size, kernel_size))
        if use_noise:
            self.register_buffer("noise_const", torch.zeros(resolution, resolution))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "const", gain: float = 1.0) -> torch.Tensor:
        styles = self.affine(w)
        x = modulated_conv2d(
            x, self.weight, styles, up=self.up, padding=self.padding, resample_filter=self.resample_filter
        )
        if self.use_noise and noise_mode == "random":
            x = x + torch.randn([x.shape[0], 1, self.resolution, self.resolution], device=x.device, dtype=x.dtype) * self.noise_strength
        elif self.use_noise and noise_mode == "const":
            x = x + self.noise_const * self.noise_strength
        act_gain = math.sqrt(2.0) * gain if self.activation != "linear" else gain
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, self.bias, act=self.activation, gain=act_gain, clamp=clamp)

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, out_channels={self.out_channels}, w_dim={self.w_dim}, "
            f"resolution={self.resolution}, up={self.up}"
        )


class ToRGBLayer(nn.Module):
    """Modulated 1×1 convolution to RGB without demodulation, bias, clamp."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, kernel_size: int = 1, conv_clamp: float | None = None) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.w_dim, self.conv_clamp = in_channels, out_channels, w_dim, conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels)
        self.weight = nn.Parameter(torch.zeros(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size**2)
        self.padding = kernel_size // 2

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False, padding=self.padding)
        return bias_act(x, self.bias, clamp=self.conv_clamp)


class SynthesisBlock(nn.Module):
    """One resolution: (upsampling conv0,) conv1 and, for the skip architecture, ToRGB.

    ``forward(x, img, ws)`` returns ``(x, img)``: the block's feature map (N, C, r, r),
    the layer hooks read, and the running RGB image.
    """

    def __init__(
        self,
        in_channels: int, out_channels: int, w_dim: int, resolution: int, img_channels: int, is_last: bool,
        architecture: str = "skip",
        resample_filter: list[float] = (1, 3, 3, 1),
        conv_clamp: float | None = 256,
        use_fp16: bool = False, fp16_channels_last: bool = False, fused_modconv_default: Any = True,
        **layer_kwargs: Any,
    ) -> None:
        super().__init__()
        del fp16_channels_last, fused_modconv_default  # speed options of the CUDA code; same maths
        if architecture not in ("skip", "orig"):
            raise InvalidInputError(
                f"unsupported StyleGAN2 synthesis architecture {architecture!r}; supported: 'skip' "
                "(every official generator), 'orig'"
            )
        self.in_channels, self.w_dim, self.resolution = in_channels, w_dim, resolution
        self.img_channels, self.is_last, self.architecture = img_channels, is_last, architecture
        self.use_fp16 = use_fp16
        self.register_buffer("resample_filter", binomial_filter(resample_filter))
        self.num_conv = 0
        self.num_torgb = 0
        if in_channels == 0:
            self.const = nn.Parameter(torch.zeros(out_channels, resolution, resolution))
        else:
            self.conv0 = SynthesisLayer(
                in_channels, out_channels, w_dim=w_dim, resolution=resolution, up=2,
                resample_filter=resample_filter, conv_clamp=conv_clamp, **layer_kwargs,
            )
            self.num_conv += 1
        self.conv1 = SynthesisLayer(
            out_channels, out_channels, w_dim=w_dim, resolution=resolution, conv_clamp=conv_clamp, **layer_kwargs
        )
        self.num_conv += 1
        if is_last or architecture == "skip":
            self.torgb = ToRGBLayer(out_channels, img_channels, w_dim=w_dim, conv_clamp=conv_clamp)
            self.num_torgb += 1

    def forward(
        self, x: torch.Tensor | None, img: torch.Tensor | None, ws: torch.Tensor, noise_mode: str = "const"
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        w_iter = iter(ws.unbind(dim=1))
        if self.in_channels == 0:
            x = self.const.unsqueeze(0).repeat([ws.shape[0], 1, 1, 1])
            x = self.conv1(x, next(w_iter), noise_mode=noise_mode)
        else:
            x = x.to(torch.float32)
            x = self.conv0(x, next(w_iter), noise_mode=noise_mode)
            x = self.conv1(x, next(w_iter), noise_mode=noise_mode)
        if img is not None:
            img = upsample2d(img, self.resample_filter)
        if self.is_last or self.architecture == "skip":
            y = self.torgb(x, next(w_iter)).to(torch.float32)
            img = img + y if img is not None else y
        return x, img

    def extra_repr(self) -> str:
        return f"resolution={self.resolution}, architecture={self.architecture}"


class SynthesisNetwork(nn.Module):
    """ws (N, num_ws, w_dim) -> images (N, img_channels, R, R), through blocks ``b4 … bR``."""

    def __init__(
        self,
        w_dim: int, img_resolution: int, img_channels: int,
        channel_base: int = 32768, channel_max: int = 512, num_fp16_res: int = 4,
        **block_kwargs: Any,
    ) -> None:
        if img_resolution < 4 or img_resolution & (img_resolution - 1):
            raise InvalidInputError(f"img_resolution must be a power of two >= 4; got {img_resolution}")
        super().__init__()
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.img_resolution_log2 = int(np.log2(img_resolution))
        self.num_fp16_res = num_fp16_res
        self.block_resolutions = [2**i for i in range(2, self.img_resolution_log2 + 1)]
        channels = {res: min(channel_base // res, channel_max) for res in self.block_resolutions}
        fp16_resolution = max(2 ** (self.img_resolution_log2 + 1 - num_fp16_res), 8)
        self.num_ws = 0
        for res in self.block_resolutions:
            in_channels = channels[res // 2] if res > 4 else 0
            is_last = res == img_resolution
            block = SynthesisBlock(
                in_channels, channels[res], w_dim=w_dim, resolution=res, img_channels=img_channels,
                is_last=is_last, use_fp16=res >= fp16_resolution, **block_kwargs,
            )
            self.num_ws += block.num_conv + (block.num_torgb if is_last else 0)
            setattr(self, f"b{res}", block)

    def forward(self, ws: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        ws = check_synthesis_input(ws, noise_mode, num_ws=self.num_ws, w_dim=self.w_dim)
        x = img = None
        w_idx = 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            x, img = block(x, img, ws.narrow(1, w_idx, block.num_conv + block.num_torgb), noise_mode=noise_mode)
            w_idx += block.num_conv
        return img

    def extra_repr(self) -> str:
        return f"w_dim={self.w_dim}, num_ws={self.num_ws}, img_resolution={self.img_resolution}, img_channels={self.img_channels}"


class StyleGAN2(MappedGenerator):
    """The StyleGAN2 generator: ``synthesis`` and ``mapping``, as in NVlabs' ``Generator``.

    Parameters are the official constructor's keyword arguments (``G_ema._init_kwargs`` of a
    network pickle), as in :class:`~panda_viz.generators.nvlabs.mapping.MappedGenerator`:
    ``mapping_kwargs`` are options of :class:`MappingNetwork` (``num_layers``,
    ``lr_multiplier``, …), the other keyword arguments options of :class:`SynthesisNetwork`
    and its blocks (``channel_base``, ``channel_max``, ``num_fp16_res``, ``conv_clamp``,
    ``architecture``, …). StyleGAN2-ADA-PyTorch's ``synthesis_kwargs={...}`` form is
    accepted too.
    """

    synthesis_class = SynthesisNetwork

    def __init__(self, *args: Any, synthesis_kwargs: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **{**dict(synthesis_kwargs or {}), **kwargs})  # a keyword given both ways: the direct one
