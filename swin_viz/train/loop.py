"""The training loop (the book's chapter "Training Swin"). Read :func:`train` top to bottom:

1. *setup*: processes and device (:mod:`.runtime`), the same model initialisation on every rank;
2. *data*: :func:`build_data` picks the loaders (in memory, streaming workers, shards, synthetic) and says which;
3. *model and optimiser*: :func:`build_model`, AdamW (fused on CUDA), the schedule;
4. *resume*: rank 0 reads the checkpoint and broadcasts it (:mod:`.state`);
5. *per-rank randomness, DDP, compile*: stochastic depth, augmentation and Mixup draw from ``(seed, rank)``;
6. *epochs*: :func:`train_one_epoch`, :func:`evaluate`, then a checkpoint, written only when the weights and the
   validation loss are finite.

Inside an epoch nothing waits for the device: losses, accuracy and gradient norms accumulate on the device and
are reduced across ranks (and checked for NaN) every ``log_every`` steps only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .. import data as D
from ..checkpoints import LoadReport, load_state_dict
from ..flops import count_macs
from ..metrics import MetricsLog, per_class_report
from ..model import SwinTransformer, create_model
from . import finetune as FT
from .config import TrainConfig, recipe_text
from .log import StepLog
from .optim import build_optimizer, lr_at, soft_cross_entropy, warmup_steps
from .runtime import Runtime, peak_tflops, rank_seed, rng_state, seed_all, set_rng_state, setup_runtime
from .state import load_run_state, save_run_state, weights_finite

__all__ = ["NonFiniteLossError", "build_data", "build_model", "evaluate", "train", "train_one_epoch"]

MEMORY_LIMIT_BYTES = 2.5e9
"""``loader="auto"`` decodes a folder into memory when it takes at most this much per rank."""


class NonFiniteLossError(RuntimeError):
    """The loss (or the weights) became NaN or infinite; every rank stopped and the last good checkpoint was kept."""


# ======================================================================================================= data
@dataclass
class Data:
    train: Any
    val: Any
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
    if cfg.data == "synthetic":
        loader = D.SyntheticLoader(micro, size, 1000, cfg.max_steps_per_epoch or 50, rt.device, cfg.seed,
                                   rt.world_size)  # fmt: skip
        return Data(loader, None, loader.classes, "synthetic: one random batch on the device (throughput only)")
    if cfg.data == "shards":
        common = dict(batch_size=micro, image_size=size, device=rt.device, num_workers=cfg.workers, **ranks)
        tr = D.shards.ShardLoader(cfg.data_root, "train", train=True, **common)
        va = D.shards.ShardLoader(cfg.data_root, "val", train=False, **common)
        return Data(tr, va, tr.classes, f"{tr.name}: webdataset, {cfg.workers} workers per rank")
    if cfg.data == "folder":
        tr_index, va_index = D.scan_splits(cfg.data_root)
        store = max(size, int(size * 256 / 224))
        in_memory = cfg.loader == "memory" or (
            cfg.loader == "auto" and len(tr_index) * 3 * store * store <= MEMORY_LIMIT_BYTES
        )
        if not in_memory:
            common = dict(batch_size=micro, image_size=size, device=rt.device, num_workers=cfg.workers, **ranks)
            tr = D.StreamingLoader(tr_index, train=True, **common)
            va = D.StreamingLoader(va_index, train=False, **common)
            return Data(tr, va, tr.classes, f"{tr_index.name}: streaming, {cfg.workers} workers per rank, "
                                            f"decoded and cropped from the full-resolution files")  # fmt: skip
        train_set = D.load_image_folder(tr_index, size, store_size=store)
        val_set = D.load_image_folder(va_index, size)
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
    tr = D.DeviceLoader(train_set, micro, train=True, augment=cfg.augment, scale=tuple(cfg.crop_scale), **common)
    va = D.DeviceLoader(val_set, micro, train=False, augment=False, **common)
    return Data(tr, va, list(train_set.classes), f"{train_set.name}: in memory on {rt.device}")


def prepare_batch(x: torch.Tensor, augment: nn.Module | None) -> torch.Tensor:
    """A loader's batch (uint8, or float in [0, 1]) -> normalised float, RandAugment and erasing when training."""
    if not x.is_floating_point():
        x = x.float().div_(255.0)
    return augment(x) if augment is not None else D.normalize(x)


