"""Checks for lab 4 (``notebooks/lab04_shifted_windows.ipynb``): the cyclic shift, its regions, the naive partition.

* :func:`check_cyclic_shift` -- ``shift(x, s)`` and ``unshift(x, s)`` against :func:`swin_viz.cyclic_shift` and
  :func:`swin_viz.reverse_cyclic_shift` (a roll of the *tokens* by ``-s`` and ``+s`` on H and W);
* :func:`check_region_labels` -- ``fn(H, W, M, s)``: the 9-region map of a shifted map, as
  :func:`swin_viz.region_labels`;
* :func:`check_naive_windows` -- ``fn(H, W, M, s)``: how many windows the naive shifted partition makes
  (:func:`naive_window_count`).

Each failure names the mistake it recognises: rolled +s instead of -s, rolled the wrong axes, forgot to roll back,
two slices per axis instead of three, image and window coordinates mixed up, the regular count instead of the
shifted one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from swin_viz.shift import cyclic_shift, region_labels, reverse_cyclic_shift

from ._check import Report, explain_difference, forbid, run_student

__all__ = [
    "NAIVE_CASES",
    "REGION_CASES",
    "SHIFT_CASES",
    "check_cyclic_shift",
    "check_naive_windows",
    "check_region_labels",
    "naive_window_count",
    "same_mask",
]

SHIFT_CASES: list[tuple[int, int, int, int, int]] = [
    (2, 8, 8, 3, 2),
    (1, 6, 9, 2, 1),
    (1, 14, 14, 4, 3),
    (1, 12, 8, 1, 2),
]
"""``(B, H, W, C, s)``: a batch of two, non-square maps, the s of M=7."""
REGION_CASES: list[tuple[int, int, int, int]] = [
    (8, 8, 4, 2),
    (14, 14, 7, 3),
    (12, 16, 4, 2),
    (6, 9, 3, 1),
    (8, 12, 4, 1),
]
"""``(H, W, M, s)``: the paper's 8x8 example, M=7, non-square maps, a shift that is not M/2."""
NAIVE_CASES: list[tuple[int, int, int, int]] = [(8, 8, 4, 2), (56, 56, 7, 3), (12, 20, 4, 2), (15, 10, 5, 2),
                                                (28, 28, 7, 1), (8, 8, 4, 0)]  # fmt: skip
"""``(H, W, M, s)``: the paper's example, Swin-T stage 1, non-square maps, odd M, a small shift, no shift."""


def _same(got: Any, want: torch.Tensor) -> bool:
    return isinstance(got, torch.Tensor) and got.shape == want.shape and torch.equal(got, want)


def _roll_slips(x: torch.Tensor, s: int, sign: int) -> list[tuple[torch.Tensor, str]]:
    """Typical wrong rolls of ``x`` and why they are wrong; ``sign`` is the direction asked for (-1 shift, +1 back)."""
    right, wrong = ("-s (up and left)", "+s") if sign < 0 else ("+s (down and right)", "-s")
    d = sign * s
    return [
        (torch.roll(x, (-d, -d), (1, 2)), f"rolled by {wrong}: the right direction is {right}"
         + (". Swin rolls the top rows and left columns round to the bottom and right, where the mask's last bands "
            "expect them" if sign < 0 else ". Undoing a roll by -s needs +s; rolling by -s again moves the tokens "
            "further instead of back")),
        (x, "returned the map unchanged" + (": roll it by -s on H and W" if sign < 0 else
                                            ": reverse_cyclic_shift must undo the roll, else every token stays where "
                                            "the shifted windows put it")),
        (torch.roll(x, (d, d), (2, 3)), "rolled dims (2, 3), W and C: the map is channels-last (B, H, W, C), so H "
                                        "and W are dims (1, 2); (2, 3) would be right for (B, C, H, W)"),
        (torch.roll(x, (d, d), (0, 1)), "rolled dims (0, 1), the batch and H: H and W are dims (1, 2) of (B, H, W, C)"),
        (torch.roll(x, d), "torch.roll without dims flattens the tensor and rolls the flat sequence: pass "
                           "shifts=(±s, ±s) with dims=(1, 2)"),
        (torch.roll(x, d, 1), "rolled only along H (dim 1): roll H and W, shifts=(±s, ±s), dims=(1, 2)"),
        (torch.roll(x, d, 2), "rolled only along W (dim 2): roll H and W, shifts=(±s, ±s), dims=(1, 2)"),
        (torch.roll(x, (2 * d, 2 * d), (1, 2)), "rolled by 2s: the shift is s = M // 2 tokens, once"),
    ]  # fmt: skip


