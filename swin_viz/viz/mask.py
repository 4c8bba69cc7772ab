"""Explorer 4 -- the shifted-window attention mask, and what happens without it.

Pick a map (a preset), a window and a query token of that window:

* (a) the regions (0-8, :func:`swin_viz.region_labels`) of the cyclically shifted map, with the window grid,
  the chosen window and the query;
* (b) that window's ``(M*M, M*M)`` mask from :func:`swin_viz.shifted_window_mask` (the query's row outlined);
* (c) the query's row of the mask laid out as the ``M x M`` window: the keys it may attend to, each token
  labelled with its region;
* (d) the query's attention probabilities over the window in a real :class:`swin_viz.SwinBlock` (seeded random
  weights and input), read with :func:`swin_viz.run_with_cache` -- with the mask, or with the mask replaced by
  zeros through the ``attn.hook_mask`` hook point (the "mask off" toggle), which lets the query attend to tokens
  the roll brought over from the other side of the image.

The explorer runs the block twice per map (mask on and off) and keeps the results in its closure, so moving
the window, query or head costs no forward pass. ``BENCH_CHANGES`` lists control changes a latency benchmark
replays (``ex = mask_explorer(); [ex.set(**c) for c in BENCH_CHANGES]``).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import plotly.graph_objects as go
import torch

from ..block import SwinBlock
from ..hooks import hooks, run_with_cache
from ..shift import MASK_VALUE, region_labels, shifted_window_mask
from ..windows import window_partition, window_reverse
from . import palette
from .explorer import Explorer, State, static_figure, torch_threads
from .palette import text_color_on
from .spec import FigureSpec, Label, Panel, Rect

__all__ = [
    "BENCH_CHANGES", "BLOCK_DIM", "BLOCK_HEADS", "PRESETS", "SEED", "STATIC_STATES", "mask_clamp",
    "mask_explorer", "mask_forward", "mask_limits", "mask_spec", "mask_static",
]  # fmt: skip

PRESETS: dict[str, tuple[int, int, int, int]] = {
    "paper 8x8, M=4, s=2": (8, 8, 4, 2),
    "Swin-T stage 3: 14x14, M=7, s=3": (14, 14, 7, 3),
    "Swin-T stage 2: 28x28, M=7, s=3": (28, 28, 7, 3),
    "Swin-T stage 1: 56x56, M=7, s=3": (56, 56, 7, 3),
    "small shift 8x8, M=4, s=1": (8, 8, 4, 1),
    "non-square 8x12, M=4, s=2": (8, 12, 4, 2),
}
"""Map ``(H, W, M, s)`` of each preset (the Swin-T ones are its stages at 224 x 224 input)."""
DEFAULT_PRESET = "Swin-T stage 3: 14x14, M=7, s=3"
BLOCK_DIM, BLOCK_HEADS, SEED = 32, 2, 0
"""The demonstration block: ``SwinBlock(dim=32, num_heads=2)`` with weights and input drawn from seed 0."""
MAX_HOVERTEXT = 28 * 28
"""Maps with more tokens get a hover template instead of one hover string per token."""
MASK_CATEGORIES = ["attend (0)", f"masked ({MASK_VALUE:g})"]


def mask_forward(H: int, W: int, M: int, s: int, seed: int = SEED) -> dict[str, np.ndarray]:
    """Run a seeded random shifted block on a seeded random ``(1, H, W, BLOCK_DIM)`` map, with and without mask.

    Returns ``{"on": probs, "off": probs}``, each ``(nW, BLOCK_HEADS, M*M, M*M)`` from the ``attn.hook_probs``
    hook point; "off" replaces the ``attn.hook_mask`` hook point's tensor by zeros. The global RNG is untouched.
    Runs on one thread (restored after): tensors this small gain nothing from more, and on a busy machine
    the thread pool's barriers can cost 100+ ms per pass.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        block = SwinBlock(dim=BLOCK_DIM, num_heads=BLOCK_HEADS, window_size=M, shift_size=s, attn_impl="auto")
        block.eval()
        x = torch.randn(1, H, W, BLOCK_DIM)
    with torch.no_grad(), torch_threads(1):
        _, on = run_with_cache(block, x, names=["attn.hook_probs"])
        with hooks(block, {"attn.hook_mask": lambda module, inputs, out: torch.zeros_like(out)}):
            _, off = run_with_cache(block, x, names=["attn.hook_probs"])
    return {"on": on["attn.hook_probs"].numpy(), "off": off["attn.hook_probs"].numpy()}


