"""Checks and data for lab 13 -- a feature-pyramid head on Swin (``notebooks/lab13_feature_pyramid.ipynb``).

The lab turns the shipped ``digits-small`` classifier into the backbone of a dense predictor, as detection and
segmentation use Swin (the paper's Sec. 4.2 and 4.3 put Swin under Mask R-CNN and UperNet, each on a feature pyramid
of its four stages, Lin et al. 2017):

* :func:`mosaics` -- the lab's data: 64 x 64 canvases holding up to four digits, one per quadrant, each moved by up to
  6 pixels, with a label per pixel (background, or the digit whose ink covers it). Training canvases take the digits
  of ``load_digits(split="train")``, on which the backbone was trained; validation canvases those of ``"val"``;
* :func:`segmentation_scores` -- pixel accuracy, mean IoU, and the two numbers the lab is about: the foreground IoU
  (*where* the ink is, whatever the digit) and the class accuracy on the ink (*what* it is);
* :func:`check_pyramid_shapes` -- a student's ``pyramid_shapes(config, H, W)``: each stage's ``(C, h, w)`` from the
  configuration alone, odd sizes included, against the model's own geometry;
* :func:`check_pyramid` -- a student's ``MyPyramid(backbone, width)``: one map per stage, one width, each at its
  stage's resolution (at an odd input size too), read with ``forward_intermediates``, a change in the coarsest
  stage reaching the finest level, and gradients reaching the backbone;
* :func:`check_segmenter` -- a student's trained segmenter on the validation canvases, against :data:`GOALS`.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from swin_viz.geometry import stage_geometry
from swin_viz.hooks import hooks
from swin_viz.model import SwinConfig, SwinTransformer
from swin_viz.zoo import shared_model

from ._check import NOT_ANSWERED, Report, forbid, own_rng, run_student, unanswered

__all__ = [
    "CANVAS",
    "CLASSES",
    "GOALS",
    "SHAPE_CASES",
    "SHAPE_REFERENCES",
    "VAL",
    "Mosaics",
    "check_pyramid",
    "check_pyramid_shapes",
    "check_segmenter",
    "evaluate",
    "lab_backbone",
    "mosaics",
    "segmentation_scores",
    "stage_shapes",
    "trainable_backbone",
]

CANVAS = 64
"""Side of a mosaic, in pixels."""
DIGIT = 32
"""Side of one digit on the canvas: the size the backbone was trained at."""
JITTER = 6
"""Each digit moves by up to this many pixels from its quadrant's corner (then stays inside the canvas)."""
EMPTY = 0.25
"""The probability that a quadrant holds no digit."""
INK = 0.5
"""A pixel belongs to a digit where the digit's grey value (0..1) is above this."""
CLASSES = ("background", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9")
"""Label ``k`` of a pixel: background for 0, digit ``k - 1`` otherwise."""
GOALS = {"foreground_iou": 0.85, "ink_class_accuracy": 0.5}
"""What :func:`check_segmenter` asks of a segmenter on the validation canvases (the solution reaches about 0.93 and
0.6 with its backbone frozen and a minute of training on a CPU)."""
VAL = ("val", 200, 1)
"""The validation canvases the lab and its check use: ``mosaics(*VAL)``."""


def lab_backbone() -> SwinTransformer:
    """The shipped ``digits-small`` classifier (3 stages, 32 channels, patch 2, window 4), in eval mode, shared and
    read-only: :func:`swin_viz.shared_model` ``("digits-small", weights="pretrained")``."""
    return shared_model("digits-small", weights="pretrained")


def trainable_backbone() -> SwinTransformer:
    """A copy of :func:`lab_backbone` of your own, in eval mode, whose parameters take gradients."""
    return copy.deepcopy(lab_backbone()).requires_grad_(True)


# ====================================================================================================== data
@dataclass(frozen=True)
class Mosaics:
    """Canvases of digits with a label per pixel."""

    images: torch.Tensor
    """``(N, 3, 64, 64)`` float, normalised with the ImageNet statistics, as the backbone expects."""
    labels: torch.Tensor
    """``(N, 64, 64)`` int64: 0 for background, ``1 + d`` where digit ``d``'s ink is (see :data:`CLASSES`)."""
    digits: torch.Tensor
    """``(N, 4)`` int64: the digit in each quadrant (row by row), -1 where the quadrant is empty."""

    def __len__(self) -> int:
        return len(self.labels)


@functools.lru_cache(maxsize=4)
def _mosaics(split: str, n: int, seed: int) -> Mosaics:
    from swin_viz.data import load_digits, normalize

    source = load_digits(size=DIGIT, split=split)
    grey = source.images[:, 0].float() / 255.0  # (M, 32, 32), 0..1
    g = torch.Generator().manual_seed(seed)
    canvas = torch.zeros(n, CANVAS, CANVAS)
    labels = torch.zeros(n, CANVAS, CANVAS, dtype=torch.long)
    digits = torch.full((n, 4), -1, dtype=torch.long)
    for k in range(n):
        for q in range(4):
            if torch.rand((), generator=g) < EMPTY:
                continue
            i = int(torch.randint(len(grey), (), generator=g))
            dy, dx = (int(v) for v in torch.randint(-JITTER, JITTER + 1, (2,), generator=g))
            y0 = min(max((q // 2) * (CANVAS // 2) + dy, 0), CANVAS - DIGIT)
            x0 = min(max((q % 2) * (CANVAS // 2) + dx, 0), CANVAS - DIGIT)
            patch = canvas[k, y0 : y0 + DIGIT, x0 : x0 + DIGIT]
            torch.maximum(patch, grey[i], out=patch)  # overlapping digits: the brighter ink shows
            labels[k, y0 : y0 + DIGIT, x0 : x0 + DIGIT][grey[i] > INK] = 1 + int(source.labels[i])  # the later on top
            digits[k, q] = int(source.labels[i])
    images = normalize(canvas[:, None].expand(-1, 3, -1, -1).contiguous())
    return Mosaics(images, labels, digits)


def mosaics(split: str = "train", n: int = 400, seed: int = 0) -> Mosaics:
    """``n`` canvases of :data:`CANVAS` x :data:`CANVAS` pixels (the module docstring says how they are made), the
    same for the same arguments. ``split``: ``"train"`` or ``"val"``, the digits they are drawn from."""
    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    made = _mosaics(split, n, seed)
    return Mosaics(made.images.clone(), made.labels.clone(), made.digits.clone())


def segmentation_scores(predicted: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Scores of a prediction: ``predicted`` is logits ``(N, 11, H, W)`` or classes ``(N, H, W)``, ``labels``
    ``(N, H, W)``.

    * ``pixel_accuracy``: the fraction of pixels whose class is right (mostly background: a weak measure);
    * ``mean_iou``: the intersection over union of each class present, averaged over the classes;
    * ``foreground_iou``: the IoU of "ink" (any digit) against background, *where* the digits are;
    * ``ink_class_accuracy``: on the pixels that are ink, the fraction whose digit is right, *what* they are.
    """
    if predicted.dim() == 4:
        predicted = predicted.argmax(1)
    if predicted.shape != labels.shape:
        raise ValueError(f"predicted classes {tuple(predicted.shape)} and labels {tuple(labels.shape)} differ")
    ious = []
    for c in range(len(CLASSES)):
        union = ((predicted == c) | (labels == c)).sum()
        if union:
            ious.append(float(((predicted == c) & (labels == c)).sum() / union))
    ink, said_ink = labels > 0, predicted > 0
    return {
        "pixel_accuracy": float((predicted == labels).float().mean()),
        "mean_iou": sum(ious) / len(ious),
        "foreground_iou": float((ink & said_ink).sum() / (ink | said_ink).sum().clamp(min=1)),
        "ink_class_accuracy": float((predicted[ink] == labels[ink]).float().mean()) if ink.any() else 0.0,
    }


# ================================================================================================ exercise 1
SHAPE_CASES: tuple[tuple[str, SwinConfig, int, int], ...] = (
    ("the lab's backbone, 64 x 64", SwinConfig(embed_dim=32, depths=(2, 2, 2), num_heads=(2, 4, 8), window_size=4,
                                                 patch_size=2), 64, 64),
    ("the lab's backbone, 32 x 48", SwinConfig(embed_dim=32, depths=(2, 2, 2), num_heads=(2, 4, 8), window_size=4,
                                                 patch_size=2), 32, 48),
    ("the lab's backbone, 36 x 36 (odd maps)", SwinConfig(embed_dim=32, depths=(2, 2, 2), num_heads=(2, 4, 8),
                                                            window_size=4, patch_size=2), 36, 36),
    ("Swin-T, 224 x 224", SwinConfig(), 224, 224),
    ("Swin-T, 800 x 1216 (a detection input)", SwinConfig(), 800, 1216),
)  # fmt: skip
"""The configurations and sizes :func:`check_pyramid_shapes` asks about."""


def stage_shapes(config: SwinConfig, H: int, W: int) -> list[tuple[int, int, int]]:
    """``(C, h, w)`` of each stage's output for an ``H x W`` image: what ``forward_intermediates`` returns."""
    geometry = stage_geometry(H, W, patch_size=config.patch_size, embed_dim=config.embed_dim, depths=config.depths,
                              num_heads=config.num_heads, window_size=config.window_size)  # fmt: skip
    return [(s.channels, *s.resolution) for s in geometry]


def _shape_slips(config: SwinConfig, H: int, W: int) -> dict[str, list[tuple[int, int, int]]]:
    right = stage_shapes(config, H, W)
    h, w = H // config.patch_size, W // config.patch_size
    floor = []
    for i, (c, _, _) in enumerate(right):
        floor.append((c, h >> i, w >> i))
    return {
        "floor": floor,
        "swapped": [(c, b, a) for c, a, b in right],
        "channels fixed": [(config.embed_dim, a, b) for _, a, b in right],
        "pixels": [(c, a * config.patch_size, b * config.patch_size) for c, a, b in right],
    }


_SHAPE_WHY = {
    "floor": ("a merge halves the map rounding *up*: an odd map is padded by one row or column of zeros before its "
              "2 x 2 groups are taken (h -> ceil(h / 2))"),
    "swapped": "(C, h, w) with h from the image's height H: your h and w are swapped",
    "channels fixed": "each merge doubles the channels: stage i has embed_dim * 2**i",
    "pixels": "h and w count tokens, not pixels: the patch embedding divides the image by patch_size first",
}  # fmt: skip


SHAPE_REFERENCES = (
    "swin_viz.geometry.stage_geometry",
    "swin_viz.model.SwinTransformer.stage_info",
    "swin_viz.model.SwinTransformer.stage_shapes",
    "swin_viz.model.SwinTransformer.forward_intermediates",
    "swin_viz.model.SwinTransformer.forward_features",
)
"""What a student's ``pyramid_shapes`` may not call: the library's geometry, or a forward pass that measures it."""


@forbid(*SHAPE_REFERENCES)
def check_pyramid_shapes(fn: Callable[[SwinConfig, int, int], Any]) -> Report:
    """Check ``fn(config, H, W)`` gives each stage's ``(C, h, w)`` for the cases of :data:`SHAPE_CASES`."""
    report = Report("the pyramid's shapes, from the configuration")
    for name, config, H, W in SHAPE_CASES:
        got, why = run_student(fn, config, H, W)
        if not why:
            try:
                got = [tuple(int(v) for v in s) for s in got]
            except (TypeError, ValueError):
                why = f"return a list of (C, h, w) tuples, one per stage; got {got!r}"
        if not why:
            want = stage_shapes(config, H, W)
            if got != want:
                why = f"got {got}, expected {want}"
                for slip, shapes in _shape_slips(config, H, W).items():
                    if got == shapes and shapes != want:
                        why += f": {_SHAPE_WHY[slip]}"
                        break
        report.add(name, not why, why)
    return report


# ================================================================================================ exercise 2
def _levels(out: Any) -> list[torch.Tensor] | str:
    """The pyramid's maps as a list, or why its output cannot be read as one."""
    if isinstance(out, dict):
        out = list(out.values())
    if not isinstance(out, (list, tuple)) or not all(isinstance(t, torch.Tensor) for t in out):
        return f"return a list of tensors, one per stage (finest first); got {type(out).__name__}"
    return list(out)


_ODD = ("at an odd size a coarse map is not half of the finer one (a 9 x 9 map merges into 5 x 5): upsample to the "
        "finer map's size, not by a factor of 2")  # fmt: skip


def _counting(backbone: SwinTransformer) -> list[int]:
    """Count the calls of ``backbone.forward_intermediates`` (an instance attribute wraps the method)."""
    calls = [0]
    original = backbone.forward_intermediates

    def forward_intermediates(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return original(*args, **kwargs)

    backbone.forward_intermediates = forward_intermediates  # type: ignore[method-assign]
    return calls


@own_rng
def check_pyramid(cls: Callable[..., torch.nn.Module], width: int = 48, backbone: SwinTransformer | None = None,
                  sizes: tuple[tuple[int, int], ...] = ((64, 64), (36, 36))) -> Report:  # fmt: skip
    """Check ``cls(backbone, width)``: for each size of ``sizes``, one ``(B, width, h_i, w_i)`` map per stage at
    that stage's resolution; ``forward_intermediates`` called; a change in the coarsest stage's output reaching the
    finest level; gradients reaching the backbone and the pyramid's own parameters. ``backbone``: a trainable copy
    of the lab's by default."""
    report = Report(f"a feature pyramid of width {width}")
    backbone = backbone if backbone is not None else trainable_backbone()
    pyramid, why = run_student(cls, backbone, width)
    if why:
        report.add("build it: cls(backbone, width)", False, why)
        return report
    if not isinstance(pyramid, torch.nn.Module):
        report.add("build it", False, f"MyPyramid(backbone, width) should be a torch.nn.Module, got {type(pyramid)}")
        return report
    calls = _counting(backbone)
    try:
        return _pyramid_checks(report, pyramid, backbone, width, sizes, calls)
    finally:
        del backbone.forward_intermediates  # the wrapper: back to the class's method, whatever happened


def _pyramid_checks(report: Report, pyramid: torch.nn.Module, backbone: SwinTransformer, width: int,
                    sizes: tuple[tuple[int, int], ...], calls: list[int]) -> Report:  # fmt: skip
    """The checks of :func:`check_pyramid` on a built pyramid, ``calls`` counting ``forward_intermediates``."""
    n = backbone.num_stages
    x = None
    for H, W in sizes:
        x = torch.randn(2, backbone.config.in_chans, H, W)
        want = [(2, width, *s.resolution) for s in backbone.stage_info(H, W)]
        out, why = run_student(pyramid, x)
        levels = why if why else _levels(out)
        if isinstance(levels, str):
            if "must match the size" in levels:
                levels += f": {_ODD}"
            report.add(f"{H} x {W}: one map per stage", False, levels)
            return report
        got = [tuple(t.shape) for t in levels]
        why = "" if got == want else f"got shapes {got}, expected {want} (finest first)"
        if why and len(got) != n:
            why = f"got {len(got)} maps for a backbone of {n} stages: one per stage, finest first"
        elif why and [g[1] for g in got] != [width] * n:
            why += f": every level has the same width, {width} channels (a 1 x 1 convolution per stage)"
        elif why and (H, W) == sizes[-1] != sizes[0]:
            why += f": {_ODD}"
        report.add(f"{H} x {W}: one ({width}, h_i, w_i) map per stage", not why, why)
    report.add("reads the stages with backbone.forward_intermediates", calls[0] > 0,
               "" if calls[0] else "call backbone.forward_intermediates(images) (timm's interface for necks): do not "
               "re-run the stages yourself")  # fmt: skip
    assert x is not None
    with torch.no_grad():
        plain = _levels(pyramid(x))

    def nudge(module: torch.nn.Module, inputs: Any, out: torch.Tensor) -> torch.Tensor:
        return out + torch.randn_like(out)

    with torch.no_grad(), hooks(backbone, {f"stage{n}.hook_out": nudge}):
        nudged = _levels(pyramid(x))
    assert not isinstance(plain, str) and not isinstance(nudged, str)
    moved = [float((a - b).abs().max()) for a, b in zip(plain, nudged)]
    report.add("a change in the coarsest stage reaches the finest level", moved[0] > 1e-6,
               "" if moved[0] > 1e-6 else "the finest map ignores the coarsest stage: add a top-down pathway (each "
               "level plus the coarser level, upsampled to its size)")  # fmt: skip
    backbone.zero_grad(set_to_none=True)
    pyramid.zero_grad(set_to_none=True)
    out = _levels(pyramid(x))
    assert not isinstance(out, str)
    sum((t.float() ** 2).mean() for t in out).backward()  # type: ignore[union-attr]
    first = backbone.patch_embed.proj.weight.grad
    reached = first is not None and bool(first.abs().sum() > 0)
    report.add("gradients reach the backbone's first layer", reached,
               "" if reached else "no gradient reaches the backbone: is it run under torch.no_grad(), or its "
               "output detached? (freeze it in exercise 3 if you wish, not inside the pyramid)")  # fmt: skip
    own = [p for name, p in pyramid.named_parameters() if not name.startswith("backbone.")]
    learns = bool(own) and all(p.grad is not None for p in own)
    report.add("the pyramid has parameters of its own, and each gets a gradient", learns,
               "" if learns else "the lateral and output convolutions should be parameters of the module (kept in "
               "a torch.nn.ModuleList, not a Python list) and all of them used")  # fmt: skip
    return report


# ================================================================================================ exercise 3
def evaluate(segmenter: Callable[[torch.Tensor], torch.Tensor], data: Mosaics | None = None,
             batch: int = 50) -> dict[str, float] | str:  # fmt: skip
    """:func:`segmentation_scores` of ``segmenter`` on ``data`` (the lab's validation canvases by default), run
    in eval mode without gradients; or why its output cannot be scored."""
    data = data if data is not None else _mosaics(*VAL)  # cached, and only read here
    if isinstance(segmenter, torch.nn.Module):
        segmenter.eval()
    logits = []
    with torch.no_grad():
        for i in range(0, len(data), batch):
            out, why = run_student(segmenter, data.images[i : i + batch])
            if why:
                return why
            want = (len(data.images[i : i + batch]), len(CLASSES), CANVAS, CANVAS)
            if not isinstance(out, torch.Tensor) or tuple(out.shape) != want:
                shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                hint = " (upsample the logits to the image's size)" if shape[-1:] != (CANVAS,) else ""
                return f"the segmenter should return logits {want}, got {shape}{hint}"
            logits.append(out.argmax(1))
    return segmentation_scores(torch.cat(logits), data.labels)


def check_segmenter(segmenter: Any, data: Mosaics | None = None) -> Report:
    """Check a trained segmenter (images ``(B, 3, 64, 64)`` -> logits ``(B, 11, 64, 64)``) against :data:`GOALS` on
    the validation canvases (``data``, :data:`VAL` by default), and print its four scores."""
    report = Report("a segmenter on the pyramid")
    if unanswered(segmenter):
        report.add("your segmenter", False, NOT_ANSWERED)
        return report
    scores = evaluate(segmenter, data)
    if isinstance(scores, str):
        report.add("your segmenter", False, scores)
        return report
    shown = ", ".join(f"{k} {v:.3f}" for k, v in scores.items())
    for key, goal in GOALS.items():
        ok = scores[key] >= goal
        report.add(f"{key} >= {goal} ({shown})" if key == "foreground_iou" else f"{key} >= {goal}", ok,
                   "" if ok else f"{key} is {scores[key]:.3f}: " + (
                       "the ink's outline is coarse: does the prediction come from the finest level?"
                       if key == "foreground_iou" else
                       "the digits are confused: does the finest level carry the coarse stages' context?"))  # fmt: skip
    return report
