"""Loading weights from the four layouts Swin weights come in, and saving our own.

=================  ===========================================================  ====================
layout             example key                                                  patch merging lives
=================  ===========================================================  ====================
``swin_viz``       ``stage1.block0.attn.qkv.weight``                            start of stage 2-4
``official``       ``layers.0.blocks.0.attn.qkv.weight``                        end of stage 1-3
``timm``           ``layers.0.blocks.0.attn.qkv.weight``, ``head.fc.weight``    start of stage 2-4
``torchvision``    ``features.1.0.attn.qkv.weight``, ``features.1.0.mlp.0``     own ``features.{2,4,6}``
``hf``             ``swin.encoder.layers.0.blocks.0.attention.self.query``      end of stage 1-3
``hf5``            ``swin.encoder.layers.0.blocks.0.attention.q_proj``          end of stage 1-3
=================  ===========================================================  ====================

One function, :func:`layout_names`, says what each of *our* keys is called in another layout (HuggingFace
splits ``qkv`` into three tensors); importing inverts it, exporting applies it. Derived buffers
(``relative_position_index``, ``attn_mask``) are recomputed here, so they are skipped on import.

Files are read with ``torch.load(..., weights_only=True)``: a checkpoint is data, never code. Every key that
could not be used is reported *by name*: missing, unexpected and mis-shaped.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

__all__ = [
    "LAYOUTS",
    "LoadReport",
    "convert_state_dict",
    "detect_layout",
    "export_state_dict",
    "layout_names",
    "load_checkpoint",
    "load_state_dict",
    "model_from_checkpoint",
    "save_checkpoint",
]

LAYOUTS = ("swin_viz", "official", "timm", "torchvision", "hf", "hf5")
_DERIVED = re.compile(r"(relative_position_index|attn_mask|relative_coords_table)$")
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


def _check_layout(layout: str) -> None:
    if layout not in LAYOUTS:
        raise ValueError(f"unknown checkpoint layout {layout!r}; choose one of {LAYOUTS} or 'auto'")


def layout_names(key: str, layout: str) -> list[str]:
    """Name(s) of our state-dict ``key`` in ``layout`` (three names for HuggingFace's split q/k/v)."""
    _check_layout(layout)
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


def _unwrap(obj: object) -> dict[str, torch.Tensor]:
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
    if any(k.startswith("stage1.") for k in keys) or "patch_embed.out" in keys:
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


@dataclass
class LoadReport:
    """What happened to every key: loaded, missing (ours, not in the file), unexpected (theirs, unused),
    mismatched (same name, other shape: ``(name, expected, found)``) and ignored (derived buffers)."""

    layout: str
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def __str__(self) -> str:
        lines = [
            f"layout {self.layout!r}: {len(self.loaded)} tensors loaded, {len(self.ignored)} derived buffers skipped"
        ]
        if self.missing:
            lines.append(f"missing ({len(self.missing)}): " + ", ".join(self.missing))
        if self.unexpected:
            lines.append(f"unexpected ({len(self.unexpected)}): " + ", ".join(self.unexpected))
        for name, want, got in self.mismatched:
            lines.append(f"mis-shaped: {name} expects {want}, the checkpoint has {got}")
        return "\n".join(lines)


def convert_state_dict(
    state_dict: dict[str, torch.Tensor], model: nn.Module, layout: str = "auto"
) -> tuple[dict[str, torch.Tensor], LoadReport]:
    """Rename ``state_dict`` (any layout) into ``model``'s names. Returns the converted dict and a report.

    The converted dict holds only tensors whose shapes fit ``model``; the report names everything else.
    """
    state_dict = _unwrap(state_dict)
    if layout == "auto":
        layout = detect_layout(state_dict)
    _check_layout(layout)
    if layout in ("hf", "hf5") and not any(k.startswith("swin.") for k in state_dict):
        state_dict = {("swin." + k if not k.startswith("classifier.") else k): v for k, v in state_dict.items()}
    report = LoadReport(layout)
    expected = model.state_dict()
    theirs_to_ours: dict[str, str] = {}
    for ours in expected:
        for name in layout_names(ours, layout):
            theirs_to_ours[name] = ours

    converted: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    for ours, target in expected.items():
        names = layout_names(ours, layout)
        if not all(n in state_dict for n in names):
            report.missing.append(ours)
            continue
        used.update(names)
        value = torch.cat([state_dict[n] for n in names]) if len(names) > 1 else state_dict[names[0]]
        if value.shape != target.shape:
            report.mismatched.append((ours, tuple(target.shape), tuple(value.shape)))
            continue
        converted[ours] = value
        report.loaded.append(ours)
    for name in state_dict:
        if name in used:
            continue
        if _DERIVED.search(name):
            report.ignored.append(name)
        elif name not in theirs_to_ours:
            report.unexpected.append(name)
    return converted, report


def load_state_dict(
    model: nn.Module, state_dict: dict[str, torch.Tensor], layout: str = "auto", strict: bool = True
) -> LoadReport:
    """Load a state dict of any layout into ``model``.

    ``strict=True`` raises ``ValueError`` naming every missing, unexpected or mis-shaped key and loads
    nothing; ``strict=False`` loads what fits (e.g. a backbone under a new head) and returns the report.
    """
    converted, report = convert_state_dict(state_dict, model, layout)
    if strict and not report.ok:
        raise ValueError(f"checkpoint does not fit {type(model).__name__}:\n{report}")
    model.load_state_dict(converted, strict=False)
    return report


def load_checkpoint(
    model: nn.Module,
    path: str | os.PathLike,
    layout: str = "auto",
    strict: bool = True,
    map_location: str | torch.device = "cpu",
) -> LoadReport:
    """Read ``path`` with ``torch.load(weights_only=True)`` and load it into ``model`` (see :func:`load_state_dict`)."""
    obj = torch.load(path, map_location=map_location, weights_only=True)
    return load_state_dict(model, obj, layout=layout, strict=strict)


def export_state_dict(model: nn.Module, layout: str) -> dict[str, torch.Tensor]:
    """``model``'s weights under another layout's names (q/k/v split for HuggingFace); derived buffers omitted."""
    out: dict[str, torch.Tensor] = {}
    for key, value in model.state_dict().items():
        names = layout_names(key, layout)
        for name, part in zip(names, value.chunk(len(names)) if len(names) > 1 else [value]):
            out[name] = part.clone()
    return out


def save_checkpoint(model: nn.Module, path: str | os.PathLike, **extra: object) -> None:
    """Write ``{"format": "swin_viz", "config", "state_dict", **extra}`` atomically (write, then rename).

    ``extra`` values must be plain data (numbers, strings, lists, dicts, tensors) so the file stays loadable
    with ``weights_only=True``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    config = getattr(model, "config", None)
    payload = {
        "format": "swin_viz",
        "version": 1,
        "config": asdict(config) if config is not None else None,
        "state_dict": model.state_dict(),
        **extra,
    }
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file private; a checkpoint is an ordinary file
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def model_from_checkpoint(
    path: str | os.PathLike, map_location: str | torch.device = "cpu", **overrides: object
) -> nn.Module:
    """Build the model a :func:`save_checkpoint` file describes and load its weights."""
    from .model import SwinTransformer

    obj = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(obj, dict) or obj.get("format") != "swin_viz" or not obj.get("config"):
        raise ValueError(f"{path} is not a swin_viz checkpoint with a config; build the model and use load_checkpoint")
    config = dict(obj["config"])
    config.update(overrides)
    model = SwinTransformer(**config)
    load_state_dict(model, obj["state_dict"], layout="swin_viz")
    return model
