"""Training Swin: the paper's recipe, fast on a GPU, exact to resume, on one device or many.

    python -m swin_viz.train --help
    python -m swin_viz.train --preset cpu-demo                     # a short, labelled CPU schedule (minutes)
    python -m swin_viz.train --data folder --data-root ~/imagenette2 --epochs 100
    torchrun --nproc_per_node=8 -m swin_viz.train --data folder --data-root ~/imagenet

The same :func:`train` backs the command line and the book's last chapter. Read it top to bottom:

1. *setup* -- distributed process group (when launched by ``torchrun``), device, seeds;
2. *data* -- :mod:`swin_viz.data` loads images into memory and serves batches already on the device,
   augmented there (no torchvision);
3. *model and optimiser* -- AdamW with weight decay 0.05 on weights only (not on norms, biases or the relative
   position bias tables), learning rate scaled by ``batch / 1024``, linear warm-up then cosine decay, label
   smoothing, stochastic depth, gradient clipping at 5, optional Mixup/CutMix (paper, Sec. 4.1 and App. A2.1);
4. *speed* -- bf16 autocast, ``torch.compile`` (default on CUDA), the fused attention path, channels-last input,
   gradient accumulation and checkpointing for small cards, ``DistributedDataParallel`` for many;
5. *the loop* -- progress bar, a metrics row per epoch (CSV + JSON), a checkpoint per epoch written atomically
   with everything needed to continue exactly (RNG states, data order, schedule), a clear stop on a non-finite
   loss that keeps the last good checkpoint.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from . import data as D
from . import finetune as FT
from .checkpoints import LoadReport, load_state_dict
from .flops import count_macs
from .metrics import MetricsLog, confusion_matrix, per_class_report, topk_correct
from .model import CONFIGS, SwinTransformer, create_model

__all__ = [
    "PRESETS",
    "NonFiniteLossError",
    "TrainConfig",
    "build_model",
    "evaluate",
    "lr_at",
    "main",
    "param_groups",
    "train",
]


# ============================================================================================== configuration
@dataclass
class TrainConfig:
    """Every knob of a run. Defaults are the paper's ImageNet-1K recipe for Swin-T (REFERENCE.md)."""

    # data
    data: str = "digits"
    """``digits`` (offline default: scikit-learn's handwritten digits), ``cifar10``, ``folder`` (ImageFolder
    layout) or ``synthetic`` (random tensors on the device; throughput only)."""
    data_root: str | None = None
    image_size: int | None = None
    """Input side; default per data set (digits 32, cifar10 32, folder 224, synthetic 224)."""
    augment: bool = True
    # model
    model: str = "swin_t"
    """``swin_t`` / ``swin_s`` / ``swin_b`` / ``swin_l``, or ``small`` (a few channels and blocks, for CPUs)."""
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    drop_path: float | None = None
    """Stochastic depth; ``None``: the model's default (0.2 T, 0.3 S, 0.5 B)."""
    # optimisation
    epochs: int = 300
    batch_size: int = 1024
    """Global batch (all GPUs together, before accumulation is split off)."""
    lr: float | None = None
    """Peak learning rate; ``None``: ``1e-3 * batch_size / 1024``."""
    warmup_epochs: float = 20
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    clip_grad: float | None = 5.0
    lr_schedule: str = "cosine"
    """``cosine`` (warm-up, then cosine decay) or ``constant`` (the paper's fine-tuning: ``lr`` throughout)."""
    mixup: float = 0.8
    cutmix: float = 1.0
    accum_steps: int = 1
    # fine-tuning (swin_viz.finetune; issue 9 wiring, to port into the engine)
    init: str | None = None
    """Start from this checkpoint's weights (official, timm, torchvision, HuggingFace or ours): the head is replaced
    when the classes differ, bias tables are resized to the model's window, anything else must match."""
    finetune: str = "full"
    """What is trained: ``full``, ``linear`` (the head), ``last-N`` (the last N stages and the head), ``lora``."""
    layer_decay: float | None = None
    """Layer-wise lr decay: each block trains at this factor of the rate of the block above; ``None``: off."""
    lora_rank: int = 0
    """Rank of the LoRA adapters on every attention's qkv and proj (``finetune="lora"`` only)."""
    # speed
    device: str = "auto"
    amp: str = "auto"
    """``bf16`` autocast, ``off``, or ``auto`` (bf16 on CUDA, off on CPU)."""
    compile: str = "auto"
    """``on``, ``off`` or ``auto`` (on for CUDA)."""
    grad_checkpointing: bool = False
    channels_last: str = "auto"
    # bookkeeping
    seed: int = 0
    out: str = "runs/swin"
    resume: bool = False
    stop_after: int | None = None
    """Stop after this many epochs *in this invocation* (the schedule still spans ``epochs``); resume later."""
    max_steps_per_epoch: int | None = None
    progress: bool = True
    label: str = ""
    """A line every log and figure of the run carries (presets say what they are, e.g. a short CPU schedule)."""

    def resolved_lr(self) -> float:
        return self.lr if self.lr is not None else 1e-3 * self.batch_size / 1024


