"""Every exception and warning class of panda_viz, in one small hierarchy.

Catch :class:`PandaVizError` for anything the package raises on purpose. Each subclass
is also the built-in exception that fits (``ValueError``, ``TypeError``, ``OSError``,
``ImportError``, ``RuntimeError``), so code written as ``except ValueError`` keeps working.

::

    PandaVizError
    ├── InvalidInputError (ValueError)        an argument's value: a rank, a layer, NaN latents
    │   ├── NonFiniteError                    NaN or inf where a finite number is needed
    │   ├── IncompatibleFactorsError          factors that do not fit a generator, layer or features
    │   ├── InvalidIndexError (IndexError)    an index (part, appearance, sample) out of range
    │   ├── UnknownKeyError (KeyError)        a name a mapping does not hold (an edit, a row)
    │   └── ResourceLimitError                a count or size past what the machine or a limit allows
    ├── InvalidTypeError (TypeError)          an argument of the wrong kind
    ├── InvalidFileError (ValueError)         a file that is not what it claims; names the file
    │   ├── UnsafeFileError                   reading it would run code; nothing was run
    │   │   └── UnsafePickleError (pickle.UnpicklingError)
    │   ├── FileLimitError                    declared sizes, counts or nesting past a limit
    │   ├── UnsafePathError                   a path that leads out of the folder it must stay in
    │   └── NetworkPickleError                not a readable NVlabs network pickle
    ├── MissingFileError (FileNotFoundError)  no file at the path given; names the file
    ├── FileWriteError (OSError)              a file that could not be written; nothing half-written is left
    ├── NotFittedError (ValueError, AttributeError)
    ├── WeightsNotInstalledError (ImportError)
    ├── InvalidStateError (RuntimeError)      a call made in a state that does not allow it
    ├── DistributedError (RuntimeError)       a process group failed or disagreed
    ├── NotebookFailed (RuntimeError)         ``panda-viz figures``: a notebook cell failed
    └── NotThisFormat                         a file loader declines; the registry tries the next

    ConvergenceWarning (UserWarning)
    NonFiniteWarning (UserWarning)
    PhotoWarning (UserWarning)                a photo cropped, upscaled or stretched far from itself

:class:`StopForward` is not an error: :func:`panda_viz.generators.hooks.stop_after` raises
it to end a forward pass early, and the same context catches it.
"""

from __future__ import annotations

import pickle
from pathlib import Path

__all__ = [
    "PandaVizError",
    "InvalidInputError",
    "NonFiniteError",
    "IncompatibleFactorsError",
    "InvalidIndexError",
    "ResourceLimitError",
    "UnknownKeyError",
    "MissingFileError",
    "InvalidTypeError",
    "InvalidFileError",
    "UnsafeFileError",
    "UnsafePickleError",
    "FileLimitError",
    "UnsafePathError",
    "NetworkPickleError",
    "FileWriteError",
    "NotFittedError",
    "WeightsNotInstalledError",
    "InvalidStateError",
    "DistributedError",
    "NotebookFailed",
    "NotThisFormat",
    "StopForward",
    "ConvergenceWarning",
    "NonFiniteWarning",
    "PhotoWarning",
]


class PandaVizError(Exception):
    """Base class of every error panda_viz raises on purpose."""


class InvalidInputError(PandaVizError, ValueError):
    """An argument's value is not one the function accepts; the message says what was expected."""


class NonFiniteError(InvalidInputError):
    """NaN or infinite values where finite ones are needed (latents, α, weights, features)."""


class IncompatibleFactorsError(InvalidInputError):
    """Fitted factors that do not fit the generator, layer or features they are used with."""


class InvalidIndexError(InvalidInputError, IndexError):
    """An index out of range: a part, appearance, sample or channel the object does not have."""


class ResourceLimitError(InvalidInputError):
    """A count or size past a limit or past what this machine can hold; nothing was allocated for it."""


class UnknownKeyError(InvalidInputError, KeyError):
    """A name a mapping does not hold (``zoo["nope"]``); ``in`` and ``.get`` keep working."""

    def __str__(self) -> str:  # KeyError's own __str__ would quote the message
        return str(self.args[0]) if self.args else ""


