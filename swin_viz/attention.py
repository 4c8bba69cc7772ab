"""Window multi-head self-attention, W-MSA and SW-MSA (paper, Sec. 3.2).

Each window is an independent sequence of ``N = M*M`` tokens. For every head,

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d) + B [+ mask]) V

with the relative position bias ``B`` (:mod:`swin_viz.relative_position`) and, in shifted blocks, the
region mask (:mod:`swin_viz.shift`). Two paths compute the same numbers:

* **explicit** -- materialises the logits and probabilities, so the hook points ``attn.hook_logits`` and
  ``attn.hook_probs`` see (and may edit) them;
* **fused** -- ``torch.nn.functional.scaled_dot_product_attention`` with bias + mask as an additive
  ``attn_mask``; never builds the ``(B*nW, heads, N, N)`` probabilities in Python.

``attn_impl="auto"`` (the default) takes the fused path unless a hook listens on ``logits`` or ``probs``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ._validate import check_bool, check_positive, check_rate, configure, pair, symbolic
from .hooks import HookPoint
from .relative_position import RelativePositionBias

__all__ = ["ATTN_IMPLS", "POSITIONS", "AttentionConfig", "WindowAttention"]

ATTN_IMPLS = ("auto", "explicit", "fused")
POSITIONS = ("relative", "absolute", "none")
"""Position encodings (paper Table 4): the relative bias table in every attention layer, a learned absolute
embedding added once after the patch embedding, or none. Attention builds its bias table only for ``"relative"``."""


@dataclass(frozen=True)
class AttentionConfig:
    """What a :class:`WindowAttention` layer is: its width, heads, window and options (built by keyword)."""

    dim: int
    num_heads: int
    window_size: int = 7
    qkv_bias: bool = True
    attn_drop: float = 0.0
    proj_drop: float = 0.0
    attn_impl: str = "auto"
    position: str = "relative"


class WindowAttention(nn.Module):
    """Multi-head self-attention inside windows, with relative position bias and an optional mask.

    Input ``(B*nW, N, C)`` windows of ``N = Mh*Mw`` tokens; output the same shape.

    Hook points (shapes for ``Bw = B*nW`` windows, ``h`` heads, ``d = C/h``):
    ``hook_q``, ``hook_k``, ``hook_v`` ``(Bw, h, N, d)``; ``hook_rel_bias`` ``(h, N, N)``; ``hook_mask``
    ``(nW, N, N)`` (shifted blocks only); ``hook_logits`` and ``hook_probs`` ``(Bw, h, N, N)`` (explicit path
    only); ``hook_context`` ``(Bw, N, C)`` (heads concatenated, before the projection); ``hook_out`` ``(Bw, N, C)``.
    """

    def __init__(
        self, dim: int | AttentionConfig, num_heads: int | None = None, window_size: int | None = None, **options: Any
    ) -> None:
        """``WindowAttention(AttentionConfig(...))``, or its fields: ``WindowAttention(dim, num_heads,
        window_size=7, qkv_bias=..., attn_drop=..., proj_drop=..., attn_impl=..., position=...)``."""
        super().__init__()
        config = configure(AttentionConfig, dim, dict(num_heads=num_heads, window_size=window_size), options)
        self.config = config
        dim, num_heads, window_size, qkv_bias = config.dim, config.num_heads, config.window_size, config.qkv_bias
        attn_drop, proj_drop, attn_impl = config.attn_drop, config.proj_drop, config.attn_impl
        check_positive(dim, "dim")
        if config.position not in POSITIONS:
            raise ValueError(f"position must be one of {POSITIONS}, got {config.position!r}")
        relative_position = config.position == "relative"
        check_positive(num_heads, "num_heads")
        check_positive(window_size, "window_size")
        check_bool(qkv_bias, "qkv_bias")
        check_rate(attn_drop, "attn_drop")
        check_rate(proj_drop, "proj_drop")
        if dim % num_heads:
            raise ValueError(f"num_heads {num_heads} must divide dim {dim} (head_dim = dim / num_heads)")
        if attn_impl not in ATTN_IMPLS:
            raise ValueError(f"attn_impl must be one of {ATTN_IMPLS}, got {attn_impl!r}")
        self.dim = dim
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.window_size = window_size
        self.scale = self.head_dim**-0.5
        self.attn_impl = attn_impl
        self.attn_drop = attn_drop

        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        # Ablation (paper Table 4, "no pos."/"abs. pos."): without the table, attention inside a window is blind to
        # where its tokens are.
        self.relative_position = relative_position
        self.relative_bias = RelativePositionBias(window_size, num_heads) if relative_position else None
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

        self.hook_q, self.hook_k, self.hook_v = HookPoint(), HookPoint(), HookPoint()
        self.hook_rel_bias = HookPoint()
        self.hook_mask = HookPoint()
        self.hook_logits = HookPoint()
        self.hook_probs = HookPoint()
        self.hook_context = HookPoint()
        self.hook_out = HookPoint()

    def uses_explicit_path(self) -> bool:
        """Whether the next forward materialises logits and probabilities."""
        if self.attn_impl == "explicit":
            return True
        listening = self.hook_logits.has_hooks() or self.hook_probs.has_hooks()
        if self.attn_impl == "fused" and listening:
            raise ValueError(
                "attn_impl='fused' never materialises attention logits/probs, so hooks on them would not run; "
                "use attn_impl='auto' or 'explicit'"
            )
        return listening

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None, window: tuple[int, int] | None = None
    ) -> torch.Tensor:
        """``(B*nW, N, C) -> (B*nW, N, C)``; ``mask`` is ``(nW, N, N)`` additive, ``window`` the ``(Mh, Mw)`` of N."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"WindowAttention expects a torch.Tensor of windows, got {type(x).__name__}")
        if x.dim() != 3 or x.shape[-1] != self.dim:
            raise ValueError(f"WindowAttention expects windows (B*nW, N, {self.dim}), got shape {tuple(x.shape)}")
        Bw, N, C = x.shape
        window = pair(window if window is not None else self.window_size, "window")
        if window[0] * window[1] != N:
            raise ValueError(f"window {window} has {window[0] * window[1]} tokens but the input has N={N}")
        h, d = self.num_heads, self.head_dim

        qkv = self.qkv(x).reshape(Bw, N, 3, h, d).permute(2, 0, 3, 1, 4)  # (3, Bw, h, N, d)
        q, k, v = self.hook_q(qkv[0]), self.hook_k(qkv[1]), self.hook_v(qkv[2])
        bias = self.hook_rel_bias(self.relative_bias(window)) if self.relative_bias is not None else None  # (h, N, N)

        nW = 1
        if mask is not None and symbolic(Bw, N, *mask.shape):  # export tracing: the graph checks the shapes
            mask = self.hook_mask(mask)
            nW = mask.shape[0]
        elif mask is not None:
            if not isinstance(mask, torch.Tensor) or mask.dim() != 3 or mask.shape[1:] != (N, N) or mask.shape[0] < 1:
                got = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
                raise ValueError(f"mask must be (nW, {N}, {N}) with nW dividing {Bw} windows, got {got}")
            mask = self.hook_mask(mask)
            nW = mask.shape[0]
            if Bw % nW:
                raise ValueError(f"mask must be (nW, {N}, {N}) with nW dividing {Bw} windows, got {tuple(mask.shape)}")

        if self.uses_explicit_path():
            logits = (q * self.scale) @ k.transpose(-2, -1)  # (Bw, h, N, N)
            if bias is not None:
                logits = logits + bias
            if mask is not None:
                logits = (logits.view(Bw // nW, nW, h, N, N) + mask[None, :, None]).view(Bw, h, N, N)
            probs = self.hook_probs(torch.softmax(self.hook_logits(logits), dim=-1))
            probs = F.dropout(probs, self.attn_drop, training=self.training)
            ctx = probs @ v  # (Bw, h, N, d)
        else:
            ctx = self._fused(q, k, v, bias, mask)

        ctx = self.hook_context(ctx.transpose(1, 2).reshape(Bw, N, C))
        return self.hook_out(self.proj_drop(self.proj(ctx)))

    def _fused(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None, mask: torch.Tensor | None
    ) -> torch.Tensor:
        """SDPA with ``bias (+ mask)`` as additive ``attn_mask``, without materialising a per-image copy of it.

        The shifted-window mask differs per window but not per image, so the ``B*nW`` windows are viewed as
        ``B`` sequences of ``nW*h`` "heads"; then a ``(1, nW*h, N, N)`` attn_mask broadcasts over the images.
        """
        Bw, h, N, d = q.shape
        drop = self.attn_drop if self.training else 0.0
        if mask is None:
            attn_mask = bias.to(q.dtype)[None] if bias is not None else None
            return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=drop, scale=self.scale)
        nW = mask.shape[0]
        B = Bw // nW
        full = mask[:, None].expand(nW, h, N, N) if bias is None else bias[None] + mask[:, None]
        attn_mask = full.to(q.dtype).reshape(1, nW * h, N, N)
        q, k, v = (t.reshape(B, nW * h, N, d) for t in (q, k, v))
        ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=drop, scale=self.scale)
        return ctx.reshape(Bw, h, N, d)

    def extra_repr(self) -> str:
        return (
            f"dim={self.dim}, num_heads={self.num_heads}, window_size={self.window_size}, attn_impl={self.attn_impl!r}"
            + ("" if self.relative_position else ", relative_position=False")
        )
