"""A BigGAN ``config.json`` checked before anything is built, and the weights such a config implies.

:func:`check_biggan_config` bounds every key pytorch-pretrained-biggan's ``BigGANConfig``
reads (:data:`CONFIG_LIMITS`) and checks that the layers chain as its ``Generator`` chains
them; :func:`expected_weights` gives the state dict that config's network has, as ``meta``
tensors, so a weights file is checked against it before the network is built.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import torch

from ..._checks import describe
from ...exceptions import FileLimitError, InvalidFileError
from ...fileio.json_data import read_json_file

__all__ = ["CONFIG_LIMITS", "read_biggan_config", "check_biggan_config", "expected_weights"]

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
    """A BigGAN ``config.json``, read and checked by :func:`check_biggan_config`.

    Raises
    ------
    InvalidFileError
        Not UTF-8 JSON, or what :func:`check_biggan_config` refuses.
    FileLimitError
        A file larger than ``CONFIG_LIMITS["bytes"]`` (refused unread), or a value past
        :data:`CONFIG_LIMITS`.
    """
    path = Path(path)
    config = read_json_file(path, where=str(path), what="a BigGAN config.json", max_bytes=CONFIG_LIMITS["bytes"])
    return check_biggan_config(config, path)


def check_biggan_config(config: Any, path: str | os.PathLike) -> dict[str, Any]:
    """The parsed ``config.json`` at ``path``, checked by type and range against :data:`CONFIG_LIMITS`.

    Keys the package defines are checked (``output_dim``, ``z_dim``, ``class_embed_dim``,
    ``channel_width``, ``num_classes``, ``layers`` as ``[upsample, in, out]`` triples,
    ``attention_layer_position``, ``eps``, ``n_stats``); others are ignored.

    Returns
    -------
    dict
        The checked keys, as ``BigGANConfig.from_dict`` takes them.

    Raises
    ------
    InvalidFileError
        Not an object, a missing or mistyped key (named), layers that do not chain.
    FileLimitError
        A value past :data:`CONFIG_LIMITS`.
    """
    path = Path(path)
    where = str(path)
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
