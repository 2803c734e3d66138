"""Table 2's figure: each method's edits of the same evaluation samples and its mean MSE map (PandA Fig. 7)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..fileio.atomic import atomic_path
from ..runtime.figure_folder import figure_destination

__all__ = ["write_figure", "N_EXAMPLES"]

#: Evaluation samples shown per method and region.
N_EXAMPLES = 4


def write_figure(path: Path, originals: torch.Tensor, examples: dict, masks: dict[str, torch.Tensor]) -> Path:
    """One block per region: the originals with the region overlaid, then each method's edits
    of the same samples and its mean squared-error map over all evaluation samples (PandA Fig. 7).

    Returns the path written: ``path``, or its place under ``$PANDA_VIZ_FIGURES`` for a path in
    the checkout's ``figures/`` (:func:`panda_viz.runtime.figure_folder.figure_destination`)."""
    from matplotlib.figure import Figure

    from ..imaging.render import heatmap, to_uint8

    regions = list(dict.fromkeys(r for _, r in examples))
    methods = list(dict.fromkeys(m for m, _ in examples))
    n = len(originals)
    fig = Figure(figsize=(1.25 * (n + 1) * len(regions) + 0.8, 1.3 * (len(methods) + 1) + 0.4), layout="constrained")
    axes = fig.subplots(len(methods) + 1, (n + 1) * len(regions), squeeze=False)
    for ax in axes.flat:
        ax.set_xticks([]), ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
    base = to_uint8(originals)
    for g, region in enumerate(regions):
        col0 = g * (n + 1)
        m = masks[region].cpu().numpy()[..., None]
        for i in range(n):
            tinted = (base[i] * (1 - 0.35 * m) + np.array([255, 40, 40]) * 0.35 * m).astype(np.uint8)
            axes[0, col0 + i].imshow(tinted)
        axes[0, col0].set_title(f"{region}: originals + region", fontsize=8, loc="left")
        axes[0, col0 + n].imshow(heatmap(masks[region].cpu().numpy(), cmap="gray"))
        axes[0, col0 + n].set_title("mask", fontsize=8)
        vmax = max(float(examples[meth, region][1].max()) for meth in methods)
        for row, meth in enumerate(methods, start=1):
            edited, mse = examples[meth, region]
            for i, img in enumerate(to_uint8(edited)):
                axes[row, col0 + i].imshow(img)
            axes[row, col0 + n].imshow(heatmap(mse.numpy(), vmin=0, vmax=vmax))
            if g == 0:
                axes[row, 0].set_ylabel(meth, fontsize=9)
        axes[1, col0 + n].set_title("mean MSE", fontsize=8)
    path = figure_destination(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    return path
