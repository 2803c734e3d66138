"""Hookable generators: the :class:`Generator` wrapper, its hooks, and the registry of loaders.

A generator is any ``torch.nn.Module`` plus a latent sampler; a layer is a module name as
``named_modules()`` spells it. New architectures plug in with :func:`register` (by name)
or :func:`register_file_format` (by checkpoint suffix).
"""

from . import (
    dcgan,  # noqa: E402,F401  (registers "dcgan-digiface")
    hooks,
)
from .base import Generator, Latents
from .biggan import loader as biggan  # noqa: E402,F401  (registers biggan-deep-128/256/512, "biggan" folders, .bin; package imported lazily)
from .edit_maps import Edit, EditMap
from .genforce import loader as genforce  # noqa: E402,F401  (registers genforce model-zoo .pth/.pt checkpoints)
from .inverted import Inversion
from .nvlabs import loader as nvlabs  # noqa: E402,F401  (registers NVlabs StyleGAN2/3 .pkl pickles and .pt/.pth state dicts)
from .registry import (
    NotThisFormat,
    available_generators,
    load_generator,
    register,
    register_file_format,
)
from .stream import FeatureStream

__all__ = [
    "Generator",
    "Edit",
    "EditMap",
    "Latents",
    "Inversion",
    "hooks",
    "load_generator",
    "register",
    "register_file_format",
    "available_generators",
    "NotThisFormat",
    "FeatureStream",
]
