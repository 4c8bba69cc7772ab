"""Figures of a training run (the book's chapter "Training Swin"): the curves of its metrics log, its confusion
matrix, and one photograph through the augmentation pipeline.

They read the plain records the engine writes (``metrics.json``, ``confusion.json``); viz never imports the engine.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from ..metrics import read_log

__all__ = ["augmentation_spec", "confusion_spec", "curves_spec"]


def curves_spec(log: list[dict[str, Any]] | str | os.PathLike, title: str = "Training curves"):
    """Loss, accuracy and throughput per epoch, as a :class:`swin_viz.viz.FigureSpec` (draw it with
    ``to_plotly`` or ``to_matplotlib``)."""
    from . import palette
    from .spec import FigureSpec, Panel, Series

    rows = log if isinstance(log, list) else read_log(log)
    if not rows:
        raise ValueError("the training log is empty: no epoch has finished yet")
    epochs = [r["epoch"] for r in rows]

    def series(key: str, name: str, color: str, dash: bool = False) -> list[Series]:
        if not all(key in r and r[key] is not None for r in rows):
            return []
        return [Series(name, epochs, [r[key] for r in rows], color, dash)]

    c = palette.REGION_COLORS
    panels = [
        Panel(
            "Loss",
            "lines",
            series=series("train_loss", "train", c[0]) + series("val_loss", "validation", c[1], True),
            x_label="epoch",
            y_label="cross-entropy",
        ),
        Panel(
            "Accuracy",
            "lines",
            series=series("train_top1", "train top-1", c[0])
            + series("val_top1", "validation top-1", c[1], True)
            + series("val_top5", "validation top-5", c[4], True),
            x_label="epoch",
            y_label="accuracy (%)",
        ),
        Panel(
            "Throughput",
            "lines",
            series=series("img_per_s", "training images/s", c[2]),
            x_label="epoch",
            y_label="images / s",
        ),
    ]
    panels = [p for p in panels if p.series]
    last = rows[-1]
    caption = ", ".join(f"{k} {last[k]:.2f}" for k in ("val_top1", "val_top5") if last.get(k) is not None)
    return FigureSpec(title, panels, caption=f"after epoch {last['epoch']}: {caption}" if caption else "", height=360)


def confusion_spec(confusion: torch.Tensor | list, classes: list[str], title: str = "Confusion matrix"):
    """The confusion matrix as a heatmap (rows true class, columns predicted), counts in the cells."""
    import numpy as np

    from . import palette
    from .spec import FigureSpec, Panel

    cm = np.asarray(confusion.tolist() if isinstance(confusion, torch.Tensor) else confusion)
    accuracy = cm.trace() / max(cm.sum(), 1) * 100
    ticks = [str(c) for c in classes]
    return FigureSpec(title, [
        Panel("true vs predicted", "heatmap", z=cm, colorscale=palette.SEQUENTIAL, colorbar="images",
              text=cm if cm.shape[0] <= 20 else None, x_label="predicted class", y_label="true class",
              x_ticks=ticks, y_ticks=ticks),
    ], caption=f"{int(cm.sum())} images, accuracy {accuracy:.2f}%")  # fmt: skip


def augmentation_spec(stages: dict[str, Any], columns: int = 3, title: str = "The training pipeline, one photograph"):
    """A grid of images, one panel per stage of :func:`swin_viz.data.augment.pipeline_stages` (``(3, S, S)`` floats
    in ``[0, 1]``)."""
    import numpy as np

    from .spec import FigureSpec, Panel

    panels = [Panel(name, "image", z=np.asarray(img.permute(1, 2, 0).numpy() * 255, dtype=np.uint8),
                    x_label="x (pixels)", y_label="y (pixels)") for name, img in stages.items()]  # fmt: skip
    rows = -(-len(panels) // columns)
    return FigureSpec(title, panels, caption="seeded: the same call draws the same figure", height=260 * rows)
