"""Checks for lab 7 -- patch merging and the hierarchy (``notebooks/lab07_hierarchy.ipynb``).

* :func:`check_merge_patches` -- a student's 2x2 gather against :func:`swin_viz.merge_patches`; a wrong order
  is explained slot by slot (which of ``x0..x3`` holds which neighbour);
* :func:`check_param_counts` -- hand-counted parameters of Swin-T's stage-2 patch merging and of its whole
  stage 3, against the modules' ``numel``; a wrong count is matched against the usual slips (a bias the
  layer does not have, a forgotten LayerNorm, the bias table, ...);
* :func:`check_feature_shapes` -- predicted shapes of ``swin_t().features(x)`` for several image sizes,
  odd token maps included, against a forward pass on the meta device.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from itertools import combinations
from typing import Any

import torch

from swin_viz.merging import merge_patches
from swin_viz.model import SwinTransformer
from swin_viz.zoo import shared_model

from ._check import NOT_ANSWERED, Report, explain_difference, forbid, run_student, unanswered

__all__ = [
    "MERGE_CASES",
    "SLOT_NAMES",
    "SLOT_OFFSETS",
    "check_feature_shapes",
    "check_merge_patches",
    "check_param_counts",
    "feature_shapes",
    "gather_offsets",
    "position_coded",
]

SLOT_OFFSETS = ((0, 0), (1, 0), (0, 1), (1, 1))
"""(row, column) of each slot's token inside its 2x2 group, in the official order x0, x1, x2, x3."""
SLOT_NAMES = {
    (0, 0): "top-left x[0::2, 0::2]",
    (1, 0): "bottom-left x[1::2, 0::2]",
    (0, 1): "top-right x[0::2, 1::2]",
    (1, 1): "bottom-right x[1::2, 1::2]",
}

MERGE_CASES = (
    ("one 2 x 2 group, C=1", (1, 2, 2, 1)),
    ("8 x 8 map, C=3, batch 2", (2, 8, 8, 3)),
    ("non-square 4 x 6 map, C=5", (1, 4, 6, 5)),
    ("odd sides 5 x 7, C=2 (zero-pad bottom/right)", (2, 5, 7, 2)),
)
"""(description, input shape (B, H, W, C)) of every case :func:`check_merge_patches` runs."""


def position_coded(B: int, H: int, W: int, C: int) -> torch.Tensor:
    """``(B, H, W, C)`` float64 whose every value names its place: ``x[b, r, c, ch] = 1 + ((b*H + r)*W + c)*C + ch``.

    Zero never occurs, so zero padding stays recognisable after any gather.
    """
    return (torch.arange(B * H * W * C, dtype=torch.float64) + 1).reshape(B, H, W, C)


def gather_offsets(merged: torch.Tensor, B: int, H: int, W: int, C: int) -> list[Any]:
    """For each channel block ``k`` (``C`` channels) of a merge of :func:`position_coded` input: the ``(dy, dx)`` of
    the token it holds relative to the group's top-left corner, when that is the same for every output token and
    the block's channels come in order from the same image; else ``None``.

    Padding (zeros) is ignored, so ``(dy, dx)`` is found from the real tokens.
    """
    v = merged.detach().double()
    if v.dim() != 4 or v.shape[-1] != 4 * C or not torch.equal(v, v.round()) or (v < 0).any():
        return [None] * 4
    code = v.long() - 1  # -1: padding
    Bo, Ho, Wo = v.shape[:3]
    b_idx = torch.arange(Bo)[:, None, None, None]
    i_idx = torch.arange(Ho)[None, :, None, None]
    j_idx = torch.arange(Wo)[None, None, :, None]
    out: list[Any] = []
    for k in range(4):
        block = code[..., k * C : (k + 1) * C]
        valid = block >= 0
        if not valid.any():
            out.append(None)
            continue
        ch, tok = block % C, block // C
        b, r, c = tok // (H * W), (tok // W) % H, tok % W
        chans_ok = bool((ch == torch.arange(C))[valid].all()) and bool((b == b_idx).expand_as(block)[valid].all())
        dy = (r - 2 * i_idx)[valid].unique()
        dx = (c - 2 * j_idx)[valid].unique()
        out.append((int(dy[0]), int(dx[0])) if chans_ok and len(dy) == 1 and len(dx) == 1 else None)
    return out


