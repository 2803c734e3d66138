"""genforce's PGGAN generator (Karras et al. 2018), with genforce's state-dict keys.

``z`` → pixel norm → ``layer0`` (a 4×4 "dense" convolution of the 1×1 latent) →
``layer1`` → for every further resolution ``layer{2b}`` (nearest up-sampling, 3×3
convolution) and ``layer{2b+1}`` → ``output{last}`` (1×1 to RGB). Every block pixel-normalises
its input, uses equalised learning rate and a leaky ReLU. The layers are plain
feed-forward: a layer's output determines the image (``downstream_needs_latents=False``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ...exceptions import InvalidInputError
from .blocks import check_lod, check_size, count_blocks, leaky, pixel_norm, tensor_shape

__all__ = ["PGGANGenerator", "PGGANConvBlock"]

_GAIN = math.sqrt(2.0)


class PGGANConvBlock(nn.Module):
    """Pixel norm, optional up-sampling, convolution, leaky ReLU (genforce ``ConvBlock``).

    Parameters
    ----------
    in_channels, out_channels, kernel_size : int
    padding : int
    upsample : bool
        Double the resolution first: nearest-neighbour then convolution, or (``fused_scale``)
        one stride-2 transposed convolution whose 3×3 kernel is summed into 4×4.
    gain : float
        Equalised-learning-rate gain (√2; 1 for the linear RGB outputs).
    activate : bool
        Leaky ReLU (0.2) after the convolution.
    """

    def __init__(
        self,
        in_channels: int, out_channels: int,
        *,
        kernel_size: int = 3, padding: int = 1,
        upsample: bool = False, fused_scale: bool = False,
        gain: float = _GAIN, activate: bool = True,
    ) -> None:
        super().__init__()
        self.transposed = upsample and fused_scale
        self.upsample = upsample and not fused_scale
        shape = (in_channels, out_channels) if self.transposed else (out_channels, in_channels)
        self.weight = nn.Parameter(torch.zeros(*shape, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.wscale = gain / math.sqrt(kernel_size * kernel_size * in_channels)
        self.padding = padding
        self.activate = activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = pixel_norm(x)
        weight = self.weight * self.wscale
        if self.transposed:
            weight = F.pad(weight, (1, 1, 1, 1))
            weight = weight[:, :, 1:, 1:] + weight[:, :, :-1, 1:] + weight[:, :, 1:, :-1] + weight[:, :, :-1, :-1]
            x = F.conv_transpose2d(x, weight, self.bias, stride=2, padding=1)
        else:
            if self.upsample:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = F.conv2d(x, weight, self.bias, padding=self.padding)
        return leaky(x) if self.activate else x


class PGGANGenerator(nn.Module):
    """PGGAN generator with genforce's module names (``layer0 …``, ``output0 …``, ``lod``).

    Built from a state dict by :meth:`from_state_dict`; only the full-resolution path
    (``lod`` = 0) runs, so the lower-resolution ``output{b}`` modules are kept for a one-to-one
    load but never called.
    """

    architecture = "pggan"

    def __init__(
        self,
        z_dim: int,
        widths: list[int],
        *,
        image_channels: int = 3,
        fused_scale: bool = False,
    ) -> None:
        super().__init__()
        self.z_dim = z_dim
        self.num_blocks = len(widths)
        self.resolution = 4 * 2 ** (self.num_blocks - 1)
        self.register_buffer("lod", torch.zeros(()))
        for b, width in enumerate(widths):
            if b == 0:
                first = PGGANConvBlock(z_dim, width, kernel_size=4, padding=3)
            else:
                first = PGGANConvBlock(widths[b - 1], width, upsample=True, fused_scale=fused_scale)
            self.add_module(f"layer{2 * b}", first)
            self.add_module(f"layer{2 * b + 1}", PGGANConvBlock(width, width))
            self.add_module(
                f"output{b}",
                PGGANConvBlock(width, image_channels, kernel_size=1, padding=0, gain=1.0, activate=False),
            )

    @classmethod
    def from_state_dict(
        cls, state_dict: Mapping[str, torch.Tensor], *, fused_scale: bool = False, where: str = "genforce PGGAN state dict"
    ) -> PGGANGenerator:
        """The generator whose shapes match ``state_dict`` (weights not loaded yet; build it
        on the ``meta`` device to allocate nothing before comparing).

        Raises
        ------
        InvalidFileError
            A missing or mis-shaped weight (named), inconsistent layer counts, ``lod`` ≠ 0.
        FileLimitError
            More resolutions or wider layers than :data:`~panda_viz.generators.genforce.loader.LIMITS`.
        """
        if not isinstance(fused_scale, bool):
            raise InvalidInputError(f"PGGAN fused_scale must be True or False; got {fused_scale!r}")
        check_lod(state_dict, "lod", where)
        num_blocks = count_blocks(state_dict, "", "PGGAN", where)
        widths = [check_size(tensor_shape(state_dict, f"layer{2 * b + 1}.weight", 4, where)[0], "channels",
                             f"the width of layer{2 * b + 1}", where) for b in range(num_blocks)]
        z_dim = check_size(tensor_shape(state_dict, "layer0.weight", 4, where)[1], "channels", "z_dim (layer0's input)", where)
        image_channels = check_size(tensor_shape(state_dict, f"output{num_blocks - 1}.weight", 4, where)[0],
                                    "image_channels", "the image channels", where)
        return cls(z_dim, widths, image_channels=image_channels, fused_scale=fused_scale)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Images (N, C, R, R) from latents (N, z_dim)."""
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise InvalidInputError(f"latents of shape (N, {self.z_dim}) expected; got {tuple(z.shape)}")
        x = (pixel_norm(z) * math.sqrt(self.z_dim))[:, :, None, None]
        for i in range(2 * self.num_blocks):
            x = getattr(self, f"layer{i}")(x)
        return getattr(self, f"output{self.num_blocks - 1}")(x)
