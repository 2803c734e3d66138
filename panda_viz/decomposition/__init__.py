"""PandA: semi-nonnegative factorisation of feature maps into parts and appearances.

``PandA`` (scikit-learn-style estimator), ``panda`` (the function it wraps),
``fit_generator`` (stream a generator's layer into a fit), and the teaching helpers
``unfold``, ``fold`` and ``hosvd``.
"""

from ._estimator import PandA, PandAResult, fit_generator, panda, relative_objective
from ._init import fold, hosvd, unfold

__all__ = ["PandA", "PandAResult", "panda", "fit_generator", "relative_objective", "unfold", "fold", "hosvd"]
