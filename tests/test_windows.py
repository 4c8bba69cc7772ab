import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from swin_viz import effective_window, num_windows, pad_to_window, window_partition, window_reverse


def test_window_partition_layout() -> None:
    x = torch.arange(8 * 8).reshape(1, 8, 8, 1).float()
    w = window_partition(x, 4)
    assert w.shape == (4, 4, 4, 1)
    # Windows are numbered row by row: window 1 is the top-right 4x4 block.
    assert torch.equal(w[1, ..., 0], x[0, 0:4, 4:8, 0])
    assert torch.equal(w[2, ..., 0], x[0, 4:8, 0:4, 0])


@settings(max_examples=60, deadline=None)
@given(
    B=st.integers(1, 3), rows=st.integers(1, 4), cols=st.integers(1, 4), Mh=st.integers(1, 7),
    Mw=st.integers(1, 7), C=st.integers(1, 5),
)  # fmt: skip
def test_partition_and_reverse_are_exact_inverses(B: int, rows: int, cols: int, Mh: int, Mw: int, C: int) -> None:
    H, W = rows * Mh, cols * Mw
    x = torch.randn(B, H, W, C)
    windows = window_partition(x, (Mh, Mw))
    assert windows.shape == (B * rows * cols, Mh, Mw, C)
    assert torch.equal(window_reverse(windows, (Mh, Mw), H, W), x)
    # Every window holds a contiguous block of the map.
    b, r, c = B - 1, rows - 1, cols - 1
    assert torch.equal(windows[(b * rows + r) * cols + c], x[b, r * Mh : (r + 1) * Mh, c * Mw : (c + 1) * Mw])


def test_partition_error_names_the_constraint() -> None:
    with pytest.raises(ValueError, match=r"window_size 7 must divide H=30; pad or resize"):
        window_partition(torch.zeros(1, 30, 28, 4), 7)
    with pytest.raises(ValueError, match=r"\(B, H, W, C\)"):
        window_partition(torch.zeros(30, 28, 4), 7)
    with pytest.raises(ValueError, match="not a whole number"):
        window_reverse(torch.zeros(5, 7, 7, 4), 7, 14, 14)


@settings(max_examples=40, deadline=None)
@given(H=st.integers(1, 30), W=st.integers(1, 30), M=st.integers(1, 9))
def test_pad_to_window_pads_bottom_right_with_zeros(H: int, W: int, M: int) -> None:
    x = torch.randn(1, H, W, 2) + 5.0
    padded, (ph, pw) = pad_to_window(x, M)
    Hp, Wp = padded.shape[1:3]
    assert Hp % M == 0 and Wp % M == 0 and Hp - H == ph < M and Wp - W == pw < M
    assert torch.equal(padded[:, :H, :W], x)
    assert padded[:, H:].abs().sum() == 0 and padded[:, :, W:].abs().sum() == 0
    assert num_windows(H, W, M) == (Hp // M) * (Wp // M)


def test_effective_window_clamps_small_maps_per_axis() -> None:
    assert effective_window(56, 56, 7, 3) == ((7, 7), (3, 3))
    assert effective_window(7, 7, 7, 3) == ((7, 7), (0, 0))  # Swin-T stage 4 at 224: one window, no shift
    assert effective_window(5, 5, 7, 3) == ((5, 5), (0, 0))
    assert effective_window(7, 5, 7, 3) == ((7, 5), (0, 0))
    assert effective_window(10, 5, 7, 3) == ((7, 5), (3, 0))
    with pytest.raises(ValueError, match="need 0 <= shift < window"):
        effective_window(56, 56, 7, 7)
