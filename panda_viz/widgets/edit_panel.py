"""Local edits Z + Σ α a_j p̂_kᵀ with one α slider per term: original, edited and difference."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch

from .. import editing, render
from .._files import atomic_path
from ._common import (
    DEFAULT_SCALE, ImagePane, LogArea, Samples, check_index, check_model, check_seed, row_layout,
)
from .roi import RoiPainter

__all__ = ["EditPanel"]

PARTS, PAINTED = "parts", "painted region"


def _set_slider(slider: widgets.FloatSlider, value: float) -> None:
    """Set ``value``, growing the slider's range to include it (a slider clamps silently)."""
    slider.max, slider.min = max(slider.max, value), min(slider.min, value)
    slider.value = value


class _Term(widgets.HBox):
    """One term's row: part, appearance (ranked for the part), α slider, remove button."""

    def __init__(self, n_parts: int, part: int | tuple[int, ...], alpha_range: float) -> None:
        options: list[tuple[str, Any]] = [(f"part {k}", k) for k in range(n_parts)]
        if isinstance(part, tuple):  # a union of parts (from a named edit)
            options.append(("parts " + "+".join(map(str, part)), part))
        self.part = widgets.Dropdown(options=options, value=part, description="part",
                                     layout=widgets.Layout(width="150px"), style={"description_width": "32px"})
        self.appearance = widgets.Dropdown(description="appearance", layout=widgets.Layout(width="290px"),
                                           style={"description_width": "initial"})
        self.alpha = widgets.FloatSlider(value=0.0, min=-alpha_range, max=alpha_range, step=alpha_range / 100,
                                         description="α", continuous_update=False, readout_format="+.2f",
                                         layout=widgets.Layout(width="330px"), style={"description_width": "20px"})
        self.alpha.add_class("panda-alpha")
        self.remove = widgets.Button(icon="times", tooltip="remove this term", layout=widgets.Layout(width="36px"))
        super().__init__([self.part, self.appearance, self.alpha, self.remove])