# ============================================================================================ model, optimiser
def build_model(cfg: TrainConfig, num_classes: int) -> SwinTransformer:
    """The model a config describes, with ``num_classes`` outputs."""
    kwargs: dict[str, Any] = {"num_classes": num_classes}
    if cfg.drop_path is not None:
        kwargs["drop_path_rate"] = cfg.drop_path
    kwargs.update(cfg.model_kwargs)
    return create_model(cfg.model, **kwargs)  # any registered name: swin_t..swin_l, small, ...


# ================================================================================================= one epoch
@dataclass
class Run:
    """Everything one epoch needs, built once by :func:`train`."""

    cfg: TrainConfig
    rt: Runtime
    model: nn.Module
    net: nn.Module  # DDP and/or compiled wrapper of model, for training
    eval_net: nn.Module  # compiled (or plain) model, for evaluation
    optimizer: torch.optim.Optimizer
    data: Data
    augment: nn.Module | None
    mix: D.MixupCutmix
    steps_per_epoch: int
    total_steps: int
    warmup: int
    amp: bool
    channels_last: bool
    flops_per_image: float  # matmul FLOPs of one training image (forward + backward)
    peak_flops: float | None
    steplog: StepLog
    step: int = 0
    ckpt_path: Path = field(default_factory=Path)


def train_one_epoch(run: Run, epoch: int) -> dict[str, float]:
    """One pass over this rank's training batches; returns the epoch's loss, accuracy and speed (all ranks)."""
    cfg, rt, model, net, opt = run.cfg, run.rt, run.model, run.net, run.optimizer
    net.train()
    run.data.train.set_epoch(epoch)
    batches = iter(run.data.train)
    bar = _progress(run.steps_per_epoch, f"epoch {epoch + 1}/{cfg.epochs}", enabled=cfg.progress and rt.main)
    epoch_sums = torch.zeros(3, dtype=torch.float64, device=rt.device)  # loss sum, correct, seen
    window = torch.zeros(3, dtype=torch.float64, device=rt.device)  # loss sum, correct, grad-norm sum
    window_seen, window_steps, window_wait, window_start = 0, 0, 0.0, time.perf_counter()
    epoch_images, epoch_start = 0, time.perf_counter()
    clip = cfg.clip_grad if cfg.clip_grad else math.inf
    for i in range(run.steps_per_epoch):
        lr = cfg.resolved_lr()
        if cfg.lr_schedule == "cosine":
            lr = lr_at(run.step, run.total_steps, run.warmup, lr)
        for group in opt.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)  # layer-wise decay, when fine-tuning with it
        for micro_step in range(cfg.accum_steps):
            t0 = time.perf_counter()
            x, y = next(batches)
            window_wait += time.perf_counter() - t0
            x = prepare_batch(x, run.augment)
            x, targets = run.mix(x, y)
            if run.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            # Under DDP, gradients are all-reduced only on the last micro-batch of an accumulation.
            last = micro_step == cfg.accum_steps - 1
            ctx = net.no_sync() if (not last and rt.distributed) else contextlib.nullcontext()
            with ctx:
                with torch.autocast(rt.device.type, dtype=torch.bfloat16, enabled=run.amp):
                    logits = net(x)
                    loss = soft_cross_entropy(logits, targets)
                (loss / cfg.accum_steps).backward()
            window[0] += loss.detach().double() * len(y)
            window[1] += (logits.argmax(1) == y).sum()
            window_seen += len(y)
            epoch_images += len(y) * rt.world_size
        window[2] += torch.nn.utils.clip_grad_norm_(model.parameters(), clip).double()
        opt.step()
        opt.zero_grad(set_to_none=True)
        run.step += 1
        window_steps += 1
        if bar is not None:
            bar.update(1)
        if window_steps == cfg.log_every or i == run.steps_per_epoch - 1:
            seen_t = torch.tensor([float(window_seen)], dtype=torch.float64).to(rt.device, non_blocking=True)
            reduced = rt.all_reduce(torch.cat([window, seen_t]))  # the one host sync of the window
            loss_sum, correct, gn_sum, seen = reduced.tolist()
            if not math.isfinite(loss_sum):
                raise NonFiniteLossError(_non_finite_message(loss_sum, epoch, run.step, run.ckpt_path))
            elapsed = time.perf_counter() - window_start
            img_s = seen / elapsed
            row = {"step": run.step, "epoch": epoch + 1, "loss": loss_sum / seen, "train_top1": 100 * correct / seen,
                   "lr": lr, "grad_norm": gn_sum / (window_steps * rt.world_size), "img_per_s": img_s,
                   "data_wait": window_wait / elapsed,
                   "mfu": img_s * run.flops_per_image / run.peak_flops if run.peak_flops else None,
                   "peak_mem_gb": torch.cuda.max_memory_allocated(rt.device) / 1e9 if rt.device.type == "cuda"
                   else None}  # fmt: skip
            if rt.main:
                run.steplog.append(row)
            if bar is not None:
                bar.set_postfix(loss=f"{row['loss']:.3f}", acc=f"{row['train_top1']:.1f}", img_s=f"{img_s:.0f}",
                                lr=f"{lr:.1e}", wait=f"{100 * row['data_wait']:.0f}%")  # fmt: skip
            epoch_sums += reduced[[0, 1, 3]]
            window.zero_()
            window_seen, window_steps, window_wait, window_start = 0, 0, 0.0, time.perf_counter()
    if bar is not None:
        bar.close()
    loss_sum, correct, seen = epoch_sums.tolist()
    elapsed = time.perf_counter() - epoch_start
    return {"train_loss": loss_sum / max(seen, 1), "train_top1": 100 * correct / max(seen, 1),
            "lr": opt.param_groups[0]["lr"], "img_per_s": epoch_images / elapsed, "epoch_s": elapsed}  # fmt: skip


