"""StyleGAN3 (Karras et al., 2021, "Alias-Free GANs") in plain PyTorch, loading official weights.

Configs T (translation equivariant) and R (rotation equivariant: ``conv_kernel=1``,
``use_radial_filters=True``) share this code. Parameter and buffer names are those of the
official ``G_ema`` (``synthesis.input.freqs``, ``synthesis.L3_52_512.up_filter``,
``synthesis.L3_52_512.magnitude_ema``, …), so an official state dict loads one to one;
the low-pass filters are read from the checkpoint (they are designed here only so that a
network built from its configuration has buffers of the right shapes and values). The
filtered leaky ReLU runs as plain upsample / activation / downsample steps
(:func:`panda_viz.generators.nvlabs._ops.filtered_lrelu`).

Layers worth hooking are ``synthesis.L0_{size}_{channels}`` … ``synthesis.L{n}_{res}_3``:
the layers' outputs, including their margins (``L0_36_512`` is 36×36 for a 1024 model
whose early layers compute a 16×16 image plus 10 samples of margin on each side).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...exceptions import InvalidInputError
from ._ops import FullyConnectedLayer, filtered_lrelu, lowpass_filter, modulated_conv2d
from .mapping import MappedGenerator, MappingNetwork, check_synthesis_input

__all__ = ["StyleGAN3", "MappingNetwork", "SynthesisNetwork", "SynthesisInput", "SynthesisLayer", "MAX_RESAMPLING"]

#: The largest up- or down-sampling factor of a layer (official configurations use 1 to 4).
MAX_RESAMPLING = 16


class SynthesisInput(nn.Module):
    """Fourier features on a ``size``² grid, rotated and translated by an affine of w.

    ``transform`` (3, 3) is a user-settable inverse transform of the output image (the
    identity in checkpoints); setting it translates or rotates the generated image.
    """

    def __init__(self, w_dim: int, channels: int, size: int, sampling_rate: float, bandwidth: float) -> None:
        super().__init__()
        self.w_dim, self.channels = w_dim, channels
        self.size = np.broadcast_to(np.asarray(size), [2])
        self.sampling_rate, self.bandwidth = sampling_rate, bandwidth
        self.weight = nn.Parameter(torch.zeros(channels, channels))
        self.affine = FullyConnectedLayer(w_dim, 4)
        # the identity, written out: torch.eye on the meta device imports torch's Python references (seconds)
        self.register_buffer("transform", torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]))
        self.register_buffer("freqs", torch.zeros(channels, 2))
        self.register_buffer("phases", torch.zeros(channels))

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        n = w.shape[0]
        t = self.affine(w)  # (cos, sin, tx, ty), up to scale
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        rotation = torch.eye(3, device=w.device).unsqueeze(0).repeat([n, 1, 1])
        rotation[:, 0, 0] = t[:, 0]
        rotation[:, 0, 1] = -t[:, 1]
        rotation[:, 1, 0] = t[:, 1]
        rotation[:, 1, 1] = t[:, 0]
        translation = torch.eye(3, device=w.device).unsqueeze(0).repeat([n, 1, 1])
        translation[:, 0, 2] = -t[:, 2]
        translation[:, 1, 2] = -t[:, 3]
        transforms = rotation @ translation @ self.transform.unsqueeze(0)

        freqs = self.freqs.unsqueeze(0)
        phases = self.phases.unsqueeze(0) + (freqs @ transforms[:, :2, 2:]).squeeze(2)
        freqs = freqs @ transforms[:, :2, :2]
        # Frequencies pushed out of band by a user transform fade out instead of aliasing.
        amplitudes = (1 - (freqs.norm(dim=2) - self.bandwidth) / (self.sampling_rate / 2 - self.bandwidth)).clamp(0, 1)

        theta = torch.eye(2, 3, device=w.device)
        theta[0, 0] = 0.5 * float(self.size[0]) / self.sampling_rate
        theta[1, 1] = 0.5 * float(self.size[1]) / self.sampling_rate
        grids = F.affine_grid(theta.unsqueeze(0), [1, 1, int(self.size[1]), int(self.size[0])], align_corners=False)

        x = (grids.unsqueeze(3) @ freqs.permute(0, 2, 1).unsqueeze(1).unsqueeze(2)).squeeze(3)  # (N, H, W, C)
        x = x + phases.unsqueeze(1).unsqueeze(2)
        x = torch.sin(x * (np.pi * 2))
        x = x * amplitudes.unsqueeze(1).unsqueeze(2)
        x = x @ (self.weight / np.sqrt(self.channels)).t()
        return x.permute(0, 3, 1, 2)

    def extra_repr(self) -> str:
        return (
            f"w_dim={self.w_dim}, channels={self.channels}, size={[int(s) for s in self.size]}, "
            f"sampling_rate={self.sampling_rate:g}, bandwidth={self.bandwidth:g}"
        )


class SynthesisLayer(nn.Module):
    """Modulated convolution then the filtered leaky ReLU (up, activate, low-pass, down)."""

    def __init__(
        self,
        w_dim: int, is_torgb: bool, is_critically_sampled: bool, use_fp16: bool,
        in_channels: int, out_channels: int,
        in_size: int, out_size: int,
        in_sampling_rate: float, out_sampling_rate: float,
        in_cutoff: float, out_cutoff: float,
        in_half_width: float, out_half_width: float,
        conv_kernel: int = 3, filter_size: int = 6, lrelu_upsampling: int = 2, use_radial_filters: bool = False,
        conv_clamp: float | None = 256,
        magnitude_ema_beta: float = 0.999,
    ) -> None:
        super().__init__()
        del magnitude_ema_beta  # training option: the stored magnitude_ema is what inference reads
        self.w_dim, self.is_torgb = w_dim, is_torgb
        self.is_critically_sampled, self.use_fp16 = is_critically_sampled, use_fp16
        self.in_channels, self.out_channels = in_channels, out_channels
        self.in_size = np.broadcast_to(np.asarray(in_size), [2])
        self.out_size = np.broadcast_to(np.asarray(out_size), [2])
        self.in_sampling_rate, self.out_sampling_rate = in_sampling_rate, out_sampling_rate
        self.tmp_sampling_rate = max(in_sampling_rate, out_sampling_rate) * (1 if is_torgb else lrelu_upsampling)
        self.in_cutoff, self.out_cutoff = in_cutoff, out_cutoff
        self.in_half_width, self.out_half_width = in_half_width, out_half_width
        self.conv_kernel = 1 if is_torgb else conv_kernel
        self.conv_clamp = conv_clamp

        self.affine = FullyConnectedLayer(w_dim, in_channels)
        self.weight = nn.Parameter(torch.zeros(out_channels, in_channels, self.conv_kernel, self.conv_kernel))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.register_buffer("magnitude_ema", torch.ones([]))

        self.up_factor = int(np.rint(self.tmp_sampling_rate / in_sampling_rate))
        self.down_factor = int(np.rint(self.tmp_sampling_rate / out_sampling_rate))
        if not (1 <= self.up_factor <= MAX_RESAMPLING and 1 <= self.down_factor <= MAX_RESAMPLING):
            raise InvalidInputError(
                f"a layer from sampling rate {in_sampling_rate:g} to {out_sampling_rate:g} would resample by "
                f"{self.up_factor}/{self.down_factor}; at most {MAX_RESAMPLING} (check the cutoffs and lrelu_upsampling)"
            )
        self.up_taps = filter_size * self.up_factor if self.up_factor > 1 and not is_torgb else 1
        self.register_buffer(
            "up_filter",
            lowpass_filter(self.up_taps, in_cutoff, in_half_width * 2, self.tmp_sampling_rate),
        )
        self.down_taps = filter_size * self.down_factor if self.down_factor > 1 and not is_torgb else 1
        self.down_radial = use_radial_filters and not is_critically_sampled
        self.register_buffer(
            "down_filter",
            lowpass_filter(self.down_taps, out_cutoff, out_half_width * 2, self.tmp_sampling_rate, radial=self.down_radial),
        )

        # Padding so that the output has out_size samples, centred as in the paper (App. C.3).
        pad_total = (self.out_size - 1) * self.down_factor + 1
        pad_total -= (self.in_size + self.conv_kernel - 1) * self.up_factor
        pad_total += self.up_taps + self.down_taps - 2
        pad_lo = (pad_total + self.up_factor) // 2
        pad_hi = pad_total - pad_lo
        self.padding = [int(pad_lo[0]), int(pad_hi[0]), int(pad_lo[1]), int(pad_hi[1])]

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        input_gain = self.magnitude_ema.rsqrt()
        styles = self.affine(w)
        if self.is_torgb:
            styles = styles / math.sqrt(self.in_channels * self.conv_kernel**2)
        x = modulated_conv2d(
            x.to(torch.float32), self.weight, styles,
            padding=self.conv_kernel - 1, demodulate=not self.is_torgb, prenormalize=True, input_gain=input_gain,
        )
        return filtered_lrelu(
            x, self.up_filter, self.down_filter, self.bias,
            up=self.up_factor, down=self.down_factor, padding=self.padding,
            gain=1.0 if self.is_torgb else math.sqrt(2.0), slope=1.0 if self.is_torgb else 0.2,
            clamp=self.conv_clamp,
        )

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, out_channels={self.out_channels}, "
            f"in_size={[int(s) for s in self.in_size]}, out_size={[int(s) for s in self.out_size]}, "
            f"up={self.up_factor}, down={self.down_factor}, is_torgb={self.is_torgb}"
        )


class SynthesisNetwork(nn.Module):
    """ws (N, num_ws, w_dim) -> images: Fourier input, then layers ``L0_… L{num_layers}_…``."""

    def __init__(
        self,
        w_dim: int, img_resolution: int, img_channels: int,
        channel_base: int = 32768, channel_max: int = 512,
        num_layers: int = 14, num_critical: int = 2,
        first_cutoff: float = 2, first_stopband: float = 2**2.1, last_stopband_rel: float = 2**0.3,
        margin_size: int = 10, output_scale: float = 0.25, num_fp16_res: int = 4,
        **layer_kwargs: Any,
    ) -> None:
        super().__init__()
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.num_ws = num_layers + 2
        self.num_layers, self.num_critical = num_layers, num_critical
        self.margin_size, self.output_scale, self.num_fp16_res = margin_size, output_scale, num_fp16_res

        # Cutoffs and stopbands grow geometrically to the last layers' (paper, Sec. 3.2).
        last_cutoff = img_resolution / 2
        last_stopband = last_cutoff * last_stopband_rel
        exponents = np.minimum(np.arange(num_layers + 1) / (num_layers - num_critical), 1)
        cutoffs = first_cutoff * (last_cutoff / first_cutoff) ** exponents
        stopbands = first_stopband * (last_stopband / first_stopband) ** exponents
        sampling_rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, img_resolution))))
        half_widths = np.maximum(stopbands, sampling_rates / 2) - cutoffs
        sizes = sampling_rates + margin_size * 2
        sizes[-2:] = img_resolution
        channels = np.rint(np.minimum((channel_base / 2) / cutoffs, channel_max))
        channels[-1] = img_channels
        if not (np.isfinite(sampling_rates).all() and sampling_rates.min() >= 1 and channels.min() >= 1):
            raise InvalidInputError(
                f"this configuration gives layers with sampling rates {sampling_rates.tolist()} and channels "
                f"{channels.tolist()}; each must be at least 1 (check first_cutoff, first_stopband, channel_base)"
            )

        self.input = SynthesisInput(
            w_dim=w_dim, channels=int(channels[0]), size=int(sizes[0]),
            sampling_rate=sampling_rates[0], bandwidth=cutoffs[0],
        )
        self.layer_names: list[str] = []
        for idx in range(num_layers + 1):
            prev = max(idx - 1, 0)
            layer = SynthesisLayer(
                w_dim=w_dim, is_torgb=idx == num_layers, is_critically_sampled=idx >= num_layers - num_critical,
                use_fp16=bool(sampling_rates[idx] * (2**num_fp16_res) > img_resolution),
                in_channels=int(channels[prev]), out_channels=int(channels[idx]),
                in_size=int(sizes[prev]), out_size=int(sizes[idx]),
                in_sampling_rate=int(sampling_rates[prev]), out_sampling_rate=int(sampling_rates[idx]),
                in_cutoff=cutoffs[prev], out_cutoff=cutoffs[idx],
                in_half_width=half_widths[prev], out_half_width=half_widths[idx],
                **layer_kwargs,
            )
            name = f"L{idx}_{layer.out_size[0]}_{layer.out_channels}"
            setattr(self, name, layer)
            self.layer_names.append(name)

    def forward(self, ws: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        """Images (N, img_channels, R, R); ``noise_mode`` is accepted for symmetry with
        StyleGAN2 (StyleGAN3 has no noise inputs)."""
        ws = check_synthesis_input(ws, noise_mode, num_ws=self.num_ws, w_dim=self.w_dim).unbind(dim=1)
        x = self.input(ws[0])
        for name, w in zip(self.layer_names, ws[1:]):
            x = getattr(self, name)(x, w)
        if self.output_scale != 1:
            x = x * self.output_scale
        return x.to(torch.float32)

    def extra_repr(self) -> str:
        return (
            f"w_dim={self.w_dim}, num_ws={self.num_ws}, img_resolution={self.img_resolution}, "
            f"img_channels={self.img_channels}, num_layers={self.num_layers}"
        )


class StyleGAN3(MappedGenerator):
    """The StyleGAN3 generator (configs T and R): ``synthesis`` and ``mapping``.

    Parameters are the official constructor's keyword arguments (``G_ema._init_kwargs``), as
    in :class:`~panda_viz.generators.nvlabs.mapping.MappedGenerator`: ``mapping_kwargs``
    are options of :class:`MappingNetwork` (two layers unless they say otherwise, as in the
    official StyleGAN3), the other keyword arguments options of :class:`SynthesisNetwork`
    and its layers (``channel_base``, ``channel_max``, ``num_layers``, ``conv_kernel``,
    ``use_radial_filters``, …).
    """

    synthesis_class = SynthesisNetwork
    mapping_defaults = {"num_layers": 2}
