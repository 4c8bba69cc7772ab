"""Where does Swin look? Attribution maps written on the hook points, and checks of their faithfulness
(chapter 10, "Where does Swin look?").

Three maps, each ``(B, H, W)`` at the input's resolution (a token's value on every pixel of its patch):

=================================  ==========================================================================
:func:`attention_rollout`          attention flow from the input to the pooled output, composed over blocks
:func:`grad_cam`                   Grad-CAM on any hook point or module, tokens put back on the map for you
:func:`window_attention_map`       one query's attention within its window, placed on the image
=================================  ==========================================================================

and the measurements that say whether a map means anything:

=================================  ==========================================================================
:func:`deletion_curve`             the true class's probability as the top-ranked pixels are deleted
:func:`random_deletion_curve`      the same for a random ranking (the baseline)
:func:`cascading_randomization`    Adebayo et al. (2018): randomise the weights from the head down, compare maps
:func:`rank_correlation`           Spearman's rank correlation of two maps (ties get their average rank)
=================================  ==========================================================================

**Rollout for windows.** Abnar & Zuidema (2020) compose the attention matrices of successive layers. Swin's
attention is not one matrix over the tokens: each block attends within windows, shifted in odd blocks, and
patch merging halves the map between stages. :func:`token_attention_matrix` turns one block's
``attn.hook_probs`` ``(B*nW, heads, N, N)`` into one ``(B, h*w, h*w)`` matrix over the block's map: the token
positions go through the block's own padding, cyclic shift and window partition, so each window's rows are
written where its tokens really are (the shift is undone), and the matrix is block-sparse (non-zero only between
tokens that share a window; in shifted blocks also only within one region, the mask leaves ``exp(-100)``).
Attention to padding tokens (zeros after the norm, not the image) is dropped and each row renormalised.
Heads are averaged; the residual is added as Abnar & Zuidema do, ``0.5 A + 0.5 I`` (rows then sum to 1 again).
A patch merging is the matrix in which each merged token takes the mean of its four sources (of the sources
inside the map, when an odd side is padded). Swin has no class token: the classifier reads the *average* of the
last map's tokens, so the rollout of the output is the mean of the composed matrix's rows (every output token
weighted equally, as the pooling weighs them).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .model import SwinTransformer, init_weights
from .shift import cyclic_shift
from .windows import effective_window, pad_to_window, window_partition

__all__ = [
    "DeletionCurve",
    "RandomizationStep",
    "attention_rollout",
    "block_geometry",
    "cascading_randomization",
    "default_grad_cam_layer",
    "deletion_curve",
    "grad_cam",
    "random_deletion_curve",
    "rank_correlation",
    "rollout_matrices",
    "token_attention_matrix",
    "window_attention_map",
]


# ========================================================================================================= geometry
@dataclass(frozen=True)
class BlockGeometry:
    """How one block cuts its map for an ``H x W`` input: the map ``(h, w)``, the effective window and shift, and the
    stride in pixels of one token."""

    name: str
    stage: int
    resolution: tuple[int, int]
    window: tuple[int, int]
    shift: tuple[int, int]
    stride: int
    heads: int


def block_geometry(model: SwinTransformer, H: int, W: int) -> dict[str, BlockGeometry]:
    """``{"stage1.block0": BlockGeometry, ...}`` for every block, in forward order, for an ``H x W`` input."""
    out = {}
    for info, stage in zip(model.stage_info(H, W), model.stages):
        h, w = info.resolution
        for j, block in enumerate(stage.blocks):
            window, shift = effective_window(h, w, block.window_size, block.shift_size)
            name = f"{info.name}.block{j}"
            out[name] = BlockGeometry(name, info.index, (h, w), window, shift, info.stride, info.heads)
    return out


def _window_coords(h: int, w: int, window: tuple[int, int], shift: tuple[int, int]) -> torch.Tensor:
    """``(nW, N)``: the flat map index ``r * w + c`` of token ``n`` of window ``k``, ``-1`` for padding.

    Positions go through :func:`pad_to_window`, :func:`cyclic_shift` and :func:`window_partition`, exactly as
    :meth:`swin_viz.SwinBlock.forward` moves features, so the index undoes the shift."""
    pos = (torch.arange(h * w, dtype=torch.float64) + 1).view(1, h, w, 1)
    pos, _ = pad_to_window(pos, window)  # padding is 0 -> -1 below
    if shift != (0, 0):
        pos = cyclic_shift(pos, shift)
    return window_partition(pos, window).reshape(-1, window[0] * window[1]).long() - 1


def _check_block(model: SwinTransformer, block: str, geometry: dict[str, BlockGeometry]) -> BlockGeometry:
    if block not in geometry:
        raise ValueError(f"unknown block {block!r}: this model's blocks are {list(geometry)}")
    return geometry[block]


def _check_images(model: SwinTransformer, x: torch.Tensor) -> tuple[int, int]:
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != model.config.in_chans:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x must be images (B, {model.config.in_chans}, H, W), got {got}")
    H, W = x.shape[-2:]
    p = model.config.patch_size
    if H % p or W % p:
        raise ValueError(f"image size H={H}, W={W} must be a multiple of patch_size {p}; pad or resize")
    return int(H), int(W)


def _to_pixels(maps: torch.Tensor, H: int, W: int) -> torch.Tensor:
    """``(B, h, w)`` token maps -> ``(B, H, W)``: each token's value on every pixel of its patch (nearest)."""
    h, w = maps.shape[-2:]
    sh, sw = -(-H // h), -(-W // w)
    return maps.repeat_interleave(sh, -2).repeat_interleave(sw, -1)[..., :H, :W]


# ========================================================================================================= rollout
def token_attention_matrix(probs: torch.Tensor, geometry: BlockGeometry, batch: int) -> torch.Tensor:
    """One block's attention as a matrix over its whole map: ``(B*nW, heads, N, N) -> (B, h*w, h*w)``.

    Row ``q`` (a query token, flat index ``r * w + c`` of the unshifted, unpadded map) holds the head-averaged
    probabilities it gives every key token: non-zero only inside its window (a block-sparse matrix). Attention to
    padding tokens is dropped and the row renormalised to sum to 1.
    """
    h, w = geometry.resolution
    coords = _window_coords(h, w, geometry.window, geometry.shift).to(probs.device)  # (nW, N)
    nW, N = coords.shape
    if probs.dim() != 4 or probs.shape[0] != batch * nW or probs.shape[-2:] != (N, N):
        raise ValueError(f"{geometry.name}: expected attn.hook_probs ({batch * nW}, heads, {N}, {N}), got "
                         f"{tuple(probs.shape)}")  # fmt: skip
    a = probs.float().mean(1).view(batch, nW, N, N)  # mean over heads
    valid = coords >= 0
    a = a * valid[None, :, None, :]  # drop the padding keys
    q = coords.clamp(min=0)[:, :, None].expand(nW, N, N)
    k = coords.clamp(min=0)[:, None, :].expand(nW, N, N)
    pair = (valid[:, :, None] & valid[:, None, :]).reshape(-1)
    flat = (q * (h * w) + k).reshape(-1)[pair]
    out = torch.zeros(batch, (h * w) ** 2, dtype=a.dtype, device=a.device)
    out.index_add_(1, flat, a.reshape(batch, -1)[:, pair])
    out = out.view(batch, h * w, h * w)
    return out / out.sum(-1, keepdim=True).clamp_min(1e-30)


def _merge_matrix(h: int, w: int, device: torch.device) -> torch.Tensor:
    """``(ceil(h/2) * ceil(w/2), h * w)``: each merged token is the mean of its (up to) four source tokens."""
    h2, w2 = -(-h // 2), -(-w // 2)
    r, c = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij")
    target = (r // 2) * w2 + c // 2
    m = torch.zeros(h2 * w2, h * w, device=device)
    m[target.reshape(-1), torch.arange(h * w, device=device)] = 1.0
    return m / m.sum(-1, keepdim=True)


def rollout_matrices(model: SwinTransformer, x: torch.Tensor, residual: float = 0.5) -> dict[str, torch.Tensor]:
    """The attention flow after every block: ``{block: (B, h*w, h1*w1)}``, row = a token of the block's map,
    column = a stage-1 token (a patch of the input), rows summing to 1.

    Each block contributes ``(1 - residual) A + residual I`` (``A`` from :func:`token_attention_matrix`), each patch
    merging the mean of four sources (see the module docstring). ``residual=0.5`` is Abnar & Zuidema's choice.
    """
    H, W = _check_images(model, x)
    if not 0.0 <= residual <= 1.0:
        raise ValueError(f"residual must be in [0, 1], got {residual!r}")
    geometry = block_geometry(model, H, W)
    B = x.shape[0]
    with torch.no_grad():
        _, cache = model.run_with_cache(x, names="*.attn.hook_probs")
    flows: dict[str, torch.Tensor] = {}
    flow: torch.Tensor | None = None
    for name, g in geometry.items():
        h, w = g.resolution
        if flow is None:
            flow = torch.eye(h * w, device=x.device).expand(B, -1, -1)
        elif flow.shape[1] != h * w:  # a patch merging between the previous block and this one
            prev_h, prev_w = next(f for f in geometry.values() if f.stage == g.stage - 1).resolution
            flow = _merge_matrix(prev_h, prev_w, x.device) @ flow
        a = token_attention_matrix(cache[f"{name}.attn.hook_probs"], g, B)
        a = (1.0 - residual) * a + residual * torch.eye(h * w, device=a.device)
        # A is block-sparse (a window's worth of entries per row): multiply it as a sparse matrix, image by image.
        flow = torch.stack([torch.sparse.mm(a[b].to_sparse(), flow[b]) for b in range(B)])
        flows[name] = flow
    return flows


def attention_rollout(
    model: SwinTransformer, x: torch.Tensor, residual: float = 0.5, block: str | None = None
) -> torch.Tensor:
    """Attention rollout of the pooled output: ``(B, C, H, W) -> (B, H, W)``, each map summing to 1 over patches.

    The flow from every input patch to the last map (:func:`rollout_matrices`), averaged over the last map's
    tokens as the classifier's average pool averages them; each patch's share is drawn on its pixels. It depends on
    the attention only: it is the same for every class (there is no ``target``). ``block`` (e.g.
    ``"stage2.block1"``) stops the flow after that block, averaged over its map's tokens; default: the last block.
    """
    H, W = _check_images(model, x)
    if block is not None:
        _check_block(model, block, block_geometry(model, H, W))
    flows = rollout_matrices(model, x, residual)
    last = flows[block or next(reversed(flows))].mean(1)  # (B, h1*w1): the pooled output's flow
    h1, w1 = next(iter(block_geometry(model, H, W).values())).resolution
    return _to_pixels(last.view(-1, h1, w1), H, W)


# ======================================================================================================= Grad-CAM
def default_grad_cam_layer(model: SwinTransformer) -> str:
    """``"stage{last}.block{last}.norm1"``: the last block's first LayerNorm, the input of its attention.

    Chosen by measurement: on the shipped digits model its deletion AUC is the lowest of the last block's layers
    (``norm1``, ``norm2``, ``hook_out``, ``attn.hook_out``) and of the final ``hook_normed``; the chapter "Where
    does Swin look?" prints the comparison and asserts it. (torch-cam #412 found ``norm2`` better on ImageNet
    Swin-T: measure on your model with :func:`deletion_curve`.)"""
    stage = model.stages[-1]
    return f"stage{model.num_stages}.block{stage.depth - 1}.norm1"


_BLOCK_OF = re.compile(r"^(stage\d+\.block\d+)\.")


def _token_map(
    t: torch.Tensor, layer: str, batch: int, geometry: dict[str, BlockGeometry], H: int, W: int
) -> torch.Tensor:
    """A layer's output as a channels-last map ``(B, h, w, C)``.

    Accepts ``(B, h, w, C)`` maps, ``(B, L, C)`` token sequences (``L = h*w`` of one stage, row-major) and a
    block's windows ``(B*nW, N, C)`` (``hook_windows``, ``attn.hook_context``, ``attn.hook_out``, ...), which are
    put back on the unshifted map with the block's own geometry."""
    resolutions = {g.resolution for g in geometry.values()}
    if t.dim() == 4 and t.shape[0] == batch and tuple(t.shape[1:3]) in resolutions:
        return t
    if t.dim() == 3 and t.shape[0] == batch:
        for g in geometry.values():
            h, w = g.resolution
            if t.shape[1] == h * w:
                return t.reshape(batch, h, w, -1)
    if t.dim() == 3:
        m = _BLOCK_OF.match(layer)
        if m and m.group(1) in geometry:
            g = geometry[m.group(1)]
            h, w = g.resolution
            coords = _window_coords(h, w, g.window, g.shift).to(t.device)
            nW, N = coords.shape
            if t.shape[:2] == (batch * nW, N):
                valid = coords >= 0
                out = t.new_zeros(batch, h * w, t.shape[-1])
                src = t.view(batch, nW, N, -1)[:, valid]
                out[:, coords[valid]] = src
                return out.view(batch, h, w, -1)
    raise ValueError(
        f"layer {layer!r} gives {tuple(t.shape)}, which is not a map of this model's tokens (B, h, w, C), a token "
        f"sequence (B, h*w, C) or a block's windows (B*nW, N, C); choose a block's norm1/norm2, a hook_out or "
        f"hook_windows"
    )


def _check_target(target: int | Sequence[int] | torch.Tensor | None, logits: torch.Tensor) -> torch.Tensor:
    B, classes = logits.shape
    if target is None:
        return logits.argmax(-1)
    t = torch.as_tensor(target, device=logits.device).long().reshape(-1)
    if t.numel() == 1:
        t = t.expand(B)
    if t.numel() != B:
        raise ValueError(f"target must be one class or one per image ({B}), got {t.numel()}")
    if (t < 0).any() or (t >= classes).any():
        raise ValueError(f"target classes must lie in 0..{classes - 1}, got {t.tolist()}")
    return t


def grad_cam(
    model: SwinTransformer,
    x: torch.Tensor,
    target: int | Sequence[int] | torch.Tensor | None = None,
    layer: str | None = None,
) -> torch.Tensor:
    """Grad-CAM (Selvaraju et al. 2017) on a named layer: ``(B, C, H, W) -> (B, H, W)``, zero or positive.

    ``layer`` is a hook point (``"stage3.block1.hook_out"``) or a module (``"stage3.block1.norm2"``); default
    :func:`default_grad_cam_layer`. Its output is put back on the token map ``(B, h, w, C)`` for you (also from a
    block's windows). Each channel is weighted by the mean over the map of the gradient of the ``target`` logit
    (a class per image, or one for all; ``None``: the predicted class); the map is ``ReLU(sum_c weight_c A_c)``,
    each token's value drawn on its patch's pixels. The model's weights and mode are left as they are.
    """
    H, W = _check_images(model, x)
    layer = default_grad_cam_layer(model) if layer is None else layer
    modules = dict(model.named_modules())
    if layer not in modules or layer == "":
        near = [n for n in modules if n.endswith(layer.rpartition(".")[2])][:5] if layer else []
        raise ValueError(f"unknown layer {layer!r}: give a module or hook point name, e.g. "
                         f"{default_grad_cam_layer(model)!r}{'; similar: ' + str(near) if near else ''}")  # fmt: skip
    geometry = block_geometry(model, H, W)
    seen: dict[str, torch.Tensor] = {}

    def keep(module: nn.Module, inputs: tuple, out: torch.Tensor) -> None:
        if not isinstance(out, torch.Tensor):
            raise ValueError(f"layer {layer!r} returns {type(out).__name__}, not a tensor")
        out.retain_grad()
        seen["act"] = out

    handle = modules[layer].register_forward_hook(keep)
    try:
        with torch.enable_grad():
            xi = x.detach().clone().requires_grad_(True)  # gives the activations a graph without touching weights
            logits = model(xi)
            t = _check_target(target, logits)
            if "act" not in seen:
                raise ValueError(f"layer {layer!r} did not run in the forward pass")
            logits.gather(1, t[:, None]).sum().backward()
    finally:
        handle.remove()
    act, grad = seen["act"].detach(), seen["act"].grad
    fmap = _token_map(act, layer, x.shape[0], geometry, H, W)
    gmap = _token_map(grad, layer, x.shape[0], geometry, H, W)
    weights = gmap.mean(dim=(1, 2), keepdim=True)  # (B, 1, 1, C)
    cam = torch.relu((weights * fmap).sum(-1))  # (B, h, w)
    return _to_pixels(cam, H, W)


# ====================================================================================================== per query
def window_attention_map(
    model: SwinTransformer,
    x: torch.Tensor,
    query: tuple[int, int],
    block: str,
    head: int | None = None,
) -> torch.Tensor:
    """One query's attention within its window, on the image: ``(B, C, H, W) -> (B, H, W)``.

    ``query`` is ``(row, col)`` on ``block``'s token map (``"stage1.block1"``; the map is ``H / stride`` a side,
    stride ``patch_size * 2**(stage-1)``). The query's row of ``{block}.attn.hook_probs`` (``head``, or the mean
    over heads when ``None``) is put on the pixels of each key token of its window, zero outside it; in a shifted
    block the window is where the model put it (its pieces may sit at opposite edges). Sums over tokens to 1 (less
    what goes to padding tokens).
    """
    H, W = _check_images(model, x)
    geometry = block_geometry(model, H, W)
    g = _check_block(model, block, geometry)
    h, w = g.resolution
    if (not isinstance(query, (tuple, list)) or len(query) != 2
            or not all(isinstance(v, (int, np.integer)) for v in query)):  # fmt: skip
        raise ValueError(f"query must be (row, col) on {block}'s {h} x {w} token map, got {query!r}")
    r, c = int(query[0]), int(query[1])
    if not (0 <= r < h and 0 <= c < w):
        raise ValueError(f"query ({r}, {c}) is outside {block}'s {h} x {w} token map (rows 0..{h - 1}, "
                         f"cols 0..{w - 1})")  # fmt: skip
    if head is not None and not (isinstance(head, (int, np.integer)) and 0 <= head < g.heads):
        raise ValueError(f"head {head!r} is not one of {block}'s {g.heads} heads (0..{g.heads - 1})")
    with torch.no_grad():
        _, cache = model.run_with_cache(x, names=f"{block}.attn.hook_probs")
    probs = cache[f"{block}.attn.hook_probs"].float()
    probs = probs.mean(1) if head is None else probs[:, int(head)]  # (B*nW, N, N)
    coords = _window_coords(h, w, g.window, g.shift).to(x.device)
    nW, N = coords.shape
    where = (coords == r * w + c).nonzero()[0]
    k, n = int(where[0]), int(where[1])
    row = probs.view(x.shape[0], nW, N, N)[:, k, n]  # (B, N)
    valid = coords[k] >= 0
    out = torch.zeros(x.shape[0], h * w, device=x.device)
    out[:, coords[k][valid]] = row[:, valid]
    return _to_pixels(out.view(-1, h, w), H, W)


# ================================================================================================= faithfulness
@dataclass(frozen=True)
class DeletionCurve:
    """``fractions`` ``(S,)`` of pixels deleted, ``probs`` ``(B, S)`` the true class's probability after each;
    ``auc`` ``(B,)`` the area under each image's curve (trapezoid over the fraction, 0..1): lower = the map found
    the pixels the model needs sooner."""

    fractions: torch.Tensor
    probs: torch.Tensor

    @property
    def auc(self) -> torch.Tensor:
        return torch.trapezoid(self.probs, self.fractions, dim=-1)

    @property
    def mean_auc(self) -> float:
        return float(self.auc.mean())

    def at(self, fraction: float) -> torch.Tensor:
        """``(B,)``: the probability after deleting ``fraction`` (one of :attr:`fractions`)."""
        i = int(torch.isclose(self.fractions, torch.tensor(float(fraction), dtype=self.fractions.dtype)).nonzero()[0])
        return self.probs[:, i]


FILLS = ("mean", "zero")


def _fill_value(x: torch.Tensor, fill: str) -> torch.Tensor:
    if fill == "mean":
        return x.mean(dim=(2, 3), keepdim=True).expand_as(x)
    if fill == "zero":
        return torch.zeros_like(x)
    raise ValueError(f"fill must be one of {FILLS}, got {fill!r}")


def _order(scores: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """``(B, H*W)`` pixel indices, highest score first; ties (a token's pixels share its score) broken at random."""
    B, P = scores.shape
    shuffle = torch.stack([torch.randperm(P, generator=generator) for _ in range(B)]).to(scores.device)
    shuffled = scores.gather(1, shuffle)
    return shuffle.gather(1, torch.argsort(shuffled, dim=1, descending=True, stable=True))


def deletion_curve(
    model: SwinTransformer,
    x: torch.Tensor,
    saliency: torch.Tensor,
    target: int | Sequence[int] | torch.Tensor,
    steps: int = 16,
    fill: str = "mean",
    seed: int = 0,
) -> DeletionCurve:
    """Delete pixels in the order ``saliency`` ``(B, H, W)`` ranks them (highest first) and record the ``target``
    class's softmax probability after each of ``steps`` equal steps (fractions ``0, 1/steps, ..., 1``).

    A deleted pixel takes, in every channel, ``fill="mean"`` the image's own mean of that channel, or
    ``fill="zero"`` the value 0 of the model's input (for a normalised input: the data set's mean colour).
    Pixels of equal saliency are deleted in a random order drawn from ``seed``.
    """
    H, W = _check_images(model, x)
    if saliency.shape != (x.shape[0], H, W):
        raise ValueError(f"saliency must be (B, H, W) = {(x.shape[0], H, W)}, got {tuple(saliency.shape)}")
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    generator = torch.Generator().manual_seed(seed)
    B, P = x.shape[0], H * W
    order = _order(saliency.reshape(B, P).float(), generator)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(P, device=order.device).expand(B, P))
    baseline = _fill_value(x, fill)
    fractions = torch.linspace(0, 1, steps + 1, dtype=torch.float64)
    probs: list[torch.Tensor] = []
    with torch.no_grad():
        t = _check_target(target, model(x).float())
        for f in fractions.tolist():
            gone = (rank < round(f * P)).view(B, 1, H, W)
            logits = model(torch.where(gone, baseline, x)).float()
            probs.append(logits.softmax(-1).gather(1, t[:, None])[:, 0].cpu())
    return DeletionCurve(fractions, torch.stack(probs, 1).double())


def random_deletion_curve(
    model: SwinTransformer,
    x: torch.Tensor,
    target: int | Sequence[int] | torch.Tensor,
    steps: int = 16,
    fill: str = "mean",
    seeds: Sequence[int] = (0, 1, 2),
    cell: int | None = None,
) -> DeletionCurve:
    """:func:`deletion_curve` of a random ranking, averaged over ``seeds``.

    The random map has one value per ``cell x cell`` square (default ``patch_size``: one per patch, the grain of
    every map here, each constant over a patch); ``cell=1`` ranks single pixels, which deletes a little of every
    patch at once (a harsher perturbation of this model than deleting whole patches).
    """
    H, W = _check_images(model, x)
    cell = model.config.patch_size if cell is None else cell
    if not isinstance(cell, int) or cell < 1:
        raise ValueError(f"cell must be a positive int, got {cell!r}")
    curves = []
    for seed in seeds:
        g = torch.Generator().manual_seed(10_000 + seed)
        coarse = torch.rand(x.shape[0], -(-H // cell), -(-W // cell), generator=g).to(x.device)
        curves.append(deletion_curve(model, x, _to_pixels(coarse, H, W), target, steps, fill, seed))
    return DeletionCurve(curves[0].fractions, torch.stack([c.probs for c in curves]).mean(0))


# ================================================================================================== sanity checks
def rank_correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spearman's rank correlation of two batches of maps ``(B, ...)`` -> ``(B,)``; ties get their average rank
    (a map drawn from tokens has runs of equal pixels). ``nan`` where a map is constant."""

    def ranks(v: torch.Tensor) -> torch.Tensor:
        out = []
        for row in v.reshape(v.shape[0], -1).double():
            _, inverse, counts = torch.unique(row, return_inverse=True, return_counts=True)
            first = torch.cumsum(counts, 0) - counts  # rank of each distinct value's first copy (0-based)
            out.append((first + (counts - 1) / 2.0)[inverse])
        return torch.stack(out)

    if a.shape != b.shape:
        raise ValueError(f"maps must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    ra, rb = ranks(a), ranks(b)
    ra, rb = ra - ra.mean(1, keepdim=True), rb - rb.mean(1, keepdim=True)
    return (ra * rb).sum(1) / (ra.norm(dim=1) * rb.norm(dim=1))


@dataclass(frozen=True)
class RandomizationStep:
    """After re-initialising every layer down to ``layer`` (from the head): the map's rank correlation with the
    trained model's map, ``(B,)`` per image."""

    layer: str
    correlation: torch.Tensor


def _randomization_order(model: SwinTransformer) -> list[str]:
    """Layers from the head down: head, norm, the blocks of the last stage in reverse, its merging, ..., patch_embed."""
    order = ["head", "norm"]
    for i in range(model.num_stages, 0, -1):
        stage = model.stages[i - 1]
        order += [f"stage{i}.block{j}" for j in range(stage.depth - 1, -1, -1)]
        if stage.downsample is not None:
            order.append(f"stage{i}.downsample")
    return [*order, "patch_embed"]


def _reinitialise(module: nn.Module) -> None:
    """Draw ``module``'s weights afresh: linear weights truncated normal (std 0.02, the model's own initialisation),
    biases, LayerNorms and every other parameter (bias tables, convolutions) normal with std 0.02 or the unit norm."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.LayerNorm)):
            init_weights(m)  # the model's own initialisation
        else:
            for p in m.parameters(recurse=False):
                nn.init.trunc_normal_(p, std=0.02)


def cascading_randomization(
    model: SwinTransformer,
    x: torch.Tensor,
    method: str,
    target: int | Sequence[int] | torch.Tensor | None = None,
    layer: str | None = None,
    seed: int = 0,
) -> list[RandomizationStep]:
    """The cascading model-parameter randomisation test (Adebayo et al., "Sanity Checks for Saliency Maps", 2018).

    On a private copy of ``model`` the layers are re-initialised one at a time from the head down
    (``head``, ``norm``, the last block, ..., ``patch_embed``); after each, the map of ``method`` (``"rollout"``,
    ``"grad_cam"`` with ``layer``, or ``"window"`` -- the last block's centre query) is compared with the trained
    model's by :func:`rank_correlation`. A map that explains the model must change as its weights are destroyed.
    ``target`` defaults to the trained model's prediction and stays fixed. ``model`` itself is not changed.
    """
    methods = ("rollout", "grad_cam", "window")
    if method not in methods:
        raise ValueError(f"method must be one of {methods}, got {method!r}")
    H, W = _check_images(model, x)
    with torch.no_grad():
        fixed = _check_target(target, model(x))

    def saliency(m: SwinTransformer) -> torch.Tensor:
        if method == "rollout":
            return attention_rollout(m, x)
        if method == "grad_cam":
            return grad_cam(m, x, fixed, layer)
        last = next(reversed(block_geometry(m, H, W).values()))
        h, w = last.resolution
        return window_attention_map(m, x, (h // 2, w // 2), last.name)

    before = saliency(model)
    work = copy.deepcopy(model).eval()
    work.requires_grad_(False)
    steps = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for name in _randomization_order(work):
            _reinitialise(work.get_submodule(name))
            steps.append(RandomizationStep(name, rank_correlation(before, saliency(work))))
    return steps