# ================================================================================================= evaluation
@torch.no_grad()
def evaluate(model: nn.Module, loader: Any, num_classes: int, rt: Runtime | None = None, amp: bool = False,
             ) -> dict[str, Any]:  # fmt: skip
    """Top-1/top-5 accuracy, mean loss and the confusion matrix over a loader (summed over all ranks).

    Batches may be uint8, float in [0, 1], or already normalised (a loader made with ``normalize=True``). Counts
    accumulate on the device; the host waits once, at the end.
    """
    was_training = model.training
    model.eval()
    device = rt.device if rt else next(model.parameters()).device
    totals = torch.zeros(4, dtype=torch.float64, device=device)  # loss sum, top1, top5, count
    count = 0
    cm = torch.zeros(num_classes * num_classes, dtype=torch.int64, device=device)
    for x, y in loader:
        if not getattr(loader, "normalize", False):
            x = prepare_batch(x, None)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            logits = model(x)
        logits = logits.float()
        hits = logits.topk(min(5, num_classes), dim=1).indices == y[:, None]
        totals[0] += F.cross_entropy(logits, y, reduction="sum").double()
        totals[1] += hits[:, 0].sum()
        totals[2] += hits.any(1).sum()
        count += len(y)
        cm += torch.bincount(y * num_classes + logits.argmax(1), minlength=num_classes * num_classes)
    totals[3] = count
    if rt is not None and rt.distributed:
        rt.all_reduce(totals)
        rt.all_reduce(cm)
    model.train(was_training)
    loss_sum, top1, top5, count = totals.tolist()
    n = max(count, 1.0)
    return {"loss": loss_sum / n, "top1": 100 * top1 / n, "top5": 100 * top5 / n, "count": int(count),
            "confusion": cm.reshape(num_classes, num_classes).cpu()}  # fmt: skip


