"""GANSpace (Härkönen et al., NeurIPS 2020): PCA of early activations, carried back to the latent.

By default this is GANSpace's own computation, step by step as its code
(github.com/harskish/ganspace) has it:

1. **PCA** (``decomposition.py``, ``compute``; ``estimators.py``): sample latents z_j, record
   a layer's activations y_j, and fit ``k`` principal components with GANSpace's default
   estimator ``--est ipca`` (``IPCAEstimator``: scikit-learn's ``IncrementalPCA``,
   ``partial_fit`` on chunks of ``NB = max(2000, 3k)`` samples, so the sample count is
   rounded up to whole chunks), or exactly (``--est pca``, ``PCAEstimator``). GANSpace's
   command-line defaults (``config.py``) are ``-n 300000`` samples and ``-c 80`` components.
2. **Regression** (``decomposition.py``, ``linreg_lstsq``): draw ``max(10000, n)`` *fresh*
   latents, project their centred activations on the components and divide by each
   component's standard deviation (``coords_scaled = (y − ȳ) V / σ``), then solve
   ``min_M ‖A M − Z‖`` by least squares (LAPACK ``gelsd``, no intercept; Z the raw latents).
3. **Normalisation** (``compute``): each row of M is scaled to unit norm
   (``Z_comp /= norm(Z_comp)``). These are GANSpace's latent directions (``lat_comp``):
   unit norm, ordered by the variance of their components, **not** mutually orthogonal.

For style-based generators GANSpace runs PCA on w itself (``--use_w --layer style``: its
``samples_are_latents`` branch, no regression): load the generator with
``latent_space="w"`` (NVlabs StyleGAN2/3) and the principal components of the sampled
latents are the directions.

``orthonormalize=True`` departs from GANSpace: it orthonormalises the directions in order
(Gram–Schmidt via QR), so the span of the first j directions is that of GANSpace's first j.
"""

from __future__ import annotations

import math

import torch

from .._checks import as_rng, check_bool, check_choice, check_int
from ..exceptions import InvalidInputError
from ..generators.base import Generator
from ..runtime.progress import progress as _progress
from ._directions import Directions, fix_signs

__all__ = ["ganspace", "default_ganspace_layer", "GANSPACE_SAMPLES", "GANSPACE_COMPONENTS", "GANSPACE_MIN_REGRESSION"]

#: GANSpace's ``-n`` default (``config.py``): samples for the PCA.
GANSPACE_SAMPLES = 300_000
#: GANSpace's ``-c`` default (``config.py``): components kept.
GANSPACE_COMPONENTS = 80
#: ``linreg_lstsq`` regresses on ``max(10_000, n)`` fresh latents (``decomposition.py``).
GANSPACE_MIN_REGRESSION = 10_000
#: ``compute``'s chunk for the estimator: ``NB = max(B, max(2000, 3 * components))``.
GANSPACE_MIN_CHUNK = 2000

ESTIMATORS = ("ipca", "pca")


def default_ganspace_layer(generator: Generator) -> str:
    """The first layer after the latent projection whose module has no parameters.

    That is the first activation (for the DigiFace DCGAN ``main.2``, the ReLU after the
    first ConvTranspose2d and BatchNorm), the analogue of the early layers GANSpace
    analyses in z-space generators (BigGAN's ``generator.gen_z``, ProGAN's ``layer0``). Its
    output is a non-linear function of z, so GANSpace differs from SeFa there; on a purely
    linear layer such as ``main.0`` the regression recovers the right singular vectors of
    its weight, i.e. SeFa without normalisation, up to sampling noise.
    """
    for name in generator.layers:
        module = generator.module.get_submodule(name)
        if next(module.parameters(recurse=True), None) is None and not list(module.children()):
            return name
    hint = " (a style-based generator: load it with latent_space='w' and GANSpace runs PCA on w)" if getattr(
        generator, "latent_space", None) == "z" else ""
    raise InvalidInputError(f"generator {generator.name!r} has no parameter-free layer; pass layer={hint}")


