"""Stage geometry: what each stage of a Swin model sees for one input size (chapter "hierarchy", paper Sec. 3.1).

One function, :func:`stage_geometry`, computes it, and everything that needs it reads it from here: the MAC
count (:mod:`swin_viz.flops`), ``SwinTransformer.stage_info`` / ``stage_shapes``, the figures, the labs and the
checkpoint export. Per stage it gives a :class:`StageInfo`:

* ``resolution`` -- the token map ``(h, w)``: ``H/p`` in stage 1, then ``ceil(h/2)`` after every patch merging
  (an odd side is zero-padded before merging);
* ``padded`` -- the map zero-padded to a multiple of the window, where window attention runs;
* ``channels``, ``heads``, ``blocks``;
* ``stride`` -- pixels per token along one axis, ``p * 2**(i-1)``;
* ``window`` / ``shift`` -- the window and shift the blocks really use: on an axis no larger than the window the
  window shrinks to the axis and the shift is 0 (:func:`swin_viz.effective_window`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ._validate import check_positive, check_size
from .windows import effective_window

__all__ = ["StageInfo", "stage_geometry"]


@dataclass(frozen=True)
class StageInfo:
    """Geometry of one stage for one input size. ``index`` counts from 1, as the stage's name ``stage{index}``."""

    index: int
    resolution: tuple[int, int]
    """Token map ``(h, w)`` of the stage's blocks (after its patch merging)."""
    padded: tuple[int, int]
    """``resolution`` rounded up to a multiple of ``window``: the map window attention runs on."""
    channels: int
    heads: int
    blocks: int
    stride: int
    """Pixels per token along one axis."""
    window: tuple[int, int]
    """The effective window of the stage's blocks."""
    shift: tuple[int, int]
    """The effective shift of the stage's shifted (odd) blocks; ``(0, 0)`` when one window covers the map."""
    in_resolution: tuple[int, int]
    """The map that enters the stage, before its patch merging (equal to ``resolution`` in stage 1)."""
    in_channels: int
    """Channels of the map that enters the stage."""

    @property
    def name(self) -> str:
        """``"stage1"``, ``"stage2"``, ...: the stage's module (and hook-point prefix) in the model."""
        return f"stage{self.index}"

    @property
    def num_windows(self) -> int:
        """Windows per image: ``(padded_h / Mh) * (padded_w / Mw)``."""
        return (self.padded[0] // self.window[0]) * (self.padded[1] // self.window[1])

    @property
    def merges(self) -> bool:
        """Whether the stage begins with patch merging (every stage but the first)."""
        return self.index > 1

    def as_dict(self) -> dict[str, object]:
        """The older ``stage_shapes()`` row: ``{"stage": "stage1", "resolution": ..., ...}``."""
        return {"stage": self.name, "index": self.index, "resolution": self.resolution, "channels": self.channels,
                "heads": self.heads, "blocks": self.blocks, "window": self.window, "shift": self.shift,
                "padded": self.padded, "stride": self.stride}  # fmt: skip


def stage_geometry(
    H: int,
    W: int,
    *,
    patch_size: int,
    embed_dim: int,
    depths: Sequence[int],
    num_heads: Sequence[int],
    window_size: int,
) -> list[StageInfo]:
    """:class:`StageInfo` of every stage for an ``H x W`` image (``H, W`` multiples of ``patch_size``)."""
    check_size(H, W, "stage_geometry")
    check_positive(patch_size, "patch_size")
    if H % patch_size or W % patch_size:
        raise ValueError(f"image size H={H}, W={W} must be a multiple of patch_size {patch_size}; pad or resize")
    h, w = H // patch_size, W // patch_size
    out: list[StageInfo] = []
    for i, (depth, heads) in enumerate(zip(depths, num_heads)):
        in_res, in_ch = (h, w), embed_dim * 2 ** max(i - 1, 0)
        if i > 0:
            h, w = -(-h // 2), -(-w // 2)
        window, shift = effective_window(h, w, window_size, window_size // 2)
        padded = (-(-h // window[0]) * window[0], -(-w // window[1]) * window[1])
        out.append(StageInfo(i + 1, (h, w), padded, embed_dim * 2**i, heads, depth, patch_size * 2**i, window,
                             shift, in_res, in_ch))  # fmt: skip
    return out
