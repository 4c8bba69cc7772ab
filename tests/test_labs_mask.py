"""The lab-5 checks: a correct mask / prediction / softmax passes; typical mistakes fail with their explanation."""

from __future__ import annotations

import pytest
import torch

import swin_viz
from swin_course.mask import check_masked_softmax, check_masked_windows, check_shifted_window_mask


def own_mask(H, W, M, s):
    """The lab's solution, written without swin_viz.shifted_window_mask."""
    labels = torch.zeros(H, W, dtype=torch.long)
    cuts = (slice(0, -M), slice(-M, -s), slice(-s, None))
    for i, rows in enumerate(cuts):
        for j, cols in enumerate(cuts):
            labels[rows, cols] = 3 * i + j
    windows = swin_viz.window_partition(labels[None, :, :, None], M).reshape(-1, M * M)
    different = windows[:, :, None] != windows[:, None, :]
    return torch.zeros(different.shape).masked_fill(different, swin_viz.MASK_VALUE)


def mask_from_cuts(cuts, value: float = -100.0, compare: str = "!=", order: str = "rows", partition: bool = True):
    """A student's mask: label the rolled map slice by slice, cut it into windows, compare labels pairwise."""

    def mask(H: int, W: int, M: int, s: int) -> torch.Tensor:
        labels = torch.zeros(H, W, dtype=torch.long)
        k = 0
        for rows in cuts(M, s):
            for cols in cuts(M, s):
                labels[rows, cols] = k
                k += 1
        if partition:
            windows = labels.reshape(H // M, M, W // M, M).permute(0, 2, 1, 3)
            if order == "columns":
                windows = windows.transpose(0, 1)
            windows = windows.reshape(-1, M * M)
        else:
            windows = labels.reshape(-1, M * M)
        a, b = windows[:, :, None], windows[:, None, :]
        blocked = {"!=": a != b, "==": a == b, "<": a < b}[compare]
        return torch.zeros(blocked.shape).masked_fill(blocked, value)

    return mask


def three(M: int, s: int) -> list[slice]:
    return [slice(0, -M), slice(-M, -s), slice(-s, None)]


def test_correct_mask_passes() -> None:
    assert check_shifted_window_mask(mask_from_cuts(three)).passed
    assert check_shifted_window_mask(own_mask).passed
    refused = str(check_shifted_window_mask(swin_viz.shifted_window_mask))
    assert "the library's own shifted_window_mask" in refused and "switched off" in refused
    alias = swin_viz.shifted_window_mask

    def calls_alias(H, W, M, s):
        return alias(H, W, M, s)

    assert "the library's own shifted_window_mask" in str(check_shifted_window_mask(calls_alias))


def test_two_cuts_at_minus_s_are_enough() -> None:
    """The cut at -M lies on a window border: two slices (0, -s), (-s, None) give the same mask."""
    assert check_shifted_window_mask(mask_from_cuts(lambda M, s: [slice(0, -s), slice(-s, None)])).passed


@pytest.mark.parametrize(
    ("student", "expected"),
    [
        (mask_from_cuts(lambda M, s: [slice(0, -M), slice(-M, None)]), "two slices, (0, -M) and (-M, None)"),
        (mask_from_cuts(lambda M, s: [slice(0, -M), slice(-M, -s)]), "never labelled"),
        (mask_from_cuts(three, value=1.0), "positive values *favour*"),
        (mask_from_cuts(three, value=-1e9), "instead of -100.0"),
        (mask_from_cuts(three, value=float("-inf")), "-inf"),
        (mask_from_cuts(three, compare="=="), "blocks the wrong pairs"),
        (mask_from_cuts(three, compare="<"), "not symmetric"),
        (mask_from_cuts(three, order="columns"), "column by column"),
        (mask_from_cuts(three, partition=False), "plain labels.reshape(-1, M*M)"),
        (lambda H, W, M, s: own_mask(H, W, M, s) != 0, "the mask is bool"),
        (lambda H, W, M, s: swin_viz.region_labels(H, W, M, s), "that is a label map"),
    ],
)
def test_typical_mask_mistakes_are_explained(student, expected: str) -> None:
    report = check_shifted_window_mask(student)
    assert not report.passed
    assert expected in str(report), str(report)


def test_unwritten_mask_says_so() -> None:
    def stub(H, W, M, s):
        raise NotImplementedError

    assert "not written yet" in str(check_shifted_window_mask(stub))


def test_masked_windows_prediction() -> None:
    # a 56 x 84 map, M = 7: 8 x 12 windows, the last row and column need the mask (chapter 5 prints 224 x 224 only)
    assert check_masked_windows(19).passed
    assert "corner window is in both" in str(check_masked_windows(20))
    assert "not all 96 windows" in str(check_masked_windows(96))
    assert "need *no* mask" in str(check_masked_windows(77))
    assert "last row *and* the last column" in str(check_masked_windows(12))
    regions = str(check_masked_windows(9))
    assert "9 is the number of regions" in regions and regions.count("9 ") == 1  # the value is said once
    assert "you predicted 5:" in str(check_masked_windows(5))
    assert "not written yet" in str(check_masked_windows(None))


def test_masked_softmax() -> None:
    assert check_masked_softmax(lambda logits, mask: torch.softmax(logits + mask, dim=-1)).passed

    def renormalised(logits, mask):  # zero after the softmax, then renormalise: the same probabilities
        p = torch.softmax(logits, dim=-1) * (mask == 0)
        return p / p.sum(-1, keepdim=True)

    assert check_masked_softmax(renormalised).passed


@pytest.mark.parametrize(
    ("student", "expected"),
    [
        (lambda logits, mask: torch.softmax(logits, dim=-1), "the mask is not applied"),
        (lambda logits, mask: torch.softmax(logits + mask, dim=-2), "dim=-1"),
        (lambda logits, mask: torch.softmax(logits * mask, dim=-1), "multiplied"),
        (lambda logits, mask: torch.softmax(logits - mask, dim=-1), "subtracted"),
        (lambda logits, mask: torch.softmax(logits, dim=-1) * (mask == 0), "after the softmax"),
    ],
)
def test_typical_softmax_mistakes_are_explained(student, expected: str) -> None:
    report = check_masked_softmax(student)
    assert not report.passed
    assert expected in str(report), str(report)


@pytest.mark.parametrize(("h", "w", "M", "s"), [(8, 8, 4, 2), (56, 56, 7, 3), (56, 84, 7, 3), (12, 20, 4, 1),
                                                (28, 28, 7, 5), (14, 7, 7, 3)])  # fmt: skip
def test_the_proof_of_exercise_4_counts_what_the_mask_holds(h: int, w: int, M: int, s: int) -> None:
    """Lab 5's graded proof: h/M + w/M - 1 windows need the mask, and they block
    2ab[(h/M + w/M - 2)M^2 + M^2 + a^2 + b^2] (query, key) pairs, a = M - s, b = s (the solution's formulas)."""
    mask = swin_viz.shifted_window_mask(h, w, M, s)
    a, b = M - s, s
    assert int((mask != 0).flatten(1).any(1).sum()) == h // M + w // M - 1
    assert int((mask != 0).sum()) == 2 * a * b * ((h // M + w // M - 2) * M**2 + M**2 + a**2 + b**2)
