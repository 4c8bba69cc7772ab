"""The cyclic shift and the shifted-window attention mask (paper, Sec. 3.2, Fig. 2 and Fig. 4).

Shifting the window grid by ``s = floor(M/2)`` tokens makes new windows that straddle the old borders, but
at the edges it produces more windows, some smaller than M x M (9 instead of 4 for an 8x8 map with M=4).
The paper's trick: *roll the map* by ``-s`` on both axes, so the windows are regular again, and mask the
attention between tokens that the roll brought together from far-apart parts of the image.

* :func:`cyclic_shift` / :func:`reverse_cyclic_shift` -- ``torch.roll`` of the *tokens* by ``-s`` and ``+s``;
* :func:`region_labels` -- the 9 regions of the rolled map (3 bands per axis);
* :func:`shifted_window_mask` -- ``(nW, M*M, M*M)``: 0 where two tokens share a region, -100 elsewhere
  (the official constant: after adding it, ``exp`` underflows to 0 in the softmax).
"""

from __future__ import annotations

import torch

from ._validate import check_bhwc, check_shift, check_size, pair
from .windows import window_partition

__all__ = [
    "MASK_VALUE",
    "cyclic_shift",
    "region_labels",
    "reverse_cyclic_shift",
    "roll_by_index",
    "shifted_window_mask",
    "traced_window_mask",
]

MASK_VALUE = -100.0
"""What the official code adds to the logits of pairs from different regions."""


def _shift_pair(shift_size: int | tuple[int, int], hint: str = "") -> tuple[int, int]:
    try:
        return pair(shift_size, "shift_size", minimum=0)
    except ValueError:
        raise ValueError(f"shift_size must be >= 0, got {shift_size!r}{hint}") from None


def cyclic_shift(x: torch.Tensor, shift_size: int | tuple[int, int]) -> torch.Tensor:
    """Roll a map up and left by ``shift_size`` tokens: ``(B, H, W, C) -> (B, H, W, C)``.

    Token ``(i, j)`` moves to ``(i - s, j - s) mod (H, W)``: the top rows and left columns wrap round to the
    bottom and right.
    """
    check_bhwc(x, "cyclic_shift")
    sh, sw = _shift_pair(shift_size, "; reverse_cyclic_shift undoes a shift")
    return torch.roll(x, shifts=(-sh, -sw), dims=(1, 2))


def reverse_cyclic_shift(x: torch.Tensor, shift_size: int | tuple[int, int]) -> torch.Tensor:
    """Undo :func:`cyclic_shift`: roll down and right by ``shift_size``. ``(B, H, W, C) -> (B, H, W, C)``."""
    check_bhwc(x, "reverse_cyclic_shift")
    sh, sw = _shift_pair(shift_size)
    return torch.roll(x, shifts=(sh, sw), dims=(1, 2))


