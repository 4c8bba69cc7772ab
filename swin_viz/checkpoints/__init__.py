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

The layouts themselves live in :mod:`swin_viz.checkpoints.layouts` (re-exported here): one function,
:func:`layout_names`, says what each of *our* keys is called in another layout (HuggingFace
splits ``qkv`` into three tensors); importing inverts it, exporting applies it. Derived buffers
(``relative_position_index``, ``attn_mask``) are recomputed here, so they are skipped on import.

Files are read with ``torch.load(..., weights_only=True)``: a checkpoint is data, never code. Every key that
could not be used is reported *by name*: missing, unexpected and mis-shaped.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..atomic import atomic_save
from ..model import SwinConfig, SwinTransformer
from ..relative_position import relative_position_index
from ..shift import shifted_window_mask
from .layouts import (
    BIAS_TABLE,
    DERIVED_BUFFERS,
    LAYOUTS,
    CheckpointArch,
    check_layout,
    checkpoint_state,
    describe_checkpoint,
    detect_layout,
    layout_names,
    layout_tensor,
    unwrap_state_dict,
)

__all__ = [
    "BIAS_TABLE",
    "LAYOUTS",
    "CheckpointArch",
    "CheckpointError",
    "LoadReport",
    "checkpoint_state",
    "convert_state_dict",
    "describe_checkpoint",
    "detect_layout",
    "export_state_dict",
    "layout_names",
    "layout_tensor",
    "load_checkpoint",
    "load_state_dict",
    "model_from_checkpoint",
    "official_state_dict",
    "save_checkpoint",
    "unwrap_state_dict",
]


class CheckpointError(ValueError):
    """A file that is not a readable checkpoint: empty, truncated, not a PyTorch file, a directory, or one holding
    Python objects that ``torch.load(weights_only=True)`` refuses to build."""


def _read(path: str | os.PathLike, map_location: str | torch.device) -> object:
    """``torch.load(path, weights_only=True)``, with an error that says what is wrong with the file."""
    p = Path(path)
    if p.is_dir():
        raise CheckpointError(f"{p} is a directory; pass the checkpoint file inside it")
    if not p.exists():
        raise FileNotFoundError(f"no checkpoint at {p}")
    size = p.stat().st_size
    if size == 0:
        raise CheckpointError(f"{p} is empty (0 bytes): an interrupted download or save? Nothing to load")
    try:
        return torch.load(p, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's message advises weights_only=False; the one line worth keeping is the unpickler's reason.
        reason = next((line.strip() for line in str(exc).splitlines() if "WeightsUnpickler error" in line), "")
        raise CheckpointError(
            f"{p} ({size} bytes) could not be read with torch.load(weights_only=True): it is not a PyTorch "
            f"checkpoint, or it holds Python objects other than tensors and plain data, which swin_viz never "
            f"builds from a file. {reason}".rstrip()
        ) from exc
    except Exception as exc:  # EOFError, zip errors, KeyError from garbage opcodes...: all mean "not a checkpoint"
        raise CheckpointError(
            f"{p} ({size} bytes) is not a readable PyTorch checkpoint (truncated or corrupt?): "
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        ) from exc


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
    nonfinite: list[str] = field(default_factory=list)
    """Tensors holding NaN or inf: never loaded."""

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched or self.nonfinite)

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
        if self.nonfinite:
            lines.append(f"non-finite (NaN or inf, not loaded) ({len(self.nonfinite)}): " + ", ".join(self.nonfinite))
        return "\n".join(lines)


