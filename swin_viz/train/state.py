"""The checkpoint of a run: everything needed to continue exactly, written only when it is good.

``checkpoint.pt`` (its format: :func:`swin_viz.checkpoints.run_checkpoint`) holds the model and optimiser, the
epoch and step, every rank's random states and Mixup states, the loader's state, the loss scaler's, the metrics so
far, and the config. It is written atomically by rank 0 after two checks: the
weights are finite and the validation loss is finite. A run that goes bad therefore never replaces the last good
checkpoint.

Resuming, rank 0 reads the file and broadcasts it, so the other ranks need no shared filesystem. A checkpoint of
another run (another batch size, lr, seed, model, data, ...) is refused, naming the fields that differ, unless
``allow_config_change``. Another number of processes is accepted where the run computes the same thing (the data
order, the crops and the Mixup groups do not depend on it) and refused, saying why, where it would not
(:func:`world_change_problems`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..atomic import atomic_save
from ..checkpoints import read_run_checkpoint, run_checkpoint
from .config import TrainConfig
from .runtime import Runtime

__all__ = ["RESUME_IGNORES", "config_differences", "load_run_state", "mix_state_for", "save_run_state",
           "weights_finite", "world_change_problems"]

RESUME_IGNORES = frozenset({
    "resume", "allow_config_change", "stop_after", "progress", "out", "label", "log_every", "workers", "device",
    "compile", "compile_mode", "amp", "channels_last", "grad_checkpointing", "init", "max_device_batch",
})  # fmt: skip
"""Fields that may change between a run and its resumption (where and how fast it runs, not what it computes).
``init`` is among them: a resumed fine-tuning run continues from its checkpoint, never from ``--init`` again (the
checkpoint's config keeps the path it started from). A ``mix_groups`` that was changed is compared as the number
of groups it gives (0 means one per rank); when unchanged, another number of processes is
:func:`world_change_problems`' question."""


def config_differences(saved: dict[str, Any], cfg: TrainConfig, saved_world: int = 1, world: int = 1) -> list[str]:
    """``["batch_size: 64 -> 128", ...]``: the fields of ``cfg`` that differ from a checkpoint's config
    (``saved_world``, ``world``: the numbers of processes, which resolve ``mix_groups=0``)."""
    now = cfg.plain()
    diffs = []
    for k in now:
        if k in RESUME_IGNORES:
            continue
        before, after = saved.get(k), now[k]
        if k == "mix_groups" and before != after:  # 0 -> 2 on 2 processes is no change (0: one per rank)
            before, after = before or saved_world, after or world
        if before != after:
            diffs.append(f"{k}: {before!r} -> {after!r}")
    return diffs


def world_change_problems(saved: dict[str, Any], saved_world: int, world: int, per_rank_draws: list[str]) -> list[str]:
    """Why a run made on ``saved_world`` processes would compute something else on ``world`` (empty: nothing).

    The data order and the crops are functions of ``(seed, epoch, index)`` and Mixup's pairs of ``mix_groups``, so
    they do not change. What does: the Mixup groups when ``mix_groups=0`` (one per rank) and Mixup is on, and
    every draw a rank makes from its own stream (``per_rank_draws``, e.g. stochastic depth), whose streams are
    one per rank. Floating-point sums over another number of processes round differently in any case.
    """
    if saved_world == world:
        return []
    problems = []
    mixing = (saved.get("mixup", 0) or 0) > 0 or (saved.get("cutmix", 0) or 0) > 0
    if mixing and not saved.get("mix_groups"):
        problems.append(f"Mixup pairs images inside each rank's slice of the batch (mix_groups=0: one group per "
                        f"rank), so {world} processes would pair other images than {saved_world}; a run that "
                        f"may change its number of processes sets --mix-groups (a multiple of every world size "
                        f"it will use)")  # fmt: skip
    for what in per_rank_draws:
        problems.append(f"{what} draws from one random stream per rank; {saved_world} saved streams cannot be "
                        f"continued by {world} processes")  # fmt: skip
    return problems


def mix_state_for(saved_mix: dict[str, Any], group_ids: list[int]) -> dict[str, Any] | None:
    """The saved Mixup state (every group's) restricted to ``group_ids``, or ``None`` when some are missing."""
    by_group = dict(zip((int(g) for g in saved_mix.get("group_ids", [])), saved_mix.get("rngs", [])))
    if not all(g in by_group for g in group_ids):
        return None
    return {"group_ids": list(group_ids), "rngs": [by_group[g] for g in group_ids]}


@torch.no_grad()
def weights_finite(model: nn.Module) -> bool:
    """Whether every parameter and buffer is finite (one host sync)."""
    flags = [torch.isfinite(t).all() for t in (*model.parameters(), *model.buffers()) if t.is_floating_point()]
    return bool(torch.stack(flags).all()) if flags else True


def save_run_state(path: Path, rt: Runtime, rng: dict[str, Any], mix: dict[str, Any], **payload: Any) -> None:
    """Rank 0 writes the checkpoint atomically; every rank takes part: it contributes its random state ``rng`` and
    its Mixup state ``mix`` (``MixupCutmix.state_dict()``). ``payload``: the other arguments of
    :func:`~swin_viz.checkpoints.run_checkpoint`."""
    rngs = rt.gather(rng)
    mixes = rt.gather(mix)
    all_mix = {"group_ids": [g for m in mixes for g in m["group_ids"]], "rngs": [r for m in mixes for r in m["rngs"]]}
    if rt.main:
        atomic_save(run_checkpoint(rngs=rngs, mix=all_mix, world_size=rt.world_size, **payload), path)


def load_run_state(path: Path, rt: Runtime, cfg: TrainConfig, per_rank_draws: Sequence[str] = ()
                   ) -> dict[str, Any] | None:  # fmt: skip
    """Rank 0 reads ``path`` (``weights_only=True``) and broadcasts it; ``None`` when there is none.

    Raises ``ValueError`` naming the differing fields when the checkpoint was made by another config, or saying
    why another number of processes would compute something else (:func:`world_change_problems`; what this run
    draws per rank is ``per_rank_draws``), unless ``cfg.allow_config_change``; and when it is not a checkpoint of
    this engine.
    """
    state = None
    if rt.main and path.exists():
        state = torch.load(path, map_location="cpu", weights_only=True)
    state = rt.broadcast(state)
    if state is None:
        return None
    state = read_run_checkpoint(state, str(path))
    diffs = config_differences(state["train_config"], cfg, int(state["world_size"]), rt.world_size)
    if diffs and not cfg.allow_config_change:
        raise ValueError(
            f"cannot resume from {path}: it was made by another configuration ({'; '.join(diffs)}). Resume with "
            f"the same settings, use another --out, or pass --allow-config-change to continue anyway."
        )
    if diffs and rt.main:
        print(f"resuming with a changed configuration (--allow-config-change): {'; '.join(diffs)}")
    saved_world = int(state["world_size"])
    problems = world_change_problems(state["train_config"], saved_world, rt.world_size, list(per_rank_draws))
    if problems and not cfg.allow_config_change:
        raise ValueError(f"cannot resume {path} on {rt.world_size} processes: it was made on {saved_world}, and "
                         f"{'; '.join(problems)}. Resume on {saved_world} processes, or pass --allow-config-change "
                         f"to continue anyway (a statistically equivalent run, not the same one).")  # fmt: skip
    if saved_world != rt.world_size and rt.main:
        print(f"resuming a run of {saved_world} processes on {rt.world_size}: the data order, crops and Mixup groups "
              f"are the same" + (f" ({'; '.join(problems)})" if problems else ""))
    return state
