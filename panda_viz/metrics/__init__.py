"""How local an edit is and how real its images look: ROIR and MSE maps
(:mod:`~panda_viz.metrics.locality`), SWD (:mod:`~panda_viz.metrics.sliced_wasserstein`),
FID (:mod:`~panda_viz.metrics.frechet`, its Inception network :mod:`~panda_viz.metrics.inception`)."""

from .frechet import INCEPTION_ENV, fid, frechet_distance
from .locality import RoirResult, mse_maps, roir
from .sliced_wasserstein import SwdResult, laplacian_pyramid, swd

__all__ = [
    "roir",
    "RoirResult",
    "mse_maps",
    "swd",
    "SwdResult",
    "laplacian_pyramid",
    "fid",
    "frechet_distance",
    "INCEPTION_ENV",
]
