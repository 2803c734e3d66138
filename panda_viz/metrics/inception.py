"""The FID Inception-v3 as a plain ``nn.Module``, loaded from a weights-only state dict.

FID's detector is the TensorFlow Inception-v3 of 2015 (``inception-2015-12-05``). Its
published PyTorch port is pytorch-fid's state dict ``pt_inception-2015-12-05-6726825d.pth``
(https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/...). This module
rebuilds that network (torchvision's Inception-v3 layout with pytorch-fid's FID patches:
average pools that leave the padding out, and a max pool in the last block) without
torchvision, and reads the file as data only:

- the file's size is capped, and it must be a ``torch.save`` state dict: a TorchScript
  archive is refused (loading one runs the code inside it);
- it is read with ``torch.load(weights_only=True)`` (no code runs), memory-mapped for the
  zip format; for the legacy format every storage it declares is checked against the
  file's size before anything is allocated;
- the network is built on the ``meta`` device (nothing allocated) and every tensor's name,
  shape and dtype compared with it before the weights are assigned.

Features are those of pytorch-fid (2048-d, after the last average pool); FID values match
pytorch-fid's, which differ slightly from those of NVIDIA's TorchScript detector.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import pickletools
import warnings
import zipfile
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..exceptions import (
    FileLimitError,
    InvalidFileError,
    NonFiniteError,
    UnsafeFileError,
    UnsafePickleError,
)

__all__ = ["FIDInceptionV3", "load_fid_inception", "is_torchscript", "PUBLISHED_NAME", "PUBLISHED_SHA256_PREFIX", "MAX_FILE_BYTES"]

#: The published weights file and the SHA-256 prefix in its name (torch.hub's convention).
PUBLISHED_NAME = "pt_inception-2015-12-05-6726825d.pth"
PUBLISHED_SHA256_PREFIX = "6726825d"
#: A detector file larger than this is refused unread (the published one is about 92 MB).
MAX_FILE_BYTES = 256 << 20
FEATURES = 2048


class _Conv(nn.Module):
    """Conv (no bias) + batch norm (eps 1e-3) + ReLU: torchvision's ``BasicConv2d``."""

    def __init__(self, cin: int, cout: int, kernel, stride=1, padding=0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg_pool(x: torch.Tensor) -> torch.Tensor:
    # TensorFlow's average pool leaves the zero padding out of the mean (pytorch-fid's patch)
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class _BlockA(nn.Module):
    def __init__(self, cin: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = _Conv(cin, 64, 1)
        self.branch5x5_1 = _Conv(cin, 48, 1)
        self.branch5x5_2 = _Conv(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = _Conv(cin, 64, 1)
        self.branch3x3dbl_2 = _Conv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = _Conv(96, 96, 3, padding=1)
        self.branch_pool = _Conv(cin, pool_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([
            self.branch1x1(x),
            self.branch5x5_2(self.branch5x5_1(x)),
            self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            self.branch_pool(_avg_pool(x)),
        ], 1)


class _BlockB(nn.Module):
    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch3x3 = _Conv(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = _Conv(cin, 64, 1)
        self.branch3x3dbl_2 = _Conv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = _Conv(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([
            self.branch3x3(x),
            self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            F.max_pool2d(x, kernel_size=3, stride=2),
        ], 1)


class _BlockC(nn.Module):
    def __init__(self, cin: int, c7: int) -> None:
        super().__init__()
        self.branch1x1 = _Conv(cin, 192, 1)
        self.branch7x7_1 = _Conv(cin, c7, 1)
        self.branch7x7_2 = _Conv(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = _Conv(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = _Conv(cin, c7, 1)
        self.branch7x7dbl_2 = _Conv(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = _Conv(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = _Conv(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = _Conv(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = _Conv(cin, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        d7 = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            d7 = layer(d7)
        return torch.cat([self.branch1x1(x), b7, d7, self.branch_pool(_avg_pool(x))], 1)


class _BlockD(nn.Module):
    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch3x3_1 = _Conv(cin, 192, 1)
        self.branch3x3_2 = _Conv(192, 320, 3, stride=2)
        self.branch7x7x3_1 = _Conv(cin, 192, 1)
        self.branch7x7x3_2 = _Conv(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = _Conv(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = _Conv(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b7 = self.branch7x7x3_1(x)
        for layer in (self.branch7x7x3_2, self.branch7x7x3_3, self.branch7x7x3_4):
            b7 = layer(b7)
        return torch.cat([self.branch3x3_2(self.branch3x3_1(x)), b7, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class _BlockE(nn.Module):
    def __init__(self, cin: int, max_pool: bool) -> None:
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = _Conv(cin, 320, 1)
        self.branch3x3_1 = _Conv(cin, 384, 1)
        self.branch3x3_2a = _Conv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = _Conv(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = _Conv(cin, 448, 1)
        self.branch3x3dbl_2 = _Conv(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = _Conv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = _Conv(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = _Conv(cin, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_1(x)
        d3 = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        # the FID network's last block max-pools here (pytorch-fid's FIDInceptionE_2)
        pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1) if self.max_pool else _avg_pool(x)
        return torch.cat([
            self.branch1x1(x),
            self.branch3x3_2a(b3), self.branch3x3_2b(b3),
            self.branch3x3dbl_3a(d3), self.branch3x3dbl_3b(d3),
            self.branch_pool(pooled),
        ], 1)


class FIDInceptionV3(nn.Module):
    """The FID Inception-v3 (pytorch-fid's ``fid_inception_v3``), features only.

    ``forward`` takes images (N, 3, H, W), uint8 in [0, 255] or floats in [0, 1], resizes
    them bilinearly to 299×299, maps them to [-1, 1] and returns the 2048 features after
    the last average pool, (N, 2048). Parameter names are those of the published state
    dict (``Conv2d_1a_3x3.conv.weight`` …); its classifier ``fc`` is not needed.
    """

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = _Conv(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = _Conv(32, 32, 3)
        self.Conv2d_2b_3x3 = _Conv(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = _Conv(64, 80, 1)
        self.Conv2d_4a_3x3 = _Conv(80, 192, 3)
        self.Mixed_5b = _BlockA(192, 32)
        self.Mixed_5c = _BlockA(256, 64)
        self.Mixed_5d = _BlockA(288, 64)
        self.Mixed_6a = _BlockB(288)
        self.Mixed_6b = _BlockC(768, 128)
        self.Mixed_6c = _BlockC(768, 160)
        self.Mixed_6d = _BlockC(768, 160)
        self.Mixed_6e = _BlockC(768, 192)
        self.Mixed_7a = _BlockD(768)
        self.Mixed_7b = _BlockE(1280, max_pool=False)
        self.Mixed_7c = _BlockE(2048, max_pool=True)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        x = 2 * x - 1
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        for name in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c"):
            x = getattr(self, f"Mixed_{name}")(x)
        return F.adaptive_avg_pool2d(x, 1).flatten(1)


# ------------------------------------------------------------------------------ the file
def is_torchscript(path: str | os.PathLike) -> bool:
    """True if ``path`` is a TorchScript archive (a zip holding ``code/`` or ``constants.pkl``).

    Looked up from the zip's directory only; nothing is loaded.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return False
    return any("/code/" in f"/{n}" or n.endswith("constants.pkl") or "/.data/ts_code/" in f"/{n}" for n in names)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_INT_OPS = {"BININT", "BININT1", "BININT2", "LONG1", "LONG4", "INT", "LONG"}
_MARK = object()
_ELEMENT_BYTES = {"FloatStorage": 4, "DoubleStorage": 8, "HalfStorage": 2, "BFloat16Storage": 2, "LongStorage": 8,
                  "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1, "ByteStorage": 1, "BoolStorage": 1}


def _declared_storage_bytes(f) -> int:
    """Bytes the storages of one legacy pickle declare, from its opcodes alone (nothing runs).

    The stack and memo are simulated with each opcode's documented stack effect; integer
    literals keep their value, globals their name and tuples their items, everything else
    is opaque. A persistent id
    must be a tuple whose fifth item (the storage's element count) is an integer literal.
    """
    stack: list = []
    memo: dict = {}
    declared = 0
    for opcode, arg, _pos in pickletools.genops(f):
        before, after = opcode.stack_before, opcode.stack_after
        if pickletools.markobject in before:
            if _MARK not in stack:
                raise ValueError(f"{opcode.name} without a MARK")
            at = len(stack) - 1 - stack[::-1].index(_MARK)
            items, stack = stack[at + 1:], stack[:at]
            for _ in range(before.index(pickletools.markobject)):
                stack.pop()
        else:
            if len(stack) < len(before):
                raise ValueError(f"{opcode.name} on a short stack")
            items = stack[len(stack) - len(before):] if before else []
            del stack[len(stack) - len(before):]
        if opcode.name in ("BINPERSID", "PERSID"):
            pid = items[0] if items else None
            if not (isinstance(pid, tuple) and len(pid) >= 5 and isinstance(pid[4], int) and pid[4] >= 0):
                raise InvalidFileError("a storage's declared size is not an integer literal")
            kind = pid[1].rsplit(" ", 1)[-1] if isinstance(pid[1], str) else ""
            declared += pid[4] * _ELEMENT_BYTES.get(kind, 16)
        if opcode.name == "STOP":
            return declared
        if opcode.name in ("BINPUT", "LONG_BINPUT", "PUT", "MEMOIZE"):
            if not stack:
                raise ValueError(f"{opcode.name} on an empty stack")
            memo[len(memo) if arg is None else arg] = stack[-1]
        elif opcode.name in ("BINGET", "LONG_BINGET", "GET"):
            stack.append(memo.get(arg, object()))
        elif opcode.name == "MARK":
            stack.append(_MARK)
        elif opcode.name in _INT_OPS:
            stack.append(int(arg))
        elif opcode.name == "GLOBAL":
            stack.append(str(arg))
        elif opcode.name in ("TUPLE", "TUPLE1", "TUPLE2", "TUPLE3", "EMPTY_TUPLE"):
            stack.append(tuple(items))
        else:
            stack.extend(object() for _ in after)
    raise ValueError("no STOP opcode")


def _check_legacy_storages(path: Path, size: int) -> None:
    """Legacy (pre-zip) ``torch.save`` files allocate each storage from the size its
    persistent id declares before reading it: bound their sum by the file's size first."""
    with open(path, "rb") as f:
        try:
            for _ in range(3):  # magic number, protocol version, system info
                _declared_storage_bytes(f)
            declared = _declared_storage_bytes(f)
        except (ValueError, EOFError, IndexError, InvalidFileError) as error:
            raise InvalidFileError(
                f"{path}: not a torch.save file whose storage sizes can be checked ({error}); "
                "re-save the state dict with torch.save (zip format)", path) from None
    if declared > size:
        raise FileLimitError(
            f"{path}: its storages declare more bytes than a {size:,}-byte file can hold; nothing allocated", path)


def _read_state_dict(path: Path) -> dict:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise FileLimitError(f"{path}: {size:,} bytes; an FID Inception state dict is at most {MAX_FILE_BYTES:,}", path)
    zipped = zipfile.is_zipfile(path)
    if zipped:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
        if len(infos) > 10_000:
            raise FileLimitError(f"{path}: {len(infos):,} archive members; a state dict of this network has ~500", path)
        if any(i.compress_type != zipfile.ZIP_STORED for i in infos) or sum(i.file_size for i in infos) > size:
            raise InvalidFileError(f"{path}: a torch.save archive stores its members uncompressed; this one does not", path)
    else:
        _check_legacy_storages(path, size)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=zipped)
    except pickle.UnpicklingError as error:
        raise UnsafePickleError(f"{path}: refused by the weights-only unpickler, nothing from it ran: {error}", path) from None
    except (RuntimeError, ValueError, EOFError, OSError, TypeError, KeyError, AttributeError, IndexError,
            MemoryError, zipfile.BadZipFile) as error:
        raise InvalidFileError(f"{path}: not a readable torch.save state dict ({type(error).__name__}: "
                               f"{str(error)[:300]})", path) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise InvalidFileError(f"{path}: expected a state dict (names -> tensors); got {type(state).__name__}", path)
    return state


def load_fid_inception(path: str | os.PathLike) -> FIDInceptionV3:
    """The FID Inception-v3 with the weights of a state dict file, loaded without running code.

    Parameters
    ----------
    path : str or Path
        pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth`` (or any state dict with its
        names and shapes). Warns if the file's SHA-256 does not start with the published
        ``6726825d`` (other weights give FIDs not comparable with published ones).

    Returns
    -------
    FIDInceptionV3
        In eval mode, float32, on the CPU.

    Raises
    ------
    UnsafeFileError
        A TorchScript archive (it would run code): see :func:`panda_viz.metrics.measures.fid`'s
        ``trust_torchscript``.
    FileLimitError, InvalidFileError
        Too large, not a state dict, missing or unexpected tensors, wrong shapes or dtypes.
    NonFiniteError
        NaN or infinite weights.
    """
    path = Path(path)
    if is_torchscript(path):
        raise UnsafeFileError(f"{path}: a TorchScript archive, not a state dict; loading it would run its code", path)
    state = _read_state_dict(path)
    with torch.device("meta"):
        model = FIDInceptionV3()
    expected = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    # the published file also holds the classifier and the BN counters, which features do not use
    ignored = [k for k in state if k.startswith(("fc.", "AuxLogits.")) or k.endswith("num_batches_tracked")]
    unexpected = sorted(set(state) - set(expected) - set(ignored))
    missing = sorted(set(expected) - set(state))
    if missing or unexpected:
        raise InvalidFileError(
            f"{path}: not an FID Inception-v3 state dict: {len(missing)} tensors missing (e.g. {missing[:3]}), "
            f"{len(unexpected)} unexpected (e.g. {unexpected[:3]})", path)
    for name, want in expected.items():
        got = state[name]
        if tuple(got.shape) != tuple(want.shape) or not got.is_floating_point():
            raise InvalidFileError(
                f"{path}: tensor {name!r} is {got.dtype} {tuple(got.shape)}; expected floats of shape {tuple(want.shape)}",
                path)
    weights = {name: state[name].to(torch.float32).clone() for name in expected}
    # a NaN or inf makes the sum non-finite (one pass, no mask); only then look element-wise
    bad = [name for name, w in weights.items() if not torch.isfinite(w.sum()) and not torch.isfinite(w).all()]
    if bad:
        raise NonFiniteError(f"{path}: NaN or infinite weights in {len(bad)} tensors (e.g. {bad[:3]})")
    model.load_state_dict(weights, strict=False, assign=True)
    for module in model.modules():  # the counters were left out above
        if isinstance(module, nn.BatchNorm2d):
            module.num_batches_tracked = torch.zeros((), dtype=torch.long)
    if not _sha256(path).startswith(PUBLISHED_SHA256_PREFIX):
        warnings.warn(
            f"{path.name}: not the published {PUBLISHED_NAME} (its SHA-256 does not start with "
            f"{PUBLISHED_SHA256_PREFIX}); FIDs computed with it are not comparable with published ones",
            UserWarning, stacklevel=2)
    return model.eval().requires_grad_(False)
