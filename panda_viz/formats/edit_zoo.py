"""Named edits as data: an edit zoo maps a name to (layer, number of parts, its (part, appearance, α) terms).

This module holds the collection (:class:`EditZoo`: adding, saving, finding and reading an
edit's factor files, applying an edit); one edit and its checks are
:mod:`panda_viz.formats.named_edit`, the zoo's JSON file :mod:`panda_viz.formats.zoo_file`.

The PandA authors published, with their factor files, a list of named edits for FFHQ
StyleGAN2 (``big_eyes`` = layer 5, 8 parts: part 7, appearance 6, α 30, …). Here such a list
is a JSON file, and an edit is applied with the usual machinery
(:func:`panda_viz.editing.edits.edit_images`: Z + α a_j p̂_kᵀ at the layer, then the rest of
the generator). Two zoos ship with the package:

- ``"stylegan2_ffhq1024"``: the paper's list, exactly as in the official code (layers in
  the official counting, parts/appearances indexing the official ``Us``/``Uc`` files,
  which are not shipped: put them in a folder and pass ``root=``);
- ``"dcgan-digiface"``: edits of the embedded generator, found with
  :func:`panda_viz.editing.ranking.rank_appearances` on a fixed fit whose factors ship too.

Users add their own and save them next to their factors::

    zoo = EditZoo("my-edits", generator_name=G.name)
    zoo.add("pale_lips", layer="main.5", n_parts=12, part=8, appearance=3, alpha=2.0, factors="f.npz")
    zoo.add_terms("pale_mouth", layer="main.5", n_parts=12, terms=[(8, 3, 2.0), (1, 5, -1.5)], factors="f.npz")
    zoo.save("results/my-edits.json")          # results/f.npz beside it
    images = load_edit_zoo("results/my-edits.json").apply(G, z, "pale_lips")
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .._checks import check_bool, check_float, near_misses, unknown_name_message
from ..decomposition.fitted import check_fitted
from ..exceptions import (
    IncompatibleFactorsError,
    InvalidInputError,
    InvalidTypeError,
    MissingFileError,
    UnknownKeyError,
)
from .named_edit import NamedEdit, check_factor_name
from .zoo_file import (
    ZooContents,
    available_edit_zoos,
    read_zoo_file,
    shipped_zoo_path,
    write_zoo_file,
    zoo_document,
    zoo_text,
)

__all__ = ["EditZoo", "load_edit_zoo", "apply_named_edit"]


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
            close = near_misses(name, self.edits, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            # a KeyError, as the Mapping protocol needs (``in``, ``get``)
            raise UnknownKeyError(
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
        if name in self.edits and not check_bool("overwrite", overwrite):
            raise InvalidInputError(f"zoo {self.name!r} already has an edit {name!r}; pass overwrite=True to replace it")
        edit = NamedEdit(name, layer, n_parts, part, appearance, alpha, factors, description)
        self.edits[name] = edit
        return edit

    def add_terms(
        self, name: str, *, layer: int | str, n_parts: int, terms: Sequence[Sequence[Any]],
        factors: str | Path | Sequence[str | Path], description: str = "", overwrite: bool = False,
    ) -> NamedEdit:
        """Add one edit of several ``(part, appearance, alpha)`` terms, applied together; returns it.

        Nothing is added when a term is invalid or the name taken (unless ``overwrite``).
        """
        if name in self.edits and not check_bool("overwrite", overwrite):
            raise InvalidInputError(f"zoo {self.name!r} already has an edit {name!r}; choose another name")
        if isinstance(terms, (list, tuple)) and not terms:
            raise InvalidInputError(f"edit {name!r} has no terms: add a term first")
        edit = NamedEdit(name, layer, n_parts, factors=factors, description=description, terms=terms)
        self.edits[name] = edit
        return edit

    def contents(self) -> ZooContents:
        """What the zoo's file holds (:mod:`panda_viz.formats.zoo_file`)."""
        return ZooContents(self.name, list(self.edits.values()), generator_name=self.generator_name,
                           description=self.description, fit=self.fit)

    def to_dict(self) -> dict:
        """The JSON form (:func:`panda_viz.formats.zoo_file.zoo_document`)."""
        return zoo_document(self.contents())

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
        from .factors import check_factors_path, factors_payload, write_factors

        if not isinstance(path, (str, os.PathLike)):
            raise InvalidTypeError(f"EditZoo.save: path must be a str or Path; got {type(path).__name__}")
        path = Path(path)
        if path.suffix.lower() != ".json":
            raise InvalidInputError(f"an edit zoo is saved as .json; got {path.name!r}")
        if factors is not None and not isinstance(factors, Mapping):
            raise InvalidTypeError(f"EditZoo.save: factors must map file names to fitted models; got {type(factors).__name__}")
        # everything is checked and serialised first: a bad value leaves no file behind, not even a factor file
        text = zoo_text(self.contents(), where=f"EditZoo.save({str(path)!r})")
        payloads = {}
        for name, model in (factors or {}).items():
            check_factor_name(f"factors {name!r}", name)
            payloads[name] = factors_payload(model)
        check_factors_path(path, "EditZoo.save")
        for name, payload in payloads.items():
            write_factors(payload, check_factors_path(path.with_name(name), "EditZoo.save"))
        write_zoo_file(path, text)
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
            "and pass root=<their folder>; panda-viz render: --root FOLDER)"
            if len(edit.factors) == 2
            else ""
        )
        raise MissingFileError(f"factor files {', '.join(edit.factors)} of edit {name!r} not found in {searched}{hint}")

    def load_model(self, name: str, generator: Any, *, root: str | Path | None = None) -> Any:
        """Read the factor files edit ``name`` indexes into a fitted model bound to ``generator``.

        The files are those :meth:`factor_paths` finds: an official ``(Us, Uc)`` pair is read
        by :func:`~panda_viz.formats.official.load_official_factors` (bound to the edit's
        layer of ``generator``), one ``.npz`` by :func:`~panda_viz.formats.factors.load_factors`.
        A file set is read once per generator; later calls return the same model.
        """
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


