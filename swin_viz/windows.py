"""Windows: cut a feature map into non-overlapping M x M windows and put it back (paper, Sec. 3.2).

Window attention treats every window as an independent sequence of ``M*M`` tokens, so the code moves the
windows into the batch axis: ``(B, H, W, C) -> (B * nW, M, M, C)`` with ``nW = (H/M) * (W/M)`` windows per
image, numbered row by row. :func:`window_reverse` is the exact inverse.

Two situations the paper does not cover, handled as the official code and torchvision do:

* a map whose side is not a multiple of M is zero-padded at the bottom/right (:func:`pad_to_window`)
  *before* the cyclic shift, so the shifted-window mask still lines up with the regions;
* a map no larger than a window on some axis uses a window of that axis's size and no shift on that axis
  (:func:`effective_window`), as the official code does when ``min(resolution) <= M``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._validate import check_bhwc, check_shift, check_size, pair, symbolic

__all__ = ["effective_window", "num_windows", "pad_to_window", "window_partition", "window_reverse"]


def window_partition(x: torch.Tensor, window_size: int | tuple[int, int]) -> torch.Tensor:
    """Split a feature map into windows: ``(B, H, W, C) -> (B * nW, Mh, Mw, C)``.

    Windows are ordered image by image, then row by row (``nW = H/Mh * W/Mw``).
    """
    check_bhwc(x, "window_partition")
    Mh, Mw = pair(window_size, "window_size")
    B, H, W, C = x.shape
    for m, size, axis in ((Mh, H, "H"), (Mw, W, "W")):
        if not symbolic(size, m) and size % m:
            raise ValueError(
                f"window_size {m} must divide {axis}={size}; pad or resize (swin_viz.pad_to_window pads to "
                f"{-(-size // m) * m})"
            )
    x = x.reshape(B, H // Mh, Mh, W // Mw, Mw, C)
    x = x.permute(0, 1, 3, 2, 4, 5)  # (B, rows of windows, cols of windows, Mh, Mw, C)
    return x.reshape(B * (H // Mh) * (W // Mw), Mh, Mw, C)  # explicit sizes: an empty batch stays empty


def window_reverse(windows: torch.Tensor, window_size: int | tuple[int, int], H: int, W: int) -> torch.Tensor:
    """Put windows back into a map: ``(B * nW, Mh, Mw, C) -> (B, H, W, C)``; the inverse of :func:`window_partition`."""
    Mh, Mw = pair(window_size, "window_size")
    if symbolic(H, W, Mh, Mw):  # export tracing: sizes are symbols; the graph, not Python, checks them
        x = windows.reshape(-1, H // Mh, W // Mw, Mh, Mw, windows.shape[-1])
        return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, H, W, windows.shape[-1])
    check_size(H, W, "window_reverse")
    if not isinstance(windows, torch.Tensor):
        raise TypeError(f"window_reverse expects a torch.Tensor of windows, got {type(windows).__name__}")
    if windows.dim() != 4 or windows.shape[1:3] != (Mh, Mw):
        raise ValueError(f"window_reverse expects windows of shape (B*nW, {Mh}, {Mw}, C), got {tuple(windows.shape)}")
    if H % Mh or W % Mw:
        raise ValueError(f"window_size {(Mh, Mw)} must divide the map size H={H}, W={W}")
    nW = (H // Mh) * (W // Mw)
    if windows.shape[0] % nW:
        raise ValueError(
            f"{windows.shape[0]} windows is not a whole number of {H}x{W} maps ({nW} windows of {Mh}x{Mw} each)"
        )
    B, C = windows.shape[0] // nW, windows.shape[-1]
    x = windows.reshape(B, H // Mh, W // Mw, Mh, Mw, C)
    x = x.permute(0, 1, 3, 2, 4, 5)  # (B, rows of windows, Mh, cols of windows, Mw, C)
    return x.reshape(B, H, W, C)


def num_windows(H: int, W: int, window_size: int | tuple[int, int]) -> int:
    """Windows per image once the map is padded to a multiple of the window: ``ceil(H/Mh) * ceil(W/Mw)``."""
    Mh, Mw = pair(window_size, "window_size")
    check_size(H, W, "num_windows")
    return -(-H // Mh) * -(-W // Mw)


def pad_to_window(x: torch.Tensor, window_size: int | tuple[int, int]) -> tuple[torch.Tensor, tuple[int, int]]:
    """Zero-pad ``(B, H, W, C)`` at the bottom and right so the window divides both sides.

    Returns the padded map and ``(pad_h, pad_w)``. ``F.pad`` lists pads from the *last* axis backwards:
    ``(C_left, C_right, W_left, W_right, H_top, H_bottom)`` -- swapping H and W here is a classic bug.
    """
    check_bhwc(x, "pad_to_window")
    Mh, Mw = pair(window_size, "window_size")
    H, W = x.shape[1:3]
    pad_h, pad_w = (-H) % Mh, (-W) % Mw
    if pad_h or pad_w:
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    return x, (pad_h, pad_w)


def effective_window(
    H: int, W: int, window_size: int | tuple[int, int], shift_size: int | tuple[int, int]
) -> tuple[tuple[int, int], tuple[int, int]]:
    """The window and shift a block really uses on an ``H x W`` map.

    On an axis whose size is at most the window, the window shrinks to that size and the shift on that
    axis is 0: one window already sees the whole axis, so there is nothing to shift (official code:
    ``if min(input_resolution) <= window_size: shift_size = 0; window_size = min(input_resolution)``;
    applied per axis here, so a 7x5 map gets one 7x5 window rather than padded 5x5 windows).
    """
    window, shift = pair(window_size, "window_size"), pair(shift_size, "shift_size", minimum=0)
    check_shift(window, shift)
    check_size(H, W, "effective_window")
    eff_window, eff_shift = [], []
    for size, m, s in ((H, window[0], shift[0]), (W, window[1], shift[1])):
        if size <= m:
            eff_window.append(size)
            eff_shift.append(0)
        else:
            eff_window.append(m)
            eff_shift.append(s)
    return (eff_window[0], eff_window[1]), (eff_shift[0], eff_shift[1])
