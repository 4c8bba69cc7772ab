"""Explorer -- one token's path through a Swin block (chapter "the Swin block", paper Eq. 3 and Fig. 3b).

The shipped small Swin (``digits-small``, :func:`swin_viz.pretrained.load_pretrained`) runs once on a validation
digit with :meth:`~swin_viz.SwinTransformer.run_with_cache`, recording the block's hook points. Choosing a token
``(row, col)`` of the block's map then only slices the cache:

* (a) the token's ``C`` channels at each step of the block: ``input``, ``LN1`` (the block's ``norm1`` applied
  to it), ``attn_out`` (the attention branch), ``after attn`` (input + branch: the first residual), ``LN2``,
  ``mlp_out`` (the MLP branch) and ``out`` (the second residual);
* (b) the length (L2 norm) of the token's vector at each of those steps: how much each branch adds to the
  residual stream;
* (c) where the token looked: its row of ``attn.hook_probs`` for the chosen head, put back on the block's map (0 outside
  its window; in a shifted block the window is found through pad, shift and partition, as the model built it).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import plotly.graph_objects as go
import torch

from ..shift import cyclic_shift
from ..windows import effective_window, pad_to_window, window_partition
from . import palette
from .explorer import Explorer, State, static_figure
from .images import normalize
from .sources import DEFAULT_SOURCE, resolve_source
from .spec import FigureSpec, Panel, Rect, Series

__all__ = ["BENCH_CHANGES", "STEPS", "block_path_explorer", "block_path_spec", "block_path_static", "token_path"]

STEPS = ("input", "LN1", "attn_out", "after attn", "LN2", "mlp_out", "out")
"""The steps of Eq. 3 a token goes through, in order."""

BLOCKS = ("stage1.block0", "stage1.block1", "stage2.block0", "stage2.block1")
BENCH_CHANGES: list[dict[str, Any]] = [{"row": 3}, {"col": 5}, {"head": 1}, {"block": "stage1.block0"}]


@functools.lru_cache(maxsize=8)
def _cache(block: str, image: int) -> dict[str, torch.Tensor]:
    source = resolve_source(DEFAULT_SOURCE)
    model, images = source.model, source.images
    x = normalize(images.images[image : image + 1].float() / 255)
    names = [f"{block}.{n}" for n in ("hook_input", "hook_attn_out", "hook_mlp_out", "hook_out", "attn.hook_probs")]
    with torch.no_grad():
        _, cache = model.run_with_cache(x, names=names)
    return cache


def _module(block: str) -> Any:
    return resolve_source(DEFAULT_SOURCE).model.get_submodule(block)


def token_path(block: str = "stage1.block1", row: int = 4, col: int = 4, image: int = 0) -> dict[str, np.ndarray]:
    """The token ``(row, col)`` of ``block``'s map at each of :data:`STEPS`: ``{step: (C,) array}``.

    Every vector is read from a hook point (``hook_input``, ``hook_attn_out``, ``hook_mlp_out``, ``hook_out``) or
    computed from them with the block's own LayerNorms; ``after attn`` is ``input + attn_out`` (DropPath is the
    identity in eval).
    """
    cache, mod = _cache(block, image), _module(block)
    x, a, m, o = (cache[f"{block}.hook_{n}"][0, row, col] for n in ("input", "attn_out", "mlp_out", "out"))
    with torch.no_grad():
        mid = x + a
        steps = [x, mod.norm1(x), a, mid, mod.norm2(mid), m, o]
    return {name: t.numpy().astype(np.float64) for name, t in zip(STEPS, steps)}


def _where_it_looked(block: str, row: int, col: int, head: int, image: int) -> tuple[np.ndarray, list[Rect]]:
    """The token's probabilities (one head) on the ``H x W`` map, and the outline of the window it is in."""
    cache, mod = _cache(block, image), _module(block)
    _, H, W, _ = cache[f"{block}.hook_input"].shape
    window, shift = effective_window(H, W, mod.window_size, mod.shift_size)
    pos = torch.stack(torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij"), -1)[None].float()
    pos, _ = pad_to_window(pos + 1, window)
    pos = pos - 1  # padded cells: (-1, -1)
    if shift != (0, 0):
        pos = cyclic_shift(pos, shift)
    wins = window_partition(pos, window).reshape(-1, window[0] * window[1], 2).long()  # (nW, N, 2)
    hit = ((wins[..., 0] == row) & (wins[..., 1] == col)).nonzero()[0]
    w, i = int(hit[0]), int(hit[1])
    probs = cache[f"{block}.attn.hook_probs"][w, head, i]  # (N,)
    z = np.zeros((H, W))
    for (r, c), p in zip(wins[w].tolist(), probs.tolist()):
        if r >= 0 and c >= 0:  # a padded key gets no cell on the map
            z[r, c] = p
    return z, [Rect(row, col, row + 1, col + 1, "highlight")]


def block_path_spec(
    block: str = "stage1.block1", row: int = 4, col: int = 4, head: int = 0, image: int = 0
) -> FigureSpec:
    """Figure: one token's channels and length at each step of ``block``, and where it looked (one head)."""
    path = token_path(block, row, col, image)
    mod = _module(block)
    steps = np.stack([path[s] for s in STEPS])  # (steps, C)
    lim = float(np.abs(steps).max())
    channels = Panel(
        f"(a) token ({row}, {col}): its {steps.shape[1]} channels at each step",
        "heatmap",
        z=steps,
        colorscale=palette.DIVERGING,
        zmin=-lim,
        zmax=lim,
        zmid=0.0,
        colorbar="value",
        x_label="channel",
        y_label="step",
        y_ticks=list(STEPS),
        square=False,
    )
    norms = Panel(
        "(b) length of the token's vector (L2 norm)",
        "bars",
        series=[Series("L2 norm", list(STEPS), [float(np.linalg.norm(path[s])) for s in STEPS])],
        x_label="step",
        y_label="L2 norm",
    )
    z, rects = _where_it_looked(block, row, col, head, image)
    kind = "SW-MSA" if mod.shift_size else "W-MSA"
    looked = Panel(
        f"(c) where it looked: attn.hook_probs, head {head} ({kind})",
        "heatmap",
        z=z,
        colorscale=palette.SEQUENTIAL,
        zmin=0.0,
        colorbar="probability",
        x_label="token column",
        y_label="token row",
        rects=rects,
    )
    return FigureSpec(
        f"One token through {block} (Eq. 3: LN -> attention -> residual, LN -> MLP -> residual)",
        [channels, norms, looked],
        caption=f"{resolve_source(DEFAULT_SOURCE).label}, validation digit "
        f"{image}; read from the hook points {block}.hook_input / hook_attn_out / hook_mlp_out / hook_out / "
        "attn.hook_probs",
    ).validate()


def block_path_clamp(state: State) -> tuple[State, str]:
    """Keep ``row``/``col`` on the block's map and ``head`` below its number of heads."""
    state = dict(state)
    cache, mod = _cache(state["block"], state.get("image", 0)), _module(state["block"])
    _, H, W, _ = cache[f"{state['block']}.hook_input"].shape
    notes = []
    for key, size in (("row", H), ("col", W), ("head", mod.num_heads)):
        if not 0 <= state[key] < size:
            state[key] = min(max(state[key], 0), size - 1)
            notes.append(f"{key} limited to 0..{size - 1} in {state['block']}")
    return state, "; ".join(notes)


def block_path_explorer(block: str = "stage1.block1", row: int = 4, col: int = 4, head: int = 0) -> Explorer:
    """Live explorer: choose the block, the token and the head."""
    import ipywidgets as widgets

    controls = {
        "block": widgets.Dropdown(options=list(BLOCKS), value=block, description="block"),
        "row": widgets.IntSlider(value=row, min=0, max=15, description="row"),
        "col": widgets.IntSlider(value=col, min=0, max=15, description="col"),
        "head": widgets.IntSlider(value=head, min=0, max=3, description="head"),
    }
    return Explorer(controls, block_path_spec, clamp=block_path_clamp, title="One token through a Swin block")


def block_path_static(states: list[State] | None = None) -> go.Figure:
    """Kernel-free version: a slider over a few tokens and blocks."""
    states = states or [
        {"block": "stage1.block1", "row": 4, "col": 4, "head": 0},
        {"block": "stage1.block1", "row": 1, "col": 14, "head": 1},
        {"block": "stage1.block0", "row": 4, "col": 4, "head": 0},
        {"block": "stage2.block1", "row": 3, "col": 3, "head": 2},
    ]
    labels = [f"{s['block']} ({s['row']}, {s['col']}) head {s['head']}" for s in states]
    return static_figure(block_path_spec, states, labels, "token")
