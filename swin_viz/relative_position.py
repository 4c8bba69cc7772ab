"""Relative position bias (paper, Sec. 3.2, eq. 4).

Inside a window, attention adds a learned bias that depends only on where the key sits *relative to* the
query: ``softmax(Q K^T / sqrt(d) + B) V``. Offsets ``(dy, dx)`` range over ``[-(M-1), M-1]`` on each axis, so
there are ``(2M-1)^2`` distinct biases (169 for M=7) per head, stored in a table and spread over the
``M^2 x M^2 = M^4`` query/key pairs (2401 for M=7) by an index:

    index = (dy + M - 1) * (2M - 1) + (dx + M - 1)

The multiplier is ``2M - 1``, the number of possible ``dx`` values; with ``2M - 2`` (a common slip) different
offsets collide in the table (157 distinct entries instead of 169 for M=7).
"""

from __future__ import annotations

import torch
from torch import nn

from ._validate import check_positive, pair

__all__ = ["RelativePositionBias", "relative_offsets", "relative_position_index"]


def relative_offsets(window_size: int | tuple[int, int]) -> torch.Tensor:
    """``(N, N, 2)`` offsets ``(dy, dx) = position(query) - position(key)`` for the ``N = Mh*Mw`` tokens of a window."""
    Mh, Mw = pair(window_size, "window_size")
    ys, xs = torch.meshgrid(torch.arange(Mh), torch.arange(Mw), indexing="ij")
    coords = torch.stack([ys.flatten(), xs.flatten()], dim=-1)  # (N, 2), tokens row by row
    return coords[:, None, :] - coords[None, :, :]


def relative_position_index(window_size: int | tuple[int, int], table_size: int | None = None) -> torch.Tensor:
    """``(N, N)`` row of the bias table for each query/key pair of a window.

    ``table_size`` is the ``M`` the table was built for (default: the window itself). A window smaller
    than the table (a map smaller than M, see :func:`swin_viz.effective_window`) reads the centre of the
    table: the same offsets mean the same bias.
    """
    Mh, Mw = pair(window_size, "window_size")
    if table_size is not None:
        check_positive(table_size, "table_size")
    M = max(Mh, Mw) if table_size is None else table_size
    if Mh > M or Mw > M:
        raise ValueError(f"window {(Mh, Mw)} is larger than the bias table's window M={M}")
    offsets = relative_offsets((Mh, Mw)) + (M - 1)  # shift to 0 .. 2M-2
    return offsets[..., 0] * (2 * M - 1) + offsets[..., 1]


class RelativePositionBias(nn.Module):
    """A learned ``((2M-1)^2, heads)`` table and the ``(heads, N, N)`` bias it gives a window.

    The table is initialised with a truncated normal (std 0.02), as in the official code. Hook point:
    ``<...>.attn.hook_rel_bias`` -- the bias that is added to the attention logits, ``(heads, N, N)``.
    """

    def __init__(self, window_size: int, num_heads: int) -> None:
        super().__init__()
        check_positive(window_size, "window_size")
        check_positive(num_heads, "num_heads")
        self.window_size = window_size
        self.num_heads = num_heads
        self.table = nn.Parameter(torch.zeros((2 * window_size - 1) ** 2, num_heads))
        nn.init.trunc_normal_(self.table, std=0.02)
        self.register_buffer("index", relative_position_index(window_size), persistent=False)

    def forward(self, window: tuple[int, int] | None = None) -> torch.Tensor:
        """Bias for an ``Mh x Mw`` window (default ``M x M``): ``(heads, Mh*Mw, Mh*Mw)``."""
        M = self.window_size
        window = pair(window if window is not None else M, "window")
        index = self.index if window == (M, M) else relative_position_index(window, table_size=M).to(self.table.device)
        N = index.shape[0]
        bias = self.table[index.reshape(-1)].reshape(N, N, self.num_heads)
        return bias.permute(2, 0, 1)

    def extra_repr(self) -> str:
        rows = (2 * self.window_size - 1) ** 2
        return f"window_size={self.window_size}, num_heads={self.num_heads}, table={rows}x{self.num_heads}"


# ------------------------------------------------------------------------------------------------------------------
# Moving a table to another window size (fine-tuning at a new resolution, e.g. 224/M=7 -> 384/M=12; issue 9).
def resize_bias_table(table: torch.Tensor, window_size: int) -> torch.Tensor:
    """Resize a ``((2M-1)^2, heads)`` bias table to ``((2M'-1)^2, heads)`` for window ``M' = window_size``.

    Row ``(dy + M-1) * (2M-1) + (dx + M-1)`` of the table is the bias of offset ``(dy, dx)``, so each head's column
    *is* a ``(2M-1) x (2M-1)`` grid over ``(dy, dx)``. Each grid is resized bicubically (``align_corners=False``,
    as the official code does when it loads a 224/M=7 checkpoint into a 384/M=12 model) and flattened back in the
    same row order. Same ``M``: the table is returned unchanged (bit for bit). Computed in float32 or wider; the
    result has the input's dtype.
    """
    if table.dim() != 2:
        raise ValueError(f"a relative position bias table is ((2M-1)^2, heads), got shape {tuple(table.shape)}")
    check_positive(window_size, "window_size")
    rows, heads = table.shape
    side = round(rows**0.5)
    if side * side != rows or side % 2 == 0:
        raise ValueError(f"a bias table has (2M-1)^2 rows (an odd square: 169 for M=7), got {rows} rows")
    new_side = 2 * window_size - 1
    if new_side == side:
        return table
    grid = table.detach().T.reshape(1, heads, side, side)
    compute = grid.dtype if grid.dtype in (torch.float32, torch.float64) else torch.float32
    out = torch.nn.functional.interpolate(grid.to(compute), size=(new_side, new_side), mode="bicubic",
                                          align_corners=False)  # fmt: skip
    return out.reshape(heads, new_side * new_side).T.contiguous().to(table.dtype)
