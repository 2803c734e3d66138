"""The third-party errors that used to escape the public functions (a NotImplementedError for a meta
tensor, torch's AssertionError for CUDA where there is none, a TypeError for an unknown option, a
linear-algebra error for NaN features, JSON's TypeError after the work, FileExistsError, a bare
OSError at the file-size limit) are each a panda_viz.exceptions class naming the input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import panda_viz
from panda_viz import EditZoo, PandA, fid, load_generator, load_images, save_factors
from panda_viz.exceptions import (
    FileWriteError,
    InvalidInputError,
    InvalidTypeError,
    NonFiniteError,
    PandaVizError,
)
from panda_viz.fileio.json_data import json_text
from panda_viz.metrics import frechet_distance, swd
from panda_viz.runtime.devices import check_device, machine_devices

from .bounded import run_bounded

LAYER = "main.5"


@pytest.fixture(scope="module")
def fitted(dcgan):
    z = dcgan.sample_latents(8, seed=0)
    return PandA(3, random_state=0).fit(dcgan.features(z, LAYER), layer=LAYER, generator_name=dcgan.name)


def _meta(t: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(t, device="meta")


# ------------------------------------------------------------------------------ meta tensors
def test_meta_tensors_are_refused_by_name(dcgan, fitted):
    z = dcgan.sample_latents(2, seed=0)
    Z = dcgan.features(z, LAYER)
    images = dcgan.synthesize(z)
    calls = [
        ("latents", lambda: dcgan.features(_meta(z), LAYER)),
        ("latents", lambda: dcgan.synthesize(_meta(z))),
        ("features", lambda: dcgan.synthesize_from(LAYER, _meta(Z))),
        ("features", lambda: PandA(2).fit(_meta(Z))),
        ("features", lambda: fitted.transform(_meta(Z))),
        ("Z", lambda: panda_viz.saliency_maps(fitted, _meta(Z))),
        ("images_a", lambda: fid(_meta(images), images, detector=lambda u: u.float().flatten(1)[:, :4])),
        ("images_a", lambda: swd(_meta(images), images)),
    ]
    for name, call in calls:
        with pytest.raises(InvalidInputError, match=rf"{name} is a tensor on the 'meta' device \(shape .*no values\)"):
            call()


# ------------------------------------------------------------------------------ devices
def test_a_device_this_machine_lacks_is_refused_up_front(dcgan):
    assert machine_devices()[0] == "cpu"
    with pytest.raises(InvalidInputError, match=r"load_generator: device: 'nope' is not a device; devices on this machine: cpu"):
        load_generator("dcgan-digiface", device="nope")
    with pytest.raises(InvalidInputError, match="x: device 'meta' holds no data"):
        check_device("meta", name="x")
    with pytest.raises(InvalidTypeError, match="x must be a device name such as 'cpu'"):
        check_device(0, name="x")
    missing = f"cuda:{torch.cuda.device_count()}" if torch.cuda.is_available() else "cuda"
    for call in (lambda: load_generator("dcgan-digiface", device=missing), lambda: dcgan.to(missing),
                 lambda: panda_viz.Generator(dcgan.module, dcgan.latent_shape, device=missing)):
        with pytest.raises(InvalidInputError, match=r"device: this machine has no cuda device|does not exist"):
            call()
    assert dcgan.device.type == "cpu"


# ------------------------------------------------------------------------------ options and seeds
def test_unknown_options_are_named_with_the_closest(dcgan):
    with pytest.raises(InvalidTypeError, match=r"load_generator\('dcgan-digiface'\): unknown option 'devcie'; "
                                               r"did you mean 'device'\?"):
        load_generator("dcgan-digiface", devcie="cpu")
    with pytest.raises(InvalidTypeError, match=r"load_generator\(a Generator\): unknown option 'nmae'"):
        load_generator(dcgan, nmae="x")
    with pytest.raises(InvalidTypeError, match=r"unknown option 'latent_shap'; did you mean 'latent_shape'"):
        load_generator(dcgan.module, latent_shape=(100, 1, 1), latent_shap=1)
    assert load_generator("dcgan-digiface", device="cpu", memory_budget=2**30).memory_budget == 2**30


def test_a_seed_that_is_not_an_int_is_named(dcgan):
    with pytest.raises(InvalidTypeError, match="seed must be None, an int >= 0 or a torch.Generator; got str 'abc'"):
        dcgan.sample_latents(2, seed="abc")


# ------------------------------------------------------------------------------ FID
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_fid_on_non_finite_features_is_a_non_finite_error(dcgan, value):
    images = dcgan.synthesize(dcgan.sample_latents(4, seed=1))

    def detector(u8):
        out = u8.float().flatten(1)[:, :8].clone()
        out[1, 3] = value
        return out

    with pytest.raises(NonFiniteError, match=r"the FID detector's features of images_a: the features of 1 of 4 samples "
                                             r"hold NaN or infinite values \(sample\(s\) 1\)"):
        fid(images, images, detector=detector)
    with pytest.raises(InvalidTypeError, match="fid: the detector must return a tensor of features"):
        fid(images, images, detector=lambda u8: "features")


def test_frechet_distance_names_its_inputs():
    a = np.random.default_rng(0).normal(size=(10, 3))
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-8)
    with pytest.raises(NonFiniteError, match="feats_b: the features of 10 of 10 samples"):
        frechet_distance(a, a * np.nan)
    with pytest.raises(NonFiniteError, match="feats_b: finite features whose mean or covariance overflows"):
        frechet_distance(a, a * 1e200)
    with pytest.raises(InvalidTypeError, match="feats_a must be a tensor or array of numbers"):
        frechet_distance("abc", a)


# ------------------------------------------------------------------------------ saving
def test_a_zoo_with_a_value_json_cannot_hold_fails_before_any_file(fitted, tmp_path):
    zoo = EditZoo("z", generator_name="dcgan-digiface", fit={"when": object()})
    zoo.add("e", layer=LAYER, n_parts=3, part=0, appearance=0, alpha=1.0, factors="f.npz")
    with pytest.raises(InvalidTypeError, match=r"EditZoo.save\(.*\): zoo\['fit'\]\['when'\] is a builtins.object"):
        zoo.save(tmp_path / "z.json", factors={"f.npz": fitted})
    zoo.fit = {"loss": float("nan")}
    with pytest.raises(NonFiniteError, match=r"zoo\['fit'\]\['loss'\] is nan"):
        zoo.save(tmp_path / "z.json", factors={"f.npz": fitted})
    assert list(tmp_path.iterdir()) == []  # not even the factor file (it used to be written before the zoo failed)
    zoo.fit = {"loss": 0.5}
    zoo.save(tmp_path / "z.json", factors={"f.npz": fitted})
    assert panda_viz.load_edit_zoo(tmp_path / "z.json").fit == {"loss": 0.5}


def test_factors_whose_metadata_cannot_be_saved_fail_before_any_file(dcgan, tmp_path):
    z = dcgan.sample_latents(8, seed=0)
    model = PandA(3, random_state=0).fit(dcgan.features(z, LAYER), layer=LAYER, generator_name=dcgan.name)
    model.generator_ = object()
    with pytest.raises(InvalidTypeError, match="save_factors: model.generator_ must be a str or None to be saved"):
        save_factors(model, tmp_path / "f.npz")
    model.generator_, model.n_iter_ = "g", "12"
    with pytest.raises(InvalidTypeError, match="model.n_iter_ must be an int >= 0"):
        save_factors(model, tmp_path / "f.npz")
    model.n_iter_, model.solver_ = 12, "sgd"
    with pytest.raises(InvalidInputError, match="the model's metadata would not read back"):
        save_factors(model, tmp_path / "f.npz")
    assert list(tmp_path.iterdir()) == []


def test_a_save_under_a_file_is_a_file_write_error(fitted, tmp_path):
    afile = tmp_path / "file"
    afile.write_text("keep")
    for call in (lambda p: save_factors(fitted, p), lambda p: EditZoo("z").save(p.with_suffix(".json"))):
        with pytest.raises(FileWriteError, match=r"'.*/file' is a file, not a folder") as info:
            call(afile / "sub" / "f.npz")
        assert isinstance(info.value, OSError) and isinstance(info.value, PandaVizError)
    assert afile.read_text() == "keep"


def test_json_text_names_the_first_bad_place():
    with pytest.raises(InvalidTypeError, match=r"w: v\['a'\]\[1\] is a builtins.set"):
        json_text({"a": [1, {2}]}, where="w", root="v")
    with pytest.raises(InvalidTypeError, match=r"has the key 1 \(int\)"):
        json_text({1: 2}, where="w")
    deep: list = []
    inner = deep
    for _ in range(200):
        inner.append([])
        inner = inner[0]
    with pytest.raises(InvalidInputError, match="nests deeper than 100 levels"):
        json_text(deep, where="w")
    assert json_text({"a": [1, 2.5, None, "é"]}, where="w", indent=None) == '{"a": [1, 2.5, null, "é"]}\n'


_FSIZE = """
import resource
from pathlib import Path
import panda_viz
from panda_viz import PandA, save_factors, EditZoo
from panda_viz.fileio.confined import ConfinedFolder
G = panda_viz.load_generator("dcgan-digiface")
Z = G.features(G.sample_latents(8, seed=0), "main.5")
model = PandA(3, random_state=0).fit(Z, layer="main.5", generator_name=G.name)
out = Path(OUT)
(out / "keep.npz").write_bytes(b"old")
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))  # ulimit -f: 4 kB
seen = []
for call in (lambda: save_factors(model, out / "f.npz"), lambda: save_factors(model, out / "keep.npz"),
             lambda: ConfinedFolder(out, where="--out").write("img.png", b"x" * 10000)):
    try:
        call()
        seen.append(None)
    except Exception as err:
        seen.append([type(err).__name__, [c.__name__ for c in type(err).__mro__], str(err), str(err.path), err.errno])
