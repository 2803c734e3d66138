"""SeFa (Shen & Zhou, CVPR 2021): closed-form latent directions from the first projection's weight.

The first step of a generator maps the latent z (d,) affinely to y = A z + b (m,); moving z
along n moves y along A n, so the directions that move y most are the top eigenvectors of
AᵀA. No sampling, no training: well under a second.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from einops import rearrange
from torch import nn

from .._checks import check_bool, check_int, did_you_mean
from ..exceptions import InvalidInputError, InvalidTypeError
from ..generators.base import Generator
from ._directions import Directions, fix_signs

__all__ = ["sefa", "latent_projection"]


def _module(generator: Generator, name: str) -> nn.Module:
    try:
        return generator.module.get_submodule(name)
    except AttributeError:
        names = [n for n, m in generator.module.named_modules() if n and isinstance(getattr(m, "weight", None), torch.Tensor)]
        hint = did_you_mean(name, names)
        raise InvalidInputError(f"sefa: module {name!r} not found{hint + ' Modules' if hint else '; modules'} with a weight: "
                                f"{', '.join(names[:30])}") from None


def _probe_inputs(generator: Generator, names: Sequence[str] | None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One synthesis of a probe latent; the first input of each named module (all modules with a
    ``weight`` when ``names`` is None), in the order they ran. Modules that never ran are absent."""
    z = generator.sample_latents(1, seed=0)
    seen: dict[str, torch.Tensor] = {}
    handles = []

    def make_hook(name: str):
        def hook(_m: nn.Module, inputs: Any) -> None:
            if name not in seen and inputs and isinstance(inputs[0], torch.Tensor):
                seen[name] = inputs[0].detach().clone()

        return hook

    modules = dict(generator.module.named_modules())
    targets = names if names is not None else [n for n, m in modules.items() if n and isinstance(getattr(m, "weight", None), torch.Tensor)]
    try:
        for name in targets:
            handles.append(modules[name].register_forward_pre_hook(make_hook(name)))
        with torch.no_grad():
            generator.synthesize(z, progress=False)
    finally:
        for handle in handles:
            handle.remove()
    return z, seen


def _reads_latent(x: torch.Tensor, z: torch.Tensor) -> bool:
    return x.numel() == z.numel() and torch.equal(x.reshape(-1), z.reshape(-1).to(x))


def _first_latent_module(generator: Generator) -> tuple[str, torch.Tensor]:
    """Name of the first module with a ``weight`` whose input is the latent, and that input."""
    z, seen = _probe_inputs(generator, None)
    for name, x in seen.items():
        if _reads_latent(x, z):
            return name, x
    raise InvalidInputError(
        f"sefa: no module with a weight reads the latent of generator {generator.name!r} directly; "
        "pass layer= (a module name, or a list of style-affine layers) or weight= (m, d)"
    )


def _check_reads_latents(generator: Generator, names: Sequence[str]) -> None:
    """SeFa's directions live where the projection's input lives: refuse layers fed anything
    but the generator's own latents (e.g. a StyleGAN's style affines under z latents)."""
    z, seen = _probe_inputs(generator, names)
    space = getattr(generator, "latent_space", None)
    hint = " (its style affines read w: load it with latent_space='w')" if space in ("z", "w+") else ""
    for name in names:
        if name not in seen:
            raise InvalidInputError(
                f"sefa: module {name!r} never runs in a forward pass of generator {generator.name!r} (it is skipped, or "
                f"its parent reads its weight): SeFa needs modules fed the latents{hint}"
            )
        if not _reads_latent(seen[name], z):
            raise InvalidInputError(
                f"sefa: module {name!r} is fed another tensor than the generator's latents (its input: shape "
                f"{tuple(seen[name].shape)}; the latents: {tuple(z.shape)}), so its directions would not be "
                f"latent directions{hint}"
            )