class EditPanel(widgets.VBox):
    """Edit a sample locally with PandA's parts and appearances.

    Each term adds α a_j p̂_kᵀ at the model's layer (:func:`panda_viz.editing.edit_images`);
    the appearances offered for a part are ranked by how much, and how locally, they change
    it (:func:`panda_viz.editing.rank_appearances`, on a few fixed samples, cached per part).
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
        Named edits (:mod:`panda_viz.edit_zoo`); those whose factors are ``model``'s are
        offered in a "named edit" menu that loads their term.
    samples : Samples, optional

    Attributes
    ----------
    rows : list of term rows, each with ``.part``, ``.appearance``, ``.alpha`` (α slider,
        updates on release) and ``.remove``
    region : ipywidgets.ToggleButtons
        "parts" or "painted region".
    original, edited, difference : ImagePane
    edits : list of dict
        Edits added with "add to list" (``terms``, ``seed``, ``mask``).
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
                 samples: Samples | None = None, scale: int = DEFAULT_SCALE) -> None:
        self.generator = generator
        self.zoo = zoo
        self.samples = samples or Samples(generator)
        self.n_rank_samples = int(n_rank_samples)
        self.n_rank_candidates = int(n_rank_candidates)
        self.model: Any = None
        self.layer: str | None = None
        self.rows: list[_Term] = []
        self.edits: list[dict] = []
        self._rankings: dict[int, editing.AppearanceRanking] = {}
        self._alpha_scale = 1.0
        self._busy = False
        self.log_area = LogArea()
        guard = self.log_area.guarded
        self.roi = roi or RoiPainter(self.samples.image(check_seed(seed)), scale=scale)
        self.roi.on_change(guard("painted region", lambda _m: self.render() if self.region.value == PAINTED else None))
        self.seed = widgets.BoundedIntText(value=seed, min=0, max=2**31 - 1, description="seed",
                                           continuous_update=False, layout=widgets.Layout(width="160px"))
        self.region = widgets.ToggleButtons(options=[PARTS, PAINTED], value=PARTS, description="region",
                                            style={"button_width": "120px", "description_width": "initial"})
        self.named = widgets.Dropdown(description="named edit", options=[("—", "")], value="",
                                      layout=widgets.Layout(width="340px", display="none"),
                                      style={"description_width": "initial"})
        self.named.observe(guard("named edit", lambda ch: self.apply_named_edit(ch["new"]) if ch["new"] else None),
                           "value")
        self.add_button = widgets.Button(description="term", icon="plus", tooltip="add a (part, appearance, α) term",
                                         layout=widgets.Layout(width="80px"))
        self.keep_button = widgets.Button(description="add to list", icon="bookmark",
                                          tooltip="keep this edit in the list below", layout=widgets.Layout(width="120px"))
        self.save_path = widgets.Text(value="edits/edit.json", description="save to",
                                      layout=widgets.Layout(width="300px"), style={"description_width": "50px"})
        self.save_button = widgets.Button(description="save", icon="save", layout=widgets.Layout(width="80px"))
        self.code = widgets.Textarea(layout=widgets.Layout(width="100%", height="3.6em"))
        self.code.add_class("panda-edit-code")
        self.edit_list = widgets.HTML()
        self.batch_n = widgets.BoundedIntText(value=8, min=1, max=256, description="seeds",
                                              layout=widgets.Layout(width="140px"), style={"description_width": "40px"})
        self.batch_button = widgets.Button(description="apply to seeds", icon="th",
                                           tooltip="the current edit on the next seeds, original above edited",
                                           layout=widgets.Layout(width="140px"))
        self.batch_progress = widgets.IntProgress(value=0, min=0, max=1, layout=widgets.Layout(width="200px"))
        self.batch = ImagePane("batch: originals above, edited below", scale=max(1, scale // 2),
                               css_class="panda-edit-batch")
        self.batch.layout.display = "none"
        self._batch_thread: threading.Thread | None = None
        self._rows_box = widgets.VBox()
        self.original = ImagePane("original", scale=scale, css_class="panda-edit-original")
        self.edited = ImagePane("edited", scale=scale, css_class="panda-edited")
        self.difference = ImagePane("difference", scale=scale, css_class="panda-edit-difference")
        self.seed.observe(guard("sample", lambda ch: self._new_sample()), "value")
        self.region.observe(guard("region", lambda ch: self._region_changed()), "value")
        self.add_button.on_click(guard("add term", lambda _b: self.add_term()))
        self.keep_button.on_click(guard("add to list", lambda _b: self.keep()))
        self.save_button.on_click(guard("save", lambda _b: self.save(self.save_path.value)))
        self.batch_button.on_click(guard("batch", lambda _b: self.apply_to_seeds(self.batch_n.value)))
        self._roi_box = widgets.VBox([self.roi], layout=widgets.Layout(display="none"))
        super().__init__([
            widgets.HBox([self.seed, self.region, self.add_button, self.named]),
            self._rows_box,
            widgets.HBox([self.original, self.edited, self.difference, self._roi_box], layout=row_layout()),
            widgets.HBox([self.keep_button, self.save_path, self.save_button]),
            self.code,
            self.edit_list,
            widgets.HBox([self.batch_n, self.batch_button, self.batch_progress]),
            self.batch,
            self.log_area,
        ])
        with self.log_area.guard("model"):
            self.set_model(model)

    # ---------------------------------------------------------------- model and terms
    def set_model(self, model: Any) -> None:
        """Use another fitted model: one term, α = 0, on the part strongest at the centre of the
        layer (usually on the object) with that part's best-ranked appearance."""
        self.layer = check_model(self.generator, model)
        self.model = model
        self._rankings.clear()
        Z = self.samples.features(0, self.layer)
        self._alpha_scale = editing.default_alpha(Z)
        self._offer_named_edits()
        self._busy = True
        try:
            for row in list(self.rows):
                self._drop_row(row)
            centre = editing.part_masks(model)[:, model.parts_.shape[1] // 2, model.parts_.shape[2] // 2]
            self.add_term(part=int(centre.argmax()), alpha=0.0)
        finally:
            self._busy = False
        self.render()

    def _ranking(self, part: int) -> editing.AppearanceRanking:
        if part not in self._rankings:
            z = self.generator.sample_latents(self.n_rank_samples, seed=0)
            n = min(self.n_rank_candidates, int(self.model.appearances_.shape[1]))
            self._rankings[part] = editing.rank_appearances(self.generator, z, self.model, part, appearances=n,
                                                            alpha=self._alpha_scale, layer=self.layer)
        return self._rankings[part]

    def _rank_options(self, row: _Term) -> None:
        ranking = self._ranking(row.part.value)
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
        row = _Term(n_parts, part, 2.5 * self._alpha_scale)
        was_busy, self._busy = self._busy, True
        try:
            self._rank_options(row)
            if appearance is not None:
                self._set_appearance(row, appearance)
            ranking = self._ranking(part)
            sign = float(ranking.signs[(ranking.appearances == row.appearance.value).nonzero()[0, 0]])
            _set_slider(row.alpha, sign * ranking.alpha if alpha is None else float(alpha))
        finally:
            self._busy = was_busy
        guard = self.log_area.guarded
        row.part.observe(guard("part", lambda ch, r=row: self._part_changed(r)), "value")
        row.appearance.observe(guard("appearance", lambda ch: self.render()), "value")
        row.alpha.observe(guard("α", lambda ch: self.render()), "value")
        row.remove.on_click(guard("remove term", lambda _b, r=row: self.remove_term(self.rows.index(r))))
        row.part.disabled = self.region.value == PAINTED
        self.rows.append(row)
        self._rows_box.children = tuple(self.rows)
        self.render()

    def _set_appearance(self, row: _Term, appearance: int) -> None:
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

    def _drop_row(self, row: _Term) -> None:
        self.rows.remove(row)
        self._rows_box.children = tuple(self.rows)
        row.close()

    def _part_changed(self, row: _Term) -> None:
        was_busy, self._busy = self._busy, True
        try:
            self._rank_options(row)
        finally:
            self._busy = was_busy
        self.render()

    # ---------------------------------------------------------------- plain setters
    def set_seed(self, seed: int) -> None:
        self.seed.value = check_seed(seed)

    def refresh(self) -> None:
        """Show the current sample again, as after a new seed (the Explorer's source changed)."""
        self._new_sample()

    def set_alpha(self, term: int, alpha: float) -> None:
        """Set term ``term``'s α (the slider's range grows to include it)."""
        _set_slider(self.rows[check_index(term, len(self.rows), "term")].alpha, float(alpha))

    def set_part(self, term: int, part: int) -> None:
        row = self.rows[check_index(term, len(self.rows), "term")]
        row.part.value = check_index(part, len(row.part.options), "part")

    def set_appearance(self, term: int, appearance: int) -> None:
        self._set_appearance(self.rows[check_index(term, len(self.rows), "term")], appearance)

    def set_region(self, region: str) -> None:
        if region not in (PARTS, PAINTED):
            raise ValueError(f"region must be {PARTS!r} or {PAINTED!r}; got {region!r}")
        self.region.value = region

    # ---------------------------------------------------------------- named edits
    def _offer_named_edits(self) -> None:
        """Fill the "named edit" menu with the zoo's edits made with the model on show."""
        names = []
        for name in self.zoo or ():
            try:
                factors = self.zoo.load_model(name, self.generator)
            except (OSError, ValueError):  # factor files missing or for another generator
                continue
            if factors is self.model or (
                factors.parts_.shape == self.model.parts_.shape
                and factors.appearances_.shape == self.model.appearances_.shape
                and torch.equal(factors.parts_, self.model.parts_)
                and torch.equal(factors.appearances_, self.model.appearances_)
            ):
                names.append(name)
        self.named.options = [("—", "")] + [
            (f"{n}: {self.zoo[n].description}" if self.zoo[n].description else n, n) for n in names]
        self.named.value = ""
        self.named.layout.display = "" if names else "none"

    def apply_named_edit(self, name: str) -> None:
        """Replace the terms with the named edit ``name`` of the zoo (its part, appearance and α)."""
        if self.zoo is None:
            raise ValueError("no edit zoo: pass zoo= (e.g. panda_viz.load_edit_zoo('dcgan-digiface'))")
        valid = [v for _, v in self.named.options if v]
        if name not in valid:
            raise ValueError(f"named edit {name!r} is not made with the model on show; these are: "
                             f"{', '.join(valid) or 'none'}")
        if self.named.value != name:
            self.named.value = name  # its observer calls back here
            return
        edit = self.zoo[name]
        self._busy = True
        try:
            self.region.value = PARTS
            for row in list(self.rows):
                self._drop_row(row)
            self.add_term(part=edit.part, appearance=edit.appearance, alpha=edit.alpha)
        finally:
            self._busy = False
        self._region_changed()  # shows the parts and renders once

    def _new_sample(self) -> None:
        self.roi.set_image(self.samples.image(self.seed.value))
        self.render()

    def _region_changed(self) -> None:
        painted = self.region.value == PAINTED
        for row in self.rows:
            row.part.disabled = painted
        self._roi_box.layout.display = "" if painted else "none"
        self.render()

    # ---------------------------------------------------------------- the edit
    @property
    def terms(self) -> list[editing.EditTerm]:
        """The current terms (part ``None`` when the painted region is the mask)."""
        painted = self.region.value == PAINTED
        return [editing.EditTerm(None if painted else row.part.value, row.appearance.value, row.alpha.value)
                for row in self.rows]

    @property
    def mask(self) -> np.ndarray | None:
        """The painted mask (image-sized, [0, 1]) when the region is the painted one, else None."""
        return self.roi.mask if self.region.value == PAINTED else None

    def composite(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(original, edited, difference) uint8 images for the current seed and terms."""
        original = self.samples.image(self.seed.value)
        if not self.rows:
            return original, original, render.heatmap(np.zeros(original.shape[:2]), vmin=0, vmax=1)
        mask = self.mask
        if mask is not None and not mask.any():
            raise ValueError("the painted region is empty: paint over the image with the mouse, or switch the region to parts")
        images = editing.edit_images(self.generator, self.samples.latents(self.seed.value), self.model, self.terms,
                                     mask=mask, layer=self.layer)
        edited = render.to_uint8(images)[0]
        return original, edited, render.difference_heatmap(original, edited)

    def render(self) -> None:
        if self._busy or self.model is None:
            return
        original, edited, difference = self.composite()
        self.original.show(original)
        self.edited.show(edited)
        self.difference.show(difference)
        self.code.value = self.code_line()
        self.log_area.clear_errors()

    # ---------------------------------------------------------------- batch
    def apply_to_seeds(self, n: int, *, background: bool = True, chunk: int = 4) -> threading.Thread | None:
        """The current edit on seeds seed … seed+n-1: a grid, originals above, edited below.

        A generator pass per ``chunk`` samples, with a progress bar; with ``background`` it
        runs in a thread so the notebook stays responsive (returns the thread).
        """
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 256:
            raise ValueError(f"the number of seeds must be an int in 1..256; got {n!r}")
        if self._batch_thread is not None and self._batch_thread.is_alive():
            raise RuntimeError("a batch is already running; wait for it to finish")
        if not self.rows:
            raise ValueError("no terms to apply: add a term first")
        terms, mask, model, layer = self.terms, self.mask, self.model, self.layer
        if mask is not None and not mask.any():
            raise ValueError("the painted region is empty: paint over the image with the mouse, or switch the region to parts")
        seeds = list(range(self.seed.value, self.seed.value + n))
        self.batch_progress.max, self.batch_progress.value, self.batch_progress.bar_style = n, 0, "info"
        self.batch_button.disabled = True

        def work() -> None:
            try:
                originals, edited = [], []
                for start in range(0, n, chunk):
                    z = torch.cat([self.generator.sample_latents(1, seed=s) for s in seeds[start:start + chunk]])
                    originals.extend(render.to_uint8(self.generator.synthesize(z)))
                    edited.extend(render.to_uint8(editing.edit_images(self.generator, z, model, terms, mask=mask,
                                                                      layer=layer)))
                    self.batch_progress.value = len(edited)
                self.batch.layout.display = ""
                self.batch.show(render.grid([*originals, *edited], ncols=n))
                self.batch.set_title(f"seeds {seeds[0]}…{seeds[-1]}: originals above, edited below")
                self.batch_progress.bar_style = "success"
            except Exception as exc:  # noqa: BLE001 - reported in the log, the app stays alive
                self.batch_progress.bar_style = "danger"
                self.log_area.error(f"batch: {exc}")
            finally:
                self.batch_button.disabled = False

        if not background:
            work()
            return None
        self._batch_thread = threading.Thread(target=work, name="panda-viz batch", daemon=True)
        self._batch_thread.start()
        return self._batch_thread

    # ---------------------------------------------------------------- export
    def code_line(self) -> str:
        """The current edit as Python, for a script (``G`` and ``model`` as in the notebook)."""
        terms = ", ".join(f"({t.part!r}, {t.appearance}, {t.alpha!r})" for t in self.terms)
        mask = ", mask=edit_mask" if self.region.value == PAINTED else ""
        line = (f"images = panda_viz.editing.edit_images(G, G.sample_latents(1, seed={self.seed.value}), model, "
                f"[{terms}]{mask})")
        if mask:
            line += "  # edit_mask: the painted region, e.g. np.array(json.load(open(saved_edit))['mask'])"
        return line

    def current(self) -> dict:
        """The current edit as plain data (what :meth:`keep` stores and :meth:`save` writes)."""
        mask = self.mask
        return {
            "generator": getattr(self.generator, "name", None),
            "layer": self.layer,
            "seed": self.seed.value,
            "terms": [[t.part, t.appearance, t.alpha] for t in self.terms],
            "mask": None if mask is None else np.round(mask, 4).tolist(),
        }

    def keep(self) -> None:
        """Add the current edit to :attr:`edits` and the list shown below the images."""
        self.edits.append(self.current())
        items = "".join(
            f"<li>seed {e['seed']}: " + "; ".join(
                editing.EditTerm(None if p is None else p, a, al).label() for p, a, al in e["terms"]) + "</li>"
            for e in self.edits)
        self.edit_list.value = f"<ol>{items}</ol>"

    def save(self, path: str | Path) -> Path:
        """Write the kept edits (or the current one if none is kept) as JSON, atomically."""
        path = Path(path)
        if path.suffix != ".json":
            raise ValueError(f"a .json path expected; got {str(path)!r}")
        data = {"edits": self.edits or [self.current()]}
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(data))
        self.log_area.ok(f"saved {len(data['edits'])} edit(s) to {path}")
        return path

