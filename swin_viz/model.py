"""Stages and the whole model: Swin-T/S/B/L (paper, Sec. 3.1 and 3.3, Table 1 and Fig. 3a).

    image (B, 3, H, W)
      -> PatchEmbed                      (B, H/4,  W/4,  C)     stage1: depth d1 blocks
      -> PatchMerging + blocks           (B, H/8,  W/8,  2C)    stage2
      -> PatchMerging + blocks           (B, H/16, W/16, 4C)    stage3
      -> PatchMerging + blocks           (B, H/32, W/32, 8C)    stage4
      -> LayerNorm, average pool, Linear (B, num_classes)

Stages 2-4 *begin* with patch merging, as the paper draws them (the official code keeps the merge at the end
of the previous stage; :mod:`swin_viz.checkpoints` maps between the two). So each ``stageN.hook_out`` is the
feature map at stride ``4 * 2**(N-1)``, which is what detection and segmentation necks consume
(:meth:`SwinTransformer.features`).

Hook names are module paths ending in a ``hook_`` part: ``stage1.block1.attn`` is the attention layer of the
second (shifted) block of stage 1, and ``stage1.block1.attn.hook_probs`` its attention probabilities.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from ._validate import (
    check_bool,
    check_nonnegative,
    check_positive,
    check_positive_number,
    check_rate,
    configure,
    is_int,
)
from .attention import ATTN_IMPLS, POSITIONS
from .block import BlockConfig, SwinBlock
from .geometry import StageInfo, stage_geometry
from .hooks import HookPoint, hook_points, run_with_cache
from .merging import PatchMerging
from .patches import PatchEmbed

__all__ = [
    "CONFIGS",
    "POSITIONS",
    "StageConfig",
    "SwinConfig",
    "SwinStage",
    "SwinTransformer",
    "create_model",
    "init_weights",
    "model_config",
    "register_config",
    "registered_config",
    "registered_models",
    "swin_b",
    "swin_l",
    "swin_s",
    "swin_t",
]


@dataclass(frozen=True)
class StageConfig:
    """What a :class:`SwinStage` is: width, depth, heads, window, the width it merges from, its blocks' options."""

    dim: int
    depth: int
    num_heads: int
    window_size: int = 7
    downsample_from: int | None = None
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    drop: float = 0.0
    attn_drop: float = 0.0
    drop_path: Sequence[float] = ()
    attn_impl: str = "auto"
    shift: bool = True
    attn_mask: bool = True
    position: str = "relative"

    def block(self, j: int) -> BlockConfig:
        """Block ``j``: regular windows when ``j`` is even; shifted by ``window_size // 2`` when odd (if ``shift``)."""
        rates = list(self.drop_path) or [0.0] * self.depth
        return BlockConfig(
            dim=self.dim, num_heads=self.num_heads, window_size=self.window_size,
            shift_size=self.window_size // 2 if self.shift and j % 2 == 1 else 0, mlp_ratio=self.mlp_ratio,
            qkv_bias=self.qkv_bias, drop=self.drop, attn_drop=self.attn_drop, drop_path=rates[j],
            attn_impl=self.attn_impl, attn_mask=self.attn_mask, position=self.position,
        )  # fmt: skip


