"""The live model page in Chromium: draw digits with the mouse, and check what the page computes against swin_viz.

For every drawn input the page's graph (onnxruntime-web, WebAssembly) must give the library's logits and every
block's attention probabilities within 1e-4. Also: nothing of the runtime loads before the reader scrolls to the
figure, and the figures follow the strokes. Skips until the book is built (``_build/html``, or the folder in
``SWIN_VIZ_BOOK_HTML``), as tests/test_browser.py does.
"""

from __future__ import annotations

import functools
import gzip
import http.server
import os
import shutil
import statistics
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("SWIN_VIZ_BOOK_HTML", ROOT / "_build" / "html"))
PAGE = "book/live_model.html"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

# Strokes in image pixels (32 x 32): a "1", a "7", a "0" and a stray scribble.
STROKES = [
    [[(16, 5), (16, 27)]],
    [[(8, 6), (24, 6), (14, 27)]],
    [[(16, 5), (9, 10), (8, 20), (16, 27), (23, 20), (23, 10), (16, 5)]],
    [[(4, 28), (12, 20), (6, 12)], [(26, 4), (20, 16)]],
]


@pytest.fixture(scope="module")
def tab() -> Iterator:
    if not (HTML / PAGE).exists():
        pytest.skip(f"the live page is not built ({HTML / PAGE} missing): run bash scripts/build_book.sh first")
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (apt-get install chromium); CI installs it")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(HTML)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1280, "height": 240})  # the figure starts below the fold
            requested: list[str] = []
            page.on("request", lambda r: requested.append(r.url))
            page.goto(f"http://127.0.0.1:{httpd.server_address[1]}/{PAGE}", wait_until="load")
            page.wait_for_timeout(500)
            page.requested_before_scroll = list(requested)  # type: ignore[attr-defined]
            page.below_the_fold = page.evaluate(  # type: ignore[attr-defined]
                "() => document.querySelector('.swin-viz-live-root').getBoundingClientRect().top > innerHeight + 200"
            )
            page.set_viewport_size({"width": 1280, "height": 900})
            page.locator(".swin-viz-live-root").scroll_into_view_if_needed()
            page.wait_for_function("() => window.swinViz.live_model.dataset.ready === '1'", timeout=60_000)
            page.wait_for_function("() => window.swinViz.live_model.swinViz.idle()", timeout=60_000)
            yield page
            browser.close()
    finally:
        httpd.shutdown()


