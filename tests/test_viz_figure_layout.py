"""Figures as a reader sees them, drawn by plotly.js in Chromium: nothing overlaps, nothing is cut.

Chapter 9's attention maps carry a three-line caption (the checkpoint, the prediction): it overlapped the panels'
titles when plotly centred the title in the top margin. The shapes table cut hook names
("stage1.block0.hook_inpu") when its columns had equal widths. Skips without Chromium / playwright.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from swin_viz import viz
from swin_viz.viz import render
from swin_viz.viz.display import plotly_js_path

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def page():
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (apt-get install chromium); CI installs it")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield browser.new_page()
        browser.close()


def _draw(page, spec, width: int, columns: int | None = None) -> None:
    """``spec`` drawn by plotly.js in a ``width`` px page, ``columns`` panels a row (default: the spec's)."""
    import plotly.graph_objects as go

    fig = go.Figure(render.to_plotly_dict(spec, columns))
    page.set_viewport_size({"width": width, "height": 1000})
    page.set_content("<html><body style='margin:0'><div id=f></div></body></html>")
    page.add_script_tag(path=plotly_js_path())
    page.evaluate("(fig) => Plotly.newPlot('f', fig.data, fig.layout, {responsive: true})", fig.to_plotly_json())
    page.wait_for_selector("#f .main-svg")


@pytest.mark.parametrize(("width", "columns"), [(1100, 2), (800, 2), (700, 1)])
def test_the_caption_stays_clear_of_the_panel_titles(page, width: int, columns: int) -> None:
    spec = viz.attention_maps.attention_maps_spec(image=3, block="stage1.block1", row=2, col=6, head=0)
    assert spec.caption.count(" ") > 40, "a caption of several lines"
    _draw(page, spec, width, columns)
    boxes = page.evaluate("""() => {
        const box = (e) => { const r = e.getBoundingClientRect(); return [r.top, r.bottom, r.left, r.right]; };
        return { title: [...document.querySelectorAll('.gtitle, .gtitle-subtitle, .g-gtitle text')].map(box),
                 panels: [...document.querySelectorAll('.annotation-text')].map(box) }; }""")  # fmt: skip
    assert len(boxes["title"]) >= 2 and len(boxes["panels"]) == 2, boxes
    bottom = max(b[1] for b in boxes["title"])
    top = min(b[0] for b in boxes["panels"])
    assert bottom <= top, f"the caption reaches {bottom:.0f} px, the panel titles start at {top:.0f} px"
    assert min(b[0] for b in boxes["title"]) >= 0, "the title is cut at the top"


@pytest.mark.parametrize("width", [1100, 900])
def test_the_shapes_table_shows_every_hook_name_whole(page, width: int) -> None:
    spec = viz.shapes.shapes_spec(stage="stage1", filter="*", size="224")
    _draw(page, spec, width, 2)
    cut = page.evaluate("""() => [...document.querySelectorAll('.table .column-cell')].flatMap(cell => {
        const text = cell.querySelector('.cell-text'), rect = cell.querySelector('.cell-rect');
        if (!text || !rect || !text.textContent.trim()) return [];
        // A clip path hides what overflows but the text's box keeps its full width (its widest line).
        return text.getBBox().width > rect.getBBox().width - 2 ? [text.textContent] : []; })""")  # fmt: skip
    names = page.evaluate("() => [...document.querySelectorAll('.table .cell-text')].map(t => t.textContent)")
    assert any("stage1.block0.attn.hook_rel_bias" in n for n in names), names[:5]
    assert not cut, f"cut cells: {cut[:5]}"
