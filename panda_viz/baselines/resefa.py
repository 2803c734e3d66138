"""ReSeFa (Zhu et al., ICML 2022): region-based latent directions from image Jacobians.

For an image x = G(z), a region mask M and its complement, moving z along a unit n changes
the region by about ‖M J n‖² and the rest by ‖(1−M) J n‖², with J = ∂x/∂z. ReSeFa
maximises the generalised Rayleigh quotient

    R(n) = nᵀ J_fᵀ J_f n / nᵀ (J_bᵀ J_b + a I) n,   J_f = M ⊙ J,  J_b = (1 − M) ⊙ J,

whose maximisers solve J_fᵀ J_f n = λ (J_bᵀ J_b + a I) n (the paper's Eq. 11), with the
regulariser a = λ_reg · tr(J_bᵀ J_b), λ_reg = 1e−3 (its Eq. 10). The inverse of the
regularised background term comes from the Sherman–Morrison–Woodbury formula (its Eq. 12):
with J_b = U D Vᵀ truncated to its rank r,

    (J_bᵀ J_b + a I)⁻¹ = (1/a) (I − V D̃ Vᵀ),   D̃ = D² (a I + D²)⁻¹,

an r×r diagonal operation instead of a d×d inverse.
"""

from __future__ import annotations

import math
import warnings

import torch

from .._progress import progress as _progress
from ..generators.base import Generator
from ._directions import Directions
from .sefa import _fix_signs

__all__ = ["resefa", "image_jacobians", "generalized_eigh"]


