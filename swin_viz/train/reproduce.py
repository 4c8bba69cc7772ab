"""What "reproducible" means for a recorded run, on this machine and on any other (chapter "Training Swin").

A record (``scripts/run_experiments.py``) keeps every run's config and per-epoch metrics. Re-training a run from
its config gives back its metrics, but *how exactly* depends on where the re-run happens:

- **On the machine that made the record** (same processor, torch and thread count), the engine is deterministic:
  the re-run equals the record bit for bit. The same holds wherever both sides run in one process or on one machine
  (resume, several ranks against one process, several data workers against none): those tests stay exact.
- **On another processor**, float32 reductions run in another order (oneDNN and the BLAS pick kernels by
  instruction set), so losses differ in their last bits; :data:`TOLERANCE` says by how much they may, and why.

:func:`reproduction_mismatches` applies one or the other; :func:`machine` says where a run happened.
"""

from __future__ import annotations

import dataclasses
import math
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

__all__ = ["TOLERANCE", "Tolerance", "machine", "processor_name", "reproduction_mismatches"]

FLOAT32_UNIT_ROUNDOFF = 2.0**-24
"""``u`` for float32: a correctly rounded operation is within a relative ``u`` (about 6.0e-8) of the exact result."""


@dataclass(frozen=True)
class Tolerance:
    """How far a re-run on another processor may be from a record.

    - ``exact``: metrics computed from integers and Python floats only (epoch, step, the learning rate of the
      schedule). IEEE-754 doubles give the same bits on every processor, so these must be equal.
    - ``loss_rtol``: the relative tolerance of the losses. Reordering a float32 sum of ``K`` terms changes it by at
      most about ``K u`` relative, and typically by ``sqrt(K) u``. The longest reductions of the book's small
      models are ``K = 512`` (the MLP's hidden width of 4 x 128 channels), so one forward's loss moves by at most
      ``512 u = 3.1e-5`` and typically by ``sqrt(512) u = 1.3e-6``; one epoch of training feeds such differences
      back through the weights. ``2e-5`` sits between the typical and the worst case of a single forward.
      Observed across processors (an Intel Xeon with AVX-512 re-running the four shipped records, issue 17): at
      most ``4.8e-7`` (the 0.57 M-parameter model of ``table4``), ``1.6e-8`` or less for the others. A change to
      the training step (the data order, the loss scaling) moves the first epoch's loss by ``1e-3`` or more.
    - ``accuracy_examples``: an accuracy may differ by this many examples (a prediction flips only when its two top
      logits are closer than the perturbation above), i.e. by ``100 / n`` percentage points each, where ``n`` is
      the number of examples the accuracy counts.
    """

    exact: tuple[str, ...] = ("epoch", "step", "lr")
    loss_rtol: float = 2e-5
    losses: tuple[str, ...] = ("train_loss", "val_loss")
    accuracy_examples: int = 1
    accuracies: tuple[str, ...] = ("train_top1", "val_top1", "val_top5")

    def __post_init__(self) -> None:
        # The loss tolerance stays between the typical (sqrt(K) u) and the worst (K u) reordering error of K = 512.
        assert math.sqrt(512) * FLOAT32_UNIT_ROUNDOFF < self.loss_rtol < 512 * FLOAT32_UNIT_ROUNDOFF


TOLERANCE = Tolerance()
"""The tolerance a re-run on another processor is held to (see :class:`Tolerance` for the derivation)."""


def processor_name() -> str:
    """This machine's processor as the OS names it (``model name`` of ``/proc/cpuinfo`` on Linux)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware")):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def machine() -> dict[str, Any]:
    """Where a run happens, as a record stores it: processor, architecture, torch, Python, intra-op threads."""
    return {
        "processor": processor_name(),
        "architecture": platform.machine(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
    }


def same_machine(record: dict[str, Any], here: dict[str, Any] | None = None) -> bool:
    """Whether ``record`` was made where bit-equality is expected: same processor, torch and thread count.

    A record without a ``processor`` field (made before processors were recorded) is never the same machine.
    """
    here = machine() if here is None else here
    return all(record.get(k) is not None and record.get(k) == here[k] for k in ("processor", "torch", "threads"))


def reproduction_mismatches(
    got: dict[str, float], want: dict[str, float], *, n_train: int, n_val: int, exact: bool,
    tolerance: Tolerance = TOLERANCE,
) -> list[str]:  # fmt: skip
    """The metrics of ``got`` (a re-run's epoch) that do not reproduce ``want`` (the record's), one line each.

    ``n_train`` and ``n_val`` are the numbers of examples behind the training and validation accuracies (one
    example is ``100 / n`` points). With ``exact=True`` (same machine) every metric must be bit-equal; otherwise
    each is held to ``tolerance``. An empty list means the record is reproduced.
    """
    if n_train <= 0 or n_val <= 0:
        raise ValueError(f"n_train and n_val must be positive, got {n_train} and {n_val}")
    out = []
    keys = (*tolerance.exact, *tolerance.losses, *tolerance.accuracies)
    for key in keys:
        if key not in want:
            continue
        if key not in got:
            out.append(f"{key}: missing from the re-run")
            continue
        g, w = got[key], want[key]
        if exact or key in tolerance.exact:
            if g != w:
                out.append(f"{key}: re-run {g!r} != record {w!r} (bit-equality expected)")
        elif key in tolerance.losses:
            rel = abs(g - w) / max(abs(w), 1e-30)
            if rel > tolerance.loss_rtol:
                out.append(f"{key}: re-run {g!r} vs record {w!r}, relative difference {rel:.2e} > "
                           f"{tolerance.loss_rtol:.0e}")  # fmt: skip
        else:
            n = n_train if key.startswith("train") else n_val
            allowed = tolerance.accuracy_examples * 100.0 / n
            if abs(g - w) > allowed * (1 + 1e-9):
                out.append(f"{key}: re-run {g!r} vs record {w!r} differ by more than {tolerance.accuracy_examples} "
                           f"example(s) of {n} ({allowed:.3g} points)")  # fmt: skip
    return out


def rerun_first_epoch(record: dict[str, Any], run: dict[str, Any], out: str | Path) -> dict[str, Any]:
    """Re-train epoch 1 of ``run`` (one of ``record["runs"]``) from its config, with the record's thread count.

    Returns ``{"got", "want", "exact", "mismatches"}``: the re-run's and the record's epoch-1 metrics, whether
    bit-equality was required (:func:`same_machine`), and :func:`reproduction_mismatches`. Writes into ``out``.
    """
    from swin_viz.data.tasks import TASKS

    from .config import TrainConfig
    from .loop import train

    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    cfg = TrainConfig(**{k: v for k, v in run["config"].items() if k in fields})
    cfg.out, cfg.stop_after, cfg.progress = str(out), 1, False
    threads = torch.get_num_threads()
    torch.set_num_threads(int(record.get("threads", threads)))
    try:
        got = train(cfg)["metrics"][0]
    finally:
        torch.set_num_threads(threads)
    want = run["metrics"][0]
    exact = same_machine(record)
    n_train = int(want["step"]) * cfg.batch_size
    n_val = TASKS[cfg.task].n_val if cfg.data == "task" else n_train
    mismatches = reproduction_mismatches(got, want, n_train=n_train, n_val=n_val, exact=exact)
    return {"got": got, "want": want, "exact": exact, "mismatches": mismatches}