def _explain_order(found: list[Any]) -> str:
    """Say which slot holds which neighbour, compared with the official order."""
    if any(f is None for f in found):
        return ""
    wrong = [(k, f) for k, f in enumerate(found) if f != SLOT_OFFSETS[k]]
    if not wrong:
        return ""
    if all(f in SLOT_NAMES for f in found):
        parts = [f"slot x{k} holds the {SLOT_NAMES[f]} token, the official x{k} is the {SLOT_NAMES[SLOT_OFFSETS[k]]}"
                 for k, f in wrong]  # fmt: skip
        text = "wrong gather order: " + "; ".join(parts)
        if [k for k, _ in wrong] == [1, 2] and found[1] == (0, 1) and found[2] == (1, 0):
            text += (
                " -- you swapped x1 and x2: that is the reading order (top-left, top-right, bottom-left, "
                "bottom-right); the official order goes down the column first, and official weights expect it"
            )
        return text
    parts = [f"slot x{k} holds tokens at offset {f} from their group's top-left corner (expected {SLOT_OFFSETS[k]})"
             for k, f in wrong]  # fmt: skip
    hint = ""
    if any(f[0] < 0 or f[1] < 0 for f in found):
        hint = " -- padding added at the top/left shifts every token: pad the bottom and right only"
    return "; ".join(parts) + hint


@forbid("swin_viz.merging.merge_patches", "swin_viz.merging.PatchMerging")
def check_merge_patches(fn: Callable[[torch.Tensor], torch.Tensor]) -> Report:
    """Check ``fn(x)``: ``(B, H, W, C) -> (B, ceil(H/2), ceil(W/2), 4C)`` in the official gather order."""
    report = Report("merge_patches (the 2x2 gather)")
    last = ""
    for name, (B, H, W, C) in MERGE_CASES:
        x = position_coded(B, H, W, C)
        want = merge_patches(x)
        got, why = run_student(fn, x.clone())
        if why:
            if why.startswith("raised") and (H % 2 or W % 2):
                pads = f"F.pad(x, (0, 0, 0, {W % 2}, 0, {H % 2}))"
                why += f" -- an odd side must be zero-padded at the bottom/right first: {pads}"
            report.add(name, False, why)
            continue
        ok, why = _merge_verdict(got, want, B, H, W, C)
        report.add(name, ok, "the same mistake as above" if why and why == last else why)
        last = why or last
    return report


