"""The real ImageNet-1K Swin-T in the chapters, for readers who have its weights (opt-in; nothing is downloaded).

The chapters on attention maps, the relative position bias and the receptive field call :func:`imagenet_model`.
It returns ``None`` unless the environment variable ``SWIN_VIZ_IMAGENET_WEIGHTS`` names a weights file (official,
timm, torchvision or HuggingFace layout: see :func:`swin_viz.pretrained.load_imagenet_swin_t`), and
:func:`status` says which case the page was built in. With the weights, three figures draw the real model on the
bundled photographs:

* :func:`attention_maps_figure` -- where a query token looks, per block and head (the attention-maps explorer);
* :func:`relative_bias_figure` -- the learned relative position bias of a block (the relative-position explorer);
* :func:`receptive_field_figure` -- which stage-1 tokens one token reaches after the first one and two blocks of
  the real stage 1, with the shift as trained and with the shift removed (same weights).
"""

from __future__ import annotations

import functools
import os

import numpy as np
import plotly.graph_objects as go
import torch

from ..block import SwinBlock
from ..checkpoints import LoadReport
from ..model import SwinTransformer
from ..pretrained import IMAGENET_ENV, imagenet_swin_t_from_env
from ..probes import RF_THRESHOLD
from . import palette
from .attention_cache import PHOTO_QUERY
from .attention_maps import attention_maps_static
from .images import load_image, normalize
from .relative_position import relative_position_static
from .render import to_plotly
from .spec import FigureSpec, Panel, Rect

__all__ = [
    "WEIGHTS_LABEL",
    "attention_maps_figure",
    "imagenet_model",
    "receptive_field_figure",
    "receptive_field_reach",
    "relative_bias_figure",
    "status",
]

WEIGHTS_LABEL = "real ImageNet-1K Swin-T weights"


@functools.lru_cache(maxsize=1)
def _load(path: str) -> tuple[SwinTransformer, LoadReport]:
    loaded = imagenet_swin_t_from_env()
    assert loaded is not None  # only called when the variable is set
    return loaded


def imagenet_model() -> tuple[SwinTransformer, LoadReport] | None:
    """``(Swin-T in eval mode, load report)`` if ``SWIN_VIZ_IMAGENET_WEIGHTS`` names a file, else ``None``."""
    path = os.environ.get(IMAGENET_ENV, "").strip()
    return _load(path) if path else None


def status(loaded: tuple[SwinTransformer, LoadReport] | None) -> str:
    """One line for the page: which weights the figures below it show, or how to make them show real ones."""
    if loaded is None:
        return (
            f"No real ImageNet weights on this build: {IMAGENET_ENV} is not set, so the real-weights figure is "
            f"skipped. To see it, point {IMAGENET_ENV} at a Swin-T ImageNet-1K file (official "
            f"swin_tiny_patch4_window7_224.pth, timm, or torchvision's swin_t-704ceda3.pth; "
            f"swin_viz.pretrained.load_imagenet_swin_t(download=True) fetches one when you ask) and rerun."
        )
    report = loaded[1]
    return f"{WEIGHTS_LABEL} from {os.environ.get(IMAGENET_ENV)}: {report}"


def attention_maps_figure(model: SwinTransformer) -> go.Figure:
    """The attention-maps explorer's static figure for ``model`` on the bundled photographs."""
    row, col = PHOTO_QUERY
    states = [
        {"image": "astronaut", "block": "stage1.block0", "row": row, "col": col, "head": 0},
        {"image": "astronaut", "block": "stage1.block1", "row": row, "col": col, "head": 1},
        {"image": "chelsea", "block": "stage2.block1", "row": 10, "col": 14, "head": 2},
        {"image": "coffee", "block": "stage3.block1", "row": 6, "col": 6, "head": 5},
    ]
    return attention_maps_static(model=model, weights_label=WEIGHTS_LABEL, states=states)


def relative_bias_figure(model: SwinTransformer, path: str = "stage1.block0") -> go.Figure:
    """The relative-position explorer's static figure for the learned tables of ``model``."""
    return relative_position_static(source=model, path=path)


def receptive_field_reach(
    model: SwinTransformer, image: str = "astronaut", row: int = 28, col: int = 28
) -> dict[str, np.ndarray]:
    """``{"shifted": first, "not shifted": first}``: after which stage-1 block (1 or 2; 3 = not reached) each token
    of the ``56 x 56`` map first changes when token ``(row, col)`` of the photograph's embedding is perturbed.

    ``"shifted"`` runs the real stage-1 blocks (W-MSA, then SW-MSA); ``"not shifted"`` the same weights with the
    shift set to 0. Float64, explicit attention; ``RF_THRESHOLD`` of the largest change counts as reached."""
    stage = model.stage1
    with torch.no_grad():
        x = model.patch_embed(normalize(load_image(image, 224))[None]).double()
    blocks: dict[str, list[SwinBlock]] = {"shifted": [], "not shifted": []}
    for b in stage.blocks:
        for kind, shift in (("shifted", b.shift_size), ("not shifted", 0)):
            copy = SwinBlock(
                b.dim, b.num_heads, b.window_size, shift_size=shift, mlp_ratio=b.mlp_ratio, attn_impl="explicit"
            )
            copy.load_state_dict(b.state_dict())
            blocks[kind].append(copy.double().eval())
    delta = torch.zeros_like(x)
    delta[0, row, col] = torch.linspace(-1.0, 1.0, x.shape[-1], dtype=x.dtype)  # not constant: LN would erase it
    out = {}
    with torch.no_grad():
        for kind, stack in blocks.items():
            size = x.shape[1]
            first = np.full((size, x.shape[2]), len(stack) + 1, dtype=np.int64)
            first[row, col] = 0
            pair = torch.cat([x, x + delta])
            for k, block in enumerate(stack, start=1):
                pair = block(pair)
                change = (pair[1] - pair[0]).abs().amax(-1)
                first[(change > RF_THRESHOLD * change.max()).numpy() & (first > k)] = k
            out[kind] = first
    return out


def receptive_field_figure(model: SwinTransformer, image: str = "astronaut", row: int = 28, col: int = 28) -> go.Figure:
    """Two panels: the block after which each stage-1 token is first reached, with and without the shift."""
    reach = receptive_field_reach(model, image, row, col)
    names = ["the token itself", "after block 1 (W-MSA)", "after block 2", "not reached"]
    panels = [
        Panel(
            f"{kind}: first reached after block",
            "heatmap",
            z=first.astype(float),
            categories=names,
            category_colors=[palette.HIGHLIGHT, palette.REGION_COLORS[0], palette.REGION_COLORS[1], "#EEEEEE"],
            show_scale=False,
            x_label="token column",
            y_label="token row",
            rects=[Rect(row, col, row + 1, col + 1, "highlight")],
        )
        for kind, first in reach.items()
    ]
    spec = FigureSpec(
        f"Receptive field of token ({row}, {col}) in the real Swin-T's stage 1 ({image})",
        panels,
        caption=f"{WEIGHTS_LABEL}; the same weights with the shift set to 0 on the right",
    ).validate()
    return to_plotly(spec)
