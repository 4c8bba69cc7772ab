"""Lab 4 checks: a correct answer passes; typical mistakes fail with an explanation that names them."""

import torch

import swin_viz
from swin_course.shift import (
    NAIVE_CASES,
    check_cyclic_shift,
    check_naive_windows,
    check_region_labels,
    naive_window_count,
)


def shift(x, s):
    return torch.roll(x, shifts=(-s, -s), dims=(1, 2))


def unshift(x, s):
    return torch.roll(x, shifts=(s, s), dims=(1, 2))


def regions(H, W, M, s):
    labels = torch.zeros(H, W, dtype=torch.long)
    count = 0
    for h in (slice(0, -M), slice(-M, -s), slice(-s, None)):
        for w in (slice(0, -M), slice(-M, -s), slice(-s, None)):
            labels[h, w] = count
            count += 1
    return labels


def test_cyclic_shift_passes_and_mistakes_are_explained() -> None:
    assert check_cyclic_shift(shift, unshift).passed
    assert "the library's own" in str(check_cyclic_shift(swin_viz.cyclic_shift, swin_viz.reverse_cyclic_shift))
    wrong_way = str(check_cyclic_shift(unshift, shift))
    assert "rolled by +s" in wrong_way and "rolled by -s" in wrong_way
    dims = str(check_cyclic_shift(lambda x, s: torch.roll(x, (-s, -s), (2, 3)), lambda x, s: x))
    assert "rolled dims (2, 3)" in dims and "returned the map unchanged" in dims
    flat = check_cyclic_shift(lambda x, s: torch.roll(x, -s), unshift)
    assert not flat.passed and "without dims flattens" in str(flat)


def test_region_labels_pass_and_mistakes_are_explained() -> None:
    assert check_region_labels(regions).passed
    assert check_region_labels(lambda H, W, M, s: regions(H, W, M, s).numpy()).passed

    def two_slices(H, W, M, s):
        labels = torch.zeros(H, W, dtype=torch.long)
        count = 0
        for h in (slice(0, -s), slice(-s, None)):
            for w in (slice(0, -s), slice(-s, None)):
                labels[h, w] = count
                count += 1
        return labels

    def inside_windows(H, W, M, s):  # the slices applied to every window instead of the image
        windows = swin_viz.window_partition(torch.zeros(1, H, W, 1, dtype=torch.long), M)
        count = 0
        for h in (slice(0, -M), slice(-M, -s), slice(-s, None)):
            for w in (slice(0, -M), slice(-M, -s), slice(-s, None)):
                windows[:, h, w] = count
                count += 1
        return swin_viz.window_reverse(windows, M, H, W)[0, ..., 0]

    def axes_swapped(H, W, M, s):
        labels = regions(H, W, M, s)
        return 3 * (labels % 3) + labels // 3

    def cut_at_minus_m(H, W, M, s):
        rows, cols = torch.arange(H) >= H - M, torch.arange(W) >= W - M
        return 3 * rows.long()[:, None] + cols.long()[None, :]

    # Labels that give the official mask are accepted: chapter 5 shows the cut at -M lies on a window border, so the
    # two slices (0, -s), (-s, None) make the same mask, and so does any renumbering of the nine regions.
    assert check_region_labels(two_slices).passed
    assert check_region_labels(axes_swapped).passed
    for fn, words in {inside_windows: "image and window coordinates are mixed up",
                      cut_at_minus_m: "two slices, (0, -M) and (-M, None)"}.items():  # fmt: skip
        report = check_region_labels(fn)
        assert not report.passed, fn.__name__
        assert words in str(report), (fn.__name__, str(report))


def test_naive_window_count_matches_the_regions() -> None:
    """The naive windows are exactly the (window, region) pieces of the cyclically shifted map."""
    for H, W, M, s in NAIVE_CASES:
        if s == 0:
            assert naive_window_count(H, W, M, s) == swin_viz.num_windows(H, W, M)
            continue
        labels = swin_viz.region_labels(H, W, M, s)
        per_window = swin_viz.window_partition(labels[None, :, :, None], M).reshape(-1, M * M)
        pieces = sum(len(set(row.tolist())) for row in per_window)
        assert naive_window_count(H, W, M, s) == pieces


def test_naive_windows_pass_and_mistakes_are_explained() -> None:
    def right(H, W, M, s):
        return (H // M + 1) * (W // M + 1) if s else (H // M) * (W // M)

    assert check_naive_windows(right).passed
    regular = str(check_naive_windows(lambda H, W, M, s: (H // M) * (W // M)))
    assert "regular partition" in regular
    always_shifted = check_naive_windows(lambda H, W, M, s: (H // M + 1) * (W // M + 1))
    assert not always_shifted.passed and "with s = 0" in str(always_shifted)
    square = str(check_naive_windows(lambda H, W, M, s: (H // M + 1) ** 2 if s else (H // M) ** 2))
    assert "both axes counted with H" in square
