"""Counting the work: the paper's complexity formulas and per-module multiply-accumulates.

Two conventions meet here, and the book shows both:

* the paper's "FLOPs" are **multiply-accumulates (MACs)**, as counted by the official ``flops()`` methods:
  Swin-T at 224x224 is 4.5 G MACs, about 9.0 G floating-point operations;
* ``torch.utils.flop_counter.FlopCounterMode`` counts floating-point operations (2 per MAC) of matmuls and
  convolutions only.

Counting walks the model from above: the building blocks know nothing about it. :func:`macs_of` gives the
:class:`Macs` of one module -- a ``matmul`` part (linear layers, the two attention matmuls, the patch-embedding
convolution: exactly half of what ``FlopCounterMode`` measures) and an ``other`` part (LayerNorms, as the
official code adds them) -- and :func:`count_macs` walks a whole model, stage by stage, with the geometry of
:mod:`swin_viz.geometry`. ``count_macs(model, H).total`` is the official ``flops()`` total; the model has no
``flops()`` method, so counting stays above it (``python -m swin_viz`` prints the table of the four sizes).

Complexity of global and window attention on ``h x w`` tokens with ``C`` channels (paper, eq. 1-2; softmax
ignored):

    Omega(MSA)   = 4 h w C^2 + 2 (h w)^2 C
    Omega(W-MSA) = 4 h w C^2 + 2 M^2 h w C
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ._validate import check_positive, check_size
from .attention import WindowAttention
from .block import SwinBlock
from .merging import PatchMerging
from .model import SwinStage, SwinTransformer
from .patches import PatchEmbed
from .windows import effective_window

__all__ = [
    "MacReport",
    "Macs",
    "count_macs",
    "head_macs",
    "macs_of",
    "measure_macs",
    "omega_msa",
    "omega_wmsa",
    "patch_embed_macs",
    "patch_merging_macs",
    "swin_block_macs",
    "window_attention_macs",
]


@dataclass(frozen=True)
class Macs:
    """Multiply-accumulates of one piece of the network, split as the two conventions need."""

    matmul: int = 0
    """Linear layers, attention matmuls, the embedding convolution: what FlopCounterMode counts (x2)."""
    other: int = 0
    """LayerNorm and similar terms that the official ``flops()`` adds (one per element)."""

    @property
    def total(self) -> int:
        """The official convention: ``matmul + other``."""
        return self.matmul + self.other

    @property
    def flops(self) -> int:
        """Floating-point operations of the matmuls: ``2 * matmul`` (what FlopCounterMode reports)."""
        return 2 * self.matmul

    def __add__(self, other: Macs) -> Macs:
        return Macs(self.matmul + other.matmul, self.other + other.other)

    def __mul__(self, k: int) -> Macs:
        return Macs(self.matmul * k, self.other * k)

    __rmul__ = __mul__


def omega_msa(h: int, w: int, C: int) -> int:
    """Paper eq. (1): MACs of global multi-head self-attention on ``h x w`` tokens, ``4hwC^2 + 2(hw)^2 C``."""
    return 4 * h * w * C * C + 2 * (h * w) ** 2 * C


def omega_wmsa(h: int, w: int, C: int, M: int) -> int:
    """Paper eq. (2): MACs of window attention with ``M x M`` windows, ``4hwC^2 + 2 M^2 hw C``."""
    return 4 * h * w * C * C + 2 * M * M * h * w * C


def window_attention_macs(N: int, dim: int, num_heads: int) -> Macs:
    """One window of ``N`` tokens, official count: qkv ``3NC^2`` + ``QK^T`` and ``AV`` ``2N^2 C`` + proj ``NC^2``."""
    head_dim = dim // num_heads
    qkv = N * dim * 3 * dim
    scores = num_heads * N * head_dim * N
    mix = num_heads * N * N * head_dim
    proj = N * dim * dim
    return Macs(matmul=qkv + scores + mix + proj)


def _ceil_to(n: int, m: int) -> int:
    return -(-n // m) * m


def swin_block_macs(H: int, W: int, dim: int, num_heads: int, window: tuple[int, int], mlp_ratio: float = 4.0) -> Macs:
    """A Swin block on an ``H x W`` map with (effective) window ``window``.

    Attention runs on the map padded to a multiple of the window (padded tokens cost work too); the MLP
    and the two LayerNorms run on the ``H*W`` real tokens.
    """
    Mh, Mw = window
    Hp, Wp = _ceil_to(H, Mh), _ceil_to(W, Mw)
    n_windows = (Hp // Mh) * (Wp // Mw)
    attn = window_attention_macs(Mh * Mw, dim, num_heads) * n_windows
    hidden = int(dim * mlp_ratio)
    mlp = Macs(matmul=2 * H * W * dim * hidden)
    norms = Macs(other=2 * H * W * dim)
    return attn + mlp + norms


def patch_merging_macs(H: int, W: int, dim: int, out_dim: int | None = None) -> Macs:
    """Patch merging of an ``H x W x dim`` map (padded to even sides): LayerNorm(4C) and Linear(4C -> 2C)."""
    Ho, Wo = -(-H // 2), -(-W // 2)
    out_dim = 2 * dim if out_dim is None else out_dim
    return Macs(matmul=Ho * Wo * 4 * dim * out_dim, other=Ho * Wo * 4 * dim)


def patch_embed_macs(H: int, W: int, in_chans: int, embed_dim: int, patch_size: int, norm: bool = True) -> Macs:
    """Patch embedding of an ``H x W`` image: the ``p x p`` convolution and its LayerNorm."""
    Ho, Wo = H // patch_size, W // patch_size
    return Macs(
        matmul=Ho * Wo * embed_dim * in_chans * patch_size * patch_size, other=Ho * Wo * embed_dim if norm else 0
    )


def head_macs(H: int, W: int, num_features: int, num_classes: int) -> Macs:
    """Final LayerNorm on the last ``H x W`` map and the linear classifier (pooling is not counted)."""
    return Macs(matmul=num_features * num_classes, other=H * W * num_features)


@dataclass
class MacReport:
    """Per-module MACs of a model at one input size; ``rows`` are ``(name, Macs)`` in forward order."""

    img_size: tuple[int, int]
    rows: list[tuple[str, Macs]] = field(default_factory=list)

    @property
    def macs(self) -> Macs:
        total = Macs()
        for _, m in self.rows:
            total = total + m
        return total

    @property
    def total(self) -> int:
        """Official convention (the paper's "FLOPs"): all MACs, LayerNorms included."""
        return self.macs.total

    def by_prefix(self, prefix: str) -> Macs:
        """Sum of the rows whose name starts with ``prefix`` (e.g. ``"stage3"``)."""
        total = Macs()
        for name, m in self.rows:
            if name == prefix or name.startswith(prefix + "."):
                total = total + m
        return total

    def table(self) -> str:
        """A plain-text table of the rows, in G MACs."""
        lines = [f"{'module':32s} {'matmul GMACs':>13s} {'other GMACs':>12s}"]
        for name, m in self.rows:
            lines.append(f"{name:32s} {m.matmul / 1e9:13.4f} {m.other / 1e9:12.4f}")
        lines.append(f"{'total':32s} {self.macs.matmul / 1e9:13.4f} {self.macs.other / 1e9:12.4f}")
        return "\n".join(lines)


def macs_of(module: nn.Module, *size: int) -> Macs:
    """MACs of one building block, official convention.

    ``macs_of(patch_embed, H, W)`` for an ``H x W`` image; ``macs_of(merging, H, W)`` and ``macs_of(block, H, W)``
    for an ``H x W`` input map; ``macs_of(attention, N)`` for one window of ``N`` tokens; ``macs_of(stage, H, W)``
    for a stage's input map; ``macs_of(model, H, W)`` for one image.
    """
    for value in size:
        check_positive(value, f"size of {type(module).__name__}")
    if isinstance(module, WindowAttention):
        if len(size) != 1:
            raise ValueError(f"macs_of(WindowAttention, N) takes the tokens per window N, got {size}")
        return window_attention_macs(size[0], module.dim, module.num_heads)
    if len(size) != 2:
        raise ValueError(f"macs_of({type(module).__name__}, H, W) takes a map size (H, W), got {size}")
    H, W = size
    if isinstance(module, SwinTransformer):
        return count_macs(module, (H, W)).macs
    if isinstance(module, PatchEmbed):
        return patch_embed_macs(H, W, module.in_chans, module.embed_dim, module.patch_size,
                                norm=isinstance(module.norm, nn.LayerNorm))  # fmt: skip
    if isinstance(module, PatchMerging):
        return patch_merging_macs(H, W, module.dim, module.out_dim)
    if isinstance(module, SwinBlock):
        window, _ = effective_window(H, W, module.window_size, module.shift_size)
        return swin_block_macs(H, W, module.dim, module.num_heads, window, module.mlp_ratio)
    if isinstance(module, SwinStage):
        total = Macs()
        for _, m in _stage_rows(module, H, W, ""):
            total = total + m
        return total
    raise TypeError(f"macs_of knows PatchEmbed, WindowAttention, SwinBlock, PatchMerging, SwinStage and "
                    f"SwinTransformer, got {type(module).__name__}")  # fmt: skip


def _stage_rows(stage: SwinStage, H: int, W: int, prefix: str) -> list[tuple[str, Macs]]:
    """Rows of one stage for an ``H x W`` input map (before its merging)."""
    rows = []
    if stage.downsample is not None:
        rows.append((f"{prefix}downsample", macs_of(stage.downsample, H, W)))
        H, W = -(-H // 2), -(-W // 2)
    for j, block in enumerate(stage.blocks):
        rows.append((f"{prefix}block{j}", macs_of(block, H, W)))
    return rows


def count_macs(model: SwinTransformer, img_size: int | tuple[int, int] = 224) -> MacReport:
    """Analytic per-module MACs of ``model`` for one ``img_size`` image (a model on the meta device works).

    One walk, in forward order: ``patch_embed``, ``stageN.downsample``, ``stageN.blockJ``, ``head``; the map sizes
    come from ``model.stage_info`` (:mod:`swin_viz.geometry`).
    """
    if not isinstance(model, SwinTransformer):
        raise TypeError(f"count_macs expects a SwinTransformer, got {type(model).__name__}; see macs_of for parts")
    H, W = (img_size, img_size) if isinstance(img_size, int) and not isinstance(img_size, bool) else tuple(img_size)
    check_size(H, W, "count_macs")
    infos = model.stage_info(H, W)
    rows = [("patch_embed", macs_of(model.patch_embed, H, W))]
    for info, stage in zip(infos, model.stages):
        rows += _stage_rows(stage, *info.in_resolution, f"{info.name}.")
    h, w = infos[-1].resolution
    rows.append(("head", head_macs(h, w, model.num_features, model.num_classes)))
    return MacReport((H, W), rows)


def measure_macs(module: nn.Module, *inputs: torch.Tensor, **kwargs: object) -> int:
    """Run ``module(*inputs)`` under ``FlopCounterMode`` and return its matmul/conv MACs (flops / 2).

    Note: ``FlopCounterMode`` has no formula for the CPU kernels of ``scaled_dot_product_attention``; measure
    a model built with ``attn_impl="explicit"`` to count the attention matmuls.
    """
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(*inputs, **kwargs)
    total = counter.get_total_flops()
    if total % 2:
        raise RuntimeError(f"FlopCounterMode returned an odd flop count {total}")
    return total // 2
