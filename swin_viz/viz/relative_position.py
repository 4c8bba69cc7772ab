"""Relative position bias explorer: one ``(2M-1)^2`` table per head, spread over ``M^4`` query/key pairs.

Four panels, for a window of ``M x M`` tokens, a chosen query token and a chosen head:

(a) the ``(M^2, M^2)`` index of :func:`swin_viz.relative_position_index` -- which table row each
    query/key pair reads (the chosen query's row outlined);
(b) the offset ``(dy, dx) = position(query) - position(key)`` of every key (:func:`swin_viz.relative_offsets`)
    as an ``M x M`` grid, coloured by the table row it reads, the query outlined;
(c) the bias this query adds to its attention logits, ``(M, M)`` -- row ``query`` of
    :class:`swin_viz.RelativePositionBias`'s ``(heads, M^2, M^2)`` output for the head;
(d) the head's table itself, ``(2M-1) x (2M-1)`` indexed by ``(dy, dx)``, with the ``M x M`` block of
    entries the query reads outlined.

By default the table is a trained model's: block ``path`` (``"stage1.block0"``) of the small Swin the package
ships (``source="digits-small"``, :func:`swin_viz.pretrained.load_pretrained`, trained on scikit-learn's digits;
``M`` up to its window, 4), named in the caption with its validation top-1. ``source`` may instead be your own
:class:`~swin_viz.SwinTransformer` (with ``path``) or a ``RelativePositionBias``, ``table`` a
``((2M-1)^2, heads)`` tensor; ``source="random"`` (or ``None``) draws a seeded random (untrained)
``RelativePositionBias(M, heads)`` for any ``M`` up to 12. A window smaller than the table's ``M`` reads the
centre of the table, exactly as the model does on a small map.

``BENCH_CHANGES`` lists the control changes the latency benchmark replays.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import plotly.graph_objects as go
import torch
from torch import nn

from ..relative_position import RelativePositionBias, relative_offsets, relative_position_index
from . import palette
from .explorer import Explorer, State, static_figure
from .sources import DEFAULT_SOURCE, resolve_source
from .spec import FigureSpec, Label, Panel, Rect

__all__ = [
    "BENCH_CHANGES",
    "STATIC_STATES",
    "bias_from_table",
    "random_bias",
    "relative_position_clamp",
    "relative_position_explorer",
    "relative_position_spec",
    "relative_position_static",
]

M_RANGE = (2, 12)
RANDOM_M = 7  # the random table's default window
RANDOM_SOURCES = (None, "random")
MAX_OFFSET_LABELS_M = 7  # "dy,dx" labels on panel (b) up to 7 x 7 = 49 cells


@functools.lru_cache(maxsize=64)
def random_bias(M: int, heads: int = 3, seed: int = 0) -> RelativePositionBias:
    """A seeded random (untrained) ``RelativePositionBias(M, heads)``: table ``((2M-1)^2, heads)``, std 0.02.

    Built under a forked RNG, so drawing a figure never changes the caller's random stream.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return RelativePositionBias(M, heads).eval()


