"""Devices and memory: where tensors may go, and whether they fit there, checked before anything is allocated.

The two checks every entry point that takes a ``device=`` or a count shares:

- :func:`check_device`: a ``device`` argument parsed and checked against this machine
  (an unknown device string, a device type this machine lacks, a CUDA index past the GPUs
  present) — a panda_viz error naming the argument and the devices there are, never
  torch's own parsing error or an allocator failure later;
- :func:`check_memory`: ``n`` items of ``bytes_each`` bytes compared with a budget (an
  option the caller may raise, such as ``Generator.memory_budget``) and with the memory
  free on the device (:func:`available_memory`); a
  :class:`~panda_viz.exceptions.ResourceLimitError` says how much was asked, how much is
  allowed and how many items would fit.

And one safety net for what an estimate missed: :func:`memory_errors` turns an allocator's
failure inside a block (``MemoryError``, torch's "can't allocate memory" and CUDA
out-of-memory errors) into a :class:`~panda_viz.exceptions.ResourceLimitError` naming the call.

Free memory is what the operating system reports: on the CPU the smallest of
``MemAvailable`` (``/proc/meminfo``), the cgroup's limit less its usage, and the address
space ``RLIMIT_AS`` still leaves; on a GPU ``torch.cuda.mem_get_info``. Where none is known
(another operating system) only the budget is checked.
"""

from __future__ import annotations

import resource
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from .._checks import describe, near_misses
from ..exceptions import InvalidInputError, InvalidTypeError, ResourceLimitError

__all__ = ["DEVICE_TYPES", "check_device", "machine_devices", "available_memory", "check_memory", "memory_errors",
           "format_bytes"]

#: Device types panda_viz runs on (others torch knows, such as ``meta``, hold no data).
DEVICE_TYPES = ("cpu", "cuda", "mps", "xpu")
#: Allocations up to this size are checked against the budget only (the machine is not asked).
SMALL_ALLOCATION = 64 << 20

#: What people type for a device type that torch spells otherwise.
_ALIASES = {"gpu": "cuda", "nvidia": "cuda", "metal": "mps"}


