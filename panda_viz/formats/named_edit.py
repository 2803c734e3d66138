"""One named edit of an edit zoo: (layer, number of parts, its terms, factor files).

A term is (part, appearance, α); an edit has one term or several, applied together. A
:class:`NamedEdit` checks its fields when made, so an edit read from a zoo file and one
made with :meth:`panda_viz.formats.edit_zoo.EditZoo.add` obey the same rules; its factor
file names must stay inside the zoo's folder (:func:`check_factor_name`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

from .._checks import is_int, is_real
from ..exceptions import InvalidInputError, InvalidStateError, ResourceLimitError

__all__ = ["NamedEdit", "check_factor_name", "EDIT_NAME", "TEXT_LIMIT", "MAX_TERMS"]

#: What an edit's (and a shipped zoo's) name looks like: a word of letters, digits, ``_ . + -``.
EDIT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
#: Characters of a name, layer or description at most.
TEXT_LIMIT = 10_000
#: Terms of one edit at most (the edit panel's rows are a handful).
MAX_TERMS = 256


def check_factor_name(where: str, name: str) -> None:
    """A factor file entry is a relative path inside the zoo's folder: no root, drive or ``..``.

    Raises
    ------
    InvalidInputError
        Empty, too long, absolute (POSIX or Windows), or climbing out with ``..``; the
        message starts with ``where``.
    """
    if not name or "\x00" in name or len(name) > 4096:
        raise InvalidInputError(f"{where}: a factors entry must be a non-empty file name; got {name!r}")
    for pure in (PurePosixPath(name), PureWindowsPath(name)):
        if pure.is_absolute() or pure.drive or pure.root:
            raise InvalidInputError(
                f"{where}: factors entry {name!r} is an absolute path; factor files are named relative to the "
                "zoo's folder and must stay inside it"
            )
        if ".." in pure.parts:
            raise InvalidInputError(
                f"{where}: factors entry {name!r} climbs out with '..'; factor files must stay inside the zoo's folder"
            )


@dataclass(frozen=True)
class NamedEdit:
    """One named edit: Σ α a_j p̂_kᵀ over its terms, added at ``layer`` with the factors in ``factors``.

    Every field is checked when the edit is made (:class:`~panda_viz.exceptions.InvalidInputError`
    naming the edit and the field); integers are stored as ``int``, α as ``float``. An edit
    of one term is made with ``part``, ``appearance`` and ``alpha``; an edit of several with
    ``terms=[(part, appearance, alpha), …]`` and those three left ``None``.

    Attributes
    ----------
    name : str
    layer : int or str
        A module name (``"main.5"``), or an official PandA layer number of a genforce
        generator (StyleGAN2: ``L`` is ``synthesis.layer{L-1}``).
    n_parts : int
        R_S of the factors the indices refer to.
    part : int or tuple of int or None
        The part k (a tuple: the union of several parts, normalised together); ``None`` for
        an edit of several terms.
    appearance : int or None
        The appearance j (a column of the appearance factors); ``None`` for several terms.
    alpha : float or None
        The strength α (negative subtracts the appearance); ``None`` for several terms.
    factors : tuple of str
        The factor files, relative to the zoo's folder: one ``save_factors`` ``.npz``, or
        the official ``(Us-….npy, Uc-….npy)`` pair.
    description : str
        What the edit does, in words.
    terms : tuple of (part, appearance, alpha)
        Every term, applied together (at most :data:`MAX_TERMS`); for an edit of one term,
        ``((part, appearance, alpha),)``.
    """

    name: str
    layer: int | str
    n_parts: int
    part: int | tuple[int, ...] | None = None
    appearance: int | None = None
    alpha: float | None = None
    factors: tuple[str, ...] = ()
    description: str = ""
    terms: tuple[tuple, ...] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or len(self.name) > TEXT_LIMIT or not EDIT_NAME.match(self.name):
            raise InvalidInputError(f"an edit name is a non-empty word (letters, digits, _ . + -); got {self.name!r}")
        where = f"edit {self.name!r}"
        self._set("layer", self._layer(where))
        if not is_int(self.n_parts) or self.n_parts < 1:
            raise InvalidInputError(f"{where}: n_parts must be an int >= 1; got {self.n_parts!r}")
        self._set("n_parts", int(self.n_parts))
        self._set("terms", self._terms(where))
        if len(self.terms) == 1:
            self._set("part", self.terms[0][0])
            self._set("appearance", self.terms[0][1])
            self._set("alpha", self.terms[0][2])
        self._set("factors", self._factors(where))
        if not isinstance(self.description, str) or len(self.description) > TEXT_LIMIT:
            raise InvalidInputError(f"{where}: description must be a string of at most {TEXT_LIMIT} characters; "
                                    f"got {type(self.description).__name__}")

    def _set(self, name: str, value: object) -> None:
        object.__setattr__(self, name, value)  # a frozen dataclass normalising its own fields

    def _terms(self, where: str) -> tuple[tuple, ...]:
        single = (self.part, self.appearance, self.alpha)
        if self.terms is None:
            return (self._term(where, *single),)
        if any(v is not None for v in single):
            raise InvalidInputError(f"{where}: give either part, appearance and alpha (one term) or terms=[…], not both")
        if not isinstance(self.terms, (list, tuple)) or not self.terms:
            raise InvalidInputError(f"{where}: terms must be a non-empty list of (part, appearance, alpha); "
                                    f"got {type(self.terms).__name__}")
        if len(self.terms) > MAX_TERMS:
            raise ResourceLimitError(f"{where}: {len(self.terms):,} terms; an edit has at most {MAX_TERMS}")
        checked = []
        for j, term in enumerate(self.terms):
            if not isinstance(term, (list, tuple)) or len(term) != 3:
                raise InvalidInputError(f"{where}: term {j} must be (part, appearance, alpha); got {type(term).__name__}"
                                        + (f" of {len(term)} items" if isinstance(term, (list, tuple)) else ""))
            checked.append(self._term(f"{where}, term {j}" if len(self.terms) > 1 else where, *term))
        return tuple(checked)

    def _term(self, where: str, given: object, appearance: object, alpha: object) -> tuple:
        part = tuple(given) if isinstance(given, (list, tuple)) else given
        indices = part if isinstance(part, tuple) else (part,)
        if not indices or not all(is_int(k) and 0 <= k < self.n_parts for k in indices):
            raise InvalidInputError(f"{where}: part must be an int or ints in 0 … {self.n_parts - 1}; got {given!r}")
        if not is_int(appearance) or appearance < 0:
            raise InvalidInputError(f"{where}: appearance must be an int >= 0; got {appearance!r}")
        if not is_real(alpha) or not math.isfinite(alpha):
            raise InvalidInputError(f"{where}: alpha must be a finite number; got {alpha!r}")
        part = tuple(int(k) for k in part) if isinstance(part, tuple) else int(part)
        return (part, int(appearance), float(alpha))

    def _layer(self, where: str) -> int | str:
        if is_int(self.layer) and self.layer >= 1:
            return int(self.layer)
        if isinstance(self.layer, str) and self.layer and len(self.layer) <= TEXT_LIMIT:
            return self.layer
        raise InvalidInputError(
            f"{where}: layer must be a module name or an official layer number >= 1; got {self.layer!r}"
        )

    def _factors(self, where: str) -> tuple[str, ...]:
        factors = (self.factors,) if isinstance(self.factors, (str, Path)) else self.factors
        factors = tuple(factors) if isinstance(factors, (list, tuple)) else ()
        if len(factors) not in (1, 2) or not all(isinstance(f, (str, Path)) and str(f) for f in factors):
            raise InvalidInputError(
                f"{where}: factors must be one .npz file or the official (Us-….npy, Uc-….npy) pair; got {self.factors!r}"
            )
        for name in factors:
            check_factor_name(where, str(name))
        return tuple(str(f) for f in factors)

    @property
    def term(self) -> tuple:
        """``(part, appearance, alpha)`` of an edit of one term (:func:`panda_viz.editing.edits.local_edit` takes it).

        Raises
        ------
        InvalidStateError
            The edit has several terms: use :attr:`terms`.
        """
        if len(self.terms) != 1:
            raise InvalidStateError(f"edit {self.name!r} has {len(self.terms)} terms, applied together: use .terms")
        return self.terms[0]

    def to_dict(self) -> dict:
        """The JSON form (without the name, which is the key): ``part``/``appearance``/``alpha``
        for one term, a ``terms`` list of such objects for several."""
        def listed(part):
            return list(part) if isinstance(part, tuple) else part

        out: dict = {"layer": self.layer, "n_parts": self.n_parts}
        if len(self.terms) == 1:
            out.update(part=listed(self.part), appearance=self.appearance, alpha=self.alpha)
        else:
            out["terms"] = [{"part": listed(p), "appearance": a, "alpha": al} for p, a, al in self.terms]
        out["factors"] = self.factors[0] if len(self.factors) == 1 else list(self.factors)
        if self.description:
            out["description"] = self.description
        return out