SMALL_MODEL = dict(embed_dim=32, depths=(2, 2, 2), num_heads=(2, 4, 8), window_size=4, patch_size=2)
"""The ``small`` model: Swin's structure (W-MSA/SW-MSA pairs, patch merging) with 32 channels and under a
million parameters, for 32x32 inputs (patch 2: 16x16 tokens, 4x4 windows)."""

PRESETS: dict[str, dict[str, Any]] = {
    "paper": {},
    "cpu-demo": dict(
        data="digits", model="small", epochs=3, batch_size=64, lr=2e-3, warmup_epochs=1, mixup=0.0, cutmix=0.0,
        drop_path=0.0, label="short CPU schedule: a small Swin on scikit-learn's digits, 3 epochs (not the paper's)",
    ),
    "digits-small": dict(
        data="digits", model="small", epochs=40, batch_size=64, lr=2e-3, warmup_epochs=2, mixup=0.0, cutmix=0.0,
        drop_path=0.05, label="small Swin trained on scikit-learn's handwritten digits (32x32), the book's checkpoint",
    ),
    "finetune": FT.PAPER_FINETUNE,
}  # fmt: skip
"""Named configurations: ``paper`` is the default recipe; ``cpu-demo`` is what the book runs without a GPU;
``digits-small`` made the checkpoint the book ships (``swin_viz/assets``); ``finetune`` is the paper's fine-tuning
recipe (with ``--init PATH``)."""


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the run stopped and the last good checkpoint was kept."""


# ====================================================================================================== setup
@dataclass
class Runtime:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_runtime(cfg: TrainConfig) -> Runtime:
    """Join the process group when launched by ``torchrun`` (NCCL on CUDA, gloo on CPU); pick the device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if cfg.device == "auto":
        device = torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(cfg.device)
        if device.type == "cuda" and device.index is None:
            device = torch.device(f"cuda:{local_rank}")
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Runtime(rank, world_size, local_rank, device)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# ======================================================================================================= data
DEFAULT_SIZES = {"digits": 32, "cifar10": 32, "folder": 224, "synthetic": 224}


def build_data(cfg: TrainConfig, rt: Runtime) -> tuple[Any, Any, list[str]]:
    """Training and validation loaders (batches already on the device) and the class names."""
    size = cfg.image_size or DEFAULT_SIZES.get(cfg.data, 224)
    if cfg.batch_size % (rt.world_size * cfg.accum_steps):
        raise ValueError(
            f"batch_size {cfg.batch_size} must be divisible by world_size x accum_steps = "
            f"{rt.world_size} x {cfg.accum_steps}"
        )
    micro = cfg.batch_size // cfg.accum_steps
    if cfg.data == "synthetic":
        classes = [str(i) for i in range(1000)]
        return "synthetic", None, classes
    train_set = D.load_dataset(cfg.data, root=cfg.data_root, size=size, split="train")
    val_split = "test" if cfg.data == "cifar10" else "val"
    val_set = D.load_dataset(cfg.data, root=cfg.data_root, size=size, split=val_split)
    common = dict(device=rt.device, image_size=size, seed=cfg.seed, rank=rt.rank, world_size=rt.world_size)
    train_loader = D.DeviceLoader(train_set, micro, train=True, augment=cfg.augment, **common)
    val_loader = D.DeviceLoader(val_set, micro, train=False, augment=False, **common)
    return train_loader, val_loader, list(train_set.classes)


