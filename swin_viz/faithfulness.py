"""Is an attribution map faithful? Deletion curves, a random baseline, and the cascading randomisation of
Adebayo et al. (2018), for the maps of :mod:`swin_viz.attribution` (chapter 10, "Where does Swin look?").

=================================  ==========================================================================
:func:`deletion_curve`             the true class's probability as the top-ranked pixels are deleted
:func:`random_deletion_curve`      the same for a random ranking (the baseline)
:func:`cascading_randomization`    randomise the weights from the head down, compare each map with the trained one
:func:`rank_correlation`           Spearman's rank correlation of two maps (ties get their average rank)
=================================  ==========================================================================
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .attribution import (
    attention_rollout,
    block_geometry,
    check_images,
    check_target,
    grad_cam,
    tokens_to_pixels,
    window_attention_map,
)
from .model import SwinTransformer, init_weights

__all__ = [
    "DeletionCurve",
    "RandomizationStep",
    "cascading_randomization",
    "deletion_curve",
    "random_deletion_curve",
    "rank_correlation",
]


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
    H, W = check_images(model, x)
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
        t = check_target(target, model(x).float())
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
    H, W = check_images(model, x)
    cell = model.config.patch_size if cell is None else cell
    if not isinstance(cell, int) or cell < 1:
        raise ValueError(f"cell must be a positive int, got {cell!r}")
    curves = []
    for seed in seeds:
        g = torch.Generator().manual_seed(10_000 + seed)
        coarse = torch.rand(x.shape[0], -(-H // cell), -(-W // cell), generator=g).to(x.device)
        curves.append(deletion_curve(model, x, tokens_to_pixels(coarse, H, W), target, steps, fill, seed))
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
    H, W = check_images(model, x)
    with torch.no_grad():
        fixed = check_target(target, model(x))

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
