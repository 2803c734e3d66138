"""Layer shapes, image shape and activation memory without running the generator.

For every family the library loads, ``G.layers`` and ``G.image_shape`` (propagated on the
meta device) equal what a real forward pass records; learning them costs a few MB even
for 1024-pixel generators (measured in a child process); they are learnt once; and batch
sizes follow ``G.memory_budget``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from robustness.bounded import run_bounded  # tests/ is on sys.path (tests/conftest.py)
from testdata import data_folder
from torch import nn

import panda_viz
from panda_viz.exceptions import InvalidInputError, InvalidTypeError, NonFiniteError
from panda_viz.generators import Generator, hooks
from panda_viz.generators.base import DEFAULT_MEMORY_BUDGET, MAX_AUTO_BATCH
from panda_viz.generators.shapes import meta_twin_state, profile_forward


def real_shapes(G: Generator) -> tuple[dict[str, tuple[int, ...]], tuple[int, ...]]:
    """What a real forward pass of two latents records: 4-D outputs of named sub-modules."""
    shapes: dict[str, tuple[int, ...]] = {}

    def make_hook(name: str):
        def hook(_m: nn.Module, _i: Any, output: Any) -> None:
            try:
                tensor = hooks.first_tensor(output)
            except TypeError:
                return
            if tensor.ndim == 4 and name not in shapes:
                shapes[name] = tuple(tensor.shape[1:])

        return hook

    handles = [m.register_forward_hook(make_hook(n)) for n, m in G.module.named_modules() if n]
    try:
        with torch.no_grad():
            images = G._forward(G.module, G.sample_latents(2, seed=1))
    finally:
        for handle in handles:
            handle.remove()
    return shapes, tuple(images.shape[1:])


def tiny_biggan() -> Generator:
    package = pytest.importorskip("pytorch_pretrained_biggan")
    config = package.BigGANConfig(
        output_dim=32, z_dim=8, class_embed_dim=8, channel_width=4, num_classes=1000,
        layers=[[True, 16, 8], [False, 8, 8], [True, 8, 4], [True, 4, 2], [False, 2, 1]],
        attention_layer_position=1, n_stats=51,
    )
    module = package.BigGAN(config).eval()
    with torch.no_grad():
        for name, tensor in module.state_dict().items():
            if name.endswith("running_vars"):
                tensor.fill_(1.0)
            elif not name.endswith(("running_means", "weight_u", "weight_v")):
                tensor.normal_(0, 0.3, generator=torch.Generator().manual_seed(0))
    from panda_viz.generators.biggan.loader import BigGANGenerator

    return BigGANGenerator(module, truncation=0.5)


def load_family(family: str) -> Generator:
    if family == "dcgan":
        return panda_viz.load_generator("dcgan-digiface")
    if family == "biggan":
        return tiny_biggan()
    if family.startswith("genforce-"):
        path = data_folder(family) / "checkpoint.pth"
        kwargs: dict[str, Any] = {}
    else:
        path = data_folder(family) / "G_ema_state_dict.pt"
        kwargs = {"config": data_folder(family) / "config.json"}
    return panda_viz.load_generator(path, **kwargs)


FAMILIES = ["dcgan", "stylegan2", "stylegan3-t", "stylegan3-r", "genforce-pggan", "genforce-stylegan",
            "genforce-stylegan2", "biggan"]


@pytest.mark.parametrize("family", FAMILIES)
def test_meta_shapes_equal_a_real_pass(family):
    G = load_family(family)
    expected_layers, expected_image = real_shapes(G)
    assert G.layers == expected_layers and list(G.layers) == list(expected_layers)  # forward order too
    assert G.image_shape == expected_image
    assert G.forward_profile.method == "meta"
    # the module was not touched: its state is still real, on its device, with no hooks
    assert all(t.device.type == "cpu" for t in (*G.module.parameters(), *G.module.buffers()))
    assert all(not m._forward_hooks for m in G.module.modules())


def test_latent_spaces_of_a_stylegan_profile_on_meta():
    G = load_family("stylegan2")
    from panda_viz.generators.nvlabs.loader import nvlabs_generator

    for space in ("w", "w+"):
        other = nvlabs_generator(G.module, latent_space=space, truncation_psi=0.7)
        assert other.layers == G.layers and other.forward_profile.method == "meta"


class CountingForward:
    """A forward function that counts its calls on real and on meta latents."""

    def __init__(self) -> None:
        self.real = 0
        self.meta = 0

    def __call__(self, module: nn.Module, latents: torch.Tensor) -> torch.Tensor:
        if latents.device.type == "meta":
            self.meta += 1
        else:
            self.real += 1
        return module(latents)


class ReadsValues(nn.Module):
    """A tiny generator whose forward reads a tensor's value, which a meta tensor has not."""

    def __init__(self) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(4, 6, 4, stride=2, padding=1)
        self.out = nn.Conv2d(6, 3, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        scale = float(z.abs().max()) + 1.0  # .item() on meta raises
        return torch.tanh(self.out(torch.relu(self.up(z / scale))))


def test_the_profile_is_learnt_once_without_real_passes():
    dcgan = panda_viz.load_generator("dcgan-digiface")
    counting = CountingForward()
    G = Generator(dcgan.module, (100, 1, 1), forward=counting)
    for _ in range(3):
        assert G.image_shape == (3, 64, 64)
        assert G.layers["main.5"] == (256, 8, 8)
    # an edit with an image-sized mask reads image_shape too: still no real pass for shapes
    assert G.batch_size_for("main.5") >= 1
    assert (counting.real, counting.meta) == (0, 2)  # batch sizes 1 and 2, once


def test_a_module_that_cannot_run_on_meta_is_profiled_by_one_real_pass():
    counting = CountingForward()
    G = Generator(ReadsValues(), (4, 8, 8), forward=counting)
    for _ in range(3):
        assert G.layers == {"up": (6, 16, 16), "out": (3, 16, 16)}
        assert G.image_shape == (3, 16, 16)
    assert G.forward_profile.method == "forward"
    assert counting.real == 1
    fixed, per_sample = G.forward_profile.pass_bytes
    assert fixed == 0 and per_sample >= 6 * 16 * 16 * 4  # at least the largest activation


def test_meta_twin_state_shares_tied_weights_and_keeps_shapes():
    module = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 3))
    module[1].weight = module[0].weight
    module.register_buffer("stats", torch.ones(5, dtype=torch.float64))
    state = meta_twin_state(module)
    assert state["0.weight"] is state["1.weight"]
    assert state["stats"].dtype == torch.float64 and state["stats"].device.type == "meta"
    assert {k: tuple(v.shape) for k, v in state.items()} == {k: tuple(v.shape) for k, v in module.state_dict().items()}


