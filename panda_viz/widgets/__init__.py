"""Interactive exploration in JupyterLab: thin ipywidgets components over render and editing.

Each component is an ``ipywidgets.VBox`` with plain methods (``render()``, ``set_seed()``,
``set_alpha()``…) that its observers call and tests call too; images are composed on the
kernel side and pushed as PNG bytes. Errors show in each component's ``log_area``. The
panels share one base, :class:`Panel` (:mod:`panda_viz.widgets.panel`).

>>> from panda_viz.widgets import Explorer
>>> Explorer(G, model)          # the last expression of a cell displays the app
"""

from __future__ import annotations

from .directions_panel import DirectionsPanel
from .edit_panel import EditPanel
from .explorer import Explorer
from .panel import Panel
from .parts_overlay import PartsOverlay
from .photo_source import PhotoSource
from .rank_explorer import RankExplorer
from .removal_panel import RemovalPanel
from .roi import RoiPainter
from .saliency_view import SaliencyView

__all__ = ["Explorer", "PartsOverlay", "SaliencyView", "EditPanel", "RoiPainter", "RemovalPanel", "DirectionsPanel",
           "RankExplorer", "Panel", "PhotoSource"]
