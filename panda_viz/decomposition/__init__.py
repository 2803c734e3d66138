"""PandA: semi-nonnegative factorisation of feature maps into parts and appearances.

``PandA`` (scikit-learn-style estimator), ``panda`` (the function it wraps),
``fit_generator`` (stream a generator's layer into a fit), ``relative_objective``
(Eq. 3 over a source), and the teaching helpers ``unfold``, ``fold`` and ``hosvd``.
"""

from ._init import fold, hosvd, unfold
from .estimator import PandA, PandAResult, panda
from .generator_fit import fit_generator
from .objectives import relative_objective

__all__ = ["PandA", "PandAResult", "panda", "fit_generator", "relative_objective", "unfold", "fold", "hosvd"]
