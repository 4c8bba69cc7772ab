"""Stages and the whole model: Swin-T/S/B/L (paper, Sec. 3.1 and 3.3, Table 1 and Fig. 3a).

    image (B, 3, H, W)
      -> PatchEmbed                      (B, H/4,  W/4,  C)     stage1: depth d1 blocks
      -> PatchMerging + blocks           (B, H/8,  W/8,  2C)    stage2
      -> PatchMerging + blocks           (B, H/16, W/16, 4C)    stage3
      -> PatchMerging + blocks           (B, H/32, W/32, 8C)    stage4
      -> LayerNorm, average pool, Linear (B, num_classes)

Stages 2-4 *begin* with patch merging, as the paper draws them (the official code keeps the merge at the end
of the previous stage; :mod:`swin_viz.checkpoints` maps between the two). So each ``stageN.out`` is the
feature map at stride ``4 * 2**(N-1)``, which is what detection and segmentation necks consume
(:meth:`SwinTransformer.features`).

Module names double as hook names: ``stage1.block1.attn.probs`` is the attention of the second (shifted)
block of stage 1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from . import flops as _flops
from .attention import ATTN_IMPLS
from .block import SwinBlock
from .hooks import HookPoint, hook_points, run_with_cache
from .merging import PatchMerging
from .patches import PatchEmbed
from .windows import effective_window

__all__ = [
    "CONFIGS",
    "SwinConfig",
    "SwinStage",
    "SwinTransformer",
    "create_model",
    "swin_b",
    "swin_l",
    "swin_s",
    "swin_t",
]


class SwinStage(nn.Module):
    """Optional patch merging, then ``depth`` blocks alternating W-MSA / SW-MSA. ``(B, H, W, Cin) -> (B, H', W', C)``.

    Blocks are named ``block0``, ``block1``, ...; even blocks use regular windows, odd blocks shifted ones.
    Hook point: ``out`` -- the stage's output map.
    """

    def __init__(
        self,
        dim: int,
        depth: int,
        num_heads: int,
        window_size: int = 7,
        downsample_from: int | None = None,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop: float = 0.0,
        attn_drop: float = 0.0,
        drop_path: Sequence[float] = (),
        attn_impl: str = "auto",
    ) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError(f"a stage needs depth >= 1, got {depth}")
        drop_path = list(drop_path) or [0.0] * depth
        if len(drop_path) != depth:
            raise ValueError(f"drop_path needs one rate per block ({depth}), got {len(drop_path)}")
        self.dim = dim
        self.depth = depth
        self.grad_checkpointing = False
        self.downsample = PatchMerging(downsample_from, dim) if downsample_from is not None else None
        for j in range(depth):
            block = SwinBlock(
                dim, num_heads, window_size, shift_size=0 if j % 2 == 0 else window_size // 2,
                mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, drop=drop, attn_drop=attn_drop,
                drop_path=drop_path[j], attn_impl=attn_impl,
            )  # fmt: skip
            self.add_module(f"block{j}", block)
        self.out = HookPoint()

    @property
    def blocks(self) -> list[SwinBlock]:
        """The blocks in order (``block0``, ``block1``, ...)."""
        return [getattr(self, f"block{j}") for j in range(self.depth)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, H, W, Cin) -> (B, H', W', dim)``; ``H' = ceil(H/2)`` when the stage down-samples."""
        if self.downsample is not None:
            x = self.downsample(x)
        for block in self.blocks:
            if self.grad_checkpointing and torch.is_grad_enabled():
                x = checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
        return self.out(x)

    def macs_rows(self, H: int, W: int, prefix: str) -> tuple[list[tuple[str, _flops.Macs]], tuple[int, int]]:
        """Per-module MACs for an ``H x W`` input map, and the output map size."""
        rows = []
        if self.downsample is not None:
            rows.append((f"{prefix}.downsample", self.downsample.macs(H, W)))
            H, W = -(-H // 2), -(-W // 2)
        for j, block in enumerate(self.blocks):
            rows.append((f"{prefix}.block{j}", block.macs(H, W)))
        return rows, (H, W)


@dataclass(frozen=True)
class SwinConfig:
    """Hyper-parameters of a Swin model (paper, Table 7 / Sec. 3.3)."""

    embed_dim: int = 96
    depths: tuple[int, ...] = (2, 2, 6, 2)
    num_heads: tuple[int, ...] = (3, 6, 12, 24)
    window_size: int = 7
    patch_size: int = 4
    in_chans: int = 3
    num_classes: int = 1000
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    drop_rate: float = 0.0
    attn_drop_rate: float = 0.0
    drop_path_rate: float = 0.2
    patch_norm: bool = True


CONFIGS: dict[str, SwinConfig] = {
    "swin_t": SwinConfig(96, (2, 2, 6, 2), (3, 6, 12, 24), drop_path_rate=0.2),
    "swin_s": SwinConfig(96, (2, 2, 18, 2), (3, 6, 12, 24), drop_path_rate=0.3),
    "swin_b": SwinConfig(128, (2, 2, 18, 2), (4, 8, 16, 32), drop_path_rate=0.5),
    "swin_l": SwinConfig(192, (2, 2, 18, 2), (6, 12, 24, 48), drop_path_rate=0.2),
}
"""The paper's four sizes; drop-path rates from the official training configs (L: ImageNet-22K pre-training)."""


class SwinTransformer(nn.Module):
    """Swin Transformer for classification, with multi-scale features and a hook point on every intermediate.

    ``forward``: ``(B, in_chans, H, W) -> (B, num_classes)`` for any H, W that are multiples of ``patch_size``.

    Hook points at the top level: ``patch_embed.out``, ``stageN.*``, ``normed`` (final LayerNorm,
    ``(B, H/32, W/32, 8C)``), ``pooled`` ``(B, 8C)``; list them all with ``model.hook_points()``.
    """

    def __init__(
        self,
        embed_dim: int = 96,
        depths: Sequence[int] = (2, 2, 6, 2),
        num_heads: Sequence[int] = (3, 6, 12, 24),
        window_size: int = 7,
        patch_size: int = 4,
        in_chans: int = 3,
        num_classes: int = 1000,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.2,
        patch_norm: bool = True,
        attn_impl: str = "auto",
        grad_checkpointing: bool = False,
    ) -> None:
        super().__init__()
        depths, num_heads = tuple(depths), tuple(num_heads)
        if len(depths) != len(num_heads) or not depths:
            raise ValueError(f"depths {depths} and num_heads {num_heads} must have the same, non-zero length")
        for i, heads in enumerate(num_heads):
            dim = embed_dim * 2**i
            if heads < 1 or dim % heads:
                raise ValueError(f"stage{i + 1}: num_heads {heads} must divide its dim {dim} (embed_dim * 2**{i})")
        if attn_impl not in ATTN_IMPLS:
            raise ValueError(f"attn_impl must be one of {ATTN_IMPLS}, got {attn_impl!r}")
        if not 0.0 <= drop_path_rate < 1.0:
            raise ValueError(f"drop_path_rate must be in [0, 1), got {drop_path_rate}")
        self.config = SwinConfig(
            embed_dim, depths, num_heads, window_size, patch_size, in_chans, num_classes, mlp_ratio, qkv_bias,
            drop_rate, attn_drop_rate, drop_path_rate, patch_norm,
        )  # fmt: skip
        self.num_stages = len(depths)
        self.num_features = embed_dim * 2 ** (self.num_stages - 1)
        self.num_classes = num_classes

        self.patch_embed = PatchEmbed(patch_size, in_chans, embed_dim, patch_norm)
        self.pos_drop = nn.Dropout(drop_rate)
        # Stochastic depth grows linearly from 0 to drop_path_rate over all blocks.
        total = sum(depths)
        rates = [drop_path_rate * k / max(total - 1, 1) for k in range(total)]
        for i, (depth, heads) in enumerate(zip(depths, num_heads)):
            first = sum(depths[:i])
            stage = SwinStage(
                embed_dim * 2**i, depth, heads, window_size,
                downsample_from=embed_dim * 2 ** (i - 1) if i > 0 else None,
                mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, drop=drop_rate, attn_drop=attn_drop_rate,
                drop_path=rates[first : first + depth], attn_impl=attn_impl,
            )  # fmt: skip
            self.add_module(f"stage{i + 1}", stage)
        self.norm = nn.LayerNorm(self.num_features)
        self.normed = HookPoint()
        self.pooled = HookPoint()
        self.head = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()

        self.apply(_init_weights)
        self.set_grad_checkpointing(grad_checkpointing)
        hook_points(self)  # give every hook point its dotted name

    # ----------------------------------------------------------------------------------------------- structure
    @property
    def stages(self) -> list[SwinStage]:
        """``[stage1, stage2, ...]``."""
        return [getattr(self, f"stage{i + 1}") for i in range(self.num_stages)]

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute each block's activations in backward instead of storing them (less memory, more time)."""
        for stage in self.stages:
            stage.grad_checkpointing = enable

    def set_attn_impl(self, attn_impl: str) -> None:
        """Switch every block between ``"auto"``, ``"explicit"`` and ``"fused"`` attention."""
        if attn_impl not in ATTN_IMPLS:
            raise ValueError(f"attn_impl must be one of {ATTN_IMPLS}, got {attn_impl!r}")
        for stage in self.stages:
            for block in stage.blocks:
                block.attn.attn_impl = attn_impl

    # ------------------------------------------------------------------------------------------------- forward
    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_chans, H, W) -> (B, H/32, W/32, 8C)`` after the final LayerNorm."""
        x = self.pos_drop(self.patch_embed(x))
        for stage in self.stages:
            x = stage(x)
        return self.normed(self.norm(x))

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, h, w, 8C) -> (B, num_classes)``: global average pool, then the linear classifier."""
        return self.head(self.pooled(x.mean(dim=(1, 2))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_chans, H, W) -> (B, num_classes)`` logits."""
        return self.forward_head(self.forward_features(x))

    def features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Multi-scale feature maps for detection/segmentation: ``{"stage1": (B, C, H/4, W/4), ...,
        "stage4": (B, 8C, H/32, W/32)}``, channels-first as FPN-style necks expect (no final norm)."""
        out = {}
        x = self.pos_drop(self.patch_embed(x))
        for i, stage in enumerate(self.stages):
            x = stage(x)
            out[f"stage{i + 1}"] = x.permute(0, 3, 1, 2)
        return out

    # ------------------------------------------------------------------------------------------------- hooks
    def hook_points(self) -> dict[str, HookPoint]:
        """Every hook point by dotted name, in forward order."""
        return hook_points(self)

    def run_with_cache(
        self, x: torch.Tensor, names: str | Iterable[str] | Callable[[str], bool] | None = None, detach: bool = True
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``(logits, {name: tensor})`` for the hook points matching ``names`` (globs; all when ``None``)."""
        return run_with_cache(self, x, names=names, detach=detach)

    # ------------------------------------------------------------------------------------------------- counting
    def macs_rows(self, H: int, W: int) -> list[tuple[str, _flops.Macs]]:
        """Per-module MACs for one ``H x W`` image, in forward order (see :func:`swin_viz.count_macs`)."""
        p = self.config.patch_size
        rows = [("patch_embed", self.patch_embed.macs(H, W))]
        h, w = H // p, W // p
        for i, stage in enumerate(self.stages):
            stage_rows, (h, w) = stage.macs_rows(h, w, f"stage{i + 1}")
            rows += stage_rows
        rows.append(("head", _flops.head_macs(h, w, self.num_features, self.num_classes)))
        return rows

    def flops(self, H: int = 224, W: int | None = None) -> int:
        """The official ``flops()``: total MACs (the paper's "FLOPs") for one ``H x W`` image."""
        return _flops.count_macs(self, (H, W or H)).total

    def stage_shapes(self, H: int = 224, W: int | None = None) -> list[dict[str, object]]:
        """Per stage: map size, channels, heads, the (effective) window and shift of its blocks, and the size the
        map is zero-padded to for window attention (``padded``)."""
        W = W or H
        p, cfg = self.config.patch_size, self.config
        h, w = H // p, W // p
        out = []
        for i, stage in enumerate(self.stages):
            if i > 0:
                h, w = -(-h // 2), -(-w // 2)
            window, shift = effective_window(h, w, cfg.window_size, cfg.window_size // 2)
            padded = (-(-h // window[0]) * window[0], -(-w // window[1]) * window[1])
            out.append({"stage": f"stage{i + 1}", "resolution": (h, w), "channels": stage.dim,
                        "heads": cfg.num_heads[i], "blocks": stage.depth, "window": window, "shift": shift,
                        "padded": padded, "stride": p * 2**i})  # fmt: skip
        return out

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in asdict(self.config).items())


def _init_weights(m: nn.Module) -> None:
    """Official initialisation: truncated normal (std 0.02) for linear weights, zero biases, unit LayerNorms."""
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


def create_model(name: str, **overrides: object) -> SwinTransformer:
    """Build a named configuration (``"swin_t"``, ``"swin_s"``, ``"swin_b"``, ``"swin_l"``) with overrides."""
    if name not in CONFIGS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(CONFIGS)}")
    kwargs = asdict(CONFIGS[name])
    kwargs.update(overrides)
    return SwinTransformer(**kwargs)


def swin_t(**overrides: object) -> SwinTransformer:
    """Swin-T: C=96, depths (2, 2, 6, 2), heads (3, 6, 12, 24); 28.3 M parameters, 4.5 G MACs at 224."""
    return create_model("swin_t", **overrides)


def swin_s(**overrides: object) -> SwinTransformer:
    """Swin-S: C=96, depths (2, 2, 18, 2), heads (3, 6, 12, 24); 49.6 M parameters, 8.7 G MACs at 224."""
    return create_model("swin_s", **overrides)


def swin_b(**overrides: object) -> SwinTransformer:
    """Swin-B: C=128, depths (2, 2, 18, 2), heads (4, 8, 16, 32); 87.8 M parameters, 15.4 G MACs at 224."""
    return create_model("swin_b", **overrides)


def swin_l(**overrides: object) -> SwinTransformer:
    """Swin-L: C=192, depths (2, 2, 18, 2), heads (6, 12, 24, 48); 196.5 M parameters, 34.5 G MACs at 224."""
    return create_model("swin_l", **overrides)