def latent_projection(generator: Generator, layer: str | None = None) -> tuple[str, torch.Tensor]:
    """The matrix A (m, d) of a generator's first latent-to-feature projection y = A z + b.

    Parameters
    ----------
    generator : Generator
    layer : str, optional
        The module to read. By default the first module with a ``weight`` that consumes the
        latent itself (for the DigiFace DCGAN ``main.0``, a ConvTranspose2d on a 1×1 input).

    Returns
    -------
    name : str
        The module read.
    A : Tensor (m, d), float64
        A 2-D weight (``nn.Linear``, a StyleGAN's style affine): the weight itself (a
        layer's equalised-learning-rate gain scales A, not its eigenvectors).
        ``ConvTranspose2d`` on a 1×1 input (DCGAN): the weight (d, C, k, k) rearranged to
        (C·k·k, d). Any other module: its Jacobian with respect to its input at a probe
        latent, which equals its weight matrix when it is linear.
    """
    if layer is None:
        name, probe = _first_latent_module(generator)
    else:
        name, probe = layer, None
    module = _module(generator, name)
    weight = getattr(module, "weight", None)
    if not isinstance(weight, torch.Tensor):
        raise InvalidInputError(f"sefa: module {name!r} ({type(module).__name__}) has no weight to factorise")
    d = math.prod(generator.latent_shape)
    if isinstance(module, nn.Linear) or weight.ndim == 2:
        A = weight
    elif isinstance(module, nn.ConvTranspose2d) and weight.shape[0] == d and (probe is None or probe.shape[-2:] == (1, 1)):
        A = rearrange(weight, "d c h w -> (c h w) d")
    else:
        if probe is None:
            probe = generator.sample_latents(1, seed=0)
        with torch.enable_grad():
            jac = torch.func.jacrev(lambda x: module(x[None])[0])(probe[0].detach().float())
        A = jac.reshape(-1, probe[0].numel())
    if A.shape[1] != d:
        raise InvalidInputError(f"sefa: module {name!r} maps {A.shape[1]} inputs, but the latent has {d} entries")
    return name, A.detach().to(torch.float64)


def sefa(
    generator: Generator | None = None,
    *,
    layer: str | Sequence[str] | None = None,
    weight: torch.Tensor | None = None,
    k: int | None = None,
    normalize: bool = True,
) -> Directions:
    """SeFa's directions: the top eigenvectors of AᵀA for the first latent projection A.

    Parameters
    ----------
    generator : Generator, optional
        Where to read A (see :func:`latent_projection`). Not needed when ``weight`` is given.
    layer : str or list of str, optional
        Module(s) to read; several are stacked along the output axis, as SeFa does for the
        style-affine layers of style-based generators. Each must read the generator's
        latents (checked with one probe pass): for an NVlabs StyleGAN2/3 load it with
        ``latent_space="w"``, whose latents are what the affines
        (``synthesis.b8.conv0.affine`` …) read; z latents, a layer fed anything else (a
        genforce ``…style`` affine, which reads w under z latents) or one that never runs
        are refused.
    weight : Tensor (m, d), optional
        A itself (overrides ``layer``): rows are outputs, columns latent entries.
    k : int, optional
        How many directions to keep (default: all d).
    normalize : bool
        Scale each row of A (each output unit) to unit norm before the decomposition, as the
        official SeFa code does (genforce/sefa ``utils.py``, ``factorize_weight``:
        ``weight / np.linalg.norm(weight, axis=0)`` on its (d, m) layout, then
        ``np.linalg.eig(weight.dot(weight.T))``, whose eigenpairs ``eigh`` gives here);
        ``False`` decomposes A exactly as the paper's Eq. (7) writes it.

    Returns
    -------
    Directions
        ``directions`` (k, *latent_shape), unit norm, sign fixed so the entry of largest
        magnitude is positive; ``scores`` the eigenvalues, decreasing.
    """
    if weight is None:
        if generator is None:
            raise InvalidTypeError("sefa: a generator or weight= (m, d) expected; got neither")
        layers = [layer] if layer is None or isinstance(layer, str) else list(layer)
        for name in layers:
            if name is not None:
                _module(generator, name)
        if layer is not None:
            _check_reads_latents(generator, layers)
        names, mats = zip(*(latent_projection(generator, name) for name in layers))
        widths = {m.shape[1] for m in mats}
        if len(widths) != 1:
            raise InvalidInputError(f"sefa: layers {list(names)} consume inputs of different sizes {sorted(widths)}")
        A = torch.cat(mats)
        latent_shape = generator.latent_shape
    else:
        if not isinstance(weight, torch.Tensor) or weight.ndim != 2:
            got = tuple(weight.shape) if isinstance(weight, torch.Tensor) else type(weight).__name__
            raise InvalidInputError(f"sefa: weight must be a matrix (m, d); got {got}")
        A = weight.detach().to(torch.float64)
        names = ("weight",)
        latent_shape = generator.latent_shape if generator is not None else (A.shape[1],)
        if math.prod(latent_shape) != A.shape[1]:
            raise InvalidInputError(f"sefa: weight has {A.shape[1]} columns but the latent shape is {latent_shape}")
    d = A.shape[1]
    k = d if k is None else check_int("sefa: k", k, low=1, high=d)
    normalize = check_bool("sefa: normalize", normalize)
    if normalize:
        A = A / A.norm(dim=1, keepdim=True).clamp_min(torch.finfo(A.dtype).tiny)
    values, vectors = torch.linalg.eigh(A.T @ A)
    values, vectors = values.flip(0)[:k], vectors.flip(1)[:, :k].T
    vectors = fix_signs(vectors)
    return Directions(
        directions=vectors.to(torch.float32).reshape(k, *latent_shape),
        scores=values.to(torch.float32),
        method="sefa",
        info={"layers": list(names), "normalize": normalize, "A_shape": tuple(A.shape)},
    )
