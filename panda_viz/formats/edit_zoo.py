"""Named edits as data: an edit zoo maps a name to (layer, number of parts, part, appearance, α).

The PandA authors published, with their factor files, a list of named edits for FFHQ
StyleGAN2 (``big_eyes`` = layer 5, 8 parts: part 7, appearance 6, α 30, …). Here such a list
is a JSON file, and an edit is applied with the usual machinery
(:func:`panda_viz.editing.edits.edit_images`: Z + α a_j p̂_kᵀ at the layer, then the rest of
the generator). Two zoos ship with the package:

- ``"stylegan2_ffhq1024"``: the paper's list, exactly as in the official code (layers in
  the official counting, parts/appearances indexing the official ``Us``/``Uc`` files,
  which are not shipped: put them in a folder and pass ``root=``);
- ``"dcgan-digiface"``: edits of the embedded generator, found with
  :func:`panda_viz.editing.edits.rank_appearances` on a fixed fit whose factors ship too.

Users add their own and save them next to their factors::

    zoo = EditZoo("my-edits", generator_name=G.name)
    zoo.add("pale_lips", layer="main.5", n_parts=12, part=8, appearance=3, alpha=2.0, factors="f.npz")
    zoo.save("results/my-edits.json")          # results/f.npz beside it
    images = load_edit_zoo("results/my-edits.json").apply(G, z, "pale_lips")
"""

from __future__ import annotations

import codecs
import difflib
import json
import math
import os
import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import torch

from ..decomposition.fitted import check_fitted
from ..exceptions import (
    FileLimitError,
    IncompatibleFactorsError,
    InvalidFileError,
    InvalidInputError,
    InvalidTypeError,
)
from ..fileio.atomic import atomic_path

__all__ = ["NamedEdit", "EditZoo", "load_edit_zoo", "available_edit_zoos", "apply_named_edit", "term_names", "MAX_ZOO_BYTES"]

FORMAT = "panda_viz.formats.edit_zoo"
VERSION = 1
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
#: A zoo JSON larger than this is refused unread (the shipped ones are a few kB).
MAX_ZOO_BYTES = 4 << 20
#: Edits in one zoo at most.
MAX_EDITS = 10_000
_TEXT_LIMIT = 10_000  # characters of a name, layer or description


