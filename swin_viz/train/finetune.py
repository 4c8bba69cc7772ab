"""Fine-tuning a pretrained Swin: start from a checkpoint, a new head, another window size, what is trained.

The training layer's side of the chapter "Fine-tuning a pretrained Swin" (``book/13_finetuning.ipynb``). Four
steps, each a function:

1. :func:`init_from_checkpoint` -- load weights of any layout :mod:`swin_viz.checkpoints` knows (our own, official,
   timm, torchvision, HuggingFace) into a model built for the new task. It is strict everywhere except in two
   places, and says by name what it did there:

   * the **head**: when the checkpoint has another number of classes (or none), its head is dropped and the
     model's head is initialised (truncated normal, std 0.02; zero bias);
   * the **relative position bias tables**: a checkpoint trained with window ``M`` goes into a model with window
     ``M'`` by resizing each table bicubically per head from ``(2M-1)^2`` to ``(2M'-1)^2`` rows
     (:func:`swin_viz.relative_position.resize_bias_table`), as the official code does for 224/M=7 -> 384/M=12.
     The index buffers are the new model's own (they are derived, never loaded).

   A checkpoint of another architecture (not Swin V1, or another width, depth or number of heads) stops with an
   error that names what was found; so does any other missing or mis-shaped key.
2. :func:`apply_finetune_mode` -- what is trained: ``full``; ``linear`` (a linear probe: only the head);
   ``last-N`` (the last N stages, the final norm and the head); ``lora`` (low-rank adapters on every attention's
   ``qkv`` and ``proj``, through the ``peft`` library, plus the head). :func:`merge_lora` folds the adapters back
   into plain ``nn.Linear`` weights, so the result saves and loads as an ordinary swin_viz checkpoint.
3. :func:`param_groups` -- AdamW groups that keep the training recipe's no-weight-decay rule (norms, biases,
   relative position bias tables) and optionally add layer-wise learning-rate decay: the head gets the full rate,
   each block below it ``layer_decay`` times the rate of the block above (``lr_scale`` in each group).
4. :data:`PAPER_FINETUNE` -- the paper's fine-tuning recipe (Liu et al. 2021, App. A2.1: fine-tuning at 384^2
   "for 30 epochs with a constant learning rate of 1e-5, weight decay of 1e-8" and batch 1024, stochastic depth
   0.1, the rest as in pre-training), as a preset of :class:`swin_viz.train.TrainConfig` fields.

Reading a checkpoint's architecture (:func:`~swin_viz.checkpoints.describe_checkpoint`) lives with the other
checkpoint code in :mod:`swin_viz.checkpoints`; it is re-exported here. This module imports the core and the
engine's optimiser rules only (never ``swin_viz.viz``); ``peft`` is imported
only when LoRA is asked for.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..checkpoints import (
    BIAS_TABLE,
    CheckpointArch,
    LoadReport,
    checkpoint_state,
    convert_state_dict,
    describe_checkpoint,
    layout_names,
    layout_tensor,
)
from ..model import SwinTransformer, init_weights
from ..relative_position import resize_bias_table

__all__ = [
    "FINETUNE_MODES",
    "PAPER_FINETUNE",
    "CheckpointArch",
    "FinetuneReport",
    "apply_finetune_mode",
    "count_parameters",
    "describe_checkpoint",
    "init_from_checkpoint",
    "layer_id",
    "merge_lora",
    "param_groups",
    "recipe_lines",
]

FINETUNE_MODES = ("full", "linear", "last-N", "lora")
"""What :func:`apply_finetune_mode` accepts (``last-N`` with N a number of stages, e.g. ``last-1``)."""

PAPER_FINETUNE: dict[str, Any] = dict(
    epochs=30, batch_size=1024, lr=1e-5, lr_schedule="constant", warmup_epochs=0, weight_decay=1e-8, drop_path=0.1,
    image_size=384, model_kwargs={"window_size": 12}, finetune="full", eval_crop=False, max_device_batch=64,
    label="the paper's fine-tuning recipe at 384x384, window 12 (Liu et al. 2021, App. A2.1); pass --init PATH",
)  # fmt: skip
"""The paper's fine-tuning recipe (Liu et al., ICCV 2021, Appendix A2.1, ImageNet-1K fine-tuning at 384^2), as
fields of :class:`swin_viz.train.TrainConfig`: the ``finetune`` preset of ``python -m swin_viz.train``.

