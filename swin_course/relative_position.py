"""Checks for lab 6 (``notebooks/lab06_relative_position.ipynb``): the relative position index and bias.

* :func:`check_relative_position_index` -- the student's ``M -> (M*M, M*M)`` index, against
  :func:`swin_viz.relative_position_index`, for several window sizes;
* :func:`check_gather_bias` -- the student's ``(table, index) -> (heads, N, N)`` gather, against
  :class:`swin_viz.RelativePositionBias` holding the same table (random tables and the shipped trained one);
* :func:`check_table_size` -- predicted table rows and query/key pairs for a window of 12.

The index check recognises the classic slips: the multiplier ``2M - 2`` (offsets collide), ``dy`` and ``dx``
swapped, the ``+ (M - 1)`` shift forgotten (negative rows), key minus query instead of query minus key, tokens
numbered column by column, a float index. The gather check recognises heads last, a reshape without the
permute, and a transposed index.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from swin_viz.relative_position import RelativePositionBias, relative_offsets, relative_position_index
from swin_viz.zoo import shared_model

from ._check import NOT_ANSWERED, NOT_WRITTEN, Report, explain_difference, forbid, run_student, unanswered

__all__ = [
    "INDEX_SIZES",
    "TABLE_M",
    "check_gather_bias",
    "check_relative_position_index",
    "check_resize_bias_table",
    "check_table_size",
]

INDEX_SIZES = (2, 3, 4, 7, 12)
"""Window sizes the index check runs (2: the smallest with offsets; 7: Swin's; 12: Swin's 384 x 384 window)."""

TABLE_M = 12
"""The window of exercise 3 (Swin-B/L at 384 x 384 use M=12)."""


def _add(report: Report, name: str, why: str) -> bool:
    """Add a check; a reason already given for an earlier case is not repeated in full."""
    if why and any(why == earlier for _, _, earlier in report.results):
        why = "the same mistake as above"
    return report.add(name, not why, why)


# -------------------------------------------------------------------------------------- exercise 1: the index


def _offsets_column_major(M: int) -> torch.Tensor:
    """Offsets ``(dy, dx)`` with the window's tokens numbered column by column."""
    xs, ys = torch.meshgrid(torch.arange(M), torch.arange(M), indexing="ij")
    coords = torch.stack([ys.flatten(), xs.flatten()], dim=-1)
    return coords[:, None, :] - coords[None, :, :]


def _collision_example(M: int, multiplier: int) -> str:
    """Two offsets that land on the same row with ``multiplier``, as text."""
    seen: dict[int, tuple[int, int]] = {}
    for dy in range(-(M - 1), M):
        for dx in range(-(M - 1), M):
            row = (dy + M - 1) * multiplier + (dx + M - 1)
            if row in seen:
                return f"e.g. (dy, dx) = {seen[row]} and {(dy, dx)} both read row {row}"
            seen[row] = (dy, dx)
    return ""


def _wrong_indices(M: int) -> list[tuple[torch.Tensor, str]]:
    """``(index, explanation)`` of the typical mistakes for an ``M x M`` window."""
    dy, dx = relative_offsets(M).unbind(-1)
    rows, k = (2 * M - 1) ** 2, 2 * M - 1
    slip = (dy + M - 1) * (2 * M - 2) + (dx + M - 1)
    out = [
        (slip, f"the multiplier is 2M - 2 = {2 * M - 2}; it must be 2M - 1 = {k}, the number of possible dx values. "
               f"With 2M - 2 different offsets collide: {slip.unique().numel()} distinct rows instead of {rows} "
               f"({_collision_example(M, 2 * M - 2)})"),
        ((dx + M - 1) * k + (dy + M - 1),
         "dy and dx are swapped: the row offset dy is the 'tens digit', (dy + M - 1) * (2M - 1) + (dx + M - 1)"),
        (dy * k + dx, "the offsets are not shifted by M - 1: dy and dx run from -(M - 1) to M - 1, so the index goes "
                      "negative (and negative indices silently read the table from the end). Add M - 1 to both "
                      "before combining"),
        (dy * k + (dx + M - 1), "dy is not shifted by M - 1 (dx is): add M - 1 to both offsets"),
        ((dy + M - 1) * k + dx, "dx is not shifted by M - 1 (dy is): add M - 1 to both offsets"),
        ((M - 1 - dy) * k + (M - 1 - dx),
         "the offsets are key minus query; Swin uses query minus key (coords[:, None] - coords[None, :]). A fresh "
         "table would learn either, but official checkpoints are stored in this order"),
    ]  # fmt: skip
    for mult, what in ((M, "M"), (2 * M, "2M")):
        if mult != 2 * M - 2:
            why = f"the multiplier is {what} = {mult}; it must be 2M - 1 = {k}, the number of possible dx values"
            out.append(((dy + M - 1) * mult + (dx + M - 1), why))
    cy, cx = _offsets_column_major(M).unbind(-1)
    why = "the tokens are numbered column by column; a window's tokens are numbered row by row (row * M + column)"
    out.append(((cy + M - 1) * k + (cx + M - 1), why))
    return out