def image_jacobians(
    generator: Generator, latents: torch.Tensor, *, batch_size: int = 8, progress: bool | None = None
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

    Returns
    -------
    Tensor (N, 3, H, W, d)
    """
    latents = generator.check_latents(latents)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive int; got {batch_size!r}")
    shape = generator.latent_shape

    def image(z_flat: torch.Tensor) -> torch.Tensor:
        return generator.synthesize(z_flat.reshape(1, *shape), grad=True, progress=False)[0]

    jac = torch.func.vmap(torch.func.jacfwd(image))
    flat = latents.flatten(1).detach()
    starts = range(0, len(flat), batch_size)
    out = []
    with warnings.catch_warnings():
        # torch.func's forward-mode batching rules call torch.jit.script internally (torch 2.13)
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=DeprecationWarning)
        for s in _progress(starts, total=len(starts), enabled=progress, n_samples=len(flat) * 20, desc="jacobians"):
            out.append(jac(flat[s : s + batch_size]).detach())
    return torch.cat(out)


def _check_mask(mask: torch.Tensor, n: int, hw: tuple[int, int]) -> torch.Tensor:
    if not isinstance(mask, torch.Tensor):
        mask = torch.as_tensor(mask)
    mask = mask.to(torch.float64)
    if mask.ndim == 2:
        mask = mask[None]
    if mask.ndim != 3 or tuple(mask.shape[1:]) != hw or len(mask) not in (1, n):
        raise ValueError(f"mask of shape {hw}, (1, {hw[0]}, {hw[1]}) or ({n}, {hw[0]}, {hw[1]}) expected; got {tuple(mask.shape)}")
    if mask.min() < 0 or mask.max() > 1:
        raise ValueError(f"mask values must lie in [0, 1]; got range [{float(mask.min()):.3g}, {float(mask.max()):.3g}]")
    if not (mask.flatten(1).sum(1) > 0).all():
        raise ValueError("mask is empty (all zeros) for at least one sample: there is no region to edit")
    if not ((1 - mask).flatten(1).sum(1) > 0).all():
        raise ValueError("mask covers the whole image for at least one sample: there is no background to keep")
    return mask


def region_grams(jacobians: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Σ_i J_fᵀ J_f and Σ_i J_bᵀ J_b (d, d) in float64 for Jacobians (N, 3, H, W, d).

    The mask (H, W), (1, H, W) or (N, H, W) in [0, 1] weights the rows (replicated over
    channels): J_f = M ⊙ J, J_b = (1 − M) ⊙ J, as in ROIR's numerator and denominator.
    """
    n, _, h, w, d = jacobians.shape
    mask = _check_mask(mask, n, (h, w)).to(jacobians.device)
    fg = torch.zeros(d, d, dtype=torch.float64, device=jacobians.device)
    bg = torch.zeros_like(fg)
    for i in range(n):
        m = mask[i if len(mask) == n else 0][None, :, :, None]
        J = jacobians[i].to(torch.float64)
        Jf = (m * J).reshape(-1, d)
        Jb = ((1 - m) * J).reshape(-1, d)
        fg += Jf.T @ Jf
        bg += Jb.T @ Jb
    return fg, bg


def generalized_eigh(
    fg: torch.Tensor, bg: torch.Tensor, *, lam: float = 1e-3, rank_tol: float = 1e-10
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Solve fg n = λ (bg + a I) n with a = lam · tr(bg), by the Woodbury identity.

    bg = V D² Vᵀ is J_bᵀ J_b (its eigenvectors are J_b's right singular vectors, D its
    singular values), truncated to the eigenvalues above ``rank_tol`` times the largest.
    Writing S = (bg + a I)^(−1/2) = V (a + D²)^(−1/2) Vᵀ + a^(−1/2) (I − V Vᵀ), the
    symmetric matrix S fg S has eigenpairs (λ, y), and n = S y solves the generalised
    problem. (S² = (1/a)(I − V D̃ Vᵀ) is Eq. 12's inverse.)

    Returns
    -------
    values : Tensor (d,), decreasing
    vectors : Tensor (d, d), rows are the directions n, scaled to unit norm
    a : float
        The regulariser used.
    """
    d = fg.shape[0]
    a = float(lam) * float(torch.trace(bg))
    if not a > 0:
        raise ValueError(f"the background Jacobian is zero (tr(J_bᵀJ_b) = {float(torch.trace(bg))}); nothing to regularise")
    evals, V = torch.linalg.eigh(bg)
    keep = evals > rank_tol * evals.max().clamp_min(0)
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
    lam: float = 1e-3,
    jacobians: torch.Tensor | None = None,
    batch_size: int = 8,
    progress: bool | None = None,
) -> Directions:
    """ReSeFa's directions for a region: the top generalised eigenvectors of Eq. (11).

    Parameters
    ----------
    generator : Generator
    latents : Tensor (N, *latent_shape)
        Samples whose Jacobians define the problem. The paper uses one; with several,
        their Gram matrices Σ_i J_fᵀJ_f and Σ_i J_bᵀJ_b are summed, giving directions that
        are local on average over the samples.
    mask : Tensor (H, W), (1, H, W) or (N, H, W), values in [0, 1]
        The region of interest at the image resolution (soft masks weight pixels).
    k : int, optional
        Directions to keep (default all d).
    lam : float
        λ of the regulariser a = λ · tr(J_bᵀ J_b) (the paper's 1e−3).
    jacobians : Tensor (N, 3, H, W, d), optional
        Precomputed :func:`image_jacobians` of ``latents`` (to reuse for several masks).
    batch_size, progress
        For :func:`image_jacobians`.

    Returns
    -------
    Directions
        Unit-norm directions (k, *latent_shape), best first; ``scores`` the generalised
        eigenvalues λ. ``info`` holds ``a`` and the Gram matrices ``fg``, ``bg`` (d, d).
    """
    latents = generator.check_latents(latents)
    d = math.prod(generator.latent_shape)
    if k is None:
        k = d
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= d:
        raise ValueError(f"k must be an int in [1, {d}]; got {k!r}")
    if not (isinstance(lam, (int, float)) and lam > 0):
        raise ValueError(f"lam must be a positive number; got {lam!r}")
    if jacobians is None:
        _check_mask(mask, len(latents), tuple(generator.image_shape[1:]))
        jacobians = image_jacobians(generator, latents, batch_size=batch_size, progress=progress)
    elif jacobians.ndim != 5 or len(jacobians) != len(latents) or jacobians.shape[-1] != d:
        raise ValueError(
            f"jacobians of shape ({len(latents)}, 3, H, W, {d}) expected for {len(latents)} latents; got {tuple(jacobians.shape)}"
        )
    fg, bg = region_grams(jacobians, mask)
    values, vectors, a = generalized_eigh(fg, bg, lam=lam)
    vectors = _fix_signs(vectors[:k])
    return Directions(
        directions=vectors.to(torch.float32).reshape(k, *generator.latent_shape),
        scores=values[:k].to(torch.float32),
        method="resefa",
        info={"lam": lam, "a": a, "n_samples": len(latents), "fg": fg, "bg": bg},
    )