def _map_data(H: int, W: int, M: int, s: int) -> dict[str, Any]:
    """Everything that depends on the map only: regions, mask, window contents, hover text, block outputs."""
    labels = region_labels(H, W, M, s)  # (H, W)
    mask = shifted_window_mask(H, W, M, s)  # (nW, N, N)
    win_regions = window_partition(labels[None, :, :, None], M).reshape(-1, M * M)  # (nW, N)
    nW = mask.shape[0]
    # The window of every position, through the library's inverse of window_partition.
    win_map = window_reverse(torch.arange(nW).view(nW, 1, 1, 1).expand(nW, M, M, 1), M, H, W)[0, ..., 0].numpy()
    win = win_map.tolist()
    lab = labels.tolist()
    hover = None
    if H * W <= MAX_HOVERTEXT:  # beyond this the per-cell strings cost more to send than they are worth
        hover = np.array([[f"({r}, {c}): region {v}, window {win[r][c]}" for c, v in enumerate(row)]
                          for r, row in enumerate(lab)], dtype=object)  # fmt: skip
    region_text = [Label((r0 + r1 - 1) / 2, (c0 + c1 - 1) / 2, str(v), text_color_on(palette.REGION_COLORS[v]), 13)
                   for v, (r0, c0, r1, c1) in _boxes(labels.numpy()).items()]  # fmt: skip
    return dict(
        labels=labels.numpy(),
        blocked=(mask != 0).numpy().astype(np.int64),  # (nW, N, N): 1 where masked
        win_regions=win_regions.numpy(),
        hover=hover,
        probs=mask_forward(H, W, M, s),
        window_boxes=_boxes(win_map),  # {window: (r0, c0, r1, c1)} on the map
        grid=[Rect(r, c, r + M, c + M) for r in range(0, H, M) for c in range(0, W, M)],
        region_labels=region_text,
    )


def _boxes(regions: np.ndarray) -> dict[int, tuple[int, int, int, int]]:
    """``{region: (r0, c0, r1, c1)}`` of an ``(rows, cols)`` region map (each region is a rectangle there)."""
    boxes = {}
    for v in np.unique(regions).tolist():
        rows, cols = np.nonzero(regions == v)
        boxes[v] = (int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1)
    return boxes


def _region_boxes(regions: np.ndarray) -> list[Rect]:
    """Dashed outlines of the regions inside one ``(M, M)`` window (none when the window holds one region)."""
    boxes = _boxes(regions)
    return [Rect(*box, "dashed") for box in boxes.values()] if len(boxes) > 1 else []


