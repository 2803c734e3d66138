"""LowRankGAN (Zhu et al., NeurIPS 2021): region directions from the low-rank subspaces of image Jacobians.

For an image x = G(w) with Jacobian J = ∂x/∂w and a region, let J_f be the rows of J inside
the region and J_b those outside, and M_f = J_fᵀJ_f / n_f, M_b = J_bᵀJ_b / n_b. Robust PCA
splits each into low-rank plus sparse (:mod:`.robust_pca`); the top singular vectors of the
low-rank L_f span the directions that change the region, the trailing ones of L_b the
directions that leave the background alone (its null space). LowRankGAN's directions are
L_f's principal directions projected onto L_b's null space.

**Default: the official pipeline** (github.com/zhujiapeng/LowRankGAN: ``compute_jacobian.py``
and ``compute_directions.py`` run as their default commands; ``RobustPCA.py``):

- the Jacobian is with respect to w for a style-based generator, one w broadcast to every
  layer (``compute_jacobian.py`` tiles ``latent_w`` over ``num_layers`` and differentiates with
  respect to it): load an NVlabs StyleGAN2/3 with ``latent_space="w"``, or ``"w+"``, where the
  Jacobian is with respect to one w added to every layer; with respect to z for a generator
  without a W space (the embedded DCGAN, PGGAN). A style-based generator given z latents is
  differentiated with respect to z, which is the official ``--compute_z`` variant;
- the image is resized to 256 × 256 before differentiating whenever it is not that size
  (``--image_size 256``), by TensorFlow 1's nearest-neighbour rule
  (:func:`~panda_viz.baselines.resefa.nearest_indices`), and its colour channels are
  averaged (``--fused_channel``, on by default): one Jacobian row a pixel;
- the region is the pixels where the mask is exactly 1 (``np.where(mask == 1)``), the
  background those where it is exactly 0 (``np.where((1 - mask) == 1)``);
- M_f = J_fᵀJ_f / n_f and M_b = J_bᵀJ_b / n_b (n the pixel counts);
- Robust PCA by the official ADMM (λ = 1/60, μ = d² / (4‖M‖₁), stop at
  ‖L + S − M‖_F ≤ 10⁻⁷‖M‖_F or 10,000 iterations) on each;
- rank_f, rank_b by ``np.linalg.matrix_rank`` (singular values above σ_max · d · ε);
- the principal space is the first rank_f right singular vectors of L_f (``VHf[:rank_f]``),
  the null space the right singular vectors of L_b after the first
  min(max(1, rank_b − num_relax), d − 1) (``num_relax`` 0); each principal direction is
  projected onto that null space and normalised.

Images smaller than 256 px are not upsampled: the official nearest-neighbour upsampling of
an H-pixel image to 256 (H dividing 256) repeats every Jacobian row (256/H)² times in
region and background alike, which leaves M_f and M_b unchanged for a mask given at the
image's resolution (a test checks it). Other sizes are resized as the official code does.

**What departs from the official code, and why:**

- Several latents: the official code computes one set of directions per image. Passing one
  latent gives exactly those; with several, their M_f and M_b are averaged and one set of
  directions is computed (directions local on average), as :func:`.resefa` does.
- M_f and M_b are computed in float64 from the Jacobian (the official ``np.load`` keeps the
  float32 Jacobian and forms JᵀJ in float32 before Robust PCA turns it float64).
- The Robust PCA solver: ``solver="eigh"`` (default) runs the same ADMM iterates through
  eigendecompositions, about twice as fast (exact for the symmetric M_f, M_b; see
  :mod:`.robust_pca`); ``solver="svd"`` is the official iteration as written.
- Signs: each direction is flipped so its largest-magnitude entry is positive (singular
  vectors have no sign), as every baseline here does; its unprojected principal direction
  is flipped with it.
- ``mask_mode="soft"`` (not official) weighs the rows by the mask and 1 − mask, as
  :func:`.region_grams` does for ReSeFa.

Editing as the official ``manipulate.py`` does: ``apply_direction(ws, result[j], alpha,
layers=EDIT_LAYERS)`` on w+ latents, at distances :data:`EDIT_DISTANCES`.
"""

from __future__ import annotations

import math
import warnings

import torch

