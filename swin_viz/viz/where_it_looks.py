"""Explorer -- where does Swin look? Three attribution maps and their deletion curves (chapter 10, "Where does
Swin look?").

Pick an input, a method and a block; the figure shows the input, the method's map ``(H, W)`` at the input's
resolution (computed by :mod:`swin_viz.attribution`) and the map's deletion curve next to a random ranking's:

* ``"rollout"`` -- :func:`~swin_viz.attribution.attention_rollout` stopped after the chosen block (the flow into
  that block's map, averaged over its tokens); after the last block it is the pooled output's rollout;
* ``"Grad-CAM norm1"`` / ``"Grad-CAM norm2"`` -- :func:`~swin_viz.attribution.grad_cam` on the block's first or
  second LayerNorm, for the true class;
* ``"window attention"`` -- :func:`~swin_viz.attribution.window_attention_map` of the block's centre token
  ``(h // 2, w // 2)``, heads averaged.

The deletion curve (:func:`~swin_viz.faithfulness.deletion_curve`, deleted pixels set to the image's mean) tracks
the true class's probability; the random curve ranks patches at random (3 seeds). By default the shipped trained
model on validation digits (the first of each digit); ``model=`` with ``images=`` (an ImageSet) brings your own,
e.g. ImageNet Swin-T weights (without ``images``: the bundled photographs at 224, target = the predicted class).
"""

from __future__ import annotations

import functools
import weakref
from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go
import torch

from .. import attribution as A
from .. import faithfulness as faith
from ..model import SwinTransformer
from . import palette
from .explorer import Explorer, State, static_figure, torch_threads
from .images import IMAGES, load_image, normalize
from .sources import CALLER_WEIGHTS_LABEL, digits_val, trained_model, trained_weights_label
from .spec import FigureSpec, Panel, Rect, Series

if TYPE_CHECKING:
    from .sources import ImageSet

__all__ = [
    "BENCH_CHANGES",
    "METHODS",
    "STATIC_STATES",
    "WhereCache",
    "where_it_looks_explorer",
    "where_it_looks_spec",
    "where_it_looks_static",
]

METHODS = ("rollout", "Grad-CAM norm1", "Grad-CAM norm2", "window attention")
STEPS = 16
"""Deletion steps: fractions 0, 1/16, ..., 1 of the pixels."""
SOURCE = "digits-small"


