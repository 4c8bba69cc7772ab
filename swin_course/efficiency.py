"""Checks for lab 9 (``notebooks/lab09_efficiency.ipynb``): what efficiency choices cost, counted and measured.

* :func:`check_shift_vs_pad` -- the student's count of windows and attention MACs of a shifted block, done with
  the cyclic shift (the paper) and with padding (the naive alternative);
* :func:`check_saved_bytes` -- the student's measurement of the bytes autograd keeps for backward
  (``torch.autograd.graph.saved_tensors_hooks``), against :func:`saved_tensor_bytes`;
* :func:`check_window_macs_ratio` -- the predicted MAC ratio of a Swin block with M=14 vs M=7.

:func:`saved_tensor_bytes` is also what chapter 11 uses to measure gradient checkpointing. Each check runs the
answer on several inputs (Swin-T's stages, non-square maps, other window sizes, other dtypes) and names the
typical mistake it recognises.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from swin_viz.block import SwinBlock
from swin_viz.flops import swin_block_macs, window_attention_macs
from swin_viz.model import SwinTransformer
from swin_viz.probes import SavedTensor, saved_tensor_bytes, saved_tensors
from swin_viz.windows import num_windows

from ._check import NOT_ANSWERED, Report, call_student, forbid, own_rng, unanswered

__all__ = [
    "check_saved_bytes",
    "check_shift_vs_pad",
    "check_window_macs_ratio",
    "shift_vs_pad",
    "window_macs_ratio",
]


def _is_number(x: Any) -> bool:
    if isinstance(x, torch.Tensor):
        return x.numel() == 1
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _same(a: float, b: float, rel: float = 1e-9) -> bool:
    return math.isclose(float(a), float(b), rel_tol=rel, abs_tol=1e-12)


# ================================================================================ exercise 1: shift vs padding
def shift_vs_pad(h: int, w: int, M: int, C: int, heads: int) -> tuple[int, int, int, int]:
    """Windows per image and attention MACs of one shifted block on an ``h x w`` map, two ways.

    Returns ``(windows_shift, windows_pad, macs_shift, macs_pad)``:

    * cyclic shift (the paper): the rolled map is cut into the same regular grid as an unshifted block,
      ``ceil(h/M) * ceil(w/M)`` windows;
    * padding (the naive alternative): the shifted grid cuts each axis into ``h/M + 1`` pieces (a short one at
      each end), so the map is padded by ``M - s`` before and ``s`` after to make them whole M x M windows:
      ``(h/M + 1) * (w/M + 1)`` windows, padding tokens included.

    MACs are the official count of :class:`~swin_viz.WindowAttention` (qkv ``3NC^2``, ``QK^T`` and ``AV``
    ``2N^2C``, projection ``NC^2`` per window of ``N = M^2`` tokens) times the windows.
    """
    n_shift = num_windows(h, w, M)
    n_pad = num_windows(h + M, w + M, M)  # (pad to a multiple of M, then) M more rows and columns
    per_window = window_attention_macs(M * M, C, heads).matmul
    return n_shift, n_pad, n_shift * per_window, n_pad * per_window


SHIFT_CASES: list[tuple[int, int, int, int, int]] = [
    (56, 56, 7, 96, 3),  # Swin-T stage 1 at 224
    (28, 28, 7, 192, 6),  # Swin-T stage 2
    (56, 28, 7, 96, 3),  # non-square: catches a squared count
    (16, 16, 4, 32, 2),  # the book's small model (M=4): catches a hard-coded 7
    (24, 36, 6, 64, 4),  # another window, non-square
]
"""``(h, w, M, C, heads)`` cases :func:`check_shift_vs_pad` runs."""


def _explain_windows_pad(got: Any, h: int, w: int, M: int) -> str:
    a, b = -(-h // M), -(-w // M)
    want = (a + 1) * (b + 1)
    if not _is_number(got):
        return f"windows_pad should be a number, got {type(got).__name__}"
    got = float(got)
    if _same(got, want):
        return ""
    if _same(got, a * b):
        return (f"{int(got)} is the cyclic-shift count: shifting the grid by s = M//2 cuts every axis into "
                f"{a} + 1 pieces (a short piece of s at the start, one of M - s at the end), so padding needs "
                f"({a} + 1) x ({b} + 1) = {want} windows")  # fmt: skip
    if got == 9 and want != 9:
        return (f"9 is the count of the paper's Fig. 2 example only (a 2 x 2 grid of windows becomes 3 x 3); here "
                f"the grid is {a} x {b}, so padding gives ({a} + 1) x ({b} + 1) = {want}")  # fmt: skip
    if h != w and got in ((a + 1) ** 2, (b + 1) ** 2):
        return f"the map is {h} x {w}, not square: count rows and columns of windows separately, ({a}+1) x ({b}+1)"
    if _same(got, a * b + 1):
        return f"one more window per axis, not one more in total: ({a} + 1) x ({b} + 1) = {want}"
    if _same(got, (a + 2) * (b + 2)):
        return f"one extra window per axis, not two: the pad is M - s before plus s after, M in all, ({a}+1)x({b}+1)"
    return f"windows_pad is {got:g}, expected {want} for a {h} x {w} map with M={M}"


def _explain_macs(got: Any, n: int, h: int, w: int, M: int, C: int, heads: int, which: str) -> str:
    N = M * M
    per = window_attention_macs(N, C, heads).matmul
    want = n * per
    if not _is_number(got):
        return f"{which} should be a number, got {type(got).__name__}"
    got = float(got)
    if _same(got, want):
        return ""
    d = C // heads
    a, b = -(-h // M), -(-w // M)
    other_n = (a + 1) * (b + 1) if n == a * b else a * b
    if _same(got, 2 * want):
        return f"{which} is twice the MACs: that is FLOPs (2 per multiply-accumulate); the paper counts MACs"
    if _same(got, n * 2 * N * N * C):
        return (f"{which} counts only QK^T and AV (2 N^2 C per window); the qkv (3 N C^2) and output (N C^2) "
                "projections run on every token of every window too, padding included")  # fmt: skip
    if _same(got, n * (4 * N * C * C + 2 * N * N * d)):
        return (f"{which}: QK^T and AV cost N^2 d per head and there are {heads} heads, so 2 N^2 C per window "
                f"(C = heads x d = {C}), not 2 N^2 d")  # fmt: skip
    if _same(got, other_n * per):
        return (f"{which} uses {other_n} windows; this approach has {n}: every window costs the same "
                f"({per:,} MACs), so multiply by its own count")  # fmt: skip
    if _same(got, 4 * h * w * C * C + 2 * M * M * h * w * C) and n != a * b:
        return (f"{which} is eq. (2) on the {h} x {w} real tokens; the padded map has {n * N} tokens, and padding "
                "tokens cost as much work as real ones")  # fmt: skip
    return f"{which} is {got:,.0f}, expected {want:,} ({n} windows x {per:,} MACs per window)"


@forbid("swin_viz.flops.window_attention_macs", "swin_viz.flops.swin_block_macs")
@own_rng
def check_shift_vs_pad(fn: Callable[[int, int, int, int, int], tuple]) -> Report:
    """Exercise 1: ``fn(h, w, M, C, heads) -> (windows_shift, windows_pad, macs_shift, macs_pad)`` must equal
    :func:`shift_vs_pad` on every case of :data:`SHIFT_CASES`."""
    report = Report("cyclic shift vs padding")
    for h, w, M, C, heads in SHIFT_CASES:
        name = f"{h}x{w} map, M={M}, C={C}, {heads} heads"
        ok, got = call_student(report, name, fn, h, w, M, C, heads)
        if not ok:
            continue
        if not isinstance(got, (tuple, list)) or len(got) != 4:
            report.add(name, False, "return four numbers: (windows_shift, windows_pad, macs_shift, macs_pad)")
            continue
        n_shift, n_pad, _, _ = shift_vs_pad(h, w, M, C, heads)
        why = ""
        if not _is_number(got[0]) or not _same(got[0], n_shift):
            why = (f"windows_shift is {got[0]}, expected {n_shift}: the cyclic shift keeps the unshifted grid, "
                   f"ceil(h/M) x ceil(w/M) = {-(-h // M)} x {-(-w // M)}")  # fmt: skip
        why = why or _explain_windows_pad(got[1], h, w, M)
        why = why or _explain_macs(got[2], n_shift, h, w, M, C, heads, "macs_shift")
        why = why or _explain_macs(got[3], n_pad, h, w, M, C, heads, "macs_pad")
        report.add(name, not why, why)
    return report


# ============================================================================ exercise 2: bytes saved for backward
class _Square(nn.Module):
    """``x * x * w``: autograd saves ``x`` twice (once per factor) -- the same memory."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * x * self.w).sum(-1)


