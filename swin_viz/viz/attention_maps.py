"""Explorer 8 -- attention maps on real inputs (its sibling, how far information travels with and without the
shift, is :mod:`swin_viz.viz.receptive_field`).

Each input goes through a :class:`swin_viz.SwinTransformer` once,
with :meth:`~swin_viz.SwinTransformer.run_with_cache` recording every block's ``attn.hook_probs``
``(B*nW, heads, N, N)`` (and the logits). Choosing a block, a query token and a head then only slices that
cache: the query's row of probabilities is put back on the block's ``H x W`` token map (zeros outside its
window), next to the input image with the query's patch and its window outlined in pixels (a token of stage
``s`` covers ``patch_size * 2**(s-1)`` pixels a side, ``patch_size`` read from the model's config). In a shifted
block the window is found where the model really put it: the token positions go through
:func:`~swin_viz.pad_to_window`, :func:`~swin_viz.cyclic_shift` and :func:`~swin_viz.window_partition`, so a
window that wraps round the map edge is outlined as its pieces. Where weights and inputs come from
(``source``, resolved by :func:`swin_viz.viz.sources.resolve_source`), always named on the figure:

- ``"digits-small"`` (the default): the small Swin the package ships (:func:`swin_viz.pretrained.load_pretrained`),
  trained on scikit-learn's handwritten digits, on validation digits it never trained on (32 x 32, patch 2:
  16 x 16 tokens, 4 x 4 windows, three stages). The title gives the checkpoint's validation top-1 and the
  caption what it is and its prediction for the chosen digit, all read from the checkpoint and the forward pass;
- ``"random"``: a small, seeded, *randomly initialised* Swin (4 stages, M = 7) on bundled photographs at 224,
  labelled "randomly initialised weights";
- ``model=`` (e.g. official weights a user loads), on ``images=`` (an :class:`swin_viz.data.ImageSet`), or on
  the bundled photographs at 224 when ``images`` is omitted; ``weights_label`` names the weights.

The forward passes are cached by :class:`~swin_viz.viz.attention_cache.AttentionCache`. ``BENCH_CHANGES`` lists
the control changes the widget benchmark (``bench/bench_widgets.py``) replays. Changing the input image needs one
forward pass (cached per image and weights); every other change only slices caches.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go

from ..model import SwinTransformer
from . import palette
from .attention_cache import AttentionCache, BlockInfo, cache_for
from .explorer import Explorer, State, static_figure
from .sources import DEFAULT_SOURCE, resolve_source
from .spec import FigureSpec, Panel, Rect
from .window_layout import window_layout, window_pieces

if TYPE_CHECKING:
    from .sources import ImageSet

__all__ = [
    "BENCH_CHANGES",
    "STATIC_STATES",
    "attention_maps_clamp",
    "attention_maps_explorer",
    "attention_maps_spec",
    "attention_maps_static",
]

STATIC_DISPLAY = 112
"""Largest side in pixels of the input image in the static figure (each slider step carries the image as JSON)."""


def _same_patch(value: int, old_stride: int, new_stride: int, size: int) -> int:
    """The token of a map with ``new_stride`` px tokens whose patch holds the centre of token ``value`` of the old."""
    return min((2 * value + 1) * old_stride // (2 * new_stride), size - 1)


def _weights_text(model: SwinTransformer | None, weights_label: str | None, source: str) -> tuple[str, str]:
    """``(title label, caption sentence)`` saying which weights drew the figure."""
    found = resolve_source(model if model is not None else source, weights_label)
    return found.label, found.about


def _resolve_query(cache: AttentionCache, info: BlockInfo, row: int | None, col: int | None) -> tuple[int, int]:
    """``row``/``col``, or where missing the cache's default stage-1 query moved to ``info``'s map."""
    first = next(iter(cache.blocks.values()))
    r0, c0 = cache.default_query
    row = _same_patch(r0, first.stride, info.stride, info.H) if row is None else row
    col = _same_patch(c0, first.stride, info.stride, info.W) if col is None else col
    return row, col


def _image_name(cache: AttentionCache, image: str | int | None) -> str:
    """An input's name: ``None`` is the first, an int a position in ``cache.names``."""
    if image is None:
        return cache.names[0]
    if isinstance(image, int):
        return cache.names[image]
    return image


