"""The PandA paper's Table 2 on the embedded generator: how local are the edits of PandA and the five baselines?

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
   - LowRankGAN: its directions for the region (:func:`~panda_viz.baselines.lowrankgan`,
     the official defaults: Robust PCA of M_f and M_b, L_f's principal space projected onto
     L_b's null space; as many as L_f's rank, best first by L_f's singular values), from the
     Jacobians of the first ``lowrankgan_samples`` selection samples (their M_f, M_b
     averaged; the official code takes one image) and the same binary box as ReSeFa's;
   - StyleSpace (style-based generators only; on others its row says
     :data:`NO_STYLE_SPACE`, as Table 1 marks it not architecture-agnostic): its
     best-scoring channels for the region (:func:`~panda_viz.baselines.stylespace`, official
     detection on the first ``stylespace_samples`` selection samples, every region's binary
     box at once so they compete in the vote; the locally-active ones, score ≥ 0.5, come
     first), each edited alone by α·σ_c (:func:`~panda_viz.baselines.edit_styles`; σ_c over
     :data:`STYLE_SIGMA_SAMPLES` fresh samples, seed ``seed + 3``);
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
   α ← α · target / c(α) until c(α) is within 5 % of the target (at most 5 syntheses);
   α₀ is 1 σ for a StyleSpace channel.
   α is capped (|α| ≤ 2√d in latent space, ≤ 10 α₀ for PandA, ≤ 30 σ for StyleSpace); a candidate that does not
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

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from .._checks import check_float, check_int, check_option_mapping, near_misses
from ..baselines import (
    apply_direction,
    edit_styles,
    ganspace,
    image_jacobians,
    lowrankgan,
    lowrankgan_jacobians,
    resefa,
    sefa,
    stylespace,
)
from ..exceptions import InvalidInputError, InvalidStateError
from ..generators.styles import is_style_based
from ..metrics import fid as _fid
from ..metrics import roir, swd
from ..runtime.progress import progress as _progress
from .regions import REGIONS, face_masks
from .table2_figure import N_EXAMPLES, write_figure
from .table2_result import NO_STYLE_SPACE, Table2Result, Table2Row

__all__ = ["table2", "Table2Row", "Table2Result", "METHODS", "NO_STYLE_SPACE", "inside_change"]

#: The methods, in the rows' order: the paper's Table 2 (SeFa, GANSpace, StyleSpace,
#: LowRankGAN, then PandA), with ReSeFa, which the paper does not compare with, before PandA.
METHODS = ("SeFa", "GANSpace", "StyleSpace", "LowRankGAN", "ReSeFa", "PandA")
#: StyleSpace's strength cap, in units of the channel's σ.
STYLE_ALPHA_MAX = 30.0
#: Samples StyleSpace's σ_c are taken over (seeds ``seed + 3``; the official code uses 100,000).
STYLE_SIGMA_SAMPLES = 1000


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

        key = (name, j) if name in ("SeFa", "GANSpace") else None  # region-independent: α₀ images cached
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
    lowrank_jacobians: torch.Tensor | None = None
    channels: Any = None  # StyleSpaceChannels
    model: Any = None
    Z_sel: torch.Tensor | None = None


def _fit_methods(G, methods: Sequence[str], z_sel: torch.Tensor, *, layer: str, n_candidates: int, n_parts: int,
                 fit_samples: int, resefa_samples: int, ganspace_samples: int, seed: int, progress: bool | None,
                 say: Callable[[str], None], masks: Mapping[str, torch.Tensor], lowrankgan_samples: int,
                 stylespace_samples: int) -> _Fitted:
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
    if "LowRankGAN" in methods:
        fitted.lowrank_jacobians = lowrankgan_jacobians(G, z_sel[:lowrankgan_samples], progress=progress)
        say(f"LowRankGAN: Jacobians of {len(fitted.lowrank_jacobians)} selection samples (colours averaged)")
    if "StyleSpace" in methods and is_style_based(G):
        boxes = {r: (m >= 0.5).to(m.dtype) for r, m in masks.items()}
        with torch.no_grad():
            z_sigma = G.sample_latents(STYLE_SIGMA_SAMPLES, seed=seed + 3)
        fitted.channels = stylespace(G, z_sel[:stylespace_samples], boxes, sigma_latents=z_sigma, progress=progress)
        say(f"StyleSpace: gradient maps of {sum(fitted.channels.layers.values())} style channels on "
            f"{fitted.channels.n_samples} selection samples")
    return fitted


def _style_candidates(G, channels, region: str, n: int, batch_size: int) -> list[_Candidate]:
    """StyleSpace's ``n`` best channels for ``region`` (the locally-active first), each moved alone by α·σ_c."""
    out = []
    for layer, channel, score in channels.top(region, n, threshold=0.0):
        def edit(z, alpha, layer=layer, channel=channel):
            return edit_styles(G, z, [(layer, channel, alpha)], sigma=channels, batch_size=batch_size, progress=False)

        out.append(_Candidate(f"StyleSpace {layer} channel {channel} (score {score:.2f})", edit, 1.0, STYLE_ALPHA_MAX))
    return out