Where it follows the **paper's text**: 30 epochs, batch 1024, a *constant* learning rate of 1e-5 (no warm-up, no
decay), weight decay 1e-8, stochastic depth 0.1; augmentation and the other regularisations as in pre-training.
The official code's config (``configs/swin/swin_base_patch4_window12_384_finetune.yaml``) trains differently:
5 warm-up epochs from 2e-8, then cosine from a base rate of 2e-5 (scaled by batch/512) down to 2e-7, and
stochastic depth 0.5 for Swin-B.

Where it follows the **official config**: window 12 at 384 (Swin-B 384's ``WINDOW_SIZE: 12``) and the evaluation,
``eval_crop=False``: the whole image resized to 384 x 384 with no crop (``TEST.CROP: False``), where pre-training
evaluates the centre crop of the image resized to 438.

Neither fixes the device: ``max_device_batch=64`` splits the global batch of 1024 into accumulation steps (16 on
one GPU, 2 on eight), so the recipe runs unchanged on one GPU (``--max-device-batch`` lowers it for smaller cards)."""

_STAGE_BLOCK = re.compile(r"stage(\d+)\.block(\d+)\.")
_STAGE_MERGE = re.compile(r"stage(\d+)\.downsample\.")
_HEAD_KEYS = ("head.weight", "head.bias")


def _check_arch(arch: CheckpointArch, model: SwinTransformer) -> None:
    """Stop with a clear message when the checkpoint is another Swin than ``model`` (width, depth, heads, patch)."""
    cfg = model.config
    if arch.embed_dim != cfg.embed_dim:
        raise ValueError(f"the checkpoint is another architecture: embed_dim {arch.embed_dim} (heads "
                         f"{arch.num_heads}), the model has {cfg.embed_dim} (heads {cfg.num_heads}); build the model "
                         "the checkpoint describes (e.g. swin_t vs swin_b)")  # fmt: skip
    if arch.depths != tuple(cfg.depths):
        where = [f"stage {i + 1}: {a} blocks in the checkpoint, {b} in the model"
                 for i, (a, b) in enumerate(zip(arch.depths, cfg.depths)) if a != b]  # fmt: skip
        if len(arch.depths) != len(cfg.depths):
            where.append(f"{len(arch.depths)} stages in the checkpoint, {len(cfg.depths)} in the model")
        raise ValueError(f"the checkpoint has another depth: depths {arch.depths}, the model {tuple(cfg.depths)} "
                         f"({'; '.join(where)})")  # fmt: skip
    if arch.num_heads != tuple(cfg.num_heads):
        where = [f"stage {i + 1}: {a} in the checkpoint, {b} in the model"
                 for i, (a, b) in enumerate(zip(arch.num_heads, cfg.num_heads)) if a != b]  # fmt: skip
        raise ValueError(f"the checkpoint has another number of heads: {arch.num_heads}, the model "
                         f"{tuple(cfg.num_heads)} ({'; '.join(where)})")  # fmt: skip
    if (arch.patch_size, arch.in_chans) != (cfg.patch_size, cfg.in_chans):
        raise ValueError(
            f"the checkpoint's patch embedding is {arch.patch_size}x{arch.patch_size} over "
            f"{arch.in_chans} channels, the model's {cfg.patch_size}x{cfg.patch_size} over {cfg.in_chans}"
        )


# ======================================================================================================= loading
@dataclass
class FinetuneReport(LoadReport):
    """A :class:`~swin_viz.checkpoints.LoadReport` plus what fine-tuning changed on purpose.

    ``head_dropped``: the checkpoint's head tensors that were not used ``(name in its layout, shape)``;
    ``head_initialised``: the model's head tensors initialised afresh ``(name, shape)``; ``resized``: bias tables
    moved to another window ``(name, checkpoint shape, model shape)``. ``missing``, ``unexpected`` and
    ``mismatched`` are always empty: anything there stops the load.
    """

    arch: CheckpointArch | None = None
    head_dropped: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)
    head_initialised: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)
    resized: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [super().__str__()]
        if self.arch is not None:
            lines.append(str(self.arch))
        if self.head_dropped:
            lines.append("head dropped (another number of classes): "
                         + ", ".join(f"{n} {tuple(s)}" for n, s in self.head_dropped))  # fmt: skip
        if self.head_initialised:
            lines.append("head initialised (truncated normal std 0.02, zero bias): "
                         + ", ".join(f"{n} {tuple(s)}" for n, s in self.head_initialised))  # fmt: skip
        if self.resized:
            (_, a, b) = self.resized[0]
            m_from, m_to = (round(a[0] ** 0.5) + 1) // 2, (round(b[0] ** 0.5) + 1) // 2
            lines.append(f"resized {len(self.resized)} relative position bias tables bicubically, window {m_from} -> "
                         f"{m_to}: " + ", ".join(f"{n} {a} -> {b}" for n, a, b in self.resized))  # fmt: skip
        return "\n".join(lines)


def init_from_checkpoint(
    model: SwinTransformer,
    checkpoint: str | os.PathLike | dict[str, Any],
    layout: str = "auto",
    map_location: str | torch.device = "cpu",
) -> FinetuneReport:
    """Load a checkpoint (a path, read with ``weights_only=True``, or a state dict) into ``model`` for fine-tuning.

    The head is replaced when the number of classes differs; bias tables are resized when the window differs;
    everything else must match exactly (a missing or mis-shaped key raises ``ValueError`` with its name, and
    nothing is loaded). Returns a :class:`FinetuneReport`.
    """
    if isinstance(checkpoint, (str, os.PathLike)):
        checkpoint = torch.load(checkpoint, map_location=map_location, weights_only=True)
    state, layout = checkpoint_state(checkpoint, layout)
    arch = describe_checkpoint(state, layout)
    _check_arch(arch, model)
    converted, base = convert_state_dict(state, model, arch.layout)
    report = FinetuneReport(arch.layout, loaded=list(base.loaded), ignored=list(base.ignored), arch=arch)
    theirs_head = {n: k for k in _HEAD_KEYS for n in layout_names(k, arch.layout)}
    expected = model.state_dict()
    problems: list[str] = []
    new_head = False
    for name, want, got in base.mismatched:
        if name in _HEAD_KEYS:
            report.head_dropped.append((layout_names(name, arch.layout)[0], got))
            new_head = True
        elif name.endswith(BIAS_TABLE) and want[1] == got[1]:
            table = layout_tensor(state, name, arch.layout)
            assert table is not None
            converted[name] = resize_bias_table(table, model.config.window_size)
            report.resized.append((name, got, want))
            report.loaded.append(name)
        else:
            problems.append(f"mis-shaped: {name} expects {want}, the checkpoint has {got}")
    for name in base.missing:
        if name in _HEAD_KEYS:  # a backbone-only checkpoint
            new_head = True
        else:
            problems.append(f"missing: {name} (as {' + '.join(layout_names(name, arch.layout))!r} in {arch.layout})")
    for name in base.unexpected:
        if name in theirs_head and theirs_head[name] not in expected:  # the model has no head (num_classes=0)
            report.head_dropped.append((name, tuple(state[name].shape)))
        else:
            problems.append(f"unexpected: {name}")
    if problems:
        raise ValueError(f"checkpoint does not fit {type(model).__name__} ({arch}):\n" + "\n".join(problems))
    model.load_state_dict(converted, strict=False)
    if new_head and isinstance(model.head, nn.Linear):
        model.head.apply(init_weights)
        report.head_initialised = [(f"head.{n}", tuple(p.shape)) for n, p in model.head.named_parameters()]
    return report


# ================================================================================================ what is trained
def count_parameters(model: nn.Module) -> tuple[int, int]:
    """``(trainable, total)`` numbers of parameters."""
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)


def _lora_targets(model: SwinTransformer) -> list[tuple[str, nn.Linear]]:
    return [(n, m) for n, m in model.named_modules() if re.fullmatch(r".*\.attn\.(qkv|proj)", n)
            and isinstance(m, nn.Linear)]  # fmt: skip


def apply_finetune_mode(
    model: SwinTransformer, mode: str = "full", lora_rank: int = 0, lora_alpha: float | None = None
) -> dict[str, Any]:
    """Choose what is trained (sets ``requires_grad``; LoRA adds adapter modules in place, so call this after
    :func:`init_from_checkpoint`).

    ``mode``: ``"full"``; ``"linear"`` (the head only); ``"last-N"`` (stages ``num_stages-N+1 .. num_stages``, the
    final norm and the head); ``"lora"`` (rank-``lora_rank`` adapters ``W + (alpha/r) B A`` on every ``attn.qkv`` and
    ``attn.proj``, via ``peft``; ``alpha`` defaults to the rank; the head trains too). Returns
    ``{"mode", "trainable", "total"}`` parameter counts.
    """
    if mode != "lora" and lora_rank:
        raise ValueError(f"lora_rank {lora_rank} is only used with finetune='lora' (got finetune={mode!r})")
    n_stages = model.num_stages
    if mode == "full":
        model.requires_grad_(True)
    elif mode == "linear" or (m := re.fullmatch(r"last-(\d+)", mode)):
        if not isinstance(model.head, nn.Linear):
            raise ValueError(f"finetune={mode!r} trains the head, but the model has none (num_classes=0)")
        model.requires_grad_(False)
        model.head.requires_grad_(True)
        if mode != "linear":
            n = int(m[1])
            if not 1 <= n <= n_stages:
                raise ValueError(f"finetune={mode!r}: the model has {n_stages} stages, so N must be 1..{n_stages}")
            for stage in model.stages[n_stages - n :]:
                stage.requires_grad_(True)
            model.norm.requires_grad_(True)
    elif mode == "lora":
        targets = _lora_targets(model)
        if not isinstance(lora_rank, int) or lora_rank < 1:
            raise ValueError(f"finetune='lora' needs lora_rank >= 1, got {lora_rank!r}")
        for name, lin in targets:
            limit = min(lin.in_features, lin.out_features)
            if lora_rank > limit:
                raise ValueError(f"lora_rank {lora_rank} does not fit {name} (Linear {lin.in_features} -> "
                                 f"{lin.out_features}): the rank must be 1 .. min(in, out) = {limit}")  # fmt: skip
        from peft import LoraConfig, inject_adapter_in_model

        config = LoraConfig(r=lora_rank, lora_alpha=lora_alpha if lora_alpha is not None else lora_rank,
                            target_modules=r".*\.attn\.(qkv|proj)", lora_dropout=0.0, bias="none")  # fmt: skip
        inject_adapter_in_model(config, model)
        for name, p in model.named_parameters():
            p.requires_grad_(".lora_" in name or name.startswith("head."))
    else:
        raise ValueError(f"finetune must be 'full', 'linear', 'last-N' (N = 1..{n_stages} stages) or 'lora', "
                         f"got {mode!r}")  # fmt: skip
    trainable, total = count_parameters(model)
    return {"mode": mode, "trainable": trainable, "total": total}


def merge_lora(model: nn.Module) -> nn.Module:
    """Fold every LoRA adapter into its layer's weight (``W <- W + (alpha/r) B A``) and put the plain ``nn.Linear``
    back, in place: the model's state dict is again the swin_viz layout. Returns ``model``."""
    from peft.tuners.lora import LoraLayer

    for name, module in list(model.named_modules()):
        if isinstance(module, LoraLayer):
            module.merge()
            parent_name, _, child = name.rpartition(".")
            base = module.get_base_layer()
            setattr(model.get_submodule(parent_name) if parent_name else model, child, base)
    return model


# ==================================================================================================== optimiser
def layer_id(name: str, depths: tuple[int, ...]) -> int:
    """Depth of parameter ``name`` for layer-wise lr decay: 0 the patch embedding; ``1 + k`` the k-th block over all
    stages (a stage's patch merging shares the id of its first block); ``sum(depths) + 1`` the final norm and head."""
    if m := _STAGE_BLOCK.match(name):
        s, j = int(m[1]), int(m[2])
        return 1 + sum(depths[: s - 1]) + j
    if m := _STAGE_MERGE.match(name):
        return 1 + sum(depths[: int(m[1]) - 1])
    if name.startswith(("patch_embed.", "pos_drop.")):
        return 0
    return sum(depths) + 1


def param_groups(
    model: SwinTransformer, weight_decay: float, layer_decay: float | None = None, lr: float | None = None
) -> list[dict[str, Any]]:
    """AdamW groups for the trainable parameters, with the training recipe's no-weight-decay rule.

    Without ``layer_decay``: the recipe's two groups (:func:`swin_viz.train.param_groups`). With it (``0 < d <=
    1``): one group per (depth, decay or not), the head's first, with ``lr_scale = d ** (L + 1 - layer_id)`` (``L``
    blocks in all), so the head trains at the full rate and the patch embedding at ``d ** (L + 1)`` of it. The loop
    multiplies its scheduled rate by each group's ``lr_scale``; given ``lr``, each group also starts at
    ``lr * lr_scale`` (for a loop of your own with a fixed rate).
    """
    from .optim import param_groups as recipe_groups  # the one home of the no-weight-decay rule

    groups = recipe_groups(model, weight_decay)
    if layer_decay is None:
        return [{**g, "lr": lr} for g in groups] if lr is not None else groups
    if not 0.0 < layer_decay <= 1.0:
        raise ValueError(f"layer_decay must be in (0, 1], got {layer_decay}")
    depths = tuple(model.config.depths)
    top = sum(depths) + 1
    name_of = {id(p): n for n, p in model.named_parameters()}
    out: dict[tuple[int, float], dict[str, Any]] = {}
    for group in groups:
        for p in group["params"]:
            lid = layer_id(name_of[id(p)], depths)
            key = (lid, group["weight_decay"])
            if key not in out:
                out[key] = {"params": [], "weight_decay": group["weight_decay"], "lr_scale": layer_decay ** (top - lid),
                            "layer_id": lid}  # fmt: skip
            out[key]["params"].append(p)
    if lr is not None:
        for group in out.values():
            group["lr"] = lr * group["lr_scale"]
    return [out[k] for k in sorted(out, reverse=True)]  # the head first: the loop logs group 0's rate


def recipe_lines(preset: dict[str, Any] | None = None, base: dict[str, Any] | None = None) -> list[str]:
    """The fine-tuning recipe as printable lines ``field  fine-tuning  (pre-training)``: each field the preset sets,
    next to the value ``base`` (the training defaults, when given) has."""
    preset = PAPER_FINETUNE if preset is None else preset
    lines = []
    for key, value in preset.items():
        if key == "label":
            continue
        was = f"   (pre-training: {base[key]!r})" if base is not None and key in base else ""
        lines.append(f"{key:16s} {value!r}{was}")
    return lines
