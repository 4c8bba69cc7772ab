"""A plotly ``FigureWidget`` that fills its notebook cell and tells Python how wide it is.

plotly's own ``FigureWidget`` (an anywidget) measures its container once, before JupyterLab has laid the cell
out, and falls back to plotly's default 700 px; it resizes only when the *window* is resized. Tables drawn that
way show only the columns that fit the first measurement (the FLOPs table showed 11 of its 33 cells).

:class:`FitFigureWidget` uses the same front-end code (plotly's ``widgetbundle.js``, so the same plotly.js) with
a thin wrapper around it: the figure is ``responsive`` (plotly.js's own resize handler), and a ``ResizeObserver``
on the widget's element calls that handler whenever the element's width changes, and writes the width to the
``container_width`` trait, from which :class:`~swin_viz.viz.Explorer` chooses the panel grid
(:func:`swin_viz.viz.render.columns_for`).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import plotly.graph_objects as go
import traitlets

__all__ = ["FitFigureWidget", "fit_esm"]

_EXPORT = re.compile(r"export\s*\{([^}]*?)\b([\w$]+)\s+as\s+default\s*\}")

_WRAPPER = """
export default () => {
  const base = __SWIN_VIZ_BASE__();
  return {
    initialize(ctx) { return base.initialize ? base.initialize(ctx) : undefined; },
    render(ctx) {
      const cleanup = base.render(ctx);
      const { el, model } = ctx;
      el.style.width = "100%";
      el.style.minWidth = "0";
      let last = -1;
      let timer = null;
      const observer = new ResizeObserver(() => {
        const width = Math.round(el.getBoundingClientRect().width);
        if (!width || width === last) return;
        last = width;
        clearTimeout(timer);
        timer = setTimeout(() => {
          // With config.responsive, plotly.js gives the plot a handler that redraws it at its element's size.
          if (typeof el._responsiveChartHandler === "function") el._responsiveChartHandler();
          model.set("container_width", width);
          model.save_changes();
        }, 30);
      });
      observer.observe(el);
      return () => { observer.disconnect(); clearTimeout(timer); if (typeof cleanup === "function") cleanup(); };
    },
  };
};
"""


@functools.lru_cache(maxsize=1)
def fit_esm() -> str:
    """plotly's widget bundle with its default export wrapped (see the module docstring)."""
    import plotly

    bundle = (Path(plotly.__file__).parent / "package_data" / "widgetbundle.js").read_text(encoding="utf-8")
    matches = list(_EXPORT.finditer(bundle))  # the module's own export is the last (an earlier one is in a string)
    if not matches or "FigureView" not in matches[-1].group(1):
        raise RuntimeError(
            "plotly's widgetbundle.js does not end with 'export{... as default}' as plotly 7.1 does; "
            "pin plotly to the version in requirements.txt"
        )
    match = matches[-1]
    others = match.group(1).strip().rstrip(",")
    keep = f"export{{{others}}};" if others else ""
    base = f"\nconst __SWIN_VIZ_BASE__ = {match.group(2)};\n"
    return bundle[: match.start()] + keep + bundle[match.end() :] + base + _WRAPPER


class FitFigureWidget(go.FigureWidget):
    """``go.FigureWidget`` that fills its container; ``container_width`` is its width in CSS pixels (0 until
    a front-end has drawn it)."""

    _esm = fit_esm()
    container_width = traitlets.Int(0).tag(sync=True)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._config = {**self._config, "responsive": True}
