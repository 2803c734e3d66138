"""Counts, devices and names as a newcomer types them: refused up front, with what was asked and what is allowed.

Counts past what the memory budget or the machine holds are refused before anything is
allocated (the machine's limit is made small and exact here by running the call in a child
whose address space is capped); unknown names are answered with the closest valid ones
first, then the full list.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import panda_viz
from panda_viz import PandA, fit_generator, load_generator
from panda_viz.editing.edits import EditTerm, edit_images
from panda_viz.editing.removal import removal_edit
from panda_viz.exceptions import (
    InvalidIndexError,
    InvalidInputError,
    InvalidTypeError,
    ResourceLimitError,
)
from panda_viz.imaging.photos import load_images
from panda_viz.paper.regions import face_mask
from panda_viz.runtime.devices import check_device, check_memory, format_bytes

from .bounded import run_bounded

NO_CUDA_INDEX = r"(this machine has no cuda device|device 'cuda:999' does not exist: this machine has \d+ cuda device)"


# ------------------------------------------------------------------------------ counts
def test_sample_latents_beyond_any_memory_is_refused_up_front(dcgan):
    with pytest.raises(ResourceLimitError, match=r"dcgan-digiface: sample_latents\(n=1,000,000,000,000\): 1,000,000,000,000 "
                                                 r"latents of 400 B each take 363.8 TiB; the generator's memory_budget .* "
                                                 r"is 4 GiB, room for at most 10,737,418 latents"):
        dcgan.sample_latents(10**12)


def test_sample_latents_follows_the_memory_budget(dcgan):
    G = load_generator(dcgan)
    saved = G.memory_budget
    try:
        G.memory_budget = 4000  # ten DCGAN latents (100 float32 each)
        assert G.sample_latents(10, seed=0).shape == (10, 100, 1, 1)
        with pytest.raises(ResourceLimitError, match=r"11 latents of 400 B each take 4.3 KiB; .* room for at most 10 latents"):
            G.sample_latents(11, seed=0)
    finally:
        G.memory_budget = saved


def test_an_output_size_past_the_pixel_budget_is_refused():
    image = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(ResourceLimitError, match=r"size \(1000000, 1000000\) asks for 1,000,000,000,000 pixels an image; "
                                                 r"the limit is 64,000,000 \(raise it with max_pixels=\)"):
        load_images(image, 10**6)
    assert load_images(image, (8, 16), max_pixels=128).shape == (1, 3, 8, 16)
    with pytest.raises(ResourceLimitError, match="asks for 128 pixels an image; the limit is 127"):
        load_images(image, (8, 16), max_pixels=127)
    with pytest.raises(InvalidInputError, match=r"max_pixels must be an int in \[1, inf\]; got 0"):
        load_images(image, 8, max_pixels=0)


def test_a_batch_past_the_free_memory_is_refused_before_decoding():
    # 2 outputs of 7000 × 7000 (49 megapixels, within the pixel budget): 1.1 GiB of floats, in 500 MB of address space
    outcome = run_bounded("import numpy as np\nfrom panda_viz import load_images\n"
                          "load_images(np.zeros((2, 16, 16, 3), np.uint8), 7000)", memory_mb=500, timeout_s=20)
    assert outcome.error_type == "ResourceLimitError", outcome
    assert "load_images: 2 images of size (7000, 7000): 2 images of 560.8 MiB each take 1.1 GiB plus 1.1 GiB to work in; the memory free on cpu is" \
        in outcome.error_message and "room for at most 0 images" in outcome.error_message
    assert outcome.peak_rss_mb < 500


def test_n_starts_past_the_free_memory_is_refused_before_any_photo_is_read(tmp_path):
    with pytest.raises(ResourceLimitError, match=r"invert: n_starts=1,000,000,000 for 1 image runs stage 1 on "
                                                 r"1,000,000,000 samples at once \(with gradients\): .* room for at most"):
        panda_viz.invert(load_generator("dcgan-digiface"), tmp_path / "no-such-photo.jpg", n_starts=10**9, progress=False)
    # 3 × 300 starts of about 2 MB each in 500 MB of address space: refused once the photos are counted,
    # where the old code ran out of memory inside torch
    outcome = run_bounded(
        "import numpy as np, panda_viz\n"
        "panda_viz.invert(panda_viz.load_generator('dcgan-digiface'), [np.zeros((64, 64, 3), np.uint8)] * 3, "
        "n_starts=300, progress=False)", memory_mb=500, timeout_s=20)
    assert outcome.error_type == "ResourceLimitError", outcome
    assert "n_starts=300 for 3 images runs stage 1 on 900 samples" in outcome.error_message


def test_check_memory_says_what_was_asked_and_what_fits():
    with pytest.raises(ResourceLimitError, match=r"x: 5 items of 1 KiB each take 5 KiB; the budget is 2 KiB, room for at most 2 items"):
        check_memory("x", 5, 1024, budget=2048, budget_name="the budget", unit="items")
    check_memory("x", 2, 1024, budget=2048)
    assert format_bytes(1536) == "1.5 KiB" and format_bytes(4 * 2**30) == "4 GiB" and format_bytes(12) == "12 B"


# ------------------------------------------------------------------------------ devices
@pytest.mark.parametrize(
    ("device", "error", "match"),
    [
        ("gpu", InvalidInputError, r"device: 'gpu' is not a device; did you mean 'cuda'\? devices on this machine: cpu"),
        ("CPU", InvalidInputError, r"'CPU' is not a device; did you mean 'cpu'\?"),
        ("cuda:x", InvalidInputError, r"'cuda:x' is not a device"),
        ("cuda:999", InvalidInputError, NO_CUDA_INDEX),
        ("meta", InvalidInputError, r"device 'meta' holds no data panda_viz can compute with"),
        (3, InvalidTypeError, r"device must be a device name such as 'cpu' or 'cuda:0', or a torch.device; got int 3"),
    ],
)
def test_devices_are_checked_against_this_machine(device, error, match):
    with pytest.raises(error, match=match):
        check_device(device)
    with pytest.raises(error, match=match):
        load_images(np.zeros((8, 8), np.uint8), 8, device=device)


def test_every_entry_point_that_takes_a_device_checks_it_before_work(dcgan):
    with pytest.raises(InvalidInputError, match=NO_CUDA_INDEX):
        load_generator("dcgan-digiface", device="cuda:999")
    with pytest.raises(InvalidInputError, match="'gpu' is not a device"):
        load_generator(dcgan, device="gpu")
    with pytest.raises(InvalidInputError, match="'gpu' is not a device"):
        panda_viz.Generator(torch.nn.Linear(2, 2), latent_shape=(2,), device="gpu")
    with pytest.raises(InvalidInputError, match="'npu' is not a device"):
        load_generator(dcgan).to("npu")
    assert check_device("cpu") == torch.device("cpu") and check_device(torch.device("cpu")) == torch.device("cpu")


# ------------------------------------------------------------------------------ names
def test_an_unknown_layer_names_the_near_miss_first(dcgan):
    with pytest.raises(InvalidInputError, match=r"layer 'main5' not found; did you mean 'main.5'\? Layers: main.0 \(512×4×4\)"):
        fit_generator(dcgan, "main5", n_parts=2, n_samples=4)
    with pytest.raises(InvalidInputError, match=r"layer 'Main.5' not found; did you mean 'main.5'\?"):
        dcgan.features(dcgan.sample_latents(1, seed=0), "Main.5")
    with pytest.raises(InvalidInputError, match=r"layer 'conv' not found; layers: main.0"):  # nothing close: the list alone
        dcgan.check_layer("conv")


def test_an_unknown_generator_names_the_near_miss_first():
    with pytest.raises(InvalidInputError, match=r"unknown generator 'dcgan-digifce'; did you mean 'dcgan-digiface'\? "
                                                r"Expected one of: 'biggan', .*'dcgan-digiface'"):
        load_generator("dcgan-digifce")


def test_an_unknown_option_names_the_near_miss_first(dcgan):
    with pytest.raises(InvalidTypeError, match=r"load_generator\('dcgan-digiface'\): unknown option 'devcie'; did you mean "
                                                r"'device'\? Expected one of: 'device'"):
        load_generator("dcgan-digiface", devcie="cpu")
    with pytest.raises(InvalidTypeError, match=r"unknown option 'latent_shap'; did you mean 'latent_shape'\?"):
        load_generator(torch.nn.Linear(2, 2), latent_shap=(2,))


def test_a_checkpoint_name_that_does_not_exist_is_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint 'stylegan2-ffhq.pkl' does not exist"):
        load_generator("stylegan2-ffhq.pkl")


@pytest.mark.filterwarnings("ignore::panda_viz.exceptions.ConvergenceWarning")  # a few iterations suffice here
def test_unknown_regions_methods_and_solvers_name_the_near_miss(dcgan):
    with pytest.raises(InvalidInputError, match=r"Invalid face region: got 'eys' instead of one of \{'eyes', 'nose', 'mouth'\}; "
                                                r"did you mean 'eyes'\?"):
        face_mask("eys")
    with pytest.raises(InvalidInputError, match=r"Invalid solver: got 'projectiv' .*; did you mean 'projective'\?"):
        PandA(2, solver="projectiv").fit(torch.rand(4, 3, 2, 2))
    model = PandA(2, random_state=0, max_iter=3).fit(torch.rand(4, 3, 2, 2))
    with pytest.raises(InvalidInputError, match=r"Invalid method: got 'replac' .*; did you mean 'replace'\?"):
        removal_edit(model, torch.rand(4, 3, 2, 2), 0, 1, method="replac")


@pytest.mark.filterwarnings("ignore::panda_viz.exceptions.ConvergenceWarning")  # a few iterations suffice here
def test_an_edit_term_is_checked_against_its_model_where_it_is_first_used(dcgan):
    Z = dcgan.features(dcgan.sample_latents(12, seed=0), "main.5")
    model = PandA(4, random_state=0, max_iter=5).fit(Z, layer="main.5", generator_name="dcgan-digiface")
    term = EditTerm(99, 0, 1.0)  # accepted on its own: an EditTerm knows no model
    with pytest.raises(InvalidIndexError, match=r"edit term part 99 × appearance 0, α = \+1: part 99 out of range; "
                                                r"the model has 4 parts \(0 … 3\) and 256 appearances \(0 … 255\)") as info:
        edit_images(dcgan, dcgan.sample_latents(1, seed=0), model, term)
    assert isinstance(info.value, IndexError)


def test_unknown_modules_zoos_and_hook_layers_name_the_near_miss(dcgan):
    from panda_viz.baselines import sefa
    from panda_viz.formats.edit_zoo import load_edit_zoo
    from panda_viz.generators import hooks

    with pytest.raises(InvalidInputError, match=r"sefa: module 'Main.0' not found; did you mean 'main.0'\? Modules with a weight"):
        sefa(dcgan, layer="Main.0")
    with pytest.raises(InvalidInputError, match=r"unknown edit zoo 'dcgan_digiface'; did you mean 'dcgan-digiface'\?"):
        load_edit_zoo("dcgan_digiface")
    with pytest.raises(InvalidInputError, match=r"layer 'main5' not found in Generator; did you mean 'main.5'\? Modules: "):
        with hooks.capture(dcgan.module, "main5"):
            pass
