"""Live widgets that behave: JSON-clean updates, one redraw per change, controls that wrap, a figure that fills
its cell and picks its panel grid by width, and notebooks that never carry widget state."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from ipywidgets.widgets.widget import _remove_buffers

import swin_viz.viz as viz
from swin_viz.viz.explorer import CONTROL_WIDTH
from swin_viz.viz.figure_widget import FitFigureWidget, fit_esm
from swin_viz.viz.render import MIN_PANEL_WIDTH, columns_for, to_plotly_dict
from swin_viz.viz.shift import shift_explorer, shift_spec

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_BUDGET = 120_000
"""Bytes a committed notebook may hold (the largest, the appendix of 17 checked claims, is ~86 KB; a saved widget
state is megabytes)."""


def _json_clean(widget) -> None:
    state, _, _ = _remove_buffers(widget.get_state())
    json.dumps(state, allow_nan=False)  # what the kernel's comm does; NaN would warn "not JSON compliant"


@pytest.mark.parametrize("name", ["merging", "receptive_field", "windows", "shift"])
def test_widget_state_is_json_compliant(name: str) -> None:
    entry = viz.EXPLORERS[name]
    ex = entry.explorer()
    _json_clean(ex.figure)
    for change in entry.changes[:4]:
        ex.set(**change)
        _json_clean(ex.figure)


def test_shift_m_change_redraws_once_and_sliders_sit_on_their_grid() -> None:
    ex = shift_explorer(H=8, W=8, M=4, s=2)
    before = len(ex.timings)
    outside_sync: list[str] = []
    for name in ("H", "W"):
        w = ex.controls[name]
        # A range/step/value change outside hold_sync reaches the front-end alone: step=5 with min=4 made the
        # slider snap 8 to 9 and send it back (two extra redraws and a message about W=9).
        w.observe(lambda change, w=w, name=name: None if w._holding_sync else outside_sync.append(
            f"{name}.{change['name']}={change['new']}"), names=["min", "max", "step", "value"])  # fmt: skip
    ex.controls["M"].value = 5  # as the front-end would send it
    assert not outside_sync, f"slider settings sent one by one: {outside_sync}"
    assert len(ex.timings) == before + 1, "one change of M must redraw once"
    assert ex.state == {"H": 10, "W": 10, "M": 5, "s": 2}
    for name in ("H", "W"):
        w = ex.controls[name]
        # A slider whose value is off its step grid snaps it and sends back a value the reader never chose.
        assert w.step == 5 and w.min == 5 and (w.value - w.min) % w.step == 0 and w.min <= w.value <= w.max, name
    assert "9" not in ex.message.value


def test_controls_wrap_instead_of_shrinking() -> None:
    ex = viz.EXPLORERS["flops"].explorer()
    row = ex.widget.children[1]
    assert row.layout.flex_flow == "row wrap"
    for w in ex.controls.values():
        assert w.layout.width == CONTROL_WIDTH and w.layout.flex == "0 0 auto"


def test_figure_fills_its_cell_and_regrids_by_width() -> None:
    ex = shift_explorer()
    assert isinstance(ex.figure, FitFigureWidget)
    assert ex.figure.layout.width is None and ex.figure.layout.autosize
    assert ex.spec.grid() == (2, 2)
    ex.figure.container_width = MIN_PANEL_WIDTH + 100  # a narrow cell: one panel per row
    assert ex.columns == 1
    assert list(ex.figure.layout.xaxis2.domain) == list(ex.figure.layout.xaxis.domain)  # stacked
    assert ex.figure.layout.height == to_plotly_dict(ex.spec, 1)["layout"]["height"]
    ex.set(s=1)  # later changes keep the fitted grid
    assert list(ex.figure.layout.xaxis2.domain) == list(ex.figure.layout.xaxis.domain)
    ex.figure.container_width = 3 * MIN_PANEL_WIDTH
    assert ex.columns == 2 and ex.figure.layout.xaxis2.domain[0] > ex.figure.layout.xaxis.domain[1]


def test_grid_patches_match_a_redraw() -> None:
    """The page's fit-to-width (layout.meta) gives the same domains as drawing the spec with fewer columns."""
    spec = shift_spec()
    full = to_plotly_dict(spec)
    one = to_plotly_dict(spec, 1)["layout"]
    patch = full["layout"]["meta"]["swin_viz_grid"]["grids"][1]["layout"]
    for key in ("xaxis", "yaxis2", "xaxis3", "yaxis3"):
        assert patch[f"{key}.domain"] == one[key]["domain"], key
    assert patch["height"] == one["height"]
    assert columns_for(spec, 2 * MIN_PANEL_WIDTH - 1) == 1 and columns_for(spec, 5000) == 2


def test_fit_esm_wraps_plotly_bundle() -> None:
    esm = fit_esm()
    assert esm.count("export default") >= 1 and "ResizeObserver" in esm and "container_width" in esm
    assert "FigureView" in esm  # plotly's named exports kept


@pytest.mark.parametrize("path", sorted((ROOT / "book").glob("*.ipynb")) + sorted((ROOT / "notebooks").glob("*.ipynb")),
                         ids=lambda p: p.relative_to(ROOT).as_posix())  # fmt: skip
def test_committed_notebook_holds_no_widget_state(path: Path) -> None:
    size = path.stat().st_size
    assert size <= NOTEBOOK_BUDGET, f"{path.name} is {size} bytes (> {NOTEBOOK_BUDGET}): saved outputs or widget state?"
    nb = nbformat.read(path, as_version=4)
    assert "widgets" not in nb.metadata, f"{path.name} carries saved widget state (metadata.widgets)"
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            assert "application/vnd.jupyter.widget-view+json" not in data, f"{path.name}: a saved widget view"


def test_shift_explorer_opens_shifted() -> None:
    from swin_viz.viz.shift import STATIC_STATES

    assert STATIC_STATES[0]["s"] > 0 and shift_explorer().state["s"] > 0
    assert viz.EXPLORERS["shift"].static().layout.sliders[0].active == 0

