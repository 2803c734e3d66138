"""The embedded default generator: a DCGAN trained on DigiFace-1M faces (64×64).

Its weights ship inside PyPI's ``gan-face-generate`` 1.1.1 wheel (MIT), which has to be
installed with ``--no-deps``: its declared dependencies pull torchvision, wandb and a
CUDA torch. Layers worth decomposing: ``main.2`` (512×4×4), ``main.5`` (256×8×8),
``main.8`` (128×16×16) and ``main.11`` (64×32×32), the outputs of the in-place ReLUs.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ..exceptions import WeightsNotInstalledError
from ..fileio.torch_files import load_torch_file
from .base import Generator
from .registry import register

__all__ = ["dcgan_digiface", "DCGAN_DIGIFACE_INSTALL", "dcgan_digiface_weights_path"]

DCGAN_DIGIFACE_INSTALL = "pip install --no-deps gan-face-generate==1.1.1"
LATENT_SHAPE = (100, 1, 1)


def dcgan_digiface_weights_path() -> Path:
    """Path of ``gan_face_generate/weights.tar``, found through importlib."""
    try:
        path = resources.files("gan_face_generate") / "weights.tar"
    except ModuleNotFoundError:
        raise WeightsNotInstalledError(
            "the embedded generator 'dcgan-digiface' needs the package gan-face-generate; "
            f"install it with: {DCGAN_DIGIFACE_INSTALL}"
        ) from None
    if not path.is_file():
        raise WeightsNotInstalledError(
            f"gan-face-generate is installed but has no weights.tar at {path}; reinstall it with: "
            f"{DCGAN_DIGIFACE_INSTALL} --force-reinstall"
        )
    return Path(str(path))


@register("dcgan-digiface")
def dcgan_digiface(*, device: str = "cpu") -> Generator:
    """The DigiFace-1M DCGAN: latents (N, 100, 1, 1) ~ N(0, I), images (N, 3, 64, 64) in [-1, 1].

    Parameters
    ----------
    device : str or torch.device
        Where to run it.
    """
    weights = dcgan_digiface_weights_path()
    from gan_face_generate.models import Generator as DCGAN  # imports only torch

    module = DCGAN(ngpu=0, nc=3, nz=100, ngf=64)
    # The tensors were saved on a GPU: map them to the CPU, and read no code.
    module.load_state_dict(load_torch_file(weights)["netG_state_dict"])
    return Generator(module, LATENT_SHAPE, name="dcgan-digiface", device=device)
