"""Checks for lab 3 (``notebooks/lab03_window_attention.ipynb``): window partition, its inverse, and the cost formulas.

* :func:`check_window_partition` -- ``fn(x, M)``: ``(B, H, W, C) -> (B * nW, M, M, C)``, as
  :func:`swin_viz.window_partition`;
* :func:`check_window_reverse` -- ``fn(windows, M, H, W)``: the exact inverse, as :func:`swin_viz.window_reverse`;
* :func:`check_omega` -- predicted Omega(MSA) and Omega(W-MSA) against :func:`swin_viz.omega_msa` /
  :func:`swin_viz.omega_wmsa` (paper, eq. 1-2).

The partition checks run the student's function on maps whose features are the tokens' own coordinates
``(image, row, column)``, so a wrong answer can be read: which tokens ended up in a window says which reshape or
permute went wrong (strided tokens, strips of rows, transposed windows, windows in the wrong order).
"""

from __future__ import annotations

from collections.abc import Callable
from numbers import Number
from typing import Any

import torch

from swin_viz.flops import omega_msa, omega_wmsa
from swin_viz.windows import window_partition

from ._check import NOT_ANSWERED, Report, explain_difference, forbid, run_student, unanswered

__all__ = ["PARTITION_CASES", "check_omega", "check_window_partition", "check_window_reverse", "positions"]

PARTITION_CASES: list[tuple[int, int, int, int]] = [(2, 8, 8, 4), (1, 6, 9, 3), (1, 12, 8, 4), (1, 7, 14, 7)]
"""``(B, H, W, M)`` maps the partition checks use: a batch of two, non-square maps, a map one window high."""


def positions(B: int, H: int, W: int) -> torch.Tensor:
    """A ``(B, H, W, 3)`` map whose features are each token's ``(image, row, column)``."""
    b, r, c = torch.meshgrid(torch.arange(B), torch.arange(H), torch.arange(W), indexing="ij")
    return torch.stack([b, r, c], dim=-1).float()


def _span(values: torch.Tensor) -> str:
    """``"0..3"`` for a contiguous run of ints, else the sorted list."""
    v = sorted({int(t) for t in values.flatten().tolist()})
    if v == list(range(v[0], v[-1] + 1)):
        return f"{v[0]}..{v[-1]}" if len(v) > 1 else str(v[0])
    return str(v)