def attention_maps_spec(
    image: str | int | None = None,
    block: str = "stage1.block1",
    row: int | None = None,
    col: int | None = None,
    head: int = 0,
    model: SwinTransformer | None = None,
    weights_label: str | None = None,
    display_size: int | None = None,
    source: str = DEFAULT_SOURCE,
    images: ImageSet | None = None,
) -> FigureSpec:
    """The input image with the query's patch, and the query's attention on the block's ``H x W`` token map.

    ``image`` names one of the inputs (``None``: the first; an int: its position in the list); ``source``,
    ``model`` and ``images`` choose weights and inputs (see the module docstring). ``row, col`` index the block's
    token map (stage ``s``: ``image_size / patch_size / 2**(s-1)`` a side; ``None``: the default query, moved to
    this stage); ``head`` one of the stage's heads. The heatmap is row ``n`` of ``attn.hook_probs[w, head]``
    (``w, n`` = the query's window and place in it, see :func:`window_layout`) scattered back to map positions:
    it sums to 1 over the window (minus what goes to padding tokens, if the window does not divide the map). The
    image is ``display_size`` pixels a side (``None``: the size the model sees); outlines are drawn in its pixels.
    When the inputs have class names the caption gives the model's prediction, from the same forward pass.
    """
    cache = cache_for(model, source, images)
    image = _image_name(cache, image)
    if image not in cache.names:
        raise ValueError(f"unknown {cache.noun} {image!r}; choose one of {list(cache.names)}")
    display_size = display_size or cache.image_size
    info = cache.blocks[block]
    row, col = _resolve_query(cache, info, row, col)
    coords, slot = window_layout(info.H, info.W, info.window, info.shift)
    w, n = (int(v) for v in slot[row, col])
    attn = cache.probs(image)[block][w, head, n]  # (N,) over the window's tokens
    window_coords = coords[w]
    valid = window_coords[:, 0] >= 0
    heat = np.zeros((info.H, info.W), dtype=np.float32)
    heat[window_coords[valid, 0], window_coords[valid, 1]] = attn[valid]
    pieces = window_pieces(window_coords)

    scale = info.stride * display_size / cache.image_size  # display pixels per token
    photo_rects = [Rect(r0 * scale, c0 * scale, r1 * scale, c1 * scale) for r0, c0, r1, c1 in pieces]
    photo_rects.append(Rect(row * scale, col * scale, (row + 1) * scale, (col + 1) * scale, "highlight"))
    map_rects = [Rect(*p) for p in pieces] + [Rect(row, col, row + 1, col + 1, "highlight")]

    label, about = _weights_text(model, weights_label, source)
    what = image
    if cache.classes is not None:
        k, p = cache.prediction(image)
        predicted, truth = cache.classes[k], cache.truth.get(image)
        verdict = "" if truth is None else (" (correct)" if predicted == truth else f" (wrong: it is {truth})")
        what = f"{image}: the model predicts {predicted} with probability {p:.3f}{verdict}"
    Mh, Mw = info.window
    pad_mass = float(attn[~valid].sum())
    if len(pieces) > 1:
        note = f"the window wraps round the map edge ({len(pieces)} pieces); the mask keeps the query in its own"
    elif pad_mass > 0:
        note = f"{pad_mass:.3f} of the attention goes to padding tokens"
    else:
        note = f"attention sums to {float(attn.sum()):.3f} over the window"
    return FigureSpec(
        title=f"Attention of query ({row}, {col}) in {block} ({info.kind}), head {head}: {label}",
        caption=(f"{what}; {info.H} x {info.W} tokens of {info.stride} px, {Mh} x {Mw} windows, "
                 f"shift {info.shift[0]}; {note}. {about}").strip(),
        panels=[
            Panel(f"{cache.noun.capitalize()}: query patch ({info.stride} px) and window", "image",
                  z=cache.photo(image, display_size), rects=photo_rects, x_label="pixel column",
                  y_label="pixel row", hover="pixel (%{y}, %{x})<extra></extra>"),
            Panel(f"Attention over {block}'s tokens", "heatmap", z=heat,
                  colorscale=palette.SEQUENTIAL, zmin=0.0, colorbar="attention probability", rects=map_rects,
                  x_label="token column", y_label="token row",
                  hover="token (%{y}, %{x}): attention %{z:.4f}<extra></extra>"),
        ],
    )  # fmt: skip


