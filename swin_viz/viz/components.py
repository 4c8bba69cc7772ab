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
import html
import json
import os
import uuid
from importlib import resources
from typing import Any

from . import palette

__all__ = [
    "COMPONENTS",
    "component_html",
    "component_source",
    "component_widget",
    "explore",
    "live_model",
    "live_model_html",
    "live_model_meta",
    "live_model_source",
    "live_model_widget",
]

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


# ================================================================================================ the live model
LIVE_MODEL = "digits-small"
LIVE_OUTPUTS = ("*.attn.hook_probs", "stage?.hook_out")
"""What the live page's graph returns besides the logits: every block's attention, every stage's map."""
LIVE_VENDOR = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
"""The onnxruntime-web files the page loads (scripts/book_assets.py copies them from the npm package)."""


def live_model_meta(digits: int = 10) -> dict[str, Any]:
    """What the live component needs to know besides the graph: geometry, classes, normalisation, output names and
    ``digits`` validation digits (``{"index", "label", "pixels"}``, 32x32 grey values 0..255, one per class)."""
    import torch

    from swin_viz import hook_points
    from swin_viz.hooks import match_names

    from .attention_cache import pick_images
    from .images import IMAGENET_MEAN, IMAGENET_STD
    from .sources import digits_val, trained_model

    model, info = trained_model(LIVE_MODEL)
    cfg = model.config
    data = digits_val()
    chosen = pick_images(data.labels, digits)
    hook_points(model)
    return {
        "size": 32, "patch": cfg.patch_size, "window": cfg.window_size, "depths": list(cfg.depths),
        "heads": list(cfg.num_heads), "classes": list(info["classes"]), "mean": list(IMAGENET_MEAN),
        "std": list(IMAGENET_STD), "outputs": ["logits", *match_names(model, list(LIVE_OUTPUTS))],
        "digits": [{"index": i, "label": int(data.labels[i]),
                    "pixels": data.images[i, 0].to(torch.int32).flatten().tolist()} for i in chosen],
    }  # fmt: skip


@functools.cache
def live_model_source() -> str:
    """The live model's ES module: the palette, ``common.js``, ``live_model.js`` and an anywidget ``render``."""
    colours = {"WINDOW_COLORS": list(palette.WINDOW_COLORS), "OUTLINE": palette.OUTLINE,
               "HIGHLIGHT": palette.HIGHLIGHT, "FONT_COLOR": palette.FONT_COLOR, "BACKGROUND": palette.BACKGROUND,
               "REGION_COLORS": list(palette.REGION_COLORS), "MASK_COLORS": list(palette.MASK_COLORS)}  # fmt: skip
    return "\n".join([
        f"const PALETTE = {json.dumps(colours)};", _js("common.js"), _js("live_model.js"),
        "export { staticModel };\nexport const component = liveModelComponent;\n"
        "export default { render({ model, el }) { injectStyle(el); liveModelComponent.mount(model, el); } };",
    ])  # fmt: skip


