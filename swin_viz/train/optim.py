"""The optimiser side of a run: parameter groups, the learning-rate schedule, the loss (the book's chapter
"Training Swin")."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["build_optimizer", "lr_at", "param_groups", "soft_cross_entropy", "warmup_steps"]


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Two AdamW groups: decay on weight matrices; none on norms, biases, position bias tables and embeddings."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if p.ndim <= 1 or name.endswith("relative_bias.table") or name == "absolute_pos_embed":
            no_decay.append(p)
        else:
            decay.append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def build_optimizer(groups: list[dict[str, Any]], lr: float, device: torch.device) -> torch.optim.AdamW:
    """AdamW (betas 0.9/0.999, eps 1e-8) over parameter groups (:func:`param_groups`, or fine-tuning's with
    layer-wise decay); the fused kernel on CUDA."""
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.999), eps=1e-8, fused=device.type == "cuda")


def warmup_steps(warmup_epochs: float, steps_per_epoch: int) -> int:
    """Warm-up length in optimiser steps: ``floor(warmup_epochs * steps_per_epoch)`` (fractional epochs count)."""
    return int(warmup_epochs * steps_per_epoch)


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

