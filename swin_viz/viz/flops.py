"""FLOPs explorer, counting the work: global vs window attention, and where a whole Swin spends its MACs.

(a) The paper's eq. (1)-(2), :func:`swin_viz.omega_msa` and :func:`swin_viz.omega_wmsa`, for one attention layer
    on ``h x h`` tokens with ``C`` channels and ``M x M`` windows, against ``h`` (log y): quadratic vs linear in
    the number of tokens ``hw``; the chosen ``h`` is marked.
(b) A whole model (Swin-T/S/B/L) at one image size, from :func:`swin_viz.count_macs` on a meta-device model
    (no memory, no arithmetic), split per stage and per kind of module: attention projections (qkv + proj),
    the attention matmuls (``QK^T`` and ``AV``), the MLP, embedding / merging / classifier, LayerNorms.
(c) A table: analytic counts beside a measured one (``FlopCounterMode`` over a forward pass of the same
    meta-device model, when ``measure`` is on), and MACs beside FLOPs.

The split of (b) calls the library's formulas (:func:`swin_viz.flops.window_attention_macs` per window, the
``4hwC^2`` projection term of :func:`swin_viz.omega_wmsa`); the stages' sums equal ``count_macs``'s total.

``BENCH_CHANGES`` lists the control changes the latency benchmark replays.
"""

from __future__ import annotations

import functools

import numpy as np
import plotly.graph_objects as go
import torch

from ..flops import MacReport, count_macs, measure_macs, omega_msa, omega_wmsa, window_attention_macs
from ..model import CONFIGS, SwinTransformer
from ..windows import effective_window, num_windows
from . import palette
from .explorer import Explorer, State, static_figure
from .sources import meta_model as _meta_model
from .spec import FigureSpec, Panel, Series

__all__ = [
    "BENCH_CHANGES",
    "KINDS",
    "MODEL_NAMES",
    "STATIC_STATES",
    "flops_clamp",
    "flops_explorer",
    "flops_spec",
    "flops_static",
    "macs_breakdown",
    "measured_macs",
    "meta_model",
]

MODEL_NAMES: dict[str, str] = {"swin_t": "Swin-T", "swin_s": "Swin-S", "swin_b": "Swin-B", "swin_l": "Swin-L"}
KINDS: tuple[str, ...] = (
    "attention qkv + proj", "attention QK^T + AV", "MLP", "embedding / merging / classifier", "LayerNorms",
)  # fmt: skip
"""The module kinds of panel (b), in the order of their series."""
H_RANGE = (1, 1024)
C_RANGE = (1, 4096)
M_RANGE = (1, 64)
IMG_RANGE = (32, 1536)
CURVE_POINTS = 24
G = 1e9


def meta_model(name: str) -> SwinTransformer:
    """The named model on the meta device (structure only), with explicit attention for measuring: FlopCounterMode
    has no formula for the CPU fused-attention kernel. Shared and read-only: :func:`swin_viz.shared_model`."""
    return _meta_model(name, attn_impl="explicit")


@functools.lru_cache(maxsize=64)
def _report(name: str, H: int, W: int) -> MacReport:
    return count_macs(meta_model(name), (H, W))


@functools.lru_cache(maxsize=64)
def measured_macs(name: str, H: int, W: int) -> int:
    """Matmul/conv MACs of one ``(1, 3, H, W)`` forward, measured by ``FlopCounterMode`` (flops / 2).

    The forward runs on the meta device: the model's real ops with their real shapes, no arithmetic (about
    0.1-1 s, so it is cached per ``(name, H, W)``).
    """
    x = torch.empty(1, 3, H, W, device="meta")
    return measure_macs(meta_model(name), x)


def macs_breakdown(name: str, img_size: int | tuple[int, int] = 224) -> tuple[list[str], dict[str, list[int]]]:
    """``(groups, {kind: MACs per group})`` for ``name`` at ``img_size``; groups are patch_embed, stage1.., head.

    Per block, attention is :func:`window_attention_macs` times the number of (padded) windows, of which the
    ``4 N C^2`` projection term is :func:`omega_wmsa` with ``M = 0`` on one window; the MLP is the rest of the
    block's matmul count, its LayerNorms its ``other`` count (all from :func:`swin_viz.count_macs`).
    """
    H, W = (img_size, img_size) if isinstance(img_size, int) else img_size
    model = meta_model(name)
    report = _report(name, H, W)
    groups = ["patch_embed"] + [f"stage{i + 1}" for i in range(model.num_stages)] + ["head"]
    out = {k: [0] * len(groups) for k in KINDS}
    qkv, mix, mlp, other, norms = KINDS

    def add(g: int, kind: str, value: int) -> None:
        out[kind][g] += value

    embed = report.by_prefix("patch_embed")
    add(0, other, embed.matmul)
    add(0, norms, embed.other)
    for i, (stage, shape) in enumerate(zip(model.stages, model.stage_shapes(H, W))):
        g = i + 1
        h, w = shape["resolution"]
        if stage.downsample is not None:
            merge = report.by_prefix(f"stage{g}.downsample")
            add(g, other, merge.matmul)
            add(g, norms, merge.other)
        for j, block in enumerate(stage.blocks):
            macs = report.by_prefix(f"stage{g}.block{j}")
            (Mh, Mw), _ = effective_window(h, w, block.window_size, block.shift_size)
            n_windows = num_windows(h, w, (Mh, Mw))
            attn = window_attention_macs(Mh * Mw, block.dim, block.num_heads).matmul * n_windows
            proj = omega_wmsa(Mh, Mw, block.dim, 0) * n_windows  # 4 N C^2 per window: q, k, v and proj
            add(g, qkv, proj)
            add(g, mix, attn - proj)
            add(g, mlp, macs.matmul - attn)
            add(g, norms, macs.other)
    head = report.by_prefix("head")
    add(len(groups) - 1, other, head.matmul)
    add(len(groups) - 1, norms, head.other)
    return groups, out