from .._checks import check_bool, check_int
from ..exceptions import ConvergenceWarning, InvalidInputError, InvalidTypeError
from ..generators.base import Generator
from ..generators.inverted import Inversion
from ._directions import Directions, fix_signs
from .resefa import (
    MASK_MODES,
    check_mask,
    image_jacobians,
    nearest_indices,
    region_grams,
)
from .robust_pca import (
    DEFAULT_LAMBDA,
    DEFAULT_MAX_ITER,
    DEFAULT_TOL,
    check_robust_pca_options,
    robust_pca,
)

__all__ = ["lowrankgan", "lowrankgan_jacobians", "lowrank_directions", "EDIT_LAYERS", "EDIT_DISTANCES", "IMAGE_SIZE"]

#: The official ``--image_size``: images are resized to 256 × 256 before differentiating.
IMAGE_SIZE = 256
#: The w+ layers the official ``manipulate.py`` edits (``--mani_layers 4,5,6,7``).
EDIT_LAYERS = (4, 5, 6, 7)
#: The official edit distances: ``np.linspace(-4, 4, 7)`` (``--start_distance``, ``--end_distance``, ``--step``).
EDIT_DISTANCES = (-4.0, -8 / 3, -4 / 3, 0.0, 4 / 3, 8 / 3, 4.0)


def _per_layer(generator: Generator) -> bool:
    """Whether the latents are w+ (num_ws, w_dim), differentiated as one w for every layer."""
    return getattr(generator, "latent_space", None) == "w+" and len(generator.latent_shape) == 2


def _latent_dim(generator: Generator) -> int:
    return generator.latent_shape[-1] if _per_layer(generator) else math.prod(generator.latent_shape)


def _resized_size(image_hw: tuple[int, int], image_size: int | None) -> tuple[int, int]:
    """The Jacobian's resolution: ``image_size`` unless the resize is the identity or a pure
    repetition of rows (an image whose sides divide ``image_size``: see the module docstring)."""
    h, w = image_hw
    if image_size is None or (h, w) == (image_size, image_size):
        return h, w
    if h < image_size and w < image_size and image_size % h == 0 and image_size % w == 0:
        return h, w
    return image_size, image_size


def _check_image_options(image_size, fused_channel) -> None:
    check_int(f"image_size (official: {IMAGE_SIZE})", image_size, low=1, allow_none=True)
    check_bool("fused_channel (official: True)", fused_channel)


def lowrankgan_jacobians(
    generator: Generator,
    latents: torch.Tensor,
    *,
    image_size: int | None = IMAGE_SIZE,
    fused_channel: bool = True,
    batch_size: int = 8,
    progress: bool | None = None,
) -> torch.Tensor:
    """The Jacobians LowRankGAN differentiates, as ``compute_jacobian.py`` computes them.

    Reuse them for several regions: ``lowrankgan(G, z, mask, jacobians=J)``.

    Parameters
    ----------
    generator : Generator
    latents : Tensor (N, *latent_shape)
    image_size : int or None
        Resize to ``image_size`` × ``image_size`` first (official 256; images whose sides
        divide it are left as they are, which changes nothing: see the module docstring).
        None: never resize.
    fused_channel : bool
        Average the colour channels (official True).
    batch_size, progress
        For :func:`~panda_viz.baselines.resefa.image_jacobians`.

    Returns
    -------
    Tensor (N, C, H', W', d), float32 like the generator
        C = 1 with ``fused_channel`` (else 3); d = w_dim for w+ latents (one w for every
        layer), prod(latent_shape) otherwise.
    """
    _check_image_options(image_size, fused_channel)
    latents = _check_latents(generator, latents)
    size = _resized_size(tuple(generator.image_shape[1:]), image_size)
    basis = None
    if _per_layer(generator):
        layers, w_dim = generator.latent_shape
        eye = torch.eye(w_dim, dtype=latents.dtype, device=latents.device)
        basis = eye[:, None, :].expand(w_dim, layers, w_dim)  # δ ↦ the same δ on every layer
    resize = None if size == tuple(generator.image_shape[1:]) else size[0]
    return image_jacobians(generator, latents, batch_size=batch_size, progress=progress, image_size=resize,
                           fused_channel=fused_channel, basis=basis)


def _check_num_relax(num_relax) -> None:
    check_int("num_relax (official: 0)", num_relax, low=0)


