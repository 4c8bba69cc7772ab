"""Small input checks shared by the modules. Each raises ``ValueError`` (or ``TypeError`` for a wrong type) naming
the constraint, so bad input never reaches a reshape or a division deep inside."""

from __future__ import annotations

import dataclasses
import math
from numbers import Integral, Real
from typing import Any, TypeVar

import torch

C = TypeVar("C")


def is_int(value: object) -> bool:
    """An integer (``int``, ``numpy.int64``, ...) that is not a ``bool`` (``True`` is an int in Python, never a window
    size here)."""
    return isinstance(value, Integral) and not isinstance(value, bool)


def symbolic(*values: object) -> bool:
    """True when a size is a ``torch.SymInt``: the model is being traced for export (``torch.export``, ONNX) with
    a dynamic height or width. Code that branches on sizes takes its branch-free form then (:mod:`swin_viz.export`)."""
    return any(isinstance(v, torch.SymInt) for v in values)


def pair(value: int | tuple[int, int], what: str, minimum: int = 1) -> tuple[int, int]:
    """``7 -> (7, 7)``; a pair stays a pair. Rejects anything but one or two ints ``>= minimum``.

    ``minimum`` is 1 for sizes (a window of 0 has no tokens) and 0 for shifts.
    """
    if is_int(value):
        value = (value, value)
    if not isinstance(value, (tuple, list, torch.Size)) or len(value) != 2 or not all(is_int(v) for v in value):
        raise TypeError(f"{what} must be an int or a pair of ints, got {value!r}")
    if value[0] < minimum or value[1] < minimum:
        raise ValueError(f"{what} must be >= {minimum} on both axes, got {tuple(value)}")
    return int(value[0]), int(value[1])


def check_bhwc(x: torch.Tensor, what: str, channels: int | None = None) -> None:
    """``x`` must be a channels-last feature map ``(B, H, W, C)`` with ``H, W, C >= 1`` (``C == channels`` if
    given). ``B == 0`` is allowed: an empty batch gives an empty result, as torch modules do."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{what} expects a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(
            f"{what} expects a (B, H, W, C) feature map, got a {x.dim()}-d tensor of shape {tuple(x.shape)}"
        )
    if channels is not None and x.shape[-1] != channels:
        raise ValueError(
            f"{what} expects C={channels} channels in the last axis of (B, H, W, C), got shape {tuple(x.shape)}"
        )
    if min(x.shape[1:]) < 1:
        raise ValueError(f"{what} expects H, W, C >= 1 in (B, H, W, C), got shape {tuple(x.shape)}")


def check_positive(value: int, what: str) -> None:
    """``value`` must be an int >= 1 (not a bool, not a float)."""
    if not is_int(value) or value < 1:
        raise ValueError(f"{what} must be a positive int, got {value!r}")


def check_nonnegative(value: int, what: str) -> None:
    """``value`` must be an int >= 0 (not a bool, not a float)."""
    if not is_int(value) or value < 0:
        raise ValueError(f"{what} must be an int >= 0, got {value!r}")


def check_rate(value: float, what: str) -> None:
    """A probability of dropping: a real number in ``[0, 1)``."""
    if isinstance(value, bool) or not isinstance(value, Real) or not 0.0 <= float(value) < 1.0:
        raise ValueError(f"{what} must be in [0, 1), a real number; got {value!r}")


def check_positive_number(value: float, what: str) -> None:
    """A finite real number > 0 (e.g. ``mlp_ratio``)."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{what} must be a finite number > 0, got {value!r}")


def check_bool(value: bool, what: str) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{what} must be True or False, got {value!r}")


def check_shift(window: tuple[int, int], shift: tuple[int, int]) -> None:
    """A cyclic shift must satisfy 0 <= shift < window on each axis."""
    for axis, (m, s) in enumerate(zip(window, shift)):
        if m < 1:
            raise ValueError(f"window_size must be >= 1, got {window}")
        if not 0 <= s < m:
            raise ValueError(
                f"shift_size {s} is out of range for window_size {m} (axis {'HW'[axis]}): need 0 <= shift < window"
            )


def check_size(H: int, W: int, what: str) -> None:
    """A map size: two ints >= 1."""
    for value, axis in ((H, "H"), (W, "W")):
        if not is_int(value) or value < 1:
            raise ValueError(f"{what}: {axis} must be an int >= 1, got {value!r}")


def configure(cls: type[C], first: object, positional: dict[str, Any], options: dict[str, Any]) -> C:
    """A module's frozen config: ``first`` itself when it is a ``cls`` (then nothing else may be given), else a
    ``cls`` built by keyword from ``first`` (its first field), the ``positional`` fields that were given (``None``:
    not given, the field's default) and ``options``. An unknown option is a ``TypeError`` naming it."""
    given = {k: v for k, v in positional.items() if v is not None}
    if isinstance(first, cls):
        if given or options:
            raise TypeError(f"pass a {cls.__name__} or its fields, not both (got {sorted({**given, **options})})")
        return first
    return cls(**{dataclasses.fields(cls)[0].name: first}, **given, **options)  # type: ignore[call-arg]
