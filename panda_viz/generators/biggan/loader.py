"""BigGAN-deep (Brock et al., 2019) through the PyPI package ``pytorch-pretrained-biggan``.

The package's ``BigGAN`` and ``BigGANConfig`` build the network; its weights are read from
disk only, never downloaded here:

- a directory holding ``config.json`` and ``pytorch_model.bin`` (what the package's
  ``from_pretrained`` reads; ``load_generator("path/to/dir/pytorch_model.bin")`` works too);
- or the package's download cache (``$PYTORCH_PRETRAINED_BIGGAN_CACHE``, by default
  ``~/.pytorch_pretrained_biggan``), filled by one earlier ``BigGAN.from_pretrained(name)``
  on a machine with network access.

A latent is a noise vector and a class vector side by side, (z_dim + 1000,): BigGAN's
later blocks read the class too, so per-sample classes travel with the latents through
:meth:`Generator.features`, ``synthesize`` and ``synthesize_from``. Noise is truncated
normal on [-2, 2] scaled by ``truncation`` (the package's and the paper's truncation trick),
drawn from the sampler's ``torch.Generator``. Classes are ImageNet indices or names
(``"golden retriever"``, ``"tabby"``), from a class list shipped with panda_viz.

Layers worth hooking: ``generator.layers.0 …`` (the GenBlocks; one index is the self-
attention layer), all (C, H, W).

Examples
--------
>>> G = panda_viz.load_generator("biggan-deep-256", classes="golden retriever", truncation=0.4)
>>> latents = G.sample_latents(16, seed=0)          # (16, 128 + 1000)
>>> x = G.synthesize(latents)                       # (16, 3, 256, 256) in [-1, 1]
>>> latents = G.latents(z, ["tabby", 207])          # your own noise, chosen classes
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..._checks import check_float, describe, is_int, unknown_name_message
from ...exceptions import (
    FileLimitError,
    InvalidFileError,
    InvalidInputError,
    InvalidTypeError,
    MissingFileError,
    WeightsNotInstalledError,
)
from ...fileio.json_data import read_json_file
from ...fileio.torch_files import load_torch_file
from ...fileio.weights import check_weights, converted_weights, count_indexed, few
from ..base import Generator
from ..registry import NotThisFormat, register, register_file_format
from .classes import ClassSpec, imagenet_class_index
from .config import (
    CONFIG_LIMITS,
    check_biggan_config,
    expected_weights,
    read_biggan_config,
)

__all__ = ["BigGANGenerator", "BIGGAN_MODELS", "BIGGAN_INSTALL", "load_biggan", "load_biggan_file"]

BIGGAN_INSTALL = "pip install 'panda_viz[biggan]'  (or: pip install --no-deps pytorch-pretrained-biggan boto3 requests scipy)"
_S3 = "https://s3.amazonaws.com/models.huggingface.co/biggan/"
#: Named checkpoints of pytorch-pretrained-biggan and the URLs its cache is keyed by.
BIGGAN_MODELS = {
    f"biggan-deep-{res}": {"weights": f"{_S3}biggan-deep-{res}-pytorch_model.bin", "config": f"{_S3}biggan-deep-{res}-config.json"}
    for res in (128, 256, 512)
}
WEIGHTS_NAME = "pytorch_model.bin"
CONFIG_NAME = "config.json"


def _check_truncation(truncation: Any) -> float:
    return check_float("truncation", truncation, low=0, high=1)


# --------------------------------------------------------------------------- wrapper
class BigGANGenerator(Generator):
    """A BigGAN whose latents are ``[z, class vector]`` (N, z_dim + num_classes).

    Parameters
    ----------
    module : pytorch_pretrained_biggan.BigGAN
    truncation : float in (0, 1]
        Scales the truncated noise and selects the batch-norm statistics the network stores
        for that truncation (the package's and paper's truncation trick).
    classes : int, str, sequence of them, or None
        Classes that :meth:`sample_latents` draws from, uniformly per sample; ``None``: all.
    name, device
        As for :class:`Generator`.

    Attributes
    ----------
    z_dim, num_classes : int
    truncation : float
    class_indices : list of int or None
    """

    def __init__(
        self,
        module: nn.Module,
        *,
        truncation: float = 0.4,
        classes: ClassSpec | Sequence[ClassSpec] | None = None,
        name: str | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        config = getattr(module, "config", None)
        if config is None or not hasattr(config, "z_dim") or not hasattr(config, "num_classes"):
            raise InvalidTypeError(f"expected a pytorch_pretrained_biggan.BigGAN (with .config); got {type(module).__name__}")
        truncation = _check_truncation(truncation)
        self.z_dim = int(config.z_dim)
        self.num_classes = int(config.num_classes)
        self.truncation = truncation
        self.class_indices = None if classes is None else self._indices(classes)
        super().__init__(
            module,
            (self.z_dim + self.num_classes,),
            name=name or f"BigGAN-deep {getattr(config, 'output_dim', '?')}px",
            forward=self._biggan_forward,
            sampler=self._biggan_sample,
            downstream_needs_latents=True,
            device=device,
        )

    def _indices(self, classes: ClassSpec | Sequence[ClassSpec]) -> list[int]:
        items = [classes] if is_int(classes) or isinstance(classes, str) else list(classes)
        if not items:
            raise InvalidInputError("classes must name at least one class")
        return [imagenet_class_index(c, self.num_classes) for c in items]

    def _biggan_forward(self, module: nn.Module, latents: torch.Tensor) -> torch.Tensor:
        z, c = self.split_latents(latents)
        return module(z, c, self.truncation)

    def _biggan_sample(self, n: int, rng: torch.Generator) -> torch.Tensor:
        z = torch.nn.init.trunc_normal_(torch.empty(n, self.z_dim), 0.0, 1.0, -2.0, 2.0, generator=rng) * self.truncation
        pool = torch.tensor(self.class_indices) if self.class_indices is not None else torch.arange(self.num_classes)
        picks = pool[torch.randint(len(pool), (n,), generator=rng)]
        return torch.cat([z, nn.functional.one_hot(picks, self.num_classes).to(z.dtype)], dim=1)

    def class_vectors(self, classes: ClassSpec | Sequence[ClassSpec], n: int | None = None) -> torch.Tensor:
        """One-hot class vectors (n, num_classes): one class for all ``n``, or one per entry."""
        indices = self._indices(classes)
        if n is not None and len(indices) == 1:
            indices = indices * n
        if n is not None and len(indices) != n:
            raise InvalidInputError(f"{len(indices)} classes given for {n} samples")
        return nn.functional.one_hot(torch.tensor(indices), self.num_classes).float()

    def latents(self, z: torch.Tensor, classes: ClassSpec | Sequence[ClassSpec] | torch.Tensor) -> torch.Tensor:
        """Latents (N, z_dim + num_classes) from noise ``z`` (N, z_dim) and classes (one, one per
        sample, or class vectors (N, num_classes))."""
        if not isinstance(z, torch.Tensor) or z.ndim != 2 or z.shape[1] != self.z_dim:
            got = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
            raise InvalidInputError(f"z of shape (N, {self.z_dim}) expected; got {got}")
        if isinstance(classes, torch.Tensor):
            if tuple(classes.shape) != (len(z), self.num_classes):
                raise InvalidInputError(f"class vectors of shape ({len(z)}, {self.num_classes}) expected; got {tuple(classes.shape)}")
            c = classes.to(z.dtype)
        else:
            c = self.class_vectors(classes, len(z)).to(z.dtype)
        return torch.cat([z, c.to(z.device)], dim=1).to(self.device)

    def split_latents(self, latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(z, class vectors)`` of latents (N, z_dim + num_classes)."""
        return latents[:, : self.z_dim], latents[:, self.z_dim :]


