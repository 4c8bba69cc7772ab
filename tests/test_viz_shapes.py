"""The shape tracer lists exactly what run_with_cache records, filters it, and never raises into the widget."""

from __future__ import annotations

import fnmatch

import numpy as np
import pytest
import torch
from print_figures import assert_print_figure_shows

import swin_viz
from swin_viz.viz.render import to_matplotlib, to_plotly
from swin_viz.viz.shapes import (
    BENCH_CHANGES,
    MAX_ROWS,
    STATIC_STATES,
    parse_size,
    shapes_clamp,
    shapes_explorer,
    shapes_spec,
    shapes_static,
    stage_of,
    trace_shapes,
)


def test_trace_is_run_with_cache() -> None:
    rows = trace_shapes(96, 96)
    model = swin_viz.shared_model("swin_t")  # the model the tracer runs
    with torch.inference_mode():
        out, cache = model.run_with_cache(torch.zeros(1, 3, 96, 96))
    assert [r[0] for r in rows] == ["input", *cache, "output"]
    for name, shape, dtype, numel in rows[1:-1]:
        assert shape == tuple(cache[name].shape) and numel == cache[name].numel() and dtype == "float32"
    assert rows[0][1] == (1, 3, 96, 96) and rows[-1][1] == tuple(out.shape) == (1, 1000)
    # 96 px: stage4 is a 3 x 3 map, one window, no shift -- so no mask there; stage3 (6 x 6) neither.
    names = {r[0] for r in rows}
    assert "stage2.block1.attn.hook_mask" in names and "stage4.block1.attn.hook_mask" not in names


def test_known_shapes_at_224_and_non_square() -> None:
    rows = {r[0]: r[1] for r in trace_shapes(224, 224)}
    assert rows["patch_embed.hook_out"] == (1, 56, 56, 96)
    assert rows["stage1.block0.attn.hook_probs"] == (64, 3, 49, 49)
    assert rows["stage3.block1.attn.hook_mask"] == (4, 49, 49)
    assert rows["stage4.hook_out"] == (1, 7, 7, 768) and rows["hook_pooled"] == (1, 768)
    wide = {r[0]: r[1] for r in trace_shapes(*parse_size("224x160")[0])}
    assert wide["patch_embed.hook_out"] == (1, 56, 40, 96) and wide["stage4.hook_out"] == (1, 7, 5, 768)


def test_stage_of() -> None:
    names = ("input", "patch_embed.hook_out", "stage3.block2.attn.hook_q", "hook_normed", "hook_pooled", "output")
    assert [stage_of(n) for n in names] == ["embed", "embed", "stage3", "head", "head", "head"]


@pytest.mark.parametrize(
    ("stage", "filter", "size"),
    [("stage1", "*.attn.*", "224"), ("embed", "*", "96"), ("stage3", "*.hook_out", "224"), ("head", "", "96"),
     ("stage2", "probs", "224x160")],
)  # fmt: skip
def test_spec_rows_are_the_trace(stage: str, filter: str, size: str) -> None:
    (H, W), _ = parse_size(size)
    spec = shapes_spec(stage=stage, filter=filter, size=size)
    pattern = filter if any(c in filter for c in "*?[") else f"*{filter}*"
    want = [r for r in trace_shapes(H, W) if stage_of(r[0]) == stage and fnmatch.fnmatchcase(r[0], pattern)]
    assert want and len(want) <= MAX_ROWS
    table, bars = spec.panels
    assert [row[0].split("\u00a0\u00a0", 1)[1] for row in table.rows] == [r[0] for r in want]
    assert [row[1] for row in table.rows] == ["(" + ", ".join(map(str, r[1])) + ")" for r in want]
    assert [row[2] for row in table.rows] == [f"float32, {r[3]:,d}" for r in want]
    assert list(bars.series[0].y) == [r[3] for r in want] and bars.log_y
    assert f"(1, 3, {H}, {W})" in spec.title


