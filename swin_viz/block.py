"""The Swin Transformer block (paper, Sec. 3.2, Fig. 3b, eq. 3).

Blocks come in pairs: the first uses regular windows (W-MSA), the second shifts them by ``floor(M/2)``
(SW-MSA). Each is a pre-norm residual block::

    x = x + DropPath(Attn(LN(x)))
    x = x + DropPath(MLP(LN(x)))

Read :meth:`SwinBlock.forward` top to bottom: norm, pad to a multiple of the window, cyclic shift, window
partition, attention (with the mask in shifted blocks), window reverse, shift back, crop, residual; then the
MLP. The map stays channels-last ``(B, H, W, C)`` all the way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ._validate import (
    check_bhwc,
    check_bool,
    check_positive,
    check_positive_number,
    check_rate,
    check_shift,
    configure,
    pair,
    symbolic,
)
from .attention import AttentionConfig, WindowAttention
from .hooks import HookPoint
from .shift import cyclic_shift, reverse_cyclic_shift, roll_by_index, shifted_window_mask, traced_window_mask
from .windows import effective_window, pad_to_window, window_partition, window_reverse

__all__ = ["BlockConfig", "DropPath", "Mlp", "SwinBlock"]


@dataclass(frozen=True)
class BlockConfig:
    """What a :class:`SwinBlock` is: width, heads, window and shift, and the options it hands its attention."""

    dim: int
    num_heads: int
    window_size: int = 7
    shift_size: int = 0
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    drop: float = 0.0
    attn_drop: float = 0.0
    drop_path: float = 0.0
    attn_impl: str = "auto"
    attn_mask: bool = True
    position: str = "relative"

    def attention(self) -> AttentionConfig:
        """The block's attention layer: its projection dropout is the block's ``drop``."""
        return AttentionConfig(
            dim=self.dim, num_heads=self.num_heads, window_size=self.window_size, qkv_bias=self.qkv_bias,
            attn_drop=self.attn_drop, proj_drop=self.drop, attn_impl=self.attn_impl, position=self.position,
        )  # fmt: skip


class DropPath(nn.Module):
    """Stochastic depth: in training, drop the whole residual branch of a sample with probability ``p``.

    Kept samples are scaled by ``1 / (1 - p)`` so the expectation is unchanged; in eval it is the identity.
    """

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        check_rate(p, "drop_path probability")
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Any shape ``(B, ...)``; one keep/drop decision per sample."""
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        shape = (x.shape[0],) + (1,) * (x.dim() - 1)
        return x * x.new_empty(shape).bernoulli_(keep).div_(keep)

    def extra_repr(self) -> str:
        return f"p={self.p:.3f}"


