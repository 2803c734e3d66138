"""genforce's StyleGAN2 generator (Karras et al. 2020, config F), with genforce's keys.

``mapping`` and ``truncation`` as in StyleGAN (but the dense layers scale their leaky ReLU
by √2); ``synthesis.early_layer`` is the learnt 4×4 constant; ``synthesis.layer0 …
layer{n-2}`` are modulated 3×3 convolutions (odd ones up-sample with a stride-2 transposed
convolution and a [1 3 3 1]² filter), each adding noise and bias, then leaky ReLU × √2;
``output{b}`` are modulated 1×1 convolutions to RGB. In the "skip" architecture (every
model-zoo file) each resolution's RGB is added to the up-sampled sum of the previous ones;
"origin" uses only the last. A layer's output is its feature map (genforce returns
``(x, style)``; the first element is the same tensor).
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
    check_size,
    count_indexed,
    leaky,
    read_mapping_widths,
    tensor_shape,
)

__all__ = ["StyleGAN2Generator", "StyleGAN2Synthesis", "ModulatedConvBlock"]

_ACT_SCALE = math.sqrt(2.0)


def _filter(x: torch.Tensor, kernel: torch.Tensor, padding: tuple[int, int, int, int]) -> torch.Tensor:
    """Pad then convolve every channel with the same 2-D ``kernel`` (1, 1, k, k)."""
    n, c, h, w = x.shape
    x = F.pad(x.reshape(n * c, 1, h, w), padding)
    x = F.conv2d(x, kernel.to(x.dtype))
    return x.reshape(n, c, x.shape[2], x.shape[3])


def upsample_2x(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Zero-insertion up-sampling by 2, then the 4×4 ``kernel`` (genforce ``UpsamplingLayer``)."""
    n, c, h, w = x.shape
    up = x.new_zeros(n, c, h, 2, w, 2)
    up[:, :, :, 0, :, 0] = x
    return _filter(up.reshape(n, c, 2 * h, 2 * w), kernel, (2, 1, 2, 1))


