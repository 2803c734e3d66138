"""genforce model-zoo checkpoints: PGGAN, StyleGAN and StyleGAN2 generators.

The official PandA and SeFa code take their generators from the genforce model zoo
(``pggan_celebahq1024.pth``, ``stylegan_ffhq1024.pth``, ``stylegan2_ffhq1024.pth`` …):
``.pth`` files holding ``{"generator": state_dict, "generator_smooth": state_dict}``.
This module reads them into pure-PyTorch re-implementations whose parameter and buffer
names are genforce's own (``synthesis.layer3.style.weight``, ``truncation.w_avg``, …), so a
model-zoo file loads one to one with ``load_state_dict(strict=True)``; no code of the
genforce repository is imported or executed.

Layers are named as genforce's modules are: ``layer0 … layer{2k+1}`` for PGGAN (top
level, no mapping network), ``synthesis.layer0 …`` for StyleGAN, ``synthesis.early_layer``
and ``synthesis.layer0 …`` for StyleGAN2. Each architecture lives in its own module
(:mod:`.pggan`, :mod:`.stylegan`, :mod:`.stylegan2`); what they share (pixel norm, the mapping network,
truncation, state-dict checks) is in :mod:`.blocks`; this one holds the loader.

Examples
--------
>>> G = panda_viz.load_generator("checkpoints/stylegan2_ffhq1024.pth")   # architecture inferred
>>> G.layers["synthesis.layer4"]
(512, 16, 16)
>>> G = panda_viz.load_generator("stylegan_ffhq1024.pth", architecture="stylegan",
...                              truncation_psi=0.7, truncation_layers=8)
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..._checks import (
    check_choice,
    check_float,
    check_int,
    describe,
    did_you_mean,
    unknown_name_message,
)
from ...exceptions import InvalidInputError, InvalidTypeError
from ...fileio.torch_files import load_torch_file
from ...fileio.weights import fill_meta_module
from ..base import Generator
from ..registry import NotThisFormat, register_file_format
from .blocks import LIMITS

__all__ = [
    "ARCHITECTURES",
    "LIMITS",
    "load_genforce",
    "genforce_state_dict",
    "detect_architecture",
    "official_layer_name",
]

#: The genforce generator families this module reads.
ARCHITECTURES = ("pggan", "stylegan", "stylegan2")


# ---------------------------------------------------------------------------------------
# recognising a checkpoint
# ---------------------------------------------------------------------------------------
def detect_architecture(state_dict: Mapping[str, Any]) -> str | None:
    """``"pggan"``, ``"stylegan"`` or ``"stylegan2"`` from a genforce generator state dict.

    Returns None when the keys are not those of a genforce generator (an NVlabs state dict
    has ``mapping.fc0.weight`` and ``synthesis.b4.const`` instead).
    """
    keys = state_dict.keys()
    if "synthesis.early_layer.const" in keys or "synthesis.early_layer.weight" in keys:
        return "stylegan2"
    if "truncation.w_avg" in keys and ("synthesis.layer0.const" in keys or "synthesis.layer0.weight" in keys):
        return "stylegan"
    if "layer0.weight" in keys and "output0.weight" in keys and not any(isinstance(k, str) and k.startswith("synthesis.") for k in keys):
        return "pggan"
    return None


def genforce_state_dict(checkpoint: Any) -> tuple[dict[str, torch.Tensor], str] | None:
    """The generator state dict of a loaded genforce checkpoint, and which entry it came from.

    Accepts the model-zoo layout (``generator_smooth`` preferred over ``generator``) and a
    bare genforce generator state dict. Returns None when ``checkpoint`` is neither.
    """
    if not isinstance(checkpoint, Mapping):
        return None
    for entry in ("generator_smooth", "generator"):
        candidate = checkpoint.get(entry)
        if isinstance(candidate, Mapping) and detect_architecture(candidate) is not None:
            return dict(candidate), entry
    if detect_architecture(checkpoint) is not None and all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        return dict(checkpoint), "state dict"
    return None


def official_layer_name(architecture: str, layer: int) -> str:
    """The module name of the official PandA code's integer ``layer`` for a genforce model.

    The official code runs the synthesis network up to (not including) its ``stop = layer``:
    for StyleGAN2 that is the output of ``synthesis.layer{L-1}`` (on a 1024-pixel FFHQ model
    L = 5 is 16×16, L = 6 and 7 are 32×32); for StyleGAN and PGGAN the loop runs over
    resolutions ``2**2 … 2**(L-1)``, ending with ``(synthesis.)layer{2L-5}``.
    """
    layer = check_int("an official layer number", layer)
    if architecture == "stylegan2":
        if layer < 1:
            raise InvalidInputError(f"official StyleGAN2 layers start at 1 (synthesis.layer0); got {layer}")
        return f"synthesis.layer{layer - 1}"
    if architecture in ("stylegan", "pggan"):
        if layer < 3:
            raise InvalidInputError(f"official {architecture} layers start at 3 (4×4 features); got {layer}")
        return f"{'synthesis.' if architecture == 'stylegan' else ''}layer{2 * layer - 5}"
    raise InvalidInputError(unknown_name_message("genforce architecture", architecture, ARCHITECTURES))


# ---------------------------------------------------------------------------------------
# the loader
# ---------------------------------------------------------------------------------------
def _build(architecture: str, state_dict: dict[str, torch.Tensor], options: dict[str, Any], path: Path, entry: str) -> nn.Module:
    """The generator the state dict's shapes describe, built on ``meta``, checked, then loaded."""
    if architecture == "pggan":
        from .pggan import PGGANGenerator as cls
    elif architecture == "stylegan":
        from .stylegan import StyleGANGenerator as cls
    else:
        from .stylegan2 import StyleGAN2Generator as cls
    where = f"{path} ({entry!r})"
    with torch.device("meta"):
        module = cls.from_state_dict(state_dict, where=where, **options)
    return fill_meta_module(
        module, state_dict, where=where, what=f"the genforce {architecture} generator its shapes describe", path=path
    )