def test_activation_bytes_grow_with_the_batch_and_the_layer():
    G = panda_viz.load_generator("dcgan-digiface")
    profile = G.forward_profile
    per_layer = [profile.batch_bytes(4, name) for name in ("main.2", "main.5", "main.8", "main.11")]
    assert per_layer == sorted(per_layer) and per_layer[-1] <= profile.batch_bytes(4)
    assert profile.batch_bytes(8) > profile.batch_bytes(4) > 0
    # one sample of the DCGAN's last ReLU (64×32×32 floats) is alive at its hook, plus the kept copy
    assert profile.layer_bytes["main.11"][1] >= 2 * 64 * 32 * 32 * 4


def test_batch_sizes_follow_the_memory_budget():
    counting = CountingForward()
    dcgan = panda_viz.load_generator("dcgan-digiface")
    G = Generator(dcgan.module, (100, 1, 1), forward=counting)
    assert G.memory_budget == DEFAULT_MEMORY_BUDGET
    assert G.batch_size_for() == MAX_AUTO_BATCH  # 64×64 faces fit many times over
    fixed, per_sample = G.forward_profile.layer_bytes["main.8"]
    G.memory_budget = fixed + 3.5 * per_sample
    assert G.batch_size_for("main.8") == 3
    z = G.sample_latents(10, seed=0)
    before = counting.real
    Z = G.features(z, "main.8")
    assert counting.real - before == 4 and Z.shape == (10, 128, 16, 16)  # passes of 3, 3, 3, 1
    torch.testing.assert_close(Z, G.features(z, "main.8", batch_size=10))
    G.memory_budget = 1
    assert G.batch_size_for() == 1 and G.batch_size_for("main.2") == 1  # one sample always runs
    assert G.batch_size_for(at_most=7) == 1
    G.memory_budget = 2**40
    assert G.batch_size_for(at_most=7) == 7
    assert panda_viz.load_generator("dcgan-digiface", memory_budget=2**20).memory_budget == 2**20


