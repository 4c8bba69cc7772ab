"""Explorer 2 -- window partition: which window each token falls in, and the batch the code sees.

Left: the ``H x W`` token map coloured by window (padding, if the window does not divide the map, in grey).
Right: the same tokens after :func:`swin_viz.window_partition`, one row per window -- the batch axis of
window attention -- and one column per token of the window.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import torch

from ..windows import effective_window, pad_to_window, window_partition, window_reverse
from . import palette
from .explorer import Explorer, State, static_figure
from .spec import FigureSpec, Label, Panel, Rect

__all__ = ["windows_clamp", "windows_explorer", "windows_spec", "windows_static"]

MAX_LABELS = 100  # more window numbers than this would cover the map


def windows_spec(H: int = 14, W: int = 14, M: int = 7) -> FigureSpec:
    """Token map coloured by window, and the ``(nW, M*M)`` layout the attention sees."""
    (Mh, Mw), _ = effective_window(H, W, M, 0)
    # Every token carries its position; the library moves it exactly as the model moves features.
    pos = torch.stack(torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij"), -1).float()  # (H, W, 2)
    padded, (ph, pw) = pad_to_window(pos[None] + 1, (Mh, Mw))  # +1: padding stays 0
    Hp, Wp = padded.shape[1:3]
    windows = window_partition(padded, (Mh, Mw)).reshape(-1, Mh * Mw, 2)  # (nW, N, 2)
    nW = windows.shape[0]
    is_pad = windows.sum(-1) == 0  # (nW, N)

    window_id = torch.arange(nW)[:, None].expand(nW, Mh * Mw)
    batch_z = torch.where(is_pad, nW, window_id).numpy()  # category nW = padding
    grid_cols = Wp // Mw
    # The window of each token, by sending window ids back through the library's inverse.
    ids = window_reverse(torch.arange(nW).view(nW, 1, 1, 1).expand(nW, Mh, Mw, 1), (Mh, Mw), Hp, Wp)[0, ..., 0]
    map_z = ids.numpy().copy()
    map_z[H:, :] = nW
    map_z[:, W:] = nW
    colors = [palette.window_color(i) for i in range(nW)] + [palette.PAD_COLOR]
    categories = [f"window {i}" for i in range(nW)] + ["padding"]

    rects = [Rect(r * Mh, c * Mw, (r + 1) * Mh, (c + 1) * Mw) for r in range(Hp // Mh)
             for c in range(grid_cols)]  # fmt: skip
    labels = [Label((r + 0.5) * Mh - 0.5, (c + 0.5) * Mw - 0.5, str(r * grid_cols + c)) for r in range(Hp // Mh)
              for c in range(grid_cols)] if nW <= MAX_LABELS else []  # fmt: skip
    origin = (windows.long() - 1).tolist()  # (nW, N, 2) original (row, col), -1 for padding
    pad = is_pad.tolist()
    hover = np.array([[f"window {w}, token {n}: " + ("padding" if pad[w][n] else f"map ({rc[0]}, {rc[1]})")
                       for n, rc in enumerate(row)] for w, row in enumerate(origin)])  # fmt: skip
    map_ids = map_z.tolist()
    map_hover = np.array([[f"token ({r}, {c}) -> window {w}" if w < nW else "padding" for c, w in enumerate(row)]
                          for r, row in enumerate(map_ids)])  # fmt: skip
    pad_note = f", padded by ({ph}, {pw}) to {Hp} x {Wp}" if ph or pw else ""
    window_note = f" (clamped from M={M}: the map is no larger than a window)" if (Mh, Mw) != (M, M) else ""
    return FigureSpec(
        title=f"Window partition: {H} x {W} tokens, {Mh} x {Mw} windows{window_note}",
        caption=f"{nW} windows of {Mh * Mw} tokens{pad_note}; the right panel is window_partition's output",
        panels=[
            Panel("Token map, coloured by window", "heatmap", z=map_z, categories=categories,
                  category_colors=colors, show_scale=False, rects=rects, labels=labels, hovertext=map_hover,
                  x_label="token column", y_label="token row"),
            Panel("What attention sees: one row per window", "heatmap", z=batch_z, categories=categories,
                  category_colors=colors, show_scale=False, hovertext=hover, square=False,
                  labels=[Label(w, (Mh * Mw - 1) / 2, f"window {w}", size=9) for w in range(nW)] if nW <= 16 else [],
                  x_label=f"token within the window (0..{Mh * Mw - 1}, row by row)", y_label="batch index (window)"),
        ],
    )  # fmt: skip


def windows_clamp(state: State) -> tuple[State, str]:
    """Windows larger than the map are clamped (as the model does); say so."""
    H, W, M = state["H"], state["W"], state["M"]
    notes = []
    if max(H, W) < M:
        notes.append(f"M={M} is larger than the whole {H} x {W} map: the model uses one {H} x {W} window.")
    elif min(H, W) < M:
        notes.append(f"On the axis shorter than M={M}, the model clamps the window to the map.")
    if (H % M or W % M) and min(H, W) >= M:
        notes.append(f"M={M} does not divide {H} x {W}: the map is zero-padded at the bottom/right first.")
    return state, " ".join(notes)


def windows_explorer(H: int = 14, W: int = 14, M: int = 7) -> Explorer:
    """Sliders for the map size and the window size."""
    import ipywidgets as widgets

    controls = {
        "H": widgets.IntSlider(value=H, min=1, max=64, description="H (rows)"),
        "W": widgets.IntSlider(value=W, min=1, max=64, description="W (cols)"),
        "M": widgets.IntSlider(value=M, min=1, max=16, description="window M"),
    }
    return Explorer(controls, windows_spec, windows_clamp, title="Window partition")


BENCH_CHANGES = [dict(M=4), dict(H=56, W=56, M=7), dict(M=8), dict(H=28), dict(W=20), dict(M=5), dict(H=14, W=14),
                 dict(M=7), dict(H=10, W=10), dict(M=3)]  # fmt: skip
"""Control changes the widget benchmark replays (bench/bench_widgets.py)."""

STATIC_STATES = [dict(H=14, W=14, M=7), dict(H=28, W=28, M=7), dict(H=10, W=10, M=7), dict(H=8, W=8, M=4),
                 dict(H=7, W=7, M=7), dict(H=5, W=9, M=7)]  # fmt: skip


def windows_static(states: list[State] | None = None) -> go.Figure:
    """Kernel-free version: a slider over a few (H, W, M) choices."""
    states = states or STATIC_STATES
    return static_figure(windows_spec, states, [f"{s['H']}x{s['W']}, M={s['M']}" for s in states], "map, window")