def _saved_cases() -> list[tuple[str, nn.Module, tuple[torch.Tensor, ...]]]:
    g = torch.Generator().manual_seed(0)
    mlp = nn.Sequential(nn.Linear(8, 32), nn.GELU(), nn.Linear(32, 4))
    block = SwinBlock(16, 2, window_size=4, shift_size=2)
    small = SwinTransformer(
        embed_dim=16, depths=(2, 2), num_heads=(2, 4), window_size=4, num_classes=10, drop_path_rate=0.0
    )
    small.set_grad_checkpointing(True)
    return [
        ("x * x (one tensor saved twice)", _Square(), (torch.randn(4, 64, generator=g).requires_grad_(),)),
        ("a two-layer MLP (saves its weights too)", mlp, (torch.randn(16, 8, generator=g),)),
        ("the same MLP in bfloat16 (2 bytes per value)", copy.deepcopy(mlp).to(torch.bfloat16),
         (torch.randn(16, 8, generator=g).to(torch.bfloat16),)),
        ("a shifted Swin block, 8x8 map", block, (torch.randn(2, 8, 8, 16, generator=g),)),
        ("a small Swin with gradient checkpointing", small, (torch.randn(2, 3, 32, 32, generator=g),)),
    ]  # fmt: skip


def _explain_saved(got: Any, saved: list[SavedTensor], want: int) -> str:
    if got is None:
        return "the result is None: did the function return the total?"
    if not _is_number(got):
        return f"return the number of bytes as an int, got {type(got).__name__}"
    got = float(got)
    if _same(got, want):
        return ""
    acts = [s for s in saved if not s.is_parameter]
    distinct = {s.storage: s for s in acts}
    with_params = {s.storage: s for s in saved}
    alternatives = [
        (0, "nothing was counted: run the forward with gradients enabled (not under torch.no_grad or "
            "inference_mode), inside the `with saved_tensors_hooks(pack, unpack):` block"),
        (sum(s.storage_bytes for s in acts),
         "the same memory is counted several times (x * x saves x twice; q, k and v are views of one qkv "
         "tensor): keep a dict keyed by t.untyped_storage().data_ptr()"),
        (sum(s.tensor_bytes for s in acts),
         "every saved tensor is counted at its own size, once per save: count each storage once, whole"),
        (sum(s.tensor_bytes for s in distinct.values()),
         "a view's size is counted instead of its storage's: a saved view (a slice of qkv, a transpose) keeps "
         "its whole storage alive; count t.untyped_storage().nbytes()"),
        (sum(s.storage_bytes for s in with_params.values()),
         "the parameters are counted: they are in memory whether or not autograd saves them; skip storages "
         "that belong to model.parameters()"),
        (sum(s.storage_bytes for s in saved),
         "parameters are counted, and the same memory several times: key by storage and skip the parameters"),
        (sum(s.numel for s in distinct.values()),
         "that is a number of values, not bytes: multiply by the element size (4 for float32, 2 for bfloat16)"),
        (4 * sum(s.numel for s in distinct.values()),
         "4 bytes per value is assumed: bfloat16 values take 2 (use t.element_size() or the storage's nbytes)"),
        (want / 1e6, "that is megabytes: return bytes"),
        (want / 2**20, "that is mebibytes: return bytes"),
    ]  # fmt: skip
    for value, why in alternatives:
        if value != want and _same(got, value, rel=1e-6):
            return why
    return f"got {got:,.0f} bytes, expected {want:,} ({len(distinct)} distinct storages saved, parameters excluded)"