def bias_from_table(table: torch.Tensor) -> RelativePositionBias:
    """Wrap a ``((2M-1)^2, heads)`` table (e.g. learned weights) in a ``RelativePositionBias`` (M read off the rows)."""
    if table.dim() != 2:
        raise ValueError(f"a bias table is ((2M-1)^2, heads), got shape {tuple(table.shape)}")
    side = math.isqrt(table.shape[0])
    if side * side != table.shape[0] or side % 2 == 0:
        raise ValueError(f"a bias table has (2M-1)^2 rows (an odd square), got {table.shape[0]}")
    with torch.random.fork_rng(devices=[]):
        module = RelativePositionBias((side + 1) // 2, table.shape[1]).eval()
    with torch.no_grad():
        module.table.copy_(table.detach().to(module.table.dtype))
    return module


@functools.lru_cache(maxsize=32)
def _window_tables(M: int, Mt: int) -> tuple[np.ndarray, torch.Tensor, torch.Tensor, int]:
    """Library outputs that depend only on the window sizes (cached: a slider move must not recompute them).

    ``(index (N, N) as numpy, index (N, N), offsets (N, N, 2), distinct rows used)`` for an ``M x M`` window
    reading a table built for ``Mt``.
    """
    index = relative_position_index(M, table_size=Mt)
    return index.numpy(), index, relative_offsets(M), int(index.unique().numel())


@functools.lru_cache(maxsize=16)
def _table_layout(Mt: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Where each pair of a full ``Mt x Mt`` window sits in the ``(2Mt-1, 2Mt-1)`` offset grid, and its table row."""
    return relative_offsets(Mt).reshape(-1, 2) + (Mt - 1), relative_position_index(Mt).reshape(-1)


def _is_random(source: nn.Module | str | None, table: torch.Tensor | None) -> bool:
    """Whether the figure draws the seeded random table (whose ``M`` is free), not given weights."""
    return table is None and (source is None or (isinstance(source, str) and source in RANDOM_SOURCES))


def _resolve(
    M: int, heads: int, source: nn.Module | str | None, path: str, table: torch.Tensor | None, seed: int
) -> tuple[RelativePositionBias, str]:
    """The bias module to read, and where its numbers come from (for the caption)."""
    if table is not None:
        return bias_from_table(table), "table passed in"
    if isinstance(source, RelativePositionBias):
        return source, "table passed in"
    if _is_random(source, table):
        return random_bias(M, heads, seed), f"random (untrained) table, seed {seed}"
    origin = f"table of {path}"
    if isinstance(source, str):
        found = resolve_source(source)  # a shipped checkpoint's name ("random" is drawn above); raises if unknown
        origin = f"table of {path}, {found.label}"
        source = found.model
    try:
        module = source.get_submodule(path).attn.relative_bias
    except AttributeError as exc:
        raise ValueError(f"{path!r} is not a Swin block of the model (try 'stage1.block0'): {exc}") from exc
    return module, origin


def _defaults(
    M: int | None, query: int | None, heads: int, source: nn.Module | str | None, path: str, table: torch.Tensor | None
) -> tuple[int, int]:
    """``M`` (``None``: the table's own window, 7 for the random table), ``query`` (``None``: the window's centre)."""
    if M is None:
        M = RANDOM_M if _is_random(source, table) else _resolve(RANDOM_M, heads, source, path, table, 0)[0].window_size
    return M, (M // 2) * M + M // 2 if query is None else query


def relative_position_spec(
    M: int | None = None,
    query: int | None = None,
    head: int = 0,
    heads: int = 3,
    source: nn.Module | str | None = DEFAULT_SOURCE,
    path: str = "stage1.block0",
    table: torch.Tensor | None = None,
    seed: int = 0,
) -> FigureSpec:
    """Index ``(M^2, M^2)``, the query's offsets and bias ``(M, M)``, and the head's ``(2Mt-1, 2Mt-1)`` table.

    The table is block ``path``'s in ``source``: the shipped trained checkpoint by default (a name of
    :data:`swin_viz.pretrained.PRETRAINED`), a model of yours, or a ``RelativePositionBias``; or ``table``;
    ``source="random"`` (or ``None``) is a seeded random table of ``heads`` heads. ``Mt`` is the window the table
    was built for (``M`` when random). ``M <= Mt`` (``None``: ``Mt``, 7 when random), ``0 <= query < M^2``
    (``None``: the window's centre) and ``0 <= head < heads`` (see :func:`relative_position_clamp`).
    """
    M, query = _defaults(M, query, heads, source, path, table)
    module, origin = _resolve(M, heads, source, path, table, seed)
    Mt, H = module.window_size, module.num_heads
    N = M * M
    if not 1 <= M <= Mt:
        raise ValueError(f"window M={M} must be between 1 and the table's M={Mt}")
    if not 0 <= query < N:
        raise ValueError(f"query {query} must be in 0..{N - 1} for M={M}")
    if not 0 <= head < H:
        raise ValueError(f"head {head} must be in 0..{H - 1}")

    # index (N, N): table row of each query/key pair; offsets (N, N, 2): (dy, dx) = query - key
    index_np, index, offsets, distinct = _window_tables(M, Mt)
    with torch.no_grad():
        bias = module((M, M))[head, query].reshape(M, M).numpy()  # what lands on this query's logits
        values = module.table[:, head].detach()  # ((2Mt-1)^2,)
    rows = values.shape[0]
    qr, qc = divmod(query, M)

    # The table as a (dy, dx) grid: every pair of a full Mt x Mt window writes its entry at its offset, so the
    # grid is laid out by the library's own index (each offset appears, all pairs with it agree).
    side = 2 * Mt - 1
    full_off, full_index = _table_layout(Mt)
    grid = torch.empty(side, side, dtype=values.dtype)
    grid[full_off[:, 0], full_off[:, 1]] = values[full_index]
    grid_np = grid.numpy()
    scale = float(np.abs(grid_np).max()) or 1.0

    q_index = index[query].reshape(M, M).numpy()
    q_off = offsets[query].reshape(M, M, 2).numpy()
    off_list = q_off.tolist()
    idx_list = q_index.tolist()
    bias_list = bias.tolist()
    keys = [(r, c) for r in range(M) for c in range(M)]
    off_text = {(r, c): f"{off_list[r][c][0]},{off_list[r][c][1]}" for r, c in keys}
    offset_hover = np.array([[f"key ({r}, {c}): (dy, dx) = ({off_text[r, c]}) -> table row {idx_list[r][c]}"
                              for c in range(M)] for r in range(M)])  # fmt: skip
    bias_hover = np.array([[f"key ({r}, {c}), offset ({off_text[r, c]}): bias {bias_list[r][c]:+.4f}"
                            for c in range(M)] for r in range(M)])  # fmt: skip
    dark = rows / 2  # viridis is dark below the middle: white labels there
    offset_labels = [Label(r, c, off_text[r, c], palette.BACKGROUND if idx_list[r][c] < dark else palette.FONT_COLOR,
                           size=8 if M > 5 else 10)
                     for r, c in keys] if M <= MAX_OFFSET_LABELS_M else []  # fmt: skip

    # Entries this query reads: its M x M offsets, a block of the (dy, dx) grid.
    used = q_off.reshape(-1, 2) + (Mt - 1)
    (r0, c0), (r1, c1) = used.min(0).tolist(), used.max(0).tolist()
    table_rects = [Rect(r0, c0, r1 + 1, c1 + 1, "highlight")]
    if Mt > M:  # offsets an M x M window can produce: the centre (2M-1)^2 of the table
        table_rects.append(Rect(Mt - M, Mt - M, Mt + M - 1, Mt + M - 1, "dashed"))
    ticks = [str(d) for d in range(-(Mt - 1), Mt)]
    grid_hover = np.array([[f"(dy, dx) = ({dy}, {dx}): {grid_np[i, j]:+.4f}" for j, dx in enumerate(ticks)]
                           for i, dy in enumerate(ticks)])  # fmt: skip
    small = f"; M={M} < table M={Mt}: the window reads the table's centre (dashed)" if Mt > M else ""
    caption = (
        f"{origin}, head {head} of {H}. (2*{Mt}-1)^2 = {rows} numbers per head fill {M}^2 x {M}^2 = {index.numel()} "
        f"bias entries ({distinct} distinct rows used){small}"
    )
    cell = [Rect(qr, qc, qr + 1, qc + 1, "highlight")]
    return FigureSpec(
        title=f"Relative position bias: M={M}, query {query} at ({qr}, {qc}), head {head}",
        caption=caption,
        height=460,
        panels=[
            Panel("(a) table row per query/key pair", "heatmap", z=index_np, colorscale=palette.SEQUENTIAL,
                  zmin=0, zmax=rows - 1, colorbar="table row", rects=[Rect(query, 0, query + 1, N, "highlight")],
                  hover="query %{y}, key %{x}: table row %{z}<extra></extra>",
                  x_label="key token (row by row)", y_label="query token"),
            Panel(f"(b) offsets (dy, dx) from query {query}", "heatmap", z=q_index, colorscale=palette.SEQUENTIAL,
                  zmin=0, zmax=rows - 1, colorbar="table row", labels=offset_labels, rects=cell,
                  hovertext=offset_hover, x_label="key column", y_label="key row"),
            Panel(f"(c) bias on query {query}'s logits", "heatmap", z=bias, colorscale=palette.DIVERGING,
                  zmin=-scale, zmax=scale, zmid=0, colorbar="bias", rects=cell, hovertext=bias_hover,
                  x_label="key column", y_label="key row"),
            Panel(f"(d) the head's {side} x {side} table", "heatmap", z=grid_np, colorscale=palette.DIVERGING,
                  zmin=-scale, zmax=scale, zmid=0, colorbar="bias", rects=table_rects, hovertext=grid_hover,
                  x_ticks=ticks, y_ticks=ticks, x_label="dx (query - key)", y_label="dy (query - key)"),
        ],
    )  # fmt: skip


def relative_position_clamp(state: State, max_M: int = M_RANGE[1], heads: int = 3) -> tuple[State, str]:
    """Keep ``M`` in ``2..max_M``, the query inside the window and the head among ``heads``; say what changed."""
    state = dict(state)
    notes = []
    lo = min(M_RANGE[0], max_M)
    M = int(state["M"])
    if not lo <= M <= max_M:
        state["M"] = min(max(M, lo), max_M)
        why = f" (the table was built for M={max_M})" if max_M < M_RANGE[1] else ""
        notes.append(f"M={M} is outside {lo}..{max_M}{why}: using M={state['M']}.")
    N = state["M"] ** 2
    q = int(state["query"])
    if not 0 <= q < N:
        state["query"] = min(max(q, 0), N - 1)
        notes.append(f"query {q} is outside the {state['M']} x {state['M']} window (0..{N - 1}): "
                     f"using {state['query']}.")  # fmt: skip
    h = int(state["head"])
    if not 0 <= h < heads:
        state["head"] = min(max(h, 0), heads - 1)
        notes.append(f"head {h} does not exist ({heads} heads, 0..{heads - 1}): using head {state['head']}.")
    return state, " ".join(notes)


def relative_position_explorer(
    M: int | None = None,
    query: int | None = None,
    head: int = 0,
    heads: int = 3,
    source: nn.Module | str | None = DEFAULT_SOURCE,
    path: str = "stage1.block0",
    table: torch.Tensor | None = None,
) -> Explorer:
    """Sliders for M, the query token and the head, on the shipped trained model's block ``path`` by default.

    ``source``/``path`` or ``table`` supply other weights (the M slider then stops at their window);
    ``source="random"`` is a seeded random table for any M up to 12.
    """
    import ipywidgets as widgets

    max_M = M_RANGE[1]
    random = _is_random(source, table)
    M, query = _defaults(M, query, heads, source, path, table)
    if not random:  # fail early on a bad source, not at the first draw
        fixed, _ = _resolve(M, heads, source, path, table, 0)
        heads, max_M = fixed.num_heads, fixed.window_size
    render = functools.partial(relative_position_spec, heads=heads, source=source, path=path, table=table)
    clamp = functools.partial(relative_position_clamp, max_M=max_M, heads=heads)
    for m in range(min(M_RANGE[0], max_M), max_M + 1):  # warm the caches: a later M change is only drawing
        _window_tables(m, m if random else max_M)
        if random:
            random_bias(m, heads)

    def limits(state: State) -> dict[str, tuple[int, int]]:
        return {"M": (min(M_RANGE[0], max_M), max_M), "query": (0, state["M"] ** 2 - 1), "head": (0, heads - 1)}

    controls = {
        "M": widgets.IntSlider(value=M, min=min(M_RANGE[0], max_M), max=max_M, description="window M"),
        "query": widgets.IntSlider(value=query, min=0, max=max(M * M - 1, 0), description="query token"),
        "head": widgets.IntSlider(value=head, min=0, max=heads - 1, description="head"),
    }
    return Explorer(controls, render, clamp, limits=limits, title="Relative position bias")


BENCH_CHANGES: list[dict] = [
    dict(query=0), dict(query=15), dict(head=1), dict(head=0), dict(M=3, query=4), dict(M=2, query=3),
    dict(query=0), dict(M=4, query=10), dict(head=1), dict(M=4, query=5),
]  # fmt: skip
"""Control changes the latency benchmark replays on the default explorer (the shipped model: M <= 4, 2 heads)."""

STATIC_STATES = [dict(M=4, query=10, head=0), dict(M=4, query=0, head=0), dict(M=4, query=15, head=1),
                 dict(M=4, query=5, head=1), dict(M=3, query=4, head=0), dict(M=2, query=0, head=1)]  # fmt: skip
"""The static figure's steps, for the default source (stage 1 of the shipped model: window 4, 2 heads)."""


def relative_position_static(
    states: list[State] | None = None,
    source: nn.Module | str | None = DEFAULT_SOURCE,
    path: str = "stage1.block0",
    table: torch.Tensor | None = None,
) -> go.Figure:
    """Kernel-free version: a slider over a few (M, query, head) choices, of the shipped model's table by default.

    ``states`` default to :data:`STATIC_STATES` (for the default source); give your own for other sources.
    """
    states = states or STATIC_STATES
    labels = [f"M={s['M']}, query {s['query']}, head {s['head']}" for s in states]
    render = functools.partial(relative_position_spec, source=source, path=path, table=table)
    return static_figure(render, states, labels, "window, query, head")
