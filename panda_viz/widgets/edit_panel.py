"""Local edits Z + Σ α a_j p̂_kᵀ with one α slider per term: original, edited and difference."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch

from .._checks import check_bool, check_int
from ..decomposition.fitted import check_compatible
from ..editing import edits as editing
from ..editing.ranking import default_alpha
from ..exceptions import InvalidInputError, InvalidStateError
from ..formats.edit_zoo import EditZoo
from ..imaging import render
from ..runtime.work_folder import work_folder
from ._common import DEFAULT_SCALE, NO_PHOTO_CODE, Samples, central_part, check_index, row_layout, set_slider
from .panel import PARTS, BackgroundJob, Panel
from .live import LiveRule
from .ranking_cache import RankingCache
from .roi import RoiPainter
from .term_row import SIGN_HELP, TermRow, outline_parts

__all__ = ["EditPanel"]


class EditPanel(Panel):
    """Edit a sample locally with PandA's parts and appearances.

    Each term adds α a_j p̂_kᵀ at the model's layer (:func:`panda_viz.editing.edits.edit_images`);
    the appearances offered for a part are ranked by how much, and how locally, they change
    it (:func:`panda_viz.editing.ranking.rank_appearances`, on a few fixed samples, cached per part).
    With the region set to "painted region" every term uses the mask painted in
    :attr:`roi` instead of its part (the paper's hand-drawn ROI).

    Parameters
    ----------
    generator : Generator
    model : fitted PandA model
    seed : int
    roi : RoiPainter, optional
        A painter to share (the Explorer shares one with the removal panel).
    n_rank_samples, n_rank_candidates : int
        Samples and leading appearances used to rank appearances for a part.
    zoo : EditZoo, optional
        Named edits (:mod:`panda_viz.formats.edit_zoo`); those whose factors are ``model``'s
        (:meth:`EditZoo.edits_for <panda_viz.formats.edit_zoo.EditZoo.edits_for>`) are offered in a
        "named edit" menu that loads their term.
    samples : Samples, optional

    Attributes
    ----------
    rows : list of TermRow, each with ``.part``, ``.appearance``, ``.alpha`` (α slider, live
        while renders are fast: :attr:`live`) and ``.remove``
    live : LiveRule
        Keeps the α sliders live while one render is fast (:mod:`panda_viz.widgets.live`).
    rankings : RankingCache
        Every part's appearance ranking, computed in the background after a new model.
    outline, save_image_button, sign_help
        Outline the terms' parts on the original; write the edited PNG (:meth:`save_image`);
        what ±α in the appearance menu means.
    region : ipywidgets.ToggleButtons
        "parts" or "painted region".
    original, edited, difference : ImagePane
    edits : list of dict
        Edits added with "add to list" (``name``, ``terms``, ``seed``, ``layer``…, as
        :meth:`current`); "save" writes them as an edit zoo (:meth:`save`).
    keep_name : ipywidgets.Text
        The name the next kept edit gets (``edit1``, ``edit2``… when empty).
    code : ipywidgets.Textarea
        The current edit as a line of Python.
    named : ipywidgets.Dropdown
        The zoo's named edits made with this model (hidden when there are none).
    batch_n, batch_button, batch_progress, batch
        "apply to seeds": how many, the button, its progress bar and the resulting grid.
    roi : RoiPainter
    log_area : LogArea
    """

    def __init__(self, generator: Any, model: Any, *, seed: int = 0, roi: RoiPainter | None = None,
                 n_rank_samples: int = 4, n_rank_candidates: int = 32, zoo: Any = None,
                 samples: Samples | None = None, scale: int = DEFAULT_SCALE,
                 rank_in_background: bool = True) -> None:
        super().__init__(generator, seed=seed, samples=samples, scale=scale)
        self.zoo = zoo
        self.n_rank_samples = check_int("EditPanel: n_rank_samples", n_rank_samples, low=1)
        self.n_rank_candidates = check_int("EditPanel: n_rank_candidates", n_rank_candidates, low=1)
        self.model: Any = None
        self.layer: str | None = None
        self.rows: list[TermRow] = []
        self.edits: list[dict] = []
        self._edit_models: list[Any] = []  # the model each kept edit indexes (the Explorer may fit a new one)
        self.rankings = RankingCache(generator, n_samples=self.n_rank_samples, n_candidates=self.n_rank_candidates)
        self._rank_in_background = check_bool("EditPanel: rank_in_background", rank_in_background)
        self._batch_key: tuple | None = None  # what the apply-to-seeds grid shows (model, seed, terms)
        self.live = LiveRule(lambda: [row.alpha for row in self.rows])
        self._alpha_scale = 1.0
        guard = self.guard
        self.use_painter(roi)
        self.region_toggle("region")
        self.named = widgets.Dropdown(description="named edit", options=[("—", "")], value="",
                                      layout=widgets.Layout(width="340px", display="none"),
                                      style={"description_width": "initial"})
        self.named.observe(guard("named edit", lambda ch: self.apply_named_edit(ch["new"]) if ch["new"] else None),
                           "value")
        self.add_button = widgets.Button(description="term", icon="plus", tooltip="add a (part, appearance, α) term",
                                         layout=widgets.Layout(width="80px"))
        self.keep_name = widgets.Text(placeholder="name", layout=widgets.Layout(width="120px"))
        self.keep_button = widgets.Button(description="add to list", icon="bookmark",
                                          tooltip="keep this edit in the list below", layout=widgets.Layout(width="120px"))
        self.save_path = widgets.Text(value=str(work_folder() / "edits" / "edits.json"), description="save to",
                                      tooltip="an edit zoo (.json), with the factors beside it (-factors.npz)",
                                      layout=widgets.Layout(width="300px"), style={"description_width": "50px"})
        self.save_button = widgets.Button(description="save", icon="save", layout=widgets.Layout(width="80px"))
        self.save_image_button = widgets.Button(description="save image", icon="image",
                                                tooltip="write the edited image as a PNG to the work folder",
                                                layout=widgets.Layout(width="120px"))
        self.outline = widgets.Checkbox(value=True, description="outline the part", indent=False,
                                        layout=widgets.Layout(width="140px"))
        self.sign_help = widgets.HTML(SIGN_HELP, layout=widgets.Layout(width="auto"))
        self.code = widgets.Textarea(layout=widgets.Layout(width="calc(100% - 6px)", height="3.6em"))  # 100% + margins overflows
        self.code.add_class("panda-edit-code")
        self.edit_list = widgets.HTML()
        self.batch_n = widgets.BoundedIntText(value=8, min=1, max=256, description="seeds",
                                              layout=widgets.Layout(width="140px"), style={"description_width": "40px"})
        self.batch_button = widgets.Button(description="apply to seeds", icon="th",
                                           tooltip="the current edit on the next seeds, original above edited",
                                           layout=widgets.Layout(width="140px"))
        self.batch_progress = widgets.IntProgress(value=0, min=0, max=1, layout=widgets.Layout(width="200px"))
        self.batch = self.pane("batch: originals above, edited below", "panda-edit-batch",
                               scale=max(1, self.scale // 2))
        self.batch.layout.display = "none"
        self._batch_job = BackgroundJob("batch", self.batch_button, self.batch_progress, self.log_area)
        self._rows_box = widgets.VBox()
        self.original = self.pane("original", "panda-edit-original")
        self.edited = self.pane("edited", "panda-edited")
        self.difference = self.pane("difference", "panda-edit-difference")
        self.panes = (self.original, self.edited, self.difference)
        self.add_button.on_click(guard("add term", lambda _b: self.add_term()))
        self.keep_button.on_click(guard("add to list", lambda _b: self.keep()))
        self.save_button.on_click(guard("save", lambda _b: self.save(self.save_path.value)))
        self.save_image_button.on_click(guard("save image", lambda _b: self.save_image()))
        self.outline.observe(guard("outline", lambda _ch: self.render()), "value")
        self.batch_button.on_click(guard("batch", lambda _b: self.apply_to_seeds(self.batch_n.value)))
        self.set_body(
            widgets.HBox([self.seed, self.region, self.add_button, self.named], layout=row_layout()),
            self._rows_box,
            self.sign_help,
            self.image_row(),
            widgets.HBox([self.outline, self.save_image_button, self.keep_name, self.keep_button, self.save_path,
                          self.save_button], layout=row_layout()),
            self.code,
            self.edit_list,
            widgets.HBox([self.batch_n, self.batch_button, self.batch_progress], layout=row_layout()),
            self.batch,
        )
        with self.log_area.guard("model"):
            self.set_model(model)

    # ---------------------------------------------------------------- model and terms
    def set_model(self, model: Any) -> None:
        """Use another fitted model: one term, α = 0, on the part strongest at the centre of the
        layer (usually on the object) with that part's best-ranked appearance."""
        self.layer = check_compatible(self.generator, model)
        self.model = model
        Z = self.samples.features(0, self.layer)
        self._alpha_scale = default_alpha(Z)
        self.rankings.reset(model, layer=self.layer, alpha=self._alpha_scale)
        self._offer_named_edits()
        self._hide_batch()
        with self.render_held():
            for row in list(self.rows):
                self._drop_row(row)
            self.add_term(part=central_part(model), alpha=0.0)
        self.render()
        if self._rank_in_background:  # the other parts' rankings, so a part change later is instant
            self.rankings.start()

    def _rank_options(self, row: TermRow) -> None:
        ranking = self.rankings.get(row.part.value)
        options = [(f"{int(j)}  (score {float(s):.3f}, {'+' if g > 0 else '−'}α)", int(j))
                   for j, s, g in zip(ranking.appearances, ranking.scores, ranking.signs)]
        row.appearance.options = options
        row.appearance.value = options[0][1]

    def add_term(self, part: int | None = None, appearance: int | None = None, alpha: float | None = None) -> None:
        """Add a term; defaults: the next part, its best-ranked appearance, α = ± the ranking's strength."""
        n_parts = int(self.model.parts_.shape[0])
        if part is None:
            part = len(self.rows) % n_parts
        elif isinstance(part, (tuple, list)):
            part = tuple(check_index(k, n_parts, "part") for k in part)
        else:
            part = check_index(part, n_parts, "part")
        row = TermRow(n_parts, part, 2.5 * self._alpha_scale)
        with self.render_held():
            self._rank_options(row)
            if appearance is not None:
                self._set_appearance(row, appearance)
            ranking = self.rankings.get(part)
            sign = float(ranking.signs[(ranking.appearances == row.appearance.value).nonzero()[0, 0]])
            set_slider(row.alpha, sign * ranking.alpha if alpha is None else float(alpha))
        guard = self.guard
        row.part.observe(guard("part", lambda ch, r=row: self._part_changed(r)), "value")
        row.appearance.observe(guard("appearance", lambda ch: self.render()), "value")
        row.alpha.observe(guard("α", lambda ch: self.render()), "value")
        row.remove.on_click(guard("remove term", lambda _b, r=row: self.remove_term(self.rows.index(r))))
        row.part.disabled = self.painting
        self.rows.append(row)
        self._rows_box.children = tuple(self.rows)
        self.render()

    def _set_appearance(self, row: TermRow, appearance: int) -> None:
        n = int(self.model.appearances_.shape[1])
        appearance = check_index(appearance, n, "appearance")
        values = [v for _, v in row.appearance.options]
        if appearance not in values:  # beyond the ranked candidates: offer it anyway
            row.appearance.options = [*row.appearance.options, (f"{appearance}  (not ranked)", appearance)]
        row.appearance.value = appearance

    def remove_term(self, index: int) -> None:
        row = self.rows[check_index(index, len(self.rows), "term")]
        self._drop_row(row)
        self.render()

    def _drop_row(self, row: TermRow) -> None:
        self.rows.remove(row)
        self._rows_box.children = tuple(self.rows)
        row.close()

    def _part_changed(self, row: TermRow) -> None:
        with self.render_held():
            self._rank_options(row)
        self.render()

    def _part_controls(self) -> list[widgets.Widget]:
        return [row.part for row in self.rows]

    # ---------------------------------------------------------------- plain setters
    def set_alpha(self, term: int, alpha: float) -> None:
        """Set term ``term``'s α (the slider's range grows to include it)."""
        set_slider(self.rows[check_index(term, len(self.rows), "term")].alpha, alpha)

    def set_part(self, term: int, part: int) -> None:
        row = self.rows[check_index(term, len(self.rows), "term")]
        row.part.value = check_index(part, len(row.part.options), "part")

    def set_appearance(self, term: int, appearance: int) -> None:
        self._set_appearance(self.rows[check_index(term, len(self.rows), "term")], appearance)

    # ---------------------------------------------------------------- named edits
    def _offer_named_edits(self) -> None:
        """Fill the "named edit" menu with the zoo's edits made with the model on show."""
        names = [] if self.zoo is None else self.zoo.edits_for(self.model, self.generator)
        self.named.options = [("—", "")] + [
            (f"{n}: {self.zoo[n].description}" if self.zoo[n].description else n, n) for n in names]
        self.named.value = ""
        self.named.layout.display = "" if names else "none"

    def apply_named_edit(self, name: str) -> None:
        """Replace the terms with the named edit ``name`` of the zoo (its terms' parts, appearances and α)."""
        if self.zoo is None:
            raise InvalidInputError("no edit zoo: pass zoo= (e.g. panda_viz.load_edit_zoo('dcgan-digiface'))")
        valid = [v for _, v in self.named.options if v]
        if name not in valid:
            raise InvalidInputError(f"named edit {name!r} is not made with the model on show; these are: "
                             f"{', '.join(valid) or 'none'}")
        if self.named.value != name:
            self.named.value = name  # its observer calls back here
            return
        edit = self.zoo[name]
        with self.render_held():
            self.region.value = PARTS
            for row in list(self.rows):
                self._drop_row(row)
            for part, appearance, alpha in edit.terms:  # every term of a several-term edit
                self.add_term(part=part, appearance=appearance, alpha=alpha)
        self._region_changed()  # shows the parts and renders once

    # ---------------------------------------------------------------- the edit
    @property
    def terms(self) -> list[editing.EditTerm]:
        """The current terms (part ``None`` when the painted region is the mask)."""
        painted = self.painting
        return [editing.EditTerm(None if painted else row.part.value, row.appearance.value, row.alpha.value)
                for row in self.rows]

    @property
    def mask(self) -> np.ndarray | None:
        """The painted mask (image-sized, [0, 1]) when the region is the painted one, else None."""
        return self.roi.mask if self.painting else None

    def ready(self) -> bool:
        return self.model is not None

    def composite(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(original, edited, difference) uint8 images for the current seed and terms."""
        original = self.samples.image(self.seed.value)
        if not self.rows:
            return original, original, render.heatmap(np.zeros(original.shape[:2]), vmin=0, vmax=1)
        images = editing.edit_images(self.generator, self.samples.latents(self.seed.value), self.model, self.terms,
                                     mask=self.painted_mask(), layer=self.layer)
        edited = render.to_uint8(images)[0]
        return self.outlined(original), edited, render.difference_heatmap(original, edited)

    def outlined(self, image: np.ndarray) -> np.ndarray:
        """``image`` with each term's part outlined in its overlay colour (where p̂ > 0.5), so the
        original shows where the edit acts; unchanged while the painted region is the region
        (the painter shows that) or with :attr:`outline` off."""
        if self.painting or not self.outline.value:
            return image
        return outline_parts(image, self.model, [row.part.value for row in self.rows])

    def render(self) -> None:
        """As :meth:`Panel.render`, timed by :attr:`live`: when one render takes longer than
        its limit the α sliders update on release instead of while dragging."""
        self.live.timed(super().render)()

    def _rendered(self, images: Sequence[np.ndarray]) -> None:
        self.code.value = self.code_line()
        if self.named.value and not self._shows_named(self.named.value):
            self.named.value = ""  # the terms changed: the menu no longer names what is on show
        if self._batch_key is not None and self._batch_key != self._batch_now():
            self._hide_batch()

    def _shows_named(self, name: str) -> bool:
        """Whether the terms on show are exactly the named edit ``name``'s."""
        edit = self.zoo[name]
        return (not self.painting and len(self.rows) == 1
                and (self.rows[0].part.value, self.rows[0].appearance.value, self.rows[0].alpha.value)
                == (edit.part, edit.appearance, float(edit.alpha)))

    def _batch_now(self) -> tuple:
        """What an apply-to-seeds grid made now would show (it is stale once this changes)."""
        return (id(self.model), self.seed.value, self.samples.source(self.seed.value)[0], repr(self.terms),
                self.painting)

    def _hide_batch(self) -> None:
        self._batch_key = None
        if not self._batch_job.running:
            self.batch.layout.display = "none"
            self.batch.image.value = b""
            self.batch.array = None

    # ---------------------------------------------------------------- save image
    def save_image(self, path: str | Path | None = None) -> Path:
        """Write the edited image on show as a PNG (its own pixels), atomically: to ``path``, by
        default a new ``images/edited-<seed or photo>-<n>.png`` in the work folder
        (:meth:`ImagePane.save`); the path is logged. The original is not written."""
        kind, which = self.samples.source(self.seed.value)
        path = self.edited.save(path, stem=f"edited-seed{which}" if kind == "seed" else "edited-photo")
        self.log_area.ok(f"saved the edited image to {path}")
        return path

    # ---------------------------------------------------------------- batch
    def apply_to_seeds(self, n: int, *, background: bool = True, chunk: int = 4) -> threading.Thread | None:
        """The current edit on seeds seed … seed+n-1: a grid, originals above, edited below.

        A generator pass per ``chunk`` samples, with a progress bar; with ``background`` it
        runs in a thread so the notebook stays responsive (returns the thread).
        """
        n = check_int("apply_to_seeds: the number of seeds n", n, low=1, high=256)
        chunk = check_int("apply_to_seeds: chunk", chunk, low=1)
        if self._batch_job.running:
            raise InvalidStateError("a batch is already running; wait for it to finish")
        if not self.rows:
            raise InvalidInputError("no terms to apply: add a term first")
        terms, mask, model, layer = self.terms, self.painted_mask(), self.model, self.layer
        self._batch_key = self._batch_now()
        seeds = list(range(self.seed.value, self.seed.value + n))

        def work() -> None:
            originals, edited = [], []
            for start in range(0, n, chunk):
                z = torch.cat([self.generator.sample_latents(1, seed=s) for s in seeds[start:start + chunk]])
                originals.extend(render.to_uint8(self.generator.synthesize(z)))
                edited.extend(render.to_uint8(editing.edit_images(self.generator, z, model, terms, mask=mask,
                                                                  layer=layer)))
                self.batch_progress.value = len(edited)
            if self._batch_key is None:  # the model or the terms changed meanwhile: the grid is stale
                return
            self.batch.layout.display = ""
            self.batch.show(render.grid([*originals, *edited], ncols=n))
            self.batch.set_title(f"seeds {seeds[0]}…{seeds[-1]}: originals above, edited below")

        return self._batch_job.start(work, total=n, background=background)

    # ---------------------------------------------------------------- export
    def code_line(self) -> str:
        """The current edit as Python, for a script (``G`` and ``model`` as in the notebook): the
        latents are the shown sample's (a seed's, or the photo's: :meth:`Samples.latents_code`)."""
        terms = ", ".join(f"({t.part!r}, {t.appearance}, {t.alpha!r})" for t in self.terms)
        mask = ", mask=edit_mask" if self.painting else ""
        latents = self.samples.latents_code(self.seed.value)
        line = f"images = panda_viz.editing.edits.edit_images(G, {latents}, model, [{terms}]{mask})"
        if self.samples.photo is not None and self.samples.photo_code is None:
            line += NO_PHOTO_CODE
        if mask:
            line += "  # edit_mask: the painted region, (H, W) in [0, 1] (the panel's .mask)"
        return line

    def current(self) -> dict:
        """The current edit as plain data (what :meth:`keep` stores, with a name)."""
        mask = self.mask
        return {
            "generator": getattr(self.generator, "name", None),
            "layer": self.layer,
            "seed": self.seed.value,
            "terms": [[t.part, t.appearance, t.alpha] for t in self.terms],
            "mask": None if mask is None else np.round(mask, 4).tolist(),
        }

    def keep(self, name: str | None = None) -> None:
        """Add the current edit to :attr:`edits` and the list shown below the images.

        ``name`` defaults to the name box, else ``edit1``, ``edit2``…; it names the edit in the
        zoo :meth:`save` writes, so it is a word (letters, digits, ``_ . + -``) not used yet.
        An edit of the painted region is refused: an edit zoo holds edits of parts.
        """
        name = name or self.keep_name.value.strip() or self._unused_name()
        edit = {"name": name, **self.current()}
        EditZoo("scratch").add_terms(**self._zoo_terms(edit, self.model, "factors.npz"))  # can it be a zoo entry?
        if name in self._taken_names():
            raise InvalidInputError(f"an edit named {name!r} is already in the list; choose another name")
        self.edits.append(edit)
        self._edit_models.append(self.model)
        self.keep_name.value = ""
        items = "".join(
            f"<li>{e['name']} (seed {e['seed']}): "
            + "; ".join(editing.EditTerm(p, a, al).label() for p, a, al in e["terms"]) + "</li>"
            for e in self.edits)
        self.edit_list.value = f"<ol>{items}</ol>"

    def save(self, path: str | Path) -> Path:
        """Write the kept edits (or the current one if none is kept) as an edit zoo, atomically.

        ``path`` (.json) becomes an :class:`~panda_viz.formats.edit_zoo.EditZoo` file, the versioned
        format :func:`~panda_viz.formats.edit_zoo.load_edit_zoo` reads; the model's factors go beside
        it as ``<stem>-factors.npz`` (:func:`panda_viz.formats.factors.save_factors`; ``-factors-2.npz``…
        for edits kept with other models), which its edits name. Each kept edit is one named
        edit, whatever its number of terms (``panda-viz render --edits PATH --edit NAME``
        renders it with all its terms; :func:`~panda_viz.formats.edit_zoo.apply_named_edit`
        applies them together).

        Returns
        -------
        Path
            ``path``.
        """
        path = Path(path)
        if path.suffix.lower() != ".json":
            raise InvalidInputError(f"an edit zoo is saved as .json; got {str(path)!r}")
        if self.edits:
            edits, models = self.edits, self._edit_models
        else:
            edits, models = [{"name": "edit", **self.current()}], [self.model]
        distinct = list({id(m): m for m in models}.values())
        factor_files = {id(m): f"{path.stem}-factors{'' if i == 0 else f'-{i + 1}'}.npz"
                        for i, m in enumerate(distinct)}
        zoo = EditZoo(path.stem, generator_name=getattr(self.generator, "name", None),
                      description="edits kept in panda_viz's edit panel")
        for edit, model in zip(edits, models):
            zoo.add_terms(**self._zoo_terms(edit, model, factor_files[id(model)]))
        zoo.save(path, factors={factor_files[id(m)]: m for m in distinct})
        self.log_area.ok(f"saved {len(edits)} edit(s) to {path} (an edit zoo; factors beside it)")
        return path

    @staticmethod
    def _zoo_terms(edit: dict, model: Any, factors: str) -> dict:
        """:meth:`EditZoo.add_terms`'s arguments for a kept edit; refuses one of the painted region."""
        if edit["mask"] is not None:
            raise InvalidInputError(
                f"edit {edit['name']!r} uses the painted region: an edit zoo holds edits of parts (switch the "
                "region to parts, or keep the mask yourself: the panel's .mask)")
        return {"name": edit["name"], "layer": edit["layer"], "n_parts": int(model.parts_.shape[0]),
                "terms": edit["terms"], "factors": factors, "description": f"kept on seed {edit['seed']}"}

    def _unused_name(self) -> str:
        used, i = self._taken_names(), len(self.edits) + 1
        while f"edit{i}" in used:
            i += 1
        return f"edit{i}"

    def _taken_names(self) -> set[str]:
        """The kept edits' names (each is one entry of the zoo :meth:`save` writes)."""
        return {e["name"] for e in self.edits}
