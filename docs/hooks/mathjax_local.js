/* MathJax 2 settings for the site's copy (jupyter-server-mathjax), published by mathjax.py as
   [MathJax]/config/local/panda_viz.js and named in each notebook page's MathJax URL.
   That copy ships the STIX-Web fonts only, and the HTML-CSS and SVG output only: ask for
   those (as the classic Jupyter notebook did), never for the TeX fonts or image fonts it
   lacks, and offer no renderer choice that would ask for an output it lacks. The hidden
   MathML kept for screen readers (AssistiveMML) is styled by the NativeMML output, whose
   @font-face rules point at TeX fonts in otf that the copy lacks: they take the fonts from
   the system only. nbconvert's inline configuration on the page (delimiters, equation
   numbers) still applies. */
MathJax.Hub.Config({
  "HTML-CSS": {
    availableFonts: [],
    preferredFont: null,
    webFont: "STIX-Web",
    imageFont: null,
    linebreaks: { automatic: true }
  },
  SVG: { font: "STIX-Web" },
  NativeMML: {
    styles: {
      "@font-face /*1*/": { src: "local('MathJax_Caligraphic'), local('MathJax_Caligraphic-Regular')" },
      "@font-face /*2*/": { src: "local('MathJax_Caligraphic Bold'), local('MathJax_Caligraphic-Bold')" },
      "@font-face /*3*/": { src: "local('MathJax_AMS'), local('MathJax_AMS-Regular')" },
      "@font-face /*4*/": { src: "local('MathJax_Script'), local('MathJax_Script-Regular')" },
      "@font-face /*5*/": { src: "local('MathJax_Fraktur'), local('MathJax_Fraktur-Regular')" },
      "@font-face /*6*/": { src: "local('MathJax_Fraktur Bold'), local('MathJax_Fraktur-Bold')" }
    }
  },
  MathMenu: { showRenderer: false }
});
MathJax.Ajax.loadComplete("[MathJax]/config/local/panda_viz.js");
