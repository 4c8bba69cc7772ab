import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from swin_viz import (
    MASK_VALUE,
    cyclic_shift,
    region_labels,
    reverse_cyclic_shift,
    shifted_window_mask,
    window_partition,
)


def official_style_labels(H: int, W: int, M: int, s: int) -> torch.Tensor:
    """The paper's construction, written independently: label the rolled map with three slices per axis."""
    img = torch.zeros(H, W, dtype=torch.long)
    cnt = 0
    for hs in (slice(0, -M), slice(-M, -s), slice(-s, None)):
        for ws in (slice(0, -M), slice(-M, -s), slice(-s, None)):
            img[hs, ws] = cnt
            cnt += 1
    return img


def test_cyclic_shift_moves_tokens_up_and_left() -> None:
    x = torch.arange(8 * 8).reshape(1, 8, 8, 1)
    y = cyclic_shift(x, 2)
    assert y[0, 0, 0, 0] == x[0, 2, 2, 0]  # token (2, 2) is now top-left
    assert y[0, -1, -1, 0] == x[0, 1, 1, 0]  # token (1, 1) wrapped round to bottom-right
    # The roll moves tokens, not whole blocks: every row is still a row of the original map.
    assert torch.equal(y[0, 0, :, 0], torch.roll(x[0, 2, :, 0], -2))


@settings(max_examples=60, deadline=None)
@given(H=st.integers(1, 20), W=st.integers(1, 20), sh=st.integers(0, 19), sw=st.integers(0, 19))
def test_shift_and_reverse_are_exact_inverses(H: int, W: int, sh: int, sw: int) -> None:
    x = torch.randn(2, H, W, 3)
    assert torch.equal(reverse_cyclic_shift(cyclic_shift(x, (sh, sw)), (sh, sw)), x)


@pytest.mark.parametrize(("H", "W", "M"), [(8, 8, 4), (56, 56, 7), (28, 14, 7), (12, 9, 3)])
def test_region_labels_match_the_official_slices(H: int, W: int, M: int) -> None:
    s = M // 2
    labels = region_labels(H, W, M, s)
    assert torch.equal(labels, official_style_labels(H, W, M, s))
    assert labels.unique().tolist() == list(range(9))


def test_region_labels_without_shift_are_one_region() -> None:
    assert region_labels(14, 14, 7, 0).unique().tolist() == [0]
    # Shift on one axis only: three bands across W, one down H.
    assert region_labels(7, 14, (7, 7), (0, 3)).unique().tolist() == [0, 1, 2]


@settings(max_examples=50, deadline=None)
@given(rows=st.integers(1, 5), cols=st.integers(1, 5), M=st.integers(2, 8), data=st.data())
def test_mask_properties(rows: int, cols: int, M: int, data: st.DataObject) -> None:
    s = data.draw(st.integers(1, M - 1))
    H, W = rows * M, cols * M
    mask = shifted_window_mask(H, W, M, s)
    nW, N = rows * cols, M * M
    assert mask.shape == (nW, N, N)
    assert torch.equal(mask, mask.transpose(1, 2))  # symmetric
    assert torch.all(mask.diagonal(dim1=1, dim2=2) == 0)  # a token always sees itself
    assert set(mask.unique().tolist()) <= {0.0, MASK_VALUE}
    labels = window_partition(region_labels(H, W, M, s)[None, :, :, None], M).reshape(nW, N)
    # Regions per window: 1 inside, 2 on the last row or column of windows, 4 in the corner.
    regions = [len(labels[w].unique()) for w in range(nW)]
    expected = [1 + (r == rows - 1) + (c == cols - 1) + (r == rows - 1 and c == cols - 1)
                for r in range(rows) for c in range(cols)]  # fmt: skip
    assert regions == expected
    # Masked pairs are exactly the pairs of different regions.
    assert torch.equal(mask == 0, labels[:, :, None] == labels[:, None, :])


def test_mask_of_swin_t_stage1() -> None:
    mask = shifted_window_mask(56, 56, 7, 3)
    assert mask.shape == (64, 49, 49)
    # The official constant, as a number: -100 (exp(-100) ~ 4e-44 underflows next to in-region logits).
    assert MASK_VALUE == -100.0 and set(mask.unique().tolist()) == {-100.0, 0.0}
    masked_windows = (mask != 0).flatten(1).any(1)
    assert int(masked_windows.sum()) == 15  # last row (8) + last column (8) - corner counted once
    assert shifted_window_mask(56, 56, 7, 0).abs().sum() == 0


def test_bad_shift_raises() -> None:
    with pytest.raises(ValueError, match="need 0 <= shift < window"):
        shifted_window_mask(14, 14, 7, 7)
    with pytest.raises(ValueError, match="must divide H=15"):
        region_labels(15, 14, 7, 3)
    with pytest.raises(ValueError, match="shift_size must be >= 0"):
        cyclic_shift(torch.zeros(1, 4, 4, 1), -1)
