"""Measuring a classifier: top-k accuracy, a per-class report, the confusion matrix, and the training log.

The log is one row per epoch, written both as CSV (for a spreadsheet) and JSON (for code). The figures of a log
live in :mod:`swin_viz.viz.training` (``curves_spec``, ``confusion_spec``): the engine hands viz plain records.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

import torch

from .atomic import atomic_write_text

__all__ = [
    "MetricsLog",
    "confusion_matrix",
    "per_class_report",
    "read_log",
    "topk_correct",
    "topk_hits",
]


def topk_hits(logits: torch.Tensor, labels: torch.Tensor, ks: tuple[int, ...] = (1, 5)) -> torch.Tensor:
    """``(len(ks),)`` int64 counts on the logits' device: how many of the ``(B, K)`` logits have the ``(B,)`` label
    among their top ``k`` (``k`` capped at ``K``). No host sync, so a loop can sum it over batches."""
    if logits.dim() != 2 or labels.shape != logits.shape[:1]:
        raise ValueError(f"expected logits (B, K) and labels (B,), got {tuple(logits.shape)} and {tuple(labels.shape)}")
    top = logits.topk(min(max(ks), logits.shape[1]), dim=1).indices  # (B, kmax)
    hits = top == labels[:, None]
    return torch.stack([hits[:, : min(k, logits.shape[1])].any(dim=1).sum() for k in ks])


def topk_correct(logits: torch.Tensor, labels: torch.Tensor, ks: tuple[int, ...] = (1, 5)) -> dict[int, int]:
    """How many of the ``(B, K)`` logits have the ``(B,)`` label among their top ``k`` (``k`` capped at ``K``), as
    Python ints (:func:`topk_hits` as a dict)."""
    return dict(zip(ks, (int(c) for c in topk_hits(logits, labels, ks).tolist())))


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
        atomic_write_text(self.folder / "metrics.json", json.dumps(self.rows, indent=1))
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=keys)
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write_text(self.folder / "metrics.csv", buf.getvalue())


def read_log(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The rows of a ``metrics.json`` (or of the ``metrics.json`` inside a run folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.json"
    if not path.exists():
        raise FileNotFoundError(f"no training log at {path}; a run writes metrics.json into its --out folder")
    return json.loads(path.read_text())
