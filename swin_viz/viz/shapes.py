"""Shape tracer: every hooked tensor of one Swin-T forward pass, with its shape.

One forward of :func:`swin_viz.swin_t` (random weights: shapes do not depend on them) on a ``(1, 3, H, W)``
image through :meth:`~swin_viz.SwinTransformer.run_with_cache` records every hook point; the figure lists
them, filtered by stage (``embed``, ``stage1`` .. ``stage4``, ``head``, or ``all``) and by a glob on the name
(``*.attn.*``; a filter without wildcards matches names that contain it), as a table (name, shape, dtype,
numel; at most :data:`MAX_ROWS` rows) and a bar chart of the tensors' sizes (log scale). The image itself
(``input``) and the logits (``output``) are listed too, although they are not hook points.

A forward costs 0.1-2 s on a small CPU, so the traced shapes are cached per image size
(:func:`trace_shapes`), and the explorer traces every size of its Dropdown when it is built.

``BENCH_CHANGES`` lists the control changes the latency benchmark replays.
"""

from __future__ import annotations

import fnmatch
import functools
import re

import plotly.graph_objects as go
import torch

from . import palette
from .explorer import Explorer, State, static_figure
from .sources import random_model
from .spec import FigureSpec, Panel, Series

__all__ = [
    "BENCH_CHANGES",
    "SIZES",
    "STAGES",
    "STATIC_STATES",
    "parse_size",
    "shapes_clamp",
    "shapes_explorer",
    "shapes_spec",
    "shapes_static",
    "stage_of",
    "trace_shapes",
]

SIZES: tuple[str, ...] = ("224", "160", "96", "224x160")
"""Image sizes of the Dropdown: ``"S"`` is ``S x S``, ``"HxW"`` is ``H`` rows by ``W`` columns."""
STAGES: tuple[str, ...] = ("all", "embed", "stage1", "stage2", "stage3", "stage4", "head")
MAX_ROWS = 60
SIZE_RANGE = (4, 512)
PATCH = 4

Row = tuple[str, tuple[int, ...], str, int]


@functools.lru_cache(maxsize=16)
def trace_shapes(H: int, W: int) -> tuple[Row, ...]:
    """``(name, shape, dtype, numel)`` of every hooked tensor of a ``(1, 3, H, W)`` Swin-T forward, in order.

    The first row is the image (``input``), the last the logits (``output``); in between, every hook point of
    :meth:`~swin_viz.SwinTransformer.run_with_cache`. Cached per ``(H, W)`` (one real forward, 0.1-2 s).
    """
    x = torch.zeros(1, 3, H, W)
    with torch.inference_mode():
        out, cache = random_model("swin_t").run_with_cache(x)  # seeded random weights, shared and read-only

    def row(name: str, t: torch.Tensor) -> Row:
        return name, tuple(t.shape), str(t.dtype).removeprefix("torch."), t.numel()

    return (row("input", x), *(row(n, t) for n, t in cache.items()), row("output", out))


def stage_of(name: str) -> str:
    """The stage a traced name belongs to: ``embed`` (input, patch_embed.*), ``stageN``, or ``head``."""
    top = name.split(".", 1)[0]
    if top in ("input", "patch_embed"):
        return "embed"
    if top.startswith("stage"):
        return top
    return "head"


def parse_size(size: str | int | tuple[int, int]) -> tuple[tuple[int, int], str]:
    """``((H, W), note)``: ``"224"``, ``"224x160"``, ``224`` or ``(224, 160)``, rounded to multiples of 4 in range.

    Raises ``ValueError`` for text that is not a size.
    """
    if isinstance(size, str):
        m = re.fullmatch(r"\s*(\d+)\s*(?:[x×,]\s*(\d+))?\s*", size)
        if not m:
            raise ValueError(f"image size {size!r} is not 'S' or 'HxW'")
        H, W = int(m.group(1)), int(m.group(2) or m.group(1))
    elif isinstance(size, int):
        H = W = size
    else:
        H, W = (int(v) for v in size)
    lo, hi = SIZE_RANGE
    fixed = tuple(min(max(round(v / PATCH) * PATCH, lo), hi) for v in (H, W))
    note = ""
    if fixed != (H, W):
        note = (f"image {H} x {W}: sides must be multiples of the patch size {PATCH} in {lo}..{hi}; "
                f"using {fixed[0]} x {fixed[1]}.")  # fmt: skip
    return (fixed[0], fixed[1]), note


def _pattern(filter: str) -> str:
    """The glob actually used: empty means everything; no wildcard means 'names containing it'."""
    filter = filter.strip()
    if not filter:
        return "*"
    return filter if any(c in filter for c in "*?[") else f"*{filter}*"


def _select(rows: tuple[Row, ...], stage: str, pattern: str) -> list[Row]:
    return [r for r in rows if (stage == "all" or stage_of(r[0]) == stage) and fnmatch.fnmatchcase(r[0], pattern)]


def _fmt_shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