# ============================================================================================ model, optimiser
def build_model(cfg: TrainConfig, num_classes: int) -> SwinTransformer:
    """The model a config describes, with ``num_classes`` outputs."""
    kwargs: dict[str, Any] = {"num_classes": num_classes}
    if cfg.drop_path is not None:
        kwargs["drop_path_rate"] = cfg.drop_path
    kwargs.update(cfg.model_kwargs)
    if cfg.model == "small":
        return SwinTransformer(**{**SMALL_MODEL, **kwargs})
    if cfg.model not in CONFIGS:
        raise ValueError(f"unknown model {cfg.model!r}; choose one of {[*CONFIGS, 'small']}")
    return create_model(cfg.model, **kwargs)


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Two AdamW groups: decay on weight matrices; none on norms, biases and relative position bias tables."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if p.ndim <= 1 or name.endswith("relative_bias.table"):
            no_decay.append(p)
        else:
            decay.append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def lr_at(step: int, total_steps: int, warmup_steps: int, peak: float) -> float:
    """Linear warm-up from ``peak/1000`` to ``peak``, then cosine decay to ``peak/100`` (official ratios)."""
    warmup_lr, min_lr = peak / 1000, peak / 100
    if step < warmup_steps:
        return warmup_lr + (peak - warmup_lr) * step / max(warmup_steps, 1)
    progress = (step - warmup_steps) / max(total_steps - warmup_steps, 1)
    return min_lr + (peak - min_lr) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against ``(B, K)`` soft targets (Mixup/CutMix and label smoothing), computed in fp32."""
    return torch.sum(-targets * F.log_softmax(logits.float(), dim=-1), dim=-1).mean()


# ================================================================================================ checkpoints
def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "numpy": np.random.get_state()[1].tolist(),
                             "numpy_pos": int(np.random.get_state()[2]), "python": repr(random.getstate())}  # fmt: skip
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    import ast

    torch.set_rng_state(state["torch"])
    np.random.set_state(("MT19937", np.array(state["numpy"], dtype=np.uint32), state["numpy_pos"], 0, 0.0))
    random.setstate(ast.literal_eval(state["python"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_training_state(path: Path, **payload: Any) -> None:
    """Write a checkpoint atomically: to a temporary file in the same folder, then rename over the old one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


# ================================================================================================= evaluation
@torch.no_grad()
def evaluate(model: nn.Module, loader: Any, num_classes: int, rt: Runtime | None = None,
             amp: bool = False) -> dict[str, Any]:  # fmt: skip
    """Top-1/top-5 accuracy, mean loss and the confusion matrix over a loader (summed over all ranks)."""
    was_training = model.training
    model.eval()
    device = rt.device if rt else next(model.parameters()).device
    totals = torch.zeros(4, dtype=torch.float64, device=device)  # loss sum, top1, top5, count
    cm = torch.zeros(num_classes, num_classes, dtype=torch.int64, device=device)
    for x, y in loader:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            logits = model(x)
        logits = logits.float()
        correct = topk_correct(logits, y, (1, 5))
        totals += torch.tensor([F.cross_entropy(logits, y, reduction="sum").item(), correct[1], correct[5], len(y)],
                               dtype=torch.float64, device=device)  # fmt: skip
        cm += confusion_matrix(logits.argmax(1), y, num_classes).to(device)
    if rt is not None and rt.world_size > 1:
        dist.all_reduce(totals)
        dist.all_reduce(cm)
    model.train(was_training)
    n = max(totals[3].item(), 1.0)
    return {"loss": totals[0].item() / n, "top1": 100 * totals[1].item() / n, "top5": 100 * totals[2].item() / n,
            "count": int(totals[3].item()), "confusion": cm.cpu()}  # fmt: skip