def _data_dir() -> Path:
    return Path(str(resources.files("panda_viz") / "data" / "edit_zoo"))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_factor_name(where: str, name: str) -> None:
    """A factor file entry is a relative path inside the zoo's folder: no root, drive or ``..``."""
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
    """One named edit: α a_j p̂_kᵀ added at ``layer`` with the factors in ``factors``.

    Attributes
    ----------
    name : str
    layer : int or str
        A module name (``"main.5"``), or an official PandA layer number of a genforce
        generator (StyleGAN2: ``L`` is ``synthesis.layer{L-1}``).
    n_parts : int
        R_S of the factors the indices refer to.
    part : int or tuple of int
        The part k (a tuple: the union of several parts, normalised together).
    appearance : int
        The appearance j (a column of the appearance factors).
    alpha : float
        The strength α (negative subtracts the appearance).
    factors : tuple of str
        The factor files, relative to the zoo's folder: one ``save_factors`` ``.npz``, or
        the official ``(Us-….npy, Uc-….npy)`` pair.
    description : str
        What the edit does, in words.
    """

    name: str
    layer: int | str
    n_parts: int
    part: int | tuple[int, ...]
    appearance: int
    alpha: float
    factors: tuple[str, ...]
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or len(self.name) > _TEXT_LIMIT or not _NAME.match(self.name):
            raise InvalidInputError(f"an edit name is a non-empty word (letters, digits, _ . + -); got {self.name!r}")
        where = f"edit {self.name!r}"
        if not ((_is_int(self.layer) and self.layer >= 1)
                or (isinstance(self.layer, str) and self.layer and len(self.layer) <= _TEXT_LIMIT)):
            raise InvalidInputError(
                f"{where}: layer must be a module name or an official layer number >= 1; got {self.layer!r}"
            )
        if not _is_int(self.n_parts) or self.n_parts < 1:
            raise InvalidInputError(f"{where}: n_parts must be an int >= 1; got {self.n_parts!r}")
        part = tuple(self.part) if isinstance(self.part, (list, tuple)) else self.part
        indices = part if isinstance(part, tuple) else (part,)
        if not indices or not all(_is_int(k) and 0 <= k < self.n_parts for k in indices):
            raise InvalidInputError(f"{where}: part must be an int or ints in 0 … {self.n_parts - 1}; got {self.part!r}")
        object.__setattr__(self, "part", part)
        if not _is_int(self.appearance) or self.appearance < 0:
            raise InvalidInputError(f"{where}: appearance must be an int >= 0; got {self.appearance!r}")
        if isinstance(self.alpha, bool) or not isinstance(self.alpha, (int, float)) or not math.isfinite(self.alpha):
            raise InvalidInputError(f"{where}: alpha must be a finite number; got {self.alpha!r}")
        object.__setattr__(self, "alpha", float(self.alpha))
        factors = (self.factors,) if isinstance(self.factors, (str, Path)) else self.factors
        factors = tuple(factors) if isinstance(factors, (list, tuple)) else ()
        if len(factors) not in (1, 2) or not all(isinstance(f, (str, Path)) and str(f) for f in factors):
            raise InvalidInputError(
                f"{where}: factors must be one .npz file or the official (Us-….npy, Uc-….npy) pair; got {self.factors!r}"
            )
        for name in factors:
            _check_factor_name(where, str(name))
        object.__setattr__(self, "factors", tuple(str(f) for f in factors))
        if not isinstance(self.description, str) or len(self.description) > _TEXT_LIMIT:
            raise InvalidInputError(f"{where}: description must be a string of at most {_TEXT_LIMIT} characters; "
                                    f"got {type(self.description).__name__}")

    @property
    def term(self) -> tuple:
        """``(part, appearance, alpha)``, the term :func:`panda_viz.editing.edits.local_edit` takes."""
        return (self.part, self.appearance, self.alpha)

    def to_dict(self) -> dict:
        """The JSON form (without the name, which is the key)."""
        out = {
            "layer": self.layer,
            "n_parts": self.n_parts,
            "part": list(self.part) if isinstance(self.part, tuple) else self.part,
            "appearance": self.appearance,
            "alpha": self.alpha,
            "factors": self.factors[0] if len(self.factors) == 1 else list(self.factors),
        }
        if self.description:
            out["description"] = self.description
        return out


