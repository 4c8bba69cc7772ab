"""Lab 11 (capstone) checks: the lab's own solution passes; slips and the library's parts are caught and explained."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
import torch
from torch import nn

import swin_viz
from swin_course.capstone import check_swin_block, check_swin_t, check_window_attention

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def solution() -> dict[str, object]:
    """The capstone's solution cells, run in one namespace as a student's notebook would."""
    nb = nbformat.read(ROOT / "notebooks" / "lab11_capstone.ipynb", as_version=4)
    namespace: dict[str, object] = {"__name__": "capstone_solution"}
    exec("import torch\nimport torch.nn.functional as F\nfrom torch import nn", namespace)
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source.startswith("# BEGIN SOLUTION NO PROMPT"):
            exec(cell.source, namespace)
    return namespace


def reasons(report) -> str:
    return " | ".join(why for _, ok, why in report.results if not ok)


def test_the_solution_matches_the_library(solution) -> None:
    assert check_window_attention(solution["MyWindowAttention"]).passed
    assert check_swin_block(solution["MySwinBlock"]).passed
    report = check_swin_t(solution["MySwinT"])
    assert report.passed and "the same top-5 classes" in str(report)


def test_attention_slips_are_caught(solution) -> None:
    base = solution["MyWindowAttention"]

    class NoBias(base):
        def forward(self, x, mask=None):
            table = self.relative_position_bias_table
            with torch.no_grad():
                saved = table.clone()
                table.zero_()
            try:
                return super().forward(x, mask)
            finally:
                with torch.no_grad():
                    table.copy_(saved)

    assert "differs from swin_viz's" in reasons(check_window_attention(NoBias))

    class PersistentIndex(base):
        def __init__(self, dim, num_heads, window_size):
            super().__init__(dim, num_heads, window_size)
            self.register_buffer("relative_position_index", self.relative_position_index.clone())

    text = reasons(check_window_attention(PersistentIndex))
    assert "do not load" in text and "relative_position_index" in text and "persistent=False" in text


def test_block_slips_and_the_library_are_caught(solution) -> None:
    base = solution["MySwinBlock"]

    class NoMask(base):
        def forward(self, x):
            mask_fn = solution["my_shifted_window_mask"]  # the block finds it in the notebook's globals
            solution["my_shifted_window_mask"] = lambda H, W, M, s: torch.zeros((H // M) * (W // M), M * M, M * M)
            try:
                return super().forward(x)
            finally:
                solution["my_shifted_window_mask"] = mask_fn

    report = check_swin_block(NoMask)
    assert [ok for _, ok, _ in report.results] == [True, False, False]  # the W-MSA block needs no mask

    class Library(nn.Module):
        def __init__(self, dim, num_heads, window_size, shift_size):
            super().__init__()
            self.inner = swin_viz.SwinBlock(dim, num_heads, window_size, shift_size=shift_size)

    assert "the library's own SwinBlock" in reasons(check_swin_block(Library))


def test_stubs_are_not_written_yet() -> None:
    class Stub(nn.Module):
        def __init__(self, *args):
            super().__init__()
            raise NotImplementedError

    for check in (check_window_attention, check_swin_block, check_swin_t):
        report = check(Stub)
        assert not report.passed and report.results and all("not written yet" in w for _, _, w in report.results)
