"""Checkpoint layouts: what each of our keys is called in the official, timm, torchvision and HuggingFace
layouts (:func:`layout_names`), which layout a state dict is in (:func:`detect_layout`), and which Swin it
describes (:func:`describe_checkpoint`). Part of :mod:`swin_viz.checkpoints`, which re-exports every name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import torch

LAYOUTS = ("swin_viz", "official", "timm", "torchvision", "hf", "hf5")
BIAS_TABLE = "attn.relative_bias.table"
"""Our name (inside a block) of the relative position bias table: the tensor a window change resizes."""
DERIVED_BUFFERS = re.compile(r"(relative_position_index|attn_mask|relative_coords_table)$")
"""Buffers a model recomputes from its config: skipped on import, whatever a file holds."""
_BLOCK = re.compile(r"stage(\d+)\.block(\d+)\.(.+)")
_MERGE = re.compile(r"stage(\d+)\.downsample\.(.+)")

_HF_NORMS = {
    "norm1.weight": "layernorm_before.weight",
    "norm1.bias": "layernorm_before.bias",
    "norm2.weight": "layernorm_after.weight",
    "norm2.bias": "layernorm_after.bias",
}

# Renames inside a block, ours -> theirs, per layout. A list value means "split along dim 0".
_BLOCK_RENAMES: dict[str, dict[str, str | list[str]]] = {
    "official": {"attn.relative_bias.table": "attn.relative_position_bias_table"},
    "torchvision": {
        "attn.relative_bias.table": "attn.relative_position_bias_table",
        "mlp.fc1.weight": "mlp.0.weight", "mlp.fc1.bias": "mlp.0.bias",
        "mlp.fc2.weight": "mlp.3.weight", "mlp.fc2.bias": "mlp.3.bias",
    },
    "hf": {
        **_HF_NORMS,
        "attn.qkv.weight": [f"attention.self.{n}.weight" for n in ("query", "key", "value")],
        "attn.qkv.bias": [f"attention.self.{n}.bias" for n in ("query", "key", "value")],
        "attn.proj.weight": "attention.output.dense.weight", "attn.proj.bias": "attention.output.dense.bias",
        "attn.relative_bias.table": "attention.self.relative_position_bias_table",
        "mlp.fc1.weight": "intermediate.dense.weight", "mlp.fc1.bias": "intermediate.dense.bias",
        "mlp.fc2.weight": "output.dense.weight", "mlp.fc2.bias": "output.dense.bias",
    },
    "hf5": {
        **_HF_NORMS,
        "attn.qkv.weight": [f"attention.{n}_proj.weight" for n in "qkv"],
        "attn.qkv.bias": [f"attention.{n}_proj.bias" for n in "qkv"],
        "attn.proj.weight": "attention.o_proj.weight", "attn.proj.bias": "attention.o_proj.bias",
        "attn.relative_bias.table": "attention.relative_position_bias.relative_position_bias_table",
    },
}  # fmt: skip
_BLOCK_RENAMES["timm"] = _BLOCK_RENAMES["official"]

# Renames outside the stages (patch embedding, final norm, head).
_TOP_RENAMES: dict[str, dict[str, str]] = {
    "timm": {"head.weight": "head.fc.weight", "head.bias": "head.fc.bias"},
    "torchvision": {
        "patch_embed.proj.weight": "features.0.0.weight", "patch_embed.proj.bias": "features.0.0.bias",
        "patch_embed.norm.weight": "features.0.2.weight", "patch_embed.norm.bias": "features.0.2.bias",
    },
    "hf": {
        "patch_embed.proj.weight": "swin.embeddings.patch_embeddings.projection.weight",
        "patch_embed.proj.bias": "swin.embeddings.patch_embeddings.projection.bias",
        "patch_embed.norm.weight": "swin.embeddings.norm.weight", "patch_embed.norm.bias": "swin.embeddings.norm.bias",
        "norm.weight": "swin.layernorm.weight", "norm.bias": "swin.layernorm.bias",
        "head.weight": "classifier.weight", "head.bias": "classifier.bias",
    },
}  # fmt: skip
_TOP_RENAMES["hf5"] = _TOP_RENAMES["hf"]


def check_layout(layout: str) -> None:
    """``ValueError`` unless ``layout`` is one of :data:`LAYOUTS`."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown checkpoint layout {layout!r}; choose one of {LAYOUTS} or 'auto'")


