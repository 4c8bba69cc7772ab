"""The relative-position-bias explorer draws what the library computes, and survives any control value."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from print_figures import assert_print_figure_shows

import swin_viz
from swin_viz import RelativePositionBias, relative_offsets, relative_position_index
from swin_viz.pretrained import load_pretrained
from swin_viz.viz.relative_position import (
    BENCH_CHANGES,
    STATIC_STATES,
    bias_from_table,
    random_bias,
    relative_position_clamp,
    relative_position_explorer,
    relative_position_spec,
    relative_position_static,
)
from swin_viz.viz.render import to_plotly

STATES = [(2, 0, 0), (2, 3, 2), (4, 5, 1), (7, 24, 0), (7, 48, 2), (12, 77, 1)]


def heatmaps(fig) -> list:
    return [t for t in fig.data if t.type == "heatmap"]


def expected(module: RelativePositionBias, M: int, query: int, head: int) -> tuple[np.ndarray, np.ndarray]:
    """What panels (c) and (d) must show, straight from the module: bias (M, M) and its table column."""
    with torch.no_grad():
        bias = module((M, M))[head, query].reshape(M, M).numpy()
    return bias, module.table[:, head].detach().numpy()


@pytest.mark.parametrize(("M", "query", "head"), STATES)
def test_spec_data_equals_library(M: int, query: int, head: int) -> None:
    spec = relative_position_spec(M=M, query=query, head=head, source="random")
    a, b, c, d = spec.panels
    index = relative_position_index(M)
    np.testing.assert_array_equal(a.z, index.numpy())
    assert a.rects[0].r0 == query and a.rects[0].c1 == M * M
    np.testing.assert_array_equal(b.z, index[query].reshape(M, M).numpy())
    qr, qc = divmod(query, M)
    assert (b.rects[0].r0, b.rects[0].c0) == (qr, qc) == (c.rects[0].r0, c.rects[0].c0)
    offsets = relative_offsets(M)[query].reshape(M, M, 2)
    if M <= 7:
        texts = {(lab.row, lab.col): lab.text for lab in b.labels}
        assert len(texts) == M * M
        for r in range(M):
            for col in range(M):
                dy, dx = offsets[r, col].tolist()
                assert texts[r, col] == f"{dy},{dx}"
    else:
        assert b.labels == []

    # The default table is RelativePositionBias(M, 3) as built after torch.manual_seed(0).
    torch.manual_seed(0)
    reference = RelativePositionBias(M, 3)
    torch.testing.assert_close(random_bias(M, 3).table, reference.table)
    bias, column = expected(reference, M, query, head)
    np.testing.assert_allclose(c.z, bias)
    assert c.zmid == 0 and c.colorbar == "bias" and c.zmin == -c.zmax

    # Panel (d): the table indexed by (dy, dx); every pair of the window finds its bias there.
    side = 2 * M - 1
    assert d.z.shape == (side, side)
    np.testing.assert_allclose(np.sort(d.z.ravel()), np.sort(column))
    all_off = relative_offsets(M).reshape(-1, 2) + (M - 1)
    with torch.no_grad():
        full = reference()[head].reshape(-1).numpy()
    np.testing.assert_allclose(d.z[all_off[:, 0], all_off[:, 1]], full)
    # The highlighted block is exactly the offsets this query reads.
    rect = d.rects[0]
    used = offsets.reshape(-1, 2) + (M - 1)
    assert (rect.r0, rect.c0, rect.r1 - 1, rect.c1 - 1) == (*used.min(0).values.tolist(), *used.max(0).values.tolist())
    assert f"= {side * side} numbers" in spec.caption and f"= {M**4} bias entries" in spec.caption
    assert "random (untrained)" in spec.caption


def test_learned_weights_from_a_model_and_from_a_table(tiny: swin_viz.SwinTransformer) -> None:
    model = tiny  # window 4, heads (2, 4, 8)
    module = model.stage2.block1.attn.relative_bias
    with torch.no_grad():
        module.table.copy_(torch.randn_like(module.table))
    spec = relative_position_spec(M=4, query=3, head=3, source=model, path="stage2.block1")
    bias, _ = expected(module, 4, 3, 3)
    np.testing.assert_allclose(spec.panels[2].z, bias)
    assert "stage2.block1" in spec.caption and "random" not in spec.caption
    # A smaller window reads the centre of the table, as the model does on a small map.
    small = relative_position_spec(M=2, query=1, head=0, source=model, path="stage2.block1")
    bias, _ = expected(module, 2, 1, 0)
    np.testing.assert_allclose(small.panels[2].z, bias)
    np.testing.assert_array_equal(small.panels[0].z, relative_position_index(2, table_size=4).numpy())
    assert small.panels[3].z.shape == (7, 7) and any(r.style == "dashed" for r in small.panels[3].rects)
    # The same numbers passed as a bare table.
    via_table = relative_position_spec(M=4, query=3, head=3, table=module.table.detach())
    np.testing.assert_allclose(via_table.panels[2].z, spec.panels[2].z)
    np.testing.assert_allclose(via_table.panels[3].z, spec.panels[3].z)
    assert bias_from_table(module.table.detach()).window_size == 4
    with pytest.raises(ValueError, match="not a Swin block"):
        relative_position_spec(M=4, query=0, head=0, source=model, path="stage9.block0")
    with pytest.raises(ValueError, match="odd square"):
        bias_from_table(torch.zeros(10, 2))


def test_drawing_leaves_the_callers_random_stream_alone() -> None:
    random_bias.cache_clear()
    torch.manual_seed(1)
    a = torch.rand(3)
    torch.manual_seed(1)
    relative_position_spec(M=5, query=0, head=0, source="random")
    torch.testing.assert_close(torch.rand(3), a)
    swin_viz.zoo.cache_clear()  # loading the shipped model builds one (random init) before loading its weights
    torch.manual_seed(1)
    relative_position_spec()
    torch.testing.assert_close(torch.rand(3), a)


@pytest.mark.parametrize(("M", "query", "head"), STATES[::2])
def test_both_backends_draw(M: int, query: int, head: int) -> None:
    for spec in (relative_position_spec(M=M, query=query, head=head, source="random"),
                 relative_position_spec(M=min(M, 4), query=query % min(M, 4) ** 2, head=head % 2)):  # fmt: skip
        fig = to_plotly(spec)
        assert len(heatmaps(fig)) == 4
        assert_print_figure_shows(spec)


def test_clamp_explains() -> None:
    state, note = relative_position_clamp(dict(M=20, query=500, head=-1))
    assert state == dict(M=12, query=143, head=0)
    assert "M=20" in note and "query 500" in note and "head -1" in note
    state, note = relative_position_clamp(dict(M=7, query=3, head=1))
    assert state == dict(M=7, query=3, head=1) and note == ""
    state, note = relative_position_clamp(dict(M=7, query=3, head=1), max_M=4, heads=2)
    assert state["M"] == 4 and "built for M=4" in note


def test_random_explorer_headless() -> None:
    ex = relative_position_explorer(source="random")
    assert ex.state == dict(M=7, query=24, head=0)
    ex.set(query=10, head=2)
    assert ex.state == dict(M=7, query=10, head=2)
    bias, _ = expected(random_bias(7, 3), 7, 10, 2)
    np.testing.assert_allclose(np.asarray(heatmaps(ex.figure)[2].z), bias)
    ex.set(M=4)  # query 10 still fits a 4 x 4 window
    np.testing.assert_array_equal(np.asarray(heatmaps(ex.figure)[0].z), relative_position_index(4).numpy())
    assert ex.controls["query"].max == 15
    ex.set(query=99)  # beyond the window: clamped and explained
    assert ex.state["query"] == 15 and "query 99" in ex.message.value
    ex.set(M=40)
    assert ex.state["M"] == 12 and "M=40" in ex.message.value
    ex.set(head=9)
    assert ex.state["head"] == 2 and "head 9" in ex.message.value
    ex.set(M=2)
    assert ex.state["query"] == 3 and ex.controls["query"].max == 3


def test_explorer_with_a_model_limits_the_window(tiny: swin_viz.SwinTransformer) -> None:
    model = tiny
    ex = relative_position_explorer(M=4, query=5, head=0, source=model, path="stage3.block0")
    assert ex.controls["head"].max == 7 and ex.controls["M"].max == 4
    ex.set(M=7)
    assert ex.state["M"] == 4 and "built for M=4" in ex.message.value
    bias, _ = expected(model.stage3.block0.attn.relative_bias, 4, 5, 0)
    np.testing.assert_allclose(np.asarray(heatmaps(ex.figure)[2].z), bias)


def shipped_bias(M: int, query: int, head: int) -> np.ndarray:
    """What the shipped model adds to a query's logits in stage1.block0: its table gathered by the index."""
    model, _ = load_pretrained("digits-small")
    table = model.stage1.block0.attn.relative_bias.table.detach()  # (49, 2): (2*4-1)^2 rows, 2 heads
    return table[relative_position_index(M, table_size=4)[query], head].reshape(M, M).numpy()