def load_edit_zoo(name_or_path: str | Path) -> EditZoo:
    """Read a shipped zoo by name (see :func:`~panda_viz.formats.zoo_file.available_edit_zoos`), or a zoo JSON file.

    Factor files are resolved against the JSON file's folder (the package's data folder
    for shipped zoos). The file is read and checked by
    :func:`panda_viz.formats.zoo_file.read_zoo_file`.

    Raises
    ------
    InvalidTypeError
        ``name_or_path`` is neither a str nor a path.
    InvalidInputError
        No zoo ships under that name.
    FileNotFoundError
        The file does not exist.
    InvalidFileError, FileLimitError
        As :func:`~panda_viz.formats.zoo_file.read_zoo_file`.
    """
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise InvalidTypeError(
            f"load_edit_zoo takes a shipped zoo's name or a .json path; got {type(name_or_path).__name__}"
        )
    path = Path(name_or_path)
    if isinstance(name_or_path, str) and path.suffix.lower() != ".json":
        shipped = shipped_zoo_path(name_or_path)
        if shipped is None:
            raise InvalidInputError(unknown_name_message("edit zoo", name_or_path, available_edit_zoos())
                                    + " (or pass a .json path)")
        path = shipped
    if not path.exists():
        raise MissingFileError(f"edit zoo {str(path)!r} does not exist")
    contents = read_zoo_file(path)
    return EditZoo(contents.name, contents.edits, generator_name=contents.generator_name,
                   description=contents.description, root=path.parent, fit=contents.fit)


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
    """Images of ``latents`` with the named edit ``name`` (all its terms, together) applied with ``model``'s factors.

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
        Overrides the strength of an edit of one term (e.g. for a slider); refused for an
        edit of several terms, whose α are each their own.
    batch_size : int or None
        Samples per forward pass; ``None``: as many as fit in ``generator.memory_budget``.

    Returns
    -------
    Tensor (N, 3, H, W) in [-1, 1]
    """
    from ..editing.edits import edit_images

    alpha = check_float("apply_named_edit: alpha", alpha, low=None, allow_none=True)
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
            f"edit {name!r} of zoo {zoo.name!r} indexes factors at layer {edit.layer!r}"
            f"{'' if layer == edit.layer else f' ({layer})'} with "
            f"{edit.n_parts} parts; the model given is at {fitted_at!r} with {n_parts} parts "
            f"(load the right ones with zoo.load_model({name!r}, G))"
        )
    if alpha is not None and len(edit.terms) > 1:
        raise InvalidInputError(
            f"apply_named_edit: edit {name!r} has {len(edit.terms)} terms, each with its own α; alpha= overrides "
            f"the α of an edit of one term only (got alpha={alpha:g})"
        )
    terms = list(edit.terms) if alpha is None else [(edit.part, edit.appearance, alpha)]
    return edit_images(generator, latents, model, terms, layer=layer, batch_size=batch_size)