def convert_state_dict(
    state_dict: dict[str, torch.Tensor], model: nn.Module, layout: str = "auto"
) -> tuple[dict[str, torch.Tensor], LoadReport]:
    """Rename ``state_dict`` (any layout) into ``model``'s names. Returns the converted dict and a report.

    The converted dict holds only tensors whose shapes fit ``model``; the report names everything else.
    """
    state_dict = unwrap_state_dict(state_dict)
    if layout == "auto":
        layout = detect_layout(state_dict)
    check_layout(layout)
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
        if value.is_floating_point() and not value.is_meta and not torch.isfinite(value).all():
            report.nonfinite.append(ours)
            continue
        converted[ours] = value
        report.loaded.append(ours)
    for name in state_dict:
        if name in used:
            continue
        if DERIVED_BUFFERS.search(name):
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
    Tensors holding NaN or inf are never loaded: even with ``strict=False`` they raise, naming them.
    """
    converted, report = convert_state_dict(state_dict, model, layout)
    if report.nonfinite or (strict and not report.ok):
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
    """Read ``path`` with ``torch.load(weights_only=True)`` and load it into ``model`` (see :func:`load_state_dict`).

    Raises :class:`CheckpointError` for a file that is empty, truncated, not a checkpoint or a directory."""
    obj = _read(path, map_location)
    return load_state_dict(model, obj, layout=layout, strict=strict)


def export_state_dict(model: nn.Module, layout: str) -> dict[str, torch.Tensor]:
    """``model``'s weights under another layout's names (q/k/v split for HuggingFace); derived buffers omitted."""
    out: dict[str, torch.Tensor] = {}
    for key, value in model.state_dict().items():
        names = layout_names(key, layout)
        for name, part in zip(names, value.chunk(len(names)) if len(names) > 1 else [value]):
            out[name] = part.clone()
    return out


def official_state_dict(model: SwinTransformer, img_size: int | None = None) -> dict[str, torch.Tensor]:
    """``model``'s weights as an official Swin checkpoint names them, *with* the derived buffers a real official
    file also holds (``attn.relative_position_index`` in every block, ``attn_mask`` in shifted ones).

    ``img_size`` (default: 32 for a patch-2 model, else 224) sets the resolutions the masks are built for.
    """
    size = img_size or (32 if model.config.patch_size == 2 else 224)
    derived: dict[str, dict[str, torch.Tensor]] = {}  # bias-table key -> buffers that follow it in the file
    for shape, stage in zip(model.stage_shapes(size), model.stages):
        s = shape["index"]
        for j, block in enumerate(stage.blocks):
            prefix = f"layers.{s - 1}.blocks.{j}."
            extra = {prefix + "attn.relative_position_index": relative_position_index(block.window_size)}
            if j % 2 and shape["shift"] != (0, 0):
                Hp, Wp = shape["padded"]
                extra[prefix + "attn_mask"] = shifted_window_mask(Hp, Wp, shape["window"], shape["shift"])
            derived[prefix + "attn.relative_position_bias_table"] = extra
    sd: dict[str, torch.Tensor] = {}
    for key, value in export_state_dict(model, "official").items():
        sd[key] = value
        sd.update(derived.get(key, {}))
    return sd


def save_checkpoint(model: nn.Module, path: str | os.PathLike, **extra: object) -> None:
    """Write ``{"format": "swin_viz", "config", "state_dict", **extra}`` atomically (write, then rename).

    ``extra`` values must be plain data (numbers, strings, lists, dicts, tensors) so the file stays loadable
    with ``weights_only=True``.
    """
    path = Path(path)
    for key, value in extra.items():
        if key in ("format", "version", "config", "state_dict"):
            raise ValueError(f"save_checkpoint: extra key {key!r} would overwrite the checkpoint's own {key!r}")
        _check_plain(value, key)
    if path.is_dir():
        raise CheckpointError(f"{path} is a directory; name the checkpoint file to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    config = getattr(model, "config", None)
    config = config if isinstance(config, SwinConfig) else None  # a block's own config rebuilds no model
    payload = {
        "format": "swin_viz",
        "version": 1,
        "config": asdict(config) if config is not None else None,
        "state_dict": model.state_dict(),
        **extra,
    }
    atomic_save(payload, path)


def _check_plain(value: object, where: str) -> None:
    """``value`` must load back with ``weights_only=True``: numbers, strings, None, tensors, lists/tuples/dicts."""
    if value is None or isinstance(value, (bool, int, float, str, torch.Tensor)):
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for k, item in value.items():
            if not isinstance(k, (str, int)):
                raise ValueError(f"save_checkpoint: {where} has a key {k!r}; keys must be strings or ints")
            _check_plain(item, f"{where}[{k!r}]")
        return
    raise ValueError(
        f"save_checkpoint: extra value {where} is a {type(value).__name__}; only numbers, strings, None, tensors and "
        f"lists/tuples/dicts of them load back with weights_only=True"
    )


def model_from_checkpoint(
    path: str | os.PathLike, map_location: str | torch.device = "cpu", **overrides: object
) -> nn.Module:
    """Build the model a :func:`save_checkpoint` file describes and load its weights."""
    obj = _read(path, map_location)
    if not isinstance(obj, dict) or obj.get("format") != "swin_viz" or not obj.get("config"):
        raise ValueError(f"{path} is not a swin_viz checkpoint with a config; build the model and use load_checkpoint")
    config = dict(obj["config"])
    config.update(overrides)
    model = SwinTransformer(**config)
    load_state_dict(model, obj["state_dict"], layout="swin_viz")
    return model


# ------------------------------------------------------------------------------ the checkpoint of a training run
RUN_CHECKPOINT_VERSION = 3
"""Version of the training engine's ``checkpoint.pt`` (:func:`run_checkpoint`, :func:`read_run_checkpoint`).

