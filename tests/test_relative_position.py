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


def test_distinct_offsets_never_share_a_table_row() -> None:
    """The slip the multiplier 2M-2 makes: different offsets on the same row (157 rows for 169 offsets at M=7).
    The library's index must be one-to-one between the (2M-1)^2 offsets and the table's rows."""
    M = 7
    offsets = relative_offsets(M).reshape(-1, 2)
    index = relative_position_index(M).reshape(-1)
    row_of = {}
    for (dy, dx), row in zip(offsets.tolist(), index.tolist()):
        assert row_of.setdefault((dy, dx), row) == row  # same offset, same row
    assert len(set(row_of.values())) == len(row_of) == 169  # and no two offsets on one row


def test_index_corners_for_m7() -> None:
    """Values the formula gives by hand (REFERENCE.md), so a change to it cannot hide behind its own output."""
    index = relative_position_index(7)
    assert index[0, 48] == 0  # query (0, 0), key (6, 6): offset (-6, -6), the first row
    assert index[48, 0] == 168  # offset (6, 6), the last row
    assert index[0, 6] == 78  # offset (0, -6): (0 + 6) * 13 + (-6 + 6)
    assert index[6, 0] == 90  # offset (0, 6): 6 * 13 + 12
    assert index[7, 0] == 97  # query (1, 0), key (0, 0): offset (1, 0): (1 + 6) * 13 + (0 + 6)


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