@pytest.mark.parametrize("bad, error", [
    (0, InvalidInputError), (-1, InvalidInputError), (0.5, InvalidInputError), (float("nan"), NonFiniteError),
    (float("inf"), NonFiniteError), ("4GB", InvalidTypeError), (True, InvalidTypeError), (None, InvalidTypeError),
])
def test_a_bad_memory_budget_is_refused(bad, error):
    G = panda_viz.load_generator("dcgan-digiface")
    with pytest.raises(error, match=r"memory_budget \(bytes\) must be"):
        G.memory_budget = bad
    with pytest.raises(InvalidInputError, match=r"batch_size must be an int in \[1, inf\]; got 0"):
        G.features(G.sample_latents(2, seed=0), "main.5", batch_size=0)
    with pytest.raises(InvalidTypeError, match="batch_size must be an int; got float 2.0"):
        G.synthesize(G.sample_latents(2, seed=0), batch_size=2.0)


def test_profile_forward_on_a_module_already_on_meta():
    with torch.device("meta"):
        module = nn.Sequential(nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1), nn.ReLU())
    profile = profile_forward(module, lambda m, z: m(z), (8, 4, 4), lambda n: torch.zeros(n, 8, 4, 4))
    assert profile.method == "meta" and profile.layers == {"0": (4, 8, 8), "1": (4, 8, 8)}


# The claim for big generators: shapes of a 1024-pixel StyleGAN2 and StyleGAN3-T (whose
# real pass of one image needs about 0.6 and 5 GB) cost a few MB. The first meta operation
# of a process loads PyTorch's meta-kernel registry (about 70 MB of modules, once per
# process, whatever the model): it is measured apart.
BIG_SNIPPET = r"""
import time
import torch
from panda_viz.generators.nvlabs.loader import nvlabs_generator
from panda_viz.generators.nvlabs.stylegan2 import StyleGAN2
from panda_viz.generators.nvlabs.stylegan3 import StyleGAN3

def peak_reset():
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")

def peak_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1])

common = dict(z_dim=512, c_dim=0, w_dim=512, img_resolution=1024, img_channels=3,
              channel_base=32768, channel_max=512, num_fp16_res=4, conv_clamp=256)
peak_reset()
before = peak_kb()
torch.empty(2, device="meta") + 1
RESULT = {"first meta op": dict(mb=(peak_kb() - before) / 1024)}
for name, cls, mapping in [("stylegan2", StyleGAN2, 8), ("stylegan3", StyleGAN3, 2)]:
    G = nvlabs_generator(cls(**common, mapping_kwargs=dict(num_layers=mapping)))
    peak_reset()
    before = peak_kb()
    t0 = time.perf_counter()
    layers, image_shape = G.layers, G.image_shape
    RESULT[name] = dict(mb=(peak_kb() - before) / 1024, seconds=time.perf_counter() - t0,
                        image=list(image_shape), n_layers=len(layers), method=G.forward_profile.method,
                        per_sample_gb=G.forward_profile.pass_bytes[1] / 2**30)
    del G
"""


def test_shapes_of_1024_pixel_generators_cost_a_few_mb():
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("needs Linux's /proc/self/clear_refs to reset the peak resident memory")
    outcome = run_bounded(BIG_SNIPPET, memory_mb=1500, timeout_s=120)
    assert outcome.error_type is None, outcome.error_message
    assert outcome.result.pop("first meta op")["mb"] < 200
    for name, report in outcome.result.items():
        assert report["method"] == "meta" and report["image"] == [3, 1024, 1024], (name, report)
        assert report["mb"] < 16, (name, report)  # a real pass would add 600 MB (StyleGAN2) or 5 GB
        assert report["per_sample_gb"] > 0.3, (name, report)  # what the real pass would hold
    assert outcome.result["stylegan2"]["n_layers"] == 36 and outcome.result["stylegan3"]["n_layers"] == 17


def test_the_profile_never_fires_hooks_registered_by_others():
    """Computed lazily inside a caller's hooked pass, the profile leaves the caller's hooks
    to the caller's tensors: no meta tensors, no extra calls (a baseline's probe saw them)."""
    generator = panda_viz.load_generator("dcgan-digiface")  # no profile computed yet
    seen = []
    handle = generator.module.main[0].register_forward_pre_hook(lambda _m, inputs: seen.append(inputs[0].device.type))
    try:
        generator.synthesize(generator.sample_latents(2, seed=0))  # first use: the profile, then the pass
    finally:
        handle.remove()
    assert seen == ["cpu"]
    assert len(generator.module.main[0]._forward_pre_hooks) == 0