def shapes_spec(stage: str = "stage1", filter: str = "*", size: str | int | tuple[int, int] = "224") -> FigureSpec:
    """Table ``(name, shape, dtype, numel)`` and sizes (log) of the hooked tensors of ``stage`` matching ``filter``."""
    (H, W), _ = parse_size(size)
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; choose one of {STAGES}")
    pattern = _pattern(filter)
    rows = trace_shapes(H, W)
    in_stage = _select(rows, stage, "*")
    chosen = _select(rows, stage, pattern)
    shown = chosen[:MAX_ROWS]
    hidden = len(chosen) - len(shown)
    # Three columns: "# name", shape, "dtype, numel". The renderer sizes a column by its longest unbreakable run:
    # non-breaking spaces keep a row's number with its name, which gets the room it needs, never cut.
    table_rows = [[f"{i + 1}\u00a0\u00a0{name}", _fmt_shape(shape), f"{dtype}, {numel:,d}"]
                  for i, (name, shape, dtype, numel) in enumerate(shown)]  # fmt: skip
    if hidden:
        table_rows.append([f"... {hidden} more hidden", "narrow the filter", ""])
    numbers = [str(i + 1) for i in range(len(shown))]  # bars are numbered like the table: names would not fit
    sizes = [r[3] for r in shown]

    where = "all stages" if stage == "all" else stage
    match = f" matching {pattern!r}" if pattern != "*" else ""
    if not chosen:
        count = f"no tensor of {where}{match} (of {len(in_stage)} in {where})"
    else:
        count = f"{len(chosen)} of {len(in_stage)} tensors of {where}{match}"
        count += f"; showing the first {len(shown)}, {hidden} hidden" if hidden else ""
    geometry = ""
    if stage.startswith("stage"):
        info = random_model("swin_t").stage_shapes(H, W)[int(stage[5:]) - 1]
        (h, w), (mh, mw) = info["resolution"], info["window"]
        geometry = f"; {stage}: {h} x {w} tokens, {info['channels']} channels, {mh} x {mw} windows"
    return FigureSpec(
        title=f"Shapes through Swin-T for a (1, 3, {H}, {W}) image: {where}",
        caption=f"{count}{geometry}. Random-weight Swin-T: shapes do not depend on weights",
        height=620,
        panels=[
            Panel(f"Hooked tensors ({len(shown)} shown)", "table", header=["# name", "shape", "dtype, numel"],
                  rows=table_rows),
            Panel("Tensor sizes", "bars", log_y=True, x_label="# (row of the table)",
                  y_label="elements (numel, log scale)",
                  series=[Series("numel", numbers, sizes, color=palette.REGION_COLORS[0])]),
        ],
    )  # fmt: skip


def shapes_clamp(state: State) -> tuple[State, str]:
    """Parse/round the image size, fall back to 'all' for an unknown stage, say when the filter matches nothing."""
    state = dict(state)
    notes = []
    try:
        (H, W), note = parse_size(state["size"])
    except ValueError as exc:
        (H, W), note = (224, 224), f"{exc}: using 224."
    if note:
        notes.append(note)
        state["size"] = str(H) if H == W else f"{H}x{W}"
    if state["stage"] not in STAGES:
        notes.append(f"unknown stage {state['stage']!r}: showing all stages.")
        state["stage"] = "all"
    filt = state["filter"]
    pattern = _pattern(filt)
    if "[" in pattern and "]" not in pattern[pattern.index("[") :]:
        notes.append(f"'[' in {filt!r} is not closed: the glob reads it as a plain '['.")
    if pattern != filt.strip() and filt.strip():
        notes.append(f"{filt!r} has no wildcard: showing names that contain it ({pattern!r}).")
    rows = trace_shapes(H, W)
    if not _select(rows, state["stage"], pattern):
        elsewhere = _select(rows, "all", pattern)
        hint = f" ({len(elsewhere)} in other stages)" if elsewhere else "; names look like 'stage1.block0.attn.hook_q'"
        where = "all stages" if state["stage"] == "all" else state["stage"]
        notes.append(f"the filter {pattern!r} matches no tensor of {where}{hint}.")
    return state, " ".join(notes)


def shapes_explorer(stage: str = "stage1", filter: str = "*", size: str = "224", sizes: tuple[str, ...] = SIZES,
                    warm: bool = True) -> Explorer:  # fmt: skip
    """A stage Dropdown, a glob filter and an image-size Dropdown; ``warm`` traces every size up front."""
    import ipywidgets as widgets

    options = list(dict.fromkeys([*sizes, size]))
    if warm:
        for s in options:
            trace_shapes(*parse_size(s)[0])
    controls = {
        "stage": widgets.Dropdown(options=list(STAGES), value=stage, description="stage"),
        "filter": widgets.Text(value=filter, description="filter (glob)", continuous_update=False,
                               placeholder="*.attn.*"),
        "size": widgets.Dropdown(options=options, value=size, description="image H x W"),
    }  # fmt: skip
    return Explorer(controls, shapes_spec, shapes_clamp, title="Shape tracer (Swin-T)")


BENCH_CHANGES: list[dict] = [
    dict(stage="embed"), dict(stage="stage2"), dict(filter="*.attn.*"), dict(stage="stage3"), dict(filter="probs"),
    dict(size="96"), dict(stage="stage4", filter="*"), dict(size="224x160"), dict(stage="head"),
    dict(stage="all", size="224"),
]  # fmt: skip

STATIC_STATES = [
    dict(stage="embed", filter="*", size="224"), dict(stage="stage1", filter="*", size="224"),
    dict(stage="stage1", filter="*.attn.*", size="224"), dict(stage="stage3", filter="*.hook_out", size="224"),
    dict(stage="stage4", filter="*", size="96"), dict(stage="head", filter="*", size="224"),
    dict(stage="all", filter="stage?.hook_out", size="224x160"),
]  # fmt: skip


def shapes_static(states: list[State] | None = None) -> go.Figure:
    """Kernel-free version: a slider over a few (stage, filter, size) choices."""
    states = states or STATIC_STATES
    labels = [f"{s['stage']}, {s['filter']}, {s['size']}" for s in states]
    return static_figure(shapes_spec, states, labels, "stage, filter, image")