def attention_maps_clamp(
    state: State,
    model: SwinTransformer | None = None,
    previous: State | None = None,
    source: str = DEFAULT_SOURCE,
    images: ImageSet | None = None,
) -> tuple[State, str]:
    """Make (image, block, row, col, head) consistent with the model and its inputs, and say what changed.

    When only the block changed (``previous`` is the last state drawn) and it lies in another stage, the query
    moves to the token of the new stage that covers the same image pixels; otherwise an out-of-range query or
    head is clamped to the block's token map and the stage's heads.
    """
    cache = cache_for(model, source, images)
    state = dict(state)
    notes = []
    if isinstance(state["image"], int) and 0 <= state["image"] < len(cache.names):
        state["image"] = cache.names[state["image"]]
    if state["image"] not in cache.names:
        notes.append(f"Unknown {cache.noun} {state['image']!r}: showing {cache.names[0]}.")
        state["image"] = cache.names[0]
    if state["block"] not in cache.blocks:
        first = next(iter(cache.blocks))
        notes.append(f"This model has no block {state['block']!r}: showing {first}.")
        state["block"] = first
    info = cache.blocks[state["block"]]
    old = cache.blocks.get(previous["block"]) if previous else None
    moved_block = old is not None and old.stride != info.stride
    if moved_block and (state["row"], state["col"]) == (previous["row"], previous["col"]):
        # The token of the new stage whose patch contains the centre of the old query's patch.
        r = _same_patch(state["row"], old.stride, info.stride, info.H)
        c = _same_patch(state["col"], old.stride, info.stride, info.W)
        if (r, c) != (state["row"], state["col"]):
            notes.append(
                f"{state['block']} has {info.H} x {info.W} tokens of {info.stride} px: the query moved from "
                f"({state['row']}, {state['col']}) to ({r}, {c}), the token over the same image patch."
            )
        state["row"], state["col"] = r, c
    for axis, size in (("row", info.H), ("col", info.W)):
        value = state[axis]
        if not 0 <= value < size:
            state[axis] = min(max(value, 0), size - 1)
            notes.append(f"Query {axis} {value} is outside {state['block']}'s {info.H} x {info.W} token map: "
                         f"clamped to {state[axis]}.")  # fmt: skip
    if not 0 <= state["head"] < info.heads:
        value = state["head"]
        state["head"] = min(max(value, 0), info.heads - 1)
        notes.append(f"Stage {info.stage} has {info.heads} head(s): head {value} clamped to {state['head']}.")
    return state, " ".join(notes)