class WhereCache:
    """The inputs of the explorer (``names``), their normalised tensors and targets, and every map and curve drawn
    so far, per (input, method, block). The model must not change while the cache lives."""

    def __init__(self, model: SwinTransformer | None = None, images: ImageSet | None = None) -> None:
        if model is None:
            model, images = trained_model(SOURCE)[0], images or digits_val()
            self.weights = trained_weights_label(SOURCE)
        else:
            self.weights = CALLER_WEIGHTS_LABEL
        self.model = model
        if images is None:
            self.names = tuple(IMAGES)
            pixels = torch.stack([load_image(n, 224) for n in IMAGES])
            self.classes: list[str] | None = None
            labels = None
        else:
            first: dict[int, int] = {}
            for i, y in enumerate(images.labels.tolist()):
                first.setdefault(y, i)
            chosen = sorted(first.values(), key=lambda i: int(images.labels[i]))[:10]
            self.classes = list(images.classes)
            self.names = tuple(f"digit {self.classes[int(images.labels[i])]} (val #{i})" for i in chosen)
            pixels = images.images[chosen].float() / 255.0
            labels = images.labels[chosen]
        self.pixels = pixels  # (n, 3, H, W) in [0, 1]
        self.x = normalize(pixels)
        with torch.no_grad():
            self.probs = model(self.x).float().softmax(-1)
        self.targets = labels if labels is not None else self.probs.argmax(-1)
        H, W = self.x.shape[-2:]
        self.blocks = A.block_geometry(model, H, W)
        self._maps: dict[tuple[int, str, str], tuple[torch.Tensor, faith.DeletionCurve]] = {}
        self._random: dict[int, faith.DeletionCurve] = {}

    def index(self, image: str | int) -> int:
        if isinstance(image, int) and 0 <= image < len(self.names):
            return image
        if image in self.names:
            return self.names.index(image)
        raise ValueError(f"unknown input {image!r}; choose one of {list(self.names)} (or a position)")

    def saliency(self, i: int, method: str, block: str) -> torch.Tensor:
        """``(H, W)`` map of ``method`` at ``block`` for input ``i``."""
        x, y = self.x[i : i + 1], self.targets[i : i + 1]
        if method == "rollout":
            return A.attention_rollout(self.model, x, block=block)[0]
        if method in ("Grad-CAM norm1", "Grad-CAM norm2"):
            return A.grad_cam(self.model, x, y, f"{block}.{method.rpartition(' ')[2]}")[0]
        if method == "window attention":
            h, w = self.blocks[block].resolution
            return A.window_attention_map(self.model, x, (h // 2, w // 2), block)[0]
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")

    def get(self, i: int, method: str, block: str) -> tuple[torch.Tensor, faith.DeletionCurve, faith.DeletionCurve]:
        """``(map (H, W), its deletion curve, the random ranking's curve)`` for input ``i``."""
        if block not in self.blocks:
            raise ValueError(f"unknown block {block!r}: this model's blocks are {list(self.blocks)}")
        key = (i, method, block)
        small = sum(p.numel() for p in self.model.parameters()) < 5_000_000
        with torch_threads(1 if small else torch.get_num_threads()):
            if key not in self._maps:
                sal = self.saliency(i, method, block)
                curve = faith.deletion_curve(self.model, self.x[i : i + 1], sal[None], self.targets[i : i + 1], STEPS)
                self._maps[key] = (sal, curve)
            if i not in self._random:
                self._random[i] = faith.random_deletion_curve(self.model, self.x[i : i + 1], self.targets[i : i + 1],
                                                          STEPS)  # fmt: skip
        return (*self._maps[key], self._random[i])


_CACHES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_DEFAULT: dict[str, WhereCache] = {}


def _cache_for(model: SwinTransformer | None, images: ImageSet | None) -> WhereCache:
    if model is None and images is None:
        if "default" not in _DEFAULT:
            _DEFAULT["default"] = WhereCache()
        return _DEFAULT["default"]
    if model is None:
        return WhereCache(None, images)
    per_model = _CACHES.setdefault(model, {})
    key = id(images) if images is not None else None
    if key not in per_model:
        per_model[key] = (images, WhereCache(model, images))
    return per_model[key][1]


def _last_block(cache: WhereCache) -> str:
    return next(reversed(cache.blocks))


COLORBARS = {
    "rollout": "share of the flow (per patch)",
    "Grad-CAM norm1": "Grad-CAM (ReLU)",
    "Grad-CAM norm2": "Grad-CAM (ReLU)",
    "window attention": "attention probability",
}


def where_it_looks_spec(
    image: str | int = 0,
    method: str = "rollout",
    block: str | None = None,
    model: SwinTransformer | None = None,
    images: ImageSet | None = None,
) -> FigureSpec:
    """The input, ``method``'s map at ``block`` (default: the last block) and the deletion curves.

    ``image``: a name of :attr:`WhereCache.names` or its position; ``method`` one of :data:`METHODS`. The map is
    ``(H, W)`` at the input's resolution; the curves are the true class's probability against the fraction of
    pixels deleted, in the map's order and in a random order of patches.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    cache = _cache_for(model, images)
    i = cache.index(image)
    block = block or _last_block(cache)
    sal, curve, rnd = cache.get(i, method, block)
    name = cache.names[i]
    p = float(cache.probs[i, cache.targets[i]])
    what = (f"class {cache.classes[int(cache.targets[i])]}" if cache.classes is not None
            else f"the predicted class {int(cache.targets[i])}")  # fmt: skip
    rects = []
    g = cache.blocks[block]
    if method == "window attention":
        h, w = g.resolution
        s = g.stride
        rects.append(Rect((h // 2) * s, (w // 2) * s, (h // 2 + 1) * s, (w // 2 + 1) * s, "highlight"))
    photo = (cache.pixels[i].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    x = curve.fractions.numpy()
    series = [
        Series(method, x, curve.probs[0].numpy(), color=palette.HIGHLIGHT),
        Series("random patches", x, rnd.probs[0].numpy(), color=palette.OUTLINE, dash=True),
    ]
    return FigureSpec(
        title=(f"{method} at {block} on {name}: deletion AUC {float(curve.auc[0]):.3f} "
               f"(random {float(rnd.auc[0]):.3f})"),
        caption=(f"{cache.weights}; probability of {what} before deletion {p:.3f}. Deleted pixels take the image's "
                 f"mean colour; lower AUC = the map found what the model needs sooner. Window attention: the "
                 f"block's centre token (outlined), heads averaged."),
        panels=[
            Panel(f"Input: {name}", "image", z=photo, rects=rects, x_label="pixel column", y_label="pixel row",
                  hover="pixel (%{y}, %{x})<extra></extra>"),
            Panel(f"{method} at {block}", "heatmap", z=sal.numpy(), colorscale=palette.SEQUENTIAL, zmin=0.0,
                  colorbar=COLORBARS[method], rects=rects, x_label="pixel column", y_label="pixel row",
                  hover="pixel (%{y}, %{x}): %{z:.4f}<extra></extra>"),
            Panel("Deletion: true class's probability", "lines", series=series,
                  x_label="fraction of pixels deleted", y_label="probability"),
        ],
        columns=3,
    )  # fmt: skip


def where_it_looks_explorer(
    model: SwinTransformer | None = None,
    images: ImageSet | None = None,
    image: str | int = 0,
    method: str = "rollout",
    block: str | None = None,
) -> Explorer:
    """Input, method and block; each map and curve is computed once and cached."""
    import ipywidgets as widgets

    cache = _cache_for(model, images)
    i = cache.index(image)
    controls = {
        "image": widgets.Dropdown(options=[(n, k) for k, n in enumerate(cache.names)], value=i, description="input"),
        "method": widgets.Dropdown(options=list(METHODS), value=method, description="method"),
        "block": widgets.Dropdown(options=list(cache.blocks), value=block or _last_block(cache), description="block"),
    }
    render = functools.partial(where_it_looks_spec, model=model, images=images)
    return Explorer(controls, render, title="Where does Swin look? A map and its deletion curve")


BENCH_CHANGES: list[dict[str, Any]] = [
    dict(method="Grad-CAM norm1"),
    dict(method="Grad-CAM norm2"),
    dict(block="stage2.block1"),
    dict(method="window attention"),
    dict(method="rollout"),
    dict(image=3),
]
"""Control changes a widget benchmark can replay on the default (digits) explorer."""

STATIC_STATES: list[State] = [
    dict(image=0, method="rollout", block="stage3.block1"),
    dict(image=0, method="Grad-CAM norm1", block="stage3.block1"),
    dict(image=0, method="Grad-CAM norm2", block="stage3.block1"),
    dict(image=0, method="window attention", block="stage3.block1"),
    dict(image=7, method="rollout", block="stage3.block1"),
    dict(image=7, method="Grad-CAM norm1", block="stage3.block1"),
    dict(image=7, method="rollout", block="stage1.block1"),
    dict(image=7, method="window attention", block="stage2.block1"),
]
"""The static figure's steps on the default inputs (``image``: the position of the digit, 0..9)."""


def where_it_looks_static(
    model: SwinTransformer | None = None, images: ImageSet | None = None, states: list[State] | None = None
) -> go.Figure:
    """Kernel-free version: a slider over a few (input, method, block) choices."""
    cache = _cache_for(model, images)
    states = states or STATIC_STATES
    render = functools.partial(where_it_looks_spec, model=model, images=images)
    labels = [f"{cache.names[cache.index(s['image'])]}, {s['method']}, {s['block']}" for s in states]
    return static_figure(render, states, labels, "input, method, block")
