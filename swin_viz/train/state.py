"""The checkpoint of a run: everything needed to continue exactly, written only when it is good.

``checkpoint.pt`` holds the model and optimiser, the epoch and step, every rank's random states, the loaders' and
Mixup's states, the metrics so far, and the config. It is written atomically by rank 0 after two checks: the
weights are finite and the validation loss is finite. A run that goes bad therefore never replaces the last good
checkpoint.

Resuming, rank 0 reads the file and broadcasts it, so the other ranks need no shared filesystem. A checkpoint of
another run (another batch size, lr, seed, model, data, world size, ...) is refused, naming the fields that
differ, unless ``allow_config_change``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..atomic import atomic_save
from .config import TrainConfig
from .runtime import Runtime

__all__ = ["RESUME_IGNORES", "config_differences", "load_run_state", "save_run_state", "weights_finite"]

RESUME_IGNORES = frozenset({
    "resume", "allow_config_change", "stop_after", "progress", "out", "label", "log_every", "workers", "device",
    "compile", "compile_mode", "amp", "channels_last", "grad_checkpointing",
})  # fmt: skip
"""Fields that may change between a run and its resumption (where and how fast it runs, not what it computes)."""


def config_differences(saved: dict[str, Any], cfg: TrainConfig, saved_world: int, world: int) -> list[str]:
    """``["batch_size: 64 -> 128", ...]``: the fields of ``cfg`` that differ from a checkpoint's config."""
    now = cfg.plain()
    diffs = [f"{k}: {saved.get(k)!r} -> {now[k]!r}" for k in now
             if k not in RESUME_IGNORES and saved.get(k) != now[k]]  # fmt: skip
    if saved_world != world:
        diffs.append(f"world_size: {saved_world} -> {world}")
    return diffs


@torch.no_grad()
def weights_finite(model: nn.Module) -> bool:
    """Whether every parameter and buffer is finite (one host sync)."""
    flags = [torch.isfinite(t).all() for t in (*model.parameters(), *model.buffers()) if t.is_floating_point()]
    return bool(torch.stack(flags).all()) if flags else True


def save_run_state(path: Path, rt: Runtime, payload: dict[str, Any]) -> None:
    """Rank 0 writes ``payload`` atomically; every rank takes part (they contribute their random states)."""
    rngs = rt.gather(payload.pop("rng"))
    if rt.main:
        atomic_save({**payload, "rng": rngs, "world_size": rt.world_size}, path)


def load_run_state(path: Path, rt: Runtime, cfg: TrainConfig) -> dict[str, Any] | None:
    """Rank 0 reads ``path`` (``weights_only=True``) and broadcasts it; ``None`` when there is none.

    Raises ``ValueError`` naming the differing fields when the checkpoint was made by another config (unless
    ``cfg.allow_config_change``), and when it is not a checkpoint of this engine.
    """
    state = None
    if rt.main and path.exists():
        state = torch.load(path, map_location="cpu", weights_only=True)
    state = rt.broadcast(state)
    if state is None:
        return None
    if not isinstance(state, dict) or state.get("format") != "swin_viz" or "train_config" not in state:
        raise ValueError(f"{path} is not a training checkpoint of swin_viz.train (no format/train_config)")
    diffs = config_differences(state["train_config"], cfg, int(state.get("world_size", 1)), rt.world_size)
    if diffs and not cfg.allow_config_change:
        raise ValueError(
            f"cannot resume from {path}: it was made by another configuration ({'; '.join(diffs)}). Resume with "
            f"the same settings, use another --out, or pass --allow-config-change to continue anyway."
        )
    if diffs and rt.main:
        print(f"resuming with a changed configuration (--allow-config-change): {'; '.join(diffs)}")
    return state