def attention_maps_explorer(
    model: SwinTransformer | None = None,
    weights_label: str | None = None,
    image: str | int | None = None,
    block: str = "stage1.block1",
    row: int | None = None,
    col: int | None = None,
    head: int = 0,
    display_size: int | None = None,
    source: str = DEFAULT_SOURCE,
    images: ImageSet | None = None,
) -> Explorer:
    """Input image, block, query row/col and head; only a new image (or new weights) runs the model.

    By default the shipped trained model on validation digits (``source="digits-small"``); ``source="random"``
    is the random model on photographs; ``model=`` (and ``images=``) bring your own. ``display_size`` is the side
    of the image as drawn, in pixels (``None``: the size the model sees).
    """
    import ipywidgets as widgets

    cache = cache_for(model, source, images)
    first = next(iter(cache.blocks.values()))
    most_heads = max(b.heads for b in cache.blocks.values())
    block = block if block in cache.blocks else first.name  # a Dropdown refuses unknown values
    row, col = _resolve_query(cache, cache.blocks[block], row, col)
    try:
        image = _image_name(cache, image)
    except IndexError:
        image = cache.names[0]
    image = image if image in cache.names else cache.names[0]
    controls = {
        "image": widgets.Dropdown(options=list(cache.names), value=image, description=cache.noun),
        "block": widgets.Dropdown(options=list(cache.blocks), value=block, description="block"),
        "row": widgets.IntSlider(value=row, min=0, max=max(first.H - 1, row), description="query row"),
        "col": widgets.IntSlider(value=col, min=0, max=max(first.W - 1, col), description="query col"),
        "head": widgets.IntSlider(value=head, min=0, max=max(most_heads - 1, head), description="head"),
    }
    drawn: dict[str, State] = {}

    def clamp(state: State) -> tuple[State, str]:
        state, note = attention_maps_clamp(state, model, drawn.get("state"), source=source, images=images)
        drawn["state"] = state
        return state, note

    def limits(state: State) -> dict[str, tuple[int, int]]:
        info = cache.blocks[state["block"]]
        return {"row": (0, info.H - 1), "col": (0, info.W - 1), "head": (0, info.heads - 1)}

    render = functools.partial(attention_maps_spec, model=model, weights_label=weights_label,
                               display_size=display_size, source=source, images=images)  # fmt: skip
    return Explorer(controls, render, clamp, limits, title="Attention of one query, block by block")


BENCH_CHANGES = [dict(block="stage1.block0"), dict(row=12, col=3), dict(block="stage2.block1"), dict(head=1),
                 dict(block="stage3.block0", head=3), dict(row=0, col=3), dict(block="stage3.block1", head=7),
                 dict(block="stage1.block1", head=0), dict(row=15, col=15), dict(col=3)]  # fmt: skip
"""Control changes the widget benchmark replays on the default (digits) explorer: block, query and head only
(a new image runs the model once and is timed apart)."""

STATIC_STATES = [
    dict(image=3, block="stage1.block0", row=2, col=6, head=0),
    dict(image=3, block="stage1.block1", row=2, col=6, head=0),
    dict(image=3, block="stage1.block1", row=7, col=8, head=1),
    dict(image=8, block="stage1.block1", row=15, col=6, head=0),
    dict(image=8, block="stage2.block1", row=4, col=3, head=2),
    dict(image=0, block="stage3.block0", row=1, col=1, head=5),
]
"""The static figure's steps on the default inputs (``image``: position in the list of validation digits, sorted
by digit: 3 is the first 3, 8 the first 7, 0 the first 0)."""


def attention_maps_static(
    model: SwinTransformer | None = None,
    weights_label: str | None = None,
    states: list[State] | None = None,
    source: str = DEFAULT_SOURCE,
    images: ImageSet | None = None,
) -> go.Figure:
    """Kernel-free version: a slider over a few (image, block, query, head) choices.

    ``states`` default to :data:`STATIC_STATES` (for the default inputs); give your own for other inputs.
    """
    states = states or STATIC_STATES
    cache = cache_for(model, source, images)
    states = [{**s, "image": _image_name(cache, s["image"])} for s in states]
    render = functools.partial(attention_maps_spec, model=model, weights_label=weights_label, source=source,
                               images=images, display_size=min(STATIC_DISPLAY, cache.image_size))  # fmt: skip
    labels = [f"{s['image']}, {s['block']}, ({s['row']}, {s['col']}), head {s['head']}" for s in states]
    return static_figure(render, states, labels, f"{cache.noun}, block, query, head")