def library(pixels: list[float]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    from swin_viz.data import normalize
    from swin_viz.viz.components import live_model_meta
    from swin_viz.zoo import shared_model

    names = live_model_meta(digits=1)["outputs"][1:]
    x = torch.tensor(pixels, dtype=torch.float32).reshape(1, 1, 32, 32).expand(1, 3, 32, 32)
    with torch.no_grad():
        logits, cache = shared_model("digits-small", weights="pretrained").run_with_cache(normalize(x), names=names)
    return logits.numpy(), {n: t.numpy() for n, t in cache.items()}


def draw(tab, strokes: list[list[tuple[int, int]]]) -> None:
    box = tab.locator(".swin-viz-live canvas").first.bounding_box()
    k = box["width"] / 32
    tab.get_by_role("button", name="clear").click()
    for stroke in strokes:
        x0, y0 = stroke[0]
        tab.mouse.move(box["x"] + (x0 + 0.5) * k, box["y"] + (y0 + 0.5) * k)
        tab.mouse.down()
        for x, y in stroke[1:]:
            tab.mouse.move(box["x"] + (x + 0.5) * k, box["y"] + (y + 0.5) * k, steps=8)
        tab.mouse.up()
    tab.wait_for_function("() => window.swinViz.live_model.swinViz.idle()", timeout=30_000)


def test_the_runtime_loads_only_when_the_reader_reaches_the_figure(tab) -> None:
    assert tab.below_the_fold, "the figure is in the first screen: this test cannot tell a lazy load from an eager one"
    assert not [u for u in tab.requested_before_scroll if "onnxruntime-web" in u or u.endswith(".onnx")]


@pytest.mark.parametrize("strokes", STROKES, ids=["one", "seven", "zero", "scribble"])
def test_drawn_digits_give_the_librarys_logits_and_attention(tab, strokes) -> None:
    draw(tab, strokes)
    pixels = tab.evaluate("() => window.swinViz.live_model.swinViz.pixels()")
    assert sum(pixels) > 5, "the strokes drew nothing"
    page = tab.evaluate(
        """async (pixels) => {
      const res = await window.swinViz.live_model.swinViz.infer(Float32Array.from(pixels));
      const out = {};
      for (const [k, v] of Object.entries(res)) out[k] = {dims: v.dims, data: Array.from(v.data)};
      return out;
    }""",
        pixels,
    )
    logits, cache = library(pixels)
    np.testing.assert_allclose(np.array(page["logits"]["data"]).reshape(logits.shape), logits, atol=1e-4, rtol=0)
    probs = [n for n in cache if n.endswith("attn.hook_probs")]
    assert len(probs) == 6
    for name in probs:
        got = np.array(page[name]["data"], dtype=np.float32).reshape(page[name]["dims"])
        np.testing.assert_allclose(got, cache[name], atol=1e-4, rtol=0, err_msg=name)


@pytest.mark.parametrize(("size", "shift"), [(16, 0), (16, 2), (8, 2), (4, 2), (6, 2)])
def test_the_attention_figure_reads_the_row_the_library_puts_each_token_in(tab, size, shift) -> None:
    """The page finds a token's attention row by its own window arithmetic: it must be swin_viz's."""
    from swin_viz import effective_window
    from swin_viz.viz.window_layout import window_layout

    window, eff = effective_window(size, size, 4, shift)
    coords, slot = window_layout(size, size, window, eff)
    page = tab.evaluate(
        """([H, s]) => { const f = window.swinViz.live_model.swinViz.windowSlot, out = [];
      for (let r = 0; r < H; r++) for (let c = 0; c < H; c++) { const x = f(H, H, 4, s, r, c);
        out.push([x.w, x.n, x.keys.map((k) => (k ? k : [-1, -1]))]); }
      return out; }""",
        [size, shift],
    )
    for (w, n, keys), (r, c) in zip(page, [(r, c) for r in range(size) for c in range(size)]):
        assert (w, n) == tuple(slot[r, c]), (r, c)
        assert keys == coords[w].tolist(), (r, c)


def test_strokes_update_the_figures_within_the_budget(tab) -> None:
    timings = tab.evaluate("() => window.swinViz.live_model.swinViz.timings.slice()")
    assert len(timings) >= 8, timings
    median = statistics.median(timings[1:])  # the first includes compiling the graph
    print(f"stroke to figure: median {median:.1f} ms, max {max(timings[1:]):.1f} ms over {len(timings) - 1} updates")
    assert median <= 50, f"median stroke-to-figure {median:.1f} ms > 50 ms"


def test_the_jupyter_widget_carries_the_runtime_and_the_graph() -> None:
    from swin_viz.viz.components import LIVE_VENDOR, live_model_widget

    vendor, graph = ROOT / "_vendor" / "onnxruntime-web", ROOT / "_vendor" / "live" / "digits_small.onnx.gz"
    if not graph.exists() or not all((vendor / f"{f}.gz").exists() for f in LIVE_VENDOR):
        pytest.skip("run scripts/book_assets.py first (it fetches onnxruntime-web and exports the graph)")
    widget = live_model_widget()
    assert widget.wasm[:4] == b"\0asm" and widget.onnx == gzip.decompress(graph.read_bytes())
    assert widget.onnx[:2] != b"\x1f\x8b"  # the graph itself, inflated, not its gzip
    assert b"InferenceSession" in widget.ort_js and "liveModelComponent.mount" in widget._esm
    assert widget.meta["outputs"][0] == "logits" and len(widget.meta["digits"]) == 10


def test_without_the_runtime_the_widget_says_how_to_fetch_it(tmp_path: Path) -> None:
    from swin_viz.viz.components import live_model_widget

    with pytest.raises(FileNotFoundError, match=r"book_assets\.py"):
        live_model_widget(vendor=tmp_path)
