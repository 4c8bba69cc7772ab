"""Explorer 3 -- the cyclic shift: why Swin rolls the map instead of padding the shifted windows.

Three ``H x W`` token maps side by side, every token coloured by the region it belongs to (regions 0-8 of
:func:`swin_viz.region_labels`), so a colour follows its token wherever the roll takes it:

* (a) the *naive* shifted partition: the window grid displaced by ``s`` cuts each axis at ``s, s+M, ...`` and
  yields more windows, some smaller than ``M x M`` (9 instead of 4 for 8x8, M=4);
* (b) the map after :func:`swin_viz.cyclic_shift`: the regular ``M x M`` grid again; the top strip (B), the
  left strip (C) and their corner (A) -- the areas of the paper's Fig. 4 -- wrapped round to the bottom/right;
* (c) the map after :func:`swin_viz.reverse_cyclic_shift`: every token back in place.

Small maps (``H*W <= 64``) label every token with its original index. ``BENCH_CHANGES`` lists control changes
a latency benchmark replays (``ex = shift_explorer(); [ex.set(**c) for c in BENCH_CHANGES]``).
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import plotly.graph_objects as go
import torch

from ..shift import cyclic_shift, region_labels, reverse_cyclic_shift
from ..windows import effective_window, window_reverse
from . import palette
from .explorer import Explorer, State, static_figure
from .spec import FigureSpec, Label, Panel, Rect

__all__ = ["BENCH_CHANGES", "STATIC_STATES", "shift_clamp", "shift_explorer", "shift_spec", "shift_static"]

MAX_SIDE = 28
"""Largest H or W the explorer offers (rounded down to a multiple of M)."""
M_RANGE = (2, 8)
MAX_TOKEN_LABELS = 64
"""Label every token with its original index when the map has at most this many tokens."""


def _naive_cuts(size: int, window: int, shift: int) -> list[int]:
    """Borders of the naive shifted partition along one axis: ``0, s, s+M, s+2M, ..., size`` (empty pieces dropped)."""
    return sorted({0, size} | {c for c in range(shift, size, window) if c > 0})


def _area_boxes(area_map: np.ndarray) -> dict[str, tuple[int, int, int, int]]:
    """``{letter: (r0, c0, r1, c1)}`` of areas 1, 2, 3 (A, B, C) of an ``(H, W)`` area map (each a rectangle)."""
    boxes = {}
    for k, letter in enumerate("ABC", start=1):
        rows, cols = np.nonzero(area_map == k)
        if rows.size:
            boxes[letter] = (int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1)
    return boxes


def _area_overlay(boxes: dict[str, tuple[int, int, int, int]], H: int, W: int) -> tuple[list[Rect], list[Label]]:
    """Dashed outlines of the A/B/C areas, and their letters (AREA_COLORS) just outside the map, next to them."""
    rects, labels = [], []
    for letter, (r0, c0, r1, c1) in boxes.items():
        rects.append(Rect(r0, c0, r1, c1, "dashed"))
        if letter == "C":  # a strip along a vertical edge: letter left/right of the map
            row, col = (r0 + r1 - 1) / 2, (-1 if c0 == 0 else W)
        else:  # the top/bottom strip and its corner: letter above/below the map
            row, col = (-1 if r0 == 0 else H), (c0 + c1 - 1) / 2
        labels.append(Label(row, col, letter, color=palette.AREA_COLORS[letter], size=14))
    return rects, labels


def shift_spec(H: int = 8, W: int = 8, M: int = 4, s: int = 2) -> FigureSpec:
    """Naive shifted windows, the cyclically shifted map, and the map rolled back; all ``(H, W)`` heatmaps.

    Every cell's colour is the region (0-8) of the token that sits there, computed by
    :func:`swin_viz.region_labels` on the shifted map and carried to the tokens by the library's rolls.
    """
    (Mh, Mw), (sh, sw) = effective_window(H, W, M, s)
    ids = torch.arange(H * W).view(1, H, W, 1)  # token identities, (1, H, W, 1)
    shifted_ids = cyclic_shift(ids, (sh, sw))  # which token sits at each position after the roll
    back_ids = reverse_cyclic_shift(shifted_ids, (sh, sw))  # ... and after rolling back
    labels_shifted = region_labels(H, W, (Mh, Mw), (sh, sw))  # (H, W): region of each position of (b)
    # The region travels with its token: region of token k = label of the shifted position where k sits.
    token_region = np.empty(H * W, dtype=np.int64)
    token_region[shifted_ids.flatten().numpy()] = labels_shifted.flatten().numpy()
    frames = {"a": ids[0, ..., 0].numpy(), "b": shifted_ids[0, ..., 0].numpy(), "c": back_ids[0, ..., 0].numpy()}
    z = {k: token_region[v] for k, v in frames.items()}
    restored = bool(torch.equal(back_ids, ids))

    # The A/B/C areas of the unshifted map, moved by the same roll.
    area = np.zeros((H, W), dtype=np.int64)
    area[:sh, :sw], area[:sh, sw:], area[sh:, :sw] = 1, 2, 3
    area_t = torch.from_numpy(area).view(1, H, W, 1)
    boxes_orig = _area_boxes(area)
    boxes_rolled = _area_boxes(cyclic_shift(area_t, (sh, sw))[0, ..., 0].numpy())
    boxes_back = _area_boxes(reverse_cyclic_shift(cyclic_shift(area_t, (sh, sw)), (sh, sw))[0, ..., 0].numpy())

    # (a) the naive partition: the grid displaced by s.
    row_cuts, col_cuts = _naive_cuts(H, Mh, sh), _naive_cuts(W, Mw, sw)
    naive_rects = [Rect(r0, c0, r1, c1) for r0, r1 in pairwise(row_cuts) for c0, c1 in pairwise(col_cuts)]
    n_naive = len(naive_rects)
    n_small = sum((r.r1 - r.r0, r.c1 - r.c0) != (Mh, Mw) for r in naive_rects)
    naive_row = np.searchsorted(row_cuts, np.arange(H), side="right") - 1
    naive_col = np.searchsorted(col_cuts, np.arange(W), side="right") - 1
    naive_id = naive_row[:, None] * (len(col_cuts) - 1) + naive_col[None, :]  # (H, W)

    # (b) the regular grid: the window of every position, through the library's window_reverse.
    nW = (H // Mh) * (W // Mw)
    win = window_reverse(torch.arange(nW).view(nW, 1, 1, 1).expand(nW, Mh, Mw, 1), (Mh, Mw), H, W)[0, ..., 0].numpy()
    grid_rects = [Rect(r, c, r + Mh, c + Mw) for r in range(0, H, Mh) for c in range(0, W, Mw)]
    # The window each token was attended in, carried back to the token's own position for (c).
    win_of_token = np.empty(H * W, dtype=np.int64)
    win_of_token[frames["b"].ravel()] = win.ravel()

    show_ids = H * W <= MAX_TOKEN_LABELS
    colors = list(palette.REGION_COLORS)

    def token_labels(frame: np.ndarray, zz: np.ndarray) -> list[Label]:
        if not show_ids:
            return []
        ids_l, reg_l = frame.tolist(), zz.tolist()
        return [Label(r, c, str(k), color=palette.text_color_on(colors[reg_l[r][c]]), size=9)
                for r, row in enumerate(ids_l) for c, k in enumerate(row)]  # fmt: skip

    def hover(frame: np.ndarray, where: str) -> np.ndarray:
        flat = frame.ravel().tolist()
        reg, nv, wt = token_region.tolist(), naive_id.ravel().tolist(), win_of_token.tolist()
        out = [f"({i // W}, {i % W}): token {k} from ({k // W}, {k % W}), region {reg[k]}, "
               + (f"naive window {nv[k]}" if where == "a" else f"window {wt[k]} after the roll")
               for i, k in enumerate(flat)]  # fmt: skip
        return np.array(out, dtype=object).reshape(H, W)

    rects_a, letters_a = _area_overlay(boxes_orig, H, W)
    rects_b, letters_b = _area_overlay(boxes_rolled, H, W)
    rects_c, letters_c = _area_overlay(boxes_back, H, W)
    common = dict(categories=palette.REGION_CATEGORIES, category_colors=colors, show_scale=False,
                  x_label="token column", y_label="token row")  # fmt: skip

    shifted = (sh, sw) != (0, 0)
    shift_text = str(sh) if sh == sw else f"({sh}, {sw})"
    clamp_note = ""
    if ((Mh, Mw), (sh, sw)) != ((M, M), (s, s)):  # effective_window: an axis one window long is not shifted
        clamp_note = f" (the model uses window {Mh} x {Mw}, shift ({sh}, {sw}) on this map)"
    if shifted:
        caption = (
            f"Naive: {len(row_cuts) - 1} x {len(col_cuts) - 1} = {n_naive} windows ({n_small} smaller than "
            f"{Mh} x {Mw}). Cyclic shift: {H // Mh} x {W // Mw} = {nW} windows of {Mh} x {Mw}, as without a shift. "
            + (f"Rolled back, all {H * W} tokens are in place; " if restored else "Rolled back: tokens NOT in place; ")
            + "with the mask, each attended only within its naive window (outlined)."
        )
    else:
        caption = f"No shift (W-MSA): naive and cyclic partitions are the same {_windows(nW)} of {Mh} x {Mw}."
    return FigureSpec(
        title=f"Cyclic shift: {H} x {W} tokens, M={M}, s={s}{clamp_note}",
        caption=caption,
        height=460,
        panels=[
            Panel(f"(a) naive shift by {shift_text}: {_windows(n_naive)}", "heatmap", z=z["a"],
                  rects=naive_rects + rects_a,
                  labels=token_labels(frames["a"], z["a"]) + letters_a, hovertext=hover(frames["a"], "a"), **common),
            Panel(f"(b) cyclic_shift: {_windows(nW)} of {Mh}x{Mw}", "heatmap", z=z["b"], rects=grid_rects + rects_b,
                  labels=token_labels(frames["b"], z["b"]) + letters_b, hovertext=hover(frames["b"], "b"), **common),
            Panel("(c) reverse_cyclic_shift: back in place", "heatmap", z=z["c"], rects=naive_rects + rects_c,
                  labels=token_labels(frames["c"], z["c"]) + letters_c, hovertext=hover(frames["c"], "c"), **common),
        ],
    )  # fmt: skip


def _windows(n: int) -> str:
    return f"{n} window" if n == 1 else f"{n} windows"


def _round_to_multiple(value: int, m: int, hi: int) -> int:
    return int(min(max(m, round(value / m) * m), hi))


def shift_clamp(state: State) -> tuple[State, str]:
    """M to 2..8; H and W to multiples of M in ``[M, MAX_SIDE]``; s to ``0..M//2``. Says what changed."""
    state = dict(state)
    notes = []
    M = int(state["M"])
    if not M_RANGE[0] <= M <= M_RANGE[1]:
        M = min(max(M, M_RANGE[0]), M_RANGE[1])
        notes.append(f"M={state['M']} is outside {M_RANGE[0]}..{M_RANGE[1]}: using M={M}.")
    hi = MAX_SIDE // M * M
    for axis in ("H", "W"):
        v = int(state[axis])
        new = _round_to_multiple(v, M, hi)
        if new != v:
            why = f"not a multiple of M={M}" if v % M else f"outside {M}..{hi}"
            notes.append(f"{axis}={v} is {why}: using {axis}={new}.")
        state[axis] = new
    s = int(state["s"])
    if not 0 <= s <= M // 2:
        new = min(max(s, 0), M // 2)
        notes.append(f"s={s} is outside 0..M//2={M // 2} for M={M}: using s={new}.")
        s = new
    state["M"], state["s"] = M, s
    for axis in ("H", "W"):
        if state[axis] == M and s:
            notes.append(f"{axis}={M} is a single window: the model does not shift along it (effective_window).")
    return state, " ".join(notes)


def shift_limits(state: State) -> dict[str, tuple[int, ...]]:
    """Slider ranges that depend on M: s in ``0..M//2``, H and W in ``M..MAX_SIDE`` by steps of M."""
    M = state["M"]
    hi = MAX_SIDE // M * M
    return {"s": (0, M // 2), "H": (M, hi, M), "W": (M, hi, M)}


def shift_explorer(H: int = 8, W: int = 8, M: int = 4, s: int = 2) -> Explorer:
    """Sliders for the map size, the window and the shift (H and W step by M)."""
    import ipywidgets as widgets

    controls = {
        "H": widgets.IntSlider(value=H, min=M, max=MAX_SIDE, step=M, description="H (rows)"),
        "W": widgets.IntSlider(value=W, min=M, max=MAX_SIDE, step=M, description="W (cols)"),
        "M": widgets.IntSlider(value=M, min=M_RANGE[0], max=M_RANGE[1], description="window M"),
        "s": widgets.IntSlider(value=s, min=0, max=M // 2, description="shift s"),
    }
    # H and W step by M: shift_limits sets step, range and value together, so the front-end never snaps them.
    return Explorer(controls, shift_spec, shift_clamp, limits=shift_limits, title="Cyclic shift")


STATIC_STATES = [dict(H=8, W=8, M=4, s=2), dict(H=8, W=8, M=4, s=1), dict(H=8, W=8, M=4, s=0),
                 dict(H=14, W=14, M=7, s=3), dict(H=12, W=16, M=4, s=2), dict(H=28, W=28, M=7, s=3),
                 dict(H=6, W=6, M=2, s=1)]  # fmt: skip
"""The static explorer's steps; it opens on the paper's shifted example (s = 2), the state that teaches."""

BENCH_CHANGES: list[dict] = [
    dict(s=1), dict(s=0), dict(s=2), dict(H=16), dict(W=12), dict(M=7, H=14, W=14, s=3), dict(H=28, W=28),
    dict(s=1), dict(M=2), dict(M=4, H=8, W=8, s=2), dict(s=9),
]  # fmt: skip
"""Control changes replayed by the latency benchmark (the last one is clamped)."""


def shift_static(states: list[State] | None = None) -> go.Figure:
    """Kernel-free version: a slider over a few (H, W, M, s) choices."""
    states = states or STATIC_STATES
    labels = [f"{st['H']}x{st['W']}, M={st['M']}, s={st['s']}" for st in states]
    return static_figure(shift_spec, states, labels, "map, window, shift")