def mask_spec(
    preset: str = DEFAULT_PRESET,
    window: int = 3,
    query: int = 24,
    head: int = 0,
    mask: bool = True,
    cache: dict | None = None,
) -> FigureSpec:
    """Regions, the window's mask ``(N, N)``, the query's allowed keys ``(M, M)`` and its attention ``(M, M)``.

    ``cache`` (a dict kept by the explorer) holds the per-map data, block outputs included, keyed by
    ``(H, W, M, s)``; without it every call runs the block.
    """
    H, W, M, s = PRESETS[preset]
    key = (H, W, M, s)
    data = cache.get(key) if cache is not None else None
    if data is None:
        data = _map_data(H, W, M, s)
        if cache is not None:
            cache[key] = data
    N, nW = M * M, len(data["window_boxes"])
    qr, qc = divmod(query, M)
    regions = data["win_regions"][window]  # (N,)
    q_region = int(regions[query])
    blocked_row = data["blocked"][window, query]  # (N,)
    probs = {k: v[window, head, query] for k, v in data["probs"].items()}  # (N,) each
    other = regions != q_region
    mass = {k: float(p[other].sum()) for k, p in probs.items()}
    shown = probs["on" if mask else "off"].reshape(M, M)
    zmax = float(max(probs["on"].max(), probs["off"].max()))

    # (a) the map: grid, chosen window, query.
    r0, c0, _, _ = data["window_boxes"][window]
    map_rects = [*data["grid"], Rect(r0, c0, r0 + M, c0 + M, "highlight"),
                 Rect(r0 + qr, c0 + qc, r0 + qr + 1, c0 + qc + 1, "fill")]  # fmt: skip
    # (c) the query's row of the mask on the window, each token labelled with its region.
    reg_grid, blk_grid = regions.reshape(M, M).tolist(), blocked_row.reshape(M, M).tolist()
    key_labels = [Label(r, c, str(reg_grid[r][c]), color=text_color_on(palette.MASK_COLORS[blk_grid[r][c]]), size=9)
                  for r in range(M) for c in range(M)]  # fmt: skip
    query_rect = Rect(qr, qc, qr + 1, qc + 1, "highlight")
    region_rects = _region_boxes(regions.reshape(M, M))
    n_regions = len(np.unique(regions))

    window_note = "one region: its mask is all zeros" if n_regions == 1 else f"{n_regions} regions"
    caption = (
        f"Query {query} (row {qr}, col {qc}, region {q_region}) of window {window} ({window_note}). Attention on "
        f"other regions, head {head}: {mass['on']:.1%} with the mask, {mass['off']:.1%} with attn.hook_mask hooked to "
        f"zeros. Block: SwinBlock(dim={BLOCK_DIM}, {BLOCK_HEADS} heads), random untrained weights, random input."
    )
    return FigureSpec(
        title=f"Shifted-window mask: {H} x {W} map, M={M}, s={s}",
        caption=caption,
        height=470,
        panels=[
            Panel(f"(a) regions; window {window} of {nW}", "heatmap", z=data["labels"],
                  categories=palette.REGION_CATEGORIES, category_colors=list(palette.REGION_COLORS), show_scale=False,
                  rects=map_rects, labels=data["region_labels"], hovertext=data["hover"],
                  hover="token (%{y}, %{x}): region %{z}<extra></extra>",
                  x_label="token column (numbers: region)", y_label="token row"),
            Panel(f"(b) mask of window {window}", "heatmap", z=data["blocked"][window], categories=MASK_CATEGORIES,
                  category_colors=list(palette.MASK_COLORS), colorbar="mask", rects=[Rect(query, 0, query + 1, N,
                  "highlight")], x_label=f"key (0..{N - 1})", y_label=f"query (0..{N - 1})",
                  hover="query %{y}, key %{x}: %{z} (1 = masked)<extra></extra>"),
            Panel(f"(c) keys query {query} may attend to", "heatmap", z=blocked_row.reshape(M, M),
                  categories=MASK_CATEGORIES, category_colors=list(palette.MASK_COLORS), show_scale=False,
                  rects=[*region_rects, query_rect], labels=key_labels, x_label="key column (numbers: region)",
                  y_label="key row", hover="key (%{y}, %{x}): %{z} (1 = masked)<extra></extra>"),
            Panel(f"(d) attention of query {query}, mask {'on' if mask else 'off'}", "heatmap", z=shown,
                  colorscale=palette.SEQUENTIAL, zmin=0.0, zmax=zmax, colorbar="attention probability",
                  rects=[*region_rects, query_rect], x_label="key column", y_label="key row",
                  hover="key (%{y}, %{x}): probability %{z:.3f}<extra></extra>"),
        ],
    )  # fmt: skip


def mask_clamp(state: State) -> tuple[State, str]:
    """Unknown preset -> the default; window, query and head into range for the chosen map. Says what changed."""
    state = dict(state)
    notes = []
    if state["preset"] not in PRESETS:
        notes.append(f"Unknown preset {state['preset']!r}: using {DEFAULT_PRESET!r}.")
        state["preset"] = DEFAULT_PRESET
    for name, (lo, hi) in mask_limits(state).items():
        v = int(state[name])
        if not lo <= v <= hi:
            new = min(max(v, lo), hi)
            notes.append(f"{name}={v} is outside {lo}..{hi} for this map: using {new}.")
            v = new
        state[name] = v
    state["mask"] = bool(state["mask"])
    return state, " ".join(notes)


