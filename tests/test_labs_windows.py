"""Lab 3 checks: a correct answer passes; typical mistakes fail with an explanation that names them."""

import torch

import swin_viz
from swin_course.windows import check_omega, check_window_partition, check_window_reverse


def partition(x, M):
    B, H, W, C = x.shape
    return x.reshape(B, H // M, M, W // M, M, C).permute(0, 1, 3, 2, 4, 5).reshape(-1, M, M, C)


def reverse(windows, M, H, W):
    B = windows.shape[0] // ((H // M) * (W // M))
    return windows.reshape(B, H // M, W // M, M, M, -1).permute(0, 1, 3, 2, 4, 5).reshape(B, H, W, -1)


def test_correct_functions_and_the_library_pass() -> None:
    assert check_window_partition(partition).passed
    assert "the library's own" in str(check_window_partition(swin_viz.window_partition))  # the reference is refused
    assert check_window_reverse(reverse).passed
    assert "the library's own" in str(check_window_reverse(swin_viz.window_reverse))  # the reference is refused


def test_partition_mistakes_are_explained() -> None:
    def no_permute(x, M):
        return x.reshape(-1, M, M, x.shape[-1])

    def strided(x, M):  # each axis split as (M, H/M): every (H/M)-th token
        B, H, W, C = x.shape
        return x.reshape(B, M, H // M, M, W // M, C).permute(0, 2, 4, 1, 3, 5).reshape(-1, M, M, C)

    def column_major(x, M):
        B, H, W, C = x.shape
        return x.reshape(B, H // M, M, W // M, M, C).permute(0, 3, 1, 2, 4, 5).reshape(-1, M, M, C)

    def transposed(x, M):
        B, H, W, C = x.shape
        return x.reshape(B, H // M, M, W // M, M, C).permute(0, 1, 3, 4, 2, 5).reshape(-1, M, M, C)

    def per_image(x, M):
        return partition(x, M).reshape(x.shape[0], -1, M, M, x.shape[-1])

    def not_written(x, M):
        raise NotImplementedError

    cases = {
        no_permute: "consecutive tokens in reading order",
        strided: "strided tokens",
        column_major: "windows are in a different order",
        transposed: "transposed",
        per_image: "merge the image and window axes",
        not_written: "not written yet",
    }
    for fn, words in cases.items():
        report = check_window_partition(fn)
        assert not report.passed, fn.__name__
        assert words in str(report), (fn.__name__, str(report))


def test_reverse_mistakes_are_explained() -> None:
    def straight(windows, M, H, W):
        return windows.reshape(-1, H, W, windows.shape[-1])

    def grid_swapped(windows, M, H, W):
        B = windows.shape[0] // ((H // M) * (W // M))
        return windows.reshape(B, W // M, H // M, M, M, -1).permute(0, 1, 3, 2, 4, 5).reshape(B, H, W, -1)

    def inexact(windows, M, H, W):
        return reverse(windows, M, H, W) * (1 + 1e-7)

    for fn, words in {straight: "straight into the map", grid_swapped: "W/M rows and H/M columns",
                      inexact: "not bit for bit"}.items():  # fmt: skip
        report = check_window_reverse(fn)
        assert not report.passed, fn.__name__
        assert words in str(report), (fn.__name__, str(report))


def test_omega_predictions() -> None:
    h, w, C, M = 56, 56, 96, 7
    n = h * w
    assert check_omega(swin_viz.omega_msa(h, w, C), swin_viz.omega_wmsa(h, w, C, M), h, w, C, M).passed
    assert check_omega(4 * n * C**2 + 2 * n**2 * C, 4 * n * C**2 + 2 * M**2 * n * C, h, w, C, M).passed
    flops = str(check_omega(2 * swin_viz.omega_msa(h, w, C), 4 * n * C**2 + 2 * M * n * C, h, w, C, M))
    assert "FLOPs" in flops and "M where M^2 belongs" in flops
    one = str(check_omega(4 * n * C**2 + n**2 * C, 4 * n * C**2 + M**2 * n * C, h, w, C, M))
    assert one.count("you counted one of them") == 2
    window = str(check_omega(3 * n * C**2 + 2 * n**2 * C, 4 * M**2 * C**2 + 2 * M**4 * C, h, w, C, M))
    assert "output projection" in window and "that is one window" in window
    swapped = check_omega(swin_viz.omega_wmsa(h, w, C, M), swin_viz.omega_msa(h, w, C), h, w, C, M)
    assert not swapped.passed and "swapped" in str(swapped)
    assert "not written yet" in str(check_omega(None, ..., h, w, C, M))
    assert check_omega(torch.tensor(float(swin_viz.omega_msa(h, w, C))), float(swin_viz.omega_wmsa(h, w, C, M)),
                       h, w, C, M).passed  # fmt: skip