def _explain_roll(got: Any, want: torch.Tensor, x: torch.Tensor, s: int, sign: int) -> str:
    if _same(got, want):
        return ""
    for slip, why in _roll_slips(x, s, sign):
        if not torch.equal(slip, want) and _same(got, slip):
            return why
    return explain_difference(got, want, "rolled map") or "not bit for bit the same: a roll only moves tokens"


@forbid("swin_viz.shift.cyclic_shift", "swin_viz.shift.reverse_cyclic_shift")
def check_cyclic_shift(
    shift: Callable[[torch.Tensor, int], torch.Tensor], unshift: Callable[[torch.Tensor, int], torch.Tensor]
) -> Report:
    """Check ``shift(x, s)`` against :func:`swin_viz.cyclic_shift` and ``unshift(x, s)`` against its inverse."""
    report = Report("cyclic_shift and its inverse")
    gen = torch.Generator().manual_seed(0)
    for B, H, W, C, s in SHIFT_CASES:
        x = torch.randn(B, H, W, C, generator=gen)
        size = f"{H}x{W}" + (" (not square)" if H != W else "") + (f", {B} images" if B > 1 else "") + f", s={s}"
        got, err = run_student(shift, x.clone(), s)
        why = err or _explain_roll(got, cyclic_shift(x, s), x, s, -1)
        report.add(f"shift {size}", not why, why)
        y = cyclic_shift(x, s)
        got, err = run_student(unshift, y.clone(), s)
        why = err or _explain_roll(got, reverse_cyclic_shift(y, s), y, s, +1)
        report.add(f"unshift {size}", not why, why)
    x = torch.randn(2, 12, 8, 3, generator=gen)
    shifted, err = run_student(shift, x.clone(), 3)
    back, err2 = run_student(unshift, shifted, 3) if not err else (None, err)
    why = err2 or ("" if _same(back, x) else "unshift(shift(x, s), s) is not x: the two rolls must cancel exactly")
    report.add("round trip: unshift(shift(x, s), s) == x", not why, why)
    return report


def _region_slips(H: int, W: int, M: int, s: int) -> list[tuple[torch.Tensor, str]]:
    """Typical wrong region maps for an ``H x W`` map with window M and shift s, and why they are wrong."""
    h, w = torch.arange(H), torch.arange(W)
    want = region_labels(H, W, M, s)
    rb, cb = want // 3, want % 3

    def label(rows: torch.Tensor, cols: torch.Tensor, k: int = 3) -> torch.Tensor:
        return k * rows.long()[:, None] + cols.long()[None, :]

    three = ("the official code cuts each axis into three slices, (0, -M), (-M, -s), (-s, None): everything before "
             "the last window, the part of the last window that was there before the roll, and the s positions that "
             "wrapped round")  # fmt: skip
    inside = (
        "you labelled positions inside every window (i % M): image and window coordinates are mixed up. The "
        "regions are bands of the whole image: only the last row and column of windows hold wrapped tokens"
    )
    local_h, local_w = h % M >= M - s, w % M >= M - s
    slips = [
        (label(h >= H - s, w >= W - s), f"4 regions: you cut each axis into two slices, (0, -s) and (-s, None); "
                                        f"{three}"),
        (label(h >= H - s, w >= W - s, 2), f"4 regions: you cut each axis into two slices, (0, -s) and (-s, None); "
                                           f"{three}"),
        (label(h >= H - M, w >= W - M), f"4 regions: you cut each axis into two slices, (0, -M) and (-M, None); "
                                        f"{three}"),
        (3 * cb + rb, "rows and columns swapped in the label: it is 3 * row_band + col_band (the official counter "
                      "loops over the H slices outside the W slices)"),
        (label((h >= s).long() + (h >= M), (w >= s).long() + (w >= M)),
         "you labelled the map before the roll, with the wrapped strips at the top and left; after cyclic_shift by "
         "-s they are at the bottom and right, so the slices count from the end: (0, -M), (-M, -s), (-s, None)"),
        (label(local_h, local_w), inside),
        (label(1 + local_h.long(), 1 + local_w.long()), inside),
    ]  # fmt: skip
    if H != W:
        slips.append((label((h >= W - M).long() + (h >= W - s), (w >= H - M).long() + (w >= H - s)),
                      "the row bands come from H and the column bands from W: yours use W's thresholds for the rows "
                      "and H's for the columns (image axes mixed up)"))  # fmt: skip
    return slips