def live_model_html(static: str = "../_static") -> str:
    """The live model for the static book: a ``<div>`` whose module mounts when the reader scrolls to it, then
    loads onnxruntime-web and the graph, gzipped, from ``static`` (the book's ``_static`` folder, relative to the
    page; ``scripts/book_assets.py`` puts them there)."""
    uid = f"swin-viz-live-{uuid.uuid4().hex[:8]}"
    ort = f"{static}/onnxruntime-web"
    state = {"ort_url": f"{ort}/{LIVE_VENDOR[0]}.gz", "wasm_mjs_url": f"{ort}/{LIVE_VENDOR[1]}.gz",
             "wasm_url": f"{ort}/{LIVE_VENDOR[2]}.gz", "model_url": f"{static}/live/digits_small.onnx.gz",
             "meta": live_model_meta()}  # fmt: skip
    source = live_model_source().replace("</script", "<\\/script")
    mount = (f"\nconst el = document.getElementById({json.dumps(uid)});\nconst state = {json.dumps(state)};\n"
             "for (const k of ['ort_url', 'wasm_mjs_url', 'wasm_url', 'model_url'])\n"
             "  state[k] = new URL(state[k], document.baseURI).href;\n"
             "const start = () => { injectStyle(el); liveModelComponent.mount(staticModel(state), el); };\n"
             "const seen = new IntersectionObserver((es) => {\n"
             "  if (es.some((e) => e.isIntersecting)) { seen.disconnect(); start(); }\n"
             "}, { rootMargin: '200px' });\nseen.observe(el);\n"
             "(window.swinViz = window.swinViz || {}).live_model = el;\n")  # fmt: skip
    return (f'<div class="swin-viz-live-root" id="{uid}" data-component="live_model" '
            'style="max-width:100%;min-height:300px"></div>\n'
            f'<script type="module">\n{source}\n{mount}</script>')  # fmt: skip


def live_model_widget(vendor: str | os.PathLike[str] | None = None, onnx: str | os.PathLike[str] | None = None) -> Any:
    """The live model as a Jupyter widget: the same module, with onnxruntime-web's files and the graph sent as bytes.

    ``vendor`` is the folder with :data:`LIVE_VENDOR` (default ``_vendor/onnxruntime-web`` of the repository, which
    ``scripts/book_assets.py`` fills); ``onnx`` a graph file (default: the book build's gzipped
    ``_vendor/live/digits_small.onnx.gz``, else exported now with :func:`swin_viz.export_onnx`).
    """
    import gzip
    import tempfile
    from pathlib import Path

    import anywidget
    import traitlets

    root = Path(__file__).resolve().parents[2]
    folder = Path(vendor) if vendor is not None else root / "_vendor" / "onnxruntime-web"
    missing = [f"{f}.gz" for f in LIVE_VENDOR if not (folder / f"{f}.gz").exists()]
    if missing:
        raise FileNotFoundError(f"{folder} lacks {missing}: run `python scripts/book_assets.py` (npm fetches them)")
    cached = root / "_vendor" / "live" / "digits_small.onnx.gz"
    if onnx is not None:
        graph = Path(onnx).read_bytes()
    elif cached.exists():
        graph = gzip.decompress(cached.read_bytes())
    else:
        from swin_viz.export import export_onnx

        from .sources import trained_model

        path = Path(tempfile.mkdtemp()) / "digits_small.onnx"
        export_onnx(trained_model(LIVE_MODEL)[0], path, hook_outputs=list(LIVE_OUTPUTS))
        graph = path.read_bytes()
    cls = type("LiveModel", (anywidget.AnyWidget,), {
        "_esm": live_model_source(), "meta": traitlets.Dict().tag(sync=True),
        "ort_js": traitlets.Bytes().tag(sync=True), "wasm": traitlets.Bytes().tag(sync=True),
        "wasm_mjs": traitlets.Bytes().tag(sync=True), "onnx": traitlets.Bytes().tag(sync=True),
    })  # fmt: skip
    ort_js, wasm_mjs, wasm = (gzip.decompress((folder / f"{f}.gz").read_bytes()) for f in LIVE_VENDOR)
    return cls(meta=live_model_meta(), ort_js=ort_js, wasm_mjs=wasm_mjs, wasm=wasm, onnx=graph)


def live_model() -> Any:
    """The live model to show as a cell's last expression: static HTML in the book build, the widget in Jupyter."""
    if os.environ.get("SWIN_VIZ_BOOK_BUILD") == "1":
        return _Html(live_model_html())
    try:
        return live_model_widget()
    except FileNotFoundError as err:  # a fresh clone: onnxruntime-web is fetched by the book's asset step
        return _Html(f"<p><b>The live model needs onnxruntime-web:</b> {html.escape(str(err))}</p>")
