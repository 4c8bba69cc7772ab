"""Patch partition and linear embedding (paper, Sec. 3.1).

The image is cut into non-overlapping ``p x p`` patches (p = 4), each patch's ``p * p * 3 = 48`` pixel values
become one token, and a linear layer maps the 48 values to ``C`` channels. In code the two steps are one
``Conv2d`` with ``kernel_size = stride = p``: :func:`patch_partition` spells the first step out, and the tests
check that ``patch_partition`` + ``Linear`` with the conv's weights equals the conv.
"""

from __future__ import annotations

import torch
from torch import nn

from ._validate import check_bool, check_positive
from .hooks import HookPoint

__all__ = ["PatchEmbed", "check_image", "patch_partition"]


def check_image(x: torch.Tensor, in_chans: int, patch_size: int) -> None:
    """Raise ``ValueError`` unless ``x`` is ``(B, in_chans, H, W)`` with H and W multiples of ``patch_size``."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"expected an image tensor (B, {in_chans}, H, W), got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(
            f"expected an image batch (B, {in_chans}, H, W), got a {x.dim()}-d tensor of shape {tuple(x.shape)}"
            + ("; add a batch axis with x[None]" if x.dim() == 3 else "")
        )
    if x.shape[1] != in_chans:
        hint = "; images look channels-last, use x.permute(0, 3, 1, 2)" if x.shape[-1] == in_chans else ""
        raise ValueError(f"expected {in_chans} input channels in (B, C, H, W), got shape {tuple(x.shape)}{hint}")
    H, W = x.shape[-2:]
    if min(H, W) < patch_size:
        raise ValueError(
            f"image size H={H}, W={W} is smaller than one patch: both sides must be at least patch_size {patch_size}"
        )
    if H % patch_size or W % patch_size:
        raise ValueError(
            f"image size H={H}, W={W} must be a multiple of patch_size {patch_size}; pad or resize "
            f"(e.g. to {-(-H // patch_size) * patch_size}x{-(-W // patch_size) * patch_size})"
        )


def patch_partition(x: torch.Tensor, patch_size: int = 4) -> torch.Tensor:
    """Cut images into patches: ``(B, C, H, W) -> (B, H/p, W/p, C*p*p)``.

    Each token holds its patch's values in the order ``(channel, row, column)``: the order in which a
    ``Conv2d`` weight of shape ``(C_out, C, p, p)`` is flattened, so ``Linear(C*p*p, C_out)`` with
    ``conv.weight.flatten(1)`` computes the same embedding.
    """
    check_positive(patch_size, "patch_size")
    check_image(x, x.shape[1] if isinstance(x, torch.Tensor) and x.dim() == 4 else 3, patch_size)
    B, C, H, W = x.shape
    if C < 1:
        raise ValueError(f"patch_partition expects at least one channel in (B, C, H, W), got shape {tuple(x.shape)}")
    p = patch_size
    x = x.reshape(B, C, H // p, p, W // p, p)  # (B, C, Hp, row, Wp, col)
    x = x.permute(0, 2, 4, 1, 3, 5)  # (B, Hp, Wp, C, row, col)
    return x.reshape(B, H // p, W // p, C * p * p)


class PatchEmbed(nn.Module):
    """Patch partition + linear embedding + LayerNorm: ``(B, 3, H, W) -> (B, H/4, W/4, C)``.

    Hook points: ``patch_embed.hook_out`` -- the tokens that enter stage 1.
    """

    def __init__(self, patch_size: int = 4, in_chans: int = 3, embed_dim: int = 96, patch_norm: bool = True) -> None:
        super().__init__()
        for value, what in ((patch_size, "patch_size"), (in_chans, "in_chans"), (embed_dim, "embed_dim")):
            check_positive(value, what)
        check_bool(patch_norm, "patch_norm")
        self.patch_size = patch_size
        self.in_chans = in_chans
        self.embed_dim = embed_dim
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)
        self.norm = nn.LayerNorm(embed_dim) if patch_norm else nn.Identity()
        self.hook_out = HookPoint()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_chans, H, W) -> (B, H/p, W/p, embed_dim)``."""
        check_image(x, self.in_chans, self.patch_size)
        if not x.is_floating_point():
            raise TypeError(f"PatchEmbed expects a floating-point image, got {x.dtype}; e.g. x.float() / 255")
        x = self.proj(x).permute(0, 2, 3, 1)  # (B, H/p, W/p, C), channels-last like the rest of the model
        return self.hook_out(self.norm(x))

    def extra_repr(self) -> str:
        return f"patch_size={self.patch_size}, in_chans={self.in_chans}, embed_dim={self.embed_dim}"
