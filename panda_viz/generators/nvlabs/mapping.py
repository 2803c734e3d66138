"""The parts of NVlabs' StyleGAN2 and StyleGAN3 generators that the two families share.

Both generators are a :class:`MappingNetwork` (z, and a class label c, to ws) followed
by a family's own synthesis network (ws to images); :class:`MappedGenerator` is that
pairing, with the module names (``mapping``, ``synthesis``) and parameter names
(``mapping.fc0.weight``, ``mapping.embed.bias``, ``mapping.w_avg``, …) of the official
``G_ema``, so official state dicts load one to one into either family.
:mod:`panda_viz.generators.nvlabs.stylegan2` and :mod:`panda_viz.generators.nvlabs.stylegan3` fill in
their synthesis networks and their mapping defaults; both synthesis networks check their
input with :func:`check_synthesis_input`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import nn

from ...exceptions import InvalidInputError
from ._ops import FullyConnectedLayer, normalize_2nd_moment

__all__ = ["MappingNetwork", "MappedGenerator", "check_synthesis_input", "NOISE_MODES"]

#: StyleGAN2's noise inputs: the stored constant, fresh noise each pass, or none
#: (StyleGAN3 has no noise inputs and accepts the same values).
NOISE_MODES = ("const", "random", "none")


def check_synthesis_input(ws: torch.Tensor, noise_mode: str, *, num_ws: int, w_dim: int) -> torch.Tensor:
    """``ws`` (N, num_ws, w_dim) as float32, after checking it and ``noise_mode``.

    Raises
    ------
    InvalidInputError
        Naming what was expected and what was given.
    """
    if noise_mode not in NOISE_MODES:
        raise InvalidInputError(f"noise_mode must be one of {NOISE_MODES}; got {noise_mode!r}")
    if ws.ndim != 3 or tuple(ws.shape[1:]) != (num_ws, w_dim):
        raise InvalidInputError(f"ws of shape (N, {num_ws}, {w_dim}) expected; got {tuple(ws.shape)}")
    return ws.to(torch.float32)


class MappingNetwork(nn.Module):
    """z (N, z_dim) and an optional class label c (N, c_dim) -> ws (N, num_ws, w_dim), with truncation.

    Parameters
    ----------
    z_dim, c_dim, w_dim : int
        Latent, label and intermediate latent sizes (``c_dim=0``: unconditional).
    num_ws : int
        How many copies of w the synthesis network reads.
    num_layers : int
        Fully connected layers ``fc0 … fc{num_layers-1}``.
    embed_features : int, optional
        Width of the label embedding ``embed`` (w_dim by default; none without labels).
    layer_features : int, optional
        Width of the hidden layers (w_dim by default).
    activation : str
        Activation of the layers (see :func:`panda_viz.generators.nvlabs._ops.bias_act`).
    lr_multiplier : float
        The layers' learning-rate multiplier, which scales their weights at run time.
    w_avg_beta : float or None
        With None the network keeps no ``w_avg`` buffer, and cannot truncate.
    freeze_layers, freeze_embed
        Training options, ignored: frozen layers are stored under the same names.
    """

    def __init__(
        self,
        z_dim: int, c_dim: int, w_dim: int, num_ws: int,
        num_layers: int = 8,
        embed_features: int | None = None, layer_features: int | None = None,
        activation: str = "lrelu", lr_multiplier: float = 0.01,
        w_avg_beta: float | None = 0.998,
        freeze_layers: int = 0, freeze_embed: bool = False,
    ) -> None:
        super().__init__()
        del freeze_layers, freeze_embed  # training options: frozen layers are buffers of the same name
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.num_layers = num_layers
        embed_features = (w_dim if embed_features is None else embed_features) if c_dim else 0
        layer_features = w_dim if layer_features is None else layer_features
        features = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]
        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        for idx in range(num_layers):
            layer = FullyConnectedLayer(features[idx], features[idx + 1], activation=activation, lr_multiplier=lr_multiplier)
            setattr(self, f"fc{idx}", layer)
        if w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros(w_dim))
        else:
            self.w_avg = None

    def forward(
        self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1.0, truncation_cutoff: int | None = None
    ) -> torch.Tensor:
        """ws (N, num_ws, w_dim); the first ``truncation_cutoff`` (all by default) are
        pulled towards ``w_avg`` by ``truncation_psi``."""
        x = None
        if self.z_dim > 0:
            x = normalize_2nd_moment(z.to(torch.float32))
        if self.c_dim > 0:
            if c is None:
                raise InvalidInputError(f"this generator is class-conditional (c_dim={self.c_dim}): pass a label")
            y = normalize_2nd_moment(self.embed(c.to(torch.float32)))
            x = torch.cat([x, y], dim=1) if x is not None else y
        for idx in range(self.num_layers):
            x = getattr(self, f"fc{idx}")(x)
        x = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        if truncation_psi != 1:
            if self.w_avg is None:
                raise InvalidInputError("this generator keeps no w_avg, so it cannot be truncated")
            cutoff = self.num_ws if truncation_cutoff is None else truncation_cutoff
            x[:, :cutoff] = self.w_avg.lerp(x[:, :cutoff], truncation_psi)
        return x

    def extra_repr(self) -> str:
        return f"z_dim={self.z_dim}, c_dim={self.c_dim}, w_dim={self.w_dim}, num_ws={self.num_ws}"


class MappedGenerator(nn.Module):
    """``synthesis(mapping(z, c))``: NVlabs' ``Generator``, for a family's two network classes.

    A subclass names its ``synthesis_class`` (built from ``w_dim``, ``img_resolution``,
    ``img_channels`` and the synthesis options; it sets ``num_ws`` and takes
    ``forward(ws, noise_mode=...)``) and the ``mapping_defaults`` of its family's official
    mapping network, which ``mapping_kwargs`` override.

    Parameters
    ----------
    z_dim, c_dim, w_dim : int
        Latent, label and intermediate latent sizes.
    img_resolution, img_channels : int
        Output images are (img_channels, img_resolution, img_resolution).
    mapping_kwargs : dict
        Options of :class:`MappingNetwork`.
    **synthesis_kwargs
        Options of the family's synthesis network.
    """

    synthesis_class: ClassVar[type[nn.Module]]
    mapping_defaults: ClassVar[Mapping[str, Any]] = {}

    def __init__(
        self,
        z_dim: int, c_dim: int, w_dim: int,
        img_resolution: int, img_channels: int,
        mapping_kwargs: Mapping[str, Any] | None = None,
        **synthesis_kwargs: Any,
    ) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        # synthesis first: it decides num_ws, and the official state dicts list it first
        self.synthesis = self.synthesis_class(
            w_dim=w_dim, img_resolution=img_resolution, img_channels=img_channels, **synthesis_kwargs
        )
        self.num_ws = self.synthesis.num_ws
        options = {**self.mapping_defaults, **dict(mapping_kwargs or {})}
        self.mapping = MappingNetwork(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=self.num_ws, **options)

    def forward(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        noise_mode: str = "const",
    ) -> torch.Tensor:
        """Images (N, img_channels, img_resolution, img_resolution) from z (N, z_dim)."""
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, noise_mode=noise_mode)
