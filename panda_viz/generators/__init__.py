"""Hookable generators: the :class:`Generator` wrapper, its hooks, and the registry of loaders.

A generator is any ``torch.nn.Module`` plus a latent sampler; a layer is a module name as
``named_modules()`` spells it. New architectures plug in with :func:`register` (by name)
or :func:`register_file_format` (by checkpoint suffix).
"""

from . import hooks
from .base import Edit, EditMap, Generator, Latents
from .inverted import Inversion
from .stream import FeatureStream
from .registry import NotThisFormat, available_generators, load_generator, register, register_file_format
from . import dcgan  # noqa: E402,F401  (registers "dcgan-digiface")
from . import genforce  # noqa: E402,F401  (registers genforce model-zoo .pth/.pt checkpoints)
from . import nvlabs  # noqa: E402,F401  (registers NVlabs StyleGAN2/3 .pkl pickles and .pt/.pth state dicts)
from . import biggan  # noqa: E402,F401  (registers biggan-deep-128/256/512, "biggan" folders, .bin; package imported lazily)

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
