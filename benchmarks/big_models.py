"""Full-size generators with random weights, built by panda_viz's own classes (no download).

The paper's generators are 1024×1024 StyleGAN2 (config F) and StyleGAN3-T; genforce's
StyleGAN2 1024 is what the official PandA code loads. Without pretrained weights, these
are the same architectures initialised as their official training code initialises them
(unit-normal convolution and dense weights, style biases 1, StyleGAN3's random Fourier
frequencies), so activations have realistic magnitudes and every timing and memory
figure is that of the real network. Saved in the formats panda_viz loads: an NVlabs
``G_ema`` state dict with its constructor kwargs (JSON), and a genforce model-zoo ``.pth``.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from panda_viz.generators.genforce.stylegan2 import StyleGAN2Generator
from panda_viz.generators.nvlabs.stylegan2 import StyleGAN2
from panda_viz.generators.nvlabs.stylegan3 import StyleGAN3

__all__ = ["CONFIGS", "build", "save", "random_init"]

_COMMON = dict(z_dim=512, c_dim=0, w_dim=512, img_resolution=1024, img_channels=3)

#: Constructor kwargs (``G_ema._init_kwargs``) of the official 1024-pixel FFHQ generators.
CONFIGS = {
    "stylegan2-f-1024": ("stylegan2", dict(
        _COMMON, mapping_kwargs=dict(num_layers=8), channel_base=32768, channel_max=512,
        num_fp16_res=4, conv_clamp=256, architecture="skip",
    )),
    "stylegan3-t-1024": ("stylegan3", dict(
        _COMMON, mapping_kwargs=dict(num_layers=2), channel_base=32768, channel_max=512,
        num_fp16_res=4, conv_clamp=256, magnitude_ema_beta=0.999,
    )),
    "genforce-stylegan2-1024": ("genforce", dict(
        z_dim=512, mapping_widths=[512] * 9, widths=[512, 512, 512, 512, 512, 256, 128, 64, 32],
    )),
}


@torch.no_grad()
def random_init(module: nn.Module, seed: int = 0) -> nn.Module:
    """Initialise like the official training code: N(0, 1) weights, style biases 1, biases 0.

    StyleGAN3's input frequencies and phases are drawn as in ``SynthesisInput.__init__``.
    Buffers the constructors design (resampling filters) and ``magnitude_ema`` stay.
    """
    rng = torch.Generator().manual_seed(seed)
    for name, tensor in module.named_parameters():
        if name.endswith("weight"):
            tensor.copy_(torch.randn(tensor.shape, generator=rng))
        elif name.endswith("affine.bias"):  # NVlabs style biases start at 1 (genforce adds the 1)
            tensor.fill_(1.0)
        elif name.endswith("const"):
            tensor.copy_(torch.randn(tensor.shape, generator=rng))
        elif name.endswith(("bias", "noise_strength")):
            tensor.zero_()
    for name, tensor in module.named_buffers():
        if name.endswith(("noise_const", ".noise")):
            tensor.copy_(torch.randn(tensor.shape, generator=rng))
        elif name.endswith("magnitude_ema"):
            tensor.fill_(1.0)
        elif name.endswith("filter.kernel"):  # genforce's up-sampling filter, [1 3 3 1]² with gain 4
            taps = torch.tensor([1.0, 3.0, 3.0, 1.0])
            tensor.copy_((torch.outer(taps, taps) / 64 * 4).reshape(tensor.shape))
    if isinstance(module, StyleGAN3):
        layer = module.synthesis.input
        freqs = torch.randn(layer.freqs.shape, generator=rng)
        radii = freqs.square().sum(dim=1, keepdim=True).sqrt()
        layer.freqs.copy_(freqs / (radii * radii.square().exp().pow(0.25)) * layer.bandwidth)
        layer.phases.copy_(torch.rand(layer.phases.shape, generator=rng) - 0.5)
        layer.affine.weight.zero_()
        layer.affine.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0]))
    return module


def build(name: str, seed: int = 0) -> nn.Module:
    """The architecture ``name`` of :data:`CONFIGS` with random weights."""
    family, kwargs = CONFIGS[name]
    if family == "stylegan2":
        module = StyleGAN2(**kwargs)
    elif family == "stylegan3":
        module = StyleGAN3(**kwargs)
    else:
        module = StyleGAN2Generator(**kwargs)
    return random_init(module, seed).eval()


def save(name: str, module: nn.Module, folder: Path) -> dict:
    """Write ``module`` in a format ``panda_viz.load_generator`` reads; returns its arguments."""
    family, kwargs = CONFIGS[name]
    folder.mkdir(parents=True, exist_ok=True)
    if family == "genforce":
        path = folder / f"{name}.pth"
        torch.save({"generator_smooth": module.state_dict()}, path)
        return {"source": str(path)}
    path = folder / f"{name}.pt"
    torch.save(module.state_dict(), path)
    config = folder / f"{name}.json"
    config.write_text(json.dumps({"class": f"training.networks_{family}.Generator", "init_kwargs": kwargs}))
    return {"source": str(path), "config": str(config)}
