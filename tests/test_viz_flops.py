"""The FLOPs explorer draws the library's counts, splits them without losing a MAC, and measures honestly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from print_figures import assert_print_figure_shows

import swin_viz
from swin_viz import count_macs, measure_macs, omega_msa, omega_wmsa
from swin_viz.viz.flops import (
    BENCH_CHANGES,
    KINDS,
    STATIC_STATES,
    flops_clamp,
    flops_explorer,
    flops_spec,
    flops_static,
    macs_breakdown,
    measured_macs,
    meta_model,
)
from swin_viz.viz.render import to_plotly

G = 1e9


@pytest.mark.parametrize(("h", "C", "M"), [(56, 96, 7), (14, 384, 7), (5, 96, 7), (128, 192, 12)])
def test_curves_are_the_papers_formulas(h: int, C: int, M: int) -> None:
    curves = flops_spec(h=h, C=C, M=M, heads=3).panels[0]
    msa, wmsa, here = curves.series
    assert h in msa.x and curves.log_y
    np.testing.assert_allclose(msa.y, [omega_msa(x, x, C) / G for x in msa.x])
    # A window never exceeds the map: below M, W-MSA is global attention.
    np.testing.assert_allclose(wmsa.y, [(omega_wmsa(x, x, C, M) if x > M else omega_msa(x, x, C)) / G for x in wmsa.x])
    assert list(here.x) == [h, h]
    assert here.y[0] == pytest.approx(omega_msa(h, h, C) / G)
    assert here.y[1] == pytest.approx((omega_wmsa(h, h, C, M) if h > M else omega_msa(h, h, C)) / G)


@pytest.mark.parametrize(("name", "size"), [("swin_t", 224), ("swin_s", 224), ("swin_t", 100), ("swin_b", 384)])
def test_breakdown_adds_up_to_count_macs(name: str, size: int) -> None:
    model = meta_model(name)  # = swin_viz.create_model(name) built under torch.device("meta")
    assert next(model.parameters()).is_meta and model.config == swin_viz.CONFIGS[name]
    report = count_macs(model, size)
    groups, parts = macs_breakdown(name, size)
    assert groups == ["patch_embed", "stage1", "stage2", "stage3", "stage4", "head"]
    assert list(parts) == list(KINDS)
    assert sum(sum(v) for v in parts.values()) == report.total
    for g, group in enumerate(groups):
        assert sum(parts[k][g] for k in KINDS) == report.by_prefix(group).total
    # Independent checks against the paper's terms, on the (padded) maps the model really uses.
    for g, shape in enumerate(model.stage_shapes(size), start=1):
        (h, w), (Hp, Wp), C = shape["resolution"], shape["padded"], shape["channels"]
        (Mh, Mw), depth = shape["window"], shape["blocks"]
        assert parts["MLP"][g] == depth * 2 * h * w * C * 4 * C
        assert parts["attention qkv + proj"][g] == depth * 4 * Hp * Wp * C * C
        assert parts["attention QK^T + AV"][g] == depth * 2 * (Hp * Wp) * (Mh * Mw) * C


def test_swin_t_stage1_by_hand() -> None:
    _, parts = macs_breakdown("swin_t", 224)
    assert parts["attention QK^T + AV"][1] == 2 * 64 * 2 * 49 * 49 * 96  # 2 blocks, 64 windows of 49 tokens
    assert parts["embedding / merging / classifier"][0] == 56 * 56 * 96 * 3 * 16


def test_bars_and_table_show_the_counts() -> None:
    spec = flops_spec(model="swin_b", img=384, measure=True)
    groups, parts = macs_breakdown("swin_b", 384)
    bars = spec.panels[1]
    assert [s.name for s in bars.series] == list(KINDS)
    for s in bars.series:
        assert list(s.x) == groups
        np.testing.assert_allclose(s.y, [v / G for v in parts[s.name]])
    report = count_macs(meta_model("swin_b"), 384)
    rows = {(r[0], r[2]): r[1] for r in spec.panels[2].rows}
    assert rows["all MACs", "analytic"] == f"{report.total / G:,.3f} G"
    assert rows["matmul + conv", "measured"] == f"{measured_macs('swin_b', 384, 384) / G:,.3f} G"
    assert rows["measured - analytic", "measured"] == "+0 MACs"
    assert rows["FLOPs, matmul + conv", "2 x MACs"] == f"{2 * report.macs.matmul / G:,.3f} G"
    assert "FLOPs = 2 x MACs" in spec.caption
    off = {(r[0], r[2]): r[1] for r in flops_spec(measure=False).panels[2].rows}
    assert off["matmul + conv", "measured"].startswith("off")


def test_measured_on_meta_equals_measured_for_real() -> None:
    """The meta-device measurement counts the same ops as a real forward (checked on a small real model)."""
    assert measured_macs("swin_t", 224, 224) == count_macs(meta_model("swin_t"), 224).macs.matmul
    kwargs = dict(embed_dim=16, depths=(2, 2), num_heads=(2, 4), window_size=4, num_classes=10, attn_impl="explicit")
    real = swin_viz.SwinTransformer(**kwargs).eval()
    with torch.device("meta"):
        meta = swin_viz.SwinTransformer(**kwargs).eval()
    for H, W in [(64, 64), (36, 52)]:
        counted = measure_macs(real, torch.zeros(1, 3, H, W))
        assert measure_macs(meta, torch.empty(1, 3, H, W, device="meta")) == counted
        assert counted == count_macs(real, (H, W)).macs.matmul


@pytest.mark.parametrize("state", STATIC_STATES[:3])
def test_both_backends_draw(state: dict) -> None:
    spec = flops_spec(**state)
    assert [t.type for t in to_plotly(spec).data] == ["scatter"] * 3 + ["bar"] * len(KINDS) + ["table"]
    assert_print_figure_shows(spec)


def test_clamp_explains() -> None:
    base = dict(h=56, C=96, M=7, heads=3, model="swin_t", img=224, measure=False)
    assert flops_clamp(base) == (base, "")
    state, note = flops_clamp(base | dict(heads=5))
    assert state["heads"] == 4 and "5 heads do not divide C=96" in note
    state, note = flops_clamp(base | dict(h=5000, C=0, img=225, model="swin_x"))
    assert (state["h"], state["C"], state["img"], state["model"]) == (1024, 1, 224, "swin_t")
    assert "h=5000" in note and "C=0" in note and "225" in note and "swin_x" in note
    state, note = flops_clamp(base | dict(h=4))
    assert state["h"] == 4 and "one window covers the map" in note


def test_explorer_headless() -> None:
    ex = flops_explorer()
    assert ex.state["h"] == 56 and ex.state["model"] == "swin_t"
    ex.set(h=100)
    assert list(ex.figure.data[2].x) == [100, 100]
    assert ex.figure.data[2].y[0] == pytest.approx(omega_msa(100, 100, 96) / G)
    ex.set(model="swin_l", img=256)
    _, parts = macs_breakdown("swin_l", 256)
    np.testing.assert_allclose(ex.figure.data[3 + KINDS.index("MLP")].y, [v / G for v in parts["MLP"]])
    ex.set(heads=5)  # does not divide C=96
    assert ex.state["heads"] == 4 and "do not divide" in ex.message.value
    ex.set(img=250)
    assert ex.state["img"] == 248 and "multiple of the patch size" in ex.message.value
    ex.set(h=3000)
    assert ex.state["h"] == 1024 and "h=3000" in ex.message.value
    ex.set(measure=True, model="swin_t", img=224)
    table = ex.figure.data[-1]
    assert f"{measured_macs('swin_t', 224, 224) / G:,.3f} G" in table.cells.values[1]


def test_bench_changes_replay() -> None:
    ex = flops_explorer()
    for change in BENCH_CHANGES:
        ex.set(**change)
        assert "Could not draw" not in ex.message.value
    assert len(ex.timings) == len(BENCH_CHANGES)


def test_static_one_step_per_state() -> None:
    fig = flops_static()
    steps = fig.layout.sliders[0].steps
    assert len(steps) == len(STATIC_STATES)
    for step, state in zip(steps, STATIC_STATES):
        ys = step.args[0]["y"]
        assert list(step.args[0]["x"][2]) == [state["h"], state["h"]]
        _, parts = macs_breakdown(state["model"], state["img"])
        np.testing.assert_allclose(ys[3 + KINDS.index("MLP")], [v / G for v in parts["MLP"]])
    assert len(fig.to_json()) < 1_500_000