def same_mask(got: Any, H: int, W: int, M: int, s: int) -> bool:
    """Whether labels ``got`` ``(H, W)`` group the tokens of every window as the official labels do, so that the mask
    built from them is the official mask: e.g. the two slices (0, -s), (-s, None) per axis, since the cut at -M
    lies on a window border."""
    if not isinstance(got, torch.Tensor) or tuple(got.shape) != (H, W) or got.is_complex():
        return False

    def pairs(labels: torch.Tensor) -> torch.Tensor:
        windows = labels.reshape(H // M, M, W // M, M).transpose(1, 2).reshape(-1, M * M)
        return windows[:, :, None] == windows[:, None, :]

    return torch.equal(pairs(got.detach()), pairs(region_labels(H, W, M, s)))


def _boundaries(labels: torch.Tensor, axis: int) -> list[int]:
    """Positions along ``axis`` where any label changes from the previous row/column."""
    diff = labels.diff(dim=axis) != 0
    changed = diff.any(dim=1 - axis)
    return [int(i) + 1 for i in torch.nonzero(changed).flatten()]


def _explain_regions(got: Any, H: int, W: int, M: int, s: int) -> str:
    want = region_labels(H, W, M, s)
    if hasattr(got, "__array__") and not isinstance(got, torch.Tensor):
        got = torch.as_tensor(got)
    if not isinstance(got, torch.Tensor):
        return explain_difference(got, want, "label map")
    if tuple(got.shape) == (W, H) and H != W:
        return f"shape {tuple(got.shape)}: H and W are swapped (the map is H rows by W columns, {(H, W)})"
    if tuple(got.shape) != (H, W):
        return explain_difference(got, want, "label map")
    if got.is_floating_point() and not torch.equal(got, got.round()):
        return "labels should be whole numbers 0..8"
    g = got.long()
    if torch.equal(g, want):
        return ""
    for slip, why in _region_slips(H, W, M, s):
        if not torch.equal(slip, want) and torch.equal(g, slip):
            return why
    same_partition = torch.equal(g[:, :, None, None] == g[None, None], want[:, :, None, None] == want[None, None])
    if same_partition:
        return ("the regions are right but numbered differently: number them 3 * row_band + col_band, 0..8, as the "
                "official code's counter (the mask only compares labels, so it would still work)")  # fmt: skip
    rows, cols = _boundaries(g, 0), _boundaries(g, 1)
    want_rows, want_cols = _boundaries(want, 0), _boundaries(want, 1)
    n = int(g.unique().numel())
    return (
        f"{n} distinct labels (expected {int(want.unique().numel())}); your labels change at rows {rows} and "
        f"columns {cols}, expected rows {want_rows} (H - M, H - s) and columns {want_cols} (W - M, W - s)"
    )


@forbid("swin_viz.shift.region_labels", "swin_viz.shift.shifted_window_mask")
def check_region_labels(fn: Callable[[int, int, int, int], torch.Tensor]) -> Report:
    """Check ``fn(H, W, M, s) -> (H, W)`` region labels against :func:`swin_viz.region_labels`."""
    report = Report("region labels")
    for H, W, M, s in REGION_CASES:
        got, err = run_student(fn, H, W, M, s)
        why = err or _explain_regions(got, H, W, M, s)
        if why and not err and same_mask(got, H, W, M, s):
            why = ""  # another labelling, the same mask: accepted (chapter 5 shows why the cut at -M does not matter)
        name = f"{H}x{W}, M={M}, s={s}" + (" (not square)" if H != W else "") + (" (s != M/2)" if 2 * s != M else "")
        report.add(name, not why, why)
    return report


def naive_window_count(H: int, W: int, M: int, s: int) -> int:
    """Windows of the naive shifted partition of an ``H x W`` map: the grid displaced by ``s``, cut at every border.

    Token ``i`` of an axis falls in piece ``(i + (-s) % M) // M``; the count is the number of distinct pieces per
    axis, multiplied. With ``s = 0`` it is the regular ``H/M x W/M``.
    """
    pieces = [len({(i + (-s) % M) // M for i in range(n)}) for n in (H, W)]
    return pieces[0] * pieces[1]


def _naive_slips(H: int, W: int, M: int) -> list[tuple[int, str]]:
    """Typical wrong counts for a shifted (s > 0) partition of an ``H x W`` map, and why they are wrong."""
    gh, gw = H // M, W // M
    return [
        (gh * gw, "that is the regular partition (H/M x W/M windows): displacing the grid by s cuts one more piece "
                  "per axis, a partial window of M - s at the start and one of s at the end"),
        (9, "9 is the number of regions of the shifted map, not of windows; they coincide only for a 2 x 2 grid"),
        ((gh + 1) ** 2, "both axes counted with H: the pieces per axis are H/M + 1 and W/M + 1"),
        ((gw + 1) ** 2, "both axes counted with W: the pieces per axis are H/M + 1 and W/M + 1"),
        ((gh + 2) * (gw + 2), "one piece too many per axis: a displaced grid has H/M - 1 whole windows and 2 partial "
                              "ones, H/M + 1 pieces"),
        (gh * gw + 1, "the displaced grid adds a whole row and a whole column of pieces, not one window"),
        (gh * gw + gh + gw, "the corner piece is missing: (H/M + 1) x (W/M + 1) counts it"),
        (4 * gh * gw, "the windows do not double per axis: the displaced grid adds one piece per axis"),
    ]  # fmt: skip


def check_naive_windows(fn: Callable[[int, int, int, int], int]) -> Report:
    """Check ``fn(H, W, M, s)``: the number of windows of the naive shifted partition (:func:`naive_window_count`)."""
    report = Report("windows of the naive shifted partition")
    for H, W, M, s in NAIVE_CASES:
        want = naive_window_count(H, W, M, s)
        got, err = run_student(fn, H, W, M, s)
        name = f"{H}x{W}, M={M}, s={s}" + (" (not square)" if H != W else "") + (" (no shift)" if s == 0 else "")
        if err:
            report.add(name, False, err)
            continue
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if not isinstance(got, int | float) or isinstance(got, bool):
            report.add(name, False, f"should return a number, got {type(got).__name__}")
            continue
        if got == want:
            report.add(name, True)
            continue
        if s == 0:
            why = "with s = 0 (a W-MSA block) nothing is displaced: the naive partition is the regular one, H/M x W/M"
        else:
            why = next((w for v, w in _naive_slips(H, W, M) if v != want and v == got), "")
        report.add(name, False, why or f"{got} windows, expected a different count: cut each axis at s, s + M, "
                                       "s + 2M, ... and count the pieces (empty ones do not count)")  # fmt: skip
    return report
