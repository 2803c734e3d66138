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

import difflib
import hashlib
import json
import math
import os
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Union

import torch
from torch import nn

from ..._checks import describe
from ...exceptions import (
    FileLimitError,
    InvalidFileError,
    InvalidInputError,
    InvalidTypeError,
    WeightsNotInstalledError,
)
from ...fileio.atomic import read_json_file
from ...fileio.torch_files import load_torch_file
from ...fileio.weights import check_weights, converted_weights, count_indexed, few
from ..base import Generator
from ..registry import NotThisFormat, register, register_file_format

__all__ = [
    "BigGANGenerator",
    "BIGGAN_MODELS",
    "BIGGAN_INSTALL",
    "imagenet_classes",
    "imagenet_class_index",
    "load_biggan",
    "read_biggan_config",
    "expected_weights",
    "CONFIG_LIMITS",
]

BIGGAN_INSTALL = "pip install 'panda_viz[biggan]'  (or: pip install --no-deps pytorch-pretrained-biggan boto3 requests scipy)"
_S3 = "https://s3.amazonaws.com/models.huggingface.co/biggan/"
#: Named checkpoints of pytorch-pretrained-biggan and the URLs its cache is keyed by.
BIGGAN_MODELS = {
    f"biggan-deep-{res}": {"weights": f"{_S3}biggan-deep-{res}-pytorch_model.bin", "config": f"{_S3}biggan-deep-{res}-config.json"}
    for res in (128, 256, 512)
}
WEIGHTS_NAME = "pytorch_model.bin"
CONFIG_NAME = "config.json"
#: Upper bounds on a ``config.json`` (the published models: 128-512 px, 10-14 layers,
#: channel width 128, z 128, 1000 classes, 51 truncation statistics).
CONFIG_LIMITS = {
    "bytes": 1 << 20,
    "layers": 64,
    "channel_width": 1024,
    "channel_multiplier": 64,  # each layer's (in, out) multipliers of channel_width
    "z_dim": 4096,
    "class_embed_dim": 4096,
    "num_classes": 100_000,
    "output_dim": 8192,
    "n_stats": 1024,
}

ClassSpec = Union[int, str]


# --------------------------------------------------------------------------- classes
@lru_cache(maxsize=1)
def _class_names() -> tuple[str, ...]:
    text = (resources.files("panda_viz.generators.biggan") / "imagenet_classes.txt").read_text(encoding="utf-8")
    names = tuple(line for line in text.splitlines() if line and not line.startswith("#"))
    if len(names) != 1000:
        raise RuntimeError(f"imagenet_classes.txt must list 1000 classes; it lists {len(names)}")
    return names


def imagenet_classes() -> list[str]:
    """The 1000 ImageNet class names; index k is class k (``[207] == 'golden retriever'``)."""
    return list(_class_names())