RESULT = seen
"""


def test_the_file_size_limit_while_saving_names_the_file_and_leaves_nothing_half_written(tmp_path):
    outcome = run_bounded(f"OUT = {str(tmp_path)!r}\n" + _FSIZE, memory_mb=500, timeout_s=60)
    assert outcome.error_type is None, outcome.error_message
    for (name, mro, message, path, errno_), target in zip(outcome.result, ("f.npz", "keep.npz", "img.png")):
        assert name == "FileWriteError" and "OSError" in mro and "PandaVizError" in mro
        assert path == str(tmp_path / target) and errno_ == 27  # EFBIG
        assert f"could not write '{tmp_path / target}': the file-size limit" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.npz"]  # no temporaries, no half-written file
    assert (tmp_path / "keep.npz").read_bytes() == b"old"


# ------------------------------------------------------------------------------ photo sizes
@pytest.mark.parametrize(("size", "error"), [("64", InvalidInputError), ((64.9, 63.5), InvalidTypeError),
                                             ((64, "64"), InvalidTypeError), (True, InvalidInputError)])
def test_load_images_refuses_sizes_that_are_not_ints(dcgan, size, error):
    image = dcgan.synthesize(dcgan.sample_latents(1, seed=0))
    with pytest.raises(error, match="size must be"):
        load_images(image, size)
