"""FID's detector: no code from a file runs without the user's opt-in, and nothing is picked up silently.

The crafted files are made here. Each payload would create ``marker`` if it ran; the
marker's absence after every refusal proves that nothing from the file ran.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import pytest
import torch
from torch import nn

from panda_viz.exceptions import (
    InvalidFileError,
    NonFiniteError,
    UnsafeFileError,
    UnsafePickleError,
    WeightsNotInstalledError,
)
from panda_viz.metrics.frechet import INCEPTION_ENV, fid
from panda_viz.metrics.inception import (
    FIDInceptionV3,
    is_torchscript,
    load_fid_inception,
)

from .bounded import run_bounded
from .crafted import Calls


@pytest.fixture()
def images():
    g = torch.Generator().manual_seed(0)
    return torch.rand(4, 3, 16, 16, generator=g) * 2 - 1


class _Features(nn.Module):
    def forward(self, x: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        return x.float().flatten(1)[:, :8]


def _scripted(path: Path) -> Path:
    """A genuine TorchScript archive (what NVIDIA's detector is)."""
    torch.jit.save(torch.jit.script(_Features()), str(path))
    return path


def _crafted_torchscript(path: Path, marker: Path) -> Path:
    """A zip laid out as a TorchScript archive whose code and data would touch the marker."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/version", "3\n")
        zf.writestr("archive/code/__torch__.py", f"open({str(marker)!r}, 'w').write('ran')\n")
        zf.writestr("archive/constants.pkl", pickle.dumps(()))
        zf.writestr("archive/data.pkl", pickle.dumps(Calls(os.system, f"touch {marker}"), protocol=2))
    return path


@pytest.fixture()
def marker(tmp_path) -> Path:
    path = tmp_path / "marker"
    yield path
    assert not path.exists(), "code from a crafted file ran"


@pytest.fixture()
def no_env(monkeypatch, tmp_path):
    monkeypatch.delenv(INCEPTION_ENV, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))


@pytest.mark.parametrize("make", [_scripted, _crafted_torchscript])
def test_torchscript_is_refused_as_detector_and_from_the_environment(tmp_path, marker, images, monkeypatch, no_env, make):
    path = make(tmp_path / "inception-2015-12-05.pt", marker) if make is _crafted_torchscript else make(tmp_path / "i.pt")
    assert is_torchscript(path)
    with pytest.raises(UnsafeFileError, match=r"is a TorchScript archive: loading it runs the code inside it.*"
                                              r"trust_torchscript=True") as info:
        fid(images, images, detector=path)
    assert info.value.path == path
    monkeypatch.setenv(INCEPTION_ENV, str(path))
    with pytest.raises(UnsafeFileError, match=f"from {INCEPTION_ENV}"):
        fid(images, images)
    with pytest.raises(UnsafeFileError):
        load_fid_inception(path)


def test_nothing_is_picked_up_from_torch_home(tmp_path, marker, images, no_env):
    checkpoints = Path(os.environ["TORCH_HOME"]) / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    _crafted_torchscript(checkpoints / "inception-2015-12-05.pt", marker)
    torch.save({"x": torch.zeros(1)}, checkpoints / "pt_inception-2015-12-05-6726825d.pth")
    with pytest.raises(WeightsNotInstalledError, match="never downloads them.*pt_inception-2015-12-05-6726825d.pth"):
        fid(images, images)


def test_trust_torchscript_is_the_explicit_opt_in(tmp_path, images, no_env):
    path = _scripted(tmp_path / "i.pt")
    assert fid(images, images, detector=path, trust_torchscript=True) == pytest.approx(0, abs=1e-2)
    with pytest.raises(TypeError, match="trust_torchscript must be True or False; got str 'yes'"):
        fid(images, images, detector=path, trust_torchscript="yes")


def test_a_crafted_archive_even_with_opt_in_is_a_file_error(tmp_path, images, no_env):
    marker = tmp_path / "marker"
    path = _crafted_torchscript(tmp_path / "x.pt", marker)
    with pytest.raises(InvalidFileError, match="not a loadable TorchScript detector"):
        fid(images, images, detector=path, trust_torchscript=True)
    assert not marker.exists()  # TorchScript's own loader runs no Python from code/ or data.pkl either


@pytest.mark.parametrize("legacy", [False, True])
def test_a_pickle_payload_in_a_state_dict_is_refused(tmp_path, marker, images, no_env, legacy):
    path = tmp_path / "pt_inception.pth"
    torch.save({"Conv2d_1a_3x3.conv.weight": Calls(os.system, f"touch {marker}")}, path, _use_new_zipfile_serialization=not legacy)
    with pytest.raises((UnsafePickleError, InvalidFileError), match="pt_inception.pth"):
        fid(images, images, detector=path)


def test_state_dicts_are_checked_before_assignment(tmp_path, no_env):
    with torch.device("meta"):
        names = list(FIDInceptionV3().state_dict())
    tiny = tmp_path / "tiny.pth"
    torch.save({name: torch.zeros(1) for name in names}, tiny)
    with pytest.raises(InvalidFileError, match=r"tiny.pth: weights of the wrong shape for the FID Inception-v3 .*: "
                                               r"Conv2d_1a_3x3.conv.weight \(1,\) \(expected \(32, 3, 3, 3\)\)"):
        load_fid_inception(tiny)
    torch.save({"a": torch.zeros(1)}, tiny)
    with pytest.raises(InvalidFileError, match=r"the weights do not match the FID Inception-v3 .*: missing .* \(\d+ in all\); "
                                               r"unexpected a$"):
        load_fid_inception(tiny)
    torch.save([torch.zeros(1)], tiny)
    with pytest.raises(InvalidFileError, match="expected a state dict"):
        load_fid_inception(tiny)
    tiny.write_bytes(b"garbage")
    with pytest.raises(InvalidFileError, match="tiny.pth"):
        load_fid_inception(tiny)


def test_a_legacy_file_declaring_more_than_it_holds_allocates_nothing(tmp_path):
    path = tmp_path / "legacy.pth"
    torch.save({"w": torch.zeros(1_000_000)}, path, _use_new_zipfile_serialization=False)
    path.write_bytes(path.read_bytes()[:100_000])  # the storage declares 4 MB, the file holds 0.1 MB
    with pytest.raises(InvalidFileError, match=r"legacy.pth ends early: storage .* declares 4,000,000 bytes, [\d,]+ remain "
                                               r"\(truncated\)"):
        load_fid_inception(path)


def test_an_oversized_file_is_refused_unread(tmp_path, monkeypatch):
    import panda_viz.metrics.inception as module

    path = tmp_path / "big.pth"
    with open(path, "wb") as f:
        f.truncate(300 << 20)
    outcome = run_bounded(f"from panda_viz.metrics.inception import load_fid_inception\nload_fid_inception({str(path)!r})")
    assert outcome.error_type == "FileLimitError" and "an FID Inception state dict is at most" in outcome.error_message
    assert outcome.seconds < 10 and module.MAX_FILE_BYTES < 300 << 20


@pytest.fixture(scope="module")
def reference():
    torch.manual_seed(0)
    return FIDInceptionV3()


@pytest.mark.parametrize("legacy", [False, True])
def test_the_published_layout_loads_weights_only_and_nan_is_refused(tmp_path, reference, legacy):
    state = {k: v for k, v in reference.state_dict().items() if not k.endswith("num_batches_tracked")}
    state |= {"fc.weight": torch.zeros(1008, 2048), "fc.bias": torch.zeros(1008)}  # as in the published file
    path = tmp_path / "pt_inception.pth"
    torch.save(state, path, _use_new_zipfile_serialization=not legacy)
    with pytest.warns(UserWarning, match="not the published pt_inception-2015-12-05-6726825d.pth"):
        loaded = load_fid_inception(path)
    for name, value in reference.state_dict().items():
        if not name.endswith("num_batches_tracked"):
            assert torch.equal(loaded.state_dict()[name], value), name
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    with torch.device("meta"):  # the forward's shapes, at no cost
        assert FIDInceptionV3()(torch.zeros(2, 3, 64, 64, dtype=torch.uint8)).shape == (2, 2048)
    state["Mixed_7c.branch_pool.conv.weight"] = state["Mixed_7c.branch_pool.conv.weight"].clone()
    state["Mixed_7c.branch_pool.conv.weight"][0, 0, 0, 0] = float("nan")
    torch.save(state, path, _use_new_zipfile_serialization=not legacy)
    with pytest.raises(NonFiniteError, match=r"weights with NaN or infinite values: Mixed_7c.branch_pool.conv.weight;"):
        load_fid_inception(path)


def test_bad_images_and_arguments_are_refused_before_any_detector(images, no_env):
    with pytest.raises(ValueError, match=r"images_a hold NaN or infinite values"):
        fid(torch.full_like(images, float("nan")), images, detector=lambda u8: u8)
    with pytest.raises(ValueError, match=r"images_b: at least 2 RGB images"):
        fid(images, images[:1], detector=lambda u8: u8)
    with pytest.raises(ValueError, match=r"batch_size must be an int in \[1, inf\]; got 0"):
        fid(images, images, detector=lambda u8: u8, batch_size=0)
    with pytest.raises(TypeError, match="detector must be a path or a callable"):
        fid(images, images, detector=3)