def _check_options(truncation_psi: Any, truncation_layers: Any, architecture: Any, resolution: Any,
                   fused_scale: Any, mapping_lr_mul: Any) -> tuple[float, int | None, int | None, float]:
    """``(truncation_psi, truncation_layers, resolution, mapping_lr_mul)``, checked."""
    psi = check_float("truncation_psi", truncation_psi, low=None)
    layers = check_int("truncation_layers", truncation_layers, low=0, allow_none=True)
    if architecture is not None:
        check_choice("architecture", architecture, ARCHITECTURES)
    resolution = check_int("resolution", resolution, low=1, allow_none=True)
    if not (fused_scale is None or isinstance(fused_scale, bool) or fused_scale == "auto"):
        raise InvalidInputError(f"Invalid fused_scale: got {describe(fused_scale)} instead of one of {{True, False, 'auto'}}")
    return psi, layers, resolution, check_float("mapping_lr_mul", mapping_lr_mul)


@register_file_format(".pth", ".pt")
def load_genforce(
    path: str | Path,
    *,
    architecture: str | None = None,
    resolution: int | None = None,
    truncation_psi: float = 1.0,
    truncation_layers: int | None = None,
    randomize_noise: bool = False,
    fused_scale: bool | str | None = None,
    mapping_lr_mul: float = 0.01,
    name: str | None = None,
    device: str | torch.device = "cpu",
    **other: Any,
) -> Generator:
    """Load a genforce model-zoo checkpoint as a hookable :class:`Generator`.

    Parameters
    ----------
    path : str or Path
        A ``.pth`` / ``.pt`` file: ``{"generator": sd, "generator_smooth": sd}`` as the model
        zoo ships them (``generator_smooth``, the averaged weights, is used when present),
        or a bare genforce generator state dict.
    architecture : {"pggan", "stylegan", "stylegan2"}, optional
        Checked against what the state dict holds (inferred when omitted).
    resolution : int, optional
        Checked against the resolution inferred from the state dict.
    truncation_psi : float
        Truncation of the style-based generators: the first ``truncation_layers`` per-layer
        latents become ``w_avg + psi (w - w_avg)``. 1 disables it; ignored for PGGAN.
    truncation_layers : int, optional
        How many layers are truncated (all when None; genforce/SeFa use 8 with psi 0.7).
    randomize_noise : bool
        Fresh per-pixel noise on every pass (style-based generators). Off by default: the
        checkpoint's stored noise buffers are used, so an image is a function of its latent,
        which fitting and editing need.
    fused_scale : bool or "auto", optional
        How up-sampling convolutions were built, which state dicts cannot tell: PGGAN
        default False, StyleGAN default "auto" (transposed convolutions from 128 px on), as
        in genforce.
    mapping_lr_mul : float
        The mapping network's learning-rate multiplier (0.01 in every genforce model); it
        scales the stored weights, and is not in the state dict.
    name : str, optional
        Defaults to the file's stem (``"stylegan2_ffhq1024"``), the model name the official
        PandA factor files carry.
    device : str or torch.device

    Returns
    -------
    Generator
        Latents z (N, z_dim) ~ N(0, I); images (N, 3, R, R) in about [-1, 1]. Style-based
        ones have ``downstream_needs_latents=True``. ``G.module.architecture`` and
        ``G.module.resolution`` say what was loaded.

    Raises
    ------
    NotThisFormat
        The file is not a genforce checkpoint (another ``.pth`` loader is tried next).
    InvalidInputError
        A genforce checkpoint of another architecture or resolution than asked for; a bad option.
    InvalidFileError
        An empty, truncated or corrupt file; a missing, mis-typed or mis-shaped weight
        (named); a ``lod`` that is not 0.
    UnsafePickleError
        The file's pickle names a global outside the allow-list (nothing ran).
    FileLimitError
        Shapes or counts past :data:`LIMITS`, or a file past the reader's limits.
    NonFiniteError
        Weights with NaN or infinite values (named).

    Notes
    -----
    The file is read by :func:`~panda_viz.fileio.torch_files.load_torch_file` (no
    code runs); the architecture's sizes are read from the weights' shapes (checked
    against :data:`LIMITS`), the network is built on ``meta`` and compared tensor by
    tensor with the file before any memory is allocated for it.
    """
    path = Path(path)
    if "config" in other:
        raise NotThisFormat("config= is for NVlabs state dicts; genforce checkpoints need none")
    psi, trunc_layers, resolution, mapping_lr_mul = _check_options(
        truncation_psi, truncation_layers, architecture, resolution, fused_scale, mapping_lr_mul
    )
    checkpoint = load_torch_file(path)
    found = genforce_state_dict(checkpoint)
    if found is None:
        holds = f"a dict with keys {', '.join(describe(k) for k in list(checkpoint)[:5])}" if isinstance(checkpoint, Mapping) else describe(checkpoint)
        raise NotThisFormat(
            "not a genforce checkpoint (expected {'generator_smooth'/'generator': state dict} "
            f"with genforce keys such as 'synthesis.early_layer.const' or 'truncation.w_avg'; it holds {holds})"
        )
    if other:
        own = [n for n in inspect.signature(load_genforce).parameters if n not in ("path", "other")]
        raise InvalidTypeError(f"unexpected options for a genforce checkpoint: {', '.join(sorted(other))}"
                               f"{did_you_mean(sorted(other)[0], own)} Its options: {', '.join(own)}")
    state_dict, entry = found
    found_arch = detect_architecture(state_dict)
    if architecture is not None and architecture != found_arch:
        raise InvalidInputError(
            f"{str(path)!r} holds a genforce {found_arch} generator ({entry!r}), not the "
            f"{architecture} asked for; pass architecture={found_arch!r} or omit it"
        )
    options: dict[str, Any] = {}
    if fused_scale is not None:
        if found_arch == "stylegan2":
            raise InvalidInputError("fused_scale= applies to PGGAN and StyleGAN checkpoints, not StyleGAN2")
        if found_arch == "pggan" and fused_scale == "auto":
            raise InvalidInputError("PGGAN fused_scale must be True or False; got 'auto'")
        options["fused_scale"] = fused_scale
    if found_arch != "pggan":
        options["mapping_lr_mul"] = mapping_lr_mul
    module = _build(found_arch, state_dict, options, path, entry)
    if resolution is not None and resolution != module.resolution:
        raise InvalidInputError(
            f"{str(path)!r} holds a {module.resolution}×{module.resolution} genforce {found_arch} "
            f"generator, not the {resolution}×{resolution} asked for"
        )
    name = name or path.stem
    if found_arch == "pggan":
        return Generator(module, (module.z_dim,), name=name, device=device)

    def forward(m: nn.Module, z: torch.Tensor) -> torch.Tensor:
        return m(z, trunc_psi=psi, trunc_layers=trunc_layers, randomize_noise=randomize_noise)

    return Generator(module, (module.z_dim,), name=name, forward=forward, downstream_needs_latents=True, device=device)