def _check_latents(generator: Generator, latents) -> torch.Tensor:
    if isinstance(latents, Inversion):
        raise InvalidTypeError(
            "LowRankGAN differentiates the generator's own images: pass latents (e.g. inversion.latents), "
            "not an Inversion (its photo residual is not part of the generator's Jacobian)"
        )
    return generator.check_latents(latents)


def _mask_at(mask, image_hw: tuple[int, int], jac_hw: tuple[int, int]):
    """The mask at the Jacobian's resolution: given there, or at the image's and resized the same way."""
    if jac_hw == image_hw:
        return mask
    shape = tuple(getattr(mask, "shape", ()))
    if shape[-2:] == jac_hw:
        return mask
    if shape[-2:] != image_hw:
        raise InvalidInputError(
            f"mask at the image resolution {image_hw} or at the Jacobian's {jac_hw} expected (shape (H, W), (1, H, W) "
            f"or (N, H, W)); got {shape or type(mask).__name__}"
        )
    mask = torch.as_tensor(mask)
    return mask[..., nearest_indices(image_hw[0], jac_hw[0]), :][..., nearest_indices(image_hw[1], jac_hw[1])]


def _matrix_rank_and_vh(L: torch.Tensor) -> tuple[int, torch.Tensor, torch.Tensor]:
    """``np.linalg.matrix_rank(L)`` (σ > σ_max · max(d₁, d₂) · ε) and ``np.linalg.svd(L)``'s s and VH."""
    _, s, VH = torch.linalg.svd(L)
    rank = int((s > s.max() * max(L.shape) * torch.finfo(L.dtype).eps).sum()) if s.numel() and s.max() > 0 else 0
    return rank, s, VH


