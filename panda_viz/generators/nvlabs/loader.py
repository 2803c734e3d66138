"""NVlabs StyleGAN2 / StyleGAN3 generators as hookable :class:`Generator` objects.

Two checkpoint forms load, without the NVlabs repository and without running code from
the file:

- an official network pickle (``.pkl``; StyleGAN2-ADA-PyTorch or StyleGAN3), read by
  :mod:`panda_viz.generators.nvlabs.network_pickle`;
- a ``G_ema.state_dict()`` saved with ``torch.save`` (``.pt`` / ``.pth``) plus its
  configuration, ``config=``: the constructor's keyword arguments (``G_ema._init_kwargs``)
  as a dict or a JSON file (a JSON with an ``"init_kwargs"`` entry works too).

Examples
--------
>>> G = panda_viz.load_generator("stylegan2-ffhq-1024x1024.pkl", truncation_psi=0.7)
>>> z = G.sample_latents(8, seed=0)                  # (8, 512) ~ N(0, I)
>>> x = G.synthesize(z)                              # (8, 3, 1024, 1024), constant noise
>>> Z = G.features(z, "synthesis.b16")               # (8, 512, 16, 16)
>>> G = panda_viz.load_generator("G_ema.pt", config="G_ema_kwargs.json", latent_space="w+")
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..._checks import check_choice, check_float, check_int, describe, did_you_mean
from ...exceptions import (
    InvalidInputError,
    InvalidTypeError,
    MissingFileError,
    NetworkPickleError,
)
from ...fileio.json_data import read_json_file
from ...fileio.torch_files import load_torch_file
from ...fileio.weights import few, fill_meta_module
from ..base import Generator
from ..registry import NotThisFormat, register_file_format
from .config import check_init_kwargs
from .mapping import NOISE_MODES
from .network_pickle import (
    PersistentRecord,
    load_network_pickle,
    plain,
    record_state_dict,
)
from .stylegan2 import StyleGAN2
from .stylegan3 import StyleGAN3

__all__ = [
    "ARCHITECTURES",
    "GENERATOR_OPTIONS",
    "LATENT_SPACES",
    "build_network",
    "nvlabs_generator",
    "load_nvlabs_pickle",
    "load_nvlabs_state_dict",
]

ARCHITECTURES: dict[str, type[nn.Module]] = {"stylegan2": StyleGAN2, "stylegan3": StyleGAN3}
LATENT_SPACES = ("z", "w", "w+")
#: The options of :func:`nvlabs_generator`, which both loaders pass on, with their defaults.
GENERATOR_OPTIONS: dict[str, Any] = {
    "truncation_psi": 1.0, "truncation_cutoff": None, "noise_mode": "const", "latent_space": "z",
    "class_index": None, "name": None, "device": "cpu",
}
_POSITIONAL = ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels")
#: The largest ``config=`` JSON file read (a configuration is a few hundred bytes).
MAX_CONFIG_BYTES = 1 << 20


def build_network(
    architecture: str,
    init_kwargs: Mapping[str, Any],
    state_dict: Mapping[str, torch.Tensor],
    *,
    where: str = "the configuration",
    path: str | os.PathLike | None = None,
) -> nn.Module:
    """Construct ``architecture`` from the official constructor kwargs and load ``state_dict``.

    The kwargs are checked (:func:`~panda_viz.generators.nvlabs.config.check_init_kwargs`),
    the network is built on the ``meta`` device (no memory), its parameters and buffers are
    compared with ``state_dict`` by name and shape, and only then is it given the weights.

    Parameters
    ----------
    architecture : {"stylegan2", "stylegan3"}
    init_kwargs : mapping
    state_dict : mapping
        Name -> tensor.
    where : str
        The file (and entry) for messages.
    path : path, optional
        The weights' file: materialised weights may take at most a few times its size.

    Raises
    ------
    NetworkPickleError
        Unknown architecture, unsupported or invalid constructor options, or weights whose
        names or shapes differ from what the configuration builds.
    NonFiniteError
        Weights with NaN or infinite values.
    """
    if architecture not in ARCHITECTURES:
        raise NetworkPickleError(f"{where}: unsupported architecture {architecture!r}; supported: {', '.join(ARCHITECTURES)}", path)
    kwargs = check_init_kwargs(architecture, init_kwargs, where)
    try:
        with torch.device("meta"):
            module = ARCHITECTURES[architecture](**kwargs)
    except (ValueError, TypeError) as error:
        raise NetworkPickleError(f"{where}: a {architecture} generator cannot be built from this configuration: {error}", path) from None
    return fill_meta_module(
        module, state_dict, where=where, what=f"a {architecture} generator built from its configuration",
        error=NetworkPickleError, path=path,
    )


def check_generator_options(options: Mapping[str, Any], where: str) -> dict[str, Any]:
    """:func:`nvlabs_generator`'s ``options``, checked where they do not depend on the network.

    Parameters
    ----------
    options : mapping
        Some of :data:`GENERATOR_OPTIONS`' names.
    where : str
        The function the options were given to, for the error messages.

    Returns
    -------
    dict
        Every option, the defaults filled in, ``truncation_psi`` a float.

    Raises
    ------
    InvalidInputError, InvalidTypeError
        Naming the option, what it must be and what was given (an option of another name
        is refused with the accepted names).
    """
    unknown = sorted(set(options) - set(GENERATOR_OPTIONS))
    if unknown:
        hint = did_you_mean(unknown[0], GENERATOR_OPTIONS)
        raise InvalidTypeError(f"{where}: unexpected options {unknown}{hint + ' Accepted' if hint else '; accepted'}: "
                               f"{', '.join(GENERATOR_OPTIONS)}")
    options = {**GENERATOR_OPTIONS, **options}
    psi = check_float("truncation_psi", options["truncation_psi"], low=None)  # 1 = no truncation
    check_choice("latent_space", options["latent_space"], LATENT_SPACES)
    check_choice("noise_mode", options["noise_mode"], NOISE_MODES)
    checked = {name: check_int(name, options[name], low=0, allow_none=True) for name in ("truncation_cutoff", "class_index")}
    return {**options, **checked, "truncation_psi": psi}


# --------------------------------------------------------------------------- wrapper
def nvlabs_generator(
    module: nn.Module,
    *,
    truncation_psi: float = 1.0,
    truncation_cutoff: int | None = None,
    noise_mode: str = "const",
    latent_space: str = "z",
    class_index: int | None = None,
    name: str | None = None,
    device: str | torch.device = "cpu",
) -> Generator:
    """Wrap a :class:`StyleGAN2` / :class:`StyleGAN3` module as a hookable Generator.

    Parameters
    ----------
    module : StyleGAN2 or StyleGAN3
    truncation_psi : float
        Truncation towards ``mapping.w_avg`` (1 = none; 0.7 is the usual choice for figures).
    truncation_cutoff : int, optional
        Truncate only the first ``truncation_cutoff`` of the ``num_ws`` ws (all by default).
    noise_mode : {"const", "random", "none"}
        StyleGAN2's noise inputs: the stored constant noise (deterministic, the default),
        fresh noise per pass, or none. StyleGAN3 has no noise inputs.
    latent_space : {"z", "w", "w+"}
        What the latents are: z (N, z_dim), mapped with the truncation on every pass; w
        (N, w_dim), used for every layer; or w+ (N, num_ws, w_dim). For "w" and "w+",
        :meth:`Generator.sample_latents` draws z ~ N(0, I) and maps it (with the
        truncation), so the same seed gives the same images in every space. Latents in
        "w"/"w+" are used as given (no further truncation).
    class_index : int, optional
        The class of a class-conditional generator (``c_dim > 0``); required there.
    name : str, optional
    device : str or torch.device

    Returns
    -------
    Generator
        Layers are the module's synthesis blocks (``synthesis.b4`` …) or layers
        (``synthesis.L0_36_512`` …); ``downstream_needs_latents`` is true.
    """
    if not isinstance(module, (StyleGAN2, StyleGAN3)):
        raise InvalidTypeError(f"expected a StyleGAN2 or StyleGAN3 module; got {type(module).__name__}")
    psi = check_generator_options(
        dict(truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff, noise_mode=noise_mode,
             latent_space=latent_space, class_index=class_index), "nvlabs_generator",
    )["truncation_psi"]
    num_ws = module.num_ws
    if truncation_cutoff is not None:
        truncation_cutoff = check_int("truncation_cutoff", truncation_cutoff, low=0, high=num_ws)
        if latent_space == "w" and truncation_cutoff < num_ws:
            raise InvalidInputError(
                "truncation_cutoff truncates only some of the ws, which a single w cannot hold: "
                "use latent_space='z' or 'w+'"
            )
    if module.c_dim > 0:
        if class_index is None or not 0 <= class_index < module.c_dim:
            raise InvalidInputError(
                f"this generator is class-conditional with {module.c_dim} classes: pass class_index= "
                f"an int in [0, {module.c_dim - 1}]; got {class_index!r}"
            )
    elif class_index is not None:
        raise InvalidInputError(f"class_index={class_index!r} given, but this generator is unconditional (c_dim=0)")

    def labels(n: int, device: torch.device) -> torch.Tensor | None:
        if module.c_dim == 0:
            return None
        c = torch.zeros(n, module.c_dim, device=device)
        c[:, class_index] = 1
        return c

    def mapped(m: nn.Module, z: torch.Tensor) -> torch.Tensor:
        return m.mapping(z, labels(len(z), z.device), truncation_psi=psi, truncation_cutoff=truncation_cutoff)

    if latent_space == "z":
        latent_shape: tuple[int, ...] = (module.z_dim,)

        def forward(m: nn.Module, z: torch.Tensor) -> torch.Tensor:
            return m.synthesis(mapped(m, z), noise_mode=noise_mode)

    elif latent_space == "w":
        latent_shape = (module.w_dim,)

        def forward(m: nn.Module, w: torch.Tensor) -> torch.Tensor:
            return m.synthesis(w.unsqueeze(1).repeat([1, num_ws, 1]), noise_mode=noise_mode)

    else:
        latent_shape = (num_ws, module.w_dim)

        def forward(m: nn.Module, ws: torch.Tensor) -> torch.Tensor:
            return m.synthesis(ws, noise_mode=noise_mode)

    holder: dict[str, Generator] = {}

    def sampler(n: int, rng: torch.Generator) -> torch.Tensor:
        z = torch.randn(n, module.z_dim, generator=rng)
        if latent_space == "z":
            return z
        generator = holder["G"]
        with torch.no_grad():
            ws = mapped(generator.module, z.to(generator.device))
        return (ws[:, 0] if latent_space == "w" else ws).cpu()

    arch = "StyleGAN3" if isinstance(module, StyleGAN3) else "StyleGAN2"
    G = Generator(
        module,
        latent_shape,
        name=name or f"{arch} {module.img_resolution}px",
        forward=forward,
        sampler=sampler,
        downstream_needs_latents=True,
        device=device,
    )
    holder["G"] = G
    G.truncation_psi = psi
    G.truncation_cutoff = truncation_cutoff
    G.noise_mode = noise_mode
    G.latent_space = latent_space
    return G


# --------------------------------------------------------------------------- pickles
def _architecture_of(record: PersistentRecord, where: str) -> str:
    synthesis = record.children.get("synthesis")
    state = synthesis.state if isinstance(synthesis, PersistentRecord) else {}
    classes = set(record.module_classes) | (set(synthesis.module_classes) if isinstance(synthesis, PersistentRecord) else set())
    if "layer_names" in state or "SynthesisInput" in classes:
        return "stylegan3"
    if "block_resolutions" in state or "SynthesisBlock" in classes:
        return "stylegan2"
    found = f"class {record.class_name!r}"
    if isinstance(synthesis, PersistentRecord):
        found += f" with a synthesis of class {synthesis.class_name!r} (attributes: {few(sorted(k for k in state if not k.startswith('_')))})"
    else:
        found += f" with sub-modules {few(sorted(record.children))}"
    if classes:
        found += f"; its module defines {few(sorted(classes))}"
    raise NetworkPickleError(
        f"{where}: unsupported generator architecture: found {found}; supported: StyleGAN2 "
        "(synthesis blocks b4 … bN) and StyleGAN3 (synthesis layers L0_… )"
    )


def _init_kwargs(record: PersistentRecord, where: str) -> dict[str, Any]:
    kwargs = plain(dict(record.state.get("_init_kwargs") or {}))
    args = plain(list(record.state.get("_init_args") or ()))
    if len(args) > len(_POSITIONAL):
        raise NetworkPickleError(f"{where}: the generator was built with {len(args)} positional arguments; expected at most {len(_POSITIONAL)}")
    kwargs.update(zip(_POSITIONAL, args))
    missing = [k for k in _POSITIONAL if k not in kwargs]
    if missing:
        raise NetworkPickleError(f"{where}: the pickled generator keeps no constructor arguments {missing}; found {sorted(kwargs)}")
    return kwargs


def network_from_pickle(path: str | os.PathLike, network: str = "G_ema") -> nn.Module:
    """The StyleGAN2/StyleGAN3 module of ``network`` in an official pickle, weights loaded.

    Raises
    ------
    UnsafePickleError, FileLimitError, NetworkPickleError, NonFiniteError
        See :func:`~panda_viz.generators.nvlabs.network_pickle.load_network_pickle` and :func:`build_network`.
    """
    if not isinstance(network, str):
        raise InvalidTypeError(f"network must be the name of an entry such as 'G_ema'; got {type(network).__name__}")
    data = load_network_pickle(path)
    if not isinstance(data, dict):
        raise NetworkPickleError(f"{str(path)!r} holds a {type(data).__name__}; a network pickle holds a dict with 'G_ema'", path)
    if network not in data:
        raise NetworkPickleError(
            f"{str(path)!r} has no {network!r}; keys found: {', '.join(describe(key) for key in list(data)[:20]) or 'none'}", path
        )
    record = data[network]
    if not isinstance(record, PersistentRecord):
        raise NetworkPickleError(f"{network!r} in {str(path)!r} is a {type(record).__name__}, not a pickled network", path)
    where = f"{path} ({network})"
    architecture = _architecture_of(record, where)
    return build_network(architecture, _init_kwargs(record, where), record_state_dict(record), where=where, path=path)


@register_file_format(".pkl")
def load_nvlabs_pickle(path: str | os.PathLike, *, network: str = "G_ema", **options: Any) -> Generator:
    """A Generator from an official StyleGAN2-ADA-PyTorch / StyleGAN3 network pickle.

    The pickle is read by :func:`~panda_viz.generators.nvlabs.network_pickle.load_network_pickle`
    (an allow-list unpickler: no code from the file runs). ``network`` picks the entry
    (``"G_ema"``, the averaged generator, by default). ``options`` are those of
    :func:`nvlabs_generator` (``truncation_psi``, ``latent_space``, …; the name is the
    file's stem unless given), checked before the file is read.
    """
    options = check_generator_options(options, "load_nvlabs_pickle")
    module = network_from_pickle(path, network)
    return nvlabs_generator(module, **{**options, "name": options["name"] or Path(path).stem})


# --------------------------------------------------------------------------- state dicts
def _read_config(config: Any) -> tuple[dict[str, Any], str | None, str]:
    """The constructor kwargs of ``config=``, an architecture hint, and where they came from."""
    where = "config="
    if isinstance(config, (str, os.PathLike)):
        path = Path(config)
        where = f"config file {str(path)!r}"
        if not path.is_file():
            raise MissingFileError(f"config file {str(path)!r} does not exist", path)
        config = read_json_file(path, where=where, what="a generator configuration", max_bytes=MAX_CONFIG_BYTES)
    if not isinstance(config, Mapping):
        raise InvalidTypeError(f"config must be a dict of constructor kwargs or a path to a JSON file; got {type(config).__name__}")
    config = dict(config)
    hint = None
    if "init_kwargs" in config:
        kind = config.get("class", "")
        text = kind.lower() if isinstance(kind, str) else ""
        hint = "stylegan3" if "stylegan3" in text else "stylegan2" if "stylegan2" in text else None
        if not isinstance(config["init_kwargs"], Mapping):
            raise NetworkPickleError(f"{where}: 'init_kwargs' must be a dict of constructor kwargs; got {describe(config['init_kwargs'])}")
        config = dict(config["init_kwargs"])
    return config, hint, where


def _is_nvlabs_state_dict(sd: Any) -> bool:
    return (
        isinstance(sd, Mapping)
        and any(isinstance(k, str) and k.startswith("mapping.fc0.") for k in sd)
        and any(isinstance(k, str) and k.startswith("synthesis.") for k in sd)
    )


@register_file_format(".pt", ".pth")
def load_nvlabs_state_dict(
    path: str | os.PathLike,
    *,
    config: Mapping[str, Any] | str | os.PathLike | None = None,
    architecture: str | None = None,
    **options: Any,
) -> Generator:
    """A Generator from a saved ``G_ema.state_dict()`` and its constructor kwargs.

    Parameters
    ----------
    path : path
        A ``torch.save`` file of the state dict (read with ``weights_only=True``), or of a
        dict holding it under ``"G_ema"``.
    config : dict or path
        ``G_ema._init_kwargs`` (a dict, or a JSON file; a JSON whose ``"init_kwargs"``
        entry holds them works too). Without it this loader declines
        (:class:`NotThisFormat`), so other ``.pt``/``.pth`` loaders get the file.
    architecture : {"stylegan2", "stylegan3"}, optional
        Read from the weights' names when not given.
    **options
        As in :func:`nvlabs_generator` (the name is the file's stem unless given); checked
        before the file is read.
    """
    if config is None:
        raise NotThisFormat("NVlabs state dicts need config= (the generator's constructor kwargs)")
    options = check_generator_options(options, "load_nvlabs_state_dict")
    if architecture is not None and architecture not in ARCHITECTURES:
        raise InvalidInputError(f"Invalid architecture: got {architecture!r} instead of one of {set(ARCHITECTURES)}")
    kwargs, hint, where = _read_config(config)
    path = Path(path)
    sd = load_torch_file(path, error=NetworkPickleError)
    if isinstance(sd, Mapping) and "G_ema" in sd and isinstance(sd["G_ema"], Mapping):
        sd = sd["G_ema"]
    if not _is_nvlabs_state_dict(sd):
        keys = [describe(k) for k in list(sd)[:5]] if isinstance(sd, Mapping) else describe(sd)
        raise NotThisFormat(f"not an NVlabs G_ema state dict (no mapping.fc0.* and synthesis.* keys; found {keys})")
    if architecture is None:
        architecture = "stylegan3" if "synthesis.input.freqs" in sd else "stylegan2" if "synthesis.b4.const" in sd else hint
    if architecture not in ARCHITECTURES:
        raise NetworkPickleError(
            f"{path}: cannot tell StyleGAN2 from StyleGAN3 (the weights have neither synthesis.input.freqs nor "
            f"synthesis.b4.const, and {where} names no class): pass architecture='stylegan2' or 'stylegan3'", path,
        )
    module = build_network(architecture, kwargs, sd, where=f"{path} with {where}", path=path)
    return nvlabs_generator(module, **{**options, "name": options["name"] or Path(path).stem})