def test_long_lists_are_capped_and_say_so() -> None:
    spec = shapes_spec(stage="all", filter="*", size="224")
    total = len(trace_shapes(224, 224))
    table = spec.panels[0]
    assert len(table.rows) == MAX_ROWS + 1 and f"{total - MAX_ROWS} more hidden" in table.rows[-1][0]
    assert f"{total - MAX_ROWS} hidden" in spec.caption
    assert len(spec.panels[1].series[0].y) == MAX_ROWS


def test_parse_size_and_clamp() -> None:
    assert parse_size("224") == ((224, 224), "")
    assert parse_size("224x160") == ((224, 160), "")
    assert parse_size((64, 32)) == ((64, 32), "")
    (H, W), note = parse_size("225 x 99")
    assert (H, W) == (224, 100) and "multiples of the patch size" in note
    with pytest.raises(ValueError, match="not 'S' or 'HxW'"):
        parse_size("big")
    state, note = shapes_clamp(dict(stage="stage9", filter="*", size="big"))
    assert state == dict(stage="all", filter="*", size="224") and "stage9" in note and "big" in note
    state, note = shapes_clamp(dict(stage="stage1", filter="*", size="98"))
    assert state["size"] == "96" and "98" in note
    _, note = shapes_clamp(dict(stage="stage1", filter="hook_normed", size="96"))
    assert "matches no tensor of stage1" in note and "1 in other stages" in note
    _, note = shapes_clamp(dict(stage="stage1", filter="[abc", size="96"))
    assert "not closed" in note
    fine = dict(stage="stage1", filter="*", size="96")
    assert shapes_clamp(fine) == (fine, "")


@pytest.mark.parametrize("state", STATIC_STATES[::3])
def test_both_backends_draw(state: dict) -> None:
    spec = shapes_spec(**state)
    assert [t.type for t in to_plotly(spec).data] == ["table", "bar"]
    assert_print_figure_shows(spec)
    empty = shapes_spec(stage="stage1", filter="nothing*", size="96")  # no match: empty table, still draws
    assert empty.panels[0].rows == [] and "no tensor" in empty.caption
    to_plotly(empty)
    to_matplotlib(empty)


def test_explorer_headless() -> None:
    ex = shapes_explorer(stage="stage1", size="96", sizes=("96", "128"))
    assert ex.state == dict(stage="stage1", filter="*", size="96")
    ex.set(stage="stage2", filter="*.attn.hook_q")
    rows = [r for r in trace_shapes(96, 96) if r[0].startswith("stage2.") and r[0].endswith(".attn.hook_q")]
    table, bars = ex.figure.data
    assert [v.split("\u00a0\u00a0", 1)[1] for v in table.cells.values[0]] == [r[0] for r in rows]
    assert list(bars.y) == [r[3] for r in rows]
    ex.set(size="128")
    assert ex.figure.data[1].y[0] == next(r[3] for r in trace_shapes(128, 128) if r[0] == "stage2.block0.attn.hook_q")
    ex.set(filter="[z-a]")  # a glob that can match nothing: a message, an empty table, no traceback
    assert ex.state["filter"] == "[z-a]" and "matches no tensor" in ex.message.value
    assert len(ex.figure.data[0].cells.values[0]) == 0
    ex.set(filter="mask", stage="stage1")
    assert "no wildcard" in ex.message.value and len(ex.figure.data[0].cells.values[0]) == 1


def test_bench_changes_replay() -> None:
    ex = shapes_explorer()
    for change in BENCH_CHANGES:
        ex.set(**change)
        assert "Could not draw" not in ex.message.value
    assert len(ex.timings) == len(BENCH_CHANGES)


def test_static_one_step_per_state() -> None:
    fig = shapes_static()
    steps = fig.layout.sliders[0].steps
    assert len(steps) == len(STATIC_STATES)
    for step, state in zip(steps, STATIC_STATES):
        spec = shapes_spec(**state)
        np.testing.assert_array_equal(step.args[0]["y"][1], spec.panels[1].series[0].y)
    assert len(fig.to_json()) < 1_500_000