def _explain_index(got: Any, M: int) -> str:
    want = relative_position_index(M)
    if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(want.shape):
        why = explain_difference(got, want, "index")
        if isinstance(got, torch.Tensor):
            why += f" -- one table row for each (query, key) pair of the M*M = {M * M} tokens"
        return why
    if (got.is_floating_point() or got.dtype == torch.bool) and torch.equal(got.double(), want.double()):
        return f"the values are right but the dtype is {got.dtype}: a table can only be indexed by integers (long)"
    if torch.equal(got.long(), want):
        return ""
    g = got.long()
    for wrong, why in _wrong_indices(M):
        if torch.equal(g, wrong):
            return why
    distinct, rows = g.unique().numel(), (2 * M - 1) ** 2
    low, high = int(g.min()), int(g.max())
    facts = f"{distinct} distinct rows (expected {rows}), values {low}..{high} (expected 0..{rows - 1})"
    return explain_difference(g, want, "index") + f" -- {facts}"


@forbid("swin_viz.relative_position.relative_position_index")
def check_relative_position_index(fn: Callable[[int], torch.Tensor]) -> Report:
    """Run ``fn(M)`` for :data:`INDEX_SIZES` and compare with :func:`swin_viz.relative_position_index`."""
    report = Report("relative position index")
    for M in INDEX_SIZES:
        name = f"M={M}: ({M * M}, {M * M}) index into {(2 * M - 1) ** 2} rows"
        got, why = run_student(fn, M)
        if why:
            report.add(name, False, why)
            if why == NOT_WRITTEN:
                break
            continue
        _add(report, name, _explain_index(got, M))
    return report


# ------------------------------------------------------------------------------------ exercise 2: gather the bias


def _gather_cases() -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """``(name, table ((2M-1)^2, heads), index (N, N))``: seeded random tables and the shipped trained one."""
    cases = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        for M, heads in ((2, 1), (3, 4), (7, 3)):
            cases.append((f"random table, M={M}, {heads} head{'s' if heads > 1 else ''}",
                          torch.randn((2 * M - 1) ** 2, heads), relative_position_index(M)))  # fmt: skip
    model = shared_model("digits-small", weights="pretrained")  # read-only: its table is cloned below
    module = model.get_submodule("stage1.block1.attn.relative_bias")
    cases.append((
        f"trained table (digits-small, stage1.block1), M={module.window_size}, {module.num_heads} heads",
        module.table.detach().clone(), relative_position_index(module.window_size),
    ))  # fmt: skip
    return cases


