"""PandA: semi-nonnegative factorisation of feature maps into parts and appearances.

``PandA`` (scikit-learn-style estimator, :mod:`.estimator`), ``panda`` (the function it
wraps, :mod:`.fitting`), ``fit_generator`` (stream a generator's layer into a fit), and
the tensor algebra the separable model rests on (:mod:`panda_viz.decomposition.tensor`): ``unfold``, ``fold``,
``mode_dot``, ``multi_mode_dot``, ``hosvd``, ``tucker_to_tensor`` and ``mpca``.
``SOLVERS`` and ``APPEARANCE_BASES`` are the values ``PandA(solver=…, appearance_basis=…)``
accepts (saved factors record them).
"""

from ._validation import APPEARANCE_BASES, SOLVERS
from .estimator import PandA
from .fitting import PandAResult, panda
from .generator_fit import fit_generator
from .objectives import relative_objective
from .tensor import (
           MPCAResult,
           fold,
           hosvd,
           mode_dot,
           mpca,
           multi_mode_dot,
           tucker_to_tensor,
           unfold,
)

__all__ = ["PandA", "PandAResult", "panda", "SOLVERS", "APPEARANCE_BASES", "fit_generator", "relative_objective", "unfold", "fold", "mode_dot",
           "multi_mode_dot", "hosvd", "tucker_to_tensor", "mpca", "MPCAResult"]
