"""What reproduces the PandA paper on the installed generators, apart from the library.

- :mod:`~panda_viz.commands.demo`: ``panda-viz demo``, the figures of ``figures/demo/``;
- :mod:`~panda_viz.commands.figures`: ``panda-viz figures``, re-executing the paper notebooks
  and indexing ``figures/``, and the figure helpers the notebooks share;
- :mod:`~panda_viz.paper.evaluation`: ``panda-viz table2``, the paper's Table 2 protocol (rows and
  files in :mod:`~panda_viz.paper.table2_result`, its figure in :mod:`~panda_viz.paper.table2_figure`);
- :mod:`~panda_viz.paper.table1`: Table 1's feature columns for the six methods, as data;
- :mod:`~panda_viz.paper.training_time`: Table 1's training times, measured side by side;
- :mod:`~panda_viz.paper.regions`: eyes / nose / mouth masks of the embedded face GAN.

The library proper (generators → decomposition → editing / saliency → baselines / metrics
→ render → widgets) never imports from here.
"""