def _explain_partition(got: Any, B: int, H: int, W: int, M: int) -> str:
    """Why ``got`` is not ``window_partition(positions(B, H, W), M)`` (empty string if it is)."""
    want = window_partition(positions(B, H, W), M)
    nW = (H // M) * (W // M)
    if not isinstance(got, torch.Tensor):
        return explain_difference(got, want, "windows")
    shape = tuple(got.shape)
    if shape == (B, nW, M, M, 3):
        return (f"shape {shape}: the windows of each image are on their own axis; merge the image and window axes "
                f"into one batch axis, (B * nW, M, M, C) = {tuple(want.shape)}: attention treats every window as an "
                "independent sequence")  # fmt: skip
    if shape == (B * nW, M * M, 3):
        return (f"shape {shape}: keep each window square, (B * nW, M, M, C) = {tuple(want.shape)}; the attention "
                "code flattens the M x M tokens itself")  # fmt: skip
    if shape == (B, H // M, W // M, M, M, 3):
        return (f"shape {shape}: the permute is done, but the final reshape to (-1, M, M, C) = {tuple(want.shape)} "
                "is missing")  # fmt: skip
    if shape != tuple(want.shape):
        return explain_difference(got, want, "windows")
    why = explain_difference(got, want, "windows")
    if not why:
        return ""
    g = got.detach().round().long()
    if not torch.allclose(got.detach().double(), g.double()) or g.min() < 0:
        return why
    img, row, col = g[..., 0], g[..., 1], g[..., 2]  # (B*nW, M, M) each
    if bool((img.amax((1, 2)) != img.amin((1, 2))).any()):
        return ("a window mixes tokens of different images: keep the image axis B first in the permute, "
                "(0, 1, 3, 2, 4, 5)")  # fmt: skip
    ar = torch.arange(M)
    r0, c0 = row[:, :1, :1], col[:, :1, :1]
    square = bool(((row == r0 + ar[:, None]) & (col == c0 + ar[None, :])).all())
    transposed = bool(((row == r0 + ar[None, :]) & (col == c0 + ar[:, None])).all())
    if square:
        grid_w = W // M
        k = int(torch.nonzero((row[:, 0, 0] != want[:, 0, 0, 1]) | (col[:, 0, 0] != want[:, 0, 0, 2]))[0])
        return (f"every window is a correct M x M square, but the windows are in a different order: window {k} "
                f"should start at token ({k % nW // grid_w * M}, {k % nW % grid_w * M}), yours starts at "
                f"({int(r0[k])}, {int(c0[k])}). Number the windows image by image, then row by row: permute the "
                "window-row axis H/M before the window-column axis W/M, (0, 1, 3, 2, 4, 5)")  # fmt: skip
    if transposed:
        return (
            "each window holds the right M x M tokens, but transposed: its first row holds an image column. "
            "Keep the in-window row axis before the in-window column axis: permute (0, 1, 3, 2, 4, 5)"
        )
    raster = (row * W + col).reshape(row.shape[0], -1)
    if bool((raster.diff(dim=1) == 1).all()):
        return (f"each 'window' is M*M = {M * M} consecutive tokens in reading order (window 0: rows {_span(row[0])}, "
                f"columns {_span(col[0])}), not an M x M square: a reshape alone keeps the memory order. Reshape to "
                "(B, H/M, M, W/M, M, C), then permute (0, 1, 3, 2, 4, 5) so the two window-grid axes come before "
                "the two in-window axes")  # fmt: skip
    steps = {int(s) for s in row.diff(dim=1).flatten().tolist()} | {int(s) for s in col.diff(dim=2).flatten().tolist()}
    if M > 1 and steps - {0, 1}:
        return (f"windows made of strided tokens: window 0 holds rows {_span(row[0])} and columns {_span(col[0])}, "
                f"tokens up to {max(steps)} apart instead of an M x M square of neighbours. Split each image axis "
                "as (H/M, M) -- which window first, position inside it second -- not (M, H/M), and permute "
                "(0, 1, 3, 2, 4, 5)")  # fmt: skip
    return f"{why}; window 0 holds rows {_span(row[0])} and columns {_span(col[0])}, expected 0..{M - 1} for both"


@forbid("swin_viz.windows.window_partition")
def check_window_partition(fn: Callable[[torch.Tensor, int], torch.Tensor]) -> Report:
    """Check ``fn(x, M)``, ``(B, H, W, C) -> (B * nW, M, M, C)``, against :func:`swin_viz.window_partition`."""
    report = Report("window_partition")
    for B, H, W, M in PARTITION_CASES:
        got, err = run_student(fn, positions(B, H, W), M)
        why = err or _explain_partition(got, B, H, W, M)
        name = f"{B} image{'s' if B > 1 else ''} {H}x{W}, M={M}" + (" (not square)" if H != W else "")
        report.add(name, not why, why)
    x = torch.randn(2, 12, 8, 5, generator=torch.Generator().manual_seed(0))
    got, err = run_student(fn, x, 4)
    why = err or explain_difference(got, window_partition(x, 4), "output")
    report.add("random features, C=5", not why, why)
    return report


def _explain_reverse(got: Any, B: int, H: int, W: int, M: int) -> str:
    """Why ``got`` is not the ``(B, H, W, 3)`` position map the windows came from (empty string if it is)."""
    want = positions(B, H, W)
    windows = window_partition(want, M)
    if not isinstance(got, torch.Tensor):
        return explain_difference(got, want, "map")
    shape = tuple(got.shape)
    if shape == (B, W, H, 3) and H != W:
        return f"shape {shape}: H and W are swapped; the map is (B, H, W, C) = {tuple(want.shape)}"
    why = explain_difference(got, want, "map")
    if not why:
        return ""
    if shape != tuple(want.shape):
        return why
    straight = torch.equal(got, windows.reshape(B, H, W, 3))
    grid_swapped = H != W and torch.equal(
        got, windows.reshape(B, W // M, H // M, M, M, 3).permute(0, 1, 3, 2, 4, 5).reshape(B, H, W, 3)
    )
    if grid_swapped:
        return ("the grid of windows is laid out with W/M rows and H/M columns: the first reshape must be "
                "(B, H/M, W/M, M, M, C), H before W" + (" (on this map that is also what a reshape without "
                "permute gives)" if straight else ""))  # fmt: skip
    if straight:
        return ("you reshaped the windows straight into the map: a reshape keeps the memory order, so each window's "
                "M*M tokens land as a strip of consecutive tokens in reading order. Reshape to "
                "(B, H/M, W/M, M, M, C), permute (0, 1, 3, 2, 4, 5), then reshape to (B, H, W, C)")  # fmt: skip
    g = got.detach().round().long()
    back = window_partition(g, M)  # the student's map cut again: does each window come back whole?
    row, col = back[..., 1], back[..., 2]
    ar = torch.arange(M)
    r0, c0 = row[:, :1, :1], col[:, :1, :1]
    if bool(((row == r0 + ar[:, None]) & (col == c0 + ar[None, :])).all()):
        return ("every window is put back whole, but in the wrong place: window k of an image belongs at row "
                "k // (W/M), column k % (W/M) of the grid of windows; check the sizes in your first reshape, "
                "(B, H/M, W/M, M, M, C) in that order")  # fmt: skip
    if bool(((row == r0 + ar[None, :]) & (col == c0 + ar[:, None])).all()):
        return "each window is put back transposed (rows and columns swapped): permute (0, 1, 3, 2, 4, 5)"
    bad = torch.nonzero((g != want).any(-1))[0].tolist()
    b, r, c = bad
    src = g[b, r, c].tolist()
    return (f"the token at image {b}, row {r}, column {c} should be itself, but yours came from image {src[0]}, "
            f"row {src[1]}, column {src[2]}: the permute (0, 1, 3, 2, 4, 5) must interleave the grid and in-window "
            "axes back as (B, H/M, M, W/M, M, C)")  # fmt: skip


@forbid("swin_viz.windows.window_reverse")
def check_window_reverse(fn: Callable[[torch.Tensor, int, int, int], torch.Tensor]) -> Report:
    """Check ``fn(windows, M, H, W) -> (B, H, W, C)``: the exact inverse of :func:`swin_viz.window_partition`."""
    report = Report("window_reverse")
    for B, H, W, M in PARTITION_CASES:
        windows = window_partition(positions(B, H, W), M)
        got, err = run_student(fn, windows, M, H, W)
        why = err or _explain_reverse(got, B, H, W, M)
        name = f"{B} image{'s' if B > 1 else ''} {H}x{W}, M={M}" + (" (not square)" if H != W else "")
        report.add(name, not why, why)
    x = torch.randn(3, 8, 12, 5, generator=torch.Generator().manual_seed(0))
    got, err = run_student(fn, window_partition(x, 4), 4, 8, 12)
    if err:
        why = err
    elif (isinstance(got, torch.Tensor) and got.shape == x.shape and not torch.equal(got, x)
          and torch.allclose(got.detach().double(), x.double(), atol=1e-5, rtol=1e-4)):  # fmt: skip
        why = "close to the map but not bit for bit: moving tokens needs no arithmetic, so the inverse is exact"
    else:
        why = explain_difference(got, x, "map")
    report.add("exact inverse on random features: fn(window_partition(x, M), M, H, W) == x", not why, why)
    return report


def _as_number(value: Any) -> float | None:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    return float(value) if isinstance(value, Number) and not isinstance(value, bool) else None


def _same(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(abs(b), 1.0)


def _msa_slips(h: int, w: int, C: int, M: int) -> list[tuple[int, str]]:
    n = h * w
    return [
        (2 * omega_msa(h, w, C), "twice the answer: that counts FLOPs (2 per multiply-add); Omega counts "
                                 "multiply-accumulates"),
        (4 * n * C * C + n * n * C, "the attention term is 2(hw)^2 C: Q K^T and (softmax) V cost (hw)^2 C each, "
                                    "you counted one of them"),
        (3 * n * C * C + 2 * n * n * C, "hwC^2 short: after q, k, v (3hwC^2) the output projection is another "
                                        "C x C linear layer (hwC^2)"),
        (n * C * C + 2 * n * n * C, "the projections are 4hwC^2: three C x C matrices for q, k, v and one for "
                                    "the output"),
        (4 * n * C * C, "only the projections: add 2(hw)^2 C for Q K^T and softmax(.) V"),
        (2 * n * n * C, "only the attention matmuls: add 4hwC^2 for the q, k, v and output projections"),
        (4 * n * C * C + 2 * n * n * C * C, "the attention term has C, not C^2: Q K^T multiplies (hw x C) by "
                                            "(C x hw), (hw)^2 C multiply-adds summed over the heads"),
        (omega_wmsa(h, w, C, M), "that is Omega(W-MSA): global attention lets every token attend to all hw tokens"),
    ]  # fmt: skip


def _wmsa_slips(h: int, w: int, C: int, M: int) -> list[tuple[int, str]]:
    n = h * w
    return [
        (2 * omega_wmsa(h, w, C, M), "twice the answer: that counts FLOPs (2 per multiply-add); Omega counts "
                                     "multiply-accumulates"),
        (4 * n * C * C + 2 * M * n * C, "M where M^2 belongs: each query attends to the M x M = M^2 keys of its "
                                        "window, so Q K^T and softmax(.) V cost M^2 hwC each"),
        (4 * n * C * C + M * M * n * C, "the attention term is 2M^2 hwC: Q K^T and softmax(.) V cost M^2 hwC each, "
                                        "you counted one of them"),
        (4 * n * C * C + 2 * M**4 * C, "2M^4 C is the attention of a single window: there are hw/M^2 windows, "
                                       "so 2M^4 C x hw/M^2 = 2M^2 hwC"),
        (4 * M * M * C * C + 2 * M**4 * C, "that is one window (4M^2C^2 + 2M^4C): multiply by the hw/M^2 windows"),
        (4 * n * C * C + 2 * n * n * C // (M * M), "you used the number of windows hw/M^2 where the window size "
                                                    "M^2 belongs: a query sees M^2 keys"),
        (3 * n * C * C + 2 * M * M * n * C, "hwC^2 short: the output projection is another C x C linear layer"),
        (omega_msa(h, w, C), "that is Omega(MSA): inside windows each token attends to M^2 keys, not hw"),
        (2 * M * M * n * C, "only the attention matmuls: add 4hwC^2 for the projections, which windows do not change"),
    ]  # fmt: skip


def _explain_omega(value: Any, want: int, slips: list[tuple[int, str]], what: str) -> str:
    got = _as_number(value)
    if unanswered(value):
        return f"{what}: {NOT_ANSWERED}"
    if got is None:
        return f"{what} should be a number, got {type(value).__name__}"
    if _same(got, want):
        return ""
    for slip, why in slips:
        if slip != want and _same(got, slip):
            return why
    return (
        f"{got:,.0f} is {got / want:.3g} x the expected value; recount term by term: q, k, v 3hwC^2, "
        "Q K^T and softmax(.) V (tokens attended per query) x hwC each, output projection hwC^2"
    )


def check_omega(msa: Any, wmsa: Any, h: int, w: int, C: int, M: int) -> Report:
    """Compare predicted Omega(MSA) and Omega(W-MSA) for ``h x w`` tokens, ``C`` channels, ``M x M`` windows."""
    report = Report(f"Omega for h={h}, w={w}, C={C}, M={M}")
    want_msa, want_wmsa = omega_msa(h, w, C), omega_wmsa(h, w, C, M)
    a, b = _as_number(msa), _as_number(wmsa)
    if a is not None and b is not None and want_msa != want_wmsa and _same(a, want_wmsa) and _same(b, want_msa):
        swapped = "swapped: global attention (MSA) is the larger of the two"
        report.add("Omega(MSA), eq. (1)", False, swapped)
        report.add("Omega(W-MSA), eq. (2)", False, swapped)
        return report
    why = _explain_omega(msa, want_msa, _msa_slips(h, w, C, M), "Omega(MSA)")
    report.add("Omega(MSA), eq. (1)", not why, why)
    why = _explain_omega(wmsa, want_wmsa, _wmsa_slips(h, w, C, M), "Omega(W-MSA)")
    report.add("Omega(W-MSA), eq. (2)", not why, why)
    return report
