import pytest
import torch

from swin_viz import RelativePositionBias, relative_offsets, relative_position_index


@pytest.mark.parametrize("M", [2, 4, 7, 12])
def test_index_covers_the_table_exactly(M: int) -> None:
    index = relative_position_index(M)
    assert index.shape == (M * M, M * M)
    assert index.unique().numel() == (2 * M - 1) ** 2  # 169 for M=7
    assert index.min() == 0 and index.max() == (2 * M - 1) ** 2 - 1
    # Same offset -> same entry; the diagonal (offset 0) is the centre of the table.
    assert torch.all(index.diagonal() == (M - 1) * (2 * M - 1) + (M - 1))


def test_index_formula() -> None:
    M = 7
    offsets = relative_offsets(M)  # (N, N, 2)
    index = relative_position_index(M)
    i, j = 10, 40  # query (1, 3), key (5, 5)
    dy, dx = offsets[i, j].tolist()
    assert (dy, dx) == (1 - 5, 3 - 5)
    assert index[i, j] == (dy + M - 1) * (2 * M - 1) + (dx + M - 1)


def test_the_2m_minus_2_multiplier_collides() -> None:
    """A common slip: multiplying by 2M-2 maps different offsets to the same entry."""
    M = 7
    offsets = relative_offsets(M) + (M - 1)
    wrong = offsets[..., 0] * (2 * M - 2) + offsets[..., 1]
    assert wrong.unique().numel() == 157 < 169


def test_bias_module_reads_the_table() -> None:
    rpb = RelativePositionBias(window_size=7, num_heads=3)
    bias = rpb()
    assert bias.shape == (3, 49, 49)
    index = relative_position_index(7)
    assert torch.equal(bias[2, 5, 17], rpb.table[index[5, 17], 2])
    # A smaller window reads the same offsets from the centre of the table.
    small = rpb((3, 5))
    assert small.shape == (3, 15, 15)
    small_index = relative_position_index((3, 5), table_size=7)
    assert torch.equal(small[1], rpb.table[small_index.reshape(-1), 1].reshape(15, 15))
    offs = relative_offsets((3, 5))
    big_offs = relative_offsets(7)
    # Query (0,0) / key (2,4) in the small window has the offset of query (0,0) / key (2,4) in the big one.
    assert torch.equal(offs[0, 14], big_offs[0, 2 * 7 + 4])
    assert torch.equal(small[:, 0, 14], bias[:, 0, 2 * 7 + 4])
    with pytest.raises(ValueError, match="larger than the bias table"):
        relative_position_index(8, table_size=7)