class Mlp(nn.Module):
    """``Linear(C, rC) -> GELU -> Dropout -> Linear(rC, C) -> Dropout``, ``r = mlp_ratio`` (4).

    Hook point: ``mlp.hook_hidden`` -- the GELU activations ``(..., rC)``.
    """

    def __init__(self, dim: int, hidden_dim: int, drop: float = 0.0) -> None:
        super().__init__()
        check_positive(dim, "dim")
        check_positive(hidden_dim, "Mlp hidden_dim (dim * mlp_ratio)")
        check_rate(drop, "drop")
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.hook_hidden = HookPoint()
        self.drop = nn.Dropout(drop)
        self.fc2 = nn.Linear(hidden_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(..., C) -> (..., C)``."""
        x = self.drop(self.hook_hidden(self.act(self.fc1(x))))
        return self.drop(self.fc2(x))


class SwinBlock(nn.Module):
    """One Swin block: W-MSA when ``shift_size == 0``, SW-MSA otherwise. ``(B, H, W, C) -> (B, H, W, C)``.

    Hook points: ``hook_input``; ``hook_shifted`` -- the normed, padded map after the cyclic shift (no shift in
    W-MSA blocks), ``(B, Hp, Wp, C)``; ``hook_windows`` ``(B*nW, N, C)``; ``attn.hook_*`` (see
    :class:`WindowAttention`); ``hook_attn_out`` -- attention output back on the map, ``(B, H, W, C)``;
    ``mlp.hook_hidden``; ``hook_mlp_out``; ``hook_out``.
    """

    def __init__(
        self, dim: int | BlockConfig, num_heads: int | None = None, window_size: int | None = None, **options: Any
    ) -> None:
        """``SwinBlock(BlockConfig(...))``, or its fields: ``SwinBlock(dim, num_heads, window_size=7,
        shift_size=0, mlp_ratio=..., drop_path=..., attn_impl=..., attn_mask=..., position=..., ...)``."""
        super().__init__()
        config = configure(BlockConfig, dim, dict(num_heads=num_heads, window_size=window_size), options)
        self.config = config
        dim, num_heads, window_size, shift_size = config.dim, config.num_heads, config.window_size, config.shift_size
        mlp_ratio, drop, drop_path, attn_mask = config.mlp_ratio, config.drop, config.drop_path, config.attn_mask
        check_positive(dim, "dim")
        check_positive(window_size, "window_size")
        check_bool(attn_mask, "attn_mask")
        check_shift(pair(window_size, "window_size"), pair(shift_size, "shift_size", minimum=0))
        check_positive_number(mlp_ratio, "mlp_ratio")
        if int(dim * mlp_ratio) < 1:
            raise ValueError(f"mlp_ratio {mlp_ratio} gives an MLP of width int({dim} * {mlp_ratio}) = 0; need >= 1")
        self.dim = dim
        self.num_heads = num_heads
        self.window_size = window_size
        self.shift_size = shift_size
        self.mlp_ratio = mlp_ratio
        self.use_attn_mask = attn_mask
        """Ablation: ``False`` lets shifted windows attend across the wrapped-around regions (no mask added)."""

        self.hook_input = HookPoint()
        self.norm1 = nn.LayerNorm(dim)
        self.hook_shifted = HookPoint()
        self.hook_windows = HookPoint()
        self.attn = WindowAttention(config.attention())
        self.hook_attn_out = HookPoint()
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop)
        self.hook_mlp_out = HookPoint()
        self.hook_out = HookPoint()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, H, W, C) -> (B, H, W, C)``; any ``H, W >= 1``."""
        check_bhwc(x, "SwinBlock", self.dim)
        x = self.hook_input(x)
        _, H, W, C = x.shape
        if symbolic(H, W):  # traced for export with a dynamic height and width (swin_viz.export)
            return self._forward_traced(x)
        # On an axis no larger than a window: one window of that size, no shift (official behaviour).
        window, shift = effective_window(H, W, self.window_size, self.shift_size)
        shifted = shift != (0, 0)

        y = self.norm1(x)
        y, _ = pad_to_window(y, window)  # pad BEFORE the shift, so the mask's regions line up
        Hp, Wp = y.shape[1:3]
        if shifted:
            y = cyclic_shift(y, shift)
        y = self.hook_shifted(y)

        windows = self.hook_windows(window_partition(y, window).reshape(-1, window[0] * window[1], C))
        use_mask = shifted and self.use_attn_mask
        mask = shifted_window_mask(Hp, Wp, window, shift, device=x.device) if use_mask else None
        y = self.attn(windows, mask=mask, window=window)  # (B*nW, N, C)

        y = window_reverse(y.reshape(-1, window[0], window[1], C), window, Hp, Wp)
        if shifted:
            y = reverse_cyclic_shift(y, shift)
        y = self.hook_attn_out(y[:, :H, :W, :])  # crop the padding

        x = x + self.drop_path(y)
        x = x + self.drop_path(self.hook_mlp_out(self.mlp(self.norm2(x))))
        return self.hook_out(x)

    def _forward_traced(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` with no Python branch on the map size, for export tracing (``H, W`` are symbols).

        One graph must serve every size, but eager mode chooses per size: an axis no larger than the window gets a
        smaller window and no shift (:func:`~swin_viz.effective_window`). Here the window is always ``M``; the shift
        is a tensor, 0 on such an axis; the roll is a gather (:func:`~swin_viz.shift.roll_by_index`); and the padding
        keys of such an axis are masked to probability 0 (:func:`~swin_viz.shift.traced_window_mask`), which gives
        the real tokens the smaller window's numbers. Hook points see the same tensors as in eager mode except on
        such an axis, where ``hook_shifted``, ``hook_windows`` and the attention tensors keep the padded ``M``.
        """
        _, H, W, C = x.shape
        (Mh, Mw), (sh, sw) = pair(self.window_size, "window_size"), pair(self.shift_size, "shift_size", minimum=0)
        Hp, Wp = (H + Mh - 1) // Mh * Mh, (W + Mw - 1) // Mw * Mw  # padded to a multiple of the window
        y = F.pad(self.norm1(x), (0, 0, 0, Wp - W, 0, Hp - H))
        # Hp > M exactly when H > M; the shift is s there and 0 on an axis that fits in one window.
        shift_h = (torch.arange(Hp, device=x.device) >= Mh).any().long() * sh
        shift_w = (torch.arange(Wp, device=x.device) >= Mw).any().long() * sw
        y = self.hook_shifted(roll_by_index(y, -shift_h, -shift_w))

        windows = self.hook_windows(window_partition(y, (Mh, Mw)).reshape(-1, Mh * Mw, C))
        shift_mask = (sh, sw) != (0, 0) and self.use_attn_mask
        mask = traced_window_mask((H, W), (Hp, Wp), (Mh, Mw), (shift_h, shift_w), shift_mask, y.dtype, x.device)
        y = self.attn(windows, mask=mask, window=(Mh, Mw))  # (B*nW, N, C)

        y = window_reverse(y.reshape(-1, Mh, Mw, C), (Mh, Mw), Hp, Wp)
        y = self.hook_attn_out(roll_by_index(y, shift_h, shift_w)[:, :H, :W, :])

        x = x + self.drop_path(y)
        x = x + self.drop_path(self.hook_mlp_out(self.mlp(self.norm2(x))))
        return self.hook_out(x)

    def extra_repr(self) -> str:
        kind = "SW-MSA" if self.shift_size else "W-MSA"
        return (
            f"{kind}: dim={self.dim}, num_heads={self.num_heads}, window_size={self.window_size}, "
            f"shift_size={self.shift_size}, mlp_ratio={self.mlp_ratio}"
            + ("" if self.use_attn_mask or not self.shift_size else ", attn_mask=False")
        )
