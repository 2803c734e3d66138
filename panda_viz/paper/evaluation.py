"""The PandA paper's Table 2 on the embedded generator: how local are PandA, SeFa, ReSeFa and GANSpace edits?

For each face region (eyes, nose, mouth; :mod:`panda_viz.paper.regions`) and each method, one
edit is chosen automatically on *selection* samples, then measured on separate
*evaluation* samples with ROIR (PandA Eq. 7, mean ± std) and SWD (ProGAN), and FID when
local Inception weights are given.

The protocol (the same for every method)
----------------------------------------
1. **Candidates.** Each method proposes ``n_candidates`` edits, best first by its own score:

   - SeFa: its top directions (eigenvalues of AᵀA; region-independent);
   - GANSpace: its top directions (feature-space variance; region-independent), GANSpace's
     own (:func:`~panda_viz.baselines.ganspace` defaults: incremental PCA of ``main.2``
     with GANSpace's 80 components, regression on max(10000, n) fresh latents, unit norm,
     **not** orthonormalised) on ``ganspace_samples`` PCA samples. Each candidate is used
     on its own, so the rule needs no orthogonality between them;
   - ReSeFa: its top directions for the region (generalised eigenvalues), computed from the
     Jacobians of the first ``resefa_samples`` selection samples with the official
     defaults (:func:`~panda_viz.baselines.resefa`: no regularisation, M_f and M_b scaled
     by their row counts). Its region is the binary box the soft face mask blurs
     (mask ≥ 0.5): the official code takes the pixels exactly 1 as region and exactly 0 as
     background, and its own region masks are binary boxes; the soft mask itself would
     leave ReSeFa only its few pixels equal to 1. ROIR and the matched change still use
     the soft mask, as for every method;
   - PandA (fitted at ``layer`` with ``n_parts`` parts on ``fit_samples`` samples): the
     part whose upsampled, min-max normalised map has the highest cosine similarity with the
     region mask, edited with each of the appearances most present in it (largest mean
     Λ²_jk, Λ_i = AᵀZ_iP, over the selection samples): terms α a_j p̂_kᵀ at ``layer``.

   Every candidate is used with a positive strength α (directions and appearances have no
   natural sign, so none is tried twice).
2. **Matched strength.** For each candidate, α is set so that the edit's mean in-region
   change c(α) = mean_i ‖M ⊙ (X′_i − X_i)‖ / √(3 ΣM) (RMS change per masked pixel and
   channel, images in [−1, 1]) equals ``target_change`` on the selection samples: starting
   from α₀ (1 for a unit latent direction, the mean feature-fibre norm for PandA),
   α ← α · target / c(α) until c(α) is within 5 % of the target (at most 5 syntheses).
   α is capped (|α| ≤ 2√d in latent space, ≤ 10 α₀ for PandA); a candidate that does not
   get within 5 % under the cap is dropped.
3. **Selection.** The candidate with the lowest mean ROIR on the selection samples at its
   matched α wins.
4. **Evaluation.** The winner is applied at its α to ``n_eval`` evaluation samples (seeds
   disjoint from the selection ones); ROIR (mean ± std over samples), the achieved c on
   these samples, SWD between originals and edits (ProGAN's, ×10³, paired patches,
   ``swd_descriptors`` per image) and, with ``detector``, FID between originals and edits.

Seeds: selection latents ``seed + 1``, evaluation latents ``seed + 2``, the PandA fit and
GANSpace ``seed``.
"""

from __future__ import annotations

import csv
import io
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .._checks import check_float, check_int, near_misses
from ..baselines import apply_direction, ganspace, image_jacobians, resefa, sefa
from ..exceptions import InvalidIndexError, InvalidInputError, InvalidStateError
from ..fileio.atomic import atomic_path
from ..metrics import fid as _fid
from ..metrics import roir, swd
from ..runtime.progress import progress as _progress
from .regions import REGIONS, face_masks

__all__ = ["table2", "Table2Row", "Table2Result", "METHODS", "inside_change"]

METHODS = ("PandA", "SeFa", "ReSeFa", "GANSpace")