@dataclass
class EditZoo(Mapping):
    """A named collection of edits for one generator; a mapping name → :class:`NamedEdit`.

    Parameters
    ----------
    name : str
    edits : mapping or sequence of NamedEdit, optional
    generator_name : str, optional
        The name of the generator the edits are for (``G.name``; ``"generator"`` in the file).
    description : str
    root : Path, optional
        The folder factor file names are resolved against (the JSON file's folder).
    fit : dict, optional
        How the factors were made (free-form, kept in the JSON).
    """

    name: str
    edits: dict = field(default_factory=dict)
    generator_name: str | None = None
    description: str = ""
    root: Path | None = None
    fit: dict | None = None
    _models: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        edits = self.edits.values() if isinstance(self.edits, Mapping) else self.edits
        self.edits = {}
        for edit in edits:
            if not isinstance(edit, NamedEdit):
                raise InvalidTypeError(f"edits must be NamedEdit objects; got {type(edit).__name__}")
            self.edits[edit.name] = edit
        self.root = None if self.root is None else Path(self.root)

    # ---------------------------------------------------------------- mapping
    def __getitem__(self, name: str) -> NamedEdit:
        try:
            return self.edits[name]
        except (KeyError, TypeError):
            close = difflib.get_close_matches(str(name), list(self.edits), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise KeyError(
                f"unknown edit {name!r} in zoo {self.name!r}{hint}; known: {', '.join(self.edits) or 'none'}"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.edits)

    def __len__(self) -> int:
        return len(self.edits)

    def __repr__(self) -> str:
        return f"EditZoo({self.name!r}, {len(self)} edits: {', '.join(self.edits)})"

    # ---------------------------------------------------------------- editing the zoo
    def add(
        self,
        name: str,
        *,
        layer: int | str,
        n_parts: int,
        part: int | Sequence[int],
        appearance: int,
        alpha: float,
        factors: str | Path | Sequence[str | Path],
        description: str = "",
        overwrite: bool = False,
    ) -> NamedEdit:
        """Add an edit (factor file names relative to where the zoo will be saved); returns it."""
        if name in self.edits and not overwrite:
            raise InvalidInputError(f"zoo {self.name!r} already has an edit {name!r}; pass overwrite=True to replace it")
        edit = NamedEdit(name, layer, n_parts, part, appearance, alpha, factors, description)
        self.edits[name] = edit
        return edit

    def add_terms(
        self, name: str, *, layer: int | str, n_parts: int, terms: Sequence[Sequence[Any]],
        factors: str | Path | Sequence[str | Path], description: str = "",
    ) -> list[NamedEdit]:
        """Add an edit of several ``(part, appearance, alpha)`` terms, applied together; returns its entries.

        One term is one edit named ``name``; several are one edit per term, named
        ``name.0``, ``name.1``… (:func:`term_names`), whose descriptions say to apply them
        together (``edit_images(G, z, model, [zoo[n].term for n in term_names(name, k)])``).
        Nothing is added when any entry is invalid or its name taken.
        """
        if not terms:
            raise InvalidInputError(f"edit {name!r} has no terms: add a term first")
        names = term_names(name, len(terms))
        taken = [n for n in names if n in self.edits]
        if taken:
            raise InvalidInputError(f"zoo {self.name!r} already has an edit named {taken[0]!r}; choose another name")
        entries = []
        for j, (entry, (part, appearance, alpha)) in enumerate(zip(names, terms)):
            together = f"term {j} of {name!r}, apply its terms together" if len(terms) > 1 else ""
            text = "; ".join(t for t in (description, together) if t)
            entries.append(NamedEdit(entry, layer, n_parts, part, appearance, alpha, factors, text))
        self.edits.update((e.name, e) for e in entries)
        return entries

    def to_dict(self) -> dict:
        """The JSON form."""
        out: dict[str, Any] = {"format": FORMAT, "version": VERSION, "name": self.name}
        if self.generator_name is not None:
            out["generator"] = self.generator_name
        if self.description:
            out["description"] = self.description
        if self.fit is not None:
            out["fit"] = self.fit
        out["edits"] = {name: edit.to_dict() for name, edit in self.edits.items()}
        return out

    def save(self, path: str | Path, *, factors: Mapping[str, Any] | None = None) -> Path:
        """Write the zoo as JSON, atomically; factor files are looked up beside it afterwards.

        Parameters
        ----------
        path : path
            A ``.json`` file.
        factors : mapping of str to fitted model, optional
            Factor files to write beside it first (:func:`panda_viz.formats.factors.save_factors`), by
            the file names the edits use.

        Warns
        -----
        UserWarning
            When a factor file an edit names is not in ``path``'s folder.
        """
        from .factors import save_factors

        path = Path(path)
        if path.suffix.lower() != ".json":
            raise InvalidInputError(f"an edit zoo is saved as .json; got {path.name!r}")
        for name, model in (factors or {}).items():
            _check_factor_name(f"factors {name!r}", name)
            save_factors(model, path.with_name(name))
        text = json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"
        with atomic_path(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
        missing = sorted({f for e in self.edits.values() for f in e.factors if not (path.parent / f).is_file()})
        if missing:
            warnings.warn(
                f"edit zoo {path.name!r} names factor files not beside it: {', '.join(missing)}; "
                "put them in the same folder (or pass root= when applying)",
                UserWarning,
                stacklevel=2,
            )
        self.root = path.parent
        return path

    # ---------------------------------------------------------------- applying
    def factor_paths(self, name: str, root: str | Path | None = None) -> tuple[Path, ...]:
        """The factor files of edit ``name``: under ``root``, else the zoo's folder, else ``./checkpoints``.

        ``./checkpoints`` is where the official code keeps its ``Us``/``Uc`` files.
        """
        edit = self[name]
        folders = [Path(root)] if root is not None else [f for f in (self.root, Path("checkpoints")) if f is not None]
        for folder in folders:
            paths = tuple(folder / f for f in edit.factors)
            if all(p.is_file() for p in paths):
                inside = folder.resolve()
                for entry, p in zip(edit.factors, paths):
                    # symlinks resolved: a link inside the folder may not point outside it
                    if not p.resolve().is_relative_to(inside):
                        raise InvalidInputError(
                            f"edit {name!r}: factors entry {entry!r} resolves to {str(p.resolve())!r}, outside the "
                            f"zoo's folder {str(inside)!r}; factor files must stay inside it"
                        )
                return paths
        searched = ", ".join(repr(str(f)) for f in folders)
        hint = (
            " (the official PandA factor files are not shipped: get them from the authors' release "
            "and pass root='<their folder>')"
            if len(edit.factors) == 2
            else ""
        )
        raise FileNotFoundError(f"factor files {', '.join(edit.factors)} of edit {name!r} not found in {searched}{hint}")

    def load_model(self, name: str, generator: Any, *, root: str | Path | None = None) -> Any:
        """The fitted factors edit ``name`` indexes, bound to ``generator`` (cached per file set)."""
        edit = self[name]
        paths = self.factor_paths(name, root)
        key = (paths, id(generator))
        if key not in self._models:
            if len(paths) == 2:
                from .official import load_official_factors

                model = load_official_factors(*paths, generator, layer=edit.layer)
            else:
                from .factors import load_factors

                model = load_factors(paths[0])
            self._models[key] = model
        return self._models[key]

    def apply(
        self,
        generator: Any,
        latents: torch.Tensor,
        name: str,
        *,
        model: Any = None,
        alpha: float | None = None,
        root: str | Path | None = None,
        batch_size: int | None = None,
    ) -> torch.Tensor:
        """Images of ``latents`` with edit ``name`` applied (factors loaded if ``model`` is None)."""
        if model is None:
            model = self.load_model(name, generator, root=root)
        return apply_named_edit(generator, latents, model, name, zoo=self, alpha=alpha, batch_size=batch_size)

    def edits_for(self, model: Any, generator: Any, *, root: str | Path | None = None) -> list[str]:
        """Names of the edits made with ``model``'s factors (the same parts and appearances), in zoo order.

        An edit whose factor files are missing, or do not load for ``generator``, is left out:
        it cannot be applied with ``model``. Factor files are resolved as in :meth:`factor_paths`.
        """
        check_fitted(model)
        parts, appearances = (t.detach().to("cpu", torch.float32) for t in (model.parts_, model.appearances_))
        names = []
        for name in self.edits:
            try:
                factors = self.load_model(name, generator, root=root)
            except (OSError, ValueError):  # not found, or made for another generator
                continue
            if factors is model or (
                factors.parts_.shape == parts.shape
                and factors.appearances_.shape == appearances.shape
                and torch.equal(factors.parts_.detach().to("cpu", torch.float32), parts)
                and torch.equal(factors.appearances_.detach().to("cpu", torch.float32), appearances)
            ):
                names.append(name)
        return names


# ------------------------------------------------------------------------ reading zoos
def term_names(name: str, n_terms: int) -> list[str]:
    """The names :meth:`EditZoo.add_terms` gives an edit of ``n_terms`` terms:
    ``[name]``, or ``name.0``, ``name.1``… for several."""
    return [name] if n_terms == 1 else [f"{name}.{j}" for j in range(n_terms)]


def available_edit_zoos() -> list[str]:
    """Names of the edit zoos shipped with panda_viz."""
    return sorted(p.stem for p in _data_dir().glob("*.json"))


_ZOO_KEYS = {"format", "version", "name", "generator", "description", "fit", "edits"}
_EDIT_KEYS = {"layer", "n_parts", "part", "appearance", "alpha", "factors"}


def _from_dict(data: Any, source: str, root: Path | None, path: Path | None = None) -> EditZoo:
    def fail(why: str) -> None:
        raise InvalidFileError(f"{source}: {why}", path)

    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InvalidFileError(f"{source} is not an edit zoo (expected a JSON object with \"format\": {FORMAT!r})", path)
    if data.get("version") != VERSION:
        fail(f"edit zoo version {data.get('version')!r} is not supported (expected {VERSION})")
    unknown = sorted(set(data) - _ZOO_KEYS)
    if unknown:
        fail(f"unknown top-level keys {unknown[:5]}; an edit zoo has {sorted(_ZOO_KEYS)}")
    for key, ok, expected in (
        ("name", lambda v: isinstance(v, str) and 0 < len(v) <= _TEXT_LIMIT, "a non-empty string"),
        ("generator", lambda v: v is None or (isinstance(v, str) and len(v) <= _TEXT_LIMIT), "null or a string"),
        ("description", lambda v: isinstance(v, str) and len(v) <= _TEXT_LIMIT, f"a string (≤ {_TEXT_LIMIT} characters)"),
        ("fit", lambda v: v is None or isinstance(v, dict), "null or an object"),
    ):
        if key in data and not ok(data[key]):
            fail(f"\"{key}\" must be {expected}; got {type(data[key]).__name__} {str(data[key])[:80]!r}")
    entries = data.get("edits")
    if not isinstance(entries, dict):
        fail(f"\"edits\" must map names to edits; got {type(entries).__name__}")
    if len(entries) > MAX_EDITS:
        raise FileLimitError(f"{source}: {len(entries):,} edits; a zoo holds at most {MAX_EDITS:,}", path)
    edits = []
    for name, entry in entries.items():
        if not isinstance(entry, dict):
            fail(f"edit {name!r} must be an object; got {type(entry).__name__}")
        missing = _EDIT_KEYS - set(entry)
        unknown = set(entry) - _EDIT_KEYS - {"description"}
        if missing or unknown:
            fail(f"edit {name!r} is missing {sorted(missing)} / has unknown keys {sorted(unknown)}")
        try:
            edits.append(NamedEdit(name, **entry))
        except (ValueError, TypeError) as error:
            message = str(error)
            where = f"edit {name!r}"
            fail(message if message.startswith(where) else f"{where}: {message}")
    return EditZoo(
        str(data.get("name", source)),
        edits,
        generator_name=data.get("generator"),
        description=data.get("description", ""),
        root=root,
        fit=data.get("fit"),
    )


_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


def _read_zoo_text(path: Path) -> str:
    """The zoo file as UTF-8 text, at most :data:`MAX_ZOO_BYTES` read."""
    size = path.stat().st_size
    if size > MAX_ZOO_BYTES:
        raise FileLimitError(
            f"edit zoo {str(path)!r} is {size:,} bytes; an edit zoo is at most {MAX_ZOO_BYTES:,} bytes (not read)", path
        )
    with open(path, "rb") as f:
        raw = f.read(MAX_ZOO_BYTES + 1)
    if len(raw) > MAX_ZOO_BYTES:  # grew while we looked, or a device file
        raise FileLimitError(f"edit zoo {str(path)!r} holds more than {MAX_ZOO_BYTES:,} bytes", path)
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            raise InvalidFileError(f"edit zoo {str(path)!r} is {encoding} text; save it as UTF-8", path)
    if len(raw) >= 2 and (raw[0] == 0 or raw[1] == 0):
        raise InvalidFileError(f"edit zoo {str(path)!r} looks like UTF-16/32 text (NUL bytes); save it as UTF-8", path)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InvalidFileError(
            f"edit zoo {str(path)!r} is not UTF-8 text (byte {raw[err.start]:#04x} at offset {err.start}); "
            "an edit zoo is a UTF-8 JSON file",
            path,
        ) from None


def load_edit_zoo(name_or_path: str | Path) -> EditZoo:
    """A shipped zoo by name (see :func:`available_edit_zoos`), or a zoo JSON file.

    Factor files are resolved against the JSON file's folder (the package's data folder
    for shipped zoos).
    """
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise InvalidTypeError(
            f"load_edit_zoo takes a shipped zoo's name or a .json path; got {type(name_or_path).__name__}"
        )
    path = Path(name_or_path)
    if isinstance(name_or_path, str) and path.suffix.lower() != ".json":
        shipped = _data_dir() / f"{name_or_path}.json"
        if not _NAME.match(name_or_path) or not shipped.is_file():
            raise InvalidInputError(
                f"unknown edit zoo {name_or_path!r}; shipped: {', '.join(available_edit_zoos())} (or pass a .json path)"
            )
        path = shipped
    if not path.is_file():
        raise FileNotFoundError(f"edit zoo {str(path)!r} does not exist")
    text = _read_zoo_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise InvalidFileError(f"{str(path)!r} is not valid JSON: {err}", path) from None
    except (RecursionError, ValueError) as err:  # nesting past the recursion limit, 5000-digit numbers
        raise InvalidFileError(f"{str(path)!r} is not a readable edit zoo JSON ({type(err).__name__}: "
                               f"{str(err)[:200]})", path) from None
    return _from_dict(data, repr(str(path)), path.parent, path)


def _resolve_edit_layer(generator: Any, edit: NamedEdit) -> str:
    if isinstance(edit.layer, str):
        return edit.layer
    from .official import official_layer

    return official_layer(generator, edit.layer)


def apply_named_edit(
    generator: Any, latents: torch.Tensor, model: Any, name: str,
    *,
    zoo: EditZoo | str | Path | None = None, alpha: float | None = None, batch_size: int | None = None,
) -> torch.Tensor:
    """Images of ``latents`` with the named edit ``name`` applied with ``model``'s factors.

    Parameters
    ----------
    generator : panda_viz.Generator
    latents : Tensor (N, *latent_shape)
    model : fitted PandA
        The factors the edit indexes (e.g. ``zoo.load_model(name, G)``, or
        :func:`panda_viz.formats.official.load_official_factors`); checked against the edit's layer
        and number of parts.
    name : str
    zoo : EditZoo, str or Path, optional
        Default: the shipped zoo named after the generator (``G.name``).
    alpha : float, optional
        Overrides the edit's strength (e.g. for a slider).
    batch_size : int or None
        Samples per forward pass; ``None``: as many as fit in ``generator.memory_budget``.

    Returns
    -------
    Tensor (N, 3, H, W) in [-1, 1]
    """
    from ..editing.edits import edit_images

    if zoo is None:
        gname = getattr(generator, "name", None)
        if gname not in available_edit_zoos():
            raise InvalidInputError(
                f"no shipped edit zoo for generator {gname!r} (shipped: {', '.join(available_edit_zoos())}); pass zoo=…"
            )
        zoo = gname
    if not isinstance(zoo, EditZoo):
        zoo = load_edit_zoo(zoo)
    edit = zoo[name]
    layer = _resolve_edit_layer(generator, edit)
    fitted_at, n_parts = getattr(check_fitted(model), "layer_", None), int(model.parts_.shape[0])
    if (fitted_at is not None and fitted_at != layer) or n_parts != edit.n_parts:
        raise IncompatibleFactorsError(
            f"edit {name!r} of zoo {zoo.name!r} indexes factors at layer {edit.layer!r} ({layer}) with "
            f"{edit.n_parts} parts; the model given is at {fitted_at!r} with {n_parts} parts "
            f"(load the right ones with zoo.load_model({name!r}, G))"
        )
    term = edit.term if alpha is None else (edit.part, edit.appearance, float(alpha))
    return edit_images(generator, latents, model, [term], layer=layer, batch_size=batch_size)
