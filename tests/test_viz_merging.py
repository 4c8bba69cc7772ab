"""The patch merging explorer draws what the library computes, and survives any control choice."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("plotly")
pytest.importorskip("ipywidgets")

from swin_viz import PatchMerging, merge_patches
from swin_viz.viz import to_matplotlib, to_plotly
from swin_viz.viz.merging import (
    STATIC_STATES,
    merging_clamp,
    merging_explorer,
    merging_spec,
    merging_static,
    stage_table,
)

# Trace order: each heatmap panel is followed by 5 overlay traces (4 outline styles, labels); the table is last.
MAP, CONCAT, AFTER, TABLE = 0, 6, 12, 18
PAD = 4
STATES = [
    dict(H=8, W=8, C=4, row=1, col=2, model="swin_t"),
    dict(H=7, W=5, C=2, row=3, col=2, model="swin_s"),
    dict(H=16, W=3, C=8, row=7, col=1, model="swin_b"),
    dict(H=2, W=2, C=3, row=0, col=0, model="swin_l"),
]


def seeded_merging(C: int) -> PatchMerging:
    torch.manual_seed(0)
    return PatchMerging(C).eval()


def expected(H: int, W: int, C: int, row: int, col: int, model: str) -> dict[str, np.ndarray]:
    """What the panels must show, from the official gather order and the library's modules."""
    Hp, Wp = H + H % 2, W + W % 2
    rows, cols = np.meshgrid(np.arange(Hp), np.arange(Wp), indexing="ij")
    slot = rows % 2 + 2 * (cols % 2)  # x0 (0::2,0::2), x1 (1::2,0::2), x2 (0::2,1::2), x3 (1::2,1::2)
    slot[(rows >= H) | (cols >= W)] = PAD
    sources = [(2 * row, 2 * col), (2 * row + 1, 2 * col), (2 * row, 2 * col + 1), (2 * row + 1, 2 * col + 1)]
    concat = np.repeat([k if r < H and c < W else PAD for k, (r, c) in enumerate(sources)], C)[None]
    x = (torch.arange(H * W * C, dtype=torch.float32) + 1).reshape(1, H, W, C)
    module = seeded_merging(C)
    with torch.no_grad():
        normed = module.norm(merge_patches(x))[0, row, col].numpy()
        out = module(x)[0, row, col].numpy()  # the module's own forward
    return {"map": slot, "concat": concat, "normed": normed, "out": out}


@pytest.mark.parametrize("state", STATES)
def test_spec_draws_the_library(state: dict) -> None:
    spec = merging_spec(**state)
    want = expected(**state)
    grid, concat, after, table = spec.panels
    np.testing.assert_array_equal(grid.z, want["map"])
    np.testing.assert_array_equal(concat.z, want["concat"])
    C = state["C"]
    np.testing.assert_allclose(after.z[0], want["normed"], atol=1e-5)
    np.testing.assert_allclose(after.z[1, : 2 * C], want["out"], atol=1e-5)
    assert np.isnan(after.z[1, 2 * C :]).all()
    Ho, Wo = -(-state["H"] // 2), -(-state["W"] // 2)
    groups = [(r.r0, r.c0, r.r1, r.c1) for r in grid.rects if r.style == "grid"]
    assert sorted(groups) == [(2 * i, 2 * j, 2 * i + 2, 2 * j + 2) for i in range(Ho) for j in range(Wo)]
    hi = [(r.r0, r.c0) for r in grid.rects if r.style == "highlight"]
    assert hi == [(2 * state["row"], 2 * state["col"])]
    assert table.rows == stage_table(state["model"])
    assert "random (untrained) weights" in spec.caption
    to_plotly(spec)
    to_matplotlib(spec)


def test_concat_values_name_their_source_tokens() -> None:
    """Hover text of the concat panel names the token and channel each value was gathered from."""
    spec = merging_spec(H=6, W=6, C=2, row=2, col=1)
    hover = spec.panels[1].hovertext[0]
    assert hover[0] == "concat[0] = token (4, 2), channel 0"
    assert hover[3] == "concat[3] = token (5, 2), channel 1"  # x1 = x[1::2, 0::2]
    assert hover[4] == "concat[4] = token (4, 3), channel 0"  # x2 = x[0::2, 1::2]
    assert [lab.text for lab in spec.panels[1].labels] == ["(4,2)", "(5,2)", "(4,3)", "(5,3)"]


def test_stage_table_numbers() -> None:
    rows = stage_table("swin_t")
    assert rows[0] == ["patch embed (p=4)", "224 x 224 x 3", "56 x 56 x 96"]
    assert rows[2] == ["merge, 4C = 384", "56 x 56 x 96", "28 x 28 x 192"]
    assert rows[-1] == ["stage 4 (2 blocks)", "7 x 7 x 768", "7 x 7 x 768"]
    assert stage_table("swin_b")[5] == ["stage 3 (18 blocks)", "14 x 14 x 512", "14 x 14 x 512"]
    assert stage_table("swin_l")[6] == ["merge, 4C = 3072", "14 x 14 x 768", "7 x 7 x 1536"]


def test_explorer_updates_and_clamps() -> None:
    ex = merging_explorer()
    ex.set(row=3, col=0)
    assert (ex.state["row"], ex.state["col"]) == (3, 0)
    want = expected(**ex.state)
    np.testing.assert_array_equal(np.asarray(ex.figure.data[CONCAT].z), want["concat"])
    np.testing.assert_allclose(np.asarray(ex.figure.data[AFTER].z, dtype=float)[0], want["normed"], atol=1e-5)

    ex.set(H=4)  # the merged map has 2 rows: output row 3 no longer exists
    assert ex.state["row"] == 1 and "outside" in ex.message.value and ex.controls["row"].max == 1
    np.testing.assert_array_equal(np.asarray(ex.figure.data[MAP].z), expected(**ex.state)["map"])

    ex.set(W=7)
    assert "zero-pads" in ex.message.value and ex.controls["col"].max == 3
    np.testing.assert_array_equal(np.asarray(ex.figure.data[MAP].z), expected(**ex.state)["map"])

    ex.set(C=50)
    assert ex.state["C"] == 8 and "C=50" in ex.message.value and ex.controls["C"].max == 8
    ex.set(H=1)
    assert ex.state["H"] == 2 and "H=1" in ex.message.value

    ex.set(model="swin_l")
    cells = ex.figure.data[TABLE].cells.values
    assert cells[2][0] == "56 x 56 x 192"


def test_clamp_unknown_model() -> None:
    state, note = merging_clamp(dict(H=8, W=8, C=4, row=0, col=0, model="swin_xxl"))
    assert state["model"] == "swin_t" and "swin_xxl" in note


def test_static_has_one_step_per_state() -> None:
    fig = merging_static()
    steps = fig.layout.sliders[0].steps
    assert len(steps) == len(STATIC_STATES)
    for step, state in zip(steps, STATIC_STATES):
        want = expected(**state)
        z = step.args[0]["z"]
        np.testing.assert_array_equal(np.asarray(z[MAP]), want["map"])
        np.testing.assert_array_equal(np.asarray(z[CONCAT]), want["concat"])
    assert len(fig.to_json()) < 1_500_000
