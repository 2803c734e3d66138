"""panda_viz: parts and appearances (PandA, ICLR 2023) in the feature maps of pretrained GANs.

Public names are imported lazily (PEP 562), so ``import panda_viz`` stays cheap and a
sub-package's optional dependencies load only when it is used.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__

# public name -> module that defines it
_LAZY = {
    "Generator": "panda_viz.generators",
    "load_generator": "panda_viz.generators",
    "available_generators": "panda_viz.generators",
    "PandA": "panda_viz.decomposition",
    "panda": "panda_viz.decomposition",
    "fit_generator": "panda_viz.decomposition",
    "save_factors": "panda_viz.formats.factors",
    "load_factors": "panda_viz.formats.factors",
    "PandaVizError": "panda_viz.exceptions",
    "InvalidInputError": "panda_viz.exceptions",
    "InvalidFileError": "panda_viz.exceptions",
    "ConvergenceWarning": "panda_viz.exceptions",
    "WeightsNotInstalledError": "panda_viz.exceptions",
    "sefa": "panda_viz.baselines",
    "resefa": "panda_viz.baselines",
    "lowrankgan": "panda_viz.baselines",
    "ganspace": "panda_viz.baselines",
    "apply_direction": "panda_viz.baselines",
    "roir": "panda_viz.metrics.locality",
    "swd": "panda_viz.metrics.sliced_wasserstein",
    "fid": "panda_viz.metrics.frechet",
    "mse_maps": "panda_viz.metrics.locality",
    "face_masks": "panda_viz.paper.regions",
    "table2": "panda_viz.paper.evaluation",
    "load_official_factors": "panda_viz.formats.official",
    "EditZoo": "panda_viz.formats.edit_zoo",
    "load_edit_zoo": "panda_viz.formats.edit_zoo",
    "apply_named_edit": "panda_viz.formats.edit_zoo",
    "EditTerm": "panda_viz.editing.edits",
    "part_maps": "panda_viz.editing.edits",
    "local_edit": "panda_viz.editing.edits",
    "edit_images": "panda_viz.editing.edits",
    "removal_edit": "panda_viz.editing.removal",
    "remove_images": "panda_viz.editing.removal",
    "propose_background_appearance": "panda_viz.editing.removal",
    "rank_appearances": "panda_viz.editing.ranking",
    "saliency_maps": "panda_viz.editing.saliency",
    "saliency_thresholds": "panda_viz.editing.saliency",
    "localize": "panda_viz.editing.saliency",
    "fill_images": "panda_viz.editing.saliency",
    "Explorer": "panda_viz.widgets",
    "invert": "panda_viz.inversion.invert",
    "Inversion": "panda_viz.inversion.invert",
    "save_inversion": "panda_viz.formats.inversions",
    "load_inversion": "panda_viz.formats.inversions",
    "load_images": "panda_viz.imaging.photos",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'panda_viz' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