def _curve_hs(h: int) -> list[int]:
    """Log-spaced token counts per side, 4..max(256, 2h), with ``h`` itself."""
    top = max(256, 2 * h)
    hs = np.unique(np.round(np.geomspace(4, top, CURVE_POINTS)).astype(int)).tolist()
    return sorted(set(hs) | {h})


def _fmt(macs: float) -> str:
    return f"{macs / G:,.3f} G" if macs >= 1e7 else f"{macs / 1e6:,.3f} M"


def flops_spec(
    h: int = 56, C: int = 96, M: int = 7, heads: int = 3, model: str = "swin_t", img: int = 224, measure: bool = False
) -> FigureSpec:
    """Omega(MSA) vs Omega(W-MSA) over h, the per-stage/per-kind MACs of ``model`` at ``img x img``, and a table.

    The W-MSA curve uses the window a block really uses (:func:`swin_viz.effective_window`: never larger than
    the map). ``measure`` adds the ``FlopCounterMode`` count (cached per model and size).
    """
    if model not in CONFIGS:
        raise ValueError(f"unknown model {model!r}; choose one of {sorted(CONFIGS)}")

    def w_msa(x: int) -> int:
        (m, _), _ = effective_window(x, x, M, 0)
        return omega_wmsa(x, x, C, m)

    hs = _curve_hs(h)
    msa = [omega_msa(x, x, C) / G for x in hs]
    wmsa = [w_msa(x) / G for x in hs]
    here_msa, here_wmsa = omega_msa(h, h, C), w_msa(h)
    curves = Panel(
        "(a) one attention layer: global vs windows", "lines", log_y=True,
        x_label="tokens per side h (= w)", y_label="G MACs (log scale)",
        series=[
            Series("Ω(MSA) = 4hwC² + 2(hw)²C", hs, msa, color=palette.REGION_COLORS[2]),
            Series("Ω(W-MSA) = 4hwC² + 2M²hwC", hs, wmsa, color=palette.REGION_COLORS[0]),
            Series(f"h = {h}", [h, h], [here_msa / G, here_wmsa / G], color=palette.HIGHLIGHT, dash=True),
        ],
    )  # fmt: skip

    groups, parts = macs_breakdown(model, img)
    name = MODEL_NAMES.get(model, model)
    bars = Panel(
        f"(b) {name} at {img} x {img}: MACs per stage", "bars", x_label="part of the network",
        y_label="G MACs", series=[Series(k, groups, [v / G for v in parts[k]], color=palette.REGION_COLORS[i])
                                  for i, k in enumerate(KINDS)],
    )  # fmt: skip

    report = _report(model, img, img)
    total, matmul = report.total, report.macs.matmul
    if measure:
        measured = measured_macs(model, img, img)
        measured_txt, diff_txt = _fmt(measured), f"{measured - matmul:+,d} MACs"
    else:
        measured_txt, diff_txt = "off (tick 'measure')", "-"
    per_window = window_attention_macs(M * M, C, heads)
    rows = [
        ["all MACs", _fmt(total), "analytic"],
        ["matmul + conv", _fmt(matmul), "analytic"],
        ["LayerNorm", _fmt(report.macs.other), "analytic"],
        ["matmul + conv", measured_txt, "measured"],
        ["measured - analytic", diff_txt, "measured"],
        ["FLOPs, matmul + conv", f"{matmul * 2 / G:,.3f} G", "2 x MACs"],
        [f"Ω(MSA), h={h}", _fmt(here_msa), "eq. (1)"],
        [f"Ω(W-MSA), M={M}", _fmt(here_wmsa), "eq. (2)"],
        ["Ω(MSA) / Ω(W-MSA)", f"{here_msa / here_wmsa:,.2f} x", "eq. (1) / (2)"],
        [f"one window, {heads} heads", _fmt(per_window.total), "analytic"],
    ]
    table = Panel(f"(c) {name} @ {img}; one layer", "table", header=["quantity", "value", "source"], rows=rows)
    return FigureSpec(
        title=f"Counting the work: h={h}, C={C}, M={M}, {heads} heads; {name} at {img} x {img}",
        caption="paper 'FLOPs' = MACs (multiply-accumulates); FLOPs = 2 x MACs. "
        "measured: FlopCounterMode / 2 on a meta-device forward",
        panels=[curves, bars, table],
        height=520,
    )