@forbid("swin_viz.probes.saved_tensor_bytes", "swin_viz.probes.saved_tensors")
@own_rng
def check_saved_bytes(fn: Callable[..., Any]) -> Report:
    """Exercise 2: ``fn(module, *inputs)`` must equal :func:`saved_tensor_bytes` on every case (one tensor saved
    twice, a model that saves its weights, bfloat16, a shifted Swin block, gradient checkpointing)."""
    report = Report("bytes saved for backward")
    for name, module, inputs in _saved_cases():
        saved = saved_tensors(module, *inputs)
        want = saved_tensor_bytes(module, *inputs)
        ok, got = call_student(report, name, fn, module, *inputs)
        if ok:
            why = _explain_saved(got, saved, want)
            report.add(name, not why, why)
    return report


# =========================================================================== exercise 3: the cost of a window size
RATIO_STAGES: dict[int, tuple[int, int, int]] = {1: (56, 96, 3), 2: (28, 192, 6), 3: (14, 384, 12)}
"""Swin-T at 224: ``stage -> (map side, channels, heads)``."""


def window_macs_ratio(stage: int = 1, big: int = 14, small: int = 7) -> float:
    """MACs of a Swin-T block of ``stage`` with window ``big`` over the same block with ``small`` (224 input).

    A window larger than the map is clamped to the map (one window, as the official code does).
    """
    side, C, heads = RATIO_STAGES[stage]

    def macs(M: int) -> int:
        m = min(M, side)
        return swin_block_macs(side, side, C, heads, (m, m)).total

    return macs(big) / macs(small)


