"""Real images into a generator: :func:`invert` finds what reproduces a photo, in three stages.

1. **latents**: plain Adam on the mean squared error from ``n_starts`` random starts per
   image (drawn with ``random_state`` by ``G.sample_latents``, so in the generator's own
   latent space: z, or w / w+ for a style-based generator loaded with
   ``latent_space="w"`` / ``"w+"``); the best start of each image is kept.
2. **features**: the feature maps at the inversion ``layer`` are optimised directly,
   starting from the latents' pass (kept non-negative when the layer's output is, as a
   ReLU's is), so detail the latent space cannot express is added from that layer on.
3. **tuning** (pivotal tuning, Roich et al. 2022): the parameters of the modules after
   the inversion layer are fine-tuned around that pivot, on a *copy* of those modules
   (:func:`panda_viz.generators.inverted.tuned_module`); the caller's generator never
   changes. One set of tuned values serves all images of a call (PTI's multi-image
   variant); invert photos one at a time for the closest fit of each.

Each stage is optional (``latent_steps`` / ``feature_steps`` / ``tune_steps`` = 0, or
``layer=None`` for no feature layer). The result is an
:class:`~panda_viz.generators.inverted.Inversion` that every latents-taking function
accepts in place of latents.

Measured on the embedded DCGAN (``benchmarks/bench_inversion.py``; figures in
``docs/real-images.md``): the defaults reach well above 30 dB PSNR on a 64×64 crop of a
real portrait in a few seconds on a 2-core CPU, and the edit zoo's named edits at
``main.5`` stay as local on the inverted photo as on generated samples.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import torch
from torch import nn

from .._checks import as_rng, check_float, check_int, is_int
from ..exceptions import InvalidInputError, InvalidTypeError, PhotoWarning
from ..generators.inverted import STAGES, Inversion, tuned_module
from ..imaging.photos import MAX_PIXELS, Box, Crop, crop_notes, photo_batch
from ..runtime.devices import check_memory, memory_errors
from ..runtime.progress import progress as _progress
from .typicality import FAR_FROM_GENERATOR, ImageSpace, distance_from_generator

__all__ = ["invert", "psnr", "default_inversion_layer", "tunable_parameters", "Inversion", "STAGES"]

#: The spatial side at or below which ``layer="auto"`` picks the inversion layer.
AUTO_LAYER_SIDE = 8


def psnr(images: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio per image in dB, for images in [-1, 1] (peak-to-peak 2).

    Parameters
    ----------
    images, target : Tensor (N, C, H, W)

    Returns
    -------
    Tensor (N,): 10 log10(4 / MSE); ``inf`` for identical images.
    """
    if not isinstance(images, torch.Tensor) or not isinstance(target, torch.Tensor) or images.shape != target.shape:
        got = [tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__ for x in (images, target)]
        raise InvalidInputError(f"psnr needs two tensors of the same shape (N, C, H, W); got {got[0]} and {got[1]}")
    mse = (images.detach().double() - target.detach().double().to(images.device)).pow(2).flatten(1).mean(1)
    return (10 * torch.log10(4.0 / mse)).float().cpu()


def default_inversion_layer(generator: Any) -> str:
    """``layer="auto"``: the last layer whose feature maps are at most 8×8 (the first layer if none is).

    For the embedded DCGAN that is ``main.5`` (256×8×8), the layer of its edit zoo; for a
    StyleGAN2 ``synthesis.b8``, before the layers PandA edits (16×16, 32×32).
    """
    layers = generator.layers
    small = [name for name, (_c, h, w) in layers.items() if max(h, w) <= AUTO_LAYER_SIDE]
    return small[-1] if small else next(iter(layers))


