"""Checks for lab 11, the capstone (``notebooks/lab11_capstone.ipynb``): Swin-T from the student's own functions.

The student builds ``WindowAttention``, a Swin block and the whole Swin-T out of the functions of labs 3 to 7,
with the official code's parameter names. Each check loads weights in the official layout, exported by
:func:`swin_viz.probes.official_state_dict` from a seeded ``swin_viz.swin_t()`` (nothing is downloaded), into the
student's module with ``strict=True``, and compares its output with ``swin_viz``'s:

* :func:`check_window_attention` -- ``cls(dim, num_heads, window_size)``, windows ``(B*nW, N, C)``, with and
  without a shifted-window mask;
* :func:`check_swin_block` -- ``cls(dim, num_heads, window_size, shift_size)`` on a ``(B, H, W, C)`` map;
* :func:`check_swin_t` -- ``cls()`` on a 224 x 224 image: the logits.

While the student's code runs, the library's own versions of every step (the modules and the functions of
labs 3 to 7) are switched off, so the model cannot be assembled from ``swin_viz``'s parts.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
from torch import nn

from swin_viz.model import SwinTransformer
from swin_viz.probes import official_state_dict
from swin_viz.shift import shifted_window_mask
from swin_viz.zoo import shared_model

from ._check import NOT_WRITTEN, Report, explain_difference, forbid, run_student

__all__ = [
    "LIBRARY_PARTS",
    "check_swin_block",
    "check_swin_t",
    "check_window_attention",
    "official_part",
    "official_weights",
    "reference_model",
]

LIBRARY_PARTS = (
    "swin_viz.attention.WindowAttention",
    "swin_viz.block.SwinBlock",
    "swin_viz.block.Mlp",
    "swin_viz.merging.PatchMerging",
    "swin_viz.merging.merge_patches",
    "swin_viz.patches.PatchEmbed",
    "swin_viz.model.SwinTransformer",
    "swin_viz.model.SwinStage",
    "swin_viz.model.swin_t",
    "swin_viz.model.create_model",
    "swin_viz.windows.window_partition",
    "swin_viz.windows.window_reverse",
    "swin_viz.shift.cyclic_shift",
    "swin_viz.shift.reverse_cyclic_shift",
    "swin_viz.shift.shifted_window_mask",
    "swin_viz.relative_position.relative_position_index",
    "swin_viz.relative_position.RelativePositionBias",
    "swin_viz.checkpoints.load_state_dict",
    "swin_viz.checkpoints.convert_state_dict",
)
"""What the capstone's checks switch off while the student's code runs."""

_DERIVED = ("relative_position_index", "attn_mask")


def reference_model() -> SwinTransformer:
    """Swin-T with seed-0 random weights, in eval mode: :func:`swin_viz.shared_model` ``("swin_t")``, shared with
    the figures and read-only (the global RNG is untouched)."""
    return shared_model("swin_t")


@functools.lru_cache(maxsize=1)
def official_weights() -> dict[str, torch.Tensor]:
    """The seeded Swin-T's weights in the official layout, without the derived buffers (``relative_position_index``,
    ``attn_mask``: the student's modules compute them)."""
    return {k: v for k, v in official_state_dict(reference_model()).items() if not k.endswith(_DERIVED)}


def official_part(prefix: str) -> dict[str, torch.Tensor]:
    """The official weights under ``prefix`` (``"layers.1.blocks.1.attn."``), with the prefix cut off."""
    return {k[len(prefix) :]: v for k, v in official_weights().items() if k.startswith(prefix)}


def _load(report: Report, name: str, module: Any, weights: dict[str, torch.Tensor]) -> bool:
    """Load ``weights`` into the student's module strictly; a failure names the keys."""
    if not isinstance(module, nn.Module):
        return report.add(name, False, f"the class should build an nn.Module, got {type(module).__name__}")
    try:
        module.load_state_dict(weights, strict=True)
    except RuntimeError as exc:
        text = str(exc).split("\n\t", 1)[-1].replace("\n\t", " ")
        hint = "name the parameters as the official code does; register derived buffers with persistent=False"
        return report.add(name, False, f"the official weights do not load: {text} -- {hint}")
    return True