* 2: one Mixup state (rank 0's) and one random state per rank;
* 3: the Mixup state of every group (all ranks'), the loss scaler's state (``--amp fp16``), the world size.
"""


def run_checkpoint(
    *,
    model_config: dict[str, object],
    train_config: dict[str, object],
    classes: list[str],
    state_dict: dict[str, torch.Tensor],
    optimizer: dict[str, object],
    epoch: int,
    step: int,
    rngs: list[dict[str, object]],
    mix: dict[str, object],
    metrics: list[dict[str, object]],
    loader: dict[str, object],
    world_size: int,
    scaler: dict[str, object] | None = None,
) -> dict[str, object]:
    """The payload of a training run's checkpoint (version :data:`RUN_CHECKPOINT_VERSION`), plain data only.

    ``rngs``: one random state per rank, in rank order; ``mix``: ``{"group_ids": [...], "rngs": [...]}`` over every
    Mixup group of every rank; ``scaler``: ``torch.amp.GradScaler.state_dict()`` or ``None``. A file of this payload
    also loads with :func:`model_from_checkpoint` (``format``, ``config``, ``state_dict``).
    """
    payload = {"format": "swin_viz", "version": RUN_CHECKPOINT_VERSION, "config": model_config,
               "train_config": train_config, "classes": list(classes), "state_dict": state_dict,
               "optimizer": optimizer, "epoch": int(epoch), "step": int(step), "rng": list(rngs), "mix": mix,
               "metrics": metrics, "loader": loader, "world_size": int(world_size), "scaler": scaler}  # fmt: skip
    _check_plain({k: v for k, v in payload.items() if k not in ("state_dict", "optimizer")}, "run checkpoint")
    return payload


def read_run_checkpoint(obj: object, where: str = "checkpoint") -> dict[str, object]:
    """A training run's checkpoint (as ``torch.load(..., weights_only=True)`` returned it), checked and brought to
    version :data:`RUN_CHECKPOINT_VERSION`: a version-2 file gets ``scaler=None`` and keeps its one Mixup state (rank
    0's groups; a multi-rank resume with Mixup on then names what is missing). Raises ``ValueError`` for anything
    else."""
    if not isinstance(obj, dict) or obj.get("format") != "swin_viz" or "train_config" not in obj:
        raise ValueError(f"{where} is not a training checkpoint of swin_viz.train (no format/train_config)")
    version = int(obj.get("version", 2))
    if version not in (2, RUN_CHECKPOINT_VERSION):
        raise ValueError(f"{where} is a version-{version} training checkpoint; this swin_viz reads versions 2 and "
                         f"{RUN_CHECKPOINT_VERSION}")  # fmt: skip
    missing = [k for k in ("state_dict", "optimizer", "epoch", "step", "rng", "loader") if k not in obj]
    if missing:
        raise ValueError(f"{where} lacks {missing}: not a complete training checkpoint")
    state = dict(obj)
    state.setdefault("scaler", None)
    state.setdefault("world_size", 1)
    state.setdefault("mix", {"group_ids": [], "rngs": []})
    state["version"] = RUN_CHECKPOINT_VERSION
    return state