# --------------------------------------------------------------------------- loading
def _package() -> Any:
    try:
        import pytorch_pretrained_biggan
    except ImportError as error:
        raise WeightsNotInstalledError(
            f"BigGAN needs the package pytorch-pretrained-biggan ({error}); install it with: {BIGGAN_INSTALL}"
        ) from error
    return pytorch_pretrained_biggan


def _default_cache_dir() -> Path:
    return Path(os.environ.get("PYTORCH_PRETRAINED_BIGGAN_CACHE", Path.home() / ".pytorch_pretrained_biggan"))


def _cached(url: str, cache_dir: Path) -> Path | None:
    """The newest file the package cached for ``url`` (named sha256(url)[.sha256(etag)])."""
    stem = hashlib.sha256(url.encode("utf-8")).hexdigest()
    if not cache_dir.is_dir():
        return None
    found = [p for p in cache_dir.glob(stem + "*") if p.is_file() and not p.name.endswith((".json", ".lock"))]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def _locate(name: str | None, path: str | os.PathLike | None, cache_dir: str | os.PathLike | None) -> tuple[Path, Path]:
    if path is not None:
        path = Path(path)
        folder = path.parent if path.is_file() else path
        weights, config = (path if path.is_file() else folder / WEIGHTS_NAME), folder / CONFIG_NAME
        missing = [str(p) for p in (weights, config) if not p.is_file()]
        if missing:
            raise MissingFileError(
                f"BigGAN files not found: {', '.join(missing)} (a folder needs {CONFIG_NAME} and {WEIGHTS_NAME})", missing[0]
            )
        return weights, config
    if name not in BIGGAN_MODELS:
        raise InvalidInputError(unknown_name_message("BigGAN", name, BIGGAN_MODELS) + " (or pass path=)")
    folder = Path(cache_dir) if cache_dir is not None else _default_cache_dir()
    weights, config = (_cached(BIGGAN_MODELS[name][k], folder) for k in ("weights", "config"))
    if weights is None or config is None:
        raise WeightsNotInstalledError(
            f"the weights of {name!r} are not in the pytorch-pretrained-biggan cache {str(folder)!r} and panda_viz "
            f"never downloads: on a machine with network access run "
            f"`pytorch_pretrained_biggan.BigGAN.from_pretrained({name!r})` once (it fills that cache), or save "
            f"{CONFIG_NAME} and {WEIGHTS_NAME} into a folder and pass path='that/folder'"
        )
    return weights, config


