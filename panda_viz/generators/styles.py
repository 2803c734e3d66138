"""Style space S of style-based generators: which modules compute it, reading it, replacing it.

S (Wu, Lischinski and Shechtman, CVPR 2021) is the output of every synthesis layer's
affine map A(w): the per-channel styles that modulate the layer's convolution (StyleGAN2,
StyleGAN3) or its AdaIN (StyleGAN). Each family keeps those maps in child modules, named
here exactly as ``named_modules()`` spells them:

=========================  ==================================  ======================================
family                     style layers (one per synthesis     ToRGB style layers (excluded by
                           layer, forward order)               default, as StyleSpace does)
=========================  ==================================  ======================================
NVlabs StyleGAN2           ``synthesis.b4.conv1.affine``,      ``synthesis.b4.torgb.affine`` …
                           ``synthesis.b8.conv0.affine`` …
NVlabs StyleGAN3           ``synthesis.L0_36_512.affine`` …    the last layer's (``L14_1024_3``)
genforce StyleGAN          ``synthesis.layer0.style`` …        none (its RGB layer has no style)
                           (2C: the AdaIN scales, then shifts)
genforce StyleGAN2         ``synthesis.layer0.style`` …        ``synthesis.output0.style`` …
=========================  ==================================  ======================================

StyleGAN3's ``synthesis.input.affine`` (the rotation and translation of its Fourier
features) modulates no channel and is not part of S. Every style is read and replaced
by forward hooks on those modules (:mod:`panda_viz.generators.hooks`), removed when the
block exits; no forward pass is patched. Other generators (DCGAN, PGGAN, BigGAN) have no
style space: the functions here refuse them, naming the generator.

Examples
--------
>>> style_layers(G)                               # {'synthesis.b4.conv1.affine': 512, …}
>>> S = read_styles(G, z)                         # {layer: (N, C)}
>>> x = synthesize_styles(G, z, {"synthesis.b8.conv0.affine": delta})   # s += delta
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import torch
from torch import nn

from .._checks import check_int
from ..exceptions import InvalidInputError, InvalidTypeError
from ..runtime.progress import progress as _progress
from . import hooks
from .genforce.stylegan import StyleGANConvBlock, StyleGANGenerator
from .genforce.stylegan2 import ModulatedConvBlock, StyleGAN2Generator
from .inverted import Inversion
from .nvlabs.stylegan2 import StyleGAN2
from .nvlabs.stylegan2 import SynthesisLayer as StyleGAN2Layer
from .nvlabs.stylegan2 import ToRGBLayer as StyleGAN2ToRGB
from .nvlabs.stylegan3 import StyleGAN3
from .nvlabs.stylegan3 import SynthesisLayer as StyleGAN3Layer

__all__ = [
    "STYLE_FAMILIES", "is_style_based", "style_layers", "check_style_layers", "read_styles", "replace_styles",
    "synthesize_styles",
]


def _stylegan2(sub: nn.Module) -> tuple[str, bool] | None:
    if isinstance(sub, StyleGAN2Layer):
        return "affine", False
    return ("affine", True) if isinstance(sub, StyleGAN2ToRGB) else None


def _stylegan3(sub: nn.Module) -> tuple[str, bool] | None:
    return ("affine", bool(sub.is_torgb)) if isinstance(sub, StyleGAN3Layer) else None


def _genforce_stylegan(sub: nn.Module) -> tuple[str, bool] | None:
    return ("style", False) if isinstance(sub, StyleGANConvBlock) else None


def _genforce_stylegan2(sub: nn.Module) -> tuple[str, bool] | None:
    # the RGB outputs are the modulated convolutions without demodulation (as NVlabs' ToRGB)
    return ("style", not sub.demodulate) if isinstance(sub, ModulatedConvBlock) else None


#: Per family: the generator module's class, its name in messages, and a rule that says of
#: a sub-module whether it is a synthesis layer, giving its affine child's name and
#: whether it is a ToRGB layer.
STYLE_FAMILIES: tuple[tuple[type[nn.Module], str, Callable[[nn.Module], tuple[str, bool] | None]], ...] = (
    (StyleGAN2, "NVlabs StyleGAN2", _stylegan2),
    (StyleGAN3, "NVlabs StyleGAN3", _stylegan3),
    (StyleGANGenerator, "genforce StyleGAN", _genforce_stylegan),
    (StyleGAN2Generator, "genforce StyleGAN2", _genforce_stylegan2),
)


def _family(generator) -> tuple[str, Callable] | None:
    for cls, name, rule in STYLE_FAMILIES:
        if isinstance(generator.module, cls):
            return name, rule
    return None


def is_style_based(generator) -> bool:
    """Whether ``generator`` has a style space (one of :data:`STYLE_FAMILIES`)."""
    return _family(generator) is not None


def style_layers(generator, *, include_torgb: bool = False) -> dict[str, int]:
    """The modules whose outputs form S, in forward order, with their channel counts.

    Parameters
    ----------
    generator : Generator
        A style-based generator (NVlabs StyleGAN2 / StyleGAN3, genforce StyleGAN / StyleGAN2).
    include_torgb : bool
        Also list the ToRGB layers' styles (StyleSpace leaves them out of its channel
        detection; its ``-include_trgb`` flag adds them).

    Returns
    -------
    dict of str to int
        Affine module name (e.g. ``"synthesis.b8.conv0.affine"``) → number of style channels.

    Raises
    ------
    InvalidTypeError
        ``generator`` is not style-based (the message names it and its module's class).
    """
    found = _family(generator)
    if found is None:
        families = ", ".join(name for _, name, _ in STYLE_FAMILIES)
        raise InvalidTypeError(
            f"StyleSpace needs a style-based generator ({families}), whose synthesis layers take styles from "
            f"affine maps; generator {getattr(generator, 'name', generator)!r} is a "
            f"{type(getattr(generator, 'module', generator)).__name__}, which has no style space"
        )
    _, rule = found
    layers: dict[str, int] = {}
    for name, sub in generator.module.named_modules():
        kind = rule(sub)
        if kind is None or (kind[1] and not include_torgb):
            continue
        child, _ = kind
        layers[f"{name}.{child}"] = int(getattr(sub, child).weight.shape[0])
    return layers


def check_style_layers(generator, layers) -> dict[str, int]:
    """Style layers named by ``layers`` (a name or list of names; ToRGB ones allowed), with their
    channel counts, in the order given; None: every non-ToRGB one (:func:`style_layers`).

    Raises
    ------
    InvalidTypeError
        A non-style generator, or a name that is not a string.
    InvalidInputError
        A name that is not a style layer (the message lists them with their channels), or
        an empty list.
    """
    known = style_layers(generator, include_torgb=True)
    if layers is None:
        return style_layers(generator)
    if isinstance(layers, str):
        layers = [layers]
    try:
        layers = list(layers)
    except TypeError:
        raise InvalidTypeError(f"layers must be a style layer name or a list of them; got {type(layers).__name__}") from None
    if not layers:
        raise InvalidInputError("layers is empty: name at least one style layer (or pass None for all)")
    chosen = {}
    for layer in layers:
        if not isinstance(layer, str):
            raise InvalidTypeError(f"style layers are module names (str); got {type(layer).__name__}")
        if layer not in known:
            listing = ", ".join(f"{n} ({c})" for n, c in known.items())
            raise InvalidInputError(f"style layer {layer!r} not found in generator {generator.name!r}; style layers: {listing}")
        chosen[layer] = known[layer]
    return chosen


def _batch_size(generator, batch_size) -> int:
    if batch_size is None:
        return generator.batch_size_for()
    return check_int("batch_size", batch_size, low=1)


def _tensor_latents(generator, latents, what: str) -> torch.Tensor:
    if isinstance(latents, Inversion):
        raise InvalidTypeError(f"{what} takes latents (N, *latent_shape), not an Inversion (use its .latents)")
    return generator.check_latents(latents)


def read_styles(
    generator, latents: torch.Tensor, *, layers=None, batch_size: int | None = None, progress: bool | None = None
) -> dict[str, torch.Tensor]:
    """The styles S of ``latents``: each style layer's output, as the generator computes it.

    Parameters
    ----------
    generator : Generator
        Style-based.
    latents : Tensor (N, *latent_shape)
    layers : str or list of str, optional
        Style layers to read (default: every non-ToRGB one, :func:`style_layers`).
    batch_size, progress
        As in :meth:`Generator.synthesize`.

    Returns
    -------
    dict of str to Tensor (N, C)
        On the generator's device, in its dtype.
    """
    chosen = check_style_layers(generator, layers)
    latents = _tensor_latents(generator, latents, "read_styles")
    batch = _batch_size(generator, batch_size)
    parts: dict[str, list[torch.Tensor]] = {layer: [] for layer in chosen}
    starts = range(0, len(latents), batch)
    for start in _progress(starts, total=len(starts), enabled=progress, n_samples=len(latents), desc="styles"):
        with torch.no_grad(), hooks.capture(generator.module, list(chosen)) as captured:
            generator.synthesize(latents[start : start + batch], batch_size=batch, progress=False)
        for layer in chosen:
            parts[layer].append(captured[layer])
    return {layer: torch.cat(chunks) for layer, chunks in parts.items()}


@contextmanager
def replace_styles(
    generator, replacements: Mapping[str, Callable[[torch.Tensor], torch.Tensor]], *, module: nn.Module | None = None
) -> Iterator[None]:
    """Replace styles during the forward passes inside the block.

    Parameters
    ----------
    generator : Generator
        Style-based; names the layers.
    replacements : mapping of str to callable
        Style layer → function of its styles (n, C) returning the new styles (n, C)
        (under ``torch.func`` transforms it may return a dual or batched tensor).
    module : nn.Module, optional
        The module the passes run on (default ``generator.module``; an inversion's tuned
        copy, :meth:`Inversion.module_for`, for its passes).
    """
    if replacements:
        check_style_layers(generator, list(replacements))
    else:
        style_layers(generator)  # still only for style-based generators
    with hooks.replace(generator.module if module is None else module, dict(replacements)):
        yield


def _order(generator, names: list[str]) -> list[str]:
    """``names`` (style and feature layers) in the order their modules finish, from one probe pass."""
    with torch.no_grad(), hooks.capture(generator.module, names) as finished:
        generator.synthesize(generator.sample_latents(1, seed=0), batch_size=1, progress=False)
    return list(finished)


def _check_deltas(generator, deltas: Mapping[str, torch.Tensor], n: int) -> dict[str, torch.Tensor]:
    if not isinstance(deltas, Mapping):
        raise InvalidTypeError(f"style deltas must map style layers to tensors; got {type(deltas).__name__}")
    known = check_style_layers(generator, list(deltas)) if deltas else style_layers(generator)
    checked = {}
    for layer, delta in deltas.items():
        c = known[layer]
        if not isinstance(delta, torch.Tensor) or not (delta.shape == (c,) or delta.shape == (n, c)):
            got = tuple(delta.shape) if isinstance(delta, torch.Tensor) else type(delta).__name__
            raise InvalidInputError(f"the style delta of {layer!r} must have shape ({c},) or ({n}, {c}); got {got}")
        if not bool(torch.isfinite(delta).all()):
            raise InvalidInputError(f"the style delta of {layer!r} holds NaN or infinite values")
        checked[layer] = delta.to(generator.device).expand(n, c)
    return checked


def synthesize_styles(
    generator, latents, deltas: Mapping[str, torch.Tensor], *, batch_size: int | None = None, progress: bool | None = None
) -> torch.Tensor:
    """Images with styles moved: each listed style layer's output becomes ``s + delta``.

    Parameters
    ----------
    generator : Generator
        Style-based.
    latents : Tensor (N, *latent_shape) or Inversion
        An inversion of photos keeps its photos' details. Its pass runs with the moved
        styles (on its tuned modules, if any); at its inversion layer, whose output is the
        stored features, the moves of earlier style layers add the change they make there:
        ``stored + f'(z) − f(z₀)``, f' the layer's output with the earlier moves, f without,
        z its latents and z₀ those its features were stored at (the same residual
        :func:`panda_viz.apply_direction` keeps). All-zero deltas give
        :meth:`Generator.synthesize`'s images exactly.
    deltas : mapping of str to Tensor (C,) or (N, C)
        Style layer → the change of its styles, one for all samples or one per sample.
    batch_size, progress
        As in :meth:`Generator.synthesize`.

    Returns
    -------
    Tensor (N, 3, H, W)
    """
    latents = generator.check_latents(latents)
    n = len(latents)
    deltas = _check_deltas(generator, deltas, n)
    batch = _batch_size(generator, batch_size)
    early: list[str] = []
    layer = latents.layer if isinstance(latents, Inversion) else None
    if layer is not None and deltas:
        order = _order(generator, [*deltas, layer])
        early = [name for name in order[: order.index(layer)] if name in deltas]
    out = []
    for start in range(0, n, batch):
        part = slice(start, min(start + batch, n))
        moves = {name: (lambda s, d=delta[part]: s + d.to(s.dtype)) for name, delta in deltas.items()}
        if not isinstance(latents, Inversion):
            with replace_styles(generator, moves):
                out.append(generator.synthesize(latents[part], batch_size=batch, progress=progress))
            continue
        inversion = latents[part]
        edits = None
        if early:
            z = inversion.latents
            z0 = inversion.anchor if inversion.anchor is not None else z
            with torch.no_grad():
                with replace_styles(generator, {name: moves[name] for name in early}):
                    moved = generator.features(z, layer, batch_size=batch)
                plain = generator.features(z0, layer, batch_size=batch)
            wanted = inversion.features + (moved - plain)
            edits = {layer: lambda _features, f=wanted: f}
        fired: set[str] = set()
        counted = {name: (lambda s, f=move, name=name, seen=fired: (seen.add(name), f(s))[1]) for name, move in moves.items()}
        with replace_styles(generator, counted, module=inversion.module_for(generator.module)):
            out.append(generator.synthesize(inversion, edits, batch_size=batch, progress=progress))
        if fired != set(moves):
            raise InvalidInputError(  # the inversion's pass ran on another module copy than the one hooked
                f"the inversion's pass did not run the style layers {sorted(set(moves) - fired)}; move it to the "
                "generator's device and dtype first (inversion.to(...))"
            )
    return torch.cat(out)