def lowrankgan(
    generator: Generator,
    latents: torch.Tensor,
    mask,
    *,
    lam: float | None = DEFAULT_LAMBDA,
    max_iter: int = DEFAULT_MAX_ITER,
    tol: float = DEFAULT_TOL,
    num_relax: int = 0,
    solver: str = "eigh",
    image_size: int | None = IMAGE_SIZE,
    fused_channel: bool = True,
    mask_mode: str = "binary",
    jacobians: torch.Tensor | None = None,
    batch_size: int = 8,
    progress: bool | None = None,
) -> Directions:
    """LowRankGAN's directions for a region: L_f's principal space projected onto L_b's null space.

    The defaults are the official code's (see the module docstring): W Jacobians of the
    image resized to 256 px with its colours averaged, the pixels exactly 1 and exactly 0 as
    region and background, Robust PCA with λ = 1/60, a 10⁻⁷ tolerance and 10,000
    iterations, ranks by ``matrix_rank``, ``num_relax`` 0.

    Parameters
    ----------
    generator : Generator
    latents : Tensor (N, *latent_shape)
        The official code computes one set of directions per image: pass one latent for
        exactly that. With several, their M_f and M_b are averaged (not in the official
        code), as for :func:`.resefa`.
    mask : Tensor (H, W), (1, H, W) or (N, H, W), values in [0, 1]
        The region, at the image resolution (or, for an image larger than ``image_size``,
        at ``image_size``). The region is the pixels exactly 1, the background those
        exactly 0; pixels in between count as neither (a warning says how many).
    lam, max_iter, tol
        Robust PCA's λ (official 1/60; None: 1/√d), most iterations (10,000) and relative
        tolerance (1e-7): :func:`~panda_viz.baselines.robust_pca.robust_pca`.
    num_relax : int
        The official ``--num_relax``: how many of L_b's principal directions to leave out of
        what the projection removes (0: all rank_b; at least 1 is always removed).
    solver : {"eigh", "svd"}
        Robust PCA's solver: the official iteration through eigendecompositions (default,
        the same iterates, faster) or through a full SVD per iteration, as written.
    image_size : int or None
        The official 256: the resolution the image is resized to before differentiating
        (:func:`lowrankgan_jacobians`). None: never resize.
    fused_channel : bool
        Average the colour channels (official True); False: every channel's rows count.
    mask_mode : {"binary", "soft"}
        ``"binary"`` (official) or ``"soft"`` (rows weighted by mask and 1 − mask; not official).
    jacobians : Tensor (N, C, H', W', d), optional
        :func:`lowrankgan_jacobians` of ``latents``, to reuse for several regions (then
        ``image_size``, ``fused_channel``, ``batch_size`` and ``progress`` are not used).
    batch_size, progress
        For :func:`lowrankgan_jacobians`.

    Returns
    -------
    Directions
        ``directions`` (rank_f, d) float64 (d = w_dim for w / w+ latents, shaped like the
        latent otherwise), unit rows, in the order of L_f's singular values, which are the
        ``scores``. ``method`` ``"lowrankgan"``. ``info``:

        - ``principal``: the unprojected principal directions (rank_f, d), signs matching;
        - ``rank_f``, ``rank_b``: the ranks of L_f and L_b; ``relax``: the leading
          directions of L_b removed;
        - ``n_iter_f``, ``n_iter_b``, ``converged_f``, ``converged_b``, ``residual_f``,
          ``residual_b``, ``tolerance_f``, ``tolerance_b``: how each Robust PCA ended;
        - ``fg``, ``bg`` (M_f, M_b), ``low_rank_f``, ``low_rank_b`` (L_f, L_b), all (d, d);
        - ``rows`` (each sample's pixel counts (n_f, n_b)), ``n_samples``, ``latent``
          (``"w"``, ``"w for every layer of w+"`` or ``"latent"``), and the options.

    Warns
    -----
    ConvergenceWarning
        A Robust PCA stopped at ``max_iter`` above its tolerance (the official code stops
        there too, silently, and uses that L).

    Raises
    ------
    InvalidInputError
        Bad options; a mask of the wrong size, with no pixel exactly 1 (no region) or none
        exactly 0 (no background); a region whose low-rank part is zero; a principal
        direction inside the background's principal space (its projection is zero).
    NonFiniteError
        NaN or infinite latents.
    """
    latents = _check_latents(generator, latents)
    lam = check_robust_pca_options(lam=lam, max_iter=max_iter, tol=tol, solver=solver)
    _check_num_relax(num_relax)
    if mask_mode not in MASK_MODES:
        raise InvalidInputError(f"Invalid mask_mode: got {mask_mode!r} instead of one of {set(MASK_MODES)}")
    _check_image_options(image_size, fused_channel)
    d = _latent_dim(generator)
    image_hw = tuple(generator.image_shape[1:])
    if jacobians is None:
        jac_hw = _resized_size(image_hw, image_size)
    elif not isinstance(jacobians, torch.Tensor) or jacobians.ndim != 5 or len(jacobians) != len(latents) \
            or jacobians.shape[-1] != d:
        got = tuple(jacobians.shape) if isinstance(jacobians, torch.Tensor) else type(jacobians).__name__
        raise InvalidInputError(
            f"jacobians of shape ({len(latents)}, C, H, W, {d}) (lowrankgan_jacobians) expected for "
            f"{len(latents)} latents; got {got}"
        )
    else:
        jac_hw = tuple(jacobians.shape[2:4])
    mask = _mask_at(mask, image_hw, jac_hw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # region_grams checks (and warns about) the mask once, below
        check_mask(mask, len(latents), jac_hw, mask_mode)
    if jacobians is None:
        jacobians = lowrankgan_jacobians(generator, latents, image_size=image_size, fused_channel=fused_channel,
                                         batch_size=batch_size, progress=progress)
    fg, bg, rows = region_grams(jacobians, mask, mask_mode=mask_mode)

    result = lowrank_directions(fg, bg, lam=lam, max_iter=max_iter, tol=tol, num_relax=num_relax, solver=solver)
    latent = ("w for every layer of w+" if _per_layer(generator)
              else "w" if getattr(generator, "latent_space", None) == "w" else "latent")
    shape = (d,) if _per_layer(generator) else generator.latent_shape
    k = len(result)
    info = dict(result.info)
    info["principal"] = info["principal"].reshape(k, *shape)
    info.update({"rows": rows, "n_samples": len(latents), "latent": latent, "image_size": image_size,
                 "jacobian_size": jac_hw, "fused_channel": fused_channel, "mask_mode": mask_mode})
    return Directions(directions=result.directions.reshape(k, *shape), scores=result.scores, method="lowrankgan", info=info)


def lowrank_directions(
    fg: torch.Tensor,
    bg: torch.Tensor,
    *,
    lam: float | None = DEFAULT_LAMBDA,
    max_iter: int = DEFAULT_MAX_ITER,
    tol: float = DEFAULT_TOL,
    num_relax: int = 0,
    solver: str = "eigh",
) -> Directions:
    """LowRankGAN's directions from M_f and M_b: ``compute_directions.py`` after the Jacobian.

    Robust PCA of each (:func:`~panda_viz.baselines.robust_pca.robust_pca`), ranks by
    ``matrix_rank``, the first rank_f right singular vectors of L_f projected onto the
    right singular vectors of L_b after its first min(max(1, rank_b − num_relax), d − 1),
    rows normalised; signs fixed so each row's largest-magnitude entry is positive.

    Parameters
    ----------
    fg, bg : Tensor (d, d)
        M_f and M_b (:func:`~panda_viz.baselines.resefa.region_grams`), symmetric for
        ``solver="eigh"``.
    lam, max_iter, tol, num_relax, solver
        As for :func:`lowrankgan`.

    Returns
    -------
    Directions
        ``directions`` (rank_f, d) float64, ``scores`` L_f's top rank_f singular values,
        ``info`` as :func:`lowrankgan` describes (without the Jacobian's entries).

    Warns
    -----
    ConvergenceWarning
        A Robust PCA stopped at ``max_iter`` above its tolerance.
    """
    lam = check_robust_pca_options(lam=lam, max_iter=max_iter, tol=tol, solver=solver)
    _check_num_relax(num_relax)
    for name, M in (("fg", fg), ("bg", bg)):
        if not isinstance(M, torch.Tensor) or M.ndim != 2 or M.shape[0] != M.shape[1] or M.shape != fg.shape:
            got = tuple(M.shape) if isinstance(M, torch.Tensor) else type(M).__name__
            raise InvalidInputError(f"{name} of shape (d, d), the same for fg and bg, expected; got {got}")
    d = fg.shape[0]
    fits = {part: robust_pca(M, lam=lam, max_iter=max_iter, tol=tol, solver=solver, warn=False)
            for part, M in (("f", fg), ("b", bg))}
    late = [f"{name} (‖L + S − M‖_F = {fits[p].residual:.3g} > {fits[p].tolerance:.3g})"
            for p, name in (("f", "region's M_f"), ("b", "background's M_b")) if not fits[p].converged]
    if late:
        warnings.warn(
            f"Robust PCA stopped at max_iter={max_iter} before its tolerance for the {' and the '.join(late)}; "
            "the official LowRankGAN code stops there too and uses that low-rank part",
            ConvergenceWarning,
            stacklevel=2,
        )
    L_f, L_b = fits["f"].low_rank, fits["b"].low_rank
    rank_f, s_f, VH_f = _matrix_rank_and_vh(L_f)
    rank_b, _, VH_b = _matrix_rank_and_vh(L_b)
    if rank_f == 0:
        raise InvalidInputError(
            f"the region's low-rank part L_f is zero (Robust PCA with λ = {fits['f'].lam:.4g} put all of M_f in the "
            "sparse part): there are no principal directions to edit the region with"
        )
    principal = VH_f[:rank_f]  # principal space of the region
    relax = min(max(1, rank_b - num_relax), d - 1)
    null = VH_b[relax:].T  # null space of the background
    projected = (null @ (null.T @ principal.T)).T
    norms = projected.norm(dim=1, keepdim=True)
    zero = torch.nonzero(norms.flatten() <= 1e-12).flatten().tolist()
    if zero:
        raise InvalidInputError(
            f"principal direction(s) {zero} of the region lie in the background's principal space (rank_b = {rank_b}, "
            f"{relax} directions removed): their projection onto its null space is zero; raise num_relax"
        )
    projected = projected / norms
    signed = fix_signs(projected)
    principal = principal * torch.sign((signed * projected).sum(1, keepdim=True))
    return Directions(
        directions=signed,
        scores=s_f[:rank_f].clone(),
        method="lowrankgan",
        info={
            "principal": principal, "rank_f": rank_f, "rank_b": rank_b, "relax": relax,
            "n_iter_f": fits["f"].n_iter, "n_iter_b": fits["b"].n_iter,
            "converged_f": fits["f"].converged, "converged_b": fits["b"].converged,
            "residual_f": fits["f"].residual, "residual_b": fits["b"].residual,
            "tolerance_f": fits["f"].tolerance, "tolerance_b": fits["b"].tolerance,
            "fg": fg, "bg": bg, "low_rank_f": L_f, "low_rank_b": L_b,
            "lam": fits["f"].lam, "max_iter": max_iter, "tol": tol, "num_relax": num_relax, "solver": solver,
        },
    )
