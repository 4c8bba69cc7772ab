"""The run's data (the book's chapter "Training Swin"): which loaders a :class:`~.config.TrainConfig` picks on
this rank (in memory, streaming workers, shards, synthetic, a generated task) and a line saying which path runs.

The loaders themselves live in :mod:`swin_viz.data`; this module only chooses and builds them for a run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import data as D
from ..data.loaders import Loader
from ..data.shards import ShardLoader
from .config import TrainConfig
from .runtime import Runtime

__all__ = ["MEMORY_LIMIT_BYTES", "Data", "build_data"]

MEMORY_LIMIT_BYTES = 2.5e9
"""``loader="auto"`` decodes a folder into memory when it takes at most this much per rank."""


@dataclass
class Data:
    """This rank's loaders (the :class:`~swin_viz.data.loaders.Loader` protocol), the classes, and a line saying
    which data path runs."""

    train: Loader
    val: Loader | None
    classes: list[str]
    description: str


def build_data(cfg: TrainConfig, rt: Runtime) -> Data:
    """Training and validation loaders for this rank, and a line saying which path runs.

    Loaders take the global *micro*-batch (``batch_size / accum_steps``) and give this rank its slice.
    """
    size = cfg.resolved_image_size()
    micro = cfg.batch_size // cfg.accum_steps
    if micro % rt.world_size:
        raise ValueError(f"batch_size / accum_steps = {micro} must be divisible by the {rt.world_size} ranks")
    ranks = dict(seed=cfg.seed, rank=rt.rank, world_size=rt.world_size)
    ra = (cfg.randaugment or None) if cfg.augment else None  # per image, where the crop happens
    if cfg.data == "synthetic":
        loader = D.SyntheticLoader(micro, size, 1000, cfg.max_steps_per_epoch or 50, rt.device, cfg.seed,
                                   rt.world_size)  # fmt: skip
        return Data(loader, None, loader.classes, "synthetic: one random batch on the device (throughput only)")
    if cfg.data == "shards":
        common = dict(batch_size=micro, image_size=size, device=rt.device, num_workers=cfg.workers, **ranks)
        tr = ShardLoader(cfg.data_root, "train", train=True, randaugment=ra, **common)
        va = ShardLoader(cfg.data_root, "val", train=False, center_crop=cfg.eval_crop, **common)
        return Data(tr, va, tr.classes, f"{tr.name}: webdataset, {cfg.workers} workers per rank")
    if cfg.data == "folder":
        tr_index, va_index = _on_rank0(rt, D.scan_splits, cfg.data_root)  # one scan, not one per rank
        store = max(size, int(size * 256 / 224))
        in_memory = cfg.loader == "memory" or (
            cfg.loader == "auto" and len(tr_index) * 3 * store * store <= MEMORY_LIMIT_BYTES
        )
        if not in_memory:
            common = dict(batch_size=micro, image_size=size, device=rt.device, num_workers=cfg.workers, **ranks)
            tr = D.StreamingLoader(tr_index, train=True, randaugment=ra, **common)
            va = D.StreamingLoader(va_index, train=False, center_crop=cfg.eval_crop, **common)
            return Data(tr, va, tr.classes, f"{tr_index.name}: streaming, {cfg.workers} workers per rank, "
                                            f"decoded and cropped from the full-resolution files")  # fmt: skip
        train_set = D.load_image_folder(tr_index, size, store_size=store)
        val_set = D.load_image_folder(va_index, size, center_crop=cfg.eval_crop)
    elif cfg.data == "task":  # generated, controlled data (swin_viz.data.tasks): fixed by task_seed
        from ..data.tasks import load_task

        train_set = load_task(cfg.task, "train", cfg.task_seed)
        val_set = load_task(cfg.task, "val", cfg.task_seed)
    else:
        train_set = D.load_dataset(cfg.data, root=cfg.data_root, size=size, split="train")
        val_set = D.load_dataset(cfg.data, root=cfg.data_root, size=size, split="test" if cfg.data == "cifar10"
                                 else "val")  # fmt: skip
        if list(val_set.classes) != list(train_set.classes):
            raise ValueError(f"validation classes {val_set.classes} differ from training classes {train_set.classes}")
    common = dict(device=rt.device, image_size=size, normalize=False, **ranks)
    tr = D.DeviceLoader(train_set, micro, train=True, augment=cfg.augment, scale=tuple(cfg.crop_scale),
                        randaugment=ra, **common)  # fmt: skip
    va = D.DeviceLoader(val_set, micro, train=False, augment=False, **common)
    return Data(tr, va, list(train_set.classes), f"{train_set.name}: in memory on {rt.device}")


def _on_rank0(rt: Runtime, fn: Any, *args: Any) -> Any:
    """``fn(*args)`` computed by rank 0 and broadcast to every rank. An error on rank 0 (a missing folder, a split
    without a class) is raised on every rank, so none waits for a broadcast that never comes."""
    result: tuple[str, Any] | None = None
    if rt.main:
        try:
            result = ("ok", fn(*args))
        except (ValueError, OSError) as exc:
            result = ("error", (type(exc).__name__, str(exc)))
    result = rt.broadcast(result)
    kind, value = result
    if kind == "error":
        name, message = value
        raise (FileNotFoundError if name in ("FileNotFoundError", "NotADirectoryError") else ValueError)(message)
    return value
