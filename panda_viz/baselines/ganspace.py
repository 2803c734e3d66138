"""GANSpace (Härkönen et al., NeurIPS 2020): PCA of early activations, carried back to the latent.

For a z-space generator (BigGAN in the paper, the DigiFace DCGAN here) GANSpace samples
latents z_j, records an early layer's activations y_j, finds their principal components V,
and transfers them to the latent by linear regression: the latent directions U minimise
Σ_j ‖U x_j − z_j‖² where x_j = Vᵀ(y_j − ȳ) are the PCA coordinates. For style-based
generators GANSpace runs PCA on w itself: load the generator with ``latent_space="w"``
(NVlabs StyleGAN2/3), whose latents are w, and the principal components of the sampled
latents are the directions.
"""

from __future__ import annotations

import math

import torch

from ..generators.base import Generator
from ._directions import Directions
from .sefa import _fix_signs

__all__ = ["ganspace", "default_ganspace_layer"]


def default_ganspace_layer(generator: Generator) -> str:
    """The first layer after the latent projection whose module has no parameters.

    That is the first activation (for the DigiFace DCGAN ``main.2``, the ReLU after the
    first ConvTranspose2d and BatchNorm). Its output is a non-linear function of z, so
    GANSpace differs from SeFa there; on a purely linear layer such as ``main.0`` the
    regression recovers the right singular vectors of its weight, i.e. SeFa without
    normalisation, up to sampling noise.
    """
    for name in generator.layers:
        module = generator.module.get_submodule(name)
        if next(module.parameters(recurse=True), None) is None and not list(module.children()):
            return name
    hint = " (a style-based generator: load it with latent_space='w' and GANSpace runs PCA on w)" if getattr(
        generator, "latent_space", None) == "z" else ""
    raise ValueError(f"generator {generator.name!r} has no parameter-free layer; pass layer={hint}")


def _top_components(X: torch.Tensor, k: int, rng: torch.Generator, n_iter: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k right singular vectors (k, D) and singular values of centred X (N, D).

    A randomized range finder (Halko et al. 2011) with ``n_iter`` power iterations and
    oversampling, with its random test matrix drawn from ``rng`` (no global RNG).
    """
    n, dim = X.shape
    q = min(k + 20, n, dim)
    omega = torch.randn(dim, q, generator=rng, dtype=torch.float64).to(X.device, X.dtype)
    Y = X @ omega
    Q, _ = torch.linalg.qr(Y)
    for _ in range(n_iter):
        Q, _ = torch.linalg.qr(X.T @ Q)
        Q, _ = torch.linalg.qr(X @ Q)
    B = Q.T @ X
    _, s, vt = torch.linalg.svd(B, full_matrices=False)
    return vt[:k], s[:k]


def ganspace(
    generator: Generator,
    *,
    layer: str | None = None,
    n_samples: int = 4000,
    k: int | None = None,
    seed: int = 0,
    batch_size: int = 256,
    progress: bool | None = None,
) -> Directions:
    """GANSpace directions: PCA of a layer's activations, regressed back onto the latent.

    Parameters
    ----------
    generator : Generator
    layer : str, optional
        Activations to analyse (default :func:`default_ganspace_layer`: ``main.2`` for the
        DigiFace DCGAN, 512×4×4 = 8192 features). For a generator whose latents are w
        (``latent_space="w"`` or ``"w+"``) the default is the latents themselves: PCA on w,
        as GANSpace does for StyleGAN, with no regression.
    n_samples : int
        Latents to sample (at least ``d + 1`` for the regression onto a d-dim latent).
    k : int, optional
        Components to keep (default and maximum: the latent size d, 100 for the DCGAN).
    seed : int
        Seeds the latents and the randomized SVD (its own ``torch.Generator``s).
    batch_size, progress
        As in :meth:`Generator.features`.

    Returns
    -------
    Directions
        ``directions`` (k, *latent_shape), orthonormal: the regressed directions U are
        orthonormalised in the order of explained variance (Gram–Schmidt, via QR), so the
        span of the first j directions is the span of the first j regressed ones;
        ``scores``: the explained variance of each principal component in feature space.
        ``info["regressed"]`` keeps the raw regressed directions (unit norm, not orthogonal).
    """
    on_w = layer is None and getattr(generator, "latent_space", None) in ("w", "w+")
    if not on_w:
        layer = default_ganspace_layer(generator) if layer is None else layer
        generator._check_layer(layer)
    d = math.prod(generator.latent_shape)
    if k is None:
        k = d
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= d:
        raise ValueError(f"k must be an int in [1, {d}] (the latent size); got {k!r}")
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples <= d:
        raise ValueError(f"n_samples must be an int > {d} (the latent size) for the regression; got {n_samples!r}")
    z = generator.sample_latents(n_samples, seed=seed)
    rng = torch.Generator().manual_seed(int(seed) + 1)
    if on_w:
        w = z.flatten(1).to(torch.float64)
        V, s = _top_components(w - w.mean(0), k, rng)  # orthonormal rows: already latent directions
        return Directions(
            directions=_fix_signs(V).to(torch.float32).reshape(k, *generator.latent_shape),
            scores=(s**2 / (n_samples - 1)).to(torch.float32),
            method="ganspace",
            info={"layer": None, "space": generator.latent_space, "n_samples": n_samples, "seed": seed},
        )
    feats = generator.features(z, layer, batch_size=batch_size, progress=progress).flatten(1).to(torch.float64)
    feats = feats - feats.mean(0)
    V, s = _top_components(feats, k, rng)  # (k, D), (k,)
    coords = feats @ V.T  # (N, k)
    zf = z.flatten(1).to(torch.float64)
    # least squares coords @ U^T ≈ z  (GANSpace's regression, with the latent mean removed)
    Ut = torch.linalg.lstsq(coords, zf - zf.mean(0)).solution  # (k, d)
    regressed = _fix_signs(Ut / Ut.norm(dim=1, keepdim=True))
    Q, R = torch.linalg.qr(regressed.T)  # (d, k)
    Q = Q * torch.sign(torch.diagonal(R))  # keep each direction on the side of its regressed one
    directions = Q.T
    variance = s**2 / (n_samples - 1)
    return Directions(
        directions=directions.to(torch.float32).reshape(k, *generator.latent_shape),
        scores=variance.to(torch.float32),
        method="ganspace",
        info={
            "layer": layer,
            "n_samples": n_samples,
            "seed": seed,
            "regressed": regressed.to(torch.float32).reshape(k, *generator.latent_shape),
        },
    )
