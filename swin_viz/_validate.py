"""Small input checks shared by the modules. Each raises ``ValueError`` naming the constraint."""

from __future__ import annotations

import torch


def pair(value: int | tuple[int, int], what: str) -> tuple[int, int]:
    """``7 -> (7, 7)``; a pair stays a pair. Rejects anything but one or two positive ints."""
    if isinstance(value, int):
        value = (value, value)
    if len(value) != 2 or not all(isinstance(v, int) for v in value):
        raise ValueError(f"{what} must be an int or a pair of ints, got {value!r}")
    return int(value[0]), int(value[1])


def check_bhwc(x: torch.Tensor, what: str, channels: int | None = None) -> None:
    """``x`` must be a channels-last feature map ``(B, H, W, C)`` (with ``C == channels`` if given)."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{what} expects a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(
            f"{what} expects a (B, H, W, C) feature map, got a {x.dim()}-d tensor of shape {tuple(x.shape)}"
        )
    if channels is not None and x.shape[-1] != channels:
        raise ValueError(
            f"{what} expects C={channels} channels in the last axis of (B, H, W, C), got shape {tuple(x.shape)}"
        )


def check_positive(value: int, what: str) -> None:
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be a positive int, got {value!r}")


def check_shift(window: tuple[int, int], shift: tuple[int, int]) -> None:
    """A cyclic shift must satisfy 0 <= shift < window on each axis."""
    for axis, (m, s) in enumerate(zip(window, shift)):
        if m < 1:
            raise ValueError(f"window_size must be >= 1, got {window}")
        if not 0 <= s < m:
            raise ValueError(
                f"shift_size {s} is out of range for window_size {m} (axis {'HW'[axis]}): need 0 <= shift < window"
            )