def _compare(report: Report, name: str, module: nn.Module, args: tuple, want: torch.Tensor, what: str) -> Any:
    """Run the student's module on ``args`` and add whether it gives ``want``; return its output when it does."""
    module.eval()
    with torch.no_grad():
        got, why = run_student(module, *args)
    if not why:
        why = explain_difference(got, want, what)
    return got if report.add(name, not why, why) else None


def _build(report: Report, name: str, cls: Any, *args: Any) -> Any:
    module, why = run_student(cls, *args)
    if why:
        report.add(name, False, why)
        return None
    return module


@forbid(*LIBRARY_PARTS)
def check_window_attention(cls: Any) -> Report:
    """``cls(dim, num_heads, window_size)`` with ``qkv``, ``proj`` and ``relative_position_bias_table``, against the
    attention of Swin-T's blocks: stage 1 block 0 (no mask) and stage 2 block 1 (shifted, masked)."""
    report = Report("WindowAttention from your functions")
    gen = torch.Generator().manual_seed(1)
    ref = reference_model()
    for stage, block, (dim, heads, side) in ((1, 0, (96, 3, 56)), (2, 1, (192, 6, 28))):
        name = f"stage {stage}, block {block}: dim {dim}, {heads} heads, M=7" + (", with the mask" if block else "")
        attn = _build(report, name, cls, dim, heads, 7)
        if attn is None:
            if report.results[-1][2] == NOT_WRITTEN:
                break
            continue
        if not _load(report, name, attn, official_part(f"layers.{stage - 1}.blocks.{block}.attn.")):
            continue
        mask = shifted_window_mask(side, side, 7, 3) if block else None
        x = torch.randn(2 * (side // 7) ** 2, 49, dim, generator=gen)  # two images' windows
        with torch.no_grad():
            want = ref.get_submodule(f"stage{stage}.block{block}.attn")(x, mask)
        _compare(report, name, attn, (x, mask) if block else (x,), want, "attention output")
    return report


@forbid(*LIBRARY_PARTS)
def check_swin_block(cls: Any) -> Report:
    """``cls(dim, num_heads, window_size, shift_size)`` (``norm1``, ``attn``, ``norm2``, ``mlp.fc1``, ``mlp.fc2``) on a
    ``(B, H, W, C)`` map, against Swin-T's stage-1 blocks (W-MSA and SW-MSA) and stage 2's shifted block."""
    report = Report("Swin block from your functions")
    gen = torch.Generator().manual_seed(2)
    ref = reference_model()
    for stage, block, (dim, heads, side) in ((1, 0, (96, 3, 56)), (1, 1, (96, 3, 56)), (2, 1, (192, 6, 28))):
        shift = 3 if block else 0
        name = f"stage {stage}, block {block}: {side} x {side} map, dim {dim}, shift {shift}"
        module = _build(report, name, cls, dim, heads, 7, shift)
        if module is None:
            if report.results[-1][2] == NOT_WRITTEN:
                break
            continue
        if not _load(report, name, module, official_part(f"layers.{stage - 1}.blocks.{block}.")):
            continue
        x = torch.randn(1, side, side, dim, generator=gen)
        with torch.no_grad():
            want = ref.get_submodule(f"stage{stage}.block{block}")(x)
        _compare(report, name, module, (x,), want, "block output")
    return report


@forbid(*LIBRARY_PARTS)
def check_swin_t(cls: Any) -> Report:
    """``cls()``: the whole Swin-T with the official names; its logits on a 224 x 224 image against ``swin_viz``'s."""
    report = Report("Swin-T from your functions")
    name = "Swin-T, official weights, one 224 x 224 image"
    model = _build(report, name, cls)
    if model is None or not _load(report, name, model, official_weights()):
        return report
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        want = reference_model()(x)
    got = _compare(report, name, model, (x,), want, "logits")
    if got is not None:
        same = torch.equal(got.topk(5).indices, want.topk(5).indices)
        report.add("the same top-5 classes", same, "" if same else "the logits agree to tolerance but rank differently")
    return report