@contextmanager
def _call_order(module: nn.Module, layer: str | None) -> Iterator[dict[str, int]]:
    """Record, during passes inside the block, when each module with parameters starts and
    when ``layer`` ends (a counter: key ``"<name>"`` and ``"<layer>:end"``)."""
    order: dict[str, int] = {}
    counter = iter(range(1 << 62))
    with ExitStack() as stack:
        for name, sub in module.named_modules():
            if next(sub.parameters(recurse=False), None) is not None:
                def pre(_m, _i, name=name):
                    order.setdefault(name, next(counter))
                handle = sub.register_forward_pre_hook(pre)
                stack.callback(handle.remove)
        if layer is not None:
            def post(_m, _i, _o):
                order.setdefault(f"{layer}:end", next(counter))
            handle = module.get_submodule(layer).register_forward_hook(post)
            stack.callback(handle.remove)
        yield order


def tunable_parameters(generator: Any, layer: str | None) -> list[str]:
    """Names of the parameters pivotal tuning adjusts: those of modules that run after ``layer``.

    Found with one probe pass (a module counts when its forward starts after ``layer``'s
    forward ended); every parameter when ``layer`` is None.
    """
    module = generator.module
    if layer is None:
        return [name for name, _ in module.named_parameters()]
    with _call_order(module, layer) as order, torch.no_grad():
        generator.synthesize(generator.sample_latents(1, seed=0), progress=False)
    end = order[f"{layer}:end"]
    after = {name for name, start in order.items() if not name.endswith(":end") and start > end}
    return [name for name, _ in module.named_parameters() if name.rpartition(".")[0] in after]


# ------------------------------------------------------------------------ validation
def _resolve_layer(generator: Any, layer: Any) -> str | None:
    if layer is None:
        return None
    if layer == "auto":
        return default_inversion_layer(generator)
    if not isinstance(layer, str):
        raise InvalidTypeError(f"layer must be 'auto', None or a layer name; got {type(layer).__name__}")
    generator.check_layer(layer)
    return layer


def _check_starts(generator: Any, n: int, n_starts: int) -> None:
    """Refuse a stage-1 pass (n × n_starts samples at once, with gradients) that cannot fit on the device.

    Its memory is estimated from the generator's forward profile: the peak of a plain pass
    plus every layer's output, which backpropagation keeps (the embedded DCGAN: about
    2.1 MB a sample estimated, 1.8 MB measured).
    """
    profile = generator.forward_profile
    itemsize = next((p.element_size() for p in generator.module.parameters()), 4)
    per_sample = profile.pass_bytes[1] + itemsize * sum(math.prod(shape) for shape in profile.layers.values())
    check_memory(f"invert: n_starts={n_starts:,} for {n} image{'s' if n > 1 else ''} runs stage 1 on "
                 f"{n * n_starts:,} samples at once (with gradients)", n * n_starts, per_sample,
                 device=generator.device, unit="samples")


def _warn_about_crops(crops: tuple[Crop, ...], many: bool) -> None:
    """One PhotoWarning per photo whose crop was upscaled, kept little of it or stretched it."""
    for i, crop in enumerate(crops):
        notes = crop_notes(crop)
        if notes:
            (height, width), (left, top, right, bottom) = crop.image_size, crop.box
            warnings.warn(
                f"invert: {'images[' + str(i) + ']' if many else 'images'}: the {width}×{height} photo was cropped to "
                f"box {crop.box} ({right - left}×{bottom - top} pixels{', its largest centred square' if crop.centred else ''}) "
                f"and resized to the generator's {crop.size[1]}×{crop.size[0]}: {'; '.join(notes)}. "
                "The crop and its scale are recorded in Inversion.crop_box and Inversion.crop_scale.",
                PhotoWarning, stacklevel=3,
            )


def _warn_if_far(space: ImageSpace, target: torch.Tensor, many: bool) -> None:
    """One PhotoWarning per photo further from the generator's images than its samples' 99th percentile."""
    for i, distance in enumerate(distance_from_generator(space, target).tolist()):
        if distance > FAR_FROM_GENERATOR:
            warnings.warn(
                f"invert: {'images[' + str(i) + ']' if many else 'images'}: the photo is far from what "
                f"{space.generator_name or 'the generator'} makes (distance {distance:.2f}; 99 % of its own images are "
                "below 1.00): it may still be reconstructed closely, but edits learnt on the generator's images "
                "may not mean the same on it", PhotoWarning, stacklevel=3)


