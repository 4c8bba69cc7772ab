"""The lab-6 checks: a correct index / gather / prediction passes; typical mistakes fail with their explanation."""

from __future__ import annotations

import pytest
import torch

import swin_viz
from swin_course.relative_position import check_gather_bias, check_relative_position_index, check_table_size


def index_from(formula):
    """A student's index: offsets (dy, dx) = query - key of the row-by-row tokens, combined by ``formula``."""

    def index(M: int) -> torch.Tensor:
        ys, xs = torch.meshgrid(torch.arange(M), torch.arange(M), indexing="ij")
        coords = torch.stack([ys.flatten(), xs.flatten()], dim=-1)
        d = coords[:, None, :] - coords[None, :, :]
        return formula(d[..., 0], d[..., 1], M)

    return index


def test_correct_index_passes() -> None:
    assert check_relative_position_index(index_from(lambda dy, dx, M: (dy + M - 1) * (2 * M - 1) + dx + M - 1)).passed
    assert "the library's own" in str(check_relative_position_index(swin_viz.relative_position_index))


@pytest.mark.parametrize(
    ("formula", "expected"),
    [
        (lambda dy, dx, M: (dy + M - 1) * (2 * M - 2) + dx + M - 1, "157 distinct rows instead of 169"),
        (lambda dy, dx, M: (dx + M - 1) * (2 * M - 1) + dy + M - 1, "dy and dx are swapped"),
        (lambda dy, dx, M: dy * (2 * M - 1) + dx, "not shifted by M - 1"),
        (lambda dy, dx, M: (M - 1 - dy) * (2 * M - 1) + M - 1 - dx, "key minus query"),
        (lambda dy, dx, M: ((dy + M - 1) * (2 * M - 1) + dx + M - 1).float(), "integers"),
        (lambda dy, dx, M: (dy + M - 1) * (2 * M) + dx + M - 1, "the multiplier is 2M"),
    ],
)
def test_typical_index_mistakes_are_explained(formula, expected: str) -> None:
    report = check_relative_position_index(index_from(formula))
    assert not report.passed
    assert expected in str(report), str(report)


def gather(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    N, heads = index.shape[0], table.shape[1]
    return table[index.reshape(-1)].reshape(N, N, heads).permute(2, 0, 1)


def test_correct_gather_passes() -> None:
    assert check_gather_bias(gather).passed


@pytest.mark.parametrize(
    ("student", "expected"),
    [
        (lambda table, index: table[index], "the heads are last"),
        (lambda table, index: table[index.reshape(-1)].reshape(table.shape[1], *index.shape), "then permute(2, 0, 1)"),
        (lambda table, index: gather(table, index.T), "transposed"),
    ],
)
def test_typical_gather_mistakes_are_explained(student, expected: str) -> None:
    report = check_gather_bias(student)
    assert not report.passed
    assert expected in str(report), str(report)


def test_table_size_prediction() -> None:
    assert check_table_size(23**2, 12**4).passed
    text = str(check_table_size(24**2, 12**2))
    assert "2M - 1 values per axis, not 2M" in text and "M^2 is the number of tokens" in text
    assert "square it" in str(check_table_size(23, 12**4))
    assert "not written yet" in str(check_table_size(None, None))


def _resize(table: torch.Tensor, new_M: int, mode: str = "bicubic", align_corners: bool = False,
            transpose: bool = False) -> torch.Tensor:  # fmt: skip
    side, heads = round(table.shape[0] ** 0.5), table.shape[1]
    if 2 * new_M - 1 == side and mode == "bicubic" and not transpose:
        return table
    grid = table.T.reshape(1, heads, side, side)
    grid = grid.transpose(-1, -2) if transpose else grid
    out = torch.nn.functional.interpolate(grid, size=(2 * new_M - 1,) * 2, mode=mode, align_corners=align_corners)
    return out.reshape(heads, -1).T  # transpose=True: the rows come out in (dx, dy) order


def test_correct_resize_passes_and_the_library_is_refused() -> None:
    from swin_course.relative_position import check_resize_bias_table
    from swin_viz.relative_position import resize_bias_table

    assert check_resize_bias_table(_resize).passed
    refused = check_resize_bias_table(lambda t, M: resize_bias_table(t, M))
    assert not refused.passed and "switched off" in str(refused)
    assert "not written yet" in str(check_resize_bias_table(lambda t, M: (_ for _ in ()).throw(NotImplementedError)))


@pytest.mark.parametrize(("kwargs", "expected"), [
    (dict(mode="bilinear"), "bilinear"),
    (dict(align_corners=True), "align_corners=True"),
    (dict(transpose=True), "(dx, dy) order"),
])  # fmt: skip
def test_typical_resize_mistakes_are_explained(kwargs: dict, expected: str) -> None:
    from swin_course.relative_position import check_resize_bias_table

    report = check_resize_bias_table(lambda t, M: _resize(t, M, **kwargs))
    assert not report.passed and expected in str(report)
