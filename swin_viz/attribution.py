"""Where does Swin look? Attribution maps written on the hook points (chapter 10, "Where does Swin look?");
:mod:`swin_viz.faithfulness` checks whether they mean anything.

Three maps, each ``(B, H, W)`` at the input's resolution (a token's value on every pixel of its patch):

=================================  ==========================================================================
:func:`attention_rollout`          attention flow from the input to the pooled output, composed over blocks
:func:`grad_cam`                   Grad-CAM on any hook point or module, tokens put back on the map for you
:func:`window_attention_map`       one query's attention within its window, placed on the image
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

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .model import SwinTransformer
from .shift import cyclic_shift
from .windows import effective_window, pad_to_window, window_partition

__all__ = [
    "attention_rollout",
    "block_geometry",
    "check_images",
    "check_target",
    "default_grad_cam_layer",
    "grad_cam",
    "rollout_matrices",
    "token_attention_matrix",
    "tokens_to_pixels",
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


def check_images(model: SwinTransformer, x: torch.Tensor) -> tuple[int, int]:
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != model.config.in_chans:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x must be images (B, {model.config.in_chans}, H, W), got {got}")
    H, W = x.shape[-2:]
    p = model.config.patch_size
    if H % p or W % p:
        raise ValueError(f"image size H={H}, W={W} must be a multiple of patch_size {p}; pad or resize")
    return int(H), int(W)


def tokens_to_pixels(maps: torch.Tensor, H: int, W: int) -> torch.Tensor:
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
    H, W = check_images(model, x)
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
    H, W = check_images(model, x)
    if block is not None:
        _check_block(model, block, block_geometry(model, H, W))
    flows = rollout_matrices(model, x, residual)
    last = flows[block or next(reversed(flows))].mean(1)  # (B, h1*w1): the pooled output's flow
    h1, w1 = next(iter(block_geometry(model, H, W).values())).resolution
    return tokens_to_pixels(last.view(-1, h1, w1), H, W)


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


def check_target(target: int | Sequence[int] | torch.Tensor | None, logits: torch.Tensor) -> torch.Tensor:
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
    H, W = check_images(model, x)
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
            t = check_target(target, logits)
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
    return tokens_to_pixels(cam, H, W)


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
    H, W = check_images(model, x)
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
    return tokens_to_pixels(out.view(-1, h, w), H, W)