def imagenet_class_index(cls: ClassSpec, num_classes: int = 1000) -> int:
    """An ImageNet class index from an index or a name (case, spaces and underscores ignored).

    Raises
    ------
    ValueError
        Unknown or ambiguous names (with close matches or the candidates), indices out of range.
    """
    if isinstance(cls, bool):
        raise InvalidTypeError(f"a class must be an int index or a str name; got {cls!r}")
    if isinstance(cls, int) or (hasattr(cls, "__index__") and not isinstance(cls, str)):
        index = int(cls)
        if not 0 <= index < num_classes:
            raise InvalidInputError(f"class index must be in [0, {num_classes - 1}]; got {index}")
        return index
    if not isinstance(cls, str):
        raise InvalidTypeError(f"a class must be an int index or a str name; got {type(cls).__name__}")
    if num_classes != 1000:
        raise InvalidInputError(f"class names are ImageNet's 1000; this generator has {num_classes} classes: use indices")
    key = cls.strip().lower().replace("_", " ")
    names = _class_names()
    matches = [i for i, name in enumerate(names) if name.lower() == key]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise InvalidInputError(f"class name {cls!r} is ambiguous: ImageNet classes {matches} share it; pass an index")
    close = difflib.get_close_matches(key, [n.lower() for n in names], n=5, cutoff=0.6)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise InvalidInputError(f"unknown ImageNet class name {cls!r}{hint}")


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
        truncation = float(truncation)
        if not 0 < truncation <= 1:
            raise InvalidInputError(f"truncation must be in (0, 1]; got {truncation}")
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
        items = [classes] if isinstance(classes, (int, str)) else list(classes)
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
        raise ImportError(
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
            raise FileNotFoundError(f"BigGAN files not found: {', '.join(missing)} (a folder needs {CONFIG_NAME} and {WEIGHTS_NAME})")
        return weights, config
    if name not in BIGGAN_MODELS:
        raise InvalidInputError(f"unknown BigGAN {name!r}; known: {', '.join(BIGGAN_MODELS)} (or pass path=)")
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


def _int_field(config: dict, key: str, low: int, high: int, where: str) -> int:
    value = config[key]
    if type(value) is not int or not low <= value <= high:
        error = FileLimitError if type(value) is int and value > high else InvalidFileError
        raise error(f"{where}: {key!r} must be an int in [{low}, {high}]; got {describe(value)}")
    return value


def _check_layer_chain(layers: list[list], channel_width: int, output_dim: int, where: str) -> None:
    """The layers must fit together as the package's Generator chains them (else the first
    forward pass fails): 16 × channel_width channels in, each block's input the previous
    block's output, a block keeps or halves its channels, 1 × channel_width out, and
    ``output_dim`` = 4 × 2 ** (upsampling blocks)."""
    expected_in = 16
    for i, (_, inp, out) in enumerate(layers):
        if inp != expected_in:
            raise InvalidFileError(f"{where}: layers[{i}] takes {inp} × channel_width channels; the previous block gives {expected_in}")
        if out != inp and 2 * out != inp:
            raise InvalidFileError(f"{where}: layers[{i}] goes from {inp} to {out} × channel_width channels; a block keeps or halves them")
        if channel_width * inp < 4:
            raise InvalidFileError(f"{where}: layers[{i}] has {channel_width * inp} channels; a block needs at least 4")
        expected_in = out
    if expected_in != 1:
        raise InvalidFileError(f"{where}: the last block gives {expected_in} × channel_width channels; the output layers take 1 ×")
    upsampling = sum(1 for up, _, _ in layers if up)
    if output_dim != 4 * 2**upsampling:
        raise InvalidFileError(f"{where}: 'output_dim' is {output_dim}, but {upsampling} upsampling blocks make {4 * 2**upsampling} px images")


def read_biggan_config(path: str | os.PathLike) -> dict[str, Any]:
    """A BigGAN ``config.json``, checked by type and range against :data:`CONFIG_LIMITS`.

    Keys the package defines are checked (``output_dim``, ``z_dim``, ``class_embed_dim``,
    ``channel_width``, ``num_classes``, ``layers`` as ``[upsample, in, out]`` triples,
    ``attention_layer_position``, ``eps``, ``n_stats``); others are ignored.

    Raises
    ------
    InvalidFileError
        Not UTF-8 JSON, not an object, a missing or mistyped key (named).
    FileLimitError
        A file or a value past :data:`CONFIG_LIMITS`.
    """
    path = Path(path)
    where = str(path)
    config = read_json_file(path, where=where, what="a BigGAN config.json", max_bytes=CONFIG_LIMITS["bytes"])
    if not isinstance(config, dict):
        raise InvalidFileError(f"{where} holds {describe(config)}, not a BigGAN config object", path)
    required = ("output_dim", "z_dim", "class_embed_dim", "channel_width", "num_classes", "layers", "attention_layer_position")
    missing = [key for key in required if key not in config]
    if missing:
        raise InvalidFileError(f"{where}: a BigGAN config needs {', '.join(missing)}; found {', '.join(map(repr, list(config)[:12]))}", path)
    out: dict[str, Any] = {}
    try:
        for key in ("output_dim", "z_dim", "class_embed_dim", "channel_width", "num_classes"):
            out[key] = _int_field(config, key, 1, CONFIG_LIMITS[key], where)
        layers = config["layers"]
        if type(layers) is not list or not layers:
            raise InvalidFileError(f"{where}: 'layers' must be a non-empty list of [upsample, in, out]; got {describe(layers)}")
        if len(layers) > CONFIG_LIMITS["layers"]:
            raise FileLimitError(f"{where}: 'layers' lists {len(layers):,} layers; at most {CONFIG_LIMITS['layers']} are read")
        high = CONFIG_LIMITS["channel_multiplier"]
        for i, layer in enumerate(layers):
            if (type(layer) is not list or len(layer) != 3 or type(layer[0]) is not bool
                    or not all(type(n) is int and 1 <= n <= high for n in layer[1:])):
                raise InvalidFileError(
                    f"{where}: layers[{i}] must be [upsample (bool), in, out (ints in [1, {high}])]; got {describe(layer)}"
                )
        out["layers"] = [list(layer) for layer in layers]
        _check_layer_chain(out["layers"], out["channel_width"], out["output_dim"], where)
        out["attention_layer_position"] = _int_field(config, "attention_layer_position", -1, len(layers), where)
        position = out["attention_layer_position"]
        if 0 <= position < len(layers) and out["channel_width"] * layers[position][1] < 8:
            raise InvalidFileError(
                f"{where}: the attention layer before layers[{position}] needs at least 8 channels "
                f"(channel_width × {layers[position][1]} = {out['channel_width'] * layers[position][1]})"
            )
        if "n_stats" in config:
            out["n_stats"] = _int_field(config, "n_stats", 2, CONFIG_LIMITS["n_stats"], where)
        if "eps" in config:
            eps = config["eps"]
            if type(eps) not in (int, float) or not math.isfinite(eps) or not 0 < eps < 1:
                raise InvalidFileError(f"{where}: 'eps' must be a number in (0, 1); got {describe(eps)}")
            out["eps"] = float(eps)
    except InvalidFileError as error:
        raise type(error)(str(error), path) from None
    if out["channel_width"] * 16 * 16 > 2**31 // out["z_dim"]:
        raise FileLimitError(f"{where}: channel_width {out['channel_width']} with z_dim {out['z_dim']} is past the limits", path)
    return out


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
    if isinstance(truncation, bool) or not isinstance(truncation, (int, float)) or not 0 < truncation <= 1:
        raise InvalidInputError(f"truncation must be in (0, 1]; got {truncation!r}")
    weights, config_path = _locate(name, path, cache_dir)
    checked = read_biggan_config(config_path)  # before the (slow) package import
    package = _package()
    config = package.BigGANConfig.from_dict(checked)
    state_dict = load_torch_file(weights)
    if not isinstance(state_dict, dict):
        raise InvalidFileError(f"{str(weights)!r} holds {describe(state_dict)}, expected a BigGAN state dict", weights)
    where = f"{weights} (with {config_path})"
    # the layer count of the config against the weights present, before building anything
    counted = _count_layers(state_dict)
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
    negative = [name for name, tensor in tensors.items() if name.endswith("running_vars") and bool((tensor < 0).any())]
    if negative:
        raise InvalidFileError(f"{where}: batch-norm variances must be >= 0 (they are square-rooted); negative in {few(negative)}", weights)
    module = package.BigGAN(config)  # now that every weight is known to fit, for real
    module.load_state_dict(tensors, strict=True)
    label = name if name is not None and path is None else Path(weights).parent.name
    return BigGANGenerator(module, truncation=truncation, classes=classes, name=label, device=device)


def expected_weights(config: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The state dict a checked config's ``BigGAN`` has, as ``meta`` tensors (names, shapes).

    Written from pytorch-pretrained-biggan's model (``BigGAN``, ``Generator``, ``GenBlock``,
    ``SelfAttn``, ``BigGANBatchNorm``, spectral-normed layers with ``weight_orig``,
    ``weight_u``, ``weight_v``), because building it on the ``meta`` device runs its random
    initialisation through torch's Python references (seconds); a test checks both agree.
    """
    shapes: dict[str, tuple[int, ...]] = {}
    z, ch, n_stats = config["z_dim"], config["channel_width"], config.get("n_stats", 51)
    condition = 2 * z

    def spectral(prefix: str, out: int, inp: int, kernel: int | None = None, bias: bool = True) -> None:
        if bias:
            shapes[f"{prefix}.bias"] = (out,)
        shapes[f"{prefix}.weight_orig"] = (out, inp) if kernel is None else (out, inp, kernel, kernel)
        shapes[f"{prefix}.weight_u"] = (out,)
        shapes[f"{prefix}.weight_v"] = (inp * (kernel or 1) ** 2,)

    def batch_norm(prefix: str, features: int, conditional: bool = True) -> None:
        shapes[f"{prefix}.running_means"] = (n_stats, features)
        shapes[f"{prefix}.running_vars"] = (n_stats, features)
        if conditional:
            spectral(f"{prefix}.scale", features, condition, bias=False)
            spectral(f"{prefix}.offset", features, condition, bias=False)
        else:
            shapes[f"{prefix}.weight"] = (features,)
            shapes[f"{prefix}.bias"] = (features,)

    shapes["embeddings.weight"] = (z, config["num_classes"])
    spectral("generator.gen_z", 4 * 4 * 16 * ch, condition)
    index = 0
    for i, (_, inp, out) in enumerate(config["layers"]):
        inp, out = ch * inp, ch * out
        if i == config["attention_layer_position"]:
            prefix = f"generator.layers.{index}"
            for name, o, n in (("theta", inp // 8, inp), ("phi", inp // 8, inp), ("g", inp // 2, inp), ("o_conv", inp, inp // 2)):
                spectral(f"{prefix}.snconv1x1_{name}", o, n, 1, bias=False)
            shapes[f"{prefix}.gamma"] = (1,)
            index += 1
        prefix = f"generator.layers.{index}"
        middle = inp // 4
        for k, (features, o, n, kernel) in enumerate(((inp, middle, inp, 1), (middle, middle, middle, 3),
                                                        (middle, middle, middle, 3), (middle, out, middle, 1))):
            batch_norm(f"{prefix}.bn_{k}", features)
            spectral(f"{prefix}.conv_{k}", o, n, kernel)
        index += 1
    batch_norm("generator.bn", ch, conditional=False)
    spectral("generator.conv_to_rgb", ch, ch, 3)
    return {name: torch.empty(shape, device="meta") for name, shape in shapes.items()}


def _count_layers(state_dict: dict) -> int:
    """How many consecutive ``generator.layers.N.`` indices the weights have (one pass)."""
    return count_indexed(state_dict, "generator.layers.")


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
def load_biggan_file(path: str | os.PathLike, **options: Any) -> BigGANGenerator:
    """``.../pytorch_model.bin`` with a BigGAN ``config.json`` beside it."""
    config = Path(path).parent / CONFIG_NAME
    if not config.is_file():
        raise NotThisFormat(f"no {CONFIG_NAME} beside it (a BigGAN folder holds {CONFIG_NAME} and {WEIGHTS_NAME})")
    if config.stat().st_size > CONFIG_LIMITS["bytes"]:
        raise FileLimitError(f"{config} has {config.stat().st_size:,} bytes; a BigGAN config.json has at most {CONFIG_LIMITS['bytes']:,}", config)
    try:
        keys = json.loads(config.read_bytes().decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise NotThisFormat(f"{CONFIG_NAME} beside it is not UTF-8 JSON") from None
    if not isinstance(keys, dict) or not {"z_dim", "num_classes", "layers"} <= set(keys):
        raise NotThisFormat(f"{CONFIG_NAME} beside it is not a BigGAN config (needs z_dim, num_classes, layers)")
    return load_biggan(path=path, **options)
