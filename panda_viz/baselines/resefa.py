"""ReSeFa (Zhu et al., ECCV 2022): region-based latent directions from image Jacobians.

For an image x = G(z) with Jacobian J = ∂x/∂z and a region of interest, moving z along n
changes the region by about ‖J_f n‖² and the rest by ‖J_b n‖², where J_f and J_b are the
rows of J (pixel × colour channel) inside and outside the region. ReSeFa's directions
maximise the generalised Rayleigh quotient nᵀ M_f n / nᵀ M_b n, i.e. solve

    M_f n = λ M_b n,      M_f = J_fᵀ J_f / n_f,   M_b = J_bᵀ J_b / n_b,

with n_f, n_b the row counts of J_f and J_b.

**Default: the official code** (github.com/zhujiapeng/resefa, ``compute_direction.py``,
``main``, run as its default command, without ``--full_rank``):

- the region is the pixels where the mask is exactly 1 (``np.where(mask == 1)``), the
  background those where it is exactly 0 (``np.where((1 - mask) == 1)``); pixels in between
  belong to neither;
- ``M_f = coef_f · J_foreᵀ J_fore`` with ``coef_f = 1 / rows``, likewise ``M_b``: the
  scores (eigenvalues) are divided by the row counts;
- no regularisation: ``eig(inv(M_b) · M_f)``, eigenvalues and unit eigenvectors sorted by
  decreasing eigenvalue.

**Options that depart from it:**

- ``regularization=τ``: the paper's regularised variant (its Eqs. 10–12, the official
  ``--full_rank --tao τ``; the paper and that flag use τ = 1e−3): M_b + τ·tr(M_b)·I, whose
  inverse comes from the Sherman–Morrison–Woodbury formula on the truncated SVD of J_b.
  Needed when J_b has fewer rows than the latent has entries (a tiny background).
- ``mask_mode="soft"``: soft masks weight the rows, J_f = M ⊙ J and J_b = (1 − M) ⊙ J
  (as ROIR weighs pixels), with row counts C·ΣM and C·Σ(1 − M).

The directions are the same for any positive scaling of M_f and M_b, so the row-count
scaling changes the scores only (by n_b/n_f), never the directions.
"""

from __future__ import annotations

import math
import warnings

import torch

from .._checks import check_bool, check_choice, check_float, check_int
from ..exceptions import InvalidInputError, InvalidTypeError
from ..generators.base import Generator
from ..runtime.progress import progress as _progress
from ._directions import Directions, fix_signs

__all__ = ["resefa", "image_jacobians", "nearest_indices", "check_mask", "region_grams", "generalized_eigh", "MASK_MODES"]

#: ``"binary"``: the official rule (exact 1 region, exact 0 background); ``"soft"``: weights.
MASK_MODES = ("binary", "soft")


def nearest_indices(size_in: int, size_out: int) -> torch.Tensor:
    """The source rows (or columns) of a nearest-neighbour resize from ``size_in`` to ``size_out``.

    The rule of TensorFlow 1's ``tf.image.resize_images(..., method=1)`` (nearest neighbour,
    no corner alignment, no half-pixel centres), which the official LowRankGAN
    ``compute_jacobian.py`` uses: output index i reads input index ⌊i · size_in / size_out⌋
    (computed in integers; TensorFlow's float32 scale is exact for ``size_out`` = 256).
    From 1024 to 256 it keeps every fourth row, starting with the first.

    Returns
    -------
    Tensor (size_out,), int64
    """
    return torch.arange(size_out) * size_in // size_out