class SwinStage(nn.Module):
    """Optional patch merging, then ``depth`` blocks alternating W-MSA / SW-MSA. ``(B, H, W, Cin) -> (B, H', W', C)``.

    Blocks are named ``block0``, ``block1``, ...; even blocks use regular windows, odd blocks shifted ones.
    Hook point: ``hook_out`` -- the stage's output map.
    """

    def __init__(
        self, dim: int | StageConfig, depth: int | None = None, num_heads: int | None = None, **options: Any
    ) -> None:
        """``SwinStage(StageConfig(...))``, or its fields: ``SwinStage(dim, depth, num_heads, window_size=7,
        downsample_from=None, drop_path=(...one rate per block...), ...)``."""
        super().__init__()
        config = configure(StageConfig, dim, dict(depth=depth, num_heads=num_heads), options)
        self.config = config
        depth = config.depth
        if not is_int(depth) or depth < 1:
            raise ValueError(f"a stage needs depth >= 1 (an int), got {depth!r}")
        if config.drop_path and len(config.drop_path) != depth:
            raise ValueError(f"drop_path needs one rate per block ({depth}), got {len(config.drop_path)}")
        self.dim = config.dim
        self.depth = depth
        self.grad_checkpointing = False
        merge_from = config.downsample_from
        self.downsample = PatchMerging(merge_from, config.dim) if merge_from is not None else None
        for j in range(depth):
            self.add_module(f"block{j}", SwinBlock(config.block(j)))
        self.hook_out = HookPoint()

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
        return self.hook_out(x)


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
    shift: bool = True
    """Ablation: ``False`` makes every block W-MSA (no shifted windows; paper Table 4, "w/o shifting")."""
    attn_mask: bool = True
    """Ablation: ``False`` drops the shifted-window mask, so wrapped-around regions attend to each other."""
    position: str = "relative"
    """``"relative"`` (the paper's bias table), ``"absolute"`` (a learned embedding added after the patch embedding,
    the official code's ``ape``; needs ``img_size``) or ``"none"`` (paper Table 4's three rows)."""
    img_size: int = 224
    """Input side the absolute position embedding is made for (used only with ``position="absolute"``)."""

    def stage(self, i: int, attn_impl: str = "auto") -> StageConfig:
        """Stage ``i`` (from 0): width ``embed_dim * 2**i``, merging from the previous width after the first stage;
        stochastic depth grows linearly from 0 to ``drop_path_rate`` over all blocks."""
        total, first = sum(self.depths), sum(self.depths[:i])
        rates = [self.drop_path_rate * k / max(total - 1, 1) for k in range(total)]
        return StageConfig(
            dim=self.embed_dim * 2**i, depth=self.depths[i], num_heads=self.num_heads[i], window_size=self.window_size,
            downsample_from=self.embed_dim * 2 ** (i - 1) if i > 0 else None, mlp_ratio=self.mlp_ratio,
            qkv_bias=self.qkv_bias, drop=self.drop_rate, attn_drop=self.attn_drop_rate,
            drop_path=tuple(rates[first : first + self.depths[i]]), attn_impl=attn_impl, shift=self.shift,
            attn_mask=self.attn_mask, position=self.position,
        )  # fmt: skip


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

    Hook points at the top level: ``patch_embed.hook_out``, ``stageN.*``, ``hook_normed`` (final LayerNorm,
    ``(B, H/32, W/32, 8C)``), ``hook_pooled`` ``(B, 8C)``; list them all with ``model.hook_points()``.
    """

    def __init__(
        self,
        config: SwinConfig | None = None,
        attn_impl: str = "auto",
        grad_checkpointing: bool = False,
        **overrides: Any,
    ) -> None:
        """``SwinTransformer(config)``; ``overrides`` are :class:`SwinConfig` fields by keyword, replacing the config's
        (or the defaults', Swin-T's): ``SwinTransformer(embed_dim=32, depths=(2, 2), num_heads=(2, 4))``."""
        super().__init__()
        if config is not None and not isinstance(config, SwinConfig):
            raise TypeError(f"SwinTransformer takes a SwinConfig (or its fields by keyword), got {config!r}")
        cfg = replace(config or SwinConfig(), **overrides)
        embed_dim, depths, num_heads, window_size = cfg.embed_dim, cfg.depths, cfg.num_heads, cfg.window_size
        patch_size, in_chans, num_classes, mlp_ratio = cfg.patch_size, cfg.in_chans, cfg.num_classes, cfg.mlp_ratio
        drop_rate, attn_drop_rate, drop_path_rate = cfg.drop_rate, cfg.attn_drop_rate, cfg.drop_path_rate
        qkv_bias, patch_norm, shift, attn_mask = cfg.qkv_bias, cfg.patch_norm, cfg.shift, cfg.attn_mask
        position, img_size = cfg.position, cfg.img_size
        for value, what in ((embed_dim, "embed_dim"), (window_size, "window_size"), (patch_size, "patch_size"),
                            (in_chans, "in_chans")):  # fmt: skip
            check_positive(value, what)
        check_nonnegative(num_classes, "num_classes (0 for a features-only model)")
        check_positive_number(mlp_ratio, "mlp_ratio")
        for value, what in ((drop_rate, "drop_rate"), (attn_drop_rate, "attn_drop_rate"),
                            (drop_path_rate, "drop_path_rate")):  # fmt: skip
            check_rate(value, what)
        for value, what in ((qkv_bias, "qkv_bias"), (patch_norm, "patch_norm"), (shift, "shift"),
                            (attn_mask, "attn_mask"), (grad_checkpointing, "grad_checkpointing")):  # fmt: skip
            check_bool(value, what)
        if position not in POSITIONS:
            raise ValueError(f"position must be one of {POSITIONS}, got {position!r}")
        check_positive(img_size, "img_size")
        if position == "absolute" and img_size % patch_size:
            raise ValueError(
                f"position='absolute' needs img_size {img_size} to be a multiple of patch_size {patch_size}"
            )
        if isinstance(depths, (str, bytes)) or isinstance(num_heads, (str, bytes)):
            raise ValueError(f"depths and num_heads must be sequences of ints, got {depths!r} and {num_heads!r}")
        depths, num_heads = tuple(depths), tuple(num_heads)
        if len(depths) != len(num_heads) or not depths:
            raise ValueError(f"depths {depths} and num_heads {num_heads} must have the same, non-zero length")
        for i, depth in enumerate(depths):
            check_positive(depth, f"stage{i + 1}: depth (depths[{i}])")
        for i, heads in enumerate(num_heads):
            dim = embed_dim * 2**i
            check_positive(heads, f"stage{i + 1}: num_heads (num_heads[{i}])")
            if dim % heads:
                raise ValueError(f"stage{i + 1}: num_heads {heads} must divide its dim {dim} (embed_dim * 2**{i})")
        if int(embed_dim * mlp_ratio) < 1:
            raise ValueError(f"mlp_ratio {mlp_ratio} gives stage 1 an MLP of width int({embed_dim} * {mlp_ratio}) = 0")
        if attn_impl not in ATTN_IMPLS:
            raise ValueError(f"attn_impl must be one of {ATTN_IMPLS}, got {attn_impl!r}")
        self.config = replace(cfg, depths=depths, num_heads=num_heads)
        self.num_stages = len(depths)
        self.num_features = embed_dim * 2 ** (self.num_stages - 1)
        self.num_classes = num_classes

        self.patch_embed = PatchEmbed(patch_size, in_chans, embed_dim, patch_norm)
        self.absolute_pos_embed: nn.Parameter | None = None
        if position == "absolute":  # the official code's ape: one learned vector per token of an img_size image
            grid = img_size // patch_size
            self.absolute_pos_embed = nn.Parameter(torch.zeros(1, grid, grid, embed_dim))
            nn.init.trunc_normal_(self.absolute_pos_embed, std=0.02)
        self.pos_drop = nn.Dropout(drop_rate)
        for i in range(self.num_stages):
            self.add_module(f"stage{i + 1}", SwinStage(self.config.stage(i, attn_impl)))
        self.norm = nn.LayerNorm(self.num_features)
        self.hook_normed = HookPoint()
        self.hook_pooled = HookPoint()
        self.head = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()

        self.apply(init_weights)
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
    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_chans, H, W) -> (B, H/p, W/p, C)``: patch embedding, plus the absolute embedding if any."""
        x = self.patch_embed(x)
        if self.absolute_pos_embed is not None:
            grid = tuple(self.absolute_pos_embed.shape[1:3])
            if tuple(x.shape[1:3]) != grid:
                raise ValueError(
                    f"position='absolute' was built for img_size={self.config.img_size} ({grid[0]}x{grid[1]} tokens); "
                    f"got {x.shape[1]}x{x.shape[2]} tokens; build the model with the input's img_size"
                )
            x = x + self.absolute_pos_embed
        return self.pos_drop(x)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_chans, H, W) -> (B, H/32, W/32, 8C)`` after the final LayerNorm."""
        x = self.embed(x)
        for stage in self.stages:
            x = stage(x)
        return self.hook_normed(self.norm(x))

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, h, w, 8C) -> (B, num_classes)``: global average pool, then the linear classifier."""
        return self.head(self.hook_pooled(x.mean(dim=(1, 2))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_chans, H, W) -> (B, num_classes)`` logits."""
        return self.forward_head(self.forward_features(x))

    def features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Multi-scale feature maps for detection/segmentation: ``{"stage1": (B, C, H/4, W/4), ...,
        "stage4": (B, 8C, H/32, W/32)}``, channels-first as FPN-style necks expect (no final norm)."""
        out = {}
        x = self.embed(x)
        for i, stage in enumerate(self.stages):
            x = stage(x)
            out[f"stage{i + 1}"] = x.permute(0, 3, 1, 2)
        return out

    def forward_intermediates(
        self,
        x: torch.Tensor,
        indices: int | Sequence[int] | None = None,
        norm: bool = False,
        stop_early: bool = False,
        output_fmt: str = "NCHW",
        intermediates_only: bool = False,
    ) -> list[torch.Tensor] | tuple[torch.Tensor, list[torch.Tensor]]:
        """Stage outputs for detection / segmentation necks, as timm's ``forward_intermediates``.

        ``indices``: ``None`` for every stage, an int ``n`` for the last ``n`` stages, or a sequence of stage
        indices counted from 0 (negative ones from the end). Each intermediate is ``(B, C_i, H/s_i, W/s_i)``
        (``output_fmt="NCHW"``) or ``(B, H/s_i, W/s_i, C_i)`` (``"NHWC"``) with ``s_i = patch_size * 2**i``.
        ``norm=True`` applies the final LayerNorm to the last stage's intermediate, as timm does.

        Returns the intermediates when ``intermediates_only``, else ``(final, intermediates)`` where ``final`` is
        :meth:`forward_features` ``(B, H/s, W/s, C)`` (or the last map reached with ``stop_early``).
        """
        n = self.num_stages
        if output_fmt not in ("NCHW", "NHWC"):
            raise ValueError(f"output_fmt must be 'NCHW' or 'NHWC', got {output_fmt!r}")
        if indices is None:
            take = list(range(n))
        elif is_int(indices):
            if not 1 <= indices <= n:
                raise ValueError(f"indices={indices} asks for the last {indices} stages; the model has {n} (1..{n})")
            take = list(range(n - indices, n))
        elif not isinstance(indices, Sequence) or isinstance(indices, str):
            raise TypeError(f"indices must be None, an int or a sequence of stage indices, got {indices!r}")
        else:
            take = []
            for i in indices:
                if not is_int(i) or not -n <= i < n:
                    raise ValueError(f"stage index {i!r} is out of range for {n} stages (0..{n - 1} or -{n}..-1)")
                take.append(i % n)
            if not take:
                raise ValueError("indices is empty; pass None for every stage")
        last = max(take)
        stages = self.stages[: last + 1] if stop_early or intermediates_only else self.stages
        intermediates: list[torch.Tensor] = []
        x = self.embed(x)
        for i, stage in enumerate(stages):
            x = stage(x)
            if i in take:
                y = self.norm(x) if norm and i == n - 1 else x
                intermediates.append(y.permute(0, 3, 1, 2) if output_fmt == "NCHW" else y)
        if intermediates_only:
            return intermediates
        final = self.hook_normed(self.norm(x)) if len(stages) == n else x
        return final, intermediates

    # ------------------------------------------------------------------------------------------------- hooks
    def hook_points(self) -> dict[str, HookPoint]:
        """Every hook point by dotted name, in forward order."""
        return hook_points(self)

    def run_with_cache(
        self, x: torch.Tensor, names: str | Iterable[str] | Callable[[str], bool] | None = None, detach: bool = True
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``(logits, {name: tensor})`` for the hook points matching ``names`` (globs; all when ``None``)."""
        return run_with_cache(self, x, names=names, detach=detach)

    # ------------------------------------------------------------------------------------------------- geometry
    def stage_info(self, H: int = 224, W: int | None = None) -> list[StageInfo]:
        """:class:`~swin_viz.geometry.StageInfo` of every stage for an ``H x W`` image (:mod:`swin_viz.geometry`)."""
        cfg = self.config
        return stage_geometry(H, W or H, patch_size=cfg.patch_size, embed_dim=cfg.embed_dim, depths=cfg.depths,
                              num_heads=cfg.num_heads, window_size=cfg.window_size)  # fmt: skip

    def stage_shapes(self, H: int = 224, W: int | None = None) -> list[dict[str, object]]:
        """:meth:`stage_info` as dicts (``"stage"``, ``"index"``, ``"resolution"``, ``"channels"``, ``"heads"``,
        ``"blocks"``, ``"window"``, ``"shift"``, ``"padded"``, ``"stride"``), for older callers."""
        return [info.as_dict() for info in self.stage_info(H, W)]

    def extra_repr(self) -> str:
        cfg = asdict(self.config)
        if cfg["position"] != "absolute":
            cfg.pop("img_size")  # used only by the absolute embedding
        return ", ".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}" for k, v in cfg.items())


def init_weights(m: nn.Module) -> None:
    """Official initialisation: truncated normal (std 0.02) for linear weights, zero biases, unit LayerNorms."""
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


_REGISTRY: dict[str, SwinConfig] = dict(CONFIGS)


def register_config(name: str, config: SwinConfig, *, replace: bool = False) -> SwinConfig:
    """Register ``config`` under ``name`` for :func:`create_model`; a name is registered once unless ``replace``."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"a model name must be a non-empty string, got {name!r}")
    if not isinstance(config, SwinConfig):
        raise TypeError(f"register_config expects a SwinConfig, got {type(config).__name__}")
    if name in _REGISTRY and not replace and _REGISTRY[name] != config:
        raise ValueError(f"model {name!r} is already registered with another config; pass replace=True")
    _REGISTRY[name] = config
    return config


def registered_models() -> list[str]:
    """Every name :func:`create_model` knows: the paper's four sizes, then the small ones."""
    return list(_REGISTRY)


def registered_config(name: str) -> SwinConfig | None:
    """The registered :class:`SwinConfig` of ``name`` (frozen, so shared, not copied), or ``None`` if unknown."""
    return _REGISTRY.get(name)


def model_config(name: str, **overrides: object) -> dict[str, object]:
    """The keyword arguments of a registered model, with ``overrides``: ``SwinTransformer(**model_config(name))``."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; choose one of {registered_models()}")
    unknown = set(overrides) - {f.name for f in fields(SwinConfig)} - {"attn_impl", "grad_checkpointing"}
    if unknown:
        raise ValueError(f"unknown SwinTransformer argument(s) {sorted(unknown)} for model {name!r}")
    kwargs = asdict(_REGISTRY[name])
    kwargs.update(overrides)
    return kwargs


def create_model(name: str, **overrides: object) -> SwinTransformer:
    """Build a registered configuration (``"swin_t"`` ... ``"swin_l"``, ``"small"``, ``"tiny"``, ``"demo"``)."""
    return SwinTransformer(**model_config(name, **overrides))


register_config("small", SwinConfig(32, (2, 2, 2), (2, 4, 8), window_size=4, patch_size=2))
"""The book's ``small`` model: Swin's structure (W-MSA/SW-MSA pairs, patch merging) with 32 channels and under a
million parameters, for 32x32 inputs (patch 2: 16x16 tokens, 4x4 windows); trained on CPU by ``swin_viz.train``."""
register_config("tiny", SwinConfig(16, (2, 2, 2), (2, 4, 8), window_size=4, num_classes=10, drop_path_rate=0.0))
"""The tests' model: 3 stages, 16 channels, 4x4 windows; runs in milliseconds on 32x32 images."""
register_config("demo", SwinConfig(32, (2, 2, 2, 2), (1, 2, 4, 8), num_classes=10, drop_path_rate=0.0))
"""The figures' random model: the real Swin structure (4 stages, W-MSA/SW-MSA pairs, M = 7) with few channels."""


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
