"""The shifted-window mask explorer: mask, regions and attention are the library's, the hook really removes the mask."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from print_figures import assert_print_figure_shows

import swin_viz
from swin_viz import region_labels, shifted_window_mask, window_partition
from swin_viz.viz import mask as mask_module
from swin_viz.viz import to_plotly
from swin_viz.viz.mask import (
    BENCH_CHANGES,
    BLOCK_DIM,
    BLOCK_HEADS,
    PRESETS,
    SEED,
    STATIC_STATES,
    mask_clamp,
    mask_explorer,
    mask_forward,
    mask_spec,
    mask_static,
)

PAPER, STAGE3, STAGE2 = "paper 8x8, M=4, s=2", "Swin-T stage 3: 14x14, M=7, s=3", "Swin-T stage 2: 28x28, M=7, s=3"
STATES = [dict(preset=PAPER, window=3, query=5, head=0, mask=True),
          dict(preset=STAGE3, window=1, query=10, head=1, mask=False),
          dict(preset=STAGE3, window=3, query=48, head=0, mask=True),
          dict(preset="non-square 8x12, M=4, s=2", window=5, query=15, head=1, mask=False),
          dict(preset="small shift 8x8, M=4, s=1", window=2, query=0, head=0, mask=True)]  # fmt: skip


def heatmaps(fig) -> list:
    return [t for t in fig.data if t.type == "heatmap"]


def block_probs(H: int, W: int, M: int, s: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The demo block built the same way, run once with the explicit path: probs, logits and the mask used."""
    torch.manual_seed(SEED)
    block = swin_viz.SwinBlock(dim=BLOCK_DIM, num_heads=BLOCK_HEADS, window_size=M, shift_size=s).eval()
    x = torch.randn(1, H, W, BLOCK_DIM)
    _, cache = swin_viz.run_with_cache(block, x, names=["attn.hook_probs", "attn.hook_logits", "attn.hook_mask"])
    return cache["attn.hook_probs"], cache["attn.hook_logits"], cache["attn.hook_mask"]


@pytest.mark.parametrize("state", STATES)
def test_panels_are_the_library(state: dict) -> None:
    H, W, M, s = PRESETS[state["preset"]]
    w, q, h = state["window"], state["query"], state["head"]
    spec = mask_spec(**state)
    a, b, c, d = spec.panels
    np.testing.assert_array_equal(a.z, region_labels(H, W, M, s).numpy())
    mask = shifted_window_mask(H, W, M, s)
    np.testing.assert_array_equal(b.z, (mask[w] == swin_viz.MASK_VALUE).numpy().astype(int))
    np.testing.assert_array_equal(c.z, (mask[w, q] != 0).reshape(M, M).numpy().astype(int))
    regions = window_partition(region_labels(H, W, M, s)[None, :, :, None], M)[w, ..., 0]  # (M, M)
    assert [int(lab.text) for lab in c.labels] == regions.flatten().tolist()

    # the highlighted window and the query cell of (a) are the library's window w and its token q
    slots = window_partition(torch.arange(H * W).view(1, H, W, 1), M)[w, ..., 0].flatten().tolist()
    box = next(r for r in a.rects if r.style == "highlight")
    assert sorted(slots) == sorted(r * W + c for r in range(box.r0, box.r1) for c in range(box.c0, box.c1))
    cell = next(r for r in a.rects if r.style == "fill")
    assert cell.r0 * W + cell.c0 == slots[q]

    probs, logits, used_mask = block_probs(H, W, M, s)
    torch.testing.assert_close(used_mask, mask)
    if state["mask"]:
        expected = probs[w, h, q]
    else:  # the same logits without the mask: what the attn.hook_mask -> zeros hook must produce
        unmasked = logits[w, h, q] - mask[w, q]
        expected = torch.softmax(unmasked, dim=-1)
    np.testing.assert_allclose(np.asarray(d.z), expected.reshape(M, M).numpy(), rtol=1e-5, atol=1e-7)
    assert d.colorbar == "attention probability"