def _candidates(G, fitted: _Fitted, method: str, mask: torch.Tensor, z_sel: torch.Tensor, *, region: str,
                resefa_samples: int, layer: str, n: int, batch_size: int,
                lowrankgan_options: Mapping[str, Any]) -> list[_Candidate]:
    """Step 1: ``method``'s candidate edits for the region ``mask``, best first by its own score."""
    if method in ("SeFa", "GANSpace"):
        return _latent_candidates(G, fitted.directions[method], method, n, batch_size)
    box = (mask >= 0.5).to(mask.dtype)
    if method == "ReSeFa":
        result = resefa(G, z_sel[:resefa_samples], box, k=n, jacobians=fitted.jacobians)
        return _latent_candidates(G, result, "ReSeFa", n, batch_size)
    if method == "LowRankGAN":
        z = z_sel[:len(fitted.lowrank_jacobians)]
        result = lowrankgan(G, z, box, jacobians=fitted.lowrank_jacobians, **lowrankgan_options)
        return _latent_candidates(G, result, "LowRankGAN", n, batch_size)
    if method == "StyleSpace":
        return _style_candidates(G, fitted.channels, region, n, batch_size)
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


def _not_available(method: str, region: str) -> Table2Row:
    nan = math.nan
    return Table2Row(method, region, NO_STYLE_SPACE, nan, nan, nan, nan, nan, 0, nan, None, note=NO_STYLE_SPACE)


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
    lowrankgan_samples: int = 16,
    stylespace_samples: int = 32,
    ganspace_samples: int = 4000,
    swd_descriptors: int = 32,
    lowrankgan_options: Mapping[str, Any] | None = None,
    detector: Any = None,
    seed: int = 0,
    batch_size: int = 250,
    out_dir: str | Path | None = None,
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
) -> Table2Result:
    """Compute Table 2 (ROIR, SWD; FID with ``detector``) for the six methods of :data:`METHODS`.

    The protocol is the module docstring's. Parameters not described there:

    Parameters
    ----------
    generator : str or Generator
        Default the embedded DigiFace DCGAN (the face masks are derived for it).
    methods, regions : sequences
        Subsets of :data:`METHODS` and ``("eyes", "nose", "mouth")``; rows follow
        :data:`METHODS`' order whatever the order given.
    lowrankgan_samples, stylespace_samples : int
        Selection samples whose Jacobians (LowRankGAN) and gradient maps (StyleSpace) the
        directions and channel scores come from (at most ``n_select``).
    lowrankgan_options : mapping, optional
        Keyword options for :func:`~panda_viz.baselines.lowrankgan` (default none: the
        official ones).
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
        ``rows`` (one :class:`Table2Row` per method and region; StyleSpace's say
        :data:`NO_STYLE_SPACE` on a generator without a style space), ``settings``, ``seconds``.
    """
    from ..generators import load_generator

    start = time.perf_counter()
    say = log or (lambda _msg: None)
    methods = [m for m in METHODS if m in _check_subset("methods", methods, METHODS)]
    regions = _check_subset("regions", regions, REGIONS)
    for name, value, low in (("n_eval", n_eval, 2), ("n_select", n_select, 2), ("n_candidates", n_candidates, 1),
                             ("resefa_samples", resefa_samples, 1), ("lowrankgan_samples", lowrankgan_samples, 1),
                             ("stylespace_samples", stylespace_samples, 1), ("n_parts", n_parts, 1),
                             ("fit_samples", fit_samples, 1), ("ganspace_samples", ganspace_samples, 1),
                             ("swd_descriptors", swd_descriptors, 1), ("seed", seed, 0), ("batch_size", batch_size, 1)):
        check_int(f"table2: {name}", value, low=low)
    check_float("table2: target_change", target_change)
    options = check_option_mapping("table2: lowrankgan_options", lowrankgan_options)
    G = load_generator(generator)
    G.check_layer(layer)
    size = G.image_shape[-1]
    masks = {r: m.to(G.device) for r, m in face_masks(size=size).items() if r in regions}
    settings = dict(generator=G.name, layer=layer, n_eval=n_eval, n_select=n_select, n_candidates=n_candidates,
                    target_change=target_change, n_parts=n_parts, fit_samples=fit_samples,
                    resefa_samples=min(resefa_samples, n_select), lowrankgan_samples=min(lowrankgan_samples, n_select),
                    stylespace_samples=min(stylespace_samples, n_select), ganspace_samples=ganspace_samples,
                    swd_descriptors=swd_descriptors, seed=seed)
    if options:
        settings["lowrankgan_options"] = options

    with torch.no_grad():
        z_sel = G.sample_latents(n_select, seed=seed + 1)
        z_eval = G.sample_latents(n_eval, seed=seed + 2)
        x_sel = G.synthesize(z_sel, batch_size=batch_size, progress=False)
        x_eval = G.synthesize(z_eval, batch_size=batch_size, progress=progress)
    fitted = _fit_methods(G, methods, z_sel, layer=layer, n_candidates=n_candidates, n_parts=n_parts,
                          fit_samples=fit_samples, resefa_samples=resefa_samples, ganspace_samples=ganspace_samples,
                          seed=seed, progress=progress, say=say, masks=masks, lowrankgan_samples=lowrankgan_samples,
                          stylespace_samples=stylespace_samples)

    rows = []
    cache: dict = {}
    examples: dict[tuple[str, str], tuple[torch.Tensor, torch.Tensor]] = {}
    cells = [(method, region) for region in regions for method in methods]
    for method, region in _progress(cells, total=len(cells), enabled=progress, n_samples=len(cells) * 1000, desc="table 2"):
        if method == "StyleSpace" and fitted.channels is None:
            rows.append(_not_available(method, region))
            say(f"{region:5s} {method:10s} {NO_STYLE_SPACE} ({G.name})")
            continue
        mask = masks[region]
        cands = _candidates(G, fitted, method, mask, z_sel, region=region, resefa_samples=resefa_samples, layer=layer,
                            n=n_candidates, batch_size=batch_size, lowrankgan_options=options)
        with torch.no_grad():
            c, alpha, sel_score = _select(cands, z_sel, x_sel, mask, target_change, cache=cache, where=(method, region))
            edited = c.edit(z_eval, alpha)
        row = _measure(method, region, c.label, alpha, sel_score, x_eval, edited, mask, detector=detector,
                       swd_descriptors=swd_descriptors, seed=seed)
        rows.append(row)
        examples[method, region] = edited[:N_EXAMPLES].cpu(), ((edited - x_eval) ** 2).mean(1).mean(0).cpu()
        say(f"{region:5s} {method:10s} {c.label}: α={alpha:.3g}, ROIR {row.roir_mean:.2f} ± {row.roir_std:.2f}, "
            f"SWD {row.swd:.2f}")
    result = Table2Result(rows=rows, settings=settings, seconds=time.perf_counter() - start)
    if out_dir is not None:
        result.write(out_dir)
        write_figure(Path(out_dir) / "table2_edits.png", x_eval[:N_EXAMPLES].cpu(), examples,
                     {r: m.cpu() for r, m in masks.items()})
    return result


def _measure(method: str, region: str, label: str, alpha: float, sel_score: float, x_eval: torch.Tensor,
             edited: torch.Tensor, mask: torch.Tensor, *, detector: Any, swd_descriptors: int, seed: int) -> Table2Row:
    """Step 4: the chosen edit's ROIR, achieved change, SWD (and FID) on the evaluation samples."""
    r = roir(x_eval, edited, mask)
    s = swd(x_eval, edited, descriptors_per_image=swd_descriptors, random_state=seed).mean
    f = _fid(x_eval, edited, detector=detector) if detector is not None else None
    return Table2Row(method, region, label, float(alpha), float(sel_score), inside_change(x_eval, edited, mask),
                     r.mean, r.std, r.n_unchanged, s, f)
