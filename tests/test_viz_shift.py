"""The cyclic-shift explorer: its figures show what the library computes, and its controls never break."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from print_figures import assert_print_figure_shows

from swin_viz import cyclic_shift, region_labels, reverse_cyclic_shift, shifted_window_mask, window_partition
from swin_viz.viz import palette, to_plotly
from swin_viz.viz.shift import BENCH_CHANGES, STATIC_STATES, shift_clamp, shift_explorer, shift_spec, shift_static

STATES = [dict(H=8, W=8, M=4, s=2), dict(H=8, W=8, M=4, s=0), dict(H=14, W=14, M=7, s=3), dict(H=12, W=16, M=4, s=1),
          dict(H=6, W=6, M=2, s=1), dict(H=28, W=28, M=7, s=3)]  # fmt: skip


def naive_windows(H: int, W: int, M: int, s: int) -> int:
    """Windows of the grid displaced by s, counted independently: distinct (floor((i-s)/M), floor((j-s)/M))."""
    return len({(i - s) // M for i in range(H)}) * len({(j - s) // M for j in range(W)})


def heatmaps(fig) -> list:
    return [t for t in fig.data if t.type == "heatmap"]


@pytest.mark.parametrize("state", STATES)
def test_colours_follow_the_tokens(state: dict) -> None:
    H, W, M, s = state["H"], state["W"], state["M"], state["s"]
    spec = shift_spec(**state)
    a, b, c = (np.asarray(p.z) for p in spec.panels)
    labels = region_labels(H, W, M, s)
    # (b) is the shifted map: each position's colour is exactly the library's region label.
    np.testing.assert_array_equal(b, labels.numpy())
    # (a) and (c): the same regions, rolled back onto the tokens' original positions.
    back = reverse_cyclic_shift(labels.view(1, H, W, 1), s)[0, ..., 0].numpy()
    np.testing.assert_array_equal(a, back)
    np.testing.assert_array_equal(c, back)
    assert int(a.max()) < len(palette.REGION_COLORS)


def test_token_labels_are_the_original_indices_moved_by_the_roll() -> None:
    spec = shift_spec(H=8, W=8, M=4, s=2)
    ids = torch.arange(64).view(1, 8, 8, 1)
    moved = cyclic_shift(ids, 2)[0, ..., 0]
    tokens_b = [lab for lab in spec.panels[1].labels if lab.text.isdigit()]
    assert len(tokens_b) == 64
    for lab in tokens_b:
        assert int(lab.text) == int(moved[int(lab.row), int(lab.col)])
    tokens_c = [lab for lab in spec.panels[2].labels if lab.text.isdigit()]
    assert all(int(lab.text) == 8 * int(lab.row) + int(lab.col) for lab in tokens_c)  # back in place
    # Large maps carry no per-token labels (only the area letters).
    assert all(not lab.text.isdigit() for p in shift_spec(H=16, W=16, M=4, s=2).panels for lab in p.labels)


@pytest.mark.parametrize("state", STATES)
def test_window_counts(state: dict) -> None:
    H, W, M, s = state["H"], state["W"], state["M"], state["s"]
    spec = shift_spec(**state)
    naive = [r for r in spec.panels[0].rects if r.style == "grid"]
    regular = [r for r in spec.panels[1].rects if r.style == "grid"]
    assert len(naive) == naive_windows(H, W, M, s)
    assert len(regular) == (H // M) * (W // M)
    assert all((r.r1 - r.r0, r.c1 - r.c0) == (M, M) for r in regular)
    # naive pieces tile the map exactly
    assert sum((r.r1 - r.r0) * (r.c1 - r.c0) for r in naive) == H * W
    assert f"{len(naive)} windows" in spec.panels[0].title


@pytest.mark.parametrize("state", [s for s in STATES if s["s"]])
def test_masked_cyclic_windows_are_the_naive_windows(state: dict) -> None:
    """What (c) claims: with the mask, the tokens a token attends to are exactly its naive window's tokens."""
    H, W, M, s = state["H"], state["W"], state["M"], state["s"]
    naive = np.full((H, W), -1)
    for k, r in enumerate(r for r in shift_spec(**state).panels[2].rects if r.style == "grid"):
        naive[r.r0 : r.r1, r.c0 : r.c1] = k
    assert (naive >= 0).all()
    ids = cyclic_shift(torch.arange(H * W).view(1, H, W, 1), s)
    tokens = window_partition(ids, M).reshape(-1, M * M).numpy()  # (nW, N): original token of each slot
    allowed = (shifted_window_mask(H, W, M, s) == 0).numpy()  # (nW, N, N)
    flat = naive.ravel()
    same_naive = flat[tokens][:, :, None] == flat[tokens][:, None, :]
    np.testing.assert_array_equal(allowed, same_naive)