class ModulatedConvBlock(nn.Module):
    """A modulated convolution (genforce ``ModulateConvBlock``), fused over the batch.

    The style ``s = dense(w) + 1`` scales the kernel's input channels; with demodulation
    each output channel's kernel is renormalised to unit norm. Up-sampling layers use a
    stride-2 transposed convolution followed by the [1 3 3 1]² filter (``filter.kernel``).

    Parameters
    ----------
    in_channels, out_channels, kernel_size : int
    resolution : int
        Output resolution (that of the noise buffer).
    w_dim : int
    upsample : bool
    demodulate, add_noise, activate : bool
        False, False, False for the RGB outputs.
    """

    def __init__(
        self,
        in_channels: int, out_channels: int,
        *,
        resolution: int, w_dim: int, kernel_size: int = 3,
        upsample: bool = False, demodulate: bool = True, add_noise: bool = True, activate: bool = True,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.resolution = resolution
        self.upsample = upsample
        self.demodulate = demodulate
        self.add_noise = add_noise
        self.activate = activate
        self.weight = nn.Parameter(torch.zeros(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.wscale = 1.0 / math.sqrt(kernel_size * kernel_size * in_channels)
        self.style = StyleAffine(w_dim, in_channels, offset=1.0)
        if upsample:
            self.filter = Holder()
            self.filter.register_buffer("kernel", torch.zeros(1, 1, 4, 4))
        if add_noise:
            self.register_buffer("noise", torch.zeros(1, 1, resolution, resolution))
            self.noise_strength = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor, w: torch.Tensor, randomize_noise: bool = False) -> torch.Tensor:
        n = len(x)
        style = self.style(w)
        weight = self.weight[None] * self.wscale * style[:, None, :, None, None]  # (N, out, in, k, k)
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.square().sum(dim=(2, 3, 4), keepdim=True) + 1e-8)
        x = x.reshape(1, n * self.in_channels, *x.shape[2:])
        k = self.kernel_size
        if self.upsample:
            weight = weight.flip(3, 4).transpose(1, 2).reshape(n * self.in_channels, self.out_channels, k, k)
            x = F.conv_transpose2d(x, weight, stride=2, groups=n)
            x = x.reshape(n, self.out_channels, *x.shape[2:])
            x = _filter(x, self.filter.kernel, (1, 1, 1, 1))
        else:
            x = F.conv2d(x, weight.reshape(n * self.out_channels, self.in_channels, k, k), padding=k // 2, groups=n)
            x = x.reshape(n, self.out_channels, *x.shape[2:])
        if self.add_noise:
            noise = self.noise
            if randomize_noise:
                noise = torch.randn((n, 1, self.resolution, self.resolution), dtype=x.dtype, device=x.device)
            x = x + noise * self.noise_strength
        x = x + self.bias.view(1, -1, 1, 1)
        return leaky(x) * _ACT_SCALE if self.activate else x


class InputBlock(nn.Module):
    """The learnt constant, repeated over the batch (genforce ``InputBlock``)."""

    def __init__(self, channels: int, resolution: int = 4) -> None:
        super().__init__()
        self.const = nn.Parameter(torch.zeros(1, channels, resolution, resolution))

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return self.const.expand(len(w), -1, -1, -1)


class StyleGAN2Synthesis(nn.Module):
    """wp (N, num_layers, w_dim) → image through ``early_layer``, ``layer0 …`` and ``output*``."""

    def __init__(self, widths: list[int], w_dim: int, *, image_channels: int = 3, architecture: str = "skip") -> None:
        super().__init__()
        if architecture not in ("skip", "origin"):
            raise InvalidInputError(f"Invalid StyleGAN2 architecture: got {architecture!r} instead of one of {{'skip', 'origin'}}")
        self.architecture = architecture
        self.num_blocks = len(widths)
        self.num_layers = 2 * self.num_blocks
        self.resolution = 4 * 2 ** (self.num_blocks - 1)
        self.early_layer = InputBlock(widths[0])
        for b, width in enumerate(widths):
            res = 4 * 2**b
            if b > 0:
                self.add_module(
                    f"layer{2 * b - 1}",
                    ModulatedConvBlock(widths[b - 1], width, resolution=res, w_dim=w_dim, upsample=True),
                )
            self.add_module(f"layer{2 * b}", ModulatedConvBlock(width, width, resolution=res, w_dim=w_dim))
            if architecture == "skip" or b == self.num_blocks - 1:
                self.add_module(
                    f"output{b}",
                    ModulatedConvBlock(
                        width, image_channels, resolution=res, w_dim=w_dim, kernel_size=1,
                        demodulate=False, add_noise=False, activate=False,
                    ),
                )
        if architecture == "skip":
            self.upsample = Holder()
            self.upsample.register_buffer("kernel", torch.zeros(1, 1, 4, 4))

    def forward(self, wp: torch.Tensor, randomize_noise: bool = False) -> torch.Tensor:
        x = self.early_layer(wp[:, 0])
        image = None
        for i in range(self.num_layers - 1):
            x = getattr(self, f"layer{i}")(x, wp[:, i], randomize_noise)
            if self.architecture == "skip" and i % 2 == 0:
                rgb = getattr(self, f"output{i // 2}")(x, wp[:, i + 1])
                image = rgb if image is None else rgb + upsample_2x(image, self.upsample.kernel)
        if self.architecture == "origin":
            image = getattr(self, f"output{self.num_blocks - 1}")(x, wp[:, self.num_layers - 1])
        return image


class StyleGAN2Generator(StyleBasedGenerator):
    """StyleGAN2 generator with genforce's module names: ``mapping``, ``truncation``, ``synthesis``."""

    architecture = "stylegan2"

    def __init__(
        self,
        z_dim: int, mapping_widths: list[int], widths: list[int],
        *,
        image_channels: int = 3, synthesis_architecture: str = "skip", mapping_lr_mul: float = 0.01,
    ) -> None:
        super().__init__(
            MappingModule([z_dim, *mapping_widths], gain=1.0, lr_mul=mapping_lr_mul, act_scale=_ACT_SCALE),
            StyleGAN2Synthesis(widths, mapping_widths[-1], image_channels=image_channels, architecture=synthesis_architecture),
        )

    @classmethod
    def from_state_dict(
        cls, state_dict: Mapping[str, torch.Tensor], *, mapping_lr_mul: float = 0.01, where: str = "genforce StyleGAN2 state dict"
    ) -> StyleGAN2Generator:
        """The generator whose shapes match ``state_dict`` (weights not loaded yet; build it
        on the ``meta`` device to allocate nothing before comparing).

        Raises
        ------
        InvalidFileError
            A missing or mis-shaped weight (named), inconsistent layer counts, an
            unsupported variant.
        FileLimitError
            More resolutions, mapping layers or channels than
            :data:`~panda_viz.generators.genforce.loader.LIMITS`.
        """
        if "mapping.label_weight" in state_dict:
            raise InvalidFileError(f"{where}: conditional genforce StyleGAN2 generators (label_size > 0) are not supported")
        if "synthesis.early_layer.const" not in state_dict:
            raise InvalidFileError(f"{where}: genforce StyleGAN2 without a constant input (const_input=False) is not supported")
        if any(isinstance(k, str) and k.startswith("synthesis.skip_layer") for k in state_dict):
            raise InvalidFileError(f"{where}: genforce StyleGAN2 'resnet' synthesis is not supported (model-zoo files are 'skip')")
        z_dim, *widths_of_mapping = read_mapping_widths(state_dict, where)
        num_layers = count_indexed(state_dict, "synthesis.layer")  # 2 * blocks - 1
        check_size((num_layers + 1) // 2, "resolutions", "the number of resolutions ((synthesis layers + 1) / 2)", where)
        if num_layers % 2 != 1:
            raise InvalidFileError(
                f"{where}: genforce StyleGAN2 state dict with {num_layers} synthesis layers and {len(widths_of_mapping)} mapping "
                "layers; expected an odd number of layers (two per resolution after the first)"
            )
        num_blocks = (num_layers + 1) // 2
        n_outputs = count_indexed(state_dict, "synthesis.output")
        synthesis_architecture = "skip" if n_outputs == num_blocks else "origin"
        widths = [check_size(tensor_shape(state_dict, f"synthesis.layer{2 * b}.bias", 1, where)[0], "channels",
                             f"the width of synthesis.layer{2 * b}", where) for b in range(num_blocks)]
        last = f"synthesis.output{num_blocks - 1}.weight"
        image_channels = check_size(tensor_shape(state_dict, last, 4, where)[0], "image_channels", "the image channels", where)
        return cls(
            z_dim, widths_of_mapping, widths, image_channels=image_channels,
            synthesis_architecture=synthesis_architecture, mapping_lr_mul=mapping_lr_mul,
        )
