"""The book's visual spine: the paper's Fig. 3 drawn from a model's own geometry (chapter "why windows").

:func:`architecture_svg` draws (a) the whole network -- image, patch partition, linear embedding, each stage's
patch merging and blocks, with the map size and channels every stage really has (:meth:`SwinTransformer.stage_info
<swin_viz.SwinTransformer.stage_info>`), the MACs it costs, the head -- and (b) two consecutive blocks, LN ->
W-MSA -> LN -> MLP and LN -> SW-MSA -> LN -> MLP with their residual connections. It is one self-contained SVG
string (no script, no network, no element ids), so it works inline in Jupyter and in the HTML book.

Every part of the drawing belongs to the chapter that explains it: :data:`PART_CHAPTERS` is that one mapping,
from a part's kind to a chapter of :data:`CHAPTERS` (the book's numbered chapters, in the order of ``_toc.yml``).
Each part is an ``<a href="07_block.html">`` (relative, so it works wherever the book is served), and the parts of
one chapter can be lit: :func:`you_are_here` is the small figure that opens every chapter.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from itertools import pairwise

import torch

from ..flops import count_macs
from ..geometry import StageInfo
from ..model import CONFIGS, SwinTransformer, create_model
from . import palette

__all__ = [
    "CHAPTERS",
    "ONE_CELL",
    "PART_CHAPTERS",
    "UNFOLDS",
    "ArchitectureFigure",
    "Part",
    "architecture",
    "architecture_parts",
    "architecture_svg",
    "chapter_number",
    "link_suffix",
    "you_are_here",
]

CHAPTERS: dict[str, str] = {
    "01_why_windows": "Why windows",
    "02_patches": "Patch partition and linear embedding",
    "03_window_attention": "Window attention and its cost",
    "04_shifted_windows": "Shifted windows and the cyclic shift",
    "05_attention_mask": "The attention mask",
    "06_relative_position": "Relative position bias",
    "07_block": "The Swin block and window attention",
    "08_hierarchy": "Patch merging and the hierarchy",
    "09_whole_model": "The whole model, traced",
    "10_where_swin_looks": "Where does Swin look?",
    "11_efficiency": "Efficiency in practice",
    "12_training": "Training Swin: the paper's recipe and the engine",
    "13_finetuning": "Fine-tuning a pretrained Swin",
}
"""The numbered chapters (file stem in ``book/`` -> title), in the order of ``_toc.yml`` (a test holds them equal)."""

PART_CHAPTERS: dict[str, str] = {
    "input": "01_why_windows",  # how many tokens an image makes
    "partition": "02_patches",
    "embedding": "02_patches",
    "w-msa": "03_window_attention",
    "sw-msa": "04_shifted_windows",
    "shift": "04_shifted_windows",
    "mask": "05_attention_mask",
    "bias": "06_relative_position",
    "blocks": "07_block",
    "norm": "07_block",
    "mlp": "07_block",
    "residual": "07_block",
    "merging": "08_hierarchy",
    "map": "08_hierarchy",
    "pool": "09_whole_model",
    "probs": "10_where_swin_looks",  # the attention probabilities rollout composes and the per-query maps show
    "cost": "11_efficiency",
    "loss": "12_training",
    "classifier": "13_finetuning",  # the layer fine-tuning replaces
}
"""The one mapping from a kind of part to the chapter that explains it; every chapter has at least one part."""


ONE_CELL = "01_why_windows"
"""The chapter whose section "Swin in one cell" holds the whole forward pass, each line tagged ``[N]`` with the
chapter N that unfolds it."""

UNFOLDS: dict[str, str] = {
    "02_patches": "unfolds the lines marked [2]: the patch partition and linear embedding",
    "03_window_attention": "unfolds the lines marked [3]: windows and the attention inside them",
    "04_shifted_windows": "unfolds the lines marked [4]: the cyclic shift and its undoing",
    "05_attention_mask": "unfolds the lines marked [5]: the mask of the shifted windows",
    "06_relative_position": "unfolds the lines marked [6]: the relative position bias",
    "07_block": "unfolds the lines marked [7]: pre-norm, the residuals, the MLP",
    "08_hierarchy": "unfolds the lines marked [8]: patch merging",
    "09_whole_model": "unfolds the line marked [9], the head, and the state dict the cell reads",
    "10_where_swin_looks": "reads the attention those lines compute: where the model looks",
    "11_efficiency": "makes those lines fast",
    "12_training": "trains the weights those lines read",
    "13_finetuning": "adapts those weights to a new task",
}
"""What each chapter does with the one-cell Swin of :data:`ONE_CELL` (the caption of :func:`you_are_here`)."""


def chapter_number(chapter: str) -> int:
    """The printed number of ``chapter`` (a stem of :data:`CHAPTERS`, e.g. ``"07_block"`` -> 7)."""
    if chapter not in CHAPTERS:
        raise ValueError(f"unknown chapter {chapter!r}; the chapters are {list(CHAPTERS)}")
    return list(CHAPTERS).index(chapter) + 1


@dataclass(frozen=True)
class Part:
    """One clickable part of the figure: ``name`` is unique (``"stage2.merging"``), ``kind`` keys
    :data:`PART_CHAPTERS`; ``lines`` are its text, ``(x, y, w, h)`` its box in SVG units."""

    name: str
    kind: str
    lines: tuple[str, ...]
    x: float
    y: float
    w: float
    h: float
    shape: str = "box"  # "box", "circle" (a residual addition) or "text" (a label)

    @property
    def chapter(self) -> str:
        return PART_CHAPTERS[self.kind]


LIT_FILL, LIT_STROKE = "#FFE08A", palette.HIGHLIGHT
FILL, STROKE = "#EEF3F9", "#4E79A7"
GAP, BOX_H, TOP = 16.0, 64.0, 46.0


def _model(model: SwinTransformer | str) -> SwinTransformer:
    if isinstance(model, str):
        with torch.device("meta"):  # geometry and counts only: no memory, no arithmetic
            return create_model(model)
    if not isinstance(model, SwinTransformer):
        raise TypeError(f"architecture expects a SwinTransformer or a model name, got {type(model).__name__}")
    return model


def _model_name(model: SwinTransformer) -> str:
    for name, cfg in CONFIGS.items():
        if cfg == model.config:
            return {"swin_t": "Swin-T", "swin_s": "Swin-S", "swin_b": "Swin-B", "swin_l": "Swin-L"}[name]
    cfg = model.config
    return f"Swin (C={cfg.embed_dim}, depths {'-'.join(map(str, cfg.depths))})"


def _shape(h: int, w: int, c: int) -> str:
    return f"{h}×{w}×{c}"


def _symbolic(stride: int, channels: int, embed_dim: int) -> str:
    mult = channels // embed_dim if channels % embed_dim == 0 else None
    c = "C" if mult == 1 else f"{mult}C" if mult else str(channels)
    return f"H/{stride}×W/{stride}×{c}"


def architecture_parts(
    stages: Sequence[StageInfo], *, embed_dim: int, patch_size: int, in_chans: int, num_classes: int,
    mlp_ratio: float, image: tuple[int, int], stage_macs: Sequence[int] | None = None,
) -> tuple[list[Part], float, float]:  # fmt: skip
    """The parts of Fig. 3a (one row) and 3b (two blocks), laid out; returns ``(parts, width, height)``.

    ``stages`` is the model's :class:`~swin_viz.geometry.StageInfo` list for an ``image = (H, W)`` input; every
    size and channel count drawn comes from it (``stage_macs``, one per stage, adds the cost labels).
    """
    H, W = image
    parts: list[Part] = []
    x = 8.0
    y = TOP + 20
    parts.append(Part("input", "input", ("Images", f"{H}×{W}×{in_chans}"), x, y, 70, BOX_H))
    x += 70 + GAP
    first = stages[0]
    h0, w0 = first.resolution if first.index == 1 else first.in_resolution
    parts.append(Part("partition", "partition", ("Patch", "Partition"), x, y, 62, BOX_H))
    parts.append(Part("partition.map", "partition", (_shape(h0, w0, patch_size * patch_size * in_chans),
                                               f"H/{patch_size}×W/{patch_size}×{patch_size**2 * in_chans}"),
                      x - 8, y + BOX_H + 6, 78, 26, "text"))  # fmt: skip
    x += 62 + GAP
    for i, info in enumerate(stages):
        sx = x
        first_kind, first_lines = (("embedding", ("Linear", "Embedding")) if not info.merges
                                   else ("merging", ("Patch", "Merging")))  # fmt: skip
        parts.append(Part(f"stage{info.index}.{first_kind}", first_kind, first_lines, x + 6, y, 66, BOX_H))
        window = f"{info.window[0]}×{info.window[1]} win" if info.window[0] != info.window[1] else f"M={info.window[0]}"
        parts.append(Part(f"stage{info.index}.blocks", "blocks",
                          ("Swin Block", f"×{info.blocks}", f"{info.heads} heads, {window}"),
                          x + 78, y, 82, BOX_H))  # fmt: skip
        width = 166.0
        h, w = info.resolution
        parts.append(Part(f"stage{info.index}.map", "map",
                          (f"Stage {info.index}: {_shape(h, w, info.channels)}",
                           _symbolic(info.stride, info.channels, embed_dim)),
                          sx, y + BOX_H + 6, width, 26, "text"))  # fmt: skip
        if stage_macs is not None:
            parts.append(Part(f"stage{info.index}.cost", "cost", (f"{stage_macs[i] / 1e9:.2f} G MACs",),
                              sx, y + BOX_H + 34, width, 14, "text"))  # fmt: skip
        x += width + GAP
    last = stages[-1]
    parts.append(Part("head.pool", "pool", ("LN,", "avg pool", f"→ {last.channels}"), x, y, 62, BOX_H))
    x += 62 + GAP
    parts.append(Part("head.classifier", "classifier", ("Linear", f"→ {num_classes}"), x, y, 58, BOX_H))
    x += 58 + GAP
    parts.append(Part("head.loss", "loss", ("Cross-", "entropy", "loss"), x, y, 58, BOX_H))
    width = x + 58 + 8

    # (b): two consecutive blocks, left to right, residuals drawn over the top.
    y2 = TOP + 20 + BOX_H + 70 + 52
    bx = 40.0
    bw, bh, r = 62.0, 40.0, 9.0
    for b, (attn_kind, attn_name) in enumerate((("w-msa", "W-MSA"), ("sw-msa", "SW-MSA"))):
        prefix = f"block{b}"
        steps = ((None, None), ("norm", "LN"), (attn_kind, attn_name), ("residual", "+"), ("norm", "LN"),
                 ("mlp", f"MLP {mlp_ratio:g}×"), ("residual", "+"))  # fmt: skip
        for k, (kind, label) in enumerate(steps):
            if kind is None:
                bx += 24
                continue
            if kind == "residual":
                parts.append(Part(f"{prefix}.residual{k // 3}", kind, ("+",), bx, y2 + bh / 2 - r, 2 * r, 2 * r,
                                  "circle"))  # fmt: skip
                bx += 2 * r + 20
            else:
                name = f"{prefix}.{kind}{k // 3 + 1}" if kind == "norm" else f"{prefix}.{kind}"
                parts.append(Part(name, kind, (label,), bx, y2, bw if kind != "norm" else 34, bh))
                if kind == attn_kind:
                    tags = ([("bias", "+ bias B"), ("probs", "attn maps")] if kind == "w-msa"
                            else [("shift", "cyclic shift"), ("mask", "mask"), ("bias", "+ bias B"),
                                  ("probs", "attn maps")])  # fmt: skip
                    for t, (tag_kind, tag) in enumerate(tags):
                        parts.append(Part(f"{prefix}.{tag_kind}", tag_kind, (tag,), bx - 4, y2 + bh + 6 + 17 * t,
                                          bw + 8, 14))  # fmt: skip
                bx += (bw if kind != "norm" else 34) + 20
        bx += 10
    height = y2 + bh + 6 + 17 * 4 + 8
    return parts, max(width, bx + 40), height


def _part_svg(part: Part, lit: bool, suffix: str, dim: bool) -> str:
    number = chapter_number(part.chapter)
    href = f"{part.chapter}{suffix}"
    title = f"Chapter {number}: {CHAPTERS[part.chapter]}"
    fill, stroke = (LIT_FILL, LIT_STROKE) if lit else (FILL, STROKE)
    width = 2.5 if lit else 1.2
    opacity = ' opacity="0.6"' if dim and not lit else ""
    cls = "swin-arch-part swin-arch-lit" if lit else "swin-arch-part"
    out = [f'<a href="{escape(href)}" class="{cls}" data-part="{part.name}" data-kind="{part.kind}" '
           f'data-chapter="{part.chapter}" style="text-decoration:none"{opacity}>',
           f"<title>{escape(title)}</title>"]  # fmt: skip
    cx, cy = part.x + part.w / 2, part.y + part.h / 2
    if part.shape == "circle":
        out.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{part.w / 2:.1f}" fill="{fill}" stroke="{stroke}" '
                   f'stroke-width="{width}"/>')  # fmt: skip
        out.append(f'<text x="{cx:.1f}" y="{cy + 4.5:.1f}" text-anchor="middle" font-size="14">+</text>')
    else:
        if part.shape == "box" or lit:
            out.append(f'<rect x="{part.x:.1f}" y="{part.y:.1f}" width="{part.w:.1f}" height="{part.h:.1f}" rx="4" '
                       f'fill="{fill if part.shape == "box" else LIT_FILL}" stroke="{stroke}" '
                       f'stroke-width="{width if part.shape == "box" else 1.5}"/>')  # fmt: skip
        else:  # a text label: an invisible box keeps the whole label clickable
            out.append(f'<rect x="{part.x:.1f}" y="{part.y:.1f}" width="{part.w:.1f}" height="{part.h:.1f}" '
                       f'fill="{palette.BACKGROUND}" fill-opacity="0"/>')  # fmt: skip
        n = len(part.lines)
        size = 11.0 if part.shape == "box" else 10.0
        for i, line in enumerate(part.lines):
            ty = cy + (i - (n - 1) / 2) * (size + 2) + size * 0.35
            weight = ' font-weight="bold"' if part.shape == "text" and i == 0 and part.kind == "map" else ""
            out.append(f'<text x="{cx:.1f}" y="{ty:.1f}" text-anchor="middle" font-size="{size:g}"{weight}>'
                       f"{escape(line)}</text>")  # fmt: skip
    out.append("</a>")
    return "".join(out)


def _arrow(x1: float, y1: float, x2: float, y2: float) -> str:
    return (f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2 - 5:.1f}" y2="{y2:.1f}" stroke="{palette.OUTLINE}" '
            f'stroke-width="1.2"/><polygon points="{x2:.1f},{y2:.1f} {x2 - 6:.1f},{y2 - 3.5:.1f} '
            f'{x2 - 6:.1f},{y2 + 3.5:.1f}" fill="{palette.OUTLINE}"/>')  # fmt: skip


def _check_here(here: str | None) -> None:
    if here is not None and here not in CHAPTERS:
        raise ValueError(f"here={here!r} is not a chapter; the chapters are {list(CHAPTERS)}")


def link_suffix() -> str:
    """``".html"`` while the HTML book is built (``SWIN_VIZ_BOOK_BUILD=1``), else ``".ipynb"`` (Jupyter opens
    a relative link to a notebook in the same folder)."""
    return ".html" if os.environ.get("SWIN_VIZ_BOOK_BUILD") == "1" else ".ipynb"


def architecture_svg(
    model: SwinTransformer | str = "swin_t",
    H: int = 224,
    W: int | None = None,
    *,
    here: str | None = None,
    small: bool = False,
    suffix: str | None = None,
) -> str:
    """The paper's Fig. 3 for ``model`` (a model, or a registered name built on the meta device) and an
    ``H x W`` image, as one self-contained SVG string.

    ``here`` (a chapter stem of :data:`CHAPTERS`) lights that chapter's parts and names it in the title;
    ``small`` draws it at most 820 px wide with the other parts faded. Every part links to its chapter's page:
    ``<stem><suffix>``, ``suffix`` defaulting to :func:`link_suffix`.
    """
    _check_here(here)
    model = _model(model)
    W = W or H
    stages = model.stage_info(H, W)
    report = count_macs(model, (H, W))
    stage_macs = [report.by_prefix(info.name).total for info in stages]
    cfg = model.config
    parts, width, height = architecture_parts(
        stages, embed_dim=cfg.embed_dim, patch_size=cfg.patch_size, in_chans=cfg.in_chans,
        num_classes=cfg.num_classes, mlp_ratio=cfg.mlp_ratio, image=(H, W), stage_macs=stage_macs,
    )  # fmt: skip
    suffix = link_suffix() if suffix is None else suffix
    max_width = 820 if small else width
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="swin-architecture" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'width="{width:.0f}" style="max-width:min(100%, {max_width:.0f}px);height:auto;display:block" '
        f'font-family="sans-serif" fill="{palette.FONT_COLOR}" role="group" '
        f'aria-label="Swin architecture (paper Fig. 3)">',
        f'<rect x="0" y="0" width="{width:.0f}" height="{height:.0f}" fill="{palette.BACKGROUND}"/>',
    ]
    heading = f"(a) {_model_name(model)} on a {H}×{W} image: {report.total / 1e9:.2f} G MACs"
    if here is not None:
        heading = f"You are here: chapter {chapter_number(here)}, {CHAPTERS[here]} (lit)   ·   " + heading
    out.append(f'<text x="8" y="20" font-size="13" font-weight="bold">{escape(heading)}</text>')
    # stage frames and arrows of (a)
    y = TOP + 20
    boxes = [p for p in parts if p.shape == "box" and not p.name.startswith("block")]
    for info in stages:
        inner = [p for p in boxes if p.name.startswith(f"{info.name}.")]
        x0 = min(p.x for p in inner) - 6
        x1 = max(p.x + p.w for p in inner) + 6
        out.append(f'<rect x="{x0:.1f}" y="{y - 18:.1f}" width="{x1 - x0:.1f}" height="{BOX_H + 24:.1f}" rx="6" '
                   f'fill="none" stroke="{palette.OUTLINE}" stroke-dasharray="4 3" stroke-width="1"/>')  # fmt: skip
        out.append(f'<text x="{(x0 + x1) / 2:.1f}" y="{y - 5:.1f}" text-anchor="middle" font-size="11">'
                   f"Stage {info.index}</text>")  # fmt: skip
    for a, b in pairwise(boxes):
        out.append(_arrow(a.x + a.w, y + BOX_H / 2, b.x, y + BOX_H / 2))
    # (b)
    block_parts = [p for p in parts if p.name.startswith("block")]
    chain = [p for p in block_parts if p.kind in ("norm", "w-msa", "sw-msa", "mlp", "residual")]
    yb = min(p.y for p in chain if p.shape == "box")
    bh = max(p.h for p in chain if p.shape == "box")
    mid = yb + bh / 2
    out.append(f'<text x="8" y="{yb - 40:.1f}" font-size="13" font-weight="bold">(b) two successive Swin '
               f"blocks: W-MSA, then SW-MSA (every stage repeats the pair)</text>")  # fmt: skip
    sources: list[float] = []
    start = chain[0].x - 24
    out.append(f'<text x="{start - 30:.1f}" y="{mid - 6:.1f}" font-size="12" font-style="italic">zˡ⁻¹</text>')
    prev_x = start
    for p in chain:
        if p.kind == "norm":  # the residual branches off just before each LN
            sources.append(prev_x + (p.x - prev_x) / 2)
        if p.name == "block1.norm1":
            out.append(f'<text x="{prev_x + 2:.1f}" y="{mid + 16:.1f}" font-size="12" font-style="italic">zˡ</text>')
        out.append(_arrow(prev_x, mid, p.x, mid))
        if p.kind == "residual":
            sx = sources.pop()
            rx = p.x + p.w / 2
            top = yb - 16
            out.append(f'<path d="M {sx:.1f} {mid:.1f} L {sx:.1f} {top:.1f} L {rx:.1f} {top:.1f} L {rx:.1f} '
                       f'{p.y - 5:.1f}" fill="none" stroke="{palette.OUTLINE}" stroke-width="1.2"/>'
                       f'<polygon points="{rx:.1f},{p.y:.1f} {rx - 3.5:.1f},{p.y - 6:.1f} {rx + 3.5:.1f},'
                       f'{p.y - 6:.1f}" fill="{palette.OUTLINE}"/>')  # fmt: skip
        prev_x = p.x + p.w
    out.append(_arrow(prev_x, mid, prev_x + 24, mid))
    out.append(f'<text x="{prev_x + 28:.1f}" y="{mid + 4:.1f}" font-size="12" font-style="italic">zˡ⁺¹</text>')
    lit = {p.name for p in parts if here is not None and p.chapter == here}
    for p in parts:
        out.append(_part_svg(p, p.name in lit, suffix, dim=small and here is not None))
    out.append("</svg>")
    return "\n".join(out)


class ArchitectureFigure:
    """The SVG of :func:`architecture_svg`, displayed as HTML (so its links work in Jupyter and in the book), with
    an optional HTML ``caption`` under it."""

    def __init__(self, svg: str, caption: str = "") -> None:
        self.svg = svg
        self.caption = caption

    def _repr_html_(self) -> str:
        caption = f'<p class="swin-architecture-caption">{self.caption}</p>' if self.caption else ""
        return f'<div class="swin-architecture-figure">{self.svg}{caption}</div>'

    def __repr__(self) -> str:
        return "<Swin architecture figure (paper Fig. 3); display it in a notebook>"


def architecture(
    model: SwinTransformer | str = "swin_t", H: int = 224, W: int | None = None, *, here: str | None = None,
    small: bool = False,
) -> ArchitectureFigure:  # fmt: skip
    """:func:`architecture_svg` as a displayable figure (the last expression of a cell shows it)."""
    return ArchitectureFigure(architecture_svg(model, H, W, here=here, small=small))


def you_are_here(chapter: str) -> ArchitectureFigure:
    """The small Swin-T figure that opens ``chapter`` (a stem of :data:`CHAPTERS`), with its parts lit."""
    _check_here(chapter)
    figure = architecture("swin_t", 224, here=chapter, small=True)
    if chapter in UNFOLDS:
        suffix = link_suffix()
        anchor = "swin-in-one-cell" if suffix == ".html" else "Swin-in-one-cell"
        figure.caption = (f'In <a href="{ONE_CELL}{suffix}#{anchor}">Swin in one cell</a> (chapter '
                          f"{chapter_number(ONE_CELL)}), this chapter {escape(UNFOLDS[chapter])}.")  # fmt: skip
    return figure
