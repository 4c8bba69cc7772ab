"""Where each token of a block's map lands in the attention batch, and the map rectangles a window covers.

Shared by the explorers that outline windows (attention maps, receptive field): positions go through the
library's own ``pad_to_window``, ``cyclic_shift`` and ``window_partition``, so a shifted window that wraps round
the map edge is found as the model builds it.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from ..shift import cyclic_shift
from ..windows import pad_to_window, window_partition

__all__ = ["window_layout", "window_pieces"]


@functools.lru_cache(maxsize=64)
def window_layout(H: int, W: int, window: tuple[int, int], shift: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Where each token of an ``H x W`` map lands in the attention batch, computed by the library.

    Returns ``coords`` ``(nW, N, 2)``: the map (row, col) of token ``n`` of window ``w`` (``-1`` for padding),
    and ``slot`` ``(H, W, 2)``: the (window, token-in-window) index of every map position -- the row of
    ``attn.hook_probs`` that holds its attention. Positions go through ``pad_to_window``, ``cyclic_shift`` (when
    ``shift`` is non-zero) and ``window_partition``, exactly as :meth:`swin_viz.SwinBlock.forward` moves features.
    """
    pos = torch.stack(torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij"), -1)[None] + 1  # (1, H, W, 2)
    pos, _ = pad_to_window(pos.float(), window)  # padding is 0 -> -1 below
    if shift != (0, 0):
        pos = cyclic_shift(pos, shift)
    coords = window_partition(pos, window).reshape(-1, window[0] * window[1], 2).long().numpy() - 1
    slot = np.zeros((H, W, 2), dtype=np.int64)
    valid = coords[..., 0] >= 0
    w_idx, n_idx = np.nonzero(valid)
    slot[coords[valid, 0], coords[valid, 1]] = np.stack([w_idx, n_idx], -1)
    return coords, slot


def _runs(values: np.ndarray) -> list[tuple[int, int]]:
    """Sorted integers as half-open runs of consecutive values: ``[0, 1, 2, 5, 6] -> [(0, 3), (5, 7)]``."""
    values = np.unique(values)
    breaks = np.nonzero(np.diff(values) != 1)[0]
    starts = np.concatenate([[0], breaks + 1])
    ends = np.concatenate([breaks + 1, [len(values)]])
    return [(int(values[s]), int(values[e - 1]) + 1) for s, e in zip(starts, ends)]


def window_pieces(coords: np.ndarray) -> list[tuple[int, int, int, int]]:
    """The map rectangles ``(r0, c0, r1, c1)`` (half-open) covered by one window's tokens ``coords`` ``(N, 2)``.

    A regular window is one rectangle; a shifted window that wraps round the map edge is up to four.
    """
    valid = coords[coords[:, 0] >= 0]
    return [(r0, c0, r1, c1) for r0, r1 in _runs(valid[:, 0]) for c0, c1 in _runs(valid[:, 1])]
