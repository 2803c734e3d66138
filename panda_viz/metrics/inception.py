"""The FID Inception-v3 as a plain ``nn.Module``, loaded from a weights-only state dict.

FID's detector is the TensorFlow Inception-v3 of 2015 (``inception-2015-12-05``). Its
published PyTorch port is pytorch-fid's state dict ``pt_inception-2015-12-05-6726825d.pth``
(https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/...). This module
rebuilds that network (torchvision's Inception-v3 layout with pytorch-fid's FID patches:
average pools that leave the padding out, and a max pool in the last block) without
torchvision, and reads the file as data only:

- the file's size is capped, and it must be a ``torch.save`` state dict: a TorchScript
  archive is refused (loading one runs the code inside it);
- it is read by :func:`panda_viz.fileio.torch_files.load_torch_file`, the reader of every
  ``torch.save`` file panda_viz opens (zip or legacy format; an allow-listed unpickler
  that makes only tensors and plain containers, so no code runs, and checks every
  storage's declared size against the bytes the file holds before allocating it);
- the network is built on the ``meta`` device (nothing allocated) and every tensor's name,
  shape and kind of dtype compared with it (:func:`panda_viz.fileio.weights.check_weights`),
  NaN and infinite weights refused (:func:`~panda_viz.fileio.weights.converted_weights`),
  before the weights are assigned.

Features are those of pytorch-fid (2048-d, after the last average pool); FID values match
pytorch-fid's, which differ slightly from those of NVIDIA's TorchScript detector.
"""

from __future__ import annotations

import hashlib
import os
import warnings
import zipfile
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import describe
from ..exceptions import FileLimitError, InvalidFileError, UnsafeFileError
from ..fileio.torch_files import load_torch_file
from ..fileio.weights import check_weights, converted_weights

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


def _ignored(name: object) -> bool:
    """Entries of the published file that features do not use: the classifier, the auxiliary
    head and the batch-norm counters."""
    return isinstance(name, str) and (name.startswith(("fc.", "AuxLogits.")) or name.endswith("num_batches_tracked"))


def _read_state_dict(path: Path) -> dict:
    """The file's state dict, read by :func:`panda_viz.fileio.torch_files.load_torch_file`."""
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise FileLimitError(f"{path}: {size:,} bytes; an FID Inception state dict is at most {MAX_FILE_BYTES:,}", path)
    state = load_torch_file(path)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise InvalidFileError(f"{path}: expected a state dict (names -> tensors); got {describe(state)}", path)
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
        A TorchScript archive (it would run code): see :func:`panda_viz.metrics.frechet.fid`'s
        ``trust_torchscript``.
    FileLimitError, InvalidFileError
        Too large, not a ``torch.save`` state dict (or truncated), missing or unexpected
        tensors, wrong shapes or dtypes.
    UnsafePickleError
        The pickle names a global outside the allow-list (nothing from it ran).
    NonFiniteError
        NaN or infinite weights.
    """
    path = Path(path)
    if is_torchscript(path):
        raise UnsafeFileError(f"{path}: a TorchScript archive, not a state dict; loading it would run its code", path)
    state = _read_state_dict(path)
    with torch.device("meta"):  # nothing allocated until the file's tensors are known to fit
        model = FIDInceptionV3()
    expected = {k: v for k, v in model.state_dict().items() if not _ignored(k)}
    found = {k: v for k, v in state.items() if not _ignored(k)}
    where, what = str(path), "the FID Inception-v3 (pytorch-fid's state dict)"
    check_weights(expected, found, where=where, what=what, path=path)
    weights = converted_weights(expected, found, where=where, path=path)
    counters = {k: torch.zeros((), dtype=torch.long) for k in model.state_dict() if k.endswith("num_batches_tracked")}
    model.load_state_dict(weights | counters, strict=True, assign=True)
    if not _sha256(path).startswith(PUBLISHED_SHA256_PREFIX):
        warnings.warn(
            f"{path.name}: not the published {PUBLISHED_NAME} (its SHA-256 does not start with "
            f"{PUBLISHED_SHA256_PREFIX}); FIDs computed with it are not comparable with published ones",
            UserWarning, stacklevel=2)
    return model.eval().requires_grad_(False)
