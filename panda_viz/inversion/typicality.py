"""How far a photo is from what a generator makes, without a face detector.

The measure is the "distance from face space" of eigenfaces (Turk and Pentland, 1991),
with the generator's own samples as the faces: images are shrunk to ``side``×``side``,
the principal components of ``n_samples`` generated images span the generator's image
space, and a photo's distance is the RMS of what those components leave unexplained,
divided by the 99th percentile of the same residual on *other* generated samples. A
distance above 1 means further from the generator's images than 99 % of its own.

No face detector is used: none can be installed here without downloading weights or
torchvision. Measured on the embedded DigiFace DCGAN (the defaults; ``benchmarks/photo_distance.py``,
figures in ``docs/real-images.md``): 500 new generated samples median 0.63, at most 1.08
(5 above 1); Grace Hopper's portrait 1.34–1.57 at four crops; matplotlib's gift box 1.66
and logo 1.67; uniform noise 2.0; a checkerboard 3.4; a flat grey image 0.32 (it passes:
it is close to the mean face's colours and has no structure to mismatch). The DigiFace
generator makes synthetic faces, so a real portrait is outside its images too, only less
so than a gift box: the measure says "unlike the generator's images", not "not a face".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from .._checks import check_int
from ..exceptions import InvalidInputError, InvalidTypeError
from ..generators.inverted import Inversion

__all__ = ["ImageSpace", "image_space", "distance_from_generator", "FAR_FROM_GENERATOR"]

#: A distance above this is "far from the generator's images" (its samples' 99th percentile is 1).
FAR_FROM_GENERATOR = 1.0
#: Generated samples the percentile is measured on (not those the components come from).
_REFERENCE_SAMPLES = 256


@dataclass(frozen=True)
class ImageSpace:
    """The principal image space of a generator's samples, and the residual that is typical of them.

    Attributes
    ----------
    mean : Tensor (side*side*C,)
        The mean shrunk sample, float64 on the CPU.
    components : Tensor (side*side*C, n_components)
        Orthonormal principal directions of the shrunk samples.
    reference : float
        The 99th percentile of the residual RMS of generated samples not used for the components.
    side : int
        Images are shrunk to ``side``×``side`` (area averaging) before projection.
    generator_name : str or None
    """

    mean: torch.Tensor
    components: torch.Tensor
    reference: float
    side: int
    generator_name: str | None = None

    def residual(self, images: torch.Tensor) -> torch.Tensor:
        """RMS of what the components leave unexplained, per image (N,); images (N, C, H, W) in [-1, 1]."""
        flat = F.interpolate(images.detach().float().cpu(), size=(self.side, self.side), mode="area").flatten(1).double()
        if flat.shape[1] != self.mean.shape[0]:
            raise InvalidInputError(f"ImageSpace.residual: images with {self.mean.shape[0] // self.side ** 2} channels "
                                    f"expected; got shape {tuple(images.shape)}")
        centred = flat - self.mean
        left = centred - centred @ self.components @ self.components.T
        return left.pow(2).mean(1).sqrt()


def image_space(generator: Any, *, n_samples: int = 512, n_components: int = 20, side: int = 64,
                seed: int = 0) -> ImageSpace:
    """Fit the principal image space of ``generator``'s samples (once per generator: 768 generator passes).

    Parameters
    ----------
    generator : panda_viz.Generator
    n_samples : int
        Samples the components are computed from.
    n_components : int
        Principal components kept (fewer than ``n_samples``).
    side : int
        The side images are shrunk to (64: the DCGAN's own; a smaller side misses noise, which
        averages to grey).
    seed : int
        Seed of the samples (the reference samples use ``seed + 1``).

    Returns
    -------
    ImageSpace
    """
    if not all(hasattr(generator, a) for a in ("synthesize", "sample_latents")):
        raise InvalidTypeError(f"image_space: a panda_viz Generator expected; got {type(generator).__name__}")
    n_samples = check_int("n_samples", n_samples, low=2)
    n_components = check_int("n_components", n_components, low=1, high=n_samples - 1)
    side = check_int("side", side, low=1)
    seed = check_int("seed", seed, low=0)
    with torch.no_grad():
        samples = generator.synthesize(generator.sample_latents(n_samples, seed=seed), progress=False)
        held_out = generator.synthesize(generator.sample_latents(_REFERENCE_SAMPLES, seed=seed + 1), progress=False)
    flat = F.interpolate(samples.float().cpu(), size=(side, side), mode="area").flatten(1).double()
    mean = flat.mean(0)
    centred = flat - mean
    # the principal directions from the n × n Gram matrix: far cheaper than an SVD of n × (3·side²)
    values, vectors = torch.linalg.eigh(centred @ centred.T)
    top = values.argsort(descending=True)[:n_components]
    components = centred.T @ vectors[:, top] / values[top].clamp_min(1e-12).sqrt()
    space = ImageSpace(mean=mean, components=components.contiguous(), reference=1.0, side=side,
                       generator_name=getattr(generator, "name", None))
    reference = float(space.residual(held_out).quantile(0.99))
    return ImageSpace(mean=mean, components=space.components, reference=reference, side=side,
                      generator_name=space.generator_name)


def distance_from_generator(space: ImageSpace, images: Any) -> torch.Tensor:
    """How far ``images`` are from the generator's images: 1 is its samples' 99th percentile.

    Parameters
    ----------
    space : ImageSpace
        From ``image_space``.
    images : Inversion or Tensor (N, C, H, W) in [-1, 1]
        An inversion is measured on its ``target`` (the cropped photo, not the reconstruction,
        which the feature and tuning stages can fit to almost anything).

    Returns
    -------
    Tensor (N,) float64; above ``FAR_FROM_GENERATOR``: far from what the generator makes.
    """
    if not isinstance(space, ImageSpace):
        raise InvalidTypeError(f"distance_from_generator: an ImageSpace (from image_space) expected; "
                               f"got {type(space).__name__}")
    if isinstance(images, Inversion):
        if images.target is None:
            raise InvalidInputError("distance_from_generator: the inversion has no target (the photo it was made from)")
        images = images.target
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        got = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise InvalidInputError(f"distance_from_generator: images (N, C, H, W) in [-1, 1] expected; got {got}")
    return space.residual(images) / space.reference