def image_jacobians(
    generator: Generator,
    latents: torch.Tensor,
    *,
    batch_size: int = 8,
    progress: bool | None = None,
    image_size: int | None = None,
    fused_channel: bool = False,
    basis: torch.Tensor | None = None,
) -> torch.Tensor:
    """Jacobians of the images with respect to the (flattened) latents.

    Computed with ``torch.func`` (``vmap`` over samples of ``jacfwd``: d forward-mode
    passes per sample, batched, rather than one backward pass per pixel).

    Parameters
    ----------
    generator : Generator
    latents : Tensor (N, *latent_shape)
    batch_size : int
        Samples per vmapped call (memory: batch_size · 3·H·W · d floats, times a few).
    image_size : int, optional
        Resize the image to ``image_size`` × ``image_size`` by the nearest-neighbour rule of
        :func:`nearest_indices` before differentiating, as the official LowRankGAN
        ``compute_jacobian.py`` does (``--image_size 256``). None: the image as it is.
    fused_channel : bool
        Differentiate the mean of the colour channels (the official ``--fused_channel``);
        the Jacobian then has one channel.
    basis : Tensor (d', *latent_shape), optional
        Differentiate with respect to the coefficients c of ``latent + Σ_i c_i · basis[i]``
        instead of the latent's entries: d' directions per sample instead of
        prod(latent_shape). For example one w added to every layer of a w+ latent, as the
        official code differentiates a style-based generator.

    Returns
    -------
    Tensor (N, C, H', W', d)
        C = 3 (1 with ``fused_channel``), H' = W' = ``image_size`` if given (else the
        image's H, W), d = prod(latent_shape) (d' with ``basis``).
    """
    latents = generator.check_latents(latents)
    batch_size = check_int("image_jacobians: batch_size", batch_size, low=1)
    check_int("image_jacobians: image_size (the official 256)", image_size, low=1, allow_none=True)
    check_bool("image_jacobians: fused_channel", fused_channel)
    shape = generator.latent_shape
    if basis is not None:
        if not isinstance(basis, torch.Tensor) or tuple(basis.shape[1:]) != shape or len(basis) == 0:
            got = tuple(basis.shape) if isinstance(basis, torch.Tensor) else type(basis).__name__
            raise InvalidInputError(f"basis of shape (d', {', '.join(map(str, shape))}) expected; got {got}")
        basis = basis.detach().to(device=latents.device, dtype=latents.dtype)
    _, height, width = generator.image_shape  # learnt here, outside the vmap (profiling draws random latents)
    rows = cols = None
    if image_size is not None and (height, width) != (image_size, image_size):
        rows, cols = nearest_indices(height, image_size).to(latents.device), nearest_indices(width, image_size).to(latents.device)

    def image(z_flat: torch.Tensor) -> torch.Tensor:
        x = generator.synthesize(z_flat.reshape(1, *shape), grad=True, progress=False)[0]
        if rows is not None:
            x = x[:, rows][:, :, cols]
        return x.mean(0, keepdim=True) if fused_channel else x

    if basis is None:
        jac = torch.func.vmap(torch.func.jacfwd(image))
        inputs: tuple[torch.Tensor, ...] = (latents.flatten(1).detach(),)
    else:
        def along_basis(c: torch.Tensor, z_flat: torch.Tensor) -> torch.Tensor:
            return image(z_flat + c @ basis.flatten(1))

        jac = torch.func.vmap(torch.func.jacfwd(along_basis))
        inputs = (latents.new_zeros(len(latents), len(basis)), latents.flatten(1).detach())
    n = len(latents)
    starts = range(0, n, batch_size)
    out = []
    with warnings.catch_warnings():
        # torch.func's forward-mode batching rules call torch.jit.script internally (torch 2.13)
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=DeprecationWarning)
        for s in _progress(starts, total=len(starts), enabled=progress, n_samples=n * 20, desc="jacobians"):
            out.append(jac(*(x[s : s + batch_size] for x in inputs)).detach())
    return torch.cat(out)