def format_bytes(n: float) -> str:
    """``1536`` → ``'1.5 KiB'``; ``4 * 2**30`` → ``'4 GiB'``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            text = f"{n:.1f}".rstrip("0").rstrip(".") if unit != "B" else f"{int(n)}"
            return f"{text} {unit}"
        n /= 1024
    return f"{n} PiB"  # unreachable


def _count(kind: str) -> int:
    """How many devices of ``kind`` this machine has (0 when its backend is missing)."""
    if kind == "cpu":
        return 1
    if kind == "cuda":
        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    if kind == "mps":
        backend = getattr(torch.backends, "mps", None)
        return 1 if backend is not None and backend.is_available() else 0
    module = getattr(torch, kind, None)
    available = getattr(module, "is_available", None)
    if callable(available) and available():
        return int(module.device_count())
    return 0


def machine_devices() -> list[str]:
    """The devices of this machine, e.g. ``['cpu', 'cuda', 'cuda:0', 'cuda:1']``."""
    names = ["cpu"]
    for kind in DEVICE_TYPES[1:]:
        n = _count(kind)
        if n:
            names += [kind] + ([f"{kind}:{i}" for i in range(n)] if kind != "mps" else [])
    return names


def check_device(device: Any, *, name: str = "device", allow_none: bool = False) -> torch.device | None:
    """``device`` as a ``torch.device`` this machine has.

    Parameters
    ----------
    device : str or torch.device
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``torch.device("mps")`` …
    name : str
        The argument's name in messages.
    allow_none : bool
        Pass ``None`` through (the caller's default applies).

    Raises
    ------
    InvalidTypeError
        Not a string or a ``torch.device``.
    InvalidInputError
        A string torch does not parse (with the closest device names first), a device type
        panda_viz does not run on, one this machine lacks, or an index past its devices.
    """
    if device is None and allow_none:
        return None
    here = machine_devices()
    if isinstance(device, torch.device):
        parsed = device
    elif isinstance(device, str):
        try:
            parsed = torch.device(device)
        except (RuntimeError, ValueError, TypeError):
            close = [_ALIASES[device.lower()]] if device.lower() in _ALIASES else near_misses(device, dict.fromkeys([*here, *DEVICE_TYPES]))
            hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
            raise InvalidInputError(
                f"{name}: {describe(device)} is not a device; {hint}devices on this machine: {', '.join(here)}"
            ) from None
    else:
        raise InvalidTypeError(f"{name} must be a device name such as 'cpu' or 'cuda:0', or a torch.device; "
                               f"got {type(device).__name__} {describe(device)}")
    kind = parsed.type
    if kind not in DEVICE_TYPES:
        raise InvalidInputError(f"{name}: device {str(parsed)!r} holds no data panda_viz can compute with; "
                                f"devices on this machine: {', '.join(here)}")
    count = _count(kind)
    if count == 0:
        raise InvalidInputError(f"{name}: this machine has no {kind} device (torch sees none); "
                                f"devices on this machine: {', '.join(here)}")
    if kind != "cpu" and parsed.index is not None and parsed.index >= count:
        raise InvalidInputError(f"{name}: device {str(parsed)!r} does not exist: this machine has {count} {kind} "
                                f"device{'s' if count > 1 else ''} ({kind}:0 … {kind}:{count - 1})")
    return parsed


# --------------------------------------------------------------------------- memory
def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cgroup_available() -> int | None:
    """The cgroup's memory limit less its usage (v2, then v1); None without a limit."""
    for limit_file, usage_file in (("memory.max", "memory.current"),
                                   ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes")):
        try:
            limit = Path("/sys/fs/cgroup", limit_file).read_text().strip()
            usage = int(Path("/sys/fs/cgroup", usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < 1 << 60:  # v1 writes a huge number for "no limit"
            return max(0, int(limit) - usage)
    return None


def _address_space_left() -> int | None:
    """What ``RLIMIT_AS`` still allows this process to map; None when unlimited."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return max(0, soft - int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        return None
    return None


def available_memory(device: str | torch.device = "cpu") -> int | None:
    """Bytes free for new tensors on ``device`` now; None where the machine does not say."""
    device = torch.device(device)
    if device.type == "cpu":
        known = [v for v in (_meminfo_available(), _cgroup_available(), _address_space_left()) if v is not None]
        return min(known) if known else None
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    return None


def check_memory(what: str, n: int, bytes_each: float, *, device: str | torch.device = "cpu",
                 budget: float | None = None, budget_name: str = "the memory budget", unit: str = "",
                 working_bytes: float = 0) -> None:
    """Refuse ``n`` items of ``bytes_each`` bytes that would not fit, before they are allocated.

    Parameters
    ----------
    what : str
        What asks, for the message (``"sample_latents(n=…)"``).
    n : int
        How many items.
    bytes_each : float
        Bytes one item takes (> 0).
    device : str or torch.device
        Where they would live; its free memory (:func:`available_memory`) is a hard limit.
    budget : float, optional
        A soft limit in bytes the caller may raise, named by ``budget_name`` in the message.
    unit : str
        The items' name in the message (``"latents"``).
    working_bytes : float
        Bytes needed at the same time besides the items (a working copy).

    Raises
    ------
    ResourceLimitError
        ``n × bytes_each`` is more than ``budget`` or than the device has free.
    """
    needed = n * bytes_each + working_bytes
    if needed <= SMALL_ALLOCATION and (budget is None or needed <= budget):
        return  # not worth asking the operating system
    limits = []
    if budget is not None:
        limits.append((float(budget), budget_name))
    free = available_memory(device)
    if free is not None:
        limits.append((float(free), f"the memory free on {torch.device(device)}"))
    for limit, named in limits:
        if needed > limit:
            fit = max(0, int((limit - working_bytes) // bytes_each)) if bytes_each > 0 else n
            items = f" {unit}" if unit else ""
            working = f" plus {format_bytes(working_bytes)} to work in" if working_bytes else ""
            raise ResourceLimitError(
                f"{what}: {n:,}{items} of {format_bytes(bytes_each)} each take {format_bytes(n * bytes_each)}{working}; "
                f"{named} is {format_bytes(limit)}, room for at most {fit:,}{items}"
            )


_ALLOCATOR_FAILURES = ("can't allocate memory", "out of memory", "not enough memory")


@contextmanager
def memory_errors(what: str) -> Iterator[None]:
    """Re-raise an allocator's failure inside the block as a ResourceLimitError naming ``what``.

    The checks above run first and refuse what clearly cannot fit; this catches what an
    estimate missed (another process took the memory meanwhile, a transient copy) so that
    the caller still gets a panda_viz error, not ``MemoryError`` or torch's ``RuntimeError``.
    """
    try:
        yield
    except MemoryError:
        raise ResourceLimitError(f"{what}: ran out of memory (the allocator refused a request)") from None
    except RuntimeError as error:  # torch.OutOfMemoryError is one too
        if not any(text in str(error) for text in _ALLOCATOR_FAILURES):
            raise
        raise ResourceLimitError(f"{what}: ran out of memory ({str(error).splitlines()[0][:200]})") from None
