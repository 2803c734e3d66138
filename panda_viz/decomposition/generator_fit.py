"""Fit PandA on a generator's layer, streaming its feature maps into the estimator."""

from __future__ import annotations

from .._checks import check_int
from ..exceptions import InvalidInputError, InvalidTypeError
from ..runtime import distributed
from ._validation import check_params, check_ranks
from .estimator import PandA

__all__ = ["fit_generator"]


def fit_generator(
    generator,
    layer: str,
    *,
    n_samples: int = 1000,
    seed: int = 0,
    batch_size: int | None = None,
    progress: bool | None = None,
    model: PandA | None = None,
    **params,
) -> PandA:
    """Fit PandA on a generator's layer, streaming its feature maps (memory does not grow with n_samples).

    Inside a ``torch.distributed`` process group of several processes each rank extracts
    a disjoint shard of the samples (:class:`panda_viz.generators.FeatureStream`), the
    passes add up the ranks' partial sums in rank order, and every rank returns the same
    model: the single-process fit on the same seeds (factors equal to float round-off).
    A bad argument on any rank raises :class:`~panda_viz.exceptions.DistributedError` on
    every rank. Only the default (projective) solver runs sharded.

    Parameters
    ----------
    generator, layer, n_samples, seed, batch_size
        The samples, as in :class:`panda_viz.generators.FeatureStream` (latents drawn from
        ``seed``, run in forward passes of ``batch_size``).
    progress : bool or None
        Progress bars of the feature extraction and, unless ``verbose`` is given, of the
        fit (``None``: for 1000 samples or more; ``False``: none at all).
    model : PandA, optional
        An unfitted estimator to use (e.g. to set its own ``batch_size``); else
        ``PandA(**params)``.

    Returns
    -------
    PandA
        Fitted, with ``layer_`` and ``generator_`` (the generator's name) recorded.
    """
    from ..generators.stream import FeatureStream

    def check():
        check_int("n_samples", n_samples, low=1)
        check_int("batch_size", batch_size, low=1, allow_none=True)
        check_int("seed", seed, low=0)
        generator.check_layer(layer)
        if model is not None and params:
            raise InvalidTypeError(f"pass either model= or estimator parameters, not both; got model and {sorted(params)}")
        if model is None:
            params.setdefault("verbose", progress)
        estimator = PandA(**params) if model is None else model
        # the layer's shape is known: refuse n_parts / n_appearances too large before extracting any features
        checked = check_params(estimator.get_params())
        if distributed.is_active() and checked["solver"] != "projective":
            raise InvalidInputError(
                f"solver {checked['solver']!r} cannot run on samples sharded across processes; "
                "use solver='projective' (the default) inside a process group"
            )
        check_ranks(estimator.n_parts, estimator.n_appearances, generator.layers[layer])
        stream = FeatureStream(generator, layer, n_samples=n_samples, seed=seed, batch_size=batch_size, progress=progress)
        return estimator, stream

    # the same checks on every rank; a failure on any of them fails all of them
    model, stream = distributed.agree(check, "fit_generator's argument checks")
    return model.fit(stream, layer=layer, generator_name=getattr(generator, "name", None))