def mask_limits(state: State) -> dict[str, tuple[int, int]]:
    """Ranges that depend on the map: window ``0..nW-1``, query ``0..M*M-1``, head ``0..BLOCK_HEADS-1``."""
    H, W, M, _ = PRESETS.get(state["preset"], PRESETS[DEFAULT_PRESET])
    return {"window": (0, (H // M) * (W // M) - 1), "query": (0, M * M - 1), "head": (0, BLOCK_HEADS - 1)}


def mask_explorer(
    preset: str = DEFAULT_PRESET, window: int = 3, query: int = 24, head: int = 0, mask: bool = True
) -> Explorer:
    """A preset, window/query/head sliders and the mask on/off toggle; block outputs cached per map.

    The cache is ``explorer.cache`` (``{(H, W, M, s): data}``).
    """
    import ipywidgets as widgets

    controls = {
        "preset": widgets.Dropdown(options=list(PRESETS), value=preset, description="map"),
        "window": widgets.IntSlider(value=window, min=0, max=63, description="window"),
        "query": widgets.IntSlider(value=query, min=0, max=63, description="query"),
        "head": widgets.IntSlider(value=head, min=0, max=BLOCK_HEADS - 1, description="head"),
        "mask": widgets.ToggleButtons(options=[("mask on", True), ("mask off (hook)", False)], value=mask,
                                      description="SW-MSA"),
    }  # fmt: skip
    cache: dict = {}
    explorer = Explorer(controls, partial(mask_spec, cache=cache), mask_clamp, limits=mask_limits,
                        title="Shifted-window attention mask")  # fmt: skip
    explorer.cache = cache
    return explorer


STATIC_STATES = [
    dict(preset="paper 8x8, M=4, s=2", window=3, query=5, head=0, mask=True),
    dict(preset="paper 8x8, M=4, s=2", window=3, query=5, head=0, mask=False),
    dict(preset="Swin-T stage 3: 14x14, M=7, s=3", window=3, query=24, head=0, mask=True),
    dict(preset="Swin-T stage 3: 14x14, M=7, s=3", window=3, query=24, head=0, mask=False),
    dict(preset="Swin-T stage 3: 14x14, M=7, s=3", window=1, query=10, head=1, mask=True),
    dict(preset="Swin-T stage 3: 14x14, M=7, s=3", window=1, query=10, head=1, mask=False),
    dict(preset="Swin-T stage 2: 28x28, M=7, s=3", window=5, query=24, head=0, mask=True),
    dict(preset="Swin-T stage 2: 28x28, M=7, s=3", window=15, query=48, head=0, mask=False),
]
"""Window 3 of 8x8 / 14x14 mixes four regions, window 1 two; window 5 of 28x28 is interior (one region)."""

BENCH_CHANGES: list[dict] = [
    dict(query=0), dict(window=0), dict(window=3, query=48), dict(mask=False), dict(head=1), dict(query=30),
    dict(preset="paper 8x8, M=4, s=2"), dict(query=40), dict(preset="Swin-T stage 2: 28x28, M=7, s=3"),
    dict(window=15, mask=True), dict(preset="Swin-T stage 1: 56x56, M=7, s=3", window=63),
    dict(preset="Swin-T stage 3: 14x14, M=7, s=3", window=99),
]  # fmt: skip
"""Control changes replayed by the latency benchmark (three change the map; the last one is clamped)."""


def mask_static(states: list[State] | None = None) -> go.Figure:
    """Kernel-free version: a slider over a few (map, window, query, head, mask) choices; one block run per map."""
    states = states or STATIC_STATES
    cache: dict = {}
    labels = [f"{st['preset'].split(':')[0].split(',')[0]} w{st['window']} q{st['query']} h{st['head']} "
              f"mask {'on' if st['mask'] else 'off'}" for st in states]  # fmt: skip
    return static_figure(partial(mask_spec, cache=cache), states, labels, "map, window, query, head, mask")
