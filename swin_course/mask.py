"""Checks for lab 5 (``notebooks/lab05_attention_mask.ipynb``): the shifted-window attention mask.

* :func:`check_shifted_window_mask` -- the student's ``(H, W, M, s) -> (nW, M*M, M*M)`` mask, against
  :func:`swin_viz.shifted_window_mask`, on square and non-square maps, two window sizes and two shifts;
* :func:`check_masked_windows` -- the predicted number of Swin-T stage-1 windows that need any masking;
* :func:`check_masked_softmax` -- the student's softmax of one window's logits with its mask, against the
  probabilities a real :class:`swin_viz.SwinBlock` computes (read at its ``attn.hook_probs`` hook point).

Each check names the typical mistake it recognises: a bool or 0/1 mask, the wrong constant, masking the
wrong pairs, windows numbered in the wrong order, a missing slice, regions of the un-rolled map, a plain
reshape instead of a window partition; the mask forgotten, multiplied, subtracted or applied after the
softmax, the softmax over the wrong axis.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from swin_viz.block import SwinBlock
from swin_viz.hooks import hooks, run_with_cache
from swin_viz.shift import MASK_VALUE, region_labels, shifted_window_mask
from swin_viz.windows import window_partition

from ._check import NOT_ANSWERED, NOT_WRITTEN, Report, explain_difference, forbid, run_student, unanswered

__all__ = [
    "MASK_CASES",
    "MASK_COUNT_MAP",
    "SOFTMAX_CASES",
    "check_masked_softmax",
    "check_masked_windows",
    "check_shifted_window_mask",
    "softmax_cases",
]

MASK_CASES: list[tuple[int, int, int, int]] = [
    (8, 8, 4, 2),  # the paper's Fig. 2 example
    (8, 12, 4, 1),  # non-square, a small shift
    (12, 8, 4, 2),  # taller than wide: catches H and W swapped
    (14, 21, 7, 3),  # Swin's window, non-square
    (56, 56, 7, 3),  # Swin-T stage 1 at 224 x 224
]
"""``(H, W, M, s)`` maps the mask check runs."""

MASK_COUNT_MAP = (56, 84, 7, 3)
"""Swin-T's stage 1 on a 224 x 336 image: a 56 x 84 token map, window 7, shift 3 (chapter 5 tabulates 224 x 224,
so the lab asks about a size the book does not print)."""


# ---------------------------------------------------------------------------------------- exercise 1: the mask


def _labels_from_cuts(H: int, W: int, rows: list[slice], cols: list[slice]) -> torch.Tensor:
    """Label a map as a zero-initialised counter would: ``label[r, c] = k`` for the k-th (row slice, col slice)."""
    labels = torch.zeros(H, W, dtype=torch.long)
    k = 0
    for r in rows:
        for c in cols:
            labels[r, c] = k
            k += 1
    return labels


def _pairs_differ(windows: torch.Tensor) -> torch.Tensor:
    """``(nW, N)`` labels -> ``(nW, N, N)`` bool: True where two tokens of a window carry different labels."""
    return windows[:, :, None] != windows[:, None, :]


def _blocked_from_labels(labels: torch.Tensor, M: int) -> torch.Tensor:
    """Which pairs a mask built from ``labels`` (H, W) blocks, windows cut as :func:`swin_viz.window_partition`."""
    return _pairs_differ(window_partition(labels[None, :, :, None], M).reshape(-1, M * M))


def _wrong_masks(H: int, W: int, M: int, s: int) -> list[tuple[torch.Tensor, str]]:
    """``(blocked pattern, explanation)`` of the typical mistakes, for the map ``(H, W, M, s)``."""
    three = [slice(0, -M), slice(-M, -s), slice(-s, None)]
    labels = region_labels(H, W, M, s)
    out: list[tuple[torch.Tensor, str]] = []

    def add(blocked: torch.Tensor, why: str) -> None:
        out.append((blocked, why))

    add(
        _blocked_from_labels(_labels_from_cuts(H, W, [slice(0, -M), slice(-M, None)], [slice(0, -M), slice(-M, None)]),
            M),
        "you cut each axis into two slices, (0, -M) and (-M, None): the last row/column of windows is then one "
        "region, and the s tokens that wrapped round from the other side of the image are not masked. The cut that "
        "matters is at -s (the official code uses (0, -M), (-M, -s), (-s, None); the cut at -M lies on a window "
        "border)",
    )  # fmt: skip
    add(
        _blocked_from_labels(_labels_from_cuts(H, W, three[:2], three[:2]), M),
        "the wrapped-round band was never labelled: with two slices (0, -M), (-M, -s) the last s rows and columns "
        "keep the map's initial label 0, the same as region 0, so they are not kept apart. Label all three slices "
        "(0, -M), (-M, -s), (-s, None) on each axis",
    )
    add(
        _blocked_from_labels(_labels_from_cuts(H, W, [slice(0, s), slice(s, M), slice(M, None)],
                                               [slice(0, s), slice(s, M), slice(M, None)]), M),
        "your regions are those of the map before the roll (bands at the top and left). After rolling by -s the s "
        "rows and columns that wrapped round sit at the bottom and right: slices (0, -M), (-M, -s), (-s, None)",
    )  # fmt: skip
    if M - s != s:
        cut = [slice(0, -M), slice(-M, -(M - s)), slice(-(M - s), None)]
        add(
            _blocked_from_labels(_labels_from_cuts(H, W, cut, cut), M),
            f"you cut at -(M - s) = {-(M - s)} instead of -s = {-s}: the band that wrapped round is the last s "
            "tokens of each axis",
        )
    add(
        _blocked_from_labels(labels - labels % 3, M),
        "only the rows are split into bands; the columns need the same three slices (a window in the last column "
        "of windows mixes left and right edges of the image too)",
    )
    add(
        _blocked_from_labels(labels % 3, M),
        "only the columns are split into bands; the rows need the same three slices (a window in the last row of "
        "windows mixes top and bottom edges of the image too)",
    )
    add(
        _pairs_differ(labels.reshape(-1, M * M)),
        "the windows hold the wrong tokens: a plain labels.reshape(-1, M*M) takes M*M consecutive tokens of a row. "
        "Cut the label map into M x M windows with swin_viz.window_partition (or reshape(H//M, M, W//M, M), "
        "permute(0, 2, 1, 3))",
    )
    return out


def _explain_mask(got: Any, H: int, W: int, M: int, s: int) -> str:
    """Empty when ``got`` is the mask of ``(H, W, M, s)``; else the most specific explanation."""
    want = shifted_window_mask(H, W, M, s)
    nW, N = want.shape[0], M * M
    if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(want.shape):
        why = explain_difference(got, want, "mask")
        if isinstance(got, torch.Tensor) and got.dim() == 2 and tuple(got.shape) == (H, W):
            why += " -- that is a label map: compare labels pairwise inside each window"
        elif isinstance(got, torch.Tensor):
            why += f" -- one ({N}, {N}) matrix per window, {H // M} x {W // M} = {nW} windows"
        return why
    if got.dtype == torch.bool:
        return (
            "the mask is bool; Swin's mask is *added* to the logits: a float tensor with 0.0 where two tokens may "
            f"attend and {MASK_VALUE} (swin_viz.MASK_VALUE) where they come from different regions"
        )
    g = got.detach().double()
    want_blocked = want != 0
    got_blocked = g != 0
    if torch.equal(got_blocked, ~want_blocked):
        return "the mask blocks the wrong pairs: pairs from the *same* region must get 0, different regions -100"
    if torch.equal(got_blocked, want_blocked):
        values = g[got_blocked].unique()
        if values.numel() and torch.isinf(values).any():
            return (
                "masked pairs hold -inf: the probabilities come out the same here (exp underflows to 0 either way), "
                f"but Swin's mask is {MASK_VALUE} (swin_viz.MASK_VALUE), which stays finite: a softmax row of all "
                "-inf is NaN"
            )
        if values.numel() and (values > 0).all():
            return f"masked pairs hold {values.tolist()[:3]}: positive values *favour* those pairs; use {MASK_VALUE}"
        if values.numel() and not torch.allclose(values, torch.full_like(values, MASK_VALUE)):
            shown = [round(v, 4) for v in values.tolist()[:3]]
            return f"the right pairs are masked, but with {shown} instead of {MASK_VALUE} (swin_viz.MASK_VALUE)"
        why = explain_difference(got, want, "mask")
        return why
    if not torch.equal(got_blocked, got_blocked.transpose(-1, -2)):
        return (
            "the mask is not symmetric: whether tokens i and j share a region does not depend on which one asks. "
            "Compare the labels with != (not < or >), as windows[:, :, None] != windows[:, None, :]"
        )
    by_col = want_blocked.view(H // M, W // M, N, N).transpose(0, 1).reshape(nW, N, N)
    if torch.equal(got_blocked, by_col) and not torch.equal(by_col, want_blocked):
        return "the windows are numbered column by column; swin_viz (and window_partition) numbers them row by row"
    for blocked, why in _wrong_masks(H, W, M, s):
        if torch.equal(got_blocked, blocked):
            return why
    key = lambda t: sorted(tuple(m.flatten().tolist()) for m in t)  # noqa: E731
    if key(got_blocked) == key(want_blocked):
        return "every window's mask is right but the windows are in another order: number them row by row"
    wrong = (got_blocked != want_blocked).flatten(1).any(1).nonzero().flatten().tolist()
    w = wrong[0]
    i, j = (int(v) for v in (got_blocked[w] != want_blocked[w]).nonzero()[0])
    state = "masks" if got_blocked[w, i, j] else "does not mask"
    return (
        f"windows {wrong[:6]}{' ...' if len(wrong) > 6 else ''} differ from swin_viz's: e.g. window {w} {state} "
        f"query {i} / key {j}, which swin_viz {'does not' if got_blocked[w, i, j] else 'does'}. Check the regions "
        f"with swin_viz.region_labels({H}, {W}, {M}, {s})"
    )


def _add(report: Report, name: str, why: str) -> bool:
    """Add a check; a reason already given for an earlier case is not repeated in full."""
    if why and any(why == earlier for _, _, earlier in report.results):
        why = "the same mistake as above"
    return report.add(name, not why, why)


@forbid("swin_viz.shift.shifted_window_mask")
def check_shifted_window_mask(fn: Callable[[int, int, int, int], torch.Tensor]) -> Report:
    """Run ``fn(H, W, M, s)`` on :data:`MASK_CASES` and compare with :func:`swin_viz.shifted_window_mask`."""
    report = Report("the shifted-window mask")
    for H, W, M, s in MASK_CASES:
        name = f"{H} x {W} map, M={M}, s={s}"
        got, why = run_student(fn, H, W, M, s)
        if why:
            report.add(name, False, why)
            if why == NOT_WRITTEN:
                break
            continue
        _add(report, name, _explain_mask(got, H, W, M, s))
    return report


# ------------------------------------------------------------------------ exercise 2: how many windows need a mask


def _window_counts(H: int, W: int, M: int, s: int) -> tuple[int, dict[int, int]]:
    """``(nW, {regions in a window: how many windows})`` of the shifted map."""
    labels = window_partition(region_labels(H, W, M, s)[None, :, :, None], M).reshape(-1, M * M)
    regions = [len(set(w.tolist())) for w in labels]
    return len(regions), {k: regions.count(k) for k in sorted(set(regions))}


def check_masked_windows(answer: Any) -> Report:
    """Compare a predicted number with the windows of :data:`MASK_COUNT_MAP` whose mask has any -100 in it."""
    H, W, M, s = MASK_COUNT_MAP
    report = Report(f"windows that need a mask, {H} x {W} map, M={M}, s={s}")
    masked = int((shifted_window_mask(H, W, M, s) != 0).flatten(1).any(1).sum())
    nW, counts = _window_counts(H, W, M, s)
    rows, cols = H // M, W // M
    if unanswered(answer):
        report.add("your prediction", False, NOT_ANSWERED)
        return report
    try:
        value = int(answer)
    except (TypeError, ValueError):
        report.add("your prediction", False, f"expected a whole number, got {answer!r}")
        return report
    hints = {
        nW: f"not all {nW} windows: only those that hold tokens of more than one region, i.e. that touch the "
        f"s={s} rows or columns that wrapped round (the last row and the last column of windows)",
        nW - masked: f"{nW - masked} is the number of windows that need *no* mask (a single region)",
        1: "not only the corner: every window of the last row of windows mixes top and bottom of the image, and "
        "every window of the last column mixes left and right",
        rows + cols: f"the corner window is in both the last row and the last column: {rows} + {cols} - 1",
        rows: "both the last row *and* the last column of windows need a mask",
        cols: "both the last row *and* the last column of windows need a mask",
        9: "9 is the number of regions, not of windows that need a mask",
        0: "some windows do need the mask: those in the last row and column of windows",
        4: f"4 windows is the paper's 8 x 8 example; this map has {H} x {W} tokens",
    }
    if value == masked:
        report.add("your prediction", True)
        detail = ", ".join(f"{n} with {k} region{'s' if k > 1 else ''}" for k, n in counts.items())
        report.add(f"of {nW} windows: {detail}", True)
    else:
        why = hints.get(value, f"count the windows of the {rows} x {cols} grid that straddle the band boundaries")
        report.add("your prediction", False, why if why.startswith(f"{value} ") else f"you predicted {value}: {why}")
    return report


# ---------------------------------------------------------------------------- exercise 3: softmax with the mask

SOFTMAX_CASES: list[tuple[int, int, int, int]] = [(8, 8, 4, 2), (14, 14, 7, 3), (8, 12, 4, 2)]
"""``(H, W, M, s)`` of the seeded blocks whose windows the softmax check uses."""


def softmax_cases(
    cases: list[tuple[int, int, int, int]] | None = None, seed: int = 0
) -> list[tuple[str, torch.Tensor, torch.Tensor, torch.Tensor]]:
    """``(name, logits (heads, N, N), mask (N, N), probs (heads, N, N))`` for a few windows of real blocks.

    Each map runs a seeded random shifted :class:`~swin_viz.SwinBlock` (dim 16, 2 heads) twice: with the mask
    replaced by zeros (``logits`` at ``attn.hook_logits``: ``QK^T/sqrt(d) + B``, no mask) and as is (``probs`` at
    ``attn.hook_probs``). Windows: the first (one region), a window of the last column (two), the last (four).
    The global RNG is untouched.
    """
    out = []
    for H, W, M, s in cases or SOFTMAX_CASES:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            block = SwinBlock(dim=16, num_heads=2, window_size=M, shift_size=s).eval()
            x = 2 * torch.randn(1, H, W, 16)
        with torch.no_grad():
            with hooks(block, {"attn.hook_mask": lambda module, inputs, out: torch.zeros_like(out)}):
                _, off = run_with_cache(block, x, names=["attn.hook_logits"])
            _, on = run_with_cache(block, x, names=["attn.hook_probs", "attn.hook_mask"])
        cols = W // M
        for w in (0, cols - 1, len(on["attn.hook_mask"]) - 1):
            n_regions = len(set(window_partition(region_labels(H, W, M, s)[None, :, :, None], M)[w].flatten().tolist()))
            name = f"{H} x {W} map, M={M}: window {w} ({n_regions} region{'s' if n_regions > 1 else ''})"
            out.append((name, off["attn.hook_logits"][w], on["attn.hook_mask"][w], on["attn.hook_probs"][w]))
    return out


def _explain_softmax(got: Any, logits: torch.Tensor, mask: torch.Tensor, want: torch.Tensor) -> str:
    why = explain_difference(got, want, "probabilities")
    if not why:
        return ""
    if not isinstance(got, torch.Tensor) or got.shape != want.shape:
        return why + " -- one (N, N) matrix of probabilities per head, like the logits"
    g = got.detach().double()
    l, m = logits.double(), mask.double()
    close = lambda a: torch.allclose(g, a, atol=1e-5, rtol=1e-4)  # noqa: E731
    if close(torch.softmax(l, dim=-1)):
        leak = float(torch.softmax(l, dim=-1)[..., m != 0].sum() / (m != 0).any(-1).sum().clamp(min=1) / l.shape[0])
        return (
            f"the mask is not applied: queries that have keys from other regions give them {leak:.0%} of their "
            "attention on average. Add the mask to the logits before the softmax"
        )
    if close(torch.softmax(l + m, dim=-2)) or close(torch.softmax(l, dim=-2)):
        return "the softmax runs over the queries (dim=-2): each row (one query) must sum to 1, so use dim=-1"
    if close(torch.softmax(l * m, dim=-1)):
        return "the mask is multiplied with the logits; it is *added*: softmax(logits + mask)"
    if close(torch.softmax(l - m, dim=-1)):
        return "the mask is subtracted: logits - (-100) favours pairs from different regions; add it"
    if close(torch.softmax(l, dim=-1) * (m == 0)) or close(torch.softmax(l, dim=-1) + m):
        return (
            "the mask is applied after the softmax, so the rows no longer sum to 1: add it to the logits before the "
            "softmax (zeroing afterwards works only if you renormalise each row)"
        )
    rows = g.sum(-1)
    if not torch.allclose(rows, torch.ones_like(rows), atol=1e-4):
        return why + f" -- and the rows sum to {rows.min():.3g}..{rows.max():.3g} instead of 1"
    across = float(g[..., m != 0].abs().max()) if (m != 0).any() else 0.0
    if across > 1e-6:
        return why + f" -- pairs from different regions still get probability up to {across:.3g}"
    return why


def check_masked_softmax(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Report:
    """Run ``fn(logits, mask)`` on windows of real blocks (see :func:`softmax_cases`) and compare with the block."""
    report = Report("softmax with the mask")
    for name, logits, mask, want in softmax_cases():
        got, why = run_student(fn, logits.clone(), mask.clone())
        if why:
            report.add(name, False, why)
            if why == NOT_WRITTEN:
                break
            continue
        why = _explain_softmax(got, logits, mask, want)
        if not why and (mask != 0).any():
            across = float(got.detach()[..., mask != 0].max())
            if across > 1e-6:
                why = f"pairs from different regions get probability up to {across:.3g}; expected 0"
        _add(report, name, why)
    if report.results and all(ok for _, ok, _ in report.results):
        report.add("probabilities across regions are 0 (to float precision) and every row sums to 1", True)
    return report
