"""The chapters' real-weights figures: skipped with a message when no weights are given, drawn when they are.

The "real" file here is a seeded random Swin-T saved in the official layout: the test checks the plumbing (the
environment variable, the loader's report, the figures), not ImageNet accuracy.
"""

from pathlib import Path

import numpy as np
import pytest
import torch

import swin_viz
from swin_viz.checkpoints import export_state_dict
from swin_viz.pretrained import IMAGENET_ENV
from swin_viz.viz import real_weights
from swin_viz.viz.relative_position import STATIC_STATES


def test_without_weights_the_page_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(IMAGENET_ENV, raising=False)
    loaded = real_weights.imagenet_model()
    assert loaded is None
    assert f"{IMAGENET_ENV} is not set" in real_weights.status(loaded)


def test_with_weights_the_figures_draw_the_model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    torch.manual_seed(0)
    source = swin_viz.swin_t().eval()
    path = tmp_path / "swin_tiny_patch4_window7_224.pth"
    torch.save({"model": export_state_dict(source, "official")}, path)
    monkeypatch.setenv(IMAGENET_ENV, str(path))
    real_weights._load.cache_clear()
    loaded = real_weights.imagenet_model()
    assert loaded is not None and loaded[1].ok
    model = loaded[0]
    assert torch.equal(model.stage1.block0.attn.qkv.weight, source.stage1.block0.attn.qkv.weight)
    assert "layout 'official'" in real_weights.status(loaded)

    reach = real_weights.receptive_field_reach(model, "astronaut", 28, 28)
    plain, shifted = reach["not shifted"], reach["shifted"]
    # without the shift, two blocks never leave the token's 7 x 7 window; with it, they do
    assert ((plain <= 2).sum(), (plain == 3).sum()) == (49, 56 * 56 - 49)
    assert (shifted <= 2).sum() > 49 and np.array_equal(shifted <= 1, plain <= 1)
    fig = real_weights.receptive_field_figure(model)
    assert len([t for t in fig.data if t.type == "heatmap"]) == 2
    assert real_weights.WEIGHTS_LABEL in fig.layout.title.subtitle.text
    # the bias panel of each step is the loaded model's stage1.block0 table, gathered for that query and head
    steps = real_weights.relative_bias_figure(model).layout.sliders[0].steps
    assert len(steps) == len(STATIC_STATES)
    for step, state in zip(steps, STATIC_STATES):
        M, query, head = state["M"], state["query"], state["head"]
        with torch.no_grad():
            bias = model.stage1.block0.attn.relative_bias((M, M))[head, query].reshape(M, M).numpy()
        np.testing.assert_allclose([np.asarray(t) for t in step.args[0]["z"] if t is not None][2], bias, rtol=1e-6)
    assert len(real_weights.attention_maps_figure(model).layout.sliders[0].steps) == 4
    real_weights._load.cache_clear()