def _ratio_mistakes(stage: int) -> list[tuple[float, str]]:
    side, C, _ = RATIO_STAGES[stage]
    hw = side * side
    lin = 4 * hw * C * C

    def attn(M: int) -> int:
        return 2 * min(M, side) ** 2 * hw * C

    return [
        (attn(14) / attn(7),
         "that is the ratio of the two attention matmuls alone (2 M^2 hw C): the qkv and output projections "
         f"(4 hw C^2) and the MLP (8 hw C^2) do not depend on M, and with C = {C} they dominate"),
        ((lin + attn(14)) / (lin + attn(7)),
         "that is the attention module (eq. 2) alone: the block's MLP (8 hw C^2) costs the same for any M; "
         "add it to both"),
        (4.0, "4 is the ratio of window areas, N = M^2; but the per-window N^2 cost is spread over 4x fewer "
              "windows, and the linear layers do not depend on M at all"),
        (2.0, "M doubles, but M is not what the cost is linear in: the attention matmuls grow with M^2 hw C and "
              "the rest does not change"),
        (16.0, "N^2 grows 16x per window, but there are 4x fewer windows, and most of the block is linear layers"),
        (1.0, "the linear layers do not change, but the attention matmuls (2 M^2 hw C) do"),
        (0.25, "that is the ratio of window counts (4x fewer windows); each costs more"),
        (1 / window_macs_ratio(stage), "the ratio is upside down: M=14 over M=7"),
    ]  # fmt: skip


@own_rng
def check_window_macs_ratio(ratio: Any, stage: int = 1) -> Report:
    """Exercise 3: the MACs of a Swin-T block with M=14 over the same block with M=7 (224 input), to 1%."""
    side, C, _ = RATIO_STAGES[stage]
    report = Report(f"MACs of M=14 vs M=7 (Swin-T stage-{stage} block: {side}x{side}, C={C})")
    if unanswered(ratio):
        report.add("ratio", False, NOT_ANSWERED)
        return report
    if not _is_number(ratio):
        report.add("ratio", False, f"the ratio should be a number, got {type(ratio).__name__}")
        return report
    want = window_macs_ratio(stage)
    got = float(ratio)
    if math.isclose(got, want, rel_tol=0.01):
        report.add("ratio", True)
        return report
    why = f"{got:.3g} is not it (off by more than 1%)"
    for value, explanation in _ratio_mistakes(stage):
        if math.isclose(got, value, rel_tol=0.01) and not math.isclose(value, want, rel_tol=0.01):
            why = explanation
            break
    else:
        why += ": per block, hw C (12 C + 2 M^2) MACs, window attention on the map plus the MLP"
        if side < 14:
            why += f"; the {side}x{side} map is smaller than a 14x14 window, so the window is clamped to {side}"
    report.add("ratio", False, why)
    return report
