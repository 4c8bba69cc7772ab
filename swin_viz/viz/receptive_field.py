"""Explorer -- how far information travels with and without the shift (chapter "shifted windows", paper Sec. 3.2).

A stack of four real :class:`~swin_viz.SwinBlock` s on a ``28 x 28`` map with ``M = 7`` -- once alternating
shift 0 / 3 as in the model, once never shifting, with the same weights -- and one chosen input token. An output
token is *reached* after ``k`` blocks when its features change if the chosen input token is perturbed (float64;
in shifted blocks the masked pairs carry ``exp(-100)`` of weight, far below the threshold). Each token is coloured
by the number of blocks after which it is first reached. ``reach_counts`` and ``receptive_field_stacks`` are a
probe of the library (:mod:`swin_viz.probes`); this module draws them.

``RECEPTIVE_FIELD_BENCH_CHANGES`` lists the control changes the widget benchmark (``bench/bench_widgets.py``)
replays.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ..probes import RF_DEPTH, RF_DIM, RF_SIZE, RF_WINDOW, reach_counts, receptive_field_stacks
from . import palette
from .explorer import Explorer, State, static_figure
from .spec import FigureSpec, Panel, Rect, Series
from .window_layout import window_layout, window_pieces

__all__ = [
    "RECEPTIVE_FIELD_BENCH_CHANGES",
    "RECEPTIVE_FIELD_STATIC_STATES",
    "receptive_field_clamp",
    "receptive_field_explorer",
    "receptive_field_spec",
    "receptive_field_static",
]


def _reach_hover(first: np.ndarray, k: int) -> np.ndarray:
    """``(size, size)`` hover strings: when each token is first reached, or that it is not within ``k`` blocks."""
    words = [f"reached after {j} block" + ("s" if j != 1 else "") for j in range(k + 1)]
    words[0] = "the chosen token"
    never = f"not reached in {k} block" + ("s" if k != 1 else "")
    size = first.shape[1]
    return np.array([f"token ({i // size}, {i % size}): " + (words[j] if j <= k else never)
                     for i, j in enumerate(first.ravel().tolist())]).reshape(first.shape)  # fmt: skip


def receptive_field_spec(k: int = 2, row: int = 10, col: int = 10) -> FigureSpec:
    """Tokens reached from input token ``(row, col)`` after ``k`` blocks, with and without the shift, and the
    number of tokens reached after each block. Heatmaps are ``(28, 28)``: blocks until first reached, blank when
    not reached within ``k`` blocks."""
    counts = reach_counts(row, col)
    stacks, _ = receptive_field_stacks()
    panels = []
    reached_k = {}
    for name, first in counts.items():
        z = np.where(first <= k, first, np.nan).astype(float)
        reached_k[name] = int((first <= k).sum())
        # Window outlines of block 1 (regular) and, in the shifted stack, block 2 (shifted), where the model puts them.
        rects = [Rect(*window_pieces(c)[0]) for c in window_layout(RF_SIZE, RF_SIZE, (RF_WINDOW,) * 2, (0, 0))[0]]
        shift = stacks[name][1].shift_size if RF_DEPTH > 1 else 0
        if shift:
            shifted_coords = window_layout(RF_SIZE, RF_SIZE, (RF_WINDOW,) * 2, (shift, shift))[0]
            rects += [Rect(*p, style="dashed") for c in shifted_coords for p in window_pieces(c)]
        rects.append(Rect(row, col, row + 1, col + 1, "highlight"))
        shifts = ", ".join(str(b.shift_size) for b in stacks[name])
        panels.append(Panel(
            f"{name.capitalize()} (shifts {shifts}): {reached_k[name]} tokens", "heatmap", z=z,
            colorscale=palette.SEQUENTIAL, zmin=0, zmax=RF_DEPTH, colorbar="blocks until reached (blank: not yet)",
            rects=rects, x_label="token column", y_label="token row", hovertext=_reach_hover(first, k),
        ))  # fmt: skip
    blocks = list(range(RF_DEPTH + 1))
    series = [Series(name, blocks, [int((first <= j).sum()) for j in blocks],
                     color=palette.HIGHLIGHT if name == "shifted" else palette.OUTLINE, dash=name != "shifted")
              for name, first in counts.items()]  # fmt: skip
    panels.append(Panel("Tokens reached after each block", "lines", series=series, x_label="blocks",
                        y_label="tokens reached"))  # fmt: skip
    return FigureSpec(
        title=(f"Receptive field: token ({row}, {col}) reaches {reached_k['shifted']} tokens in {k} block(s) with the "
               f"shift, {reached_k['not shifted']} without"),
        caption=(f"{RF_DEPTH} SwinBlocks (dim {RF_DIM}, random weights, the same in both), {RF_SIZE} x {RF_SIZE} map, "
                 f"M={RF_WINDOW}; reached = output changes when the token is perturbed; dashed: shifted windows"),
        panels=panels,
    )  # fmt: skip


def receptive_field_clamp(state: State) -> tuple[State, str]:
    """``k`` runs from 1 to the stack depth; the token lies on the map."""
    state = dict(state)
    notes = []
    if not 1 <= state["k"] <= RF_DEPTH:
        value = state["k"]
        state["k"] = min(max(value, 1), RF_DEPTH)
        notes.append(f"The stacks have {RF_DEPTH} blocks: k={value} clamped to {state['k']}.")
    for axis in ("row", "col"):
        value = state[axis]
        if not 0 <= value < RF_SIZE:
            state[axis] = min(max(value, 0), RF_SIZE - 1)
            notes.append(f"Token {axis} {value} is outside the {RF_SIZE} x {RF_SIZE} map: clamped to {state[axis]}.")
    return state, " ".join(notes)


def receptive_field_explorer(k: int = 2, row: int = 10, col: int = 10) -> Explorer:
    """Blocks ``k`` and the input token; each token's reach (all ``k`` at once) is computed once and cached."""
    import ipywidgets as widgets

    controls = {
        "k": widgets.IntSlider(value=k, min=1, max=RF_DEPTH, description="blocks k"),
        "row": widgets.IntSlider(value=row, min=0, max=RF_SIZE - 1, description="token row"),
        "col": widgets.IntSlider(value=col, min=0, max=RF_SIZE - 1, description="token col"),
    }
    return Explorer(controls, receptive_field_spec, receptive_field_clamp, title="How far a token reaches")


RECEPTIVE_FIELD_BENCH_CHANGES = [dict(k=1), dict(k=3), dict(k=4), dict(row=0, col=0), dict(k=2), dict(row=13, col=13),
                                 dict(k=4), dict(row=20, col=6), dict(k=1), dict(col=27)]  # fmt: skip
"""Control changes the widget benchmark replays for the receptive-field explorer."""

RECEPTIVE_FIELD_STATIC_STATES = [dict(k=1, row=10, col=10), dict(k=2, row=10, col=10), dict(k=3, row=10, col=10),
                                 dict(k=4, row=10, col=10), dict(k=4, row=0, col=0),
                                 dict(k=4, row=13, col=20)]  # fmt: skip


def receptive_field_static(states: list[State] | None = None) -> go.Figure:
    """Kernel-free version: a slider over a few (k, token) choices."""
    states = states or RECEPTIVE_FIELD_STATIC_STATES
    labels = [f"k={s['k']}, token ({s['row']}, {s['col']})" for s in states]
    return static_figure(receptive_field_spec, states, labels, "blocks, token")
