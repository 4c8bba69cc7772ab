"""Showing figures and explorers in a notebook so they work in Jupyter *and* in the static HTML book.

* :func:`show` emits a plotly figure once: in Jupyter as plotly's own JSON (JupyterLab, Notebook 7, VS Code and
  Colab draw it natively, with no kernel and in an untrusted notebook), and while the book is built as HTML that
  calls ``Plotly.newPlot`` on a global ``Plotly`` -- the book loads ``plotly.min.js`` from its own ``_static``
  folder (copied from the installed plotly package at build time), so the HTML book needs no network. Without
  this, plotly's default renderer under the book's executor emits only the JSON, which the HTML builder drops:
  the figure would silently disappear. One representation, not both: a saved chapter holds each figure once.
* :func:`live` displays an explorer's widget; in the book that cell is tagged ``remove-output`` because
  widget callbacks need a running kernel, and the static twin is shown instead.
"""

from __future__ import annotations

import json
import os
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio

__all__ = ["live", "plotly_js_path", "show"]


def plotly_js_path() -> str:
    """Path of the ``plotly.min.js`` that ships inside the installed plotly package."""
    from pathlib import Path

    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.exists():
        raise FileNotFoundError(f"plotly.min.js not found at {path}; reinstall plotly")
    return str(path)


def show(fig: go.Figure) -> None:
    """Display ``fig`` for Jupyter front-ends and for the HTML book (see the module docstring)."""
    from IPython.display import display

    bundle: dict[str, Any] = {"text/plain": f"<plotly figure: {fig.layout.title.text}>"}
    if os.environ.get("SWIN_VIZ_BOOK_BUILD") == "1":  # the HTML builder drops plotly's JSON (and warns)
        bundle["text/html"] = fig.to_html(include_plotlyjs=False, full_html=False, config={"responsive": True})
    else:
        bundle["application/vnd.plotly.v1+json"] = json.loads(pio.to_json(fig, validate=False))
    display(bundle, raw=True)


def live(explorer: Any) -> Any:
    """The widget of an :class:`~swin_viz.viz.Explorer` (or of ``explorer()`` if given a factory), to be the
    last expression of a cell.

    While the HTML book is being built (``SWIN_VIZ_BOOK_BUILD=1``, set by ``scripts/build_book.sh``) it builds
    nothing and returns ``None``: the cell's output is hidden there anyway, and a live widget would embed
    megabytes of widget state (plotly.js inside the FigureWidget) and CDN scripts in the page.
    """
    if os.environ.get("SWIN_VIZ_BOOK_BUILD") == "1":
        return None
    if callable(explorer) and not hasattr(explorer, "widget"):
        explorer = explorer()
    return explorer.widget


def _register_matplotlib_png() -> None:
    """Let a bare ``matplotlib.figure.Figure`` (what :func:`~swin_viz.viz.to_matplotlib` returns) display as a
    PNG in any kernel, whatever the matplotlib backend: importing this module is enough."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is there wherever a notebook runs
        return
    ip = get_ipython()
    if ip is None:
        return
    from matplotlib.figure import Figure

    def png(fig: Figure) -> bytes:
        import io

        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        return buffer.getvalue()

    ip.display_formatter.formatters["image/png"].for_type(Figure, png)


_register_matplotlib_png()
