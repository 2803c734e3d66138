"""Named generators and checkpoint-file formats, and :func:`load_generator` over both.

Every file loader runs inside :func:`file_errors`: whatever a crafted file makes go wrong
deep inside (a ``KeyError``, an ``IndexError``, a torch ``RuntimeError``, a
``RecursionError`` …) leaves the loader as an :class:`~panda_viz.exceptions.InvalidFileError`
(or :class:`~panda_viz.exceptions.FileLimitError`) that names the file and the loader.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from torch import nn

from .._checks import unknown_name_message
from ..exceptions import (
    FileLimitError,
    InvalidFileError,
    InvalidInputError,
    InvalidTypeError,
    MissingFileError,
    NotThisFormat,
    PandaVizError,
)
from ..runtime.devices import check_device
from .base import Generator

__all__ = [
    "register",
    "register_file_format",
    "available_generators",
    "load_generator",
    "file_errors",
    "NotThisFormat",
]

_NAMED: dict[str, Callable[..., Generator]] = {}
_FILE_FORMATS: dict[str, list[Callable[..., Generator]]] = {}


def register(name: str) -> Callable[[Callable[..., Generator]], Callable[..., Generator]]:
    """Register a factory ``f(**options) -> Generator`` under ``name``.

    Examples
    --------
    >>> @register("my-gan")
    ... def my_gan(device="cpu"):
    ...     return Generator(MyNet().load_state_dict(...), latent_shape=(128,), name="my-gan")
    """
    if not isinstance(name, str) or not name:
        raise InvalidInputError(f"a generator name must be a non-empty str; got {name!r}")

    def decorate(factory: Callable[..., Generator]) -> Callable[..., Generator]:
        _NAMED[name] = factory
        return factory

    return decorate


def register_file_format(*suffixes: str) -> Callable[[Callable[..., Generator]], Callable[..., Generator]]:
    """Register a loader ``f(path, **options) -> Generator`` for checkpoint files by suffix.

    Several loaders may share a suffix (``.pth`` holds genforce checkpoints and plain state
    dicts alike): they are tried in registration order, and one that does not recognise
    the file raises :class:`NotThisFormat` before doing any expensive work it can avoid.
    The registered (and returned) function runs the loader inside :func:`file_errors`.
    """

    def decorate(loader: Callable[..., Generator]) -> Callable[..., Generator]:
        @functools.wraps(loader)
        def guarded(path: Any, *args: Any, **options: Any) -> Generator:
            names = option_names(loader, skip=1)
            foreign = [name for name in options if names is not None and name not in names]
            if foreign:  # another loader of the suffix may take it
                raise NotThisFormat(f"takes no option {foreign[0]!r} (its options: {', '.join(sorted(names)) or 'none'})")
            with file_errors(path, loader.__name__):
                return loader(path, *args, **options)

        for suffix in suffixes:
            _FILE_FORMATS.setdefault(suffix.lower(), []).append(guarded)
        return guarded

    return decorate


@contextmanager
def file_errors(path: Any, loader: str) -> Iterator[None]:
    """Re-raise low-level failures inside a file loader as errors that name the file.

    :class:`~panda_viz.exceptions.PandaVizError` (the loaders' own, clear errors),
    ``OSError`` (the file system), ``ImportError`` and ``MemoryError`` pass unchanged; a
    ``RecursionError`` becomes :class:`~panda_viz.exceptions.FileLimitError`; anything else
    (``KeyError``, ``IndexError``, ``AttributeError``, ``EOFError``, ``UnicodeDecodeError``,
    torch's ``RuntimeError`` …) becomes :class:`~panda_viz.exceptions.InvalidFileError`.
    """
    try:
        yield
    except (PandaVizError, OSError, ImportError, MemoryError):
        raise
    except RecursionError:
        raise FileLimitError(f"{path}: its data nests too deeply for {loader}", path if isinstance(path, (str, os.PathLike)) else None) from None
    except Exception as error:  # noqa: BLE001  (the boundary: every failure names the file)
        raise InvalidFileError(
            f"{path} could not be read by {loader}: {type(error).__name__}: {str(error)[:500]}",
            path if isinstance(path, (str, os.PathLike)) else None,
        ) from error


def option_names(function: Callable, *, skip: int = 0) -> set[str] | None:
    """The keyword options ``function`` takes, after its first ``skip`` parameters; None when it takes ``**options``."""
    try:
        parameters = list(inspect.signature(function).parameters.values())[skip:]
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return None
    return {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def _check_options(options: dict[str, Any], accepted: set[str] | None, where: str) -> None:
    """Refuse an option no loader of ``where`` takes, the closest names first, before anything is loaded."""
    if accepted is None:
        return
    for name in options:
        if name not in accepted:
            raise InvalidTypeError(f"{where}: " + unknown_name_message("option", name, sorted(accepted)))


def available_generators() -> list[str]:
    """Names accepted by :func:`load_generator`."""
    return sorted(_NAMED)


def load_generator(source: Any = "dcgan-digiface", **options: Any) -> Generator:
    """Load a generator by registered name, checkpoint path, or wrap a module.

    Parameters
    ----------
    source : str, path, torch.nn.Module or Generator
        A registered name (see :func:`available_generators`; ``"dcgan-digiface"`` is the
        embedded face GAN), a checkpoint file of a registered format, a module (then
        ``latent_shape=`` is required, and the other :class:`Generator` options apply),
        or a Generator (returned as is, moved to ``device=`` if given).
    **options
        Passed to the factory, loader or :class:`Generator` (``device="cpu"`` by default);
        ``memory_budget=`` (bytes) is set on whatever generator results
        (:attr:`Generator.memory_budget`).

    Returns
    -------
    Generator

    Raises
    ------
    InvalidTypeError
        An option the factory, loader or Generator does not take (``devcie=``), with the
        closest accepted names.
    InvalidInputError
        A ``device=`` this machine does not have (CUDA where there is none, ``"nope"``).
    """
    if "memory_budget" in options:
        budget = options.pop("memory_budget")
        generator = load_generator(source, **options)
        generator.memory_budget = budget
        return generator
    if "device" in options:
        check_device(options["device"], name="load_generator: device")  # before any weights are read
    if isinstance(source, Generator):
        _check_options(options, {"device"}, "load_generator(a Generator)")
        return source.to(options["device"]) if "device" in options else source
    if isinstance(source, nn.Module):
        _check_options(options, option_names(Generator.__init__, skip=2), "load_generator(a torch.nn.Module)")
        if "latent_shape" not in options:
            raise InvalidTypeError("wrapping a torch.nn.Module needs latent_shape=(...), the shape of one latent")
        return Generator(source, **options)
    if isinstance(source, (str, Path)):
        if isinstance(source, str) and source in _NAMED:
            _check_options(options, option_names(_NAMED[source]), f"load_generator({source!r})")
            return _NAMED[source](**options)
        path = Path(source)
        looks_like_a_file = path.suffix.lower() in _FILE_FORMATS or any(sep in str(source) for sep in "/\\")
        if path.suffix and (path.exists() or isinstance(source, Path) or looks_like_a_file):
            if not path.exists():
                raise MissingFileError(f"checkpoint {str(path)!r} does not exist", path)
            if not path.is_file():
                raise InvalidFileError(f"checkpoint {str(path)!r} is not a file (a folder? BigGAN folders load with load_generator('biggan', path=...))", path)
            loaders = _FILE_FORMATS.get(path.suffix.lower())
            if not loaders:
                raise InvalidFileError(
                    f"no loader for checkpoint files ending in {path.suffix!r}; "
                    f"known: {', '.join(sorted(_FILE_FORMATS)) or 'none'}", path,
                )
            accepted = [option_names(loader, skip=1) for loader in loaders]
            _check_options(options, None if None in accepted else set().union(*accepted),
                           f"load_generator for {path.suffix!r} files")
            reasons = []
            for loader in loaders:
                try:
                    return loader(path, **options)
                except NotThisFormat as reason:
                    reasons.append(f"{loader.__name__}: {reason}")
            raise InvalidFileError(f"{str(path)!r} matches no known checkpoint format; " + "; ".join(reasons), path)
        raise InvalidInputError(unknown_name_message("generator", str(source), available_generators())
                                + " (or a checkpoint path, a torch.nn.Module or a Generator)")
    raise InvalidTypeError(
        "expected a registered generator name, a checkpoint path, a torch.nn.Module or a "
        f"Generator; got {type(source).__name__}"
    )