def test_default_is_the_shipped_models_table() -> None:
    model, info = load_pretrained("digits-small")
    assert model.stage1.block0.attn.relative_bias.table.shape == (49, 2)
    spec = relative_position_spec()
    assert "M=4, query 10 at (2, 2), head 0" in spec.title  # M from the model's window, the centre query
    label = f"trained weights (digits-small, val top-1 {info['val_top1']:.1f}%)"
    assert spec.caption.startswith(f"table of stage1.block0, {label}, head 0 of 2") and "random" not in spec.caption
    ex = relative_position_explorer()
    assert ex.state == dict(M=4, query=10, head=0)
    assert (ex.controls["M"].min, ex.controls["M"].max, ex.controls["head"].max) == (2, 4, 1)
    for M, query, head in [(4, 10, 0), (4, 0, 1), (4, 15, 1), (3, 4, 0), (2, 3, 1)]:
        ex.set(M=M, query=query, head=head)
        assert ex.state == dict(M=M, query=query, head=head)
        np.testing.assert_array_equal(np.asarray(heatmaps(ex.figure)[2].z), shipped_bias(M, query, head))
        np.testing.assert_array_equal(np.asarray(heatmaps(ex.figure)[0].z),
                                      relative_position_index(M, table_size=4).numpy())  # fmt: skip
    # Panel (d): the head's 7 x 7 table at (dy, dx) + 3, laid out by the library's offsets.
    table = model.stage1.block0.attn.relative_bias.table.detach()[:, 1]
    offsets = relative_offsets(4).reshape(-1, 2) + 3
    grid = np.asarray(heatmaps(ex.figure)[3].z)
    np.testing.assert_array_equal(grid[offsets[:, 0], offsets[:, 1]], table[relative_position_index(4).reshape(-1)])
    ex.set(M=7)  # beyond the model's window: capped, explained
    assert ex.state["M"] == 4 and "built for M=4" in ex.message.value and ex.controls["M"].max == 4
    other = relative_position_spec(source="digits-small", path="stage3.block1", head=7)
    assert "stage3.block1" in other.caption and "head 7 of 8" in other.caption
    with pytest.raises(ValueError, match="unknown source"):
        relative_position_spec(source="imagenet")


def test_bench_changes_replay() -> None:
    ex = relative_position_explorer()
    for change in BENCH_CHANGES:
        ex.set(**change)
        assert "Could not draw" not in ex.message.value
    assert len(ex.timings) == len(BENCH_CHANGES)


def test_static_one_step_per_state() -> None:
    fig = relative_position_static()
    steps = fig.layout.sliders[0].steps
    assert len(steps) == len(STATIC_STATES)
    for step, state in zip(steps, STATIC_STATES):
        z = step.args[0]["z"]  # one entry per trace; the first heatmap is the index
        np.testing.assert_array_equal(np.asarray(z[0]), relative_position_index(state["M"], table_size=4).numpy())
        bias = [np.asarray(t) for t in z if t is not None][2]
        np.testing.assert_array_equal(bias, shipped_bias(state["M"], state["query"], state["head"]))
        assert "trained weights (digits-small" in step.args[1]["title"]["subtitle"]["text"]
    assert len(fig.to_json()) < 1_500_000
    random = relative_position_static([dict(M=7, query=24, head=0), dict(M=12, query=77, head=2)], source="random")
    assert "random (untrained)" in random.layout.sliders[0].steps[1].args[1]["title"]["subtitle"]["text"]
