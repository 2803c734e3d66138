"""Exception and warning classes of panda_viz (one place, so users can catch them)."""

from __future__ import annotations

__all__ = ["ConvergenceWarning", "WeightsNotInstalledError"]


class WeightsNotInstalledError(ImportError):
    """A generator's weights package or file is not installed; the message says how to get it."""


class ConvergenceWarning(UserWarning):
    """An iterative solver stopped at ``max_iter`` before reaching its tolerance."""
