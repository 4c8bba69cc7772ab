"""Explorer 6 -- patch merging: which 4 tokens form each merged token, in which order, and what follows.

Panels, left to right:

* the ``H x W`` input map (zero-padded to even sides, as :func:`swin_viz.merge_patches` does), each token
  coloured by the slot of the 4C concatenation it goes to -- the official order
  ``x0 = x[0::2, 0::2], x1 = x[1::2, 0::2], x2 = x[0::2, 1::2], x3 = x[1::2, 1::2]`` -- with the 2x2 groups
  outlined and the selected output token's group highlighted;
* that output token's ``(1, 4C)`` concatenation, each channel coloured by the slot of its source token;
* the same vector after ``LayerNorm(4C)`` and the ``4C -> 2C`` projection of a seeded
  :class:`swin_viz.PatchMerging` (random, untrained weights);
* map size and channels before and after every step of Swin-T/S/B/L at 224 (``stage_shapes`` of a model
  built on the meta device, and its ``PatchMerging`` modules).

The input tensor encodes positions: ``x[r, c, ch] = 1 + (r * W + c) * C + ch`` (0 is padding), so every
value of the library's output says which token and channel it came from.

``BENCH_CHANGES`` lists the control changes a latency benchmark replays on :func:`merging_explorer`.
"""

from __future__ import annotations

from collections.abc import Hashable
from functools import partial
from typing import Any

import numpy as np
import plotly.graph_objects as go
import torch

from ..merging import PatchMerging, merge_patches
from ..model import CONFIGS
from . import palette
from .explorer import Explorer, State, static_figure
from .sources import meta_model
from .spec import FigureSpec, Label, Panel, Rect

__all__ = [
    "BENCH_CHANGES", "GATHER_COLORS", "SLOTS", "STATIC_STATES", "merging_clamp", "merging_explorer", "merging_spec",
    "merging_static", "stage_table",
]  # fmt: skip

SLOTS = ("x0 (0::2, 0::2)", "x1 (1::2, 0::2)", "x2 (0::2, 1::2)", "x3 (1::2, 1::2)")
"""The four gather positions, in the order of the 4C concatenation."""
GATHER_COLORS = palette.REGION_COLORS[:4]
"""Colours of the four gather positions (the first four region colours: distinct and colour-blind safe)."""
CATEGORIES = [*SLOTS, "zero padding"]
COLORS = [*GATHER_COLORS, palette.PAD_COLOR]
PAD = len(SLOTS)  # category of padding

MAP_RANGE = (2, 16)
"""Sides of the input map offered."""
CHANNEL_RANGE = (2, 8)
"""Channels C of the input map offered (the concatenation has 4C)."""
MODELS = {"Swin-T": "swin_t", "Swin-S": "swin_s", "Swin-B": "swin_b", "Swin-L": "swin_l"}
IMAGE_SIZE = 224
SEED = 0

Cache = dict[Hashable, Any]


def _merging_module(C: int, cache: Cache | None) -> PatchMerging:
    """``PatchMerging(C)`` with weights drawn after ``torch.manual_seed(SEED)`` (global RNG untouched)."""
    key = ("merging", C)
    if cache is not None and key in cache:
        return cache[key]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        module = PatchMerging(C).eval()
    if cache is not None:
        cache[key] = module
    return module