def load_biggan(
    name: str | None = None,
    *,
    path: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    truncation: float = 0.4,
    classes: ClassSpec | Sequence[ClassSpec] | None = None,
    device: str | torch.device = "cpu",
) -> BigGANGenerator:
    """Load a BigGAN from a folder (``path=``) or the package cache, never from the network.

    Parameters
    ----------
    name : {"biggan-deep-128", "biggan-deep-256", "biggan-deep-512"}, optional
        Which cached checkpoint to read when ``path`` is not given.
    path : folder or ``pytorch_model.bin`` file, optional
        With ``config.json`` beside the weights.
    cache_dir : folder, optional
        The package cache (``$PYTORCH_PRETRAINED_BIGGAN_CACHE`` or ``~/.pytorch_pretrained_biggan``).
    truncation, classes, device
        As for :class:`BigGANGenerator`.
    """
    truncation = _check_truncation(truncation)
    weights, config_path = _locate(name, path, cache_dir)
    config = read_biggan_config(config_path)  # before the (slow) package import
    label = name if name is not None and path is None else Path(weights).parent.name
    return _build(weights, config_path, config, truncation=truncation, classes=classes, name=label, device=device)


def _build(weights: Path, config_path: Path, checked: dict[str, Any], *, truncation: float,
           classes: ClassSpec | Sequence[ClassSpec] | None, name: str, device: str | torch.device) -> BigGANGenerator:
    """The BigGAN of a checked config, its weights checked against it before it is built."""
    package = _package()
    config = package.BigGANConfig.from_dict(checked)
    state_dict = load_torch_file(weights)
    if not isinstance(state_dict, dict):
        raise InvalidFileError(f"{str(weights)!r} holds {describe(state_dict)}, expected a BigGAN state dict", weights)
    where = f"{weights} (with {config_path})"
    # the layer count of the config against the weights present, before building anything
    counted = count_indexed(state_dict, "generator.layers.")
    expected_layers = len(config.layers) + (0 <= config.attention_layer_position < len(config.layers))
    if counted != expected_layers:
        raise InvalidFileError(
            f"{where}: the config describes {expected_layers} generator layers (with attention), the weights hold "
            f"{counted} (generator.layers.0 …)", weights,
        )
    expected = expected_weights(checked)
    what = f"the BigGAN that {config_path.name} describes"
    check_weights(expected, state_dict, where=where, what=what, path=weights)
    tensors = converted_weights(expected, state_dict, where=where, path=weights)
    negative = [key for key, tensor in tensors.items() if key.endswith("running_vars") and bool((tensor < 0).any())]
    if negative:
        raise InvalidFileError(f"{where}: batch-norm variances must be >= 0 (they are square-rooted); negative in {few(negative)}", weights)
    module = package.BigGAN(config)  # now that every weight is known to fit, for real
    module.load_state_dict(tensors, strict=True)
    return BigGANGenerator(module, truncation=truncation, classes=classes, name=name, device=device)


