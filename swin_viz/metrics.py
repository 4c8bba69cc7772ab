"""Measuring a classifier: top-k accuracy, a per-class report, the confusion matrix, and the training log.

The log is one row per epoch, written both as CSV (for a spreadsheet) and JSON (for code); :func:`curves_spec`
and :func:`confusion_spec` turn a log or a confusion matrix into figures drawn like every other figure of the
book (:mod:`swin_viz.viz`).
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "MetricsLog",
    "confusion_matrix",
    "confusion_spec",
    "curves_spec",
    "per_class_report",
    "read_log",
    "topk_correct",
]


def topk_correct(logits: torch.Tensor, labels: torch.Tensor, ks: tuple[int, ...] = (1, 5)) -> dict[int, int]:
    """How many of the ``(B, K)`` logits have the ``(B,)`` label among their top ``k`` (``k`` capped at ``K``)."""
    if logits.dim() != 2 or labels.shape != logits.shape[:1]:
        raise ValueError(f"expected logits (B, K) and labels (B,), got {tuple(logits.shape)} and {tuple(labels.shape)}")
    top = logits.topk(min(max(ks), logits.shape[1]), dim=1).indices  # (B, kmax)
    hits = top == labels[:, None]
    return {k: int(hits[:, : min(k, logits.shape[1])].any(dim=1).sum()) for k in ks}


def confusion_matrix(preds: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``(K, K)`` counts: row = true class, column = predicted class."""
    index = labels.long() * num_classes + preds.long()
    return torch.bincount(index, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def per_class_report(confusion: torch.Tensor, classes: list[str]) -> list[dict[str, Any]]:
    """Precision, recall, F1 and support per class from a confusion matrix (rows true, columns predicted)."""
    cm = confusion.double()
    tp = cm.diag()
    support = cm.sum(1)
    predicted = cm.sum(0)
    rows = []
    for i, name in enumerate(classes):
        precision = float(tp[i] / predicted[i]) if predicted[i] else 0.0
        recall = float(tp[i] / support[i]) if support[i] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append({"class": name, "precision": precision, "recall": recall, "f1": f1, "support": int(support[i])})
    return rows


class MetricsLog:
    """Appends one row per epoch to ``metrics.csv`` and ``metrics.json`` in ``folder`` (rewritten whole, atomically)."""

    def __init__(self, folder: str | os.PathLike, rows: list[dict[str, Any]] | None = None) -> None:
        self.folder = Path(folder)
        self.rows: list[dict[str, Any]] = list(rows or [])

    def append(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        self.write()

    def write(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        keys: list[str] = []
        for row in self.rows:
            keys += [k for k in row if k not in keys]
        _atomic_write(self.folder / "metrics.json", json.dumps(self.rows, indent=1))
        tmp = self.folder / "metrics.csv.tmp"
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=keys)
            writer.writeheader()
            writer.writerows(self.rows)
        os.replace(tmp, self.folder / "metrics.csv")


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def read_log(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The rows of a ``metrics.json`` (or of the ``metrics.json`` inside a run folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.json"
    if not path.exists():
        raise FileNotFoundError(f"no training log at {path}; a run writes metrics.json into its --out folder")
    return json.loads(path.read_text())


def curves_spec(log: list[dict[str, Any]] | str | os.PathLike, title: str = "Training curves"):
    """Loss, accuracy and throughput per epoch, as a :class:`swin_viz.viz.FigureSpec` (draw it with
    ``to_plotly`` or ``to_matplotlib``)."""
    from .viz import palette
    from .viz.spec import FigureSpec, Panel, Series

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

    from .viz import palette
    from .viz.spec import FigureSpec, Panel

    cm = np.asarray(confusion.tolist() if isinstance(confusion, torch.Tensor) else confusion)
    accuracy = cm.trace() / max(cm.sum(), 1) * 100
    ticks = [str(c) for c in classes]
    return FigureSpec(title, [
        Panel("true vs predicted", "heatmap", z=cm, colorscale=palette.SEQUENTIAL, colorbar="images",
              text=cm if cm.shape[0] <= 20 else None, x_label="predicted class", y_label="true class",
              x_ticks=ticks, y_ticks=ticks),
    ], caption=f"{int(cm.sum())} images, accuracy {accuracy:.2f}%")  # fmt: skip