def stage_table(model: str = "swin_t", size: int = IMAGE_SIZE) -> list[list[str]]:
    """Rows ``[step, input, output]`` for patch embedding, each stage and each patch merging of ``model``.

    Shapes come from ``model.stage_shapes(size)`` and the modules of the shared meta-device model (no memory, no
    weights: :func:`swin_viz.shared_model` with ``weights="meta"``).
    """
    net = meta_model(model)
    shapes = net.stage_shapes(size)
    embed = net.patch_embed
    p = embed.patch_size

    def fmt(hw: tuple[int, int], c: int) -> str:
        return f"{hw[0]} x {hw[1]} x {c}"

    rows = [[f"patch embed (p={p})", fmt((size, size), embed.in_chans), fmt(shapes[0]["resolution"], embed.embed_dim)]]
    for i, (stage, shape) in enumerate(zip(net.stages, shapes)):
        merge = stage.downsample
        if merge is not None:
            before = shapes[i - 1]["resolution"]
            four_c = merge.norm.normalized_shape[0]
            rows.append([f"merge, 4C = {four_c}", fmt(before, merge.dim), fmt(shape["resolution"], merge.out_dim)])
        rows.append([f"stage {i + 1} ({shape['blocks']} blocks)", fmt(shape["resolution"], shape["channels"]),
                     fmt(shape["resolution"], shape["channels"])])  # fmt: skip
    return rows