# ======================================================================================================= train
def train(cfg: TrainConfig) -> dict[str, Any]:
    """Run (or continue) a training run; returns a summary (final metrics, paths, throughput)."""
    # ---- 1. setup: processes, device; the model's initialisation is the same on every rank
    cfg.validate()
    rt = setup_runtime(cfg.device)
    seed_all(cfg.seed)
    out = Path(cfg.out)
    ckpt_path = out / "checkpoint.pt"
    cuda = rt.device.type == "cuda"
    amp = cfg.amp == "bf16" or (cfg.amp == "auto" and cuda)
    compile_model = cfg.compile == "on" or (cfg.compile == "auto" and cuda)
    channels_last = cfg.channels_last == "on" or (cfg.channels_last == "auto" and cuda)

    # ---- 2. data
    data = build_data(cfg, rt)
    num_classes = len(data.classes)
    size = cfg.resolved_image_size()
    steps_per_epoch = len(data.train) // cfg.accum_steps
    if cfg.max_steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, cfg.max_steps_per_epoch)
    if steps_per_epoch < 1:
        raise ValueError(f"{data.description} gives no full step of batch {cfg.batch_size}; lower --batch-size")

    # ---- 3. model, optimiser, schedule
    model = build_model(cfg, num_classes).to(rt.device)
    if cfg.grad_checkpointing:
        model.set_grad_checkpointing(True)
    if cfg.init:  # fine-tuning: another checkpoint's weights, a new head, bias tables resized
        init_report = FT.init_from_checkpoint(model, cfg.init)
        if rt.main:
            print(f"init from {cfg.init}\n{init_report}")
    tuned = FT.apply_finetune_mode(model, cfg.finetune, cfg.lora_rank)  # what is trained
    model.to(rt.device)  # LoRA adapters are created on the CPU
    optimizer = build_optimizer(FT.param_groups(model, cfg.weight_decay, cfg.layer_decay), cfg.resolved_lr(),
                                rt.device)  # fmt: skip
    total_steps = cfg.epochs * steps_per_epoch
    macs = count_macs(model, size).macs.matmul  # per image, forward

    # ---- 4. resume (rank 0 reads, every rank receives)
    start_epoch, step, log = 0, 0, MetricsLog(out)
    state = load_run_state(ckpt_path, rt, cfg) if cfg.resume else None
    if state is not None:
        report: LoadReport = load_state_dict(model, state["state_dict"], layout="swin_viz")
        optimizer.load_state_dict(state["optimizer"])
        start_epoch, step = state["epoch"] + 1, state["step"]
        log = MetricsLog(out, state.get("metrics", []))
        data.train.load_state_dict(state["loader"])
        if rt.main:
            print(f"resumed from {ckpt_path} after epoch {state['epoch'] + 1} ({len(report.loaded)} tensors)")
    elif cfg.resume and rt.main:
        print(f"--resume: no checkpoint at {ckpt_path}; starting from scratch")

    # ---- 5. per-rank randomness (stochastic depth, augmentation, Mixup), DDP, compile
    if state is not None and rt.rank < len(state["rng"]):
        set_rng_state(state["rng"][rt.rank])
    else:
        seed_all(rank_seed(cfg.seed, rt.rank))
    groups = cfg.mix_groups or rt.world_size
    if groups % rt.world_size:
        raise ValueError(f"mix_groups={cfg.mix_groups} must be a multiple of the {rt.world_size} ranks")
    per_rank = groups // rt.world_size
    mix = D.MixupCutmix(num_classes, cfg.mixup, cfg.cutmix, cfg.mix_switch_prob, cfg.label_smoothing, cfg.seed,
                        group_ids=range(rt.rank * per_rank, (rt.rank + 1) * per_rank))  # fmt: skip
    if state is not None and "mix" in state:
        mix.load_state_dict(state["mix"])
    augment = None
    if cfg.augment and (cfg.randaugment or cfg.reprob > 0):
        augment = D.BatchAugment(cfg.randaugment or None, cfg.reprob).to(rt.device)
    net: nn.Module = model
    if rt.distributed:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[rt.device.index] if cuda else None)
    eval_net: nn.Module = model
    if compile_model:
        net = torch.compile(net, mode=cfg.compile_mode)
        eval_net = torch.compile(model, mode=cfg.compile_mode)
    peak, peak_source = peak_tflops(rt.device)
    steplog = StepLog(out, enabled=rt.main, resume_step=step)
    run = Run(cfg, rt, model, net, eval_net, optimizer, data, augment, mix, steps_per_epoch, total_steps,
              warmup_steps(cfg.warmup_epochs, steps_per_epoch), amp, channels_last, 6.0 * macs,
              peak * 1e12 if peak else None, steplog, step, ckpt_path)  # fmt: skip

    if rt.main:
        n_params = sum(p.numel() for p in model.parameters())
        print(
            f"{cfg.label or 'training run'}\n  model {cfg.model} ({n_params / 1e6:.2f} M parameters, "
            f"{tuned['trainable']:,} trained ({cfg.finetune}), "
            f"{macs / 1e9:.3f} G MACs/image at {size}), {num_classes} classes\n  data: {data.description}\n"
            f"  device {rt.device} x {rt.world_size}, bf16 {amp}, compile {compile_model} ({cfg.compile_mode}), "
            f"channels-last {channels_last}, MFU peak: {peak_source}, TensorBoard: {steplog.tensorboard}\n"
            f"  global batch {cfg.batch_size} ({cfg.accum_steps} accumulation steps), {cfg.epochs} epochs x "
            f"{steps_per_epoch} steps\n{recipe_text(cfg)}", flush=True,
        )  # fmt: skip

    # ---- 6. epochs
    summary: dict[str, Any] = {"out": str(out), "label": cfg.label, "data": data.description,
                               "device": str(rt.device), "trainable_parameters": tuned["trainable"]}  # fmt: skip
    last_epoch = cfg.epochs if cfg.stop_after is None else min(cfg.epochs, start_epoch + cfg.stop_after)
    for epoch in range(start_epoch, last_epoch):
        row: dict[str, Any] = {"epoch": epoch + 1, "step": 0, **train_one_epoch(run, epoch)}
        row["step"] = run.step
        if data.val is not None:
            ev = evaluate(eval_net, data.val, num_classes, rt, amp)
            row.update(val_loss=ev["loss"], val_top1=ev["top1"], val_top5=ev["top5"])
            summary["confusion"] = ev["confusion"]
        # A bad last step (finite loss, non-finite update) must not replace the last good checkpoint.
        if not weights_finite(model) or not math.isfinite(row.get("val_loss", 0.0)):
            raise NonFiniteLossError(_non_finite_message(row.get("val_loss", math.nan), epoch, run.step, ckpt_path,
                                                         "the weights or the validation loss"))  # fmt: skip
        if rt.main:
            log.append(row)
        save_run_state(ckpt_path, rt, dict(
            format="swin_viz", version=2, config=dataclasses.asdict(model.config), train_config=cfg.plain(),
            classes=data.classes, state_dict=model.state_dict(), optimizer=optimizer.state_dict(), epoch=epoch,
            step=run.step, rng=rng_state(), mix=mix.state_dict(), metrics=log.rows,
            loader=data.train.state_dict(),
        ))  # fmt: skip
        if rt.main:
            print(" ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()), flush=True)
    steplog.close()

    summary.update(metrics=log.rows, checkpoint=str(ckpt_path), classes=data.classes, steps=run.step,
                   macs_per_image=macs, ranks_identical=_ranks_identical(model, rt))  # fmt: skip
    if "confusion" in summary and rt.main:
        cm = summary["confusion"]
        summary["per_class"] = per_class_report(cm, data.classes)
        (out / "confusion.json").write_text(json.dumps({"classes": data.classes, "matrix": cm.tolist()}))
        (out / "per_class.json").write_text(json.dumps(summary["per_class"], indent=1))
    if rt.main:
        (out / "summary.json").write_text(json.dumps({k: v for k, v in summary.items() if k != "confusion"}, indent=1,
                                                     default=str))  # fmt: skip
    return summary


def _ranks_identical(model: nn.Module, rt: Runtime) -> bool:
    """Whether every rank ends with bit-identical weights (always true for one process)."""
    if not rt.distributed:
        return True
    flat = torch.cat([p.detach().reshape(-1).double() for p in model.parameters()])
    mine = torch.stack([flat.sum(), (flat * torch.arange(1, flat.numel() + 1, device=flat.device)).sum()]).tolist()
    return all(g == mine for g in rt.gather(mine))


def _non_finite_message(value: float, epoch: int, step: int, ckpt_path: Path, what: str = "the loss") -> str:
    last = ckpt_path if ckpt_path.exists() else "none yet"
    return (f"{what} became {value} in epoch {epoch + 1} (by step {step}); every rank stopped. The last good "
            f"checkpoint is {last} (not overwritten). Lower --lr or raise --warmup-epochs, then --resume.")  # fmt: skip


def _progress(total: int, desc: str, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True, file=sys.stdout)