def _merge_verdict(got: Any, want: torch.Tensor, B: int, H: int, W: int, C: int) -> tuple[bool, str]:
    why = explain_difference(got, want, "merged map")
    if not why:
        return True, ""
    if isinstance(got, torch.Tensor):
        shape = tuple(got.shape)
        if (H % 2 or W % 2) and shape == (B, H // 2, W // 2, 4 * C):
            return False, (
                f"odd sides: expected {tuple(want.shape)}, got {shape} -- the last row/column was dropped; "
                "zero-pad the bottom/right to an even size first (the padding becomes zeros in the gather)"
            )
        if shape[:3] == (B, H // 2, W // 2) and got.dim() == 5:
            return False, f"got shape {shape}: concatenate the four neighbours along the channels (torch.cat(..., -1))"
        if shape == tuple(want.shape):
            order = _explain_order(gather_offsets(got, B, H, W, C))
            if order:
                return False, order
            inter = gather_offsets(_deinterleave(got, C), B, H, W, C)
            if inter == list(SLOT_OFFSETS):
                return False, (
                    "channels are interleaved (channel 0 of the four tokens, then channel 1, ...): "
                    "torch.stack(..., -1).flatten(-2) does that; torch.cat([...], dim=-1) keeps each token's "
                    "C channels together"
                )
            if (H % 2 or W % 2) and gather_offsets(got, B, H, W, C) == list(SLOT_OFFSETS):
                return False, "the real tokens are right but the padding is not zero: pad with zeros (F.pad's default)"
    return False, why


def _deinterleave(got: torch.Tensor, C: int) -> torch.Tensor:
    """Undo ``stack(..., -1).flatten(-2)``: ``(..., C*4)`` ordered (channel, slot) -> ordered (slot, channel)."""
    return got.reshape(*got.shape[:-1], C, 4).transpose(-1, -2).reshape(got.shape)


# ============================================================================================= parameter counts
def _swin_t_meta() -> SwinTransformer:
    return shared_model("swin_t", weights="meta")  # structure only, shared and read-only


def _numel(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _merging_slips(C: int) -> dict[str, int]:
    """What each usual slip adds to (+) or removes from (-) the count of ``PatchMerging(C)``."""
    return {
        "the reduction Linear(4C -> 2C) has no bias (bias=False): do not count 2C bias values": 2 * C,
        "you left out the LayerNorm(4C) (a weight and a bias of 4C values each)": -8 * C,
        "a LayerNorm has a weight AND a bias: 2 x 4C values": -4 * C,
        "the LayerNorm normalises the 4C concatenation, not C channels": -6 * C,
        "the Linear maps 4C -> 2C (4C x 2C weights), not C -> 2C": -6 * C * C,
        "the Linear maps 4C -> 2C, not 4C -> 4C": 8 * C * C,
        "the Linear maps 4C -> 2C, not 4C -> C": -4 * C * C,
    }


def _stage_slips(C: int, depth: int, heads: int, M: int, merge: int) -> dict[str, int]:
    """What each usual slip adds to (+) or removes from (-) the count of one stage (merging + ``depth`` blocks)."""
    table = (2 * M - 1) ** 2 * heads
    return {
        "you left out the stage's patch merging (stages 2-4 begin with one)": -merge,
        "the relative position bias table has (2M-1)^2 rows x heads, one per block": -table * depth,
        "the bias table has (2M-1)^2 = 169 rows for M=7, not M^2 = 49": -(table - M * M * heads) * depth,
        "the bias table has one column per head, not one per channel": (2 * M - 1) ** 2 * (C - heads) * depth,
        "relative_position_index is a buffer (recomputed), not a parameter": M**4 * depth,
        "qkv has a bias (qkv_bias=True): 3C values per block": -3 * C * depth,
        "qkv is one Linear(C -> 3C): 3C x C weights, not C x C": -2 * C * C * depth,
        "attn.proj (C -> C) with its bias is part of every block": -(C * C + C) * depth,
        "each block has two LayerNorms (norm1, norm2) of 2C values each": -2 * C * depth,
        "you left out both LayerNorms of every block (4C values)": -4 * C * depth,
        "the MLP's two Linears have biases (4C + C per block)": -5 * C * depth,
        "the MLP is C -> 4C -> C (mlp_ratio 4): 8C^2 weights, not 2C^2": -6 * C * C * depth,
        "the MLP has two Linears (C -> 4C and 4C -> C)": -(4 * C * C + C) * depth,
        "Swin-T's stage 3 has 6 blocks (18 is Swin-S/B/L)": 12 * _numel_block(C, heads, M),
        "Swin-T's stage 3 has 6 blocks (2 is stages 1, 2 and 4)": -4 * _numel_block(C, heads, M),
    }


def _numel_block(C: int, heads: int, M: int) -> int:
    return 2 * C + 3 * C * C + 3 * C + (2 * M - 1) ** 2 * heads + C * C + C + 2 * C + 8 * C * C + 5 * C


def _explain_count(got: Any, want: int, slips: dict[str, int], what: str) -> str:
    """Empty when ``got == want``; else the one or two slips that explain the difference, or the difference."""
    if isinstance(got, bool) or not isinstance(got, int):
        if isinstance(got, float) and got.is_integer():
            got = int(got)
        elif isinstance(got, torch.Tensor) and got.numel() == 1:
            got = int(got.item())
        else:
            return f"the {what} should be an int, got {type(got).__name__}"
    if got == want:
        return ""
    diff = got - want
    named = {k: v for k, v in slips.items() if v}
    for name, delta in named.items():
        if delta == diff:
            return f"{got:,d} is {abs(diff):,d} {'too many' if diff > 0 else 'too few'}: {name}"
    for (n1, d1), (n2, d2) in combinations(named.items(), 2):
        if d1 + d2 == diff:
            return f"{got:,d} is {abs(diff):,d} {'too many' if diff > 0 else 'too few'}: {n1}; and {n2}"
    return f"{got:,d} is {abs(diff):,d} {'too many' if diff > 0 else 'too few'} (no single usual slip explains it)"


def check_param_counts(merging: Any, stage3: Any) -> Report:
    """Check hand counts: ``merging`` -- parameters of Swin-T's stage-2 patch merging (C = 96 -> 4C = 384 -> 192);
    ``stage3`` -- all parameters of Swin-T's stage 3 (its patch merging from 192 channels and 6 blocks at C = 384,
    12 heads, M = 7)."""
    model = _swin_t_meta()
    report = Report("parameter counts of Swin-T, by hand")
    if unanswered(merging):
        report.add("stage-2 patch merging", False, NOT_ANSWERED)
    else:
        want = _numel(model.stage2.downsample)
        why = _explain_count(merging, want, _merging_slips(model.stage2.downsample.dim), "merging count")
        report.add("stage-2 patch merging", not why, why)
    if unanswered(stage3):
        report.add("stage 3 (merging + 6 blocks)", False, NOT_ANSWERED)
    else:
        stage = model.stage3
        cfg = model.config
        merge = _numel(stage.downsample)
        slips = _stage_slips(stage.dim, stage.depth, cfg.num_heads[2], cfg.window_size, merge)
        slips.update({f"in its patch merging: {k}": v for k, v in _merging_slips(stage.downsample.dim).items()})
        why = _explain_count(stage3, _numel(stage), slips, "stage count")
        if why and "no single usual slip" in why:
            why += ("; count per block: norm1, attn.qkv (weight + bias), attn.relative_bias.table, attn.proj "
                    "(weight + bias), norm2, mlp.fc1, mlp.fc2 -- then add the patch merging")  # fmt: skip
        report.add("stage 3 (merging + 6 blocks)", not why, why)
    return report


# ============================================================================================== feature shapes
FEATURE_SIZES = ((224, 224), (320, 480), (100, 68), (36, 52), (28, 28))
"""Image sizes (H, W) :func:`check_feature_shapes` tries: the paper's, a detection-like one, odd token maps."""


@functools.lru_cache(maxsize=16)
def feature_shapes(H: int, W: int) -> dict[str, tuple[int, ...]]:
    """``{stage: shape}`` of ``swin_t().features(torch.zeros(1, 3, H, W))``, by a forward pass on the meta device."""
    model = _swin_t_meta()
    with torch.device("meta"), torch.no_grad():
        feats = model.features(torch.zeros(1, 3, H, W))
    return {k: tuple(v.shape) for k, v in feats.items()}


@forbid("swin_viz.model.swin_t", "swin_viz.model.SwinTransformer", "swin_viz.model.create_model")
def check_feature_shapes(fn: Callable[[int, int], dict[str, tuple[int, ...]]]) -> Report:
    """Check ``fn(H, W)`` -> ``{"stage1": (1, C, h, w), ..., "stage4": ...}``, the shapes of Swin-T's
    ``model.features`` for a ``(1, 3, H, W)`` image."""
    report = Report("shapes of swin_t().features(x)")
    for H, W in FEATURE_SIZES:
        name = f"image {H} x {W}"
        want = feature_shapes(H, W)
        got, why = run_student(fn, H, W)
        if why:
            report.add(name, False, why)
            continue
        report.add(name, *_shapes_verdict(got, want))
    return report


def _shapes_verdict(got: Any, want: dict[str, tuple[int, ...]]) -> tuple[bool, str]:
    if not isinstance(got, dict) or sorted(got) != sorted(want):
        keys = sorted(got) if isinstance(got, dict) else type(got).__name__
        return False, f"return a dict with keys {list(want)}, got {keys}"
    for stage, shape in want.items():
        g = tuple(int(v) for v in got[stage]) if isinstance(got[stage], tuple | list | torch.Size) else got[stage]
        if g == shape:
            continue
        if not isinstance(g, tuple):
            return False, f"{stage}: give a tuple like {shape}, got {type(g).__name__}"
        _, C, h, w = shape
        if g == (C, h, w):
            return False, f"{stage}: {g} has no batch axis; model.features returns (B, C, h, w), here {shape}"
        if g == (1, h, w, C):
            return False, (f"{stage}: {g} is channels-last; model.features returns channels-first maps "
                           f"(B, C, h, w) = {shape}, as FPN-style necks expect")  # fmt: skip
        if len(g) == 4 and g[2:] == (h, w) and g[1] != C:
            return False, f"{stage}: {g[1]} channels, expected {C} = 96 x 2^(stage-1): each merge doubles the channels"
        if len(g) == 4 and g[1] == C:
            floor = _floor_maps(want)
            if g[2:] == floor[stage]:
                return False, (f"{stage}: map {g[2]} x {g[3]}, expected {h} x {w} -- a merge of an odd side "
                               f"rounds UP: merge_patches zero-pads it to even first, so n -> ceil(n/2)")  # fmt: skip
            return False, f"{stage}: map {g[2]} x {g[3]}, expected {h} x {w} (stride {4 * 2 ** (int(stage[-1]) - 1)})"
        return False, f"{stage}: {g}, expected {shape}"
    return True, ""


def _floor_maps(want: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, int]]:
    """The maps a reader who rounds down at every merge would predict."""
    h, w = want["stage1"][2:]
    out = {"stage1": (h, w)}
    for k in range(2, len(want) + 1):
        h, w = h // 2, w // 2
        out[f"stage{k}"] = (h, w)
    return out