# ----------------------------------------------------------------------------- PCA
def _top_svd(M: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k singular values (k,) and right singular vectors (k, D) of M (m, D), float64.

    Through the eigendecomposition of the smaller Gram matrix (M Mᵀ or Mᵀ M): the same
    subspace and values as a full SVD, at a fraction of its cost for the wide chunks here.
    """
    m, dim = M.shape
    if m <= dim:
        evals, U = torch.linalg.eigh(M @ M.T)
        evals, U = evals.flip(0)[:k], U.flip(1)[:, :k]
        s = evals.clamp_min(0).sqrt()
        vt = (U.T @ M) / s.clamp_min(torch.finfo(M.dtype).tiny)[:, None]
    else:
        evals, V = torch.linalg.eigh(M.T @ M)
        s, vt = evals.flip(0)[:k].clamp_min(0).sqrt(), V.flip(1)[:, :k].T
    return s, vt


class _IncrementalPCA:
    """scikit-learn's ``IncrementalPCA.partial_fit`` (whiten=False), in float64 torch.

    GANSpace's default estimator (``IPCAEstimator``). Per chunk X: the running mean is
    updated, X is centred on its own mean and stacked under the previous components
    (scaled by their singular values) and a mean-correction row, and the top ``k`` right
    singular vectors of that stack are the new components (Ross et al. 2008).
    """

    def __init__(self, k: int):
        self.k = k
        self.n_seen = 0
        self.mean: torch.Tensor | None = None
        self.components: torch.Tensor | None = None
        self.singular_values: torch.Tensor | None = None

    def partial_fit(self, X: torch.Tensor) -> None:
        n = len(X)
        total = self.n_seen + n
        batch_mean = X.mean(0)
        if self.n_seen == 0:
            new_mean = batch_mean
            stacked = X - new_mean
        else:
            new_mean = (self.n_seen * self.mean + n * batch_mean) / total
            correction = math.sqrt(self.n_seen / total * n) * (self.mean - batch_mean)
            stacked = torch.cat([self.singular_values[:, None] * self.components, X - batch_mean, correction[None]])
        s, vt = _top_svd(stacked, self.k)
        self.components, self.singular_values = fix_signs(vt), s
        self.mean, self.n_seen = new_mean, total

    def result(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(components (k, D), stdev (k,), mean (D,)): ``IPCAEstimator.get_components`` and
        ``transformer.mean_``; stdev = √explained_variance_ = s / √(n − 1)."""
        return self.components, self.singular_values / math.sqrt(self.n_seen - 1), self.mean


def _exact_pca(X: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """GANSpace's ``PCAEstimator`` (scikit-learn ``PCA(svd_solver='full')``): (components, stdev, mean).

    stdev is the standard deviation (ddof 0) of the centred samples' coordinates, as
    ``np.dot(components_, X.T).std(axis=1)``; components are sorted by it (already the
    SVD's order).
    """
    mean = X.mean(0)
    Xc = X - mean
    _, vt = _top_svd(Xc, k)
    vt = fix_signs(vt)
    stdev = (Xc @ vt.T).std(dim=0, correction=0)
    order = torch.argsort(stdev, descending=True, stable=True)
    return vt[order], stdev[order], mean


def ganspace(
    generator: Generator,
    *,
    layer: str | None = None,
    n_samples: int = GANSPACE_SAMPLES,
    k: int = GANSPACE_COMPONENTS,
    estimator: str = "ipca",
    n_regression: int | None = None,
    orthonormalize: bool = False,
    seed: int = 0,
    random_state: int | torch.Generator | None = None,
    batch_size: int = 256,
    progress: bool | None = None,
) -> Directions:
    """GANSpace's latent directions, computed as its code computes them (see the module docstring).

    Parameters
    ----------
    generator : Generator
    layer : str, optional
        Activations to analyse (default :func:`default_ganspace_layer`: ``main.2`` for the
        DigiFace DCGAN, 512×4×4 = 8192 features). For a generator whose latents are w
        (``latent_space="w"`` or ``"w+"``) the default is the latents themselves: PCA on w,
        as GANSpace does for StyleGAN, with no regression.
    n_samples : int
        PCA samples (GANSpace's ``-n``, default its 300,000). As GANSpace does, they are
        rounded up to whole chunks of ``max(2000, 3k)`` samples (``info["n_samples"]`` has
        the count used). Tens of thousands give the leading directions on a CPU in seconds.
    k : int
        Components (GANSpace's ``-c``, default its 80), at most the layer's feature size.
        Their regression is joint, so the first j directions depend (slightly) on ``k``.
    estimator : {"ipca", "pca"}
        ``"ipca"`` (GANSpace's default ``--est``): incremental PCA over the chunks;
        ``"pca"``: exact PCA of all samples at once (``--est pca``; holds them in memory).
    n_regression : int, optional
        Fresh latents for the regression (default GANSpace's ``max(10000, n_samples)``).
    orthonormalize : bool
        ``False`` (default): GANSpace's directions, unit norm and not mutually orthogonal.
        ``True`` (not GANSpace): orthonormalised in order by QR, each kept on the side of
        GANSpace's own.
    seed : int
        Seeds the PCA latents (``generator.sample_latents(n, seed=seed)``'s draw).
    random_state : int, torch.Generator or None
        Draws the regression's fresh latents. ``None`` (default): continue the PCA
        latents' random stream, so they are fresh and the result reproducible from
        ``seed`` alone (GANSpace reseeds with its fixed ``SEED_LINREG = 3``).
    batch_size, progress
        As in :meth:`Generator.features`.

    Returns
    -------
    Directions
        ``directions`` (k, *latent_shape), unit norm (GANSpace's ``lat_comp``; orthonormal
        with ``orthonormalize=True``); ``scores`` each component's variance in feature
        space (σ², with GANSpace's σ ``act_stdev``). ``info``: ``layer``, ``estimator``,
        ``n_samples`` (PCA samples used), ``n_regression``, ``k``, ``seed``, ``stdev``
        (σ, (k,)), ``orthonormalized``, and ``regressed``: GANSpace's own directions
        (equal to ``directions`` unless ``orthonormalize=True``).

    Notes
    -----
    Departures from GANSpace's code that do not change what is computed: GANSpace rounds
    ``n`` and the regression count down to multiples of its batch size ``-b``; its chunk
    is ``max(B, 2000, 3k)`` with B ≤ 20 unless ``-b`` is larger; its ``pca`` path pads the
    sample matrix with unused all-zero rows (left out here); it computes in float32
    (float64 here). Signs follow scikit-learn's ``svd_flip`` of the feature-space
    components, as GANSpace's do.
    """
    on_w = layer is None and getattr(generator, "latent_space", None) in ("w", "w+")
    if not on_w:
        layer = default_ganspace_layer(generator) if layer is None else layer
        feature_dim = math.prod(generator.check_layer(layer))
    else:
        feature_dim = math.prod(generator.latent_shape)
    estimator = check_choice("estimator", estimator, ESTIMATORS)
    k = check_int("ganspace: k (at most the analysed features' size)", k, low=1, high=feature_dim)
    n_samples = check_int("ganspace: n_samples", n_samples, low=2)
    n_regression = max(GANSPACE_MIN_REGRESSION, n_samples) if n_regression is None else n_regression
    n_regression = check_int("ganspace: n_regression (at least k)", n_regression, low=k)
    orthonormalize = check_bool("ganspace: orthonormalize", orthonormalize)
    if orthonormalize and k > math.prod(generator.latent_shape):
        raise InvalidInputError(
            f"orthonormalize=True needs k <= {math.prod(generator.latent_shape)} (the latent size: no more "
            f"orthonormal directions exist); got k={k}"
        )
    # None continues the PCA latents' seeded stream (documented above), so the default
    # result is reproducible from seed alone; anything else follows the package's one rule
    reg_rng = None if random_state is None else as_rng(random_state, "ganspace: random_state")
    seed = check_int("ganspace: seed", seed, low=0)

    chunk = max(GANSPACE_MIN_CHUNK, 3 * k)
    n_pca = -(-n_samples // chunk) * chunk  # GANSpace fits whole chunks
    rng = as_rng(seed, "ganspace: seed")
    z = generator.sample_latents(n_pca, rng=rng)

    def features(latents: torch.Tensor) -> torch.Tensor:
        if on_w:
            return latents.flatten(1).to(torch.float64)
        return generator.features(latents, layer, batch_size=batch_size, progress=False).flatten(1).to(torch.float64)

    starts = range(0, n_pca, chunk)
    if estimator == "ipca":
        ipca = _IncrementalPCA(k)
        for s in _progress(starts, total=len(starts), enabled=progress, n_samples=n_pca, desc="ganspace pca"):
            ipca.partial_fit(features(z[s : s + chunk]))
        components, stdev, mean = ipca.result()
    else:
        X = torch.cat([features(z[s : s + chunk]) for s in _progress(starts, total=len(starts), enabled=progress,
                                                                      n_samples=n_pca, desc="ganspace samples")])
        components, stdev, mean = _exact_pca(X, k)
        del X

    if on_w:
        regressed = components  # samples_are_latents: the components are the directions
        n_regression = 0
    else:
        z_reg = generator.sample_latents(n_regression, rng=reg_rng if reg_rng is not None else rng)
        coords = torch.cat([
            ((features(z_reg[s : s + chunk]) - mean) @ components.T) / stdev
            for s in _progress(range(0, n_regression, chunk), total=-(-n_regression // chunk), enabled=progress,
                               n_samples=n_regression, desc="ganspace regression")
        ])
        # linreg_lstsq: scipy.linalg.lstsq(A, Z, lapack_driver='gelsd'), no intercept, Z the raw latents
        M_t = torch.linalg.lstsq(coords.cpu(), z_reg.flatten(1).to(torch.float64).cpu(), driver="gelsd").solution
        regressed = M_t / M_t.norm(dim=1, keepdim=True)
    regressed = regressed.cpu()
    directions = regressed
    if orthonormalize:
        Q, R = torch.linalg.qr(regressed.T)
        directions = (Q * torch.sign(torch.diagonal(R))).T  # each on the side of GANSpace's own
    shape = (k, *generator.latent_shape)
    return Directions(
        directions=directions.to(torch.float32).reshape(shape),
        scores=(stdev**2).to(torch.float32).cpu(),
        method="ganspace",
        info={
            "layer": None if on_w else layer,
            "space": getattr(generator, "latent_space", None) if on_w else None,
            "estimator": estimator,
            "n_samples": n_pca,
            "n_regression": n_regression,
            "k": k,
            "seed": seed,
            "stdev": stdev.to(torch.float32).cpu(),
            "orthonormalized": orthonormalize,
            "regressed": regressed.to(torch.float32).reshape(shape),
        },
    )
