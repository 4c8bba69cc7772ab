"""Lab 10 checks: right answers pass, the typical wrong ones fail with their specific explanation."""

from __future__ import annotations

import math
from types import SimpleNamespace

import torch
import torch.nn.functional as F

from swin_course.training import check_lr_at, check_param_groups, check_soft_cross_entropy, smooth_targets
from swin_viz.train import lr_at, param_groups, soft_cross_entropy

# The library's reference, reached through an attribute: how a test builds a "student" whose slip sits on top of
# a right answer (a plain call of swin_viz.train.lr_at inside a checked function is refused, see below).
REF = SimpleNamespace(lr_at=lr_at, param_groups=param_groups)


def own_param_groups(model, weight_decay):
    """The lab's solution: written from scratch."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if p.ndim <= 1 or name.endswith("relative_bias.table"):
            no_decay.append(p)
        else:
            decay.append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def own_soft_cross_entropy(logits, targets):
    return -(targets * F.log_softmax(logits.float(), dim=-1)).sum(dim=-1).mean()


def reasons(report) -> str:
    return " | ".join(why for _, ok, why in report.results if not ok)


# ------------------------------------------------------------------------------------------------- lr_at
def _schedule(warmup_from: float | None, floor: float, clamp: bool = True):
    def fn(step, total, warmup, peak):
        if step < warmup:
            start = peak if warmup_from is None else warmup_from * peak
            return start + (peak - start) * step / warmup
        p = (step - warmup) / max(total - warmup, 1)
        p = min(p, 1.0) if clamp else p
        return floor * peak + (peak - floor * peak) * 0.5 * (1 + math.cos(math.pi * p))

    return fn


def test_lr_at_correct_passes() -> None:
    assert "the library's own lr_at" in reasons(check_lr_at(lr_at))  # handing in the reference is refused
    assert check_lr_at(_schedule(1e-3, 1e-2)).passed


def test_lr_at_typical_mistakes_are_named() -> None:
    assert "no warm-up" in reasons(check_lr_at(_schedule(None, 1e-2)))
    assert "starts at 0" in reasons(check_lr_at(_schedule(0.0, 1e-2)))
    assert "decays to 0" in reasons(check_lr_at(_schedule(1e-3, 0.0)))
    assert "climbs back up" in reasons(check_lr_at(_schedule(1e-3, 1e-2, clamp=False)))


def test_lr_at_no_warmup_case_is_checked() -> None:
    # warmup_steps = 0 is one of the cases: a schedule that divides by warmup_steps in the cosine branch fails there
    def divides(step, total, warmup, peak):
        return REF.lr_at(step, total, warmup, peak) * (warmup / warmup)

    report = check_lr_at(divides)
    assert not report.passed and "ZeroDivisionError" in reasons(report)


# ----------------------------------------------------------------------------------------- param groups
def test_param_groups_correct_passes() -> None:
    assert check_param_groups(own_param_groups).passed
    assert "the library's own param_groups" in reasons(check_param_groups(param_groups))

    def calls_library(model, weight_decay):
        return param_groups(model, weight_decay)

    assert "switched off" in reasons(check_param_groups(calls_library))


def test_param_groups_typical_mistakes_are_named() -> None:
    def ndim_rule(model, wd):
        trainable = [p for p in model.parameters() if p.requires_grad]
        return [{"params": [p for p in trainable if p.ndim > 1], "weight_decay": wd},
                {"params": [p for p in trainable if p.ndim <= 1], "weight_decay": 0.0}]  # fmt: skip

    text = reasons(check_param_groups(ndim_rule))
    assert "relative position bias tables are decayed" in text and "ndim <= 1 rule misses them" in text

    def decay_all(model, wd):
        return [{"params": [p for p in model.parameters() if p.requires_grad], "weight_decay": wd}]

    text = reasons(check_param_groups(decay_all))
    assert "LayerNorm gains and shifts are decayed" in text and "biases are decayed" in text

    def hard_coded(model, wd):
        groups = REF.param_groups(model, 0.1)
        return groups

    assert "use the value passed in" in reasons(check_param_groups(hard_coded))

    def forgets_head(model, wd):
        groups = REF.param_groups(model, wd)
        head = {id(p) for p in model.head.parameters()}
        return [{**g, "params": [p for p in g["params"] if id(p) not in head]} for g in groups]

    assert "in no group" in reasons(check_param_groups(forgets_head))


# ------------------------------------------------------------------------------------ soft cross-entropy
def test_soft_cross_entropy_correct_passes() -> None:
    def targets(y, K, eps):
        return F.one_hot(y, K).float() * (1 - eps) + eps / K

    assert check_soft_cross_entropy(own_soft_cross_entropy, targets).passed
    assert check_soft_cross_entropy(own_soft_cross_entropy, smooth_targets).passed
    assert check_soft_cross_entropy(own_soft_cross_entropy).passed  # the loss alone
    assert "the library's own soft_cross_entropy" in reasons(check_soft_cross_entropy(soft_cross_entropy))


def test_soft_cross_entropy_typical_mistakes_are_named() -> None:
    def k_minus_one(y, K, eps):
        one = F.one_hot(y, K).float()
        return one * (1 - eps) + (1 - one) * eps / (K - 1)

    assert "eps/(K-1)" in reasons(check_soft_cross_entropy(own_soft_cross_entropy, k_minus_one))

    def log_of_softmax(z, t):
        return -(t * torch.log(torch.softmax(z, -1))).sum(-1).mean()

    text = reasons(check_soft_cross_entropy(log_of_softmax))
    assert "F.log_softmax" in text and "bfloat16" in text

    def summed(z, t):
        return -(t * F.log_softmax(z.float(), -1)).sum()

    assert "summed over the batch" in reasons(check_soft_cross_entropy(summed))

    def hard(z, t):
        return F.cross_entropy(z.float(), t.argmax(-1))

    assert "soft targets are ignored" in reasons(check_soft_cross_entropy(hard))

    def per_sample(z, t):
        return -(t * F.log_softmax(z.float(), -1)).sum(-1)

    assert "one loss per sample" in reasons(check_soft_cross_entropy(per_sample))