# ======================================================================================================= train
def train(cfg: TrainConfig) -> dict[str, Any]:
    """Run (or continue) a training run; returns a summary (final metrics, paths, throughput)."""
    if cfg.init and cfg.resume:  # fine-tuning wiring (issue 9)
        raise ValueError(
            f"--init {cfg.init} starts a new run from a checkpoint's weights, --resume continues the run in "
            f"{cfg.out} (its checkpoint holds the fine-tuned weights already): pass one of them"
        )
    if cfg.lr_schedule not in ("cosine", "constant"):
        raise ValueError(f"lr_schedule must be 'cosine' or 'constant', got {cfg.lr_schedule!r}")
    rt = setup_runtime(cfg)
    seed_everything(cfg.seed)
    out = Path(cfg.out)
    ckpt_path = out / "checkpoint.pt"
    amp = cfg.amp == "bf16" or (cfg.amp == "auto" and rt.device.type == "cuda")
    compile_model = cfg.compile == "on" or (cfg.compile == "auto" and rt.device.type == "cuda")
    channels_last = cfg.channels_last == "on" or (cfg.channels_last == "auto" and rt.device.type == "cuda")

    # ---- data
    train_loader, val_loader, classes = build_data(cfg, rt)
    num_classes = len(classes)
    size = cfg.image_size or DEFAULT_SIZES.get(cfg.data, 224)
    micro = cfg.batch_size // cfg.accum_steps
    if train_loader == "synthetic":
        steps_per_epoch = cfg.max_steps_per_epoch or 50
    else:
        steps_per_epoch = len(train_loader) // cfg.accum_steps
        if cfg.max_steps_per_epoch:
            steps_per_epoch = min(steps_per_epoch, cfg.max_steps_per_epoch)

    # ---- model and optimiser
    model = build_model(cfg, num_classes).to(rt.device)
    if cfg.grad_checkpointing:
        model.set_grad_checkpointing(True)
    # ---- fine-tuning wiring (issue 9): start from a checkpoint, choose what is trained, layer-wise lr decay
    if cfg.init:
        init_report = FT.init_from_checkpoint(model, cfg.init)
        if rt.main:
            print(f"init from {cfg.init}\n{init_report}")
    tuned = FT.apply_finetune_mode(model, cfg.finetune, cfg.lora_rank)
    peak_lr = cfg.resolved_lr()
    groups = FT.param_groups(model, cfg.weight_decay, cfg.layer_decay)
    optimizer = torch.optim.AdamW(groups, lr=peak_lr, betas=(0.9, 0.999), eps=1e-8)
    total_steps = cfg.epochs * steps_per_epoch
    warmup_steps = int(cfg.warmup_epochs * steps_per_epoch)
    macs = count_macs(model, size).macs.matmul  # per image, forward

    # ---- resume
    start_epoch, step = 0, 0
    log = MetricsLog(out)
    if cfg.resume and ckpt_path.exists():
        state = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        report: LoadReport = load_state_dict(model, state["state_dict"], layout="swin_viz")
        optimizer.load_state_dict(state["optimizer"])
        start_epoch, step = state["epoch"] + 1, state["step"]
        log = MetricsLog(out, state.get("metrics", []))
        _set_rng_state(state["rng"])
        if train_loader != "synthetic" and "loader" in state:
            train_loader.load_state_dict(state["loader"])
        if rt.main:
            done = state["epoch"] + 1
            print(f"resumed from {ckpt_path} after epoch {done} ({report.layout}, {len(report.loaded)} tensors)")
    elif cfg.resume and rt.main:
        print(f"--resume: no checkpoint at {ckpt_path}; starting from scratch")

    # ---- speed: DDP, compile
    net: nn.Module = model
    if rt.world_size > 1:
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[rt.device.index] if rt.device.type == "cuda" else None
        )
    if compile_model:
        net = torch.compile(net)
    mix_gen = torch.Generator(device=rt.device).manual_seed(cfg.seed * 1000 + 7)
    if cfg.resume and ckpt_path.exists() and "mix_gen" in state:
        mix_gen.set_state(state["mix_gen"])

    if rt.main:
        n_params = sum(p.numel() for p in model.parameters())
        print(
            f"{cfg.label or 'training run'}\n  model {cfg.model} ({n_params / 1e6:.2f} M parameters, "
            f"{tuned['trainable']:,} trained ({cfg.finetune}), "
            f"{macs / 1e9:.3f} G MACs/image at {size}), data {cfg.data} ({num_classes} classes), "
            f"device {rt.device} x {rt.world_size}, bf16 {amp}, compile {compile_model}, "
            f"global batch {cfg.batch_size} ({cfg.accum_steps} accumulation steps), lr {peak_lr:.2e}, "
            f"{cfg.epochs} epochs x {steps_per_epoch} steps"
        )

    summary: dict[str, Any] = {"out": str(out), "label": cfg.label, "trainable_parameters": tuned["trainable"]}
    last_epoch = cfg.epochs if cfg.stop_after is None else min(cfg.epochs, start_epoch + cfg.stop_after)
    for epoch in range(start_epoch, last_epoch):
        net.train()
        if train_loader == "synthetic":
            n = steps_per_epoch * cfg.accum_steps
            batches = D.synthetic_batches(
                micro // rt.world_size, size, num_classes, rt.device, n, seed=cfg.seed + epoch
            )
        else:
            train_loader.set_epoch(epoch)
            batches = iter(train_loader)
        bar = _progress(steps_per_epoch, f"epoch {epoch + 1}/{cfg.epochs}", enabled=cfg.progress and rt.main)
        sums = torch.zeros(3, dtype=torch.float64, device=rt.device)  # loss sum, correct, seen
        seen_images, start = 0, time.perf_counter()
        for _ in range(steps_per_epoch):
            for group in optimizer.param_groups:  # lr_scale, constant: fine-tuning wiring (issue 9)
                lr = peak_lr if cfg.lr_schedule == "constant" else lr_at(step, total_steps, warmup_steps, peak_lr)
                group["lr"] = lr * group.get("lr_scale", 1.0)
            for micro_step in range(cfg.accum_steps):
                x, y = next(batches)
                if channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                if cfg.mixup > 0 or cfg.cutmix > 0:
                    x, targets = D.mixup_cutmix(x, y, num_classes, mix_gen, cfg.mixup, cfg.cutmix,
                                                label_smoothing=cfg.label_smoothing)  # fmt: skip
                else:
                    targets = (
                        F.one_hot(y, num_classes).float() * (1 - cfg.label_smoothing)
                        + cfg.label_smoothing / num_classes
                    )
                # Under DDP, gradients are all-reduced only on the last micro-batch of an accumulation.
                last = micro_step == cfg.accum_steps - 1
                ctx = net.no_sync() if (not last and rt.world_size > 1) else contextlib.nullcontext()
                with ctx:
                    with torch.autocast(rt.device.type, dtype=torch.bfloat16, enabled=amp):
                        logits = net(x)
                        loss = soft_cross_entropy(logits, targets)
                    (loss / cfg.accum_steps).backward()
                sums += torch.stack([loss.detach().double() * len(y), (logits.argmax(1) == y).sum().double(),
                                     torch.tensor(float(len(y)), dtype=torch.float64, device=rt.device)])  # fmt: skip
                seen_images += len(y) * rt.world_size
            if cfg.clip_grad:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad)
            # A finiteness check needs the loss on the host: every step on CPU, every 20 on GPU (and before any
            # checkpoint), so the GPU is not stalled; the weights of a bad step are never saved either way.
            if rt.device.type == "cpu" or step % 20 == 0:
                _check_finite(sums[0], epoch, step, ckpt_path)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            if bar is not None and (step % 10 == 0 or rt.device.type == "cpu"):
                done = sums.tolist()
                bar.set_postfix(loss=f"{done[0] / max(done[2], 1):.3f}", acc=f"{100 * done[1] / max(done[2], 1):.1f}",
                                img_s=f"{seen_images / (time.perf_counter() - start):.0f}",
                                lr=f"{optimizer.param_groups[0]['lr']:.1e}")  # fmt: skip
                bar.update(1)
        if rt.device.type == "cuda":
            torch.cuda.synchronize(rt.device)
        elapsed = time.perf_counter() - start
        if bar is not None:
            bar.close()
        if rt.world_size > 1:
            dist.all_reduce(sums)
        _check_finite(sums[0], epoch, step, ckpt_path)
        loss_sum, correct, seen = sums.tolist()
        row: dict[str, Any] = {"epoch": epoch + 1, "step": step, "train_loss": loss_sum / max(seen, 1),
                               "train_top1": 100 * correct / max(seen, 1), "lr": optimizer.param_groups[0]["lr"],
                               "img_per_s": seen_images / elapsed, "epoch_s": elapsed}  # fmt: skip
        if val_loader is not None:
            ev = evaluate(model, val_loader, num_classes, rt, amp)
            row.update(val_loss=ev["loss"], val_top1=ev["top1"], val_top5=ev["top5"])
            summary["confusion"] = ev["confusion"]
        if rt.main:
            log.append(row)
            save_training_state(
                ckpt_path,
                format="swin_viz",
                version=1,
                config=dataclasses.asdict(model.config),
                train_config=_plain(cfg),
                classes=classes,
                state_dict=model.state_dict(),
                optimizer=optimizer.state_dict(),
                epoch=epoch,
                step=step,
                rng=_rng_state(),
                mix_gen=mix_gen.get_state(),
                metrics=log.rows,
                loader=train_loader.state_dict() if train_loader != "synthetic" else {},
            )
            print(" ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()), flush=True)

    summary.update(metrics=log.rows, checkpoint=str(ckpt_path), classes=classes, steps=step,
                   macs_per_image=macs, ranks_identical=_ranks_identical(model, rt))  # fmt: skip
    if "confusion" in summary and rt.main:
        cm = summary["confusion"]
        summary["per_class"] = per_class_report(cm, classes)
        (out / "confusion.json").write_text(json.dumps({"classes": classes, "matrix": cm.tolist()}))
    if rt.main:
        (out / "summary.json").write_text(json.dumps({k: v for k, v in summary.items() if k != "confusion"}, indent=1,
                                                     default=str))  # fmt: skip
    return summary


def _ranks_identical(model: nn.Module, rt: Runtime) -> bool:
    """Whether every rank ends with bit-identical weights (always true for one process)."""
    if rt.world_size == 1:
        return True
    flat = torch.cat([p.detach().reshape(-1).double() for p in model.parameters()])
    mine = torch.stack([flat.sum(), (flat * torch.arange(1, flat.numel() + 1, device=flat.device)).sum()])
    gathered = [torch.zeros_like(mine) for _ in range(rt.world_size)]
    dist.all_gather(gathered, mine)
    return all(torch.equal(g, gathered[0]) for g in gathered)


def _check_finite(loss_sum: torch.Tensor, epoch: int, step: int, ckpt_path: Path) -> None:
    if not torch.isfinite(loss_sum):
        last = ckpt_path if ckpt_path.exists() else "none yet"
        raise NonFiniteLossError(
            f"the loss became {loss_sum.item()} in epoch {epoch + 1} (by step {step}); training stopped. The last good "
            f"checkpoint is {last} (not overwritten). Lower --lr or raise --warmup-epochs, then --resume."
        )


def _progress(total: int, desc: str, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True, file=sys.stdout)


def _plain(cfg: TrainConfig) -> dict[str, Any]:
    """The config as JSON-able plain data (so the checkpoint loads with ``weights_only=True``)."""
    return json.loads(json.dumps(dataclasses.asdict(cfg), default=list))


# ================================================================================================ command line
_OPTIONAL_TYPES = {"image_size": int, "stop_after": int, "max_steps_per_epoch": int, "lr": float, "drop_path": float,
                   "clip_grad": float, "init": str, "layer_decay": float}  # fmt: skip
"""Types of the fields whose default is ``None`` (argparse cannot infer them)."""


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    """``python -m swin_viz.train`` options; every :class:`TrainConfig` field is a ``--flag``."""
    parser = argparse.ArgumentParser(prog="python -m swin_viz.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--preset", choices=sorted(PRESETS), default="paper",
                        help="start from a named configuration; other flags override it")  # fmt: skip
    defaults = TrainConfig()
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        doc = (f.metadata or {}).get("help", "")
        if f.name == "model_kwargs":
            parser.add_argument(flag, type=json.loads, default=None, help="JSON, e.g. '{\"embed_dim\": 64}'")
        elif isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=doc)
        else:
            kind = type(default) if default is not None else _OPTIONAL_TYPES.get(f.name, str)
            parser.add_argument(flag, type=kind, default=None, help=f"default: {default}")
    args = parser.parse_args(argv)
    values = dict(PRESETS[args.preset])
    for f in dataclasses.fields(TrainConfig):
        given = getattr(args, f.name)
        if given is not None:
            values[f.name] = given
    return TrainConfig(**values)


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    try:
        train(cfg)
    except NonFiniteLossError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
