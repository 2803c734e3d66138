"""Baselines: the latent-direction methods SeFa, ReSeFa, LowRankGAN and GANSpace, and StyleSpace's channels.

Every method returns :class:`Directions` (``.directions`` (k, *latent_shape), ``.scores``),
and :func:`apply_direction` moves latents along any of them, so the notebooks, the
Explorer's directions tab and :mod:`panda_viz.paper.evaluation` treat all methods the same way::

    from panda_viz.baselines import sefa, apply_direction
    result = sefa(G)
    images = G.synthesize(apply_direction(z, result[0], 3.0))

StyleSpace edits style channels instead of latents, on style-based generators only:
:func:`stylespace` returns :class:`StyleSpaceChannels` (each region's locally-active
channels, :meth:`~StyleSpaceChannels.top`), and :func:`edit_styles` moves them::

    from panda_viz.baselines import stylespace, edit_styles
    channels = stylespace(G, z, {"mouth": mouth_mask})
    images = edit_styles(G, z, [(layer, c, 5.0) for layer, c, _ in channels.top("mouth", 1)], sigma=channels)
"""

from ._directions import Directions, apply_direction, fix_signs
from .direction_files import load_directions
from .ganspace import default_ganspace_layer, ganspace
from .lowrankgan import lowrankgan, lowrankgan_jacobians
from .resefa import generalized_eigh, image_jacobians, region_grams, resefa
from .robust_pca import RobustPCAResult, robust_pca
from .sefa import latent_projection, sefa
from .style_gradients import style_gradients
from .stylespace import StyleSpaceChannels, edit_styles, stylespace

__all__ = [
    "Directions",
    "apply_direction",
    "fix_signs",
    "sefa",
    "latent_projection",
    "resefa",
    "image_jacobians",
    "generalized_eigh",
    "region_grams",
    "lowrankgan",
    "lowrankgan_jacobians",
    "robust_pca",
    "RobustPCAResult",
    "load_directions",
    "ganspace",
    "default_ganspace_layer",
    "stylespace",
    "StyleSpaceChannels",
    "edit_styles",
    "style_gradients",
]
