"""Explorer 1 -- patch partition and linear embedding: a photograph becomes a grid of tokens.

Panels, left to right:

* the photograph (``size x size``, 224 in the explorer) with the ``p x p`` patch grid and the selected patch;
* the selected patch's ``p x p`` pixels (read back from the token, so the pixel order is the token's);
* its token: the ``3 * p * p`` values :func:`swin_viz.patch_partition` puts in it, drawn as ``(3, p * p)``
  (one row per channel R/G/B, then pixel ``row * p + col``) -- the flat order is channel, row, column;
* the ``C``-dim embedding :class:`swin_viz.PatchEmbed` computes for that patch, with seeded random
  (untrained) weights.

``BENCH_CHANGES`` lists the control changes a latency benchmark replays on :func:`patches_explorer`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from functools import partial
from typing import Any

import numpy as np
import plotly.graph_objects as go
import torch

from ..patches import PatchEmbed, patch_partition
from . import palette
from .explorer import Explorer, State, static_figure
from .images import IMAGES, load_image
from .spec import FigureSpec, Label, Panel, Rect

__all__ = ["BENCH_CHANGES", "STATIC_STATES", "patches_clamp", "patches_explorer", "patches_spec", "patches_static"]

PATCH_SIZES = (2, 4, 8, 16)
"""Patch sizes offered (all divide 224 and 112)."""
EMBED_DIMS = (16, 96)
"""Range of the embedding width C offered by the explorer."""
MAX_GRID = 28
"""The patch grid is drawn only up to ``MAX_GRID x MAX_GRID`` patches; finer grids would hide the photo."""
MAX_PIXEL_LABELS = 4
"""Pixels of the patch panel are numbered (their index in a channel row of the token) up to this patch size."""
SEED = 0
CACHE_SIZE = 24
"""Entries kept per explorer (images, tokens, modules, embeddings); the oldest are dropped first."""

Cache = dict[Hashable, Any]


def _cached(cache: Cache | None, key: Hashable, make: Callable[[], Any]) -> Any:
    """``make()``, memoised in ``cache`` (a plain dict, bounded to ``CACHE_SIZE`` entries) when one is given."""
    if cache is None:
        return make()
    if key not in cache:
        while len(cache) >= CACHE_SIZE:
            del cache[next(iter(cache))]
        cache[key] = make()
    return cache[key]


def _image(name: str, size: int, cache: Cache | None) -> tuple[torch.Tensor, np.ndarray]:
    """The photo as ``(3, size, size)`` floats in [0, 1] and as ``(size, size, 3)`` uint8 for drawing."""

    def make() -> tuple[torch.Tensor, np.ndarray]:
        img = load_image(name, size)
        return img, (img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)

    return _cached(cache, ("image", name, size), make)


def _embedder(p: int, C: int, norm: bool, cache: Cache | None) -> PatchEmbed:
    """``PatchEmbed(p, 3, C, norm)`` with weights drawn after ``torch.manual_seed(SEED)`` (global RNG untouched)."""

    def make() -> PatchEmbed:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(SEED)
            return PatchEmbed(patch_size=p, in_chans=3, embed_dim=C, patch_norm=norm).eval()

    return _cached(cache, ("module", p, C, norm), make)


def patch_tokens(image: str, size: int, p: int, cache: Cache | None = None) -> np.ndarray:
    """``patch_partition`` of the photo: ``(size/p, size/p, 3*p*p)``, values in (channel, row, column) order."""

    def make() -> np.ndarray:
        img, _ = _image(image, size, cache)
        return patch_partition(img[None], p)[0].numpy()

    return _cached(cache, ("tokens", image, size, p), make)


def patch_embeddings(image: str, size: int, p: int, C: int, norm: bool, cache: Cache | None = None) -> np.ndarray:
    """``PatchEmbed`` (seeded random weights) of the photo: ``(size/p, size/p, C)``."""

    def make() -> np.ndarray:
        img, _ = _image(image, size, cache)
        with torch.no_grad():
            return _embedder(p, C, norm, cache)(img[None])[0].numpy()

    return _cached(cache, ("embedding", image, size, p, C, norm), make)


def patches_spec(
    image: str = "astronaut",
    p: int = 4,
    row: int = 14,
    col: int = 24,
    C: int = 48,
    norm: bool = True,
    size: int = 224,
    cache: Cache | None = None,
) -> FigureSpec:
    """Photo with the patch grid, the selected patch ``(row, col)``, its ``3*p*p`` token and its ``C``-dim embedding.

    ``cache`` (a dict) memoises images, tokens, modules and embeddings between calls (the explorer keeps one).
    """
    img_u8 = _image(image, size, cache)[1]  # (size, size, 3)
    tokens = patch_tokens(image, size, p, cache)  # (G, G, 3*p*p)
    G = tokens.shape[0]
    vec = tokens[row, col]  # (3*p*p,), order (channel, row, column)
    embedding = patch_embeddings(image, size, p, C, norm, cache)[row, col]  # (C,)
    n = p * p

    # The photo: grid as one strip per patch row and per patch column (2G outlines draw every grid line).
    rects = []
    if G <= MAX_GRID:
        rects += [Rect(i * p, 0, (i + 1) * p, size) for i in range(G)]
        rects += [Rect(0, j * p, size, (j + 1) * p) for j in range(G)]
    rects.append(Rect(row * p, col * p, (row + 1) * p, (col + 1) * p, "highlight"))

    # The patch's pixels, read back from its token: (3, p, p) -> (p, p, 3).
    pixels = vec.reshape(3, p, p).transpose(1, 2, 0)
    pixel_labels = []
    if p <= MAX_PIXEL_LABELS:
        light = pixels.mean(-1) > 0.5
        pixel_labels = [Label(r, c, str(r * p + c), palette.FONT_COLOR if light[r, c] else palette.BACKGROUND)
                        for r in range(p) for c in range(p)]  # fmt: skip

    channels = "RGB"
    token = vec.reshape(3, n)
    token_hover = np.array([[f"token[{ch * n + i}] = {channels[ch]} of pixel ({i // p}, {i % p}): {v:.3f}"
                             for i, v in enumerate(values)] for ch, values in enumerate(token.tolist())])  # fmt: skip
    emb_hover = np.array([[f"channel {k}: {v:.3f}" for k, v in enumerate(embedding.tolist())]])
    bound = float(np.abs(embedding).max()) or 1.0

    norm_word = "on" if norm else "off"
    grid_note = (
        ""
        if G <= MAX_GRID
        else f"; the {G} x {G} grid is not drawn (too fine to see; it is drawn for up to {MAX_GRID} x {MAX_GRID})"
    )
    return FigureSpec(
        title=f"Patch partition and embedding: {size} x {size} photo, p = {p} -> {G} x {G} patches of "
        f"{3 * n} values -> C = {C}",
        caption=f"PatchEmbed with random (untrained) weights, torch.manual_seed({SEED}): the embedding shows the "
        f"mechanics, not learned features{grid_note}",
        panels=[
            Panel(f"'{image}', patch ({row}, {col}) in red", "image", z=img_u8, rects=rects,
                  hover="pixel row %{y}, col %{x}<extra></extra>", x_label="pixel column", y_label="pixel row"),
            Panel(f"Patch ({row}, {col}): {p} x {p} pixels", "image", z=pixels, labels=pixel_labels,
                  hover="patch pixel (%{y}, %{x})<extra></extra>", x_label="column in patch",
                  y_label="row in patch"),
            Panel(f"Its token: {3 * n} values (patch_partition)", "heatmap", z=token, zmin=0.0, zmax=1.0,
                  colorscale=palette.SEQUENTIAL, colorbar="pixel value (0-1)", hovertext=token_hover, square=False,
                  y_ticks=list(channels), x_label=f"pixel row * {p} + column (token index = channel * {n} + this)",
                  y_label="channel"),
            Panel(f"PatchEmbed -> {C} channels (patch_norm {norm_word})", "heatmap", z=embedding[None],
                  colorscale=palette.DIVERGING, zmid=0.0, zmin=-bound, zmax=bound, colorbar="embedding value",
                  hovertext=emb_hover, square=False, y_ticks=[f"({row}, {col})"], x_label="embedding channel",
                  y_label="patch"),
        ],
    )  # fmt: skip


def _nearest_patch_size(p: Any, size: int) -> int:
    allowed = [q for q in PATCH_SIZES if size % q == 0]
    try:
        value = float(p)
    except (TypeError, ValueError):
        return 4
    return min(allowed, key=lambda q: (abs(np.log2(q) - np.log2(max(value, 1e-9))), q))


def patches_clamp(state: State) -> tuple[State, str]:
    """Unknown image -> astronaut; p -> the nearest of 2/4/8/16 dividing the image size; row/col inside the
    ``size/p`` grid; C inside ``EMBED_DIMS``. Says what it changed."""
    state = dict(state)
    notes = []
    size = int(state.get("size", 224))
    if size < 16 or size % 16:
        fixed = max(16, round(size / 16) * 16)
        notes.append(f"Image size {size} must be a multiple of 16 (every patch size must divide it): using {fixed}.")
        state["size"] = size = fixed
    if state["image"] not in IMAGES:
        notes.append(f"Image {state['image']!r} is not bundled with this scikit-image: using 'astronaut'.")
        state["image"] = "astronaut"
    p = _nearest_patch_size(state["p"], size)
    if p != state["p"]:
        notes.append(f"Patch size {state['p']} is not one of {PATCH_SIZES} dividing {size}: using p={p}.")
        state["p"] = p
    G = size // p
    for name in ("row", "col"):
        value = int(state[name])
        fixed = min(max(value, 0), G - 1)
        if fixed != value:
            notes.append(f"Patch {name} {value} is outside the {G} x {G} grid of p={p} (0..{G - 1}): using {fixed}.")
        state[name] = fixed
    lo, hi = EMBED_DIMS
    C = int(state["C"])
    if not lo <= C <= hi:
        notes.append(f"Embedding width C={C} is outside {lo}..{hi}: using {min(max(C, lo), hi)}.")
    state["C"] = min(max(C, lo), hi)
    state["norm"] = bool(state["norm"])
    return state, " ".join(notes)


def patches_limits(state: State) -> dict[str, tuple[int, int]]:
    """Patch row/col run to ``size/p - 1``; C over ``EMBED_DIMS``."""
    G = int(state.get("size", 224)) // state["p"]
    return {"row": (0, G - 1), "col": (0, G - 1), "C": EMBED_DIMS}


def patches_explorer(
    image: str = "astronaut", p: int = 4, row: int = 14, col: int = 24, C: int = 48, norm: bool = True
) -> Explorer:
    """Image, patch size, patch row/col, embedding width and LayerNorm on/off; images, tokens, modules and
    embeddings are cached in the explorer (the photos are loaded up front, ~50 ms each), so moving the patch
    only indexes arrays."""
    import ipywidgets as widgets

    images = IMAGES
    cache: Cache = {}
    for name in images:
        _image(name, 224, cache)
    controls = {
        "image": widgets.Dropdown(options=list(images), value=image, description="image"),
        "p": widgets.Dropdown(options=list(PATCH_SIZES), value=p, description="patch size p"),
        "row": widgets.IntSlider(value=row, min=0, max=223, description="patch row"),
        "col": widgets.IntSlider(value=col, min=0, max=223, description="patch col"),
        "C": widgets.IntSlider(value=C, min=EMBED_DIMS[0], max=EMBED_DIMS[1], step=8, description="embed dim C"),
        "norm": widgets.Checkbox(value=norm, description="patch_norm (LayerNorm)"),
    }
    render = partial(patches_spec, cache=cache)
    return Explorer(controls, render, patches_clamp, limits=patches_limits, title="Patch partition and embedding")


BENCH_CHANGES: list[dict] = [
    dict(row=15), dict(col=26), dict(row=16, col=27), dict(C=64), dict(norm=False), dict(p=8), dict(row=5),
    dict(p=16), dict(image="chelsea"), dict(p=2, row=60, col=50), dict(col=51), dict(C=96),
]  # fmt: skip
"""Control changes replayed by the latency benchmark (mostly patch moves, plus a few recomputing ones)."""

STATIC_SIZE = 112
"""The static figure uses 112 x 112 photos: each slider step stores its image as a JSON list (~4 bytes per
value), and 224 x 224 photos would make the page several MB."""

STATIC_STATES = [
    dict(image="astronaut", p=4, row=7, col=12, C=48, norm=True, size=STATIC_SIZE),
    dict(image="astronaut", p=8, row=3, col=6, C=48, norm=True, size=STATIC_SIZE),
    dict(image="astronaut", p=16, row=1, col=3, C=96, norm=True, size=STATIC_SIZE),
    dict(image="chelsea", p=4, row=12, col=10, C=48, norm=False, size=STATIC_SIZE),
    dict(image="coffee", p=2, row=30, col=28, C=32, norm=True, size=STATIC_SIZE),
    dict(image="rocket", p=8, row=5, col=6, C=96, norm=False, size=STATIC_SIZE),
]
"""States of the kernel-free figure: patch sizes 2-16, four photos, LayerNorm on and off."""


def patches_static(states: list[State] | None = None) -> go.Figure:
    """Kernel-free version: a slider over a few (image, p, patch, C, norm) choices."""
    states = states or STATIC_STATES
    cache: Cache = {}
    labels = [f"{s['image']}, p={s['p']}, ({s['row']}, {s['col']}), C={s['C']}" for s in states]
    return static_figure(partial(patches_spec, cache=cache), states, labels, "image, patch")
