"""Move a rank, see the features, the image the generator draws from them, the factors and the error."""

from __future__ import annotations

import contextlib
import html
import time
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch

from .._checks import check_bool, check_int
from ..decomposition.low_rank import METHOD_NAMES, METHODS, LowRankApproximations
from ..exceptions import InvalidInputError, InvalidTypeError
from ..imaging import render
from ._common import check_seed, row_layout
from .error_plot import error_figure, figure_array
from .live import LiveRule
from .panel import Panel
from .rank_sweep import RankSweep

__all__ = ["RankExplorer"]

#: Spatial ranks fitted for MPCA and PandA (with R_C = C) before the first view: none, the
#: background sweep fits every R_S after it (the explorer before it had (1, 2, 4, 8, 16) here).
DEFAULT_PRECOMPUTE: tuple[int, ...] = ()
#: Displayed images and feature maps are enlarged to about this many pixels.
DISPLAY_PIXELS = 256


def _display_scale(size: int) -> int:
    return max(1, DISPLAY_PIXELS // max(int(size), 1))


class RankExplorer(Panel):
    """Truncated HOSVD, MPCA and PandA of a layer's features, with rank sliders and the generator's image.

    For a chosen sample i it shows (1) the features Z_i and their reconstruction Ẑ_i (the
    channel-norm maps ‖Z_i[:, s]‖ and a few channels), (2) the image the generator draws
    from Ẑ_i (``G.synthesize_from(layer, Ẑ)``) beside the original, (3) the spatial
    factors (HOSVD, MPCA: signed, blue < 0 < red) or the parts (PandA: ≥ 0) over the
    image, and (4) the relative error Σ‖Z_i − Ẑ_i‖² / Σ‖Z_i‖² against R_S and R_C, the
    current point starred, each series in the legend. The models are fitted on N samples
    (:class:`~panda_viz.decomposition.low_rank.LowRankApproximations`): one HOSVD gives
    every truncation and the first view; MPCA and PandA are fitted once per rank pair and
    cached, by a background sweep (:class:`~panda_viz.widgets.rank_sweep.RankSweep`: every
    R_S at the current R_C, nearest first, its progress in :attr:`sweep_status`) and, for a
    pair it has not reached, when the slider asks for it.

    Parameters
    ----------
    generator : Generator
    layer : str
        Any layer of ``generator`` (``generator.layers``).
    n_samples : int
        N, the samples the models are fitted on (seeds 0…N−1 of one draw with ``seed``).
    seed : int
        Seed of the latents.
    sample : int
        Which of the N samples to show.
    method : {'hosvd', 'mpca', 'panda'}
    ranks : (R_C, R_S), optional
        Default (C, min(8, S)).
    precompute : sequence of int
        Spatial ranks fitted for MPCA and PandA at R_C = C before the first view (those
        above S are skipped); ``()`` (the default) for none.
    background : bool
        Sweep the MPCA and PandA fits in a background thread after the first view.
    approximations : LowRankApproximations, optional
        Features already decomposed (with their cache, e.g. the lesson's), with ``latents``,
        the latents they come from: no generator pass and no HOSVD at start-up.
    latents : Tensor (N, ...), optional
        With ``approximations``.
    n_channels : int
        How many channels to draw (the sample's strongest).
    random_state : int
        Seeds PandA's initialisation.

    Attributes
    ----------
    method : ipywidgets.ToggleButtons
    rank_c, rank_s, sample : ipywidgets.IntSlider
        Steps of 1 over every possible rank; they update while dragged when a redraw is
        fast (:attr:`live` times the redraws without a fit), else on release.
        Each change is one reconstruction and one generator pass (plus a fit the first
        time a rank pair is asked for MPCA or PandA and the sweep has not reached it).
    live : LiveRule
        Whether the sliders update while dragged (:mod:`panda_viz.widgets.live`).
    rank_c_steps, rank_s_steps : ipywidgets.HBox
        "−1" and "+1" buttons beside each rank slider.
    sweep : RankSweep or None
    sweep_status : ipywidgets.HTML
        How far the background sweep has come.
    original, reconstructed, difference : ImagePane
        The generator's image from Z_i, from Ẑ_i, and |difference|.
    norms, channels, factors, error_plot : ImagePane
    status : ipywidgets.HTML
        The current error and how long the last update took.
    log_area : LogArea
        Where impossible ranks and other errors are reported (never a traceback).
    approximations : LowRankApproximations
    last_update_seconds : float
    """

    def __init__(self, generator: Any, layer: str, *, n_samples: int = 256, seed: int = 0, sample: int = 0,
                 method: str = "hosvd", ranks: tuple[int, int] | None = None,
                 precompute: Sequence[int] = DEFAULT_PRECOMPUTE, n_channels: int = 4, random_state: int = 0,
                 background: bool = True, approximations: LowRankApproximations | None = None,
                 latents: torch.Tensor | None = None) -> None:
        n_channels = check_int("RankExplorer: n_channels", n_channels, low=1)
        self.background = check_bool("RankExplorer: background", background)
        super().__init__(generator, seed=None)  # the sample is a slider over the N fitted samples
        self.approximations: LowRankApproximations | None = None
        self.layer: str | None = None
        self.latents: torch.Tensor | None = None
        self.Z: torch.Tensor | None = None
        self.last_update_seconds = 0.0
        self.current: Any = None
        self._started, self._fitting, self._sample_error = 0.0, False, float("nan")  # of the render under way
        self.n_channels = n_channels
        self.random_state = int(random_state)
        self.sweep: RankSweep | None = None

        slider = dict(continuous_update=False, style={"description_width": "initial"},
                      layout=widgets.Layout(width="440px"))
        self.method = widgets.ToggleButtons(options=[(METHOD_NAMES[m], m) for m in METHODS], value="hosvd",
                                            style={"button_width": "130px"})
        self.method.add_class("panda-rank-method")
        self.rank_c = widgets.IntSlider(value=1, min=1, max=1, description="channel rank R_C", **slider)
        self.rank_s = widgets.IntSlider(value=1, min=1, max=1, description="spatial rank R_S", **slider)
        self.sample = widgets.IntSlider(value=0, min=0, max=0, description="sample i", **slider)
        self.live = LiveRule([self.rank_c, self.rank_s, self.sample])
        self.rank_c.add_class("panda-rank-rc")
        self.rank_s.add_class("panda-rank-rs")
        self.rank_c_steps, self.rank_s_steps = self._steps(self.rank_c), self._steps(self.rank_s)
        self.rank_c_steps.add_class("panda-rank-rc-steps")
        self.rank_s_steps.add_class("panda-rank-rs-steps")
        self.status = widgets.HTML()
        self.status.add_class("panda-rank-status")
        self.sweep_status = widgets.HTML()
        self.sweep_status.add_class("panda-rank-sweep")
        self.original = self.pane("image from Z_i")
        self.reconstructed = self.pane("image from Ẑ_i", "panda-rank-reconstructed")
        self.difference = self.pane("|difference|")
        self.norms = self.pane("‖Z_i[:, s]‖ → ‖Ẑ_i[:, s]‖", "panda-rank-norms", scale=1)
        self.channels = self.pane("channels: Z_i (top), Ẑ_i (bottom)", scale=1)
        self.factors = self.pane("spatial factors", "panda-rank-factors", scale=1)
        self.error_plot = self.pane("relative error against the ranks", "panda-rank-error", scale=1)
        self.panes = (self.original, self.reconstructed, self.difference, self.norms, self.channels, self.factors,
                      self.error_plot)

        for control, what in ((self.method, "method"), (self.rank_c, "R_C"), (self.rank_s, "R_S"),
                              (self.sample, "sample")):
            control.observe(self.guard(what, lambda ch: self.render()), "value")
        self.set_body(
            self.method,
            widgets.HBox([self.rank_c, self.rank_c_steps, self.rank_s, self.rank_s_steps], layout=row_layout()),
            self.sample,
            self.status,
            self.sweep_status,
            widgets.HBox([self.original, self.reconstructed, self.difference], layout=row_layout()),
            widgets.HBox([self.norms, self.channels], layout=row_layout()),
            self.factors,
            self.error_plot,
        )
        with self.log_area.guard("layer"):
            chosen = ranks is not None or method != "hosvd" or sample
            with self.render_held() if chosen else contextlib.nullcontext():  # one first view, not two
                if approximations is not None:
                    self.use_features(layer, approximations, latents, precompute=precompute)
                else:
                    self.set_layer(layer, n_samples=n_samples, seed=seed, precompute=precompute)
            if chosen:
                C, H, W = self.approximations.feature_shape
                r_c, r_s = ranks if ranks is not None else (C, min(8, H * W))
                if not self.set_state(method=method, r_c=r_c, r_s=r_s, sample=sample):
                    message = self.log_area.last_error
                    self.render()  # the defaults are drawn (which clears the log) ...
                    self.log_area.error(message)  # ... and the impossible choice is still reported

    # ---------------------------------------------------------------- setters
    def set_layer(self, layer: str, *, n_samples: int = 256, seed: int = 0,
                  precompute: Sequence[int] = DEFAULT_PRECOMPUTE) -> None:
        """Fit at another layer: N generator passes, the HOSVD, and the ``precompute`` fits."""
        n_samples = check_int("RankExplorer: n_samples", n_samples, low=1)
        seed = check_seed(seed)
        latents = self.generator.sample_latents(n_samples, seed=seed)
        Z = self.generator.features(latents, layer)  # the generator says which layers there are
        self.use_features(layer, LowRankApproximations(Z, random_state=self.random_state), latents,
                          precompute=precompute)

    def use_features(self, layer: str, approximations: LowRankApproximations, latents: torch.Tensor, *,
                     precompute: Sequence[int] = DEFAULT_PRECOMPUTE) -> None:
        """Show ``approximations`` (features at ``layer`` of ``latents``, e.g. the lesson's own,
        with every fit already cached): the HOSVD if not done yet, the ``precompute`` fits, the
        first view, then the background sweep."""
        if not isinstance(approximations, LowRankApproximations):
            raise InvalidTypeError(f"RankExplorer: approximations must be a LowRankApproximations; "
                                   f"got {type(approximations).__name__}")
        N = approximations.n_samples
        if not isinstance(latents, torch.Tensor) or latents.shape[0] != N:
            got = tuple(latents.shape) if isinstance(latents, torch.Tensor) else type(latents).__name__
            raise InvalidInputError(f"RankExplorer: latents must be a tensor of N = {N} latents (the features' "
                                    f"samples); got {got}")
        shape = self.generator.layers.get(layer)
        if shape is None or tuple(shape) != tuple(approximations.feature_shape):
            raise InvalidInputError(f"RankExplorer: the features ({', '.join(map(str, approximations.feature_shape))}) "
                                    f"must be those of layer {layer!r} of the generator; it gives {shape}")
        self._stop_sweep()
        C, H, W = approximations.feature_shape
        approximations.hosvd_errors()  # the one HOSVD
        spatial = [r for r in dict.fromkeys(int(r) for r in precompute) if 1 <= r <= H * W]
        for method in ("mpca", "panda"):
            approximations.precompute(method, [(C, r) for r in spatial])
        self.layer, self.latents, self.Z, self.approximations = layer, latents, approximations.Z, approximations
        if self.background:
            self.sweep = RankSweep(approximations, on_progress=lambda *_: self._show_sweep())
        with self.render_held():
            self.rank_c.max, self.rank_s.max = C, H * W
            self.rank_c.value, self.rank_s.value = C, min(8, H * W)
            self.sample.max = N - 1
            self.sample.value = min(self.sample.value, N - 1)
            self.method.value = "hosvd"
        self.render()

    def set_state(self, *, method: str | None = None, r_c: int | None = None, r_s: int | None = None,
                  sample: int | None = None) -> bool:
        """Change several controls with one update. Impossible values leave everything as it
        was and are reported in :attr:`log_area`; returns whether the change was made."""
        if self.approximations is None:
            self.log_area.error("no features yet: choose a layer the generator has (set_layer)")
            return False
        method = self.method.value if method is None else method
        r_c = self.rank_c.value if r_c is None else r_c
        r_s = self.rank_s.value if r_s is None else r_s
        sample = self.sample.value if sample is None else sample
        try:
            r_c, r_s = self.approximations.check_ranks(method, r_c, r_s)
            n = self.approximations.n_samples
            sample = check_int(f"sample (N = {n})", sample, low=0, high=n - 1)
        except (InvalidInputError, InvalidTypeError) as err:
            self.log_area.error(f"not changed: {err}")
            return False
        with self.render_held():
            self.method.value, self.rank_c.value, self.rank_s.value, self.sample.value = method, r_c, r_s, int(sample)
        with self.log_area.guard("update"):
            self.render()
            return True
        return False

    def set_ranks(self, r_c: int | None = None, r_s: int | None = None) -> bool:
        """Move the rank sliders (``None`` keeps one); impossible ranks give a message, not an error."""
        return self.set_state(r_c=r_c, r_s=r_s)

    def set_method(self, method: str) -> bool:
        """'hosvd', 'mpca' or 'panda'."""
        return self.set_state(method=method)

    def set_sample(self, sample: int) -> bool:
        return self.set_state(sample=sample)

    # ----------------------------------------------------------------- render
    def ready(self) -> bool:
        return self.approximations is not None

    def render(self) -> None:
        """Draw the current view; the background sweep starts no fit meanwhile."""
        if self.sweep is None:
            super().render()
            return
        with self.sweep.paused():
            super().render()

    def composite(self) -> tuple[np.ndarray, ...]:
        """The reconstruction of the current sample: the panes' images, in their order (fits a
        model first when the rank pair is new for MPCA or PandA)."""
        self._started = time.perf_counter()
        method, r_c, r_s, i = self.method.value, self.rank_c.value, self.rank_s.value, self.sample.value
        self._fitting = not self.approximations.is_cached(method, r_c, r_s)
        if self._fitting:
            self.status.value = f"fitting {html.escape(METHOD_NAMES[method])} at R_C = {r_c}, R_S = {r_s} …"
        approximation = self.approximations.get(method, r_c, r_s)
        self.current = approximation
        z = self.Z[i : i + 1]
        z_hat = approximation.reconstruct(z.to(torch.float64)).to(z.dtype)
        latents = self.latents[i : i + 1]
        images = render.to_uint8(self.generator.synthesize_from(self.layer, torch.cat([z, z_hat]),
                                                                torch.cat([latents, latents])))
        image, image_hat = images[0], images[1]
        scale = _display_scale(image.shape[0])
        for pane in (self.original, self.reconstructed, self.difference):
            pane.scale = scale
        self._sample_error = float(((z_hat - z) ** 2).sum() / (z**2).sum().clamp_min(1e-30))
        fig = error_figure(self.approximations.hosvd_errors(),
                           {m: self.approximations.fitted_errors(m) for m in ("mpca", "panda")},
                           names=METHOD_NAMES, method=method, ranks=(r_c, r_s), error=approximation.error)
        return (image, image_hat, render.difference_heatmap(image, image_hat), self._norm_maps(z[0], z_hat[0]),
                self._channel_maps(z[0], z_hat[0]), self._factor_overlays(image, approximation.spatial_factors, method),
                figure_array(fig))

    def _rendered(self, images: Sequence[np.ndarray]) -> None:
        method, r_c, r_s, i = self.method.value, self.rank_c.value, self.rank_s.value, self.sample.value
        self.factors.set_title(("parts P ≥ 0" if method == "panda" else "spatial factors U_S (blue < 0 < red)")
                               + f" over sample {i}")
        self.last_update_seconds = time.perf_counter() - self._started
        if not self._fitting:  # a fit is a one-off: only a plain redraw says whether dragging can be live
            self.live.record(self.last_update_seconds)
        if self.sweep is not None:  # after the view is drawn: the sweep never delays it
            self.sweep.focus(method, r_c, r_s)
        self._show_sweep()
        N = self.approximations.n_samples
        self.status.value = (
            f"<b>{html.escape(METHOD_NAMES[method])}</b>, R_C = {r_c}, R_S = {r_s}: relative error "
            f"Σ‖Z_i − Ẑ_i‖² / Σ‖Z_i‖² = <b>{self.current.error:.3f}</b> over N = {N} samples, "
            f"{self._sample_error:.3f} for sample {i} "
            f"<span style='color:#888'>({'fitted and drawn' if self._fitting else 'drawn'} in "
            f"{self.last_update_seconds:.2f} s)</span>"
        )

    # ------------------------------------------------------------- the panes
    def _upscale(self, maps: torch.Tensor) -> np.ndarray:
        size = maps.shape[-1]
        return render.upsample(maps, (maps.shape[-2] * _display_scale(size) // 2, size * _display_scale(size) // 2),
                               mode="nearest")

    def _norm_maps(self, z: torch.Tensor, z_hat: torch.Tensor) -> np.ndarray:
        maps = torch.stack([z.norm(dim=0), z_hat.norm(dim=0)]).float()
        vmax = float(maps.max()) or 1.0
        big = self._upscale(maps)
        return render.grid([render.heatmap(m, vmin=0, vmax=vmax) for m in big])

    def _channel_maps(self, z: torch.Tensor, z_hat: torch.Tensor) -> np.ndarray:
        strongest = torch.argsort(z.flatten(1).norm(dim=1), descending=True)[: self.n_channels]
        tiles = []
        for row in (z, z_hat):
            for c in strongest.tolist():
                m = float(z[c].abs().max()) or 1.0
                small = self._upscale(row[c : c + 1].float())[0]
                tiles.append(render.heatmap(small, cmap="coolwarm", vmin=-m, vmax=m))
        return render.grid(tiles, ncols=len(strongest))

    def _factor_overlays(self, image: np.ndarray, factors: torch.Tensor, method: str, limit: int = 8) -> np.ndarray:
        shown = factors[:limit]
        tiles = []
        if method == "panda":
            tiles.append(render.overlay_parts(image, factors, opacity=0.7))  # all parts, each pixel its strongest
            tiles += [render.overlay_parts(image, p[None], opacity=0.7) for p in shown]
        else:
            for u in shown:
                m = float(u.abs().max()) or 1.0
                tiles.append(render.overlay_heatmap(image, u, opacity=0.7, cmap="coolwarm", vmin=-m, vmax=m))
        scale = max(1, _display_scale(image.shape[0]) // 2)
        big = [np.repeat(np.repeat(t, scale, 0), scale, 1) for t in tiles]
        return render.grid(big, ncols=len(big))

    # ------------------------------------------------------------------ info
    @property
    def reconstruction_error(self) -> float:
        """The current model's relative error over the N samples."""
        return float(self.current.error) if self.current is not None else float("nan")

    # --------------------------------------------------------- the sweep
    def _steps(self, slider: widgets.IntSlider) -> widgets.HBox:
        """"−1" and "+1" buttons that move ``slider`` by one (a projector's mouse is not precise)."""
        buttons = []
        for label, delta in (("−1", -1), ("+1", 1)):
            button = widgets.Button(description=label, layout=widgets.Layout(width="44px"))
            button.add_class("panda-rank-step")
            button.on_click(self.guard(f"{slider.description} {label}",
                                       lambda _b, d=delta: setattr(slider, "value",
                                                                   min(slider.max, max(slider.min, slider.value + d)))))
            buttons.append(button)
        return widgets.HBox(buttons)

    def _show_sweep(self) -> None:
        sweep = self.sweep
        if sweep is None:
            self.sweep_status.value = ""
            return
        if sweep.error is not None:
            self.sweep_status.value = f"background fits stopped: {html.escape(str(sweep.error))}"
            return
        done, total = sweep.progress()
        r_c = self.rank_c.value
        what = f"MPCA and PandA at every R_S (R_C = {r_c})"
        self.sweep_status.value = (f"<span style='color:#555'>{what}: all {total} fitted</span>" if done >= total else
                                   f"<span style='color:#555'>fitting {what} in the background: "
                                   f"{done}/{total} <progress value='{done}' max='{total}'></progress></span>")

    def _stop_sweep(self) -> None:
        if self.sweep is not None:
            self.sweep.stop()
            self.sweep = None

    def close(self) -> None:
        """Stop the background sweep and close the widget."""
        self._stop_sweep()
        super().close()