def _named(name: str):
    def factory(**options: Any) -> BigGANGenerator:
        return load_biggan(name, **options)

    factory.__name__ = factory.__qualname__ = name.replace("-", "_")
    factory.__doc__ = f"{name} from the package cache, or from path=; see :func:`load_biggan`."
    return factory


for _name in BIGGAN_MODELS:
    register(_name)(_named(_name))


@register("biggan")
def biggan(*, path: str | os.PathLike, **options: Any) -> BigGANGenerator:
    """A BigGAN from a folder with ``config.json`` and ``pytorch_model.bin``; see :func:`load_biggan`."""
    return load_biggan(path=path, **options)


@register_file_format(".bin")
def load_biggan_file(
    path: str | os.PathLike,
    *,
    truncation: float = 0.4,
    classes: ClassSpec | Sequence[ClassSpec] | None = None,
    device: str | torch.device = "cpu",
) -> BigGANGenerator:
    """``.../pytorch_model.bin`` with a BigGAN ``config.json`` beside it (read once).

    Declines (:class:`~panda_viz.exceptions.NotThisFormat`) when there is no ``config.json``
    beside the file, or one that is not JSON or names no ``z_dim``, ``num_classes`` and
    ``layers``; then as :func:`load_biggan` with ``path=``.
    """
    weights = Path(path)
    config_path = weights.parent / CONFIG_NAME
    if not config_path.is_file():
        raise NotThisFormat(f"no {CONFIG_NAME} beside it (a BigGAN folder holds {CONFIG_NAME} and {WEIGHTS_NAME})")
    try:
        keys = read_json_file(config_path, where=str(config_path), what="a BigGAN config.json", max_bytes=CONFIG_LIMITS["bytes"])
    except FileLimitError:
        raise  # too large or too deeply nested to read: refused, not left to another format
    except InvalidFileError:
        raise NotThisFormat(f"{CONFIG_NAME} beside it is not UTF-8 JSON") from None
    if not isinstance(keys, dict) or not {"z_dim", "num_classes", "layers"} <= set(keys):
        raise NotThisFormat(f"{CONFIG_NAME} beside it is not a BigGAN config (needs z_dim, num_classes, layers)")
    truncation = _check_truncation(truncation)
    config = check_biggan_config(keys, config_path)
    return _build(weights, config_path, config, truncation=truncation, classes=classes, name=weights.parent.name, device=device)
