"""Which devices exist on this machine, and the one check of a device a caller asks for.

torch accepts ``torch.device("cuda:3")`` on a machine without CUDA and fails only when a
tensor moves there (an ``AssertionError`` "Torch not compiled with CUDA enabled", or a
``RuntimeError`` deep in a forward pass). :func:`check_device` refuses such a device up
front, naming the argument and the devices this machine has.
"""

from __future__ import annotations

from typing import Any

import torch

from .._checks import describe
from ..exceptions import InvalidInputError, InvalidTypeError

__all__ = ["available_devices", "check_device"]


def available_devices() -> list[str]:
    """The devices this process can use: ``cpu``, then ``cuda:0`` … ``cuda:N-1`` when CUDA is available."""
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return devices


def _listing() -> str:
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    cuda = f"cuda (cuda:0 … cuda:{count - 1}, {count} GPU{'s' if count > 1 else ''})" if count else "no CUDA device"
    return f"devices here: cpu; {cuda}"


def check_device(device: Any, *, where: str) -> torch.device:
    """``device`` as a ``torch.device`` this machine has; an error naming ``where`` otherwise.

    Parameters
    ----------
    device : str or torch.device
        ``"cpu"``, ``"cuda"``, ``"cuda:N"`` (or the same as a ``torch.device``).
    where : str
        The argument, as the error should name it (``"--device"``, ``"load_generator: device"``).

    Returns
    -------
    torch.device

    Raises
    ------
    InvalidTypeError
        ``device`` is neither a str nor a torch.device.
    InvalidInputError
        A string torch cannot parse (``"nope"``), a device type other than cpu/cuda, CUDA
        on a machine without it, or a CUDA index past the number of GPUs.
    """
    if not isinstance(device, (str, torch.device)):
        raise InvalidTypeError(f"{where} must be a str or torch.device such as 'cpu' or 'cuda:0'; got {describe(device)}")
    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError, TypeError):  # torch's own messages list every backend it knows
        raise InvalidInputError(f"{where} must be a device name such as 'cpu', 'cuda' or 'cuda:1'; got {describe(device)} "
                                f"({_listing()})") from None
    if parsed.type == "cpu":
        return parsed
    if parsed.type != "cuda":
        raise InvalidInputError(f"{where} must be cpu or cuda; got {str(parsed)!r} ({_listing()})")
    if not torch.cuda.is_available():
        raise InvalidInputError(f"{where} must be a device this machine has; got {str(parsed)!r}, but CUDA is not "
                                f"available here (torch {torch.__version__}; {_listing()})")
    if parsed.index is not None and parsed.index >= torch.cuda.device_count():
        raise InvalidInputError(f"{where} must be a device this machine has; got {str(parsed)!r} ({_listing()})")
    return parsed
