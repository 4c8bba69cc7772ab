"""What a run writes while it runs: a row every ``log_every`` steps, to ``steps.csv`` and ``steps.jsonl``, and to
TensorBoard when it is installed (``runs/<out>/tb``; ``tensorboard --logdir runs``).

A row holds the step and epoch, the mean loss and accuracy and gradient norm over the window (all ranks), the
learning rate, images per second (all ranks), the fraction of the window spent waiting for data (this rank), MFU
(matmul FLOPs achieved over the device's bf16 peak, when known) and the peak memory (CUDA).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

__all__ = ["StepLog"]


class StepLog:
    """Appends rows to ``folder/steps.csv`` and ``folder/steps.jsonl`` (and TensorBoard); rank 0 only writes."""

    def __init__(self, folder: Path, enabled: bool = True, resume_step: int = 0) -> None:
        self.folder, self.enabled = Path(folder), enabled
        self.rows: list[dict[str, Any]] = []
        self.writer = None
        self.tensorboard = "off"
        if not enabled:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        if resume_step == 0:
            for name in ("steps.csv", "steps.jsonl"):
                (self.folder / name).unlink(missing_ok=True)
        else:  # keep the rows of the steps before the checkpoint, drop the ones after it
            self._truncate_after(resume_step)
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.folder / "tb"), purge_step=resume_step or None)
            self.tensorboard = str(self.folder / "tb")
        except ImportError:
            self.tensorboard = "not installed"

    def _truncate_after(self, step: int) -> None:
        path = self.folder / "steps.jsonl"
        if not path.exists():
            return
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        rows = [r for r in rows if r["step"] <= step]
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        self._rewrite_csv(rows)

    def _rewrite_csv(self, rows: list[dict[str, Any]]) -> None:
        keys: list[str] = []
        for r in rows:
            keys += [k for k in r if k not in keys]
        with open(self.folder / "steps.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys)
            w.writeheader()
            w.writerows(rows)

    def append(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        if not self.enabled:
            return
        with open(self.folder / "steps.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        csv_path = self.folder / "steps.csv"
        new = not csv_path.exists()
        with open(csv_path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(row))
            if new:
                w.writeheader()
            w.writerow(row)
        if self.writer is not None:
            for k, v in row.items():
                if k not in ("step", "epoch") and isinstance(v, (int, float)):
                    self.writer.add_scalar(f"train/{k}", v, row["step"])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