def test_hook_removes_the_mask_for_real() -> None:
    out = mask_forward(8, 8, 4, 2)
    mask = shifted_window_mask(8, 8, 4, 2).numpy()  # (nW, N, N)
    blocked = np.broadcast_to((mask != 0)[:, None], out["on"].shape)
    assert out["on"][blocked].max() < 1e-30  # masked keys get nothing
    assert out["off"][blocked].sum() > 1.0  # without the mask, they do
    np.testing.assert_allclose(out["on"].sum(-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(out["off"].sum(-1), 1.0, rtol=1e-5)
    # The global RNG is left alone.
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    mask_forward(8, 8, 4, 2)
    assert torch.equal(torch.rand(3), expected)


def test_caption_reports_the_mass_on_other_regions() -> None:
    H, W, M, s = PRESETS[PAPER]
    _, logits, _ = block_probs(H, W, M, s)
    mask = shifted_window_mask(H, W, M, s)
    other = mask[3, 5] != 0
    off = torch.softmax(logits[3, 0, 5] - mask[3, 5], dim=-1)[other].sum().item()
    caption = mask_spec(preset=PAPER, window=3, query=5, head=0, mask=True).caption
    assert f"0.0% with the mask, {off:.1%} with attn.hook_mask hooked to zeros" in caption
    assert "random untrained weights" in caption
    interior = mask_spec(preset=STAGE2, window=5, query=24, head=0, mask=False).caption
    assert "one region" in interior and "0.0% with the mask, 0.0% with attn.hook_mask" in interior


@pytest.mark.parametrize("state", STATES[:3])
def test_both_backends_draw(state: dict) -> None:
    spec = mask_spec(**state)
    assert len(heatmaps(to_plotly(spec))) == 4
    assert_print_figure_shows(spec)


def test_explorer_headless_without_extra_forward_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple] = []
    real = mask_module.mask_forward

    def counting(*args: int, **kwargs: int) -> dict:
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(mask_module, "mask_forward", counting)
    ex = mask_explorer()
    assert ex.state == dict(preset=STAGE3, window=3, query=24, head=0, mask=True)
    assert len(calls) == 1
    ex.set(query=0)
    ex.set(window=1, head=1)
    ex.set(mask=False)
    assert len(calls) == 1  # window, query, head and the toggle reuse the cached block outputs
    assert ex.state == dict(preset=STAGE3, window=1, query=0, head=1, mask=False)
    probs, logits, _ = block_probs(14, 14, 7, 3)
    mask = shifted_window_mask(14, 14, 7, 3)
    expected = torch.softmax(logits[1, 1, 0] - mask[1, 0], dim=-1).reshape(7, 7).numpy()
    np.testing.assert_allclose(np.asarray(heatmaps(ex.figure)[3].z), expected, rtol=1e-5, atol=1e-7)
    ex.set(mask=True)
    np.testing.assert_allclose(np.asarray(heatmaps(ex.figure)[3].z), probs[1, 1, 0].reshape(7, 7).numpy(), atol=1e-7)
    ex.set(preset=PAPER)
    ex.set(preset=STAGE3)
    assert len(calls) == 2 and set(ex.cache) == {(14, 14, 7, 3), (8, 8, 4, 2)}


def test_explorer_clamps_and_explains() -> None:
    ex = mask_explorer()
    ex.set(query=100)
    assert ex.state["query"] == 48 and "query=100" in ex.message.value
    ex.set(preset=PAPER)  # query 48 and window 3 on a 4-window map of 16-token windows
    assert ex.state["query"] == 15 and "query=48" in ex.message.value
    assert ex.controls["query"].max == 15 and ex.controls["window"].max == 3
    np.testing.assert_array_equal(heatmaps(ex.figure)[0].z, region_labels(8, 8, 4, 2).numpy())
    ex.set(window=-4)
    assert ex.state["window"] == 0 and "window=-4" in ex.message.value
    ex.set(head=7)
    assert ex.state["head"] == BLOCK_HEADS - 1 and "head=7" in ex.message.value
    # A preset name the dropdown does not offer can only come from code: the clamp falls back and says so.
    state, note = mask_clamp(dict(preset="nope", window=0, query=0, head=0, mask=True))
    assert state["preset"] in PRESETS and "nope" in note


def test_bench_changes_replay() -> None:
    ex = mask_explorer()
    for change in BENCH_CHANGES:
        ex.set(**change)
    assert len(ex.timings) == len(BENCH_CHANGES)


def test_static_figure() -> None:
    fig = mask_static()
    steps = fig.layout.sliders[0].steps
    assert len(steps) == len(STATIC_STATES)
    heat = [i for i, t in enumerate(fig.data) if t.type == "heatmap"]
    for step, state in zip(steps, STATIC_STATES):
        H, W, M, s = PRESETS[state["preset"]]
        mask = shifted_window_mask(H, W, M, s)[state["window"]]
        np.testing.assert_array_equal(np.asarray(step.args[0]["z"][heat[1]]), (mask != 0).numpy().astype(int))
        d = np.asarray(step.args[0]["z"][heat[3]])
        expected = mask_spec(**state).panels[3].z
        np.testing.assert_allclose(d, expected)
    assert len(fig.to_json()) < 1_500_000