def check_mask(mask, n: int, hw: tuple[int, int], mask_mode: str) -> torch.Tensor:
    """The mask as float64 (1 or n, H, W), validated for ``mask_mode`` (ReSeFa's and LowRankGAN's rule).

    Parameters
    ----------
    mask : Tensor or array (H, W), (1, H, W) or (n, H, W), values in [0, 1]
    n : int
        Samples.
    hw : (int, int)
        The resolution expected.
    mask_mode : {"binary", "soft"}
        ``"binary"``: at least one pixel exactly 1 and one exactly 0 per sample (a warning
        counts the pixels in between, which belong to neither); ``"soft"``: some weight
        inside and outside.

    Raises
    ------
    InvalidTypeError, InvalidInputError
    """
    if not isinstance(mask, torch.Tensor):
        try:
            mask = torch.as_tensor(mask)
        except (TypeError, ValueError, RuntimeError) as err:
            raise InvalidTypeError(f"mask must be a tensor or array of shape {hw}; got {type(mask).__name__}") from err
    mask = mask.detach().to(torch.float64)
    if mask.ndim == 2:
        mask = mask[None]
    if mask.ndim != 3 or tuple(mask.shape[1:]) != hw or len(mask) not in (1, n):
        raise InvalidInputError(
            f"mask of shape {hw}, (1, {hw[0]}, {hw[1]}) or ({n}, {hw[0]}, {hw[1]}) expected; got {tuple(mask.shape)}"
        )
    if not torch.isfinite(mask).all() or mask.min() < 0 or mask.max() > 1:
        raise InvalidInputError(
            f"mask values must lie in [0, 1]; got range [{float(mask.min()):.3g}, {float(mask.max()):.3g}]"
        )
    if mask_mode == "binary":
        region, background = (mask == 1), (mask == 0)
        if not region.flatten(1).any(1).all():
            raise InvalidInputError(
                "mask is empty: no pixel is exactly 1 for at least one sample, so there is no region to edit "
                "(the official ReSeFa and LowRankGAN code take the pixels equal to 1 as the region: binarise a soft mask, e.g. "
                "mask >= 0.5, or pass mask_mode='soft')"
            )
        if not background.flatten(1).any(1).all():
            raise InvalidInputError(
                "mask covers the whole image: no pixel is exactly 0 for at least one sample, so there is no "
                "background to keep"
            )
        between = int((~region & ~background).sum())
        if between:
            warnings.warn(
                f"mask has {between} pixel(s) strictly between 0 and 1; the official code (mask_mode='binary') "
                "counts them neither as region nor as background: binarise the mask, or pass mask_mode='soft' "
                "to weight them",
                UserWarning,
                stacklevel=3,
            )
    else:
        if not (mask.flatten(1).sum(1) > 0).all():
            raise InvalidInputError("mask is empty (all zeros) for at least one sample: there is no region to edit")
        if not ((1 - mask).flatten(1).sum(1) > 0).all():
            raise InvalidInputError("mask covers the whole image for at least one sample: there is no background to keep")
    return mask


def region_grams(
    jacobians: torch.Tensor, mask: torch.Tensor, *, mask_mode: str = "binary"
) -> tuple[torch.Tensor, torch.Tensor, list[tuple[float, float]]]:
    """ReSeFa's M_f and M_b (d, d), float64, averaged over the samples.

    Parameters
    ----------
    jacobians : Tensor (N, C, H, W, d)
        :func:`image_jacobians`.
    mask : Tensor (H, W), (1, H, W) or (N, H, W), values in [0, 1]
    mask_mode : {"binary", "soft"}
        ``"binary"`` (official, ``compute_direction.py``): region rows are the pixels equal
        to 1, background rows those equal to 0, each over all C channels, and
        M = Jᵀ J / rows. ``"soft"``: J_f = M ⊙ J, J_b = (1 − M) ⊙ J, divided by the
        weighted row counts C·ΣM and C·Σ(1 − M).

    Returns
    -------
    fg, bg : Tensor (d, d)
        The mean over samples of each sample's M_f and M_b (with one sample, exactly the
        official code's matrices).
    rows : list of (n_f, n_b)
        Each sample's row counts.
    """
    mask_mode = check_choice("mask_mode", mask_mode, MASK_MODES)
    if not isinstance(jacobians, torch.Tensor) or jacobians.ndim != 5:
        got = tuple(jacobians.shape) if isinstance(jacobians, torch.Tensor) else type(jacobians).__name__
        raise InvalidInputError(f"jacobians of shape (N, C, H, W, d) expected; got {got}")
    n, c, h, w, d = jacobians.shape
    mask = check_mask(mask, n, (h, w), mask_mode).to(jacobians.device)
    fg = torch.zeros(d, d, dtype=torch.float64, device=jacobians.device)
    bg = torch.zeros_like(fg)
    rows = []
    for i in range(n):
        m = mask[i if len(mask) == n else 0]
        J = jacobians[i].to(torch.float64)  # (C, H, W, d)
        if mask_mode == "binary":
            Jf, Jb = J[:, m == 1].reshape(-1, d), J[:, m == 0].reshape(-1, d)
            n_f, n_b = float(len(Jf)), float(len(Jb))
        else:
            Jf = (m[None, :, :, None] * J).reshape(-1, d)
            Jb = ((1 - m)[None, :, :, None] * J).reshape(-1, d)
            n_f, n_b = c * float(m.sum()), c * float((1 - m).sum())
        fg += Jf.T @ Jf / n_f
        bg += Jb.T @ Jb / n_b
        rows.append((n_f, n_b))
    return fg / n, bg / n, rows


