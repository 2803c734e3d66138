"""The Explorer: parts, saliency, local edits, removal and fitting in one app."""

from __future__ import annotations

import html
import threading
from typing import Any

import ipywidgets as widgets

from .._checks import check_choice, check_int
from ..decomposition.fitted import check_compatible
from ..exceptions import InvalidInputError, InvalidStateError
from ._common import DEFAULT_SCALE, MAX_SEED, LogArea, Samples, check_seed
from .directions_panel import DirectionsPanel
from .edit_panel import EditPanel
from .panel import BackgroundJob
from .parts_overlay import PartsOverlay
from .photo_source import PhotoSource
from .removal_panel import RemovalPanel
from .roi import RoiPainter
from .saliency_view import SaliencyView

__all__ = ["Explorer"]

TABS = ("parts", "saliency", "edit", "removal", "directions", "fit", "photo")
#: What the tabs show: generated samples by seed, or the inverted photo.
SOURCES = ("seed", "photo")
#: The tabs that show a fitted model (the others work without one).
MODEL_TABS = TABS[:4]


class Explorer(widgets.VBox):
    """Explore a fitted PandA model of a generator's layer; the last expression of a cell shows it.

    Tabs: **parts** (:class:`PartsOverlay`), **saliency** (:class:`SaliencyView`),
    **edit** (:class:`EditPanel`, with ROI painting), **removal** (:class:`RemovalPanel`),
    **directions** (:class:`DirectionsPanel`: SeFa, GANSpace and ReSeFa edits of the same
    sample, with the painted region's ROIR; it needs no model), **fit** (fit a new model at any layer, with progress, in a background thread so
    the notebook stays responsive; the other tabs switch to it when it is done) and
    **photo** (:class:`PhotoSource`: upload a photo, choose the crop, invert it in a
    background thread; then every tab shows the photo instead of a seed, through its
    :class:`~panda_viz.generators.inverted.Inversion`). One seed (or the photo: the
    ``source`` buttons) drives every tab, and one painted region is shared by the edit and
    removal tabs.

    Parameters
    ----------
    generator : Generator
    model : fitted PandA model, optional
        Without one, only the fit tab works until a fit finishes.
    layer : str, optional
        The layer to explore; must be the model's (a model fitted elsewhere is reported in
        the log area and not shown).
    seed : int
    zoo : EditZoo, optional
        Named edits offered in the edit tab (those made with ``model``'s factors).
    scale : int
        Display enlargement of the generator's images.
    invert_options : dict, optional
        Arguments of :func:`panda_viz.invert` for uploaded photos (e.g. fewer steps).

    Attributes
    ----------
    parts, saliency, edit, removal, directions : the components
    roi : RoiPainter
    seed : ipywidgets.BoundedIntText
    source : ipywidgets.ToggleButtons
        ``"seed"`` or ``"photo"`` (once a photo is inverted).
    photo : PhotoSource
    tabs : ipywidgets.Tab
    log_area : LogArea
    """

    def __init__(self, generator: Any, model: Any = None, *, layer: str | None = None, seed: int = 0,
                 zoo: Any = None, scale: int = DEFAULT_SCALE, invert_options: dict | None = None) -> None:
        self.generator = generator
        self.zoo = zoo
        self.model: Any = None
        self.layer = layer
        self.samples = Samples(generator)
        self.log_area = LogArea()
        guard = self.log_area.guarded
        seed = check_seed(seed)
        self.header = widgets.HTML()
        self.seed = widgets.BoundedIntText(value=seed, min=0, max=MAX_SEED, description="seed",
                                           continuous_update=False, layout=widgets.Layout(width="160px"))
        self.next_button = widgets.Button(description="next", icon="step-forward", tooltip="the next seed",
                                          layout=widgets.Layout(width="80px"))
        self.next_button.on_click(guard("seed", lambda _b: self.set_seed(self.seed.value + 1)))
        self.seed.observe(guard("seed", lambda ch: self._seed_changed()), "value")
        self.roi = RoiPainter(self.samples.image(seed), scale=scale)

        self.parts = self.saliency = self.edit = self.removal = None
        self._scale = scale
        self.directions = DirectionsPanel(generator, seed=seed, roi=self.roi, samples=self.samples, scale=scale)
        self.directions.seed.layout.display = "none"  # one seed for all tabs: the Explorer's
        self._placeholders = [widgets.HTML("<i>fit a model in the fit tab</i>") for _ in MODEL_TABS]
        self._fit_tab = self._build_fit_tab()
        self.source = widgets.ToggleButtons(options=list(SOURCES), value="seed", tooltips=[
            "generated samples, by seed", "the photo uploaded in the photo tab"], style={"button_width": "70px"})
        self.source.observe(guard("source", lambda ch: self._source_changed()), "value")
        self.photo = PhotoSource(generator, layer=self._inversion_layer, on_inverted=self.show_photo,
                                 invert_options=invert_options, scale=scale)
        self.tabs = widgets.Tab(children=[*self._placeholders, self.directions, self._fit_tab, self.photo],
                                titles=list(TABS))
        super().__init__([self.header, widgets.HBox([self.source, self.seed, self.next_button]), self.tabs,
                          self.log_area])
        self.add_class("panda-explorer")
        self._update_header()
        if model is not None:
            with self.log_area.guard("model"):
                self.set_model(model)

    # ------------------------------------------------------------------ model
    def set_model(self, model: Any) -> None:
        """Show ``model`` in every tab (checked against the generator and ``layer``)."""
        layer = check_compatible(self.generator, model, self.layer)
        self.model, self.layer = model, layer
        seed = self.seed.value
        shared = {"samples": self.samples, "scale": self._scale}
        if self.parts is None:
            self.parts = PartsOverlay(self.generator, model, seed=seed, **shared)
            self.saliency = SaliencyView(self.generator, model, seed=seed, **shared)
            self.edit = EditPanel(self.generator, model, seed=seed, roi=self.roi, zoo=self.zoo, **shared)
            self.removal = RemovalPanel(self.generator, model, seed=seed, roi=self.roi, **shared)
            for component in (self.parts, self.saliency, self.edit, self.removal):
                component.seed.layout.display = "none"  # one seed for all tabs: the Explorer's
            selected = self.tabs.selected_index
            self.tabs.children = [self.parts, self.saliency, self.edit, self.removal, self.directions, self._fit_tab,
                                  self.photo]
            self.tabs.titles = list(TABS)
            self.tabs.selected_index = selected
        else:
            for component in (self.parts, self.saliency, self.edit, self.removal):
                component.set_model(model)
        for component in (self.parts, self.saliency, self.edit, self.removal):
            if component.log_area.last_error:
                self.log_area.error(f"{type(component).__name__}: {component.log_area.last_error}")
        self.fit_layer.value = layer
        self._update_header()

    def _update_header(self) -> None:
        name = html.escape(str(getattr(self.generator, "name", "generator")))
        if self.model is None:
            what = "no model yet"
        else:
            shape = "×".join(map(str, self.generator.layers[self.layer]))
            n_samples = getattr(self.model, "n_samples_", None)
            what = (f"layer <code>{html.escape(self.layer)}</code> ({shape}): {int(self.model.parts_.shape[0])} parts, "
                    f"{int(self.model.appearances_.shape[1])} appearances"
                    + (f", fitted on {n_samples} samples" if n_samples else ""))
        far = self.photo.far_message() if self.source.value == "photo" else None
        self.header.value = f"<b>PandA explorer</b> · {name} · {what}" + (
            f'<div class="panda-photo-warning" style="color:#8a4b00">⚠ {html.escape(far)}</div>' if far else "")

    def show_tab(self, name: str) -> None:
        self.tabs.selected_index = TABS.index(check_choice("tab", name, TABS))

    # ------------------------------------------------------------------- seed
    def set_seed(self, seed: int) -> None:
        self.seed.value = check_seed(seed)

    def _seed_changed(self) -> None:
        seed = self.seed.value
        self.roi.set_image(self.samples.image(seed))
        for component in (self.parts, self.saliency, self.edit, self.removal, self.directions):
            if component is not None:
                component.set_seed(seed)

    # ------------------------------------------------------------------ photo
    def _inversion_layer(self) -> str | None:
        """The layer a photo is inverted at: the default one, or the model's when that comes earlier
        (edits before the inversion layer cannot reach the photo)."""
        from ..inversion.invert import default_inversion_layer

        default = default_inversion_layer(self.generator)
        if self.layer is None:
            return default
        order = list(self.generator.layers)
        return self.layer if order.index(self.layer) < order.index(default) else default

    def show_photo(self, inversion: Any) -> None:
        """Show ``inversion`` (one photo) in every tab instead of the seed's sample."""
        self.samples.set_photo(inversion, code=self.photo.code())
        if self.source.value == "photo":
            self._update_header()
            self._refresh()
        else:
            self.source.value = "photo"

    def _source_changed(self) -> None:
        if self.source.value == "photo":
            if self.photo.inversion is None:
                self.source.value = "seed"
                raise InvalidInputError("no photo yet: upload one in the photo tab")
            self.samples.set_photo(self.photo.inversion, code=self.photo.code())
        else:
            self.samples.set_photo(None)
        self.seed.disabled = self.next_button.disabled = self.source.value == "photo"
        self._update_header()
        self._refresh()

    def _refresh(self) -> None:
        """Every tab shows the current source again (a seed's sample or the photo)."""
        self.roi.set_image(self.samples.image(self.seed.value))
        for component in (self.parts, self.saliency, self.edit, self.removal, self.directions):
            if component is not None:
                with self.log_area.guard(type(component).__name__):
                    component.refresh()

    # -------------------------------------------------------------------- fit
    def _build_fit_tab(self) -> widgets.VBox:
        layers = list(self.generator.layers)
        shapes = self.generator.layers
        self.fit_layer = widgets.Dropdown(
            options=[(f"{n} ({'×'.join(map(str, s))})", n) for n, s in shapes.items()],
            value=self.layer if self.layer in shapes else layers[len(layers) // 2], description="layer")
        self.fit_samples = widgets.BoundedIntText(value=256, min=8, max=100_000, description="samples",
                                                  layout=widgets.Layout(width="180px"))
        self.fit_parts = widgets.BoundedIntText(value=8, min=1, max=64, description="parts",
                                                layout=widgets.Layout(width="160px"))
        self.fit_iter = widgets.BoundedIntText(value=300, min=1, max=100_000, description="max iter",
                                               layout=widgets.Layout(width="180px"))
        self.fit_button = widgets.Button(description="fit", icon="cogs", button_style="primary")
        self.fit_progress = widgets.IntProgress(value=0, min=0, max=1, description="", bar_style="info",
                                                layout=widgets.Layout(width="320px"))
        self.fit_status = widgets.HTML()
        self.fit_button.on_click(self.log_area.guarded("fit", lambda _b: self.fit()))
        self._fit_job = BackgroundJob("fit", self.fit_button, self.fit_progress, self.log_area)
        return widgets.VBox([
            widgets.HTML("Fit PandA on this generator's feature maps (the other tabs switch to the new model)."),
            widgets.HBox([self.fit_layer, self.fit_samples]),
            widgets.HBox([self.fit_parts, self.fit_iter, self.fit_button]),
            widgets.HBox([self.fit_progress, self.fit_status]),
        ])

    def fit(self, *, background: bool = True) -> threading.Thread | None:
        """Fit a new model with the fit tab's settings and show it.

        With ``background`` (the button's way) the fit runs in a thread and the notebook
        stays responsive; the progress bar follows the solver's iterations. Returns the
        thread (``None`` when run in the foreground).
        """
        from ..decomposition import fit_generator

        if self._fit_job.running:
            raise InvalidStateError("a fit is already running; wait for it to finish")
        layer, n_parts, max_iter = self.fit_layer.value, self.fit_parts.value, self.fit_iter.value
        n_samples = self.fit_samples.value
        S = self.generator.layers[layer][1] * self.generator.layers[layer][2]
        check_int(f"parts (at most H·W = {S} at layer {layer!r})", n_parts, low=1, high=S)
        self.fit_status.value = f"features of {n_samples} samples at {html.escape(layer)}…"
        previous_layer = self.layer

        def callback(iteration: int, objective: float) -> None:
            self.fit_progress.value = min(int(iteration), max_iter)
            self.fit_status.value = f"iteration {iteration}, relative objective {objective:.4f}"

        def work() -> None:
            model = fit_generator(self.generator, layer, n_samples=n_samples, seed=0, n_parts=n_parts,
                                  max_iter=max_iter, random_state=0, callback=callback)
            self.fit_progress.value = max_iter
            self.fit_status.value = f"done: {model.n_iter_} iterations, relative objective {model.objective_:.4f}"
            self.layer = None  # the new model may be at another layer
            self.set_model(model)

        def undo() -> None:
            if self.model is not None and self.layer is None:
                self.layer = previous_layer  # the old model stays on show
            self.fit_status.value = ""

        return self._fit_job.start(work, total=max_iter, background=background, on_error=undo)