def test_paper_figure_numbers() -> None:
    spec = shift_spec(H=8, W=8, M=4, s=2)
    assert "3 x 3 = 9 windows (8 smaller than 4 x 4)" in spec.caption
    assert "2 x 2 = 4 windows of 4 x 4" in spec.caption
    assert "all 64 tokens are in place" in spec.caption
    assert "No shift" in shift_spec(H=8, W=8, M=4, s=0).caption
    # On a map one window high the model shifts only along W (effective_window); the figure says so.
    assert "shift (0, 2)" in shift_spec(H=4, W=8, M=4, s=2).title
    assert "single window" in shift_clamp(dict(H=4, W=8, M=4, s=2))[1]


def test_areas_move_to_the_bottom_right() -> None:
    H, W, s = 12, 16, 2
    spec = shift_spec(H=H, W=W, M=4, s=s)
    letters = {lab.text: lab for lab in spec.panels[1].labels if lab.text in "ABC"}
    assert {k: v.color for k, v in letters.items()} == palette.AREA_COLORS
    dashed_a = {(r.r0, r.c0, r.r1, r.c1) for r in spec.panels[0].rects if r.style == "dashed"}
    dashed_b = {(r.r0, r.c0, r.r1, r.c1) for r in spec.panels[1].rects if r.style == "dashed"}
    assert dashed_a == {(0, 0, s, s), (0, s, s, W), (s, 0, H, s)}  # A corner, B top strip, C left strip
    assert dashed_b == {(H - s, W - s, H, W), (H - s, 0, H, W - s), (0, W - s, H - s, W)}
    assert not any(r.style == "dashed" for r in shift_spec(H=8, W=8, M=4, s=0).panels[1].rects)


@pytest.mark.parametrize("state", STATES[:4])
def test_both_backends_draw(state: dict) -> None:
    spec = shift_spec(**state)
    fig = to_plotly(spec)
    assert len(heatmaps(fig)) == 3
    assert_print_figure_shows(spec)


def test_explorer_headless() -> None:
    ex = shift_explorer()
    assert ex.state == dict(H=8, W=8, M=4, s=2)
    ex.set(s=1)
    assert ex.state["s"] == 1
    np.testing.assert_array_equal(np.asarray(heatmaps(ex.figure)[1].z), region_labels(8, 8, 4, 1).numpy())
    ex.set(M=7, H=14, W=14, s=3)
    assert ex.state == dict(H=14, W=14, M=7, s=3)
    assert ex.controls["s"].max == 3 and ex.controls["H"].step == 7
    back = reverse_cyclic_shift(region_labels(14, 14, 7, 3).view(1, 14, 14, 1), 3)[0, ..., 0].numpy()
    np.testing.assert_array_equal(np.asarray(heatmaps(ex.figure)[0].z), back)
    assert ex.message.value == ""


@pytest.mark.parametrize(
    ("change", "expected", "word"),
    [
        (dict(s=9), dict(s=2), "s=9"),
        (dict(M=2), dict(M=2, s=1), "s=2"),  # s clamped when M shrinks
        (dict(H=9), dict(H=8), "multiple"),
        (dict(W=100), dict(W=28), "outside"),
        (dict(M=20), dict(M=8), "M=20"),
        (dict(s=-1), dict(s=0), "s=-1"),
    ],
)
def test_explorer_clamps_and_explains(change: dict, expected: dict, word: str) -> None:
    ex = shift_explorer()
    ex.set(**change)
    for k, v in expected.items():
        assert ex.state[k] == v
    assert word in ex.message.value
    state, note = shift_clamp(dict(H=8, W=8, M=4, s=2) | change)
    assert all(state[k] == v for k, v in expected.items()) and note


def test_bench_changes_replay() -> None:
    ex = shift_explorer()
    for change in BENCH_CHANGES:
        ex.set(**change)
    assert len(ex.timings) == len(BENCH_CHANGES)


def test_static_figure() -> None:
    fig = shift_static()
    steps = fig.layout.sliders[0].steps
    assert len(steps) == len(STATIC_STATES)
    heat = [i for i, t in enumerate(fig.data) if t.type == "heatmap"]
    for step, state in zip(steps, STATIC_STATES):
        z = step.args[0]["z"][heat[1]]
        np.testing.assert_array_equal(np.asarray(z), region_labels(state["H"], state["W"], state["M"], state["s"]))
    assert len(fig.to_json()) < 1_500_000
