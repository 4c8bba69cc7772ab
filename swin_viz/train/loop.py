"""The training loop (the book's chapter "Training Swin"). Read :func:`train` top to bottom:

1. *setup*: processes and device (:mod:`.runtime`), the same model initialisation on every rank;
2. *data*: :func:`~.data.build_data` picks the loaders (in memory, streaming, shards, synthetic) and says which;
3. *model and optimiser*: :func:`build_model`, AdamW (fused on CUDA), the schedule;
4. *resume*: rank 0 reads the checkpoint and broadcasts it (:mod:`.state`);
5. *per-rank randomness, DDP, compile*: stochastic depth, random erasing and Mixup draw from ``(seed, rank)``
   (RandAugment and the crops draw per image from ``(seed, epoch, index)``, in the loaders);
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
from ..metrics import MetricsLog, confusion_matrix, per_class_report, topk_hits
from ..model import SwinTransformer, create_model, model_config
from . import finetune as FT
from .config import TrainConfig, recipe_text
from .data import Data, build_data
from .log import StepLog
from .optim import build_optimizer, lr_at, soft_cross_entropy, warmup_steps
from .runtime import Runtime, peak_tflops, rank_seed, rng_state, seed_all, set_rng_state, setup_runtime
from .state import load_run_state, mix_state_for, save_run_state, weights_finite

__all__ = ["NonFiniteLossError", "build_model", "evaluate", "train", "train_one_epoch"]

class NonFiniteLossError(RuntimeError):
    """The loss (or the weights) became NaN or infinite; every rank stopped and the last good checkpoint was kept."""


# ======================================================================================================= data
def prepare_batch(x: torch.Tensor, augment: nn.Module | None) -> torch.Tensor:
    """A loader's batch (uint8, or float in [0, 1]) -> normalised float, random erasing when training."""
    if not x.is_floating_point():
        x = x.float().div_(255.0)
    return augment(D.normalize(x)) if augment is not None else D.normalize(x)


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
    scaler: torch.amp.GradScaler  # loss scaling for fp16 (a pass-through otherwise)
    data: Data
    augment: nn.Module | None
    mix: D.MixupCutmix
    steps_per_epoch: int
    total_steps: int
    warmup: int
    speed: Speed
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
            if run.speed.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            # Under DDP, gradients are all-reduced only on the last micro-batch of an accumulation.
            last = micro_step == cfg.accum_steps - 1
            ctx = net.no_sync() if (not last and rt.distributed) else contextlib.nullcontext()
            with ctx:
                amp = run.speed.amp_dtype
                with torch.autocast(rt.device.type, dtype=amp or torch.bfloat16, enabled=amp is not None):
                    logits = net(x)
                    loss = soft_cross_entropy(logits, targets)
                run.scaler.scale(loss / cfg.accum_steps).backward()
            window[0] += loss.detach().double() * len(y)
            window[1] += (logits.argmax(1) == y).sum()
            window_seen += len(y)
            epoch_images += len(y) * rt.world_size
        run.scaler.unscale_(opt)  # clip the true gradients (a no-op without fp16)
        window[2] += torch.nn.utils.clip_grad_norm_(model.parameters(), clip).double()
        run.scaler.step(opt)  # with fp16, skips a step whose gradients overflowed
        run.scaler.update()
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
                   "mfu": img_s * run.flops_per_image / (run.peak_flops * rt.world_size) if run.peak_flops
                   else None,  # per device: img_s counts every rank's images
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
def evaluate(model: nn.Module, loader: Any, num_classes: int, rt: Runtime | None = None,
             amp: bool | torch.dtype | None = False) -> dict[str, Any]:  # fmt: skip
    """Top-1/top-5 accuracy, mean loss and the confusion matrix over a loader (summed over all ranks).

    Batches may be uint8, float in [0, 1], or already normalised (a loader made with ``normalize=True``). Counts
    accumulate on the device; the host waits once, at the end. ``amp``: the autocast dtype (``True``: bf16).
    """
    dtype = torch.bfloat16 if amp is True else (amp or None)  # True: bf16, as before fp16 existed
    was_training = model.training
    model.eval()
    device = rt.device if rt else next(model.parameters()).device
    totals = torch.zeros(4, dtype=torch.float64, device=device)  # loss sum, top1, top5, count
    count = 0
    cm = torch.zeros(num_classes, num_classes, dtype=torch.int64, device=device)
    for x, y in loader:
        if not getattr(loader, "normalize", False):
            x = prepare_batch(x, None)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            logits = model(x)
        logits = logits.float()
        totals[0] += F.cross_entropy(logits, y, reduction="sum").double()
        totals[1:3] += topk_hits(logits, y, (1, 5))
        count += len(y)
        cm += confusion_matrix(logits.argmax(1), y, num_classes)
    totals[3] = count
    if rt is not None and rt.distributed:
        rt.all_reduce(totals)
        rt.all_reduce(cm)
    model.train(was_training)
    loss_sum, top1, top5, count = totals.tolist()
    n = max(count, 1.0)
    return {"loss": loss_sum / n, "top1": 100 * top1 / n, "top5": 100 * top5 / n, "count": int(count),
            "confusion": cm.cpu()}  # fmt: skip