# ------------------------------------------------------------------------ the stages
def _mse(images: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (images - target).pow(2).flatten(1).mean(1)


def _adam_steps(stage: str, parameters: list[torch.Tensor], lr: float, n_steps: int,
                per_sample_loss: Callable[[], torch.Tensor], tick: Callable[..., None], history: dict[str, list[float]],
                *, objective: Callable[[torch.Tensor], torch.Tensor] = torch.sum,
                reported: Callable[[torch.Tensor], torch.Tensor] = torch.mean) -> None:
    """``n_steps`` Adam steps on ``parameters`` minimising ``objective(per_sample_loss())``.

    ``per_sample_loss()`` returns the losses (N,) of the current parameters; after each step
    ``tick(stage, reported(losses), history[stage])`` reports progress.
    """
    history[stage] = []
    optimizer = torch.optim.Adam(parameters, lr=lr)
    for _ in range(n_steps):
        loss = per_sample_loss()
        optimizer.zero_grad()
        objective(loss).backward()
        optimizer.step()
        tick(stage, reported(loss.detach()), history[stage])


def _stages(generator, target, layer, n_starts, steps, rates, rng, dtype, tuned_names, tick):
    """The three stages of :func:`invert` (arguments validated there); returns what they found."""
    n = len(target)
    history: dict[str, list[float]] = {}
    stage_psnr: dict[str, torch.Tensor] = {}
    seconds: dict[str, float] = {}

    # 1. latents, from n_starts random starts per image
    started = time.perf_counter()
    starts = generator.sample_latents(n * n_starts, rng=rng).to(dtype=dtype)
    repeated = target.repeat_interleave(n_starts, dim=0)
    latents = starts
    if steps["latents"]:
        z = starts.clone().requires_grad_(True)
        _adam_steps(
            "latents", [z], rates["latents"], steps["latents"],
            lambda: _mse(generator.synthesize(z, grad=True, progress=False, batch_size=len(z)), repeated),
            tick, history, reported=lambda loss: loss.reshape(n, n_starts).amin(1).mean(),  # the best start's
        )
        latents = z.detach()
    with torch.no_grad():
        final = _mse(generator.synthesize(latents, progress=False, batch_size=len(latents)), repeated).reshape(n, n_starts)
    best = final.argmin(1)
    latents = latents.reshape(n, n_starts, *latents.shape[1:])[torch.arange(n), best.to(latents.device)].contiguous()
    if steps["latents"]:
        seconds["latents"] = time.perf_counter() - started
        with torch.no_grad():
            stage_psnr["latents"] = psnr(generator.synthesize(latents, progress=False), target)

    # 2. features at the inversion layer
    features = None
    if layer is not None:
        started = time.perf_counter()
        with torch.no_grad():
            initial = generator.features(latents, layer, progress=False)
        non_negative = bool((initial >= 0).all())
        project = (lambda f: f.clamp_min(0)) if non_negative else (lambda f: f)
        features = initial
        if steps["features"]:
            f = initial.clone().requires_grad_(True)
            _adam_steps(
                "features", [f], rates["features"], steps["features"],
                lambda: _mse(generator.synthesize_from(layer, project(f), latents, grad=True, progress=False, batch_size=n), target),
                tick, history,
            )
            features = project(f.detach()).contiguous()
            seconds["features"] = time.perf_counter() - started
            with torch.no_grad():
                stage_psnr["features"] = psnr(generator.synthesize_from(layer, features, latents, progress=False), target)

    # 3. pivotal tuning of a copy of the later modules
    tuned = None
    if steps["tuning"] and tuned_names:
        started = time.perf_counter()
        parameters = dict(generator.module.named_parameters())
        twin = tuned_module(generator.module, {k: parameters[k] for k in tuned_names}, trainable=True)
        live = {k: twin.get_parameter(k) for k in tuned_names}
        pivot = Inversion(latents=latents, layer=layer, features=features, tuned=live, generator_name=generator.name)
        pivot.bind_module(generator.module, twin)
        _adam_steps(
            "tuning", list(live.values()), rates["tuning"], steps["tuning"],
            lambda: _mse(generator.synthesize(pivot, grad=True, progress=False, batch_size=n), target),
            tick, history, objective=torch.mean,
        )
        tuned = {k: v.detach().clone() for k, v in live.items()}
        seconds["tuning"] = time.perf_counter() - started

    return latents, features, tuned, history, stage_psnr, seconds


def invert(
    generator: Any,
    images: Any,
    *,
    box: Box | list[Box | None] | None = None,
    layer: str | None = "auto",
    n_starts: int = 8,
    latent_steps: int = 60,
    feature_steps: int = 150,
    tune_steps: int = 200,
    latent_lr: float = 0.05,
    feature_lr: float = 0.05,
    tune_lr: float = 3e-4,
    random_state: int | torch.Generator | None = 0,
    progress: bool | None = True,
    callback: Callable[[str, int, int, float], None] | None = None,
    max_pixels: int = MAX_PIXELS,
    image_space: ImageSpace | None = None,
) -> Inversion:
    """Invert photos into ``generator``: latents, then features at ``layer``, then pivotal tuning.

    Parameters
    ----------
    generator : panda_viz.Generator
    images : path, PIL image, ndarray, Tensor, bytes, or a list of them
        Read by :func:`panda_viz.imaging.photos.load_images` (any mode; EXIF rotation applied),
        cropped (``box`` or the centred square) and resized to the generator's resolution.
    box : (left, top, right, bottom), or one per image, optional
        The crop in pixels of the upright photo. Put the face where the generator puts
        faces (for the embedded DCGAN: eyes at about 45 % of the height, mouth at 80 %).
    layer : 'auto', str or None
        The inversion layer of stage 2 (and the start of what stage 3 tunes). ``'auto'``:
        :func:`default_inversion_layer` (``main.5`` for the embedded DCGAN). Edits and
        features at this layer and after it work on the photo; earlier layers are refused.
        ``None`` skips stage 2 and tunes every parameter in stage 3.
    n_starts : int
        Random starts per image in stage 1.
    latent_steps, feature_steps, tune_steps : int
        Adam steps of each stage (0 skips a stage).
    latent_lr, feature_lr, tune_lr : float
        Adam learning rates of the stages.
    random_state : int, torch.Generator or None
        Draws the starts (no global seed is touched; None: a fresh seed from the operating
        system, as everywhere in panda_viz).
    progress : bool or None
        A progress bar over the stages' steps.
    callback : callable, optional
        ``callback(stage, step, n_steps, loss)`` after each step (stage in :data:`STAGES`).
    max_pixels : int
        The most pixels a photo file may declare (:func:`panda_viz.load_images`; 64
        megapixels by default).
    image_space : ImageSpace, optional
        From :func:`panda_viz.inversion.typicality.image_space` (fit once per generator):
        warn about photos far from the generator's images, before the stages run.

    Returns
    -------
    Inversion
        On the generator's device and dtype; ``reconstruction``, ``psnr`` (dB against the
        preprocessed ``target``), ``history`` (MSE per step), ``stage_psnr`` and
        ``stage_seconds`` per stage run; ``crop_box`` and ``crop_scale``, what was done to
        each photo.

    Warns
    -----
    PhotoWarning
        A photo much smaller than the generator's images (upscaled more than 1.5×), one
        whose centred crop keeps less than half of it (an aspect ratio far from the
        generator's), or a box stretched more in one direction than the other: the message
        names the crop and the scale. With ``image_space``: a photo further from the
        generator's images than 99 % of its own samples (a gift box in a face model).

    Raises
    ------
    ResourceLimitError
        ``n_starts`` × the number of photos is more samples than stage 1's single pass can
        hold in the memory free on the generator's device.
    """
    if not all(hasattr(generator, a) for a in ("synthesize", "latent_shape", "module", "layers")):
        raise InvalidTypeError(f"generator must be a panda_viz Generator; got {type(generator).__name__}")
    n_starts = check_int("n_starts", n_starts, low=1)
    steps = {  # 0 skips a stage
        "latents": check_int("latent_steps", latent_steps, low=0),
        "features": check_int("feature_steps", feature_steps, low=0),
        "tuning": check_int("tune_steps", tune_steps, low=0),
    }
    rates = {
        "latents": check_float("latent_lr", latent_lr),
        "features": check_float("feature_lr", feature_lr),
        "tuning": check_float("tune_lr", tune_lr),
    }
    if callback is not None and not callable(callback):
        raise InvalidTypeError(f"callback must be callable or None; got {type(callback).__name__}")
    if image_space is not None and not isinstance(image_space, ImageSpace):
        raise InvalidTypeError(f"image_space must be an ImageSpace (from typicality.image_space) or None; "
                               f"got {type(image_space).__name__}")
    layer = _resolve_layer(generator, layer)
    if layer is None:
        steps["features"] = 0
    rng = as_rng(random_state)
    dtype = next((p.dtype for p in generator.module.parameters()), torch.float32)
    _check_starts(generator, 1, n_starts)  # before any photo is read
    photos = photo_batch(images, tuple(generator.image_shape[1:]), box=box, device=generator.device, dtype=dtype,
                         max_pixels=max_pixels)
    target = photos.images
    _check_starts(generator, len(target), n_starts)
    _warn_about_crops(photos.crops, len(target) > 1)
    if image_space is not None:
        _warn_if_far(image_space, target, len(target) > 1)
    settings = {
        "box": box if box is None or isinstance(box, (list, tuple)) else list(box),
        "layer": layer, "n_starts": n_starts, "latent_steps": steps["latents"], "feature_steps": steps["features"],
        "tune_steps": steps["tuning"], "latent_lr": rates["latents"], "feature_lr": rates["features"],
        "tune_lr": rates["tuning"],
        "random_state": int(random_state) if is_int(random_state) else None,
    }
    tuned_names = tunable_parameters(generator, layer) if steps["tuning"] else []
    schedule = [(stage, i) for stage in STAGES for i in range(steps[stage])]
    ticks = iter(_progress(schedule, total=len(schedule), enabled=progress and bool(schedule), desc="invert", unit="step"))

    def tick(stage: str, loss: torch.Tensor, history: list[float]) -> None:
        value = float(loss)
        history.append(value)
        next(ticks, None)
        if callback is not None:
            callback(stage, len(history), steps[stage], value)

    with torch.enable_grad(), memory_errors(f"invert ({len(target)} images, n_starts={n_starts})"):  # enable_grad: also under a caller's no_grad
        latents, features, tuned, history, stage_psnr, seconds = _stages(
            generator, target, layer, n_starts, steps, rates, rng, dtype, tuned_names, tick)

    inversion = Inversion(
        latents=latents, layer=layer, features=features, tuned=tuned, target=target, history=history,
        stage_psnr=stage_psnr, stage_seconds=seconds, generator_name=getattr(generator, "name", None), settings=settings,
        crop_box=torch.tensor([crop.box for crop in photos.crops], dtype=torch.float32),
        crop_scale=torch.tensor([crop.scale for crop in photos.crops], dtype=torch.float32),
    )
    with torch.no_grad():
        inversion.reconstruction = generator.synthesize(inversion, progress=False)
    inversion.psnr = psnr(inversion.reconstruction, target)
    if "tuning" in seconds:
        inversion.stage_psnr["tuning"] = inversion.psnr.clone()
    return inversion