def layout_names(key: str, layout: str) -> list[str]:
    """Name(s) of our state-dict ``key`` in ``layout`` (three names for HuggingFace's split q/k/v)."""
    check_layout(layout)
    if layout == "swin_viz":
        return [key]
    if m := _BLOCK.fullmatch(key):
        s, j, rest = int(m[1]), int(m[2]), m[3]
        prefix = {
            "official": f"layers.{s - 1}.blocks.{j}.",
            "timm": f"layers.{s - 1}.blocks.{j}.",
            "torchvision": f"features.{2 * s - 1}.{j}.",
            "hf": f"swin.encoder.layers.{s - 1}.blocks.{j}.",
            "hf5": f"swin.encoder.layers.{s - 1}.blocks.{j}.",
        }[layout]
        renamed = _BLOCK_RENAMES[layout].get(rest, rest)
        return [prefix + r for r in renamed] if isinstance(renamed, list) else [prefix + renamed]
    if m := _MERGE.fullmatch(key):
        s, rest = int(m[1]), m[2]
        return [{
            "official": f"layers.{s - 2}.downsample.{rest}",
            "timm": f"layers.{s - 1}.downsample.{rest}",
            "torchvision": f"features.{2 * s - 2}.{rest}",
            "hf": f"swin.encoder.layers.{s - 2}.downsample.{rest}",
            "hf5": f"swin.encoder.layers.{s - 2}.downsample.{rest}",
        }[layout]]  # fmt: skip
    return [_TOP_RENAMES.get(layout, {}).get(key, key)]