# ======================================================================================================= train
def train(cfg: TrainConfig) -> dict[str, Any]:
    """Run (or continue) a training run; returns a summary (final metrics, paths, throughput)."""
    # ---- 1. setup: processes, device; the model's initialisation is the same on every rank
    rt = setup_runtime(cfg.device)
    cfg = _fit_to_run(cfg.validate(), rt)
    seed_all(cfg.seed)
    out = Path(cfg.out)
    ckpt_path = out / "checkpoint.pt"
    speed = Speed.resolve(cfg, rt.device)

    # ---- 2. data
    data = build_data(cfg, rt)
    num_classes = len(data.classes)
    steps_per_epoch = len(data.train) // cfg.accum_steps
    if cfg.max_steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, cfg.max_steps_per_epoch)
    if steps_per_epoch < 1:
        raise ValueError(f"{data.description} gives no full step of batch {cfg.batch_size}; lower --batch-size")

    # ---- 3. resume: rank 0 reads the checkpoint, every rank receives it (it wins over --init)
    state = load_run_state(ckpt_path, rt, cfg, _per_rank_draws(cfg)) if cfg.resume else None
    if state is not None and cfg.init is None and state["train_config"].get("init"):
        cfg = dataclasses.replace(cfg, init=state["train_config"]["init"])  # the record says where it started
    if cfg.resume and state is None and rt.main:
        print(f"--resume: no checkpoint at {ckpt_path}; starting from scratch")

    # ---- 4. model, optimiser, schedule
    model, tuned = _build_trained_model(cfg, rt, num_classes, init=state is None)
    optimizer = build_optimizer(FT.param_groups(model, cfg.weight_decay, cfg.layer_decay), cfg.resolved_lr(),
                                rt.device)  # fmt: skip
    scaler = torch.amp.GradScaler(rt.device.type, enabled=speed.amp_dtype == torch.float16)
    macs = count_macs(model, cfg.resolved_image_size()).macs.matmul  # per image, forward
    start_epoch, step, log = 0, 0, MetricsLog(out)
    if state is not None:
        report: LoadReport = load_state_dict(model, state["state_dict"], layout="swin_viz")
        optimizer.load_state_dict(state["optimizer"])
        if state["scaler"] and scaler.is_enabled():
            scaler.load_state_dict(state["scaler"])
        start_epoch, step = state["epoch"] + 1, state["step"]
        log = MetricsLog(out, state.get("metrics", []))
        data.train.load_state_dict(state["loader"])
        if rt.main:
            print(f"resumed from {ckpt_path} after epoch {state['epoch'] + 1} ({len(report.loaded)} tensors)"
                  + (f"; the run started from --init {cfg.init}, not applied again (the checkpoint holds its weights)"
                     if cfg.init else ""))  # fmt: skip

    # ---- 5. per-rank randomness (stochastic depth, augmentation, Mixup), DDP, compile
    mix = _mixup(cfg, rt, num_classes, state, ckpt_path)
    if state is not None and int(state["world_size"]) == rt.world_size:
        set_rng_state(state["rng"][rt.rank], rt.device)
    else:
        seed_all(rank_seed(cfg.seed, rt.rank, start_epoch))
    augment = None
    if cfg.augment and cfg.reprob > 0:  # RandAugment runs in the loaders; erasing here, on the device
        augment = D.RandomErasing(cfg.reprob, mode="pixel")
    net: nn.Module = model
    if rt.distributed:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[rt.device.index] if rt.device.type == "cuda"
                                                  else None)  # fmt: skip
    eval_net: nn.Module = model
    if speed.compile:
        net = torch.compile(net, mode=cfg.compile_mode)
        eval_net = torch.compile(model, mode=cfg.compile_mode)
    peak, peak_source = peak_tflops(rt.device)
    steplog = StepLog(out, enabled=rt.main, resume_step=step)
    run = Run(cfg=cfg, rt=rt, model=model, net=net, eval_net=eval_net, optimizer=optimizer, scaler=scaler,
              data=data, augment=augment, mix=mix, steps_per_epoch=steps_per_epoch,
              total_steps=cfg.epochs * steps_per_epoch, warmup=warmup_steps(cfg.warmup_epochs, steps_per_epoch),
              speed=speed, flops_per_image=6.0 * macs, peak_flops=peak * 1e12 if peak else None, steplog=steplog,
              step=step, ckpt_path=ckpt_path)  # fmt: skip
    if rt.main:
        print(_header(run, tuned, macs, peak_source), flush=True)

    # ---- 6. epochs: train, evaluate, checkpoint (only when the weights and the validation loss are finite)
    summary: dict[str, Any] = {"out": str(out), "label": cfg.label, "data": data.description,
                               "device": str(rt.device), "trainable_parameters": tuned["trainable"]}  # fmt: skip
    last_epoch = cfg.epochs if cfg.stop_after is None else min(cfg.epochs, start_epoch + cfg.stop_after)
    for epoch in range(start_epoch, last_epoch):
        row: dict[str, Any] = {"epoch": epoch + 1, "step": 0, **train_one_epoch(run, epoch)}
        row["step"] = run.step
        if data.val is not None:
            ev = evaluate(eval_net, data.val, num_classes, rt, speed.amp_dtype)
            row.update(val_loss=ev["loss"], val_top1=ev["top1"], val_top5=ev["top5"])
            summary["confusion"] = ev["confusion"]
        # A bad last step (finite loss, non-finite update) must not replace the last good checkpoint.
        if not weights_finite(model) or not math.isfinite(row.get("val_loss", 0.0)):
            raise NonFiniteLossError(_non_finite_message(row.get("val_loss", math.nan), epoch, run.step, ckpt_path,
                                                         "the weights or the validation loss"))  # fmt: skip
        if rt.main:
            log.append(row)
        save_run_state(
            ckpt_path, rt, rng=rng_state(rt.device), mix=mix.state_dict(),
            model_config=dataclasses.asdict(model.config), train_config=cfg.plain(), classes=data.classes,
            state_dict=model.state_dict(), optimizer=optimizer.state_dict(), epoch=epoch, step=run.step,
            metrics=log.rows, loader=data.train.state_dict(), scaler=scaler.state_dict() if scaler.is_enabled()
            else None,
        )  # fmt: skip
        if rt.main:
            print(" ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()), flush=True)
    steplog.close()
    return _finish(summary, run, log, macs)


@dataclass
class Speed:
    """How a run executes (not what it computes): autocast dtype, compile, memory format."""

    amp_dtype: torch.dtype | None
    compile: bool
    channels_last: bool

    @classmethod
    def resolve(cls, cfg: TrainConfig, device: torch.device) -> Speed:
        """``auto`` settings made concrete for ``device``: bf16 where the GPU has bf16 tensor cores (compute
        capability 8.0 and up), fp16 with a loss scaler on older GPUs (V100, T4), off on CPUs."""
        cuda = device.type == "cuda"
        amp = {"bf16": torch.bfloat16, "fp16": torch.float16, "off": None}.get(cfg.amp)
        if cfg.amp == "auto" and cuda:
            amp = torch.bfloat16 if torch.cuda.get_device_capability(device)[0] >= 8 else torch.float16
        return cls(amp, cfg.compile == "on" or (cfg.compile == "auto" and cuda),
                   cfg.channels_last == "on" or (cfg.channels_last == "auto" and cuda))  # fmt: skip

    @property
    def amp_name(self) -> str:
        return {torch.bfloat16: "bf16", torch.float16: "fp16 (loss scaling)"}.get(self.amp_dtype, "off")


def _fit_to_run(cfg: TrainConfig, rt: Runtime) -> TrainConfig:
    """The config made concrete for this run, each change said once: a warm-up longer than the run becomes the
    whole run (a short ``--epochs`` needs no other flag), and ``max_device_batch`` becomes accumulation steps."""
    if cfg.batch_size % rt.world_size:
        raise ValueError(f"batch_size={cfg.batch_size} (the global batch) must be divisible by the {rt.world_size} "
                         f"processes")  # fmt: skip
    if cfg.lr_schedule == "cosine" and cfg.warmup_epochs > cfg.epochs:
        if rt.main:
            print(f"warm-up clamped to {cfg.epochs} epochs: --warmup-epochs {cfg.warmup_epochs} is longer than the "
                  f"run's --epochs {cfg.epochs}", flush=True)  # fmt: skip
        cfg = dataclasses.replace(cfg, warmup_epochs=cfg.epochs)
    accum = cfg.resolved_accum_steps(rt.world_size)
    if accum != cfg.accum_steps:
        if rt.main:
            print(f"--max-device-batch {cfg.max_device_batch}: the global batch {cfg.batch_size} runs as {accum} "
                  f"accumulation steps of {cfg.batch_size // rt.world_size // accum} images per device "
                  f"(x {rt.world_size} devices); the recipe is unchanged", flush=True)  # fmt: skip
        cfg = dataclasses.replace(cfg, accum_steps=accum)
    return cfg


def _per_rank_draws(cfg: TrainConfig) -> list[str]:
    """What this run draws from each rank's own random stream (so another number of processes would draw
    differently): stochastic depth, and random erasing on the device. RandAugment and the crops draw per image
    from ``(seed, epoch, index)`` in the loaders, the same for any number of processes."""
    draws = []
    drop_path = cfg.drop_path
    if drop_path is None:
        drop_path = cfg.model_kwargs.get("drop_path_rate", model_config(cfg.model).get("drop_path_rate", 0.0))
    if drop_path and drop_path > 0:
        draws.append(f"stochastic depth ({drop_path})")
    if cfg.augment and cfg.reprob > 0:
        draws.append(f"random erasing on the device ({cfg.reprob})")
    return draws


def _build_trained_model(cfg: TrainConfig, rt: Runtime, num_classes: int, init: bool
                         ) -> tuple[nn.Module, dict[str, Any]]:  # fmt: skip
    """The model on the device, started from ``cfg.init`` when ``init`` (fine-tuning; not on resume), with what is
    trained chosen (``cfg.finetune``)."""
    model = build_model(cfg, num_classes).to(rt.device)
    if cfg.grad_checkpointing:
        model.set_grad_checkpointing(True)
    if cfg.init and init:  # fine-tuning: another checkpoint's weights, a new head, bias tables resized
        init_report = FT.init_from_checkpoint(model, cfg.init)
        if rt.main:
            print(f"init from {cfg.init}\n{init_report}")
    tuned = FT.apply_finetune_mode(model, cfg.finetune, cfg.lora_rank)  # what is trained
    model.to(rt.device)  # LoRA adapters are created on the CPU
    return model, tuned


def _mixup(cfg: TrainConfig, rt: Runtime, num_classes: int, state: dict[str, Any] | None, ckpt_path: Path
           ) -> D.MixupCutmix:  # fmt: skip
    """This rank's Mixup/CutMix (its groups of ``mix_groups``), continued from the checkpoint's state of those
    groups when resuming (every rank's groups are saved)."""
    groups = cfg.mix_groups or rt.world_size
    if groups % rt.world_size:
        raise ValueError(f"mix_groups={cfg.mix_groups} must be a multiple of the {rt.world_size} ranks")
    per_rank = groups // rt.world_size
    mix = D.MixupCutmix(num_classes, cfg.mixup, cfg.cutmix, cfg.mix_switch_prob, cfg.label_smoothing, cfg.seed,
                        group_ids=range(rt.rank * per_rank, (rt.rank + 1) * per_rank))  # fmt: skip
    if state is not None:
        saved = mix_state_for(state["mix"], mix.group_ids)
        if saved is not None:
            mix.load_state_dict(saved)
        elif mix.active and not cfg.allow_config_change:
            raise ValueError(f"{ckpt_path} holds no Mixup state for groups {mix.group_ids} (it has "
                             f"{state['mix']['group_ids']}; a version-2 checkpoint kept rank 0's only); pass "
                             f"--allow-config-change to draw them afresh")  # fmt: skip
    return mix


def _header(run: Run, tuned: dict[str, Any], macs: float, peak_source: str) -> str:
    """What the run is, as the log's first lines."""
    cfg, rt, model, sp = run.cfg, run.rt, run.model, run.speed
    n_params = sum(p.numel() for p in model.parameters())
    return (
        f"{cfg.label or 'training run'}\n  model {cfg.model} ({n_params / 1e6:.2f} M parameters, "
        f"{tuned['trainable']:,} trained ({cfg.finetune}), "
        f"{macs / 1e9:.3f} G MACs/image at {cfg.resolved_image_size()}), {len(run.data.classes)} classes\n"
        f"  data: {run.data.description}\n"
        f"  device {rt.device} x {rt.world_size}, autocast {sp.amp_name}, compile {sp.compile} ({cfg.compile_mode}), "
        f"channels-last {sp.channels_last}, MFU peak: {peak_source}, TensorBoard: {run.steplog.tensorboard}\n"
        f"  global batch {cfg.batch_size} ({cfg.accum_steps} accumulation steps of "
        f"{cfg.batch_size // cfg.accum_steps // rt.world_size} per device), {cfg.epochs} epochs x "
        f"{run.steps_per_epoch} steps\n{recipe_text(cfg)}"
    )  # fmt: skip


def _finish(summary: dict[str, Any], run: Run, log: MetricsLog, macs: float) -> dict[str, Any]:
    """The summary of the run, with ``confusion.json``, ``per_class.json`` and ``summary.json`` written by rank 0."""
    rt, out, classes = run.rt, Path(run.cfg.out), run.data.classes
    summary.update(metrics=log.rows, checkpoint=str(run.ckpt_path), classes=classes, steps=run.step,
                   macs_per_image=macs, ranks_identical=_ranks_identical(run.model, rt))  # fmt: skip
    if "confusion" in summary and rt.main:
        cm = summary["confusion"]
        summary["per_class"] = per_class_report(cm, classes)
        (out / "confusion.json").write_text(json.dumps({"classes": classes, "matrix": cm.tolist()}))
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
