"""Checks for lab 10 (``notebooks/lab10_training.ipynb``): the three pieces of the training recipe that are easy to
get subtly wrong.

* :func:`check_lr_at` -- the learning-rate schedule (linear warm-up, cosine decay) against
  :func:`swin_viz.train.lr_at`;
* :func:`check_param_groups` -- the weight-decay split (weights decay; norms, biases and relative position bias
  tables do not) against :func:`swin_viz.train.param_groups`;
* :func:`check_soft_cross_entropy` -- label-smoothed targets and the soft-target cross-entropy against
  :func:`swin_viz.train.soft_cross_entropy` (and ``F.cross_entropy(..., label_smoothing=...)``).

A wrong answer is compared with the typical wrong versions (no warm-up, decay to 0, decayed LayerNorms, 2-D bias
tables caught by an ``ndim`` rule, ``eps/(K-1)`` smoothing, a sum instead of a mean, ...) and the check says which
one it is.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from swin_viz.model import SwinTransformer
from swin_viz.train import SMALL_MODEL, lr_at, param_groups, soft_cross_entropy

from ._check import Report, call_student, explain_difference, forbid, own_rng

__all__ = ["check_lr_at", "check_param_groups", "check_soft_cross_entropy", "smooth_targets"]


# =========================================================================================== exercise 1: lr_at
LR_CASES: list[tuple[int, int, float]] = [
    (1000, 100, 1e-3),  # the shape of the paper's schedule: 300 epochs with 20 of warm-up, shrunk
    (60, 20, 5e-4),  # another peak (batch 512)
    (50, 0, 1e-3),  # warmup_steps = 0: the schedule is all cosine
]
"""``(total_steps, warmup_steps, peak)`` schedules :func:`check_lr_at` walks, every step and a few past the end."""


def _lr_mistakes(total: int, warmup: int, peak: float) -> list[tuple[Callable[[int], float], str]]:
    """The typical wrong schedules for one ``(total, warmup, peak)``, each with what went wrong."""
    w0, lo = peak / 1000, peak / 100

    def cos(step: int, floor: float, start: int = warmup, clamp: bool = True) -> float:
        p = (step - start) / max(total - start, 1)
        p = min(p, 1.0) if clamp else p
        return floor + (peak - floor) * 0.5 * (1 + math.cos(math.pi * p))

    def warm(step: int, start: float) -> float:
        return start + (peak - start) * step / max(warmup, 1)

    def progress(step: int) -> float:
        return min((step - warmup) / max(total - warmup, 1), 1.0)

    no_warmup = (
        "there is no warm-up: the first steps already use the peak lr. For warmup_steps steps the lr should rise "
        "linearly from peak/1000 to the peak (large-batch AdamW on a transformer is unstable without it)"
    )
    return [
        (lambda s: peak if s < warmup else cos(s, lo), no_warmup),
        (lambda s: cos(s, lo, start=0), no_warmup + ", and the cosine then starts at step 0"),
        (lambda s: warm(s, 0.0) if s < warmup else cos(s, lo),
         "the warm-up starts at 0 (the very first step then does nothing); it starts at peak/1000, the official "
         "warmup_lr"),
        (lambda s: warm(s, w0) if s < warmup else cos(s, 0.0),
         "the cosine decays to 0; the official schedule ends at min_lr = peak/100"),
        (lambda s: warm(s, 0.0) if s < warmup else cos(s, 0.0),
         "warm-up from 0 and decay to 0: the official schedule goes peak/1000 -> peak -> peak/100"),
        (lambda s: warm(s, w0) if s < warmup else cos(s, lo, start=0),
         "the cosine starts at step 0 instead of at the end of the warm-up: its progress is "
         "(step - warmup_steps) / (total_steps - warmup_steps), so the lr right after the warm-up is the peak"),
        (lambda s: warm(s, w0) if s < warmup else cos(s, lo, clamp=False),
         "after total_steps the cosine climbs back up: clamp the progress at 1 so the lr stays at peak/100"),
        (lambda s: warm(s, w0) if s < warmup else lo + (peak - lo) * (1 - progress(s)),
         "the decay is linear; Swin uses a cosine, 0.5 * (1 + cos(pi * progress))"),
        (lambda s: warm(s, w0) if s < warmup else peak * 0.5 * (1 + math.cos(math.pi * progress(s))) + lo,
         "the floor is added on top of a full cosine (the lr starts at 1.01 x peak): scale the cosine to "
         "(peak - min_lr) before adding min_lr"),
        (lambda s: (w0 + (peak - w0) * (s + 1) / max(warmup, 1)) if s < warmup else cos(s, lo),
         "the warm-up is one step ahead (step + 1): at step 0 the lr is exactly peak/1000"),
    ]  # fmt: skip


def _phase(step: int, total: int, warmup: int) -> str:
    if step < warmup:
        return "in the warm-up"
    if step <= total:
        return "in the cosine decay"
    return "after total_steps"


@forbid("swin_viz.train.lr_at")
@own_rng
def check_lr_at(fn: Callable[[int, int, int, float], float]) -> Report:
    """Exercise 1: ``fn(step, total_steps, warmup_steps, peak)`` must equal :func:`swin_viz.train.lr_at` at every
    step of every schedule in :data:`LR_CASES` (and past the end)."""
    report = Report("the learning-rate schedule")
    for total, warmup, peak in LR_CASES:
        name = f"{total} steps, {warmup} warm-up, peak {peak:g}"
        steps = list(range(total + 6))
        got: list[float] = []
        failed = False
        for s in steps:
            ok, value = call_student(report, name, fn, s, total, warmup, peak)
            if not ok:
                failed = True
                break
            try:
                got.append(float(value))
            except (TypeError, ValueError):
                report.add(name, False, f"lr at step {s} is {value!r}: return a float")
                failed = True
                break
        if failed:
            continue
        want = [lr_at(s, total, warmup, peak) for s in steps]
        bad = [s for s in steps if not math.isclose(got[s], want[s], rel_tol=1e-6, abs_tol=1e-12)]
        if not bad:
            report.add(name, True)
            continue
        why = ""
        for wrong, explanation in _lr_mistakes(total, warmup, peak):
            candidate = [wrong(s) for s in steps]
            same = all(math.isclose(g, c, rel_tol=1e-6, abs_tol=1e-12) for g, c in zip(got, candidate))
            if same and candidate != want:
                why = explanation
                break
        if not why:
            s = bad[0]
            why = (f"first difference at step {s} ({_phase(s, total, warmup)}): got {got[s]:.6g}, expected "
                   f"{want[s]:.6g}")  # fmt: skip
            if math.isclose(got[0], peak, rel_tol=1e-6) and warmup > 0:
                why += "; the lr starts at the peak: is the warm-up missing?"
            elif math.isclose(got[total], 0.0, abs_tol=1e-12):
                why += "; the lr ends at 0: the official min_lr is peak/100"
        report.add(name, False, why)
    return report


# ==================================================================================== exercise 2: weight decay
def _models() -> list[tuple[str, nn.Module]]:
    small = SwinTransformer(**{**SMALL_MODEL, "num_classes": 10})
    tiny = SwinTransformer(embed_dim=16, depths=(2, 2), num_heads=(2, 4), window_size=4, num_classes=5)
    frozen = SwinTransformer(embed_dim=16, depths=(2, 2), num_heads=(2, 4), window_size=4, num_classes=5)
    frozen.patch_embed.requires_grad_(False)
    return [("the book's small Swin", small), ("a two-stage Swin", tiny), ("with a frozen patch embedding", frozen)]


def _kind(name: str, p: torch.Tensor) -> str:
    if name.endswith("relative_bias.table"):
        return "relative position bias table"
    if "norm" in name.rsplit(".", 2)[-2]:
        return "LayerNorm parameter"
    if name.endswith(".bias"):
        return "bias"
    return "weight matrix"


_WHY_KIND = {
    "relative position bias table": (
        "relative position bias tables are decayed ({example}, shape {shape}): they are 2-D, so an ndim <= 1 rule "
        "misses them; they are learned logit offsets, not weights that scale an input, and the official code "
        "lists them in no_weight_decay_keywords (check the name: it ends with 'relative_bias.table')"
    ),
    "LayerNorm parameter": (
        "LayerNorm gains and shifts are decayed ({example}): decay pulls a norm's gain towards 0, shrinking every "
        "activation it scales; the official recipe exempts all 1-D parameters"
    ),
    "bias": (
        "biases are decayed ({example}): a bias shifts, it does not scale, and decaying it only biases the "
        "model towards 0 outputs; the official recipe exempts them (p.ndim <= 1)"
    ),
    "weight matrix": (
        "weight matrices get no decay ({example}): the Linear and Conv weights are what weight decay "
        "regularises (0.05 in the paper)"
    ),
}


@forbid("swin_viz.train.param_groups")
@own_rng
def check_param_groups(fn: Callable[[nn.Module, float], list[dict[str, Any]]]) -> Report:
    """Exercise 2: ``fn(model, weight_decay)`` must give every trainable parameter the weight decay that
    :func:`swin_viz.train.param_groups` gives it (in any number of groups), each exactly once."""
    report = Report("the weight-decay split")
    wd = 0.05
    for label, model in _models():
        ok, groups = call_student(report, label, fn, model, wd)
        if not ok:
            continue
        if not isinstance(groups, (list, tuple)) or not all(isinstance(g, dict) and "params" in g for g in groups):
            report.add(label, False, "return a list of dicts, each with 'params' (a list) and 'weight_decay'")
            continue
        names = {id(p): n for n, p in model.named_parameters()}
        want: dict[int, float] = {}
        for g in param_groups(model, wd):
            for p in g["params"]:
                want[id(p)] = g["weight_decay"]
        got: dict[int, float] = {}
        why = ""
        for g in groups:
            decay = g.get("weight_decay")
            if decay is None:
                why = why or "a group has no 'weight_decay': AdamW would use its default (0.01), not 0.05 or 0"
                continue
            for p in list(g["params"]):
                if id(p) in got:
                    why = why or f"{names.get(id(p), '?')} is in two groups (AdamW refuses that)"
                got[id(p)] = float(decay)
        by_name = dict(model.named_parameters())
        if not why:
            decay_values = {v for v in got.values() if v != 0.0}
            if decay_values and decay_values != {wd}:
                why = f"the decay group has weight_decay {sorted(decay_values)}: use the value passed in ({wd})"
        if not why:
            frozen = [names[i] for i in got if not by_name[names[i]].requires_grad]
            missing = [names[i] for i in want if i not in got]
            if missing:
                why = f"{len(missing)} trainable parameter(s) are in no group, e.g. {missing[0]}"
            elif frozen:
                why = (f"frozen parameters (requires_grad=False) are in a group, e.g. {frozen[0]}: skip them, "
                       "the optimiser has nothing to update there")  # fmt: skip
        if not why:
            wrong = [n for n, p in model.named_parameters() if id(p) in want and got[id(p)] != want[id(p)]]
            if wrong:
                kinds: dict[str, list[str]] = {}
                for n in wrong:
                    kinds.setdefault(_kind(n, by_name[n]), []).append(n)
                parts = []
                for kind, members in kinds.items():
                    shape = tuple(by_name[members[0]].shape)
                    parts.append(_WHY_KIND[kind].format(example=members[0], shape=shape) + f" [{len(members)} tensors]")
                why = "; ".join(parts)
        report.add(label, not why, why)
    return report


# ========================================================================= exercise 3: soft-target cross-entropy
def smooth_targets(labels: torch.Tensor, num_classes: int, eps: float) -> torch.Tensor:
    """Label-smoothed one-hots, ``(B,) -> (B, K)``: ``1 - eps + eps/K`` on the label, ``eps/K`` elsewhere (the
    convention of :func:`swin_viz.data.mixup_cutmix`, the training loop and ``F.cross_entropy``)."""
    return F.one_hot(labels, num_classes).float() * (1 - eps) + eps / num_classes


def _target_mistakes(y: torch.Tensor, K: int, eps: float) -> list[tuple[torch.Tensor, str]]:
    one = F.one_hot(y, K).float()
    return [
        (one * (1 - eps) + (1 - one) * eps / (K - 1),
         "eps/(K-1) on the other classes and 1 - eps on the label is the other convention; PyTorch, timm and the "
         "official Swin code spread eps over all K classes, the label's included: 1 - eps + eps/K on the label"),
        (one + eps / K, "the rows sum to more than 1: scale the one-hot by (1 - eps) before adding eps/K"),
        (one * (1 - eps), "the eps taken from the label has to go somewhere: add eps/K to every class"),
        (one, "no smoothing: the targets are plain one-hots"),
    ]  # fmt: skip


def _loss_mistakes(logits: torch.Tensor, targets: torch.Tensor) -> list[tuple[torch.Tensor, str]]:
    z = logits.float()
    logp = F.log_softmax(z, dim=-1)
    per_sample = -(targets * logp).sum(-1)
    return [
        (per_sample.sum(), "summed over the batch: the loss is the mean over samples (sum over classes)"),
        (-(targets * logp).mean(), "averaged over the classes too: sum over classes, then average over samples"),
        (F.cross_entropy(z, targets.argmax(-1)),
         "the soft targets are ignored (argmax to hard labels): the loss is -sum_k t_k log p_k with every t_k"),
        (-(targets * F.softmax(z, -1)).sum(-1).mean(), "use log-probabilities (log_softmax), not probabilities"),
        (-(targets * F.log_softmax(z, 0)).sum(-1).mean(), "the softmax runs over the batch axis: use dim=-1 (classes)"),
        (-(targets * z).sum(-1).mean(), "the logits are used as log-probabilities: take log_softmax first"),
    ]  # fmt: skip


@forbid("swin_viz.train.soft_cross_entropy")
@own_rng
def check_soft_cross_entropy(
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    targets_fn: Callable[[torch.Tensor, int, float], torch.Tensor] | None = None,
) -> Report:
    """Exercise 3: ``targets_fn(labels, K, eps)`` must equal :func:`smooth_targets`, and ``loss_fn(logits, targets)``
    :func:`swin_viz.train.soft_cross_entropy`, on plain, large (overflow-prone), Mixup-style and bfloat16 inputs."""
    report = Report("label smoothing and soft-target cross-entropy")
    g = torch.Generator().manual_seed(0)
    if targets_fn is not None:
        for B, K, eps in [(6, 10, 0.1), (4, 1000, 0.1), (5, 3, 0.3)]:
            y = torch.randint(0, K, (B,), generator=g)
            name = f"targets: {B} labels, {K} classes, eps {eps}"
            ok, got = call_student(report, name, targets_fn, y, K, eps)
            if not ok:
                continue
            want = smooth_targets(y, K, eps)
            why = explain_difference(got, want, "targets")
            if why and isinstance(got, torch.Tensor) and got.shape == want.shape:
                for wrong, explanation in _target_mistakes(y, K, eps):
                    if not explain_difference(got, wrong) and explain_difference(wrong, want):
                        why = explanation
                        break
            report.add(name, not why, why)

    B, K = 8, 10
    y = torch.randint(0, K, (B,), generator=g)
    smooth = smooth_targets(y, K, 0.1)
    lam = 0.7  # Mixup: a batch mixed with itself reversed
    mixed = lam * smooth + (1 - lam) * smooth.flip(0)
    logits = torch.randn(B, K, generator=g) * 3
    cases = [
        ("loss: random logits, smoothed targets", logits, smooth),
        ("loss: large logits (exp overflows)", logits * 100, smooth),
        ("loss: Mixup targets (two classes per row)", logits, mixed),
        ("loss: bfloat16 logits (computed in float32)", logits.to(torch.bfloat16), smooth),
    ]
    for name, z, t in cases:
        ok, got = call_student(report, name, loss_fn, z, t)
        if not ok:
            continue
        want = soft_cross_entropy(z, t)
        why = ""
        if isinstance(got, torch.Tensor) and got.numel() == 1 and got.dim() > 0:
            got = got.reshape(())
        if isinstance(got, torch.Tensor) and got.dim() == 1 and got.shape[0] == B:
            why = "one loss per sample was returned: average them to one number (a 0-d tensor)"
        elif isinstance(got, torch.Tensor) and not torch.isfinite(got.float()).all():
            why = (f"the loss is {got.float().item()}: log(softmax(z)) overflows or underflows for large logits; "
                   "use F.log_softmax, which subtracts the max first")  # fmt: skip
        else:
            why = explain_difference(got.float() if isinstance(got, torch.Tensor) else got, want, "loss")
            if why and isinstance(got, torch.Tensor):
                if z.dtype == torch.bfloat16 and abs(got.float().item() - want.item()) < 0.05 * abs(want.item()) + 1e-2:
                    why = (f"close but not equal ({got.float().item():.5f} vs {want.item():.5f}): the log-softmax "
                           "ran in bfloat16; compute it in float32 (logits.float()), as the training loop does under "
                           "autocast")  # fmt: skip
                else:
                    for wrong, explanation in _loss_mistakes(z, t):
                        if not explain_difference(got.float(), wrong) and explain_difference(wrong, want):
                            why = explanation
                            break
        report.add(name, not why, why)
    if targets_fn is not None and report.passed:
        # With hard labels, smoothed targets and this loss are exactly PyTorch's built-in label smoothing.
        t = targets_fn(y, K, 0.1)
        same = torch.allclose(loss_fn(logits, t).float(), F.cross_entropy(logits, y, label_smoothing=0.1), atol=1e-5)
        report.add("equals F.cross_entropy(logits, y, label_smoothing=0.1)", same,
                   "" if same else "differs from PyTorch's built-in label smoothing")  # fmt: skip
    return report