def _bands(size: int, window: int, shift: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Band of each position along one axis of the rolled map: 0, 1 or 2.

    The official code labels the slices ``(0, -M)``, ``(-M, -s)``, ``(-s, None)``: everything before the last
    window; the last window's part that was there before the roll; the ``s`` positions that wrapped round.
    With no shift on the axis there is one band.
    """
    pos = torch.arange(size, device=device)
    if not shift:
        return torch.zeros_like(pos)
    return (pos >= size - window).long() + (pos >= size - shift).long()


def region_labels(
    H: int,
    W: int,
    window_size: int | tuple[int, int],
    shift_size: int | tuple[int, int],
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Region of every token of the cyclically shifted ``H x W`` map: ``(H, W)`` ints in ``0..8``.

    Label = ``3 * row_band + col_band``, numbered as the official code's counter. Tokens with the same
    label were neighbours before the roll; a window that mixes labels mixes far-apart parts of the image.
    An axis with shift 0 has a single band.
    """
    window, shift = pair(window_size, "window_size"), pair(shift_size, "shift_size", minimum=0)
    check_shift(window, shift)
    check_size(H, W, "region_labels")
    for size, m, axis in ((H, window[0], "H"), (W, window[1], "W")):
        if size % m:
            raise ValueError(f"window_size {m} must divide {axis}={size}; pad the map first (swin_viz.pad_to_window)")
    rows = _bands(H, window[0], shift[0], device)
    cols = _bands(W, window[1], shift[1], device)
    return 3 * rows[:, None] + cols[None, :]


def shifted_window_mask(
    H: int,
    W: int,
    window_size: int | tuple[int, int],
    shift_size: int | tuple[int, int],
    mask_value: float = MASK_VALUE,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Additive attention mask of the shifted windows: ``(nW, Mh*Mw, Mh*Mw)``.

    ``mask[w, i, j]`` is 0 when tokens ``i`` and ``j`` of window ``w`` come from the same region, else
    ``mask_value`` (-100). Windows are numbered as in :func:`window_partition`. With no shift the mask is
    all zeros.
    """
    if isinstance(mask_value, bool) or not isinstance(mask_value, (int, float)) or mask_value != mask_value:
        raise ValueError(f"mask_value must be a number, got {mask_value!r}")
    labels = region_labels(H, W, window_size, shift_size, device=device)
    Mh, Mw = pair(window_size, "window_size")
    windows = window_partition(labels[None, :, :, None], (Mh, Mw)).reshape(-1, Mh * Mw)  # (nW, N)
    different = windows[:, :, None] != windows[:, None, :]  # (nW, N, N)
    return torch.zeros(different.shape, dtype=dtype, device=device).masked_fill(different, mask_value)


# ------------------------------------------------------------------------------------------------------------------
# Export tracing (swin_viz.export): sizes are symbols, so nothing below branches on them in Python.

PAD_MASK_VALUE = -1e4
"""Added to the logits of padding keys in a traced graph: ``exp`` gives exactly 0, so they get no attention."""


def roll_by_index(x: torch.Tensor, shift_h: torch.Tensor | int, shift_w: torch.Tensor | int) -> torch.Tensor:
    """``torch.roll(x, (shift_h, shift_w), dims=(1, 2))`` of ``(B, H, W, C)`` as two gathers, for a shift that is a
    tensor (it depends on the input size in a traced graph): row ``i`` of the result is row ``(i - shift_h) mod H``.
    Needs ``|shift| <= size`` on each axis, as a cyclic shift (``< M <= padded size``) has.
    """
    H, W = x.shape[1:3]
    return x.index_select(1, _wrap(torch.arange(H, device=x.device) - shift_h, H)).index_select(
        2, _wrap(torch.arange(W, device=x.device) - shift_w, W)
    )


def _wrap(index: torch.Tensor, size: int) -> torch.Tensor:
    """``index mod size`` for ``-size <= index < 2 * size`` (a shift is smaller than the map), written with
    ``where``: the ONNX exporter takes ``%`` only by a constant, and ``size`` is a symbol here."""
    return torch.where(index < 0, index + size, torch.where(index >= size, index - size, index))


def traced_window_mask(
    size: tuple[int, int],
    padded: tuple[int, int],
    window: tuple[int, int],
    shift: tuple[torch.Tensor, torch.Tensor],
    shift_mask: bool,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """The additive mask ``(nW, N, N)`` of a traced block, whose window is always ``M`` (:meth:`SwinBlock.forward`).

    ``size`` is the map ``(H, W)``, ``padded`` the map padded to a multiple of the window, ``shift`` the shift per
    axis as tensors (0 on an axis no larger than the window). Two parts:

    * the shifted-window mask of :func:`shifted_window_mask` when ``shift_mask``; the bands are :func:`_bands`' with
      a tensor flag ``shift > 0`` in place of its ``if``, so an axis whose shift is 0 at run time has one band;
    * on an axis no larger than the window, :data:`PAD_MASK_VALUE` on the padding keys: eager mode shrinks the
      window to the map there (:func:`~swin_viz.effective_window`), and a softmax that gives the padding exactly 0
      leaves every real token's attention equal to the smaller window's.
    """
    labels, padding = [], []
    for n, n_pad, m, s in zip(size, padded, window, shift):
        pos = torch.arange(n_pad, device=device)
        band = (pos >= n_pad - m).long() + (pos >= n_pad - s).long()
        labels.append(band * (s > 0).long())
        padding.append((pos >= n) & ~(pos >= m).any())  # padding of an axis that fits in one window
    regions = 3 * labels[0][:, None] + labels[1][None, :]  # (Hp, Wp)
    pad_keys = padding[0][:, None] | padding[1][None, :]  # (Hp, Wp)
    N = window[0] * window[1]
    regions = window_partition(regions[None, :, :, None], window).reshape(-1, N)  # (nW, N)
    pad_keys = window_partition(pad_keys[None, :, :, None], window).reshape(-1, 1, N)  # (nW, 1, N)
    mask = torch.zeros(regions.shape[0], N, N, dtype=dtype, device=device)
    if shift_mask:
        mask = mask.masked_fill(regions[:, :, None] != regions[:, None, :], MASK_VALUE)
    return mask.masked_fill(pad_keys, PAD_MASK_VALUE)