@dataclass(frozen=True)
class Table2Row:
    """One method on one region."""

    method: str
    region: str
    candidate: str
    alpha: float
    selection_roir: float
    inside_change: float
    roir_mean: float
    roir_std: float
    n_unchanged: int
    swd: float
    fid: float | None


@dataclass
class Table2Result:
    rows: list[Table2Row]
    settings: dict[str, Any]
    seconds: float

    def row(self, method: str, region: str) -> Table2Row:
        for r in self.rows:
            if r.method == method and r.region == region:
                return r
        raise InvalidIndexError(
            f"Table2Result.row: no row for method {method!r} and region {region!r}; rows: "
            + ", ".join(f"({r.method!r}, {r.region!r})" for r in self.rows)
        )

    def to_csv(self) -> str:
        buf = io.StringIO()
        fields = list(Table2Row.__dataclass_fields__)
        writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        for r in self.rows:
            d = asdict(r)
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else ("" if v is None else v)) for k, v in d.items()})
        return buf.getvalue()

    def to_markdown(self) -> str:
        regions = list(dict.fromkeys(r.region for r in self.rows))
        methods = list(dict.fromkeys(r.method for r in self.rows))
        with_fid = any(r.fid is not None for r in self.rows)
        s = self.settings
        lines = [
            f"ROIR (↓, mean ± std over {s['n_eval']} evaluation samples) and SWD (↓, ×10³) of the "
            f"automatically chosen edit per method and region, `{s['generator']}`; in-region RMS "
            f"change matched to {s['target_change']} (images in [−1, 1]).",
            "",
        ]
        metric_names = ["ROIR", "SWD"] + (["FID"] if with_fid else [])
        header = "| method | " + " | ".join(f"{reg} {m}" for reg in regions for m in metric_names) + " |"
        lines += [header, "|" + " --- |" * (1 + len(regions) * len(metric_names))]
        for method in methods:
            cells = []
            for reg in regions:
                r = self.row(method, reg)
                cells.append(f"{r.roir_mean:.2f} ± {r.roir_std:.2f}")
                cells.append(f"{r.swd:.2f}")
                if with_fid:
                    cells.append("" if r.fid is None else f"{r.fid:.2f}")
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines += ["", "| method | region | chosen edit | α | selection ROIR | in-region change (eval) | unchanged samples |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for r in self.rows:
            lines.append(
                f"| {r.method} | {r.region} | {r.candidate} | {r.alpha:.3g} | {r.selection_roir:.2f} | "
                f"{r.inside_change:.3f} | {r.n_unchanged} |"
            )
        lines += ["", "Settings: " + ", ".join(f"{k}={v}" for k, v in s.items()) + f"; took {self.seconds:.0f} s."]
        return "\n".join(lines) + "\n"

    def write(self, out_dir: str | Path) -> tuple[Path, Path]:
        """Write ``table2.csv`` and ``table2.md`` into ``out_dir`` atomically."""
        out = Path(out_dir)
        paths = out / "table2.csv", out / "table2.md"
        for path, text in zip(paths, (self.to_csv(), self.to_markdown())):
            with atomic_path(path) as tmp:
                tmp.write_text(text, encoding="utf-8")
        return paths


def inside_change(images: torch.Tensor, edited: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean over samples of ‖M ⊙ (X′ − X)‖ / √(C ΣM): the RMS change per masked pixel and channel."""
    m = mask.to(images.device, images.dtype)
    norms = (m * (edited - images)).flatten(1).norm(dim=1)
    return float(norms.mean() / math.sqrt(images.shape[1] * float(m.sum())))


@dataclass
class _Candidate:
    label: str
    edit: Callable[[torch.Tensor, float], torch.Tensor]  # (latents, alpha) -> images
    alpha0: float
    alpha_max: float
    key: tuple | None = None  # set for region-independent candidates, whose α₀ images are cached


def _latent_candidates(G, result, name: str, n: int, batch_size: int) -> list[_Candidate]:
    d = math.prod(G.latent_shape)
    out = []
    for j in range(min(n, len(result))):
        direction = result[j]

        def edit(z, alpha, direction=direction):
            return G.synthesize(apply_direction(z, direction, alpha), batch_size=batch_size, progress=False)

        key = (name, j) if name in ("SeFa", "GANSpace") else None
        out.append(_Candidate(f"{name} direction {j}", edit, 1.0, 2.0 * math.sqrt(d), key))
    return out


def _panda_candidates(G, model, layer, Z_sel, mask, n: int, batch_size: int) -> list[_Candidate]:
    from ..editing.edits import local_edit, part_maps
    from ..editing.ranking import default_alpha

    maps = part_maps(model)  # (K, h, w) in [0, 1]
    up = F.interpolate(maps[:, None].float(), size=tuple(mask.shape), mode="bilinear", align_corners=False)[:, 0]
    m = mask.float()
    cosine = (up * m).flatten(1).sum(1) / (up.flatten(1).norm(dim=1) * m.norm()).clamp_min(1e-12)
    part = int(cosine.argmax())
    energy = model.transform(Z_sel).pow(2).mean(0)[:, part]  # (n_appearances,)
    appearances = torch.argsort(energy, descending=True, stable=True)[:n].tolist()
    alpha0 = default_alpha(Z_sel)
    out = []
    for j in appearances:
        unit = local_edit(model, (part, int(j), 1.0))

        def edit(z, alpha, unit=unit):
            return G.synthesize(z, edits={layer: alpha * unit}, batch_size=batch_size, progress=False)

        out.append(_Candidate(f"PandA part {part} × appearance {j}", edit, alpha0, 10.0 * alpha0))
    return out


def _calibrate(c: _Candidate, z, x0, mask, target: float, *, rtol: float = 0.05, max_iter: int = 5,
               cache: dict | None = None):
    """Step 2: (α, selection ROIR) with c(α) within ``rtol`` of ``target``; None if unreachable."""
    alpha = c.alpha0
    for step in range(max_iter):
        if step == 0 and cache is not None and c.key is not None:
            if c.key not in cache:
                cache[c.key] = c.edit(z, alpha)
            edited = cache[c.key]
        else:
            edited = c.edit(z, alpha)
        change = inside_change(x0, edited, mask)
        if abs(change / target - 1) <= rtol:
            return alpha, roir(x0, edited, mask).mean
        if not change > 0 or alpha >= c.alpha_max and change < target:
            return None
        alpha = min(alpha * target / change, c.alpha_max)
    return None


def _check_subset(name: str, values: Sequence[str], options: Sequence[str]) -> list[str]:
    """``values`` as a list if it is a non-empty subset of ``options``; else the near misses, then the options."""
    values = list(values)
    unknown = [v for v in values if v not in options]
    if unknown or not values:
        close = near_misses(unknown[0], options) if unknown else []
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise InvalidInputError(f"table2: {name} must be a non-empty subset of {tuple(options)}; got {values}{hint}")
    return values


@dataclass
class _Fitted:
    """What the methods compute once, before any region: SeFa's and GANSpace's directions,
    ReSeFa's Jacobians of the selection samples, the PandA model (and the selection features)."""

    directions: dict[str, Any] = field(default_factory=dict)
    jacobians: torch.Tensor | None = None
    model: Any = None
    Z_sel: torch.Tensor | None = None


def _fit_methods(G, methods: Sequence[str], z_sel: torch.Tensor, *, layer: str, n_candidates: int, n_parts: int,
                 fit_samples: int, resefa_samples: int, ganspace_samples: int, seed: int, progress: bool | None,
                 say: Callable[[str], None]) -> _Fitted:
    """Step 0 of the protocol: each method's region-independent work, one line said for each."""
    fitted = _Fitted()
    if "SeFa" in methods:
        fitted.directions["SeFa"] = result = sefa(G, k=n_candidates)
        say(f"SeFa: {result.info['layers']} → {len(result)} directions")
    if "GANSpace" in methods:
        fitted.directions["GANSpace"] = result = ganspace(G, n_samples=ganspace_samples, seed=seed, progress=progress)
        info = result.info
        say(f"GANSpace: incremental PCA of {info['layer']} on {info['n_samples']} samples ({info['k']} components), "
            f"regression on {info['n_regression']} fresh latents")
    if "PandA" in methods:
        from ..decomposition import fit_generator

        fitted.model = fit_generator(G, layer, n_samples=fit_samples, seed=seed, n_parts=n_parts, random_state=seed,
                                     progress=progress)
        with torch.no_grad():
            fitted.Z_sel = G.features(z_sel, layer, progress=False)
        say(f"PandA: fitted at {layer} on {fit_samples} samples ({n_parts} parts, "
            f"objective {fitted.model.objective_:.3f})")
    if "ReSeFa" in methods:
        fitted.jacobians = image_jacobians(G, z_sel[:resefa_samples], progress=progress)
        say(f"ReSeFa: Jacobians of {len(fitted.jacobians)} selection samples")
    return fitted


def _candidates(G, fitted: _Fitted, method: str, mask: torch.Tensor, z_resefa: torch.Tensor, *, layer: str, n: int,
                batch_size: int) -> list[_Candidate]:
    """Step 1: ``method``'s candidate edits for the region ``mask``, best first by its own score."""
    if method in ("SeFa", "GANSpace"):
        return _latent_candidates(G, fitted.directions[method], method, n, batch_size)
    if method == "ReSeFa":
        result = resefa(G, z_resefa, (mask >= 0.5).to(mask.dtype), k=n, jacobians=fitted.jacobians)
        return _latent_candidates(G, result, "ReSeFa", n, batch_size)
    return _panda_candidates(G, fitted.model, layer, fitted.Z_sel, mask, n, batch_size)


def _select(cands: list[_Candidate], z, x0, mask, target: float, *, cache: dict,
            where: tuple[str, str]) -> tuple[_Candidate, float, float]:
    """Steps 2 and 3: (the winner, its α, its selection ROIR) among the candidates that reach ``target``."""
    best = None
    for c in cands:
        got = _calibrate(c, z, x0, mask, target, cache=cache)
        if got is not None and (best is None or got[1] < best[2]):
            best = (c, got[0], got[1])
    if best is None:
        method, region = where
        raise InvalidStateError(
            f"table2: no {method} candidate of {len(cands)} reaches an in-region change of {target} for {region} "
            "under its strength cap; lower target_change or raise n_candidates"
        )
    return best


def table2(
    generator: Any = "dcgan-digiface",
    *,
    layer: str = "main.5",
    methods: Sequence[str] = METHODS,
    regions: Sequence[str] = REGIONS,
    n_eval: int = 1000,
    n_select: int = 32,
    n_candidates: int = 12,
    target_change: float = 0.2,
    n_parts: int = 8,
    fit_samples: int = 1000,
    resefa_samples: int = 16,
    ganspace_samples: int = 4000,
    swd_descriptors: int = 32,
    detector: Any = None,
    seed: int = 0,
    batch_size: int = 250,
    out_dir: str | Path | None = None,
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
) -> Table2Result:
    """Compute Table 2 (ROIR, SWD; FID with ``detector``) for PandA, SeFa, ReSeFa and GANSpace.

    The protocol is the module docstring's. Parameters not described there:

    Parameters
    ----------
    generator : str or Generator
        Default the embedded DigiFace DCGAN (the face masks are derived for it).
    methods, regions : sequences
        Subsets of :data:`METHODS` and ``("eyes", "nose", "mouth")``.
    detector : path or callable, optional
        Inception network for FID (see :func:`panda_viz.metrics.frechet.fid`); FID is left out
        without one.
    out_dir : path, optional
        Where to write ``table2.csv``, ``table2.md`` and ``table2_edits.png`` (the first
        evaluation samples edited by each chosen edit, and mean MSE maps), atomically.
    log : callable, optional
        Receives one line per step (the CLI prints them).

    Returns
    -------
    Table2Result
        ``rows`` (one :class:`Table2Row` per method and region), ``settings``, ``seconds``.
    """
    from ..generators import load_generator

    start = time.perf_counter()
    say = log or (lambda _msg: None)
    methods = _check_subset("methods", methods, METHODS)
    regions = _check_subset("regions", regions, REGIONS)
    for name, value, low in (("n_eval", n_eval, 2), ("n_select", n_select, 2), ("n_candidates", n_candidates, 1),
                             ("resefa_samples", resefa_samples, 1), ("n_parts", n_parts, 1),
                             ("fit_samples", fit_samples, 1), ("ganspace_samples", ganspace_samples, 1),
                             ("swd_descriptors", swd_descriptors, 1), ("seed", seed, 0), ("batch_size", batch_size, 1)):
        check_int(f"table2: {name}", value, low=low)
    check_float("table2: target_change", target_change)
    G = load_generator(generator)
    G.check_layer(layer)
    size = G.image_shape[-1]
    masks = {r: m for r, m in face_masks(size=size).items() if r in regions}
    settings = dict(generator=G.name, layer=layer, n_eval=n_eval, n_select=n_select, n_candidates=n_candidates,
                    target_change=target_change, n_parts=n_parts, fit_samples=fit_samples,
                    resefa_samples=min(resefa_samples, n_select), ganspace_samples=ganspace_samples,
                    swd_descriptors=swd_descriptors, seed=seed)

    with torch.no_grad():
        z_sel = G.sample_latents(n_select, seed=seed + 1)
        z_eval = G.sample_latents(n_eval, seed=seed + 2)
        x_sel = G.synthesize(z_sel, batch_size=batch_size, progress=False)
        x_eval = G.synthesize(z_eval, batch_size=batch_size, progress=progress)
    fitted = _fit_methods(G, methods, z_sel, layer=layer, n_candidates=n_candidates, n_parts=n_parts,
                          fit_samples=fit_samples, resefa_samples=resefa_samples, ganspace_samples=ganspace_samples,
                          seed=seed, progress=progress, say=say)

    rows = []
    cache: dict = {}
    examples: dict[tuple[str, str], tuple[torch.Tensor, torch.Tensor]] = {}
    cells = [(method, region) for region in regions for method in methods]
    for method, region in _progress(cells, total=len(cells), enabled=progress, n_samples=len(cells) * 1000, desc="table 2"):
        mask = masks[region].to(G.device)
        cands = _candidates(G, fitted, method, mask, z_sel[:resefa_samples], layer=layer, n=n_candidates,
                            batch_size=batch_size)
        with torch.no_grad():
            c, alpha, sel_score = _select(cands, z_sel, x_sel, mask, target_change, cache=cache, where=(method, region))
            edited = c.edit(z_eval, alpha)
        r = roir(x_eval, edited, mask)
        examples[method, region] = edited[:N_EXAMPLES].cpu(), ((edited - x_eval) ** 2).mean(1).mean(0).cpu()
        s = swd(x_eval, edited, descriptors_per_image=swd_descriptors, random_state=seed).mean
        f = _fid(x_eval, edited, detector=detector) if detector is not None else None
        rows.append(Table2Row(method, region, c.label, float(alpha), float(sel_score), inside_change(x_eval, edited, mask),
                              r.mean, r.std, r.n_unchanged, s, f))
        say(f"{region:5s} {method:8s} {c.label}: α={alpha:.3g}, ROIR {r.mean:.2f} ± {r.std:.2f}, SWD {s:.2f}")
    result = Table2Result(rows=rows, settings=settings, seconds=time.perf_counter() - start)
    if out_dir is not None:
        result.write(out_dir)
        write_figure(Path(out_dir) / "table2_edits.png", x_eval[:N_EXAMPLES].cpu(), examples, masks)
    return result


N_EXAMPLES = 4


def write_figure(path: Path, originals: torch.Tensor, examples: dict, masks: dict[str, torch.Tensor]) -> Path:
    """One block per region: the originals with the region overlaid, then each method's edits
    of the same samples and its mean squared-error map over all evaluation samples (PandA Fig. 7)."""
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
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    return path
