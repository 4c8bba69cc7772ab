"""A tiny Sphinx extension: load plotly.js (4.8 MB) only on pages that draw a plotly figure.

``_config.yml`` lists ``plotly.min.js`` and ``swin_viz.js`` (the fit-to-width script) in ``html_js_files``, which
Sphinx adds to every page. Most pages (labs, the glossary, the landing pages) have no figure: this drops both
scripts there, so a first visit to such a page no longer downloads plotly.js.
"""

from __future__ import annotations

from typing import Any

from docutils import nodes

PLOTLY_SCRIPTS = ("plotly.min.js", "swin_viz.js")


def _has_plotly_figure(doctree: Any) -> bool:
    return any("plotly-graph-div" in node.astext() or "Plotly." in node.astext() for node in doctree.findall(nodes.raw))


def _drop_plotly(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    scripts = context.get("script_files")
    if not scripts or doctree is None or _has_plotly_figure(doctree):
        return
    scripts[:] = [s for s in scripts if _name(s) not in PLOTLY_SCRIPTS]


def _name(script: Any) -> str:
    """``plotly.min.js`` of ``_static/plotly.min.js?v=...`` (Sphinx 7.1+ keeps the ``_static/`` prefix)."""
    return str(getattr(script, "filename", script) or "").split("?")[0].rsplit("/", 1)[-1]


def setup(app: Any) -> dict[str, Any]:
    app.connect("html-page-context", _drop_plotly, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
