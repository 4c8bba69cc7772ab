"""Patch merging: the down-sampling between stages (paper, Sec. 3.1).

Each 2x2 group of neighbouring tokens is concatenated into one token of ``4C`` channels, normalised, and
projected to ``2C`` by a linear layer without bias: the map halves in each direction and the channels double,
like a stride-2 stage of a CNN. The gather order is the official one,
``x[0::2, 0::2], x[1::2, 0::2], x[0::2, 1::2], x[1::2, 1::2]`` (top-left, bottom-left, top-right,
bottom-right); official, timm, torchvision and HuggingFace weights all assume it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._validate import check_bhwc, check_positive, symbolic
from .hooks import HookPoint

__all__ = ["PatchMerging", "merge_patches"]


def merge_patches(x: torch.Tensor) -> torch.Tensor:
    """Concatenate each 2x2 neighbourhood: ``(B, H, W, C) -> (B, ceil(H/2), ceil(W/2), 4C)``.

    An odd side is zero-padded at the bottom/right first (as the official detection code and torchvision do).
    """
    check_bhwc(x, "merge_patches")
    B, H, W, C = x.shape
    if symbolic(H, W):  # export tracing: pad by a symbol that may be 0, gather by a reshape (same order)
        H2, W2 = (H + 1) // 2, (W + 1) // 2
        x = F.pad(x, (0, 0, 0, 2 * W2 - W, 0, 2 * H2 - H)).reshape(B, H2, 2, W2, 2, C)
        return x.permute(0, 1, 3, 4, 2, 5).reshape(B, H2, W2, 4 * C)  # (dx, dy) order: 00, 10, 01, 11
    if H % 2 or W % 2:
        x = F.pad(x, (0, 0, 0, W % 2, 0, H % 2))
    return torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], dim=-1)


class PatchMerging(nn.Module):
    """2x2 merge, ``LayerNorm(4C)``, ``Linear(4C -> 2C, bias=False)``: ``(B, H, W, C) -> (B, H/2, W/2, 2C)``.

    Hook points: ``hook_gathered`` -- the 4C concatenation; ``hook_out`` -- the merged tokens.
    """

    def __init__(self, dim: int, out_dim: int | None = None) -> None:
        super().__init__()
        check_positive(dim, "dim")
        if out_dim is not None:
            check_positive(out_dim, "out_dim")
        self.dim = dim
        self.out_dim = 2 * dim if out_dim is None else out_dim
        self.hook_gathered = HookPoint()
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, self.out_dim, bias=False)
        self.hook_out = HookPoint()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, H, W, C) -> (B, ceil(H/2), ceil(W/2), out_dim)``."""
        check_bhwc(x, "PatchMerging", self.dim)
        x = self.hook_gathered(merge_patches(x))
        return self.hook_out(self.reduction(self.norm(x)))

    def extra_repr(self) -> str:
        return f"dim={self.dim}, out_dim={self.out_dim}, order=(0::2,0::2),(1::2,0::2),(0::2,1::2),(1::2,1::2)"