def merging_spec(
    H: int = 8, W: int = 8, C: int = 4, row: int = 1, col: int = 2, model: str = "swin_t", cache: Cache | None = None
) -> FigureSpec:
    """Input map coloured by gather slot, the ``(1, 4C)`` concat of output token ``(row, col)``, its
    ``LayerNorm(4C)`` and ``4C -> 2C`` projection (seeded random weights), and the stage table of ``model``.

    ``cache`` (a dict) memoises the seeded ``PatchMerging`` modules and the stage tables between calls.
    """
    # Every value encodes (token, channel); the library moves it exactly as it moves features.
    x = (torch.arange(H * W * C, dtype=torch.float32) + 1).reshape(1, H, W, C)
    merged = merge_patches(x)  # (1, Ho, Wo, 4C)
    Ho, Wo = merged.shape[1:3]
    code = merged[0].long().numpy() - 1  # (Ho, Wo, 4C); -1 = padding
    first = code[..., ::C]  # (Ho, Wo, 4): channel 0 of each slot
    valid = first >= 0
    token = first // C  # (Ho, Wo, 4) source token index r * W + c

    # The input map (padded to even sides): each real token gets the slot it was gathered into.
    Hp, Wp = 2 * Ho, 2 * Wo
    map_z = np.full((Hp, Wp), PAD)
    slot = np.broadcast_to(np.arange(4), first.shape)
    map_z[token[valid] // W, token[valid] % W] = slot[valid]
    # The 2x2 group of each output token, anchored at its x0 token (x0 is never padding).
    anchors = token[..., 0]
    rects = [Rect(int(a // W), int(a % W), int(a // W) + 2, int(a % W) + 2) for a in anchors.ravel()]
    a = int(anchors[row, col])
    rects.append(Rect(a // W, a % W, a // W + 2, a % W + 2, "highlight"))
    sources = [(int(t // W), int(t % W)) if v else None for t, v in zip(token[row, col], valid[row, col])]
    labels = [Label(r, c, f"x{k}", palette.BACKGROUND, 12) for k, rc in enumerate(sources) if rc for r, c in [rc]]
    map_hover = np.empty((Hp, Wp), dtype=object)
    map_hover[:] = "zero padding (added by merge_patches)"
    out_r, out_c = np.divmod(np.arange(Ho * Wo), Wo)
    for t, v, k, i, j in zip(token.reshape(-1, 4).ravel(), valid.reshape(-1, 4).ravel(), np.tile(np.arange(4), Ho * Wo),
                             np.repeat(out_r, 4), np.repeat(out_c, 4)):  # fmt: skip
        if v:
            map_hover[t // W, t % W] = (f"token ({t // W}, {t % W}) -> output ({i}, {j}), slot x{k}: "
                                        f"channels {k * C}..{k * C + C - 1} of 4C")  # fmt: skip

    # The selected output token's 4C vector, coloured by where each value came from.
    vec_code = code[row, col]  # (4C,)
    vec_token = vec_code // C
    vec_cat = np.where(vec_code >= 0, map_z[vec_token // W, vec_token % W], PAD)[None]
    vec_hover = np.array([[f"concat[{n}] = " + (f"token ({t // W}, {t % W}), channel {e % C}" if e >= 0 else
                                                 "zero padding")
                           for n, (e, t) in enumerate(zip(vec_code.tolist(), vec_token.tolist()))]])  # fmt: skip
    vec_labels = [Label(0, k * C + (C - 1) / 2, f"({rc[0]},{rc[1]})" if rc else "pad", palette.BACKGROUND, 10)
                  for k, rc in enumerate(sources)]  # fmt: skip

    # LayerNorm(4C) then Linear(4C -> 2C) of a seeded PatchMerging, on that same vector.
    module = _merging_module(C, cache)
    with torch.no_grad():
        normed = module.norm(merged[0, row, col])  # (4C,)
        reduced = module.reduction(normed)  # (2C,)
    after = np.full((2, 4 * C), np.nan)
    after[0] = normed.numpy()
    after[1, : 2 * C] = reduced.numpy()
    bound = float(np.nanmax(np.abs(after))) or 1.0
    after_hover = np.array([[f"LayerNorm(4C)[{n}] = {v:.3f}" for n, v in enumerate(after[0].tolist())],
                            [f"Linear 4C -> 2C [{n}] = {v:.3f}" if n < 2 * C else "(only 2C outputs)"
                             for n, v in enumerate(after[1].tolist())]])  # fmt: skip

    key = ("table", model)
    if cache is not None and key in cache:
        table = cache[key]
    else:
        table = stage_table(model)
        if cache is not None:
            cache[key] = table
    name = next((k for k, v in MODELS.items() if v == model), model)

    pad_note = f", zero-padded to {Hp} x {Wp}" if (Hp, Wp) != (H, W) else ""
    return FigureSpec(
        title=f"Patch merging: {H} x {W} x {C}{pad_note} -> {Ho} x {Wo} x {4 * C} (concat) -> {Ho} x {Wo} x {2 * C}",
        caption=f"Input values encode positions, x[r, c, ch] = 1 + (r*W + c)*C + ch; PatchMerging({C}) with random "
        f"(untrained) weights, torch.manual_seed({SEED}), LayerNorm at its initial scale 1 / shift 0",
        panels=[
            Panel(f"Input map: 2x2 groups, output ({row}, {col}) in red", "heatmap", z=map_z, categories=CATEGORIES,
                  category_colors=COLORS, colorbar="slot in the 4C concat", rects=rects, labels=labels,
                  hovertext=map_hover,
                  x_label="token column", y_label="token row"),
            Panel(f"merge_patches: the 4C = {4 * C} concat", "heatmap", z=vec_cat, categories=CATEGORIES,
                  category_colors=COLORS, show_scale=False, labels=vec_labels, hovertext=vec_hover, square=False,
                  y_ticks=[f"({row}, {col})"], x_label="channel of the concatenation (x0 | x1 | x2 | x3)",
                  y_label="output token"),
            Panel("LayerNorm(4C), then Linear 4C -> 2C", "heatmap", z=after, colorscale=palette.DIVERGING, zmid=0.0,
                  zmin=-bound, zmax=bound, colorbar="value (random weights)", hovertext=after_hover, square=False,
                  y_ticks=["LN(4C)", "-> 2C"], x_label="channel", y_label="step"),
            Panel(f"{name} at {IMAGE_SIZE} x {IMAGE_SIZE}: H x W x C", "table",
                  header=["step", "input", "output"], rows=table),
        ],
    )  # fmt: skip


def merging_clamp(state: State) -> tuple[State, str]:
    """Map sides and C into their ranges, the output token inside the ``ceil(H/2) x ceil(W/2)`` map, unknown
    models to Swin-T; says what it changed and when odd sides are padded."""
    state = dict(state)
    notes = []
    for name, (lo, hi) in (("H", MAP_RANGE), ("W", MAP_RANGE), ("C", CHANNEL_RANGE)):
        value = int(state[name])
        fixed = min(max(value, lo), hi)
        if fixed != value:
            notes.append(f"{name}={value} is outside {lo}..{hi}: using {fixed}.")
        state[name] = fixed
    Ho, Wo = -(-state["H"] // 2), -(-state["W"] // 2)
    for name, n in (("row", Ho), ("col", Wo)):
        value = int(state[name])
        fixed = min(max(value, 0), n - 1)
        if fixed != value:
            notes.append(f"Output {name} {value} is outside the {Ho} x {Wo} merged map (0..{n - 1}): using {fixed}.")
        state[name] = fixed
    if state["model"] not in CONFIGS:
        notes.append(f"Unknown model {state['model']!r}: using swin_t.")
        state["model"] = "swin_t"
    odd = [f"{name}={state[name]}" for name in ("H", "W") if state[name] % 2]
    if odd:
        notes.append(f"{' and '.join(odd)} odd: merge_patches zero-pads the bottom/right to an even size (grey).")
    return state, " ".join(notes)


def merging_limits(state: State) -> dict[str, tuple[int, int]]:
    """The output token runs over the ``ceil(H/2) x ceil(W/2)`` merged map."""
    return {"row": (0, -(-state["H"] // 2) - 1), "col": (0, -(-state["W"] // 2) - 1), "H": MAP_RANGE,
            "W": MAP_RANGE, "C": CHANNEL_RANGE}  # fmt: skip


def merging_explorer(H: int = 8, W: int = 8, C: int = 4, row: int = 1, col: int = 2, model: str = "swin_t") -> Explorer:
    """Sliders for the map, its channels and the output token; a model Dropdown for the stage table."""
    import ipywidgets as widgets

    controls = {
        "H": widgets.IntSlider(value=H, min=MAP_RANGE[0], max=MAP_RANGE[1], description="H (rows)"),
        "W": widgets.IntSlider(value=W, min=MAP_RANGE[0], max=MAP_RANGE[1], description="W (cols)"),
        "C": widgets.IntSlider(value=C, min=CHANNEL_RANGE[0], max=CHANNEL_RANGE[1], description="channels C"),
        "row": widgets.IntSlider(value=row, min=0, max=7, description="output row"),
        "col": widgets.IntSlider(value=col, min=0, max=7, description="output col"),
        "model": widgets.Dropdown(options=list(MODELS.items()), value=model, description="model"),
    }
    cache: Cache = {("table", name): stage_table(name) for name in MODELS.values()}  # 4 meta models, ~0.3 s
    render = partial(merging_spec, cache=cache)
    return Explorer(controls, render, merging_clamp, limits=merging_limits, title="Patch merging")


BENCH_CHANGES: list[dict] = [
    dict(row=2), dict(col=3), dict(row=0, col=0), dict(C=8), dict(H=7), dict(W=9), dict(row=3, col=4),
    dict(model="swin_b"), dict(C=2), dict(H=16, W=16), dict(row=7, col=7), dict(model="swin_l"),
]  # fmt: skip
"""Control changes replayed by the latency benchmark."""

STATIC_STATES = [
    dict(H=8, W=8, C=4, row=1, col=2, model="swin_t"),
    dict(H=8, W=8, C=4, row=0, col=0, model="swin_t"),
    dict(H=7, W=7, C=4, row=3, col=3, model="swin_s"),
    dict(H=5, W=9, C=2, row=2, col=4, model="swin_b"),
    dict(H=16, W=16, C=8, row=5, col=6, model="swin_l"),
    dict(H=2, W=2, C=2, row=0, col=0, model="swin_t"),
]
"""States of the kernel-free figure: even and odd maps, C = 2..8, the four models."""


def merging_static(states: list[State] | None = None) -> go.Figure:
    """Kernel-free version: a slider over a few (H, W, C, output token, model) choices."""
    states = states or STATIC_STATES
    labels = [f"{s['H']}x{s['W']}x{s['C']}, ({s['row']}, {s['col']}), {s['model']}" for s in states]
    return static_figure(partial(merging_spec, cache={}), states, labels, "map, output token, model")
