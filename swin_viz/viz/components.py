"""Explorers that compute in the reader's browser: small ES-module components, live in Jupyter and static in the book.

Each component (``swin_viz/viz/js/<name>.js``, shipped as package data) holds the index arithmetic of one
mechanism -- windows and partition, the cyclic shift and its regions, the attention mask and its "no mask" leak,
the relative position index and the bias-table lookup, the patch-merging order, the FLOP count with separate
``h`` and ``w`` -- and draws it as SVG. The same module runs

* in Jupyter, through `anywidget <https://anywidget.dev>`_: :func:`component_widget` returns a widget whose
  ``state`` trait (a dict of control values) is synced both ways with the controls;
* in the static HTML book: :func:`component_html` inlines the module and mounts it on a page-held model, so a
  reader can pick any parameter with no kernel and no precomputed frames.

:func:`explore` picks one of the two (the book build sets ``SWIN_VIZ_BOOK_BUILD=1``). The browser test
(``tests/test_viz_components_browser.py``) drives every component over a grid of parameters and compares what it
computes with swin_viz's tensors. Explorers that need a model's forward pass stay in Python (:mod:`.explorer`).
"""

from __future__ import annotations

import functools
import json
import os
import uuid
from importlib import resources
from typing import Any

from . import palette

__all__ = ["COMPONENTS", "component_html", "component_source", "component_widget", "explore"]

COMPONENTS: dict[str, dict[str, Any]] = {
    "windows": {"files": ("windows.js",), "object": "windowsComponent", "controls": ("H", "W", "M")},
    "shift": {"files": ("shift.js",), "object": "shiftComponent", "controls": ("H", "W", "M", "s")},
    "mask": {"files": ("shift.js", "mask.js"), "object": "maskComponent",
             "controls": ("H", "W", "M", "s", "window", "query", "masked")},
    "relative_position": {"files": ("relative_position.js",), "object": "relativePositionComponent",
                          "controls": ("M", "query")},
    "merging": {"files": ("merging.js",), "object": "mergingComponent", "controls": ("H", "W", "C", "row", "col")},
    "flops": {"files": ("flops.js",), "object": "flopsComponent", "controls": ("h", "w", "C", "M")},
}  # fmt: skip
"""Every component: its module files (after ``common.js``), the object it defines, and its controls."""


def _js(file: str) -> str:
    return resources.files("swin_viz.viz").joinpath("js", file).read_text(encoding="utf-8")


def _check(name: str, state: dict[str, Any]) -> None:
    if name not in COMPONENTS:
        raise ValueError(f"unknown component {name!r}; choose one of {sorted(COMPONENTS)}")
    unknown = set(state) - set(COMPONENTS[name]["controls"])
    if unknown:
        controls = COMPONENTS[name]["controls"]
        raise ValueError(f"{name}: unknown control(s) {sorted(unknown)}; its controls are {controls}")


@functools.cache
def component_source(name: str) -> str:
    """The ES module of component ``name``: the palette, ``common.js``, its files, and an anywidget ``render``."""
    _check(name, {})
    colours = {
        "REGION_COLORS": list(palette.REGION_COLORS), "WINDOW_COLORS": list(palette.WINDOW_COLORS),
        "MASK_COLORS": list(palette.MASK_COLORS), "OUTLINE": palette.OUTLINE, "HIGHLIGHT": palette.HIGHLIGHT,
        "FONT_COLOR": palette.FONT_COLOR, "BACKGROUND": palette.BACKGROUND,
    }  # fmt: skip
    parts = [f"const PALETTE = {json.dumps(colours)};", _js("common.js"), *(_js(f) for f in COMPONENTS[name]["files"])]
    obj = COMPONENTS[name]["object"]
    parts.append(f"export const component = {obj};\nexport {{ staticModel, mount }};\n"
                 f"export default {{ render({{ model, el }}) {{ return mount({obj}, model, el); }} }};")  # fmt: skip
    return "\n".join(parts)


@functools.cache
def _widget_class(name: str) -> type:
    import anywidget
    import traitlets

    return type(
        f"{name.title().replace('_', '')}Explorer",
        (anywidget.AnyWidget,),
        {"_esm": component_source(name), "state": traitlets.Dict().tag(sync=True),
         "__doc__": f"The {name} component as a Jupyter widget; ``state`` holds its control values."},
    )  # fmt: skip


def component_widget(name: str, **state: Any) -> Any:
    """Component ``name`` as an anywidget; ``widget.state`` (dict) is synced with its controls both ways.

    Values outside a control's range are clamped by the component (and the clamped state is written back).
    """
    _check(name, state)
    return _widget_class(name)(state=dict(state))


def component_html(name: str, **state: Any) -> str:
    """Component ``name`` as self-contained HTML (a ``<div>`` and an inline module): no kernel, no network."""
    _check(name, state)
    uid = f"swin-viz-{name}-{uuid.uuid4().hex[:8]}"
    source = component_source(name).replace("</script", "<\\/script")
    obj = COMPONENTS[name]["object"]
    mount = (f"\nconst el = document.getElementById({json.dumps(uid)});\n"
             f"mount({obj}, staticModel({{ state: {json.dumps(state)} }}), el);\n"
             f"(window.swinViz = window.swinViz || {{}})[{json.dumps(name)}] = {obj};\n")  # fmt: skip
    return (f'<div class="swin-viz-root" id="{uid}" data-component="{name}" style="max-width:100%"></div>\n'
            f'<script type="module">\n{source}\n{mount}</script>')  # fmt: skip


class _Html:
    def __init__(self, html: str) -> None:
        self.html = html

    def _repr_html_(self) -> str:
        return self.html


def explore(name: str, **state: Any) -> Any:
    """The component to show as a cell's last expression: the live widget in Jupyter, the static HTML while the
    book is built (``SWIN_VIZ_BOOK_BUILD=1``, where widget state is never saved)."""
    if os.environ.get("SWIN_VIZ_BOOK_BUILD") == "1":
        return _Html(component_html(name, **state))
    return component_widget(name, **state)