def _reference_bias(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """What :class:`swin_viz.RelativePositionBias` gives for ``table``: ``(heads, N, N)``."""
    rows, heads = table.shape
    M = (math.isqrt(rows) + 1) // 2
    with torch.random.fork_rng(devices=[]):
        module = RelativePositionBias(M, heads)
    with torch.no_grad():
        module.table.copy_(table)
        return module()


def _explain_gather(got: Any, table: torch.Tensor, index: torch.Tensor) -> str:
    want = _reference_bias(table, index)
    heads, N = want.shape[0], want.shape[1]
    heads_last = isinstance(got, torch.Tensor) and tuple(got.shape) == (N, N, heads) and heads > 1
    if heads_last and torch.allclose(got.detach().float(), want.permute(1, 2, 0), atol=1e-6):
        return f"the heads are last, (N, N, heads) = {(N, N, heads)}: permute(2, 0, 1) to (heads, N, N)"
    why = explain_difference(got, want, "bias")
    if not why:
        return ""
    if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(want.shape):
        return why + " -- (heads, N, N): one (N, N) bias matrix per head"
    g = got.detach().float()
    if heads > 1 and torch.allclose(g, table[index.reshape(-1)].reshape(heads, N, N), atol=1e-6):
        return (
            "table[index] is (N*N, heads); reshaping it straight to (heads, N, N) mixes heads and pairs. "
            "Reshape to (N, N, heads), then permute(2, 0, 1)"
        )
    if torch.allclose(g, want.transpose(-1, -2), atol=1e-6):
        return "the bias is transposed: bias[h, i, j] must be table[index[i, j], h] (query i, key j), not index[j, i]"
    return why


@forbid("swin_viz.relative_position.RelativePositionBias")
def check_gather_bias(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Report:
    """Run ``fn(table, index)`` and compare with :class:`swin_viz.RelativePositionBias` holding the same table."""
    report = Report("gather the bias")
    for name, table, index in _gather_cases():
        got, why = run_student(fn, table.clone(), index.clone())
        if why:
            report.add(name, False, why)
            if why == NOT_WRITTEN:
                break
            continue
        _add(report, name, _explain_gather(got, table, index))
    return report


# ------------------------------------------------------------------------------ exercise 3: table size and pairs


def check_table_size(rows: Any, pairs: Any, M: int = TABLE_M) -> Report:
    """Predicted bias-table rows (per head) and query/key pairs of an ``M x M`` window, against the library."""
    report = Report(f"table size and pairs for M={M}")
    want_rows = int(RelativePositionBias(M, 1).table.shape[0])
    want_pairs = int(relative_position_index(M).numel())
    N = M * M
    row_hints = {
        (2 * M) ** 2: "offsets run from -(M - 1) to M - 1: that is 2M - 1 values per axis, not 2M",
        (2 * M - 2) ** 2: "2M - 2 per axis misses one offset: from -(M - 1) to M - 1 there are 2M - 1",
        N: "M^2 is the number of tokens in the window, not of distinct offsets",
        2 * M - 1: "2M - 1 offsets per axis, and the table covers every (dy, dx) combination: square it",
        2 * (2 * M - 1): "the table covers every (dy, dx) *combination*: (2M - 1) x (2M - 1), not a sum",
        want_pairs: "that is the number of query/key pairs; the table holds one number per distinct offset",
    }
    pair_hints = {
        N: "M^2 is the number of tokens; the bias has one entry per (query, key) pair: M^2 x M^2",
        want_rows: "that is the table's size; the pairs are every query with every key: M^2 x M^2",
        N * (N - 1): "a token attends to itself too: M^2 x M^2 pairs",
        N * (N - 1) // 2: "the pairs are ordered (query, key), and include each token with itself: M^2 x M^2",
        N * (N + 1) // 2: "the pairs are ordered: (i, j) and (j, i) are different entries of the bias, M^2 x M^2",
    }
    for name, value, want, hints in (("table rows per head", rows, want_rows, row_hints),
                                      ("query/key pairs", pairs, want_pairs, pair_hints)):  # fmt: skip
        if unanswered(value):
            report.add(name, False, NOT_ANSWERED)
            continue
        try:
            v = int(value)
        except (TypeError, ValueError):
            report.add(name, False, f"expected a whole number, got {value!r}")
            continue
        if v == want:
            report.add(name, True)
        else:
            report.add(name, False, f"{v} -- {hints.get(v, 'work it out for one axis first, then for the window')}")
    if report.passed:
        report.add(f"each table row is shared by {want_pairs / want_rows:.1f} pairs on average", True)
    return report


# ------------------------------------------------------------------ exercise 4: a table for another window size


def _resize_cases() -> list[tuple[str, torch.Tensor, int]]:
    """``(name, table ((2M-1)^2, heads), new M)``: growing, shrinking, the same size, and the shipped trained one."""
    cases = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(4)
        for M, heads, new in ((7, 3, 12), (4, 2, 6), (5, 1, 3), (3, 2, 3)):
            cases.append((f"random table, M={M} -> M'={new}, {heads} head{'s' if heads > 1 else ''}",
                          torch.randn((2 * M - 1) ** 2, heads), new))  # fmt: skip
    model = shared_model("digits-small", weights="pretrained")  # read-only: its table is cloned below
    module = model.get_submodule("stage1.block1.attn.relative_bias")
    cases.append((f"trained table (digits-small, stage1.block1), M={module.window_size} -> M'=6",
                  module.table.detach().clone(), 6))  # fmt: skip
    return cases


def _grid_resize(table: torch.Tensor, new_M: int, mode: str, align_corners: bool, transpose: bool) -> torch.Tensor:
    """The reference resize, or one of its typical slips (another mode, corners aligned, rows in (dx, dy) order)."""
    rows, heads = table.shape
    side, new_side = math.isqrt(rows), 2 * new_M - 1
    grid = table.T.reshape(1, heads, side, side).float()
    if transpose:
        grid = grid.transpose(-1, -2)
    kwargs = {} if mode == "nearest" else {"align_corners": align_corners}
    out = torch.nn.functional.interpolate(grid, size=(new_side, new_side), mode=mode, **kwargs)
    return out.reshape(heads, new_side * new_side).T


def _explain_resize(got: Any, table: torch.Tensor, new_M: int) -> str:
    want = _grid_resize(table, new_M, "bicubic", False, False)
    if 2 * new_M - 1 == math.isqrt(table.shape[0]):
        want = table  # the same window: nothing to resize, bit for bit
    why = explain_difference(got, want, "resized table")
    if not why:
        return ""
    if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(want.shape):
        return why + f" -- ((2M'-1)^2, heads) = {tuple(want.shape)}: one row per offset of the new window"
    g = got.detach().float()
    slips = (
        (("bilinear", False, False), "that is a bilinear resize: the official code (and swin_viz) resize bicubically"),
        (("bicubic", True, False), "align_corners=True stretches the grid to its corner samples; use False, as the "
                                   "official code does"),
        (("bicubic", False, True), "the rows come out in (dx, dy) order: row (dy + M'-1)(2M'-1) + (dx + M'-1) must "
                                   "hold offset (dy, dx), so flatten each grid with dy as the slow axis"),
        (("nearest", False, False), "nearest-neighbour copies rows; the offsets between them need interpolating"),
    )  # fmt: skip
    for args, hint in slips:
        if torch.allclose(g, _grid_resize(table, new_M, *args), atol=1e-5):
            return hint
    flat = torch.nn.functional.interpolate(table.T[None].float(), size=(2 * new_M - 1) ** 2, mode="linear",
                                           align_corners=False)[0].T  # fmt: skip
    if torch.allclose(g, flat, atol=1e-5):
        return "the column was resized as a 1-D list; it is a (2M-1) x (2M-1) grid over (dy, dx): reshape it first"
    return why


@forbid("swin_viz.relative_position.resize_bias_table", "swin_viz.train.finetune.init_from_checkpoint")
def check_resize_bias_table(fn: Callable[[torch.Tensor, int], torch.Tensor]) -> Report:
    """Run ``fn(table, new_M)`` and compare with :func:`swin_viz.relative_position.resize_bias_table`."""
    report = Report("resize a bias table to another window")
    for name, table, new_M in _resize_cases():
        got, why = run_student(fn, table.clone(), new_M)
        if why:
            report.add(name, False, why)
            if why == NOT_WRITTEN:
                break
            continue
        _add(report, name, _explain_resize(got, table, new_M))
    return report