def _largest_divisor(n: int, at_most: int) -> int:
    return max(d for d in range(1, max(1, min(n, at_most)) + 1) if n % d == 0)


def flops_clamp(state: State) -> tuple[State, str]:
    """Keep sizes in range, heads a divisor of C, the image a multiple of 4; explain a window larger than the map."""
    state = dict(state)
    notes = []
    for key, (lo, hi), what in (("h", H_RANGE, "h"), ("C", C_RANGE, "C"), ("M", M_RANGE, "M")):
        v = int(state[key])
        if not lo <= v <= hi:
            state[key] = min(max(v, lo), hi)
            notes.append(f"{what}={v} is outside {lo}..{hi}: using {state[key]}.")
    C, heads = state["C"], int(state["heads"])
    if heads < 1 or C % heads:
        state["heads"] = _largest_divisor(C, max(heads, 1))
        notes.append(f"{heads} heads do not divide C={C}: using {state['heads']} (head_dim = C / heads).")
    if state["M"] > state["h"]:
        notes.append(f"M={state['M']} > h={state['h']}: one window covers the map, so W-MSA is global attention "
                     f"(the model uses one {state['h']} x {state['h']} window).")  # fmt: skip
    img = int(state["img"])
    fixed = min(max(round(img / 4) * 4, IMG_RANGE[0]), IMG_RANGE[1])
    if fixed != img:
        state["img"] = fixed
        notes.append(f"image size {img} must be a multiple of the patch size 4 in {IMG_RANGE[0]}..{IMG_RANGE[1]}: "
                     f"using {fixed}.")  # fmt: skip
    if state["model"] not in CONFIGS:
        notes.append(f"unknown model {state['model']!r}: using swin_t.")
        state["model"] = "swin_t"
    return state, " ".join(notes)


def flops_explorer(
    h: int = 56, C: int = 96, M: int = 7, heads: int = 3, model: str = "swin_t", img: int = 224, measure: bool = False
) -> Explorer:
    """Sliders for h, C, M, heads and the image size; a model Dropdown; a 'measure' checkbox (FlopCounterMode)."""
    import ipywidgets as widgets

    for name in CONFIGS:  # build the meta models now (~0.3-1 s each), so a model change is only counting
        meta_model(name)
    controls = {
        "h": widgets.IntSlider(value=h, min=7, max=256, description="tokens/side h"),
        "C": widgets.IntSlider(value=C, min=16, max=768, step=16, description="channels C"),
        "M": widgets.IntSlider(value=M, min=1, max=16, description="window M"),
        "heads": widgets.IntSlider(value=heads, min=1, max=32, description="heads"),
        "model": widgets.Dropdown(options=[(v, k) for k, v in MODEL_NAMES.items()], value=model, description="model"),
        "img": widgets.IntSlider(value=img, min=64, max=1024, step=32, description="image size"),
        "measure": widgets.Checkbox(value=measure, description="measure (FlopCounterMode, ~0.1-1 s per size)"),
    }
    return Explorer(controls, flops_spec, flops_clamp, title="Counting MACs and FLOPs")


BENCH_CHANGES: list[dict] = [
    dict(h=14), dict(h=112), dict(C=192), dict(M=12), dict(heads=6), dict(model="swin_b"), dict(img=384),
    dict(model="swin_l", img=224), dict(h=200, M=7), dict(model="swin_t", C=96, heads=3, h=56),
]  # fmt: skip

STATIC_STATES = [
    dict(h=56, C=96, M=7, heads=3, model="swin_t", img=224, measure=True),
    dict(h=14, C=384, M=7, heads=12, model="swin_t", img=224, measure=True),
    dict(h=128, C=96, M=7, heads=3, model="swin_t", img=512, measure=True),
    dict(h=56, C=128, M=7, heads=4, model="swin_b", img=224, measure=True),
    dict(h=96, C=192, M=12, heads=6, model="swin_l", img=384, measure=True),
]


def flops_static(states: list[State] | None = None) -> go.Figure:
    """Kernel-free version: a slider over a few layer sizes and models, measured counts included."""
    states = states or STATIC_STATES
    labels = [f"h={s['h']}, C={s['C']}, M={s['M']}; {MODEL_NAMES[s['model']]} @ {s['img']}" for s in states]
    return static_figure(flops_spec, states, labels, "layer; model @ image size")