class InvalidTypeError(PandaVizError, TypeError):
    """An argument of a type the function does not accept."""


class InvalidFileError(PandaVizError, ValueError):
    """A file is not what it claims to be, or not one this package reads.

    ``path`` is the file (``None`` where the data did not come from a file).
    """

    def __init__(self, message: str, path: str | Path | None = None):
        self.path = None if path is None else Path(path)
        super().__init__(message)


class UnsafeFileError(InvalidFileError):
    """Reading the file as it asks would run code from it; nothing from it was run."""


class UnsafePickleError(UnsafeFileError, pickle.UnpicklingError):
    """The pickle names a global outside the allow-list; nothing from it was run."""


class FileLimitError(InvalidFileError):
    """A file declares sizes, counts or nesting past a limit; nothing was allocated for them."""


class UnsafePathError(InvalidFileError):
    """A path leads out of the folder it must stay in (a symbolic link, ``..``, an absolute
    name); nothing was read or written through it. ``path`` is that path."""


class NetworkPickleError(InvalidFileError):
    """The file is not a readable network pickle, or not one this package supports."""


class MissingFileError(PandaVizError, FileNotFoundError):
    """No file (or folder) at the path a call was given; ``path`` is that path.

    A ``FileNotFoundError`` (so an ``OSError``), as the built-in ``open`` raises: code that
    catches either keeps working.
    """

    def __init__(self, message: str, path: str | Path | None = None):
        self.path = None if path is None else Path(path)
        super().__init__(message)


class FileWriteError(PandaVizError, OSError):
    """A file could not be written: a parent that is a file, a full disk, a file-size limit.

    ``path`` is the file that was being written, ``errno`` the operating system's code
    (None when the error did not come from the system). What was written so far is removed:
    no half-written file is left at ``path``, and a file already there is unchanged.
    """

    def __init__(self, message: str, path: str | Path | None = None, errno: int | None = None):
        super().__init__(message)
        self.path = None if path is None else Path(path)
        self.errno = errno


class NotFittedError(PandaVizError, ValueError, AttributeError):
    """A fitted attribute or method was used before ``fit``."""


class WeightsNotInstalledError(PandaVizError, ImportError):
    """A generator's weights package or file is not installed; the message says how to get it."""


class InvalidStateError(PandaVizError, RuntimeError):
    """A call made in a state that does not allow it (a job already running, a closed widget)."""


class DistributedError(PandaVizError, RuntimeError):
    """A process group failed (a rank died or timed out) or its ranks disagreed."""


class NotebookFailed(PandaVizError, RuntimeError):
    """A notebook cell raised or timed out; says which notebook and which cell."""

    def __init__(self, notebook: Path, cell_index: int, code_cell: int, message: str):
        self.notebook, self.cell_index, self.code_cell = notebook, cell_index, code_cell
        super().__init__(f"{notebook.name}: code cell {code_cell} (cell {cell_index} of the notebook) failed: {message}")


class NotThisFormat(PandaVizError):
    """Raised by a file loader whose format the file (or the options) does not match.

    :func:`panda_viz.load_generator` then tries the next loader registered for the suffix;
    the message says why, and is shown if no loader accepts the file.
    """


class StopForward(Exception):
    """Raised by :func:`~panda_viz.generators.hooks.stop_after`'s hook to end a forward pass
    once a layer has run (control flow, not an error)."""


class ConvergenceWarning(UserWarning):
    """An iterative solver stopped at ``max_iter`` before reaching its tolerance."""


class NonFiniteWarning(UserWarning):
    """A result holds NaN or infinite values (e.g. an edit strength that overflows)."""


class PhotoWarning(UserWarning):
    """A photo given to :func:`panda_viz.invert` was much smaller than the generator's images
    (so upscaled), or its crop kept little of it or stretched it; the message says which crop
    and which scale (both recorded on the :class:`~panda_viz.generators.inverted.Inversion`)."""
