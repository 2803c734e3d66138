"""The constructor kwargs of NVlabs' StyleGAN2/StyleGAN3 generators, checked before building.

A network pickle's ``_init_kwargs``, or the ``config=`` given with a state dict, decides the
size of everything the constructor builds. :func:`check_init_kwargs` checks every option by
type and range, and refuses unknown ones, before any module exists: a wrong type (``w_dim:
0``, ``conv_clamp: "x"``, an int key) fails here with the option's name, what it must be
and what was found, instead of deep inside a constructor or at the first ``synthesize``.
The ranges are generous limits (:data:`LIMITS`), far above every published model.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from ..._checks import describe
from ...exceptions import NetworkPickleError

__all__ = ["LIMITS", "check_init_kwargs"]

#: Upper bounds on the sizes a configuration may ask for.
LIMITS = {
    "latent_dim": 16_384,  # z_dim, w_dim, embed/layer features
    "classes": 100_000,  # c_dim
    "resolution": 8_192,  # img_resolution
    "image_channels": 16,
    "channels": 16_384,  # channel_max
    "channel_base": 2**24,
    "mapping_layers": 64,
    "synthesis_layers": 64,  # StyleGAN3 num_layers
    "kernel": 15,
    "filter_taps": 16,  # resample_filter length; StyleGAN3 filter_size
    "margin": 1_024,
}

Check = Callable[[str, Any], Any]


class _Refused(Exception):
    """An option failed its check: ``expected`` says what it must be."""

    def __init__(self, expected: str) -> None:
        super().__init__(expected)
        self.expected = expected


def _int(low: int, high: int) -> Check:
    def check(name: str, value: Any) -> int:
        if type(value) is not int or not low <= value <= high:
            raise _Refused(f"an int in [{low}, {high}]")
        return value

    return check


def _number(low: float, high: float, *, none: bool = False, low_open: bool = False) -> Check:
    def check(name: str, value: Any) -> float | None:
        if value is None and none:
            return None
        ok = type(value) in (int, float) and math.isfinite(value) and (low < value if low_open else low <= value) and value <= high
        if not ok:
            interval = f"{'(' if low_open else '['}{low:g}, {high:g}]"
            raise _Refused(f"a finite number in {interval}{' or None' if none else ''}")
        return value

    return check


def _optional_int(low: int, high: int) -> Check:
    inner = _int(low, high)

    def check(name: str, value: Any) -> int | None:
        if value is None:
            return None
        try:
            return inner(name, value)
        except _Refused:
            raise _Refused(f"None or an int in [{low}, {high}]") from None

    return check


def _bool(name: str, value: Any) -> bool:
    if type(value) is not bool:
        raise _Refused("true or false")
    return value


def _choice(*choices: Any) -> Check:
    def check(name: str, value: Any) -> Any:
        if type(value) not in (str, bool) or value not in choices:
            raise _Refused(f"one of {', '.join(map(repr, choices))}")
        return value

    return check


def _odd_kernel(name: str, value: Any) -> int:
    if type(value) is not int or not 1 <= value <= LIMITS["kernel"] or value % 2 == 0:
        raise _Refused(f"an odd int in [1, {LIMITS['kernel']}]")
    return value


def _filter(name: str, value: Any) -> list[float]:
    if (type(value) not in (list, tuple) or not 1 <= len(value) <= LIMITS["filter_taps"]
            or not all(type(v) in (int, float) and math.isfinite(v) for v in value) or sum(value) == 0):
        raise _Refused(f"a list of 1 to {LIMITS['filter_taps']} finite numbers with a non-zero sum")
    return list(value)


def _power_of_two(name: str, value: Any) -> int:
    if type(value) is not int or not 4 <= value <= LIMITS["resolution"] or value & (value - 1):
        raise _Refused(f"a power of two in [4, {LIMITS['resolution']}]")
    return value


_LATENT = _int(1, LIMITS["latent_dim"])
_TOP = {
    "z_dim": _LATENT,
    "c_dim": _int(0, LIMITS["classes"]),
    "w_dim": _LATENT,
    "img_resolution": _power_of_two,
    "img_channels": _int(1, LIMITS["image_channels"]),
}
_MAPPING_COMMON = {
    "num_layers": _int(1, LIMITS["mapping_layers"]),
    "lr_multiplier": _number(0, 1e3, low_open=True),
    "freeze_layers": _int(0, LIMITS["mapping_layers"]),
    "freeze_embed": _bool,
}
_MAPPING = {
    "stylegan2": {
        **_MAPPING_COMMON,
        "embed_features": _optional_int(1, LIMITS["latent_dim"]),
        "layer_features": _optional_int(1, LIMITS["latent_dim"]),
        "activation": _choice("linear", "lrelu", "relu"),
        "w_avg_beta": _number(0, 1, none=True),
    },
    "stylegan3": {**_MAPPING_COMMON, "w_avg_beta": _number(0, 1)},
}
_CLAMP = _number(0, 1e9, none=True)
_SYNTHESIS = {
    "stylegan2": {
        "channel_base": _int(1, LIMITS["channel_base"]),
        "channel_max": _int(1, LIMITS["channels"]),
        "num_fp16_res": _int(0, 32),
        "conv_clamp": _CLAMP,
        "architecture": _choice("skip", "orig"),
        "resample_filter": _filter,
        "use_noise": _bool,
        "activation": _choice("linear", "lrelu", "relu"),
        "kernel_size": _odd_kernel,
        "fp16_channels_last": _bool,
        "fused_modconv_default": _choice(True, False, "inference_only"),
    },
    "stylegan3": {
        "channel_base": _int(1, LIMITS["channel_base"]),
        "channel_max": _int(1, LIMITS["channels"]),
        "num_layers": _int(1, LIMITS["synthesis_layers"]),
        "num_critical": _int(0, LIMITS["synthesis_layers"] - 1),
        "first_cutoff": _number(0, LIMITS["resolution"], low_open=True),
        "first_stopband": _number(0, LIMITS["resolution"], low_open=True),
        "last_stopband_rel": _number(0, 64, low_open=True),
        "margin_size": _int(0, LIMITS["margin"]),
        "output_scale": _number(-1e6, 1e6),
        "num_fp16_res": _int(0, 32),
        "conv_kernel": _odd_kernel,
        "filter_size": _int(1, LIMITS["filter_taps"]),
        "lrelu_upsampling": _int(1, 8),
        "use_radial_filters": _bool,
        "conv_clamp": _CLAMP,
        "magnitude_ema_beta": _number(0, 1),
    },
}


def _checked(options: Mapping[Any, Any], table: Mapping[str, Check], where: str, group: str) -> dict[str, Any]:
    keys = [describe(key) for key in options if type(key) is not str]
    if keys:
        raise NetworkPickleError(f"{where}: {group} option names must be str; got {', '.join(keys[:4])}")
    unknown = sorted(key for key in options if key not in table)
    if unknown:
        raise NetworkPickleError(
            f"{where}: {group} options not supported here: {', '.join(map(repr, unknown))} "
            f"(supported: {', '.join(table)})"
        )
    out = {}
    for key, value in options.items():
        try:
            out[key] = table[key](key, value)
        except _Refused as refused:
            raise NetworkPickleError(f"{where}: {group} option {key!r} must be {refused.expected}; got {describe(value)}") from None
    return out


def check_init_kwargs(architecture: str, init_kwargs: Mapping[Any, Any], where: str) -> dict[str, Any]:
    """Checked constructor kwargs for :class:`StyleGAN2` / :class:`StyleGAN3`.

    Parameters
    ----------
    architecture : {"stylegan2", "stylegan3"}
    init_kwargs : mapping
        ``G._init_kwargs`` (with positional arguments already named): ``z_dim``, ``c_dim``,
        ``w_dim``, ``img_resolution``, ``img_channels``, ``mapping_kwargs`` and synthesis
        options, at the top level or (StyleGAN2-ADA) in ``synthesis_kwargs``.
    where : str
        The file or config, for messages.

    Returns
    -------
    dict
        The same options as plain values (synthesis options at the top level).

    Raises
    ------
    NetworkPickleError
        Naming the option, what it must be and what was found: a missing, unknown or
        mistyped option, or one out of range.
    """
    if not isinstance(init_kwargs, Mapping):
        raise NetworkPickleError(f"{where}: the generator's constructor arguments must be a dict; got {describe(init_kwargs)}")
    options = dict(init_kwargs)
    missing = [key for key in _TOP if key not in options]
    if missing:
        raise NetworkPickleError(
            f"{where}: the generator's constructor arguments lack {missing}; found {sorted(map(str, options))}"
        )
    mapping = options.pop("mapping_kwargs", None) or {}
    synthesis = options.pop("synthesis_kwargs", None) or {}
    for name, value in (("mapping_kwargs", mapping), ("synthesis_kwargs", synthesis)):
        if not isinstance(value, Mapping):
            raise NetworkPickleError(f"{where}: option {name!r} must be a dict of options; got {describe(value)}")
    if synthesis and architecture == "stylegan3":
        raise NetworkPickleError(f"{where}: option 'synthesis_kwargs' is StyleGAN2-ADA's; StyleGAN3 takes synthesis options at the top level")
    top = {key: options.pop(key) for key in list(_TOP)}
    synthesis = {**dict(synthesis), **options}
    out = _checked(top, _TOP, where, "generator")
    out.update(_checked(synthesis, _SYNTHESIS[architecture], where, f"{architecture} synthesis"))
    out["mapping_kwargs"] = _checked(mapping, _MAPPING[architecture], where, f"{architecture} mapping")
    resolution = out["img_resolution"]
    if architecture == "stylegan2" and out.get("channel_base", 32768) < resolution:
        raise NetworkPickleError(
            f"{where}: option 'channel_base' ({out.get('channel_base', 32768)}) must be at least img_resolution "
            f"({resolution}), so that every block has a channel"
        )
    if architecture == "stylegan3":
        layers = out.get("num_layers", 14)
        if out.get("num_critical", 2) >= layers:
            raise NetworkPickleError(
                f"{where}: option 'num_critical' ({out.get('num_critical', 2)}) must be below num_layers ({layers})"
            )
    return out