def generalized_eigh(
    fg: torch.Tensor, bg: torch.Tensor, *, regularization: float | None = None, rank_tol: float = 1e-10
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Solve fg n = λ (bg + a I) n, with a = regularization · tr(bg) (a = 0 by default).

    The official ReSeFa solves ``eig(inv(bg) · fg)``; here the same eigenpairs come from a
    symmetric problem: with bg = V D² Vᵀ truncated to the eigenvalues above ``rank_tol``
    times the largest and S = (bg + a I)^(−1/2) = V (a + D²)^(−1/2) Vᵀ + a^(−1/2) (I − V Vᵀ),
    the matrix S fg S has eigenpairs (λ, y), and n = S y. (S² = (1/a)(I − V D̃ Vᵀ),
    D̃ = D² (a I + D²)⁻¹, is the paper's Eq. 12 Woodbury inverse.)

    Parameters
    ----------
    fg, bg : Tensor (d, d)
        Symmetric positive semi-definite (bg positive definite when ``regularization`` is None).
    regularization : float, optional
        τ of the paper's regulariser a = τ · tr(bg) (its 1e−3); None: none (official default).
    rank_tol : float
        Relative eigenvalue threshold for bg's rank.

    Returns
    -------
    values : Tensor (d,), decreasing
    vectors : Tensor (d, d), rows are the directions n, scaled to unit norm
    a : float
        The regulariser added to bg's diagonal (0.0 without regularisation).

    Raises
    ------
    InvalidInputError
        Without regularisation, bg is singular (the background has fewer independent rows
        than the latent has entries): the message gives its rank and suggests
        ``regularization=``.
    """
    d = fg.shape[0]
    evals, V = torch.linalg.eigh(bg)
    top = float(evals.max().clamp_min(0))
    keep = evals > rank_tol * top
    rank = int(keep.sum())
    if regularization is None:
        if rank < d or not top > 0:
            raise InvalidInputError(
                f"the background matrix J_bᵀJ_b is singular (rank {rank} of {d}: the background has too few "
                f"independent rows for a {d}-dim latent), so the unregularised ReSeFa (the official default) has "
                f"no solution; pass regularization= (the paper's 1e-3) to add τ·tr(J_bᵀJ_b)·I"
            )
        a = 0.0
        S = V @ torch.diag(evals.rsqrt()) @ V.T
    else:
        a = float(regularization) * float(torch.trace(bg))
        if not a > 0:
            raise InvalidInputError(
                f"the background Jacobian is zero (tr(J_bᵀJ_b) = {float(torch.trace(bg))}); nothing to regularise"
            )
        V, D2 = V[:, keep], evals[keep]  # truncated SVD of J_b: D² = D2
        eye = torch.eye(d, dtype=fg.dtype, device=fg.device)
        S = V @ torch.diag((a + D2).rsqrt()) @ V.T + (eye - V @ V.T) / math.sqrt(a)
    C = S @ fg @ S
    values, Y = torch.linalg.eigh((C + C.T) / 2)
    values, Y = values.flip(0), Y.flip(1)
    N = S @ Y
    N = N / N.norm(dim=0, keepdim=True)
    return values, N.T, a


def resefa(
    generator: Generator,
    latents: torch.Tensor,
    mask: torch.Tensor,
    *,
    k: int | None = None,
    regularization: float | None = None,
    mask_mode: str = "binary",
    jacobians: torch.Tensor | None = None,
    batch_size: int = 8,
    progress: bool | None = None,
) -> Directions:
    """ReSeFa's directions for a region: the top generalised eigenvectors of M_f n = λ M_b n.

    The defaults are the official code's (``compute_direction.py``; see the module
    docstring): binary region and background from the pixels exactly 1 and exactly 0,
    M_f and M_b divided by their row counts, no regularisation. ``regularization`` and
    ``mask_mode="soft"`` are the paper's regularised variant and a soft-mask weighting.

    Parameters
    ----------
    generator : Generator
    latents : Tensor (N, *latent_shape)
        Samples whose Jacobians define the problem. The official code computes one set of
        directions per image (pass one latent for exactly that); with several, each
        sample's M_f and M_b are averaged, giving directions local on average (not in
        the official code).
    mask : Tensor (H, W), (1, H, W) or (N, H, W), values in [0, 1]
        The region at the image resolution. ``mask_mode="binary"`` uses the pixels equal
        to 1 as the region and those equal to 0 as background (a warning says how many
        pixels in between it ignores).
    k : int, optional
        Directions to keep (default all d).
    regularization : float, optional
        None (default, official): M_b as it is (it must be non-singular). τ > 0: the
        paper's M_b + τ·tr(M_b)·I (official ``--full_rank --tao τ``; the paper's τ = 1e−3).
    mask_mode : {"binary", "soft"}
        ``"binary"`` (official) or ``"soft"`` (rows weighted by M and 1 − M).
    jacobians : Tensor (N, 3, H, W, d), optional
        Precomputed :func:`image_jacobians` of ``latents`` (to reuse for several masks).
        The official code downsamples images larger than 256 px to 256 and sums their
        colour channels before differentiating; these are full-resolution Jacobians.
    batch_size, progress
        For :func:`image_jacobians`.

    Returns
    -------
    Directions
        Unit-norm directions (k, *latent_shape), best first, signs fixed so each one's
        largest-magnitude entry is positive (eigenvectors have no sign); ``scores`` the
        generalised eigenvalues λ (the official code's, row-count scaled). ``info``:
        ``regularization``, ``a`` (the value added to M_b's diagonal), ``mask_mode``,
        ``n_samples``, ``rows`` (each sample's (n_f, n_b)), and ``fg``, ``bg`` (M_f, M_b).
    """
    latents = generator.check_latents(latents)
    d = math.prod(generator.latent_shape)
    k = d if k is None else check_int("resefa: k", k, low=1, high=d)
    regularization = check_float("resefa: regularization τ (None, the official default, or the paper's 1e-3)",
                                 regularization, allow_none=True)
    mask_mode = check_choice("mask_mode", mask_mode, MASK_MODES)
    if jacobians is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # region_grams checks (and warns about) the mask once, below
            check_mask(mask, len(latents), tuple(generator.image_shape[1:]), mask_mode)
        jacobians = image_jacobians(generator, latents, batch_size=batch_size, progress=progress)
    elif not isinstance(jacobians, torch.Tensor) or jacobians.ndim != 5 or len(jacobians) != len(latents) \
            or jacobians.shape[-1] != d:
        got = tuple(jacobians.shape) if isinstance(jacobians, torch.Tensor) else type(jacobians).__name__
        raise InvalidInputError(
            f"jacobians of shape ({len(latents)}, 3, H, W, {d}) expected for {len(latents)} latents; got {got}"
        )
    fg, bg, rows = region_grams(jacobians, mask, mask_mode=mask_mode)
    values, vectors, a = generalized_eigh(fg, bg, regularization=regularization)
    vectors = fix_signs(vectors[:k])
    return Directions(
        directions=vectors.to(torch.float32).reshape(k, *generator.latent_shape),
        scores=values[:k].to(torch.float32),
        method="resefa",
        info={"regularization": regularization, "a": a, "mask_mode": mask_mode, "n_samples": len(latents),
              "rows": rows, "fg": fg, "bg": bg},
    )