def unwrap_state_dict(obj: object) -> dict[str, torch.Tensor]:
    """The state dict inside a checkpoint file: ``{"model": ...}``, ``{"state_dict": ...}`` or the dict itself."""
    if isinstance(obj, dict):
        for wrapper in ("state_dict", "model", "module"):
            inner = obj.get(wrapper)
            if isinstance(inner, dict) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
                obj = inner
                break
    if not isinstance(obj, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        raise ValueError("the checkpoint holds no state dict (a mapping from names to tensors)")
    # Strip the prefix DistributedDataParallel / torch.compile add.
    for prefix in ("module.", "_orig_mod."):
        if obj and all(k.startswith(prefix) for k in obj):
            obj = {k[len(prefix) :]: v for k, v in obj.items()}
    return obj


def detect_layout(state_dict: dict[str, torch.Tensor]) -> str:
    """Which of :data:`LAYOUTS` a state dict is in, from its key names."""
    keys = set(state_dict)
    if any(k.startswith("stage1.") for k in keys) or "patch_embed.hook_out" in keys:
        return "swin_viz"
    if any(k.startswith(("swin.", "embeddings.patch_embeddings")) for k in keys):
        return "hf5" if any(".attention.q_proj." in k for k in keys) else "hf"
    if "features.0.0.weight" in keys:
        return "torchvision"
    if any(k.startswith("layers.") for k in keys):
        if any(k.startswith("head.fc.") for k in keys) or (
            not any(k.startswith("layers.0.downsample.") for k in keys)
            and any(re.match(r"layers\.\d+\.downsample\.", k) for k in keys)
        ):
            return "timm"
        return "official"
    sample = sorted(keys)[:4]
    raise ValueError(f"cannot tell the checkpoint layout from its keys (e.g. {sample}); pass layout= one of {LAYOUTS}")


# ================================================================================================ architecture
@dataclass(frozen=True)
class CheckpointArch:
    """The Swin a state dict describes, read from its tensors' names and shapes."""

    layout: str
    embed_dim: int
    patch_size: int
    in_chans: int
    depths: tuple[int, ...]
    num_heads: tuple[int, ...]
    window_size: int
    num_classes: int
    """0 when the checkpoint has no classification head."""

    def __str__(self) -> str:
        return (f"{self.layout} checkpoint: embed_dim {self.embed_dim}, depths {self.depths}, heads {self.num_heads}, "
                f"window {self.window_size}, patch {self.patch_size}, {self.num_classes} classes")  # fmt: skip


def layout_tensor(state: dict[str, torch.Tensor], key: str, layout: str) -> torch.Tensor | None:
    """Our ``key`` looked up in a ``layout`` state dict (q/k/v of HuggingFace concatenated), or ``None``."""
    names = layout_names(key, layout)
    if not all(n in state for n in names):
        return None
    return torch.cat([state[n] for n in names]) if len(names) > 1 else state[names[0]]


def checkpoint_state(state_dict: dict[str, Any], layout: str) -> tuple[dict[str, torch.Tensor], str]:
    """The state dict inside a checkpoint and its layout (detected when ``"auto"``), HuggingFace's names with their
    ``swin.`` prefix (a bare ``SwinModel`` saves them without it), so that :func:`layout_names` finds them.

    Stops with a ``ValueError`` that says what the file is when it is a Swin V2 checkpoint or holds LoRA adapters."""
    state = unwrap_state_dict(state_dict)
    if any(k.endswith("logit_scale") or ".cpb_mlp." in k for k in state):
        example = next(k for k in state if k.endswith("logit_scale") or ".cpb_mlp." in k)
        raise ValueError(f"this is a Swin V2 checkpoint (cosine attention, continuous position bias: e.g. {example!r});"
                         " swin_viz implements Swin V1")  # fmt: skip
    if any(".lora_A." in k or ".base_layer." in k for k in state):
        example = next(k for k in state if ".lora_A." in k or ".base_layer." in k)
        raise ValueError(f"this checkpoint holds LoRA adapters (e.g. {example!r}): continue that run with --resume, "
                         "or fold them in with swin_viz.train.finetune.merge_lora and save the model "
                         "again")  # fmt: skip
    if layout == "auto":
        try:
            layout = detect_layout(state)
        except ValueError as exc:
            known = ", ".join(LAYOUTS)
            raise ValueError(f"not a Swin Transformer checkpoint this library knows ({known}): {exc}") from exc
    if layout in ("hf", "hf5") and not any(k.startswith("swin.") for k in state):
        state = {(k if k.startswith("classifier.") else "swin." + k): v for k, v in state.items()}
    return state, layout


def describe_checkpoint(state_dict: dict[str, torch.Tensor], layout: str = "auto") -> CheckpointArch:
    """Read the architecture of a Swin (V1) checkpoint from its tensors, in any layout.

    Raises ``ValueError`` naming what was found when the state dict is not a Swin V1 this library can load
    (another architecture, a Swin V2 with its continuous position bias, a layout no loader knows).
    """
    state, layout = checkpoint_state(state_dict, layout)
    patch = layout_tensor(state, "patch_embed.proj.weight", layout)
    depths: list[int] = []
    heads: list[int] = []
    windows: set[int] = set()
    for s in range(1, 17):
        depth = 0
        while layout_tensor(state, f"stage{s}.block{depth}.attn.qkv.weight", layout) is not None:
            depth += 1
        if depth == 0:
            break
        key = f"stage{s}.block0.{BIAS_TABLE}"
        table = layout_tensor(state, key, layout)
        if table is None:
            raise ValueError(f"not a Swin V1 checkpoint: stage {s} has attention weights but no relative position bias "
                             f"table ({layout_names(key, layout)[0]!r} is absent)")  # fmt: skip
        depths.append(depth)
        heads.append(int(table.shape[1]))
        side = round(table.shape[0] ** 0.5)
        windows.add((side + 1) // 2)
    if patch is None or not depths:
        sample = sorted(state)[:4]
        raise ValueError(f"not a Swin Transformer checkpoint: no patch embedding or attention blocks under the "
                         f"{layout!r} names (its keys begin {sample})")  # fmt: skip
    head = layout_tensor(state, "head.weight", layout)
    return CheckpointArch(layout=layout, embed_dim=int(patch.shape[0]), patch_size=int(patch.shape[-1]),
                          in_chans=int(patch.shape[1]), depths=tuple(depths), num_heads=tuple(heads),
                          window_size=max(windows), num_classes=0 if head is None else int(head.shape[0]))  # fmt: skip
