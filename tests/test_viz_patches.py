"""The patch partition / embedding explorer draws what the library computes, and survives any control choice."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("plotly")
pytest.importorskip("ipywidgets")
pytest.importorskip("skimage")

from swin_viz import PatchEmbed, patch_partition
from swin_viz.viz import IMAGES, load_image, to_matplotlib, to_plotly
from swin_viz.viz.patches import (
    STATIC_STATES,
    patches_clamp,
    patches_explorer,
    patches_spec,
    patches_static,
)
from swin_viz.viz.render import image_of

# Trace order of the figure: each image/heatmap panel is followed by 5 overlay traces (4 outline styles, labels).
PHOTO, PIXELS, TOKEN, EMBED = 0, 6, 12, 18
STATES = [
    dict(image="astronaut", p=4, row=14, col=24, C=48, norm=True),
    dict(image="chelsea", p=16, row=13, col=0, C=16, norm=False),
    dict(image="coffee", p=2, row=100, col=7, C=96, norm=True),
    dict(image="rocket", p=8, row=3, col=13, C=24, norm=False, size=112),
]
CACHE: dict = {}


def seeded_embed(p: int, C: int, norm: bool) -> PatchEmbed:
    torch.manual_seed(0)
    return PatchEmbed(patch_size=p, in_chans=3, embed_dim=C, patch_norm=norm).eval()


def expected(image: str, p: int, row: int, col: int, C: int, norm: bool, size: int = 224) -> dict[str, np.ndarray]:
    img = load_image(image, size)
    token = patch_partition(img[None], p)[0, row, col]
    with torch.no_grad():
        embedding = seeded_embed(p, C, norm)(img[None])[0, row, col]
    return {"photo": (img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8),
            "pixels": img[:, row * p : (row + 1) * p, col * p : (col + 1) * p].permute(1, 2, 0).numpy(),
            "token": token.reshape(3, p * p).numpy(), "embedding": embedding[None].numpy()}  # fmt: skip


@pytest.mark.parametrize("state", STATES)
def test_spec_draws_the_library(state: dict) -> None:
    spec = patches_spec(**state, cache=CACHE)
    want = expected(**state)
    photo, pixels, token, embedding = spec.panels
    np.testing.assert_array_equal(photo.z, want["photo"])
    np.testing.assert_allclose(pixels.z, want["pixels"], atol=1e-6)
    np.testing.assert_allclose(token.z, want["token"], atol=1e-6)
    np.testing.assert_allclose(embedding.z, want["embedding"], atol=1e-5)
    p, row, col = state["p"], state["row"], state["col"]
    assert token.z.shape == (3, p * p) and token.y_ticks == ["R", "G", "B"]
    highlight = [r for r in photo.rects if r.style == "highlight"]
    assert [(r.r0, r.c0, r.r1, r.c1) for r in highlight] == [(row * p, col * p, (row + 1) * p, (col + 1) * p)]
    G = state.get("size", 224) // p
    grid = [r for r in photo.rects if r.style == "grid"]
    assert len(grid) == (2 * G if G <= 28 else 0)
    assert ("not drawn" in spec.caption) == (G > 28)
    assert "random (untrained) weights" in spec.caption
    assert f"patch_norm {'on' if state['norm'] else 'off'}" in embedding.title
    to_plotly(spec)
    to_matplotlib(spec)


def test_token_order_is_channel_row_column_and_embedding_is_the_conv() -> None:
    """The token heatmap's flat order is the conv weight's, so W.flatten(1) @ token + b is the embedding."""
    spec = patches_spec(image="astronaut", p=4, row=10, col=20, C=32, norm=False, cache=CACHE)
    token = torch.from_numpy(np.asarray(spec.panels[2].z, dtype=np.float32)).reshape(-1)
    img = load_image("astronaut", 224)
    assert token[0] == img[0, 40, 80] and token[1] == img[0, 40, 81] and token[4] == img[0, 41, 80]
    assert token[16] == img[1, 40, 80]
    embed = seeded_embed(4, 32, False)
    with torch.no_grad():
        linear = embed.proj.weight.flatten(1) @ token + embed.proj.bias
    np.testing.assert_allclose(spec.panels[3].z[0], linear.numpy(), atol=1e-5)


def test_spec_leaves_the_global_rng_alone() -> None:
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    patches_spec(image="astronaut", p=8, row=1, col=1, C=40, norm=True)
    assert torch.equal(torch.rand(3), before)


def test_explorer_updates_and_clamps() -> None:
    ex = patches_explorer()
    ex.set(row=20, col=30)
    assert ex.state["row"] == 20 and ex.state["col"] == 30
    want = expected(**ex.state)
    np.testing.assert_allclose(np.asarray(ex.figure.data[TOKEN].z, dtype=float), want["token"], atol=1e-6)
    np.testing.assert_allclose(np.asarray(ex.figure.data[EMBED].z, dtype=float), want["embedding"], atol=1e-5)

    ex.set(C=64, norm=False, image="chelsea")
    want = expected(**ex.state)
    np.testing.assert_allclose(np.asarray(ex.figure.data[EMBED].z, dtype=float), want["embedding"], atol=1e-5)
    np.testing.assert_array_equal(image_of(ex.figure.data[PHOTO]), want["photo"])
    assert ex.message.value == ""

    ex.set(row=500)  # beyond the 56 x 56 grid
    assert ex.state["row"] == 55 and "outside" in ex.message.value
    assert ex.controls["row"].max == 55
    ex.set(p=16)  # row 55 is outside the 14 x 14 grid
    assert ex.state["p"] == 16 and ex.state["row"] == 13 and ex.state["col"] == 13
    assert "14 x 14" in ex.message.value and ex.controls["col"].max == 13
    np.testing.assert_allclose(image_of(ex.figure.data[PIXELS]) / 255,
                               expected(**ex.state)["pixels"], atol=1 / 255)  # fmt: skip
    ex.set(C=500)
    assert ex.state["C"] == 96 and "C=500" in ex.message.value and ex.controls["C"].max == 96
    ex.set(C=1)
    assert ex.state["C"] == 16 and ex.message.value
    ex.set(row=-3)
    assert ex.state["row"] == 0 and ex.message.value


def test_clamp_fixes_patch_size_and_image() -> None:
    state, note = patches_clamp(dict(image="motorcycle_left", p=5, row=0, col=0, C=48, norm=1))
    assert state["image"] in IMAGES and state["p"] == 4 and state["norm"] is True
    assert "motorcycle_left" in note and "p=4" in note
    state, note = patches_clamp(dict(image="astronaut", p=32, row=0, col=0, C=48, norm=True))
    assert state["p"] == 16 and note
    state, note = patches_clamp(dict(image="astronaut", p=16, row=0, col=0, C=48, norm=True, size=100))
    assert state["size"] % 16 == 0 and "100" in note


def test_static_has_one_step_per_state() -> None:
    fig = patches_static()
    steps = fig.layout.sliders[0].steps
    assert len(steps) == len(STATIC_STATES)
    for step, state in zip(steps, STATIC_STATES):
        want = expected(**state)
        z = step.args[0]["z"]
        np.testing.assert_allclose(np.asarray(z[TOKEN], dtype=float), want["token"], atol=1e-6)
        np.testing.assert_allclose(np.asarray(z[EMBED], dtype=float), want["embedding"], atol=1e-5)
    assert len(fig.to_json()) < 1_500_000
