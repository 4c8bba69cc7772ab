"""Checks for lab 2 (``notebooks/lab02_patches.ipynb``): patch partition and linear embedding.

* :func:`check_patch_partition` -- the student's ``(B, C, H, W) -> (B, H/p, W/p, C*p*p)``;
* :func:`check_linear_from_conv` -- an ``nn.Linear`` that computes what a patch-embedding ``Conv2d`` computes;
* :func:`check_embedding_numbers` -- predicted number of tokens and of embedding parameters;
* :func:`check_pad_image` -- zero-padding an image so that the patch size divides both sides.

Each check runs the student's answer on several inputs (square and non-square images, other patch sizes, one
colour channel), compares it with :mod:`swin_viz`, and names the typical mistake it recognises.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from swin_viz.patches import PatchEmbed, patch_partition

from ._check import NOT_ANSWERED, Report, call_student, explain_difference, forbid, own_rng, unanswered

__all__ = ["check_embedding_numbers", "check_linear_from_conv", "check_pad_image", "check_patch_partition"]

_SEED = 0


def _random(*shape: int, seed: int = _SEED) -> torch.Tensor:
    """A reproducible random tensor that leaves the global RNG alone."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g)


def _close(got: Any, want: torch.Tensor) -> bool:
    return isinstance(got, torch.Tensor) and explain_difference(got, want) == ""


# ----------------------------------------------------------------------------------------- exercise 1: partition
PARTITION_CASES: list[tuple[tuple[int, int, int, int], int]] = [
    ((2, 3, 8, 8), 4),  # square, the paper's patch size
    ((1, 3, 8, 12), 4),  # non-square: catches swapped H and W
    ((2, 3, 12, 8), 2),  # another patch size: catches a hard-coded 4
    ((1, 1, 6, 10), 2),  # one channel: catches a hard-coded 3
]
"""``(image shape, patch size)`` pairs the partition check runs."""


def _partition_mistakes(x: torch.Tensor, p: int) -> list[tuple[torch.Tensor, str]]:
    """Outputs of the typical wrong partitions of ``x``, each with what went wrong."""
    B, C, H, W = x.shape
    Hp, Wp = H // p, W // p
    blocks = x.reshape(B, C, Hp, p, Wp, p)  # (B, C, grid row, row, grid col, col)
    return [
        (blocks.permute(0, 2, 4, 3, 5, 1).reshape(B, Hp, Wp, C * p * p),
         "the values are in (row, column, channel) order, as in the einops pattern "
         "'b c (h p1) (w p2) -> b h w (p1 p2 c)'; swin_viz and the Conv2d weights use (channel, row, column): "
         "permute to (B, H/p, W/p, C, p, p) before the last reshape"),
        (blocks.permute(0, 2, 4, 1, 5, 3).reshape(B, Hp, Wp, C * p * p),
         "each patch is transposed (column before row inside the patch): the pixel order within a token must be "
         "(row, column), i.e. permute(0, 2, 4, 1, 3, 5)"),
        (blocks.permute(0, 4, 2, 1, 3, 5).reshape(B, Wp, Hp, C * p * p),
         "the grid of patches is transposed: token [i, j] holds the patch at grid column i, row j; keep the "
         "grid-row axis before the grid-column axis"),
        (x.reshape(B, Hp, Wp, C * p * p),
         "a reshape without a permute: each 'token' is a run of consecutive values of one image row (and channel), "
         "not a p x p patch; split H and W into (H/p, p) and (W/p, p), then permute"),
        (blocks.permute(0, 1, 3, 5, 2, 4).reshape(B, C * p * p, Hp, Wp),
         "channels first: the result should be (B, H/p, W/p, C*p*p), tokens last (channels-last, like the model)"),
        (blocks.permute(0, 2, 4, 1, 3, 5).reshape(B, Hp * Wp, C * p * p),
         "the grid is flattened to (B, N, C*p*p); keep it as (B, H/p, W/p, C*p*p)"),
    ]  # fmt: skip


def _explain_partition(got: Any, x: torch.Tensor, p: int, want: torch.Tensor) -> str:
    generic = explain_difference(got, want, "partition")
    if not generic or not isinstance(got, torch.Tensor):
        return generic
    for wrong, why in _partition_mistakes(x, p):
        if tuple(got.shape) == tuple(wrong.shape) and _close(got, wrong):
            return why
    _, C, H, W = x.shape
    if p != 4 and tuple(got.shape[1:3]) == (H // 4, W // 4):
        return f"{generic}: it looks like a patch size of 4 is hard-coded; use the argument p (here p={p})"
    if C != 3 and got.shape[-1] == 3 * p * p:
        return f"{generic}: it looks like 3 channels are hard-coded; read C from x.shape (here C={C})"
    return generic


@forbid("swin_viz.patches.patch_partition", "swin_viz.patches.PatchEmbed")
@own_rng
def check_patch_partition(fn: Callable[[torch.Tensor, int], torch.Tensor]) -> Report:
    """Exercise 1: ``fn(x, p)`` must equal :func:`swin_viz.patch_partition` on every case of ``PARTITION_CASES``."""
    report = Report("patch_partition")
    for k, (shape, p) in enumerate(PARTITION_CASES):
        x = _random(*shape, seed=_SEED + k)
        want = patch_partition(x, p)
        name = f"x of shape {shape}, p={p} -> {tuple(want.shape)}"
        ok, got = call_student(report, name, fn, x.clone(), p)
        if not ok:
            odd = [f"C={shape[1]}"] if shape[1] != 3 else []
            odd += [f"p={p}"] if p != 4 else []
            _, _, why = report.results[-1]
            if odd and why.startswith("raised"):  # it failed on the case that is not Swin's usual one
                report.results[-1] = (name, False, f"{why} (this case has {' and '.join(odd)}: does the code "
                                      "hard-code 3 channels or p=4? read them from x.shape and p)")  # fmt: skip
            continue
        why = _explain_partition(got, x, p, want)
        report.add(name, not why, why)
    return report


# ---------------------------------------------------------------------------------- exercise 2: Linear == Conv2d
LINEAR_CASES: list[tuple[int, int, int, bool, tuple[int, int]]] = [
    (3, 96, 4, True, (16, 16)),  # Swin-T's embedding
    (3, 16, 4, True, (8, 12)),  # non-square image
    (1, 8, 2, True, (6, 4)),  # one channel, patch size 2
    (3, 12, 4, False, (8, 8)),  # a conv without bias
]
"""``(in_chans, C_out, p, conv has bias, (H, W))`` cases of the Linear check."""


def _explain_linear(lin: nn.Linear, conv: nn.Conv2d, tokens: torch.Tensor, got: Any, want: torch.Tensor) -> str:
    generic = explain_difference(got, want, "Linear's output")
    if not generic or not isinstance(got, torch.Tensor) or got.shape != want.shape:
        return generic
    w, b = conv.weight.detach(), conv.bias
    bias = b.detach() if b is not None else None
    if bias is not None and _close(got + bias, want):
        return "the bias is missing: the conv adds conv.bias to every patch, so copy it into the Linear's bias"
    if bias is None and lin.bias is not None and _close(got - lin.bias.detach(), want):
        return "this conv has no bias, but the Linear adds one: create it with bias=conv.bias is not None"
    wrong_orders = [
        (w.permute(0, 2, 3, 1).flatten(1), "the weight was flattened in (row, column, channel) order; conv.weight is "
         "(C_out, C_in, p, p), so conv.weight.reshape(C_out, -1) is already in patch_partition's (channel, row, "
         "column) order"),
        (w.transpose(2, 3).flatten(1), "rows and columns of the kernel are swapped: flatten conv.weight as it is "
         "(no transpose of its last two axes)"),
    ]  # fmt: skip
    for weight, why in wrong_orders:
        if _close(F.linear(tokens, weight, bias), got):
            return why
    return generic


@own_rng
def check_linear_from_conv(fn: Callable[[nn.Conv2d], nn.Linear]) -> Report:
    """Exercise 2: ``fn(conv)`` returns an ``nn.Linear`` with ``linear(patch_partition(x, p))`` equal to
    ``conv(x)`` (channels-last), for the convs of ``LINEAR_CASES``; the conv itself must be left unchanged."""
    report = Report("the Linear that equals the Conv2d")
    for k, (cin, cout, p, has_bias, (H, W)) in enumerate(LINEAR_CASES):
        torch.manual_seed(_SEED + k)
        conv = nn.Conv2d(cin, cout, kernel_size=p, stride=p, bias=has_bias)
        before = [t.detach().clone() for t in conv.parameters()]
        x = _random(2, cin, H, W, seed=_SEED + k)
        name = f"Conv2d({cin}, {cout}, kernel_size={p}, stride={p}, bias={has_bias}) on {H}x{W}"
        ok, lin = call_student(report, name, fn, conv)
        if not ok:
            continue
        if not isinstance(lin, nn.Linear):
            report.add(name, False, f"return an nn.Linear, got {type(lin).__name__}")
            continue
        d = cin * p * p
        if (lin.in_features, lin.out_features) != (d, cout):
            swapped = (lin.in_features, lin.out_features) == (cout, d)
            report.add(name, False, f"the Linear maps {lin.in_features} -> {lin.out_features} features, expected "
                       f"C_in*p*p = {d} -> C_out = {cout}" + ("; nn.Linear(in_features, out_features) stores its "
                       "weight as (out, in), like the conv" if swapped else ""))  # fmt: skip
            continue
        if any(not torch.equal(a, t.detach()) for a, t in zip(before, conv.parameters())):
            report.add(name, False, "the conv's parameters were changed in place: copy them, don't edit the conv")
            continue
        tokens = patch_partition(x, p)
        with torch.no_grad():
            want = conv(x).permute(0, 2, 3, 1)
            ok, got = call_student(report, name, lin, tokens)
            if not ok:
                continue
            why = _explain_linear(lin, conv, tokens, got, want)
        report.add(name, not why, why)
    return report


# ------------------------------------------------------------------------------ exercise 3: tokens and parameters
def embedding_numbers(
    H: int, W: int, patch_size: int = 4, embed_dim: int = 96, in_chans: int = 3, patch_norm: bool = True
) -> tuple[int, int]:
    """``(tokens, parameters)`` of :class:`swin_viz.PatchEmbed` on an ``H x W`` image, counted from the module
    (built on the meta device: its output shape and ``parameters()``, no arithmetic of ours)."""
    with torch.device("meta"):
        embed = PatchEmbed(patch_size, in_chans, embed_dim, patch_norm)
        out = embed(torch.empty(1, in_chans, H, W))
    return out.shape[1] * out.shape[2], sum(t.numel() for t in embed.parameters())


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _explain_tokens(got: int, want: int, H: int, W: int, p: int) -> str:
    known = {
        H // p: f"{got} is the number of tokens along one side; the grid has (H/p) x (W/p) tokens",
        W // p: f"{got} is the number of tokens along one side; the grid has (H/p) x (W/p) tokens",
        H * W: f"{got} is the number of pixels; each token is a p x p patch of pixels",
        H * W // p: "divide the number of pixels by p*p (the pixels in one patch), not by p",
        want + 1: "Swin has no class token (ViT adds one): just the patches",
        H * W * 3 // (p * p): "tokens count patches, not values: the 3 colour channels go into each token",
    }
    return known.get(got, f"{got} is not the number of tokens; count the p x p patches that tile H x W")


def _explain_params(got: int, want: int, p: int, C: int, cin: int, tokens: int) -> str:
    D = cin * p * p
    known = {
        D * C: "that is the weight only: add the conv's bias (C) and the LayerNorm's weight and bias (C each)",
        D * C + C: "the LayerNorm after the embedding is missing (it has a weight and a bias, C each)",
        D * C + 2 * C: "off by C: either the conv's bias is missing, or half of the LayerNorm (it has a weight "
        "AND a bias, C each)",
        p * p * C + 3 * C: "the linear layer sees in_chans*p*p values per patch (all colour channels), not p*p",
        D * C * tokens: "parameters are shared by all patches: do not multiply by the number of tokens",
        want * tokens: "parameters are shared by all patches: do not multiply by the number of tokens",
    }
    return known.get(got, f"{got} is not the count; add up the conv's weight and bias and the LayerNorm's parameters")


def check_embedding_numbers(
    tokens: Any, params: Any, H: int, W: int, patch_size: int = 4, embed_dim: int = 96, in_chans: int = 3
) -> Report:
    """Exercise 3: predicted ``tokens`` and ``params`` of Swin's patch embedding (with LayerNorm) for an ``H x W``
    image, compared with :class:`swin_viz.PatchEmbed`."""
    report = Report(f"{H}x{W} image, p={patch_size}, C={embed_dim}")
    want_tokens, want_params = embedding_numbers(H, W, patch_size, embed_dim, in_chans)
    for what, value, want in (("tokens", tokens, want_tokens), ("parameters", params, want_params)):
        n = _as_int(value)
        if unanswered(value):
            report.add(what, False, NOT_ANSWERED)
        elif n is None:
            report.add(what, False, f"give a whole number, got {value!r}")
        elif n == want:
            report.add(f"{what}: {n:,d}", True)
        elif what == "tokens":
            report.add(what, False, _explain_tokens(n, want, H, W, patch_size))
        else:
            report.add(what, False, _explain_params(n, want, patch_size, embed_dim, in_chans, want_tokens))
    return report


# --------------------------------------------------------------------------------- exercise 4: pad to a multiple
PAD_CASES: list[tuple[tuple[int, int, int, int], int]] = [
    ((1, 3, 222, 224), 4),  # the image that PatchEmbed refuses
    ((2, 3, 10, 7), 4),  # both sides need padding, by different amounts
    ((1, 3, 8, 12), 4),  # nothing to pad
    ((1, 1, 5, 9), 2),  # one channel, patch size 2
]
"""``(image shape, patch size)`` cases of the padding check."""


def reference_pad(x: torch.Tensor, p: int) -> torch.Tensor:
    """Zero-pad ``(B, C, H, W)`` at the bottom and right to multiples of ``p`` (what the checks compare with)."""
    H, W = x.shape[-2:]
    return F.pad(x, (0, (-W) % p, 0, (-H) % p))


def _explain_pad(got: Any, x: torch.Tensor, p: int, want: torch.Tensor) -> str:
    generic = explain_difference(got, want, "padded image")
    if not generic or not isinstance(got, torch.Tensor) or got.dim() != 4:
        return generic
    H, W = x.shape[-2:]
    ph, pw = (-H) % p, (-W) % p
    gh, gw = got.shape[-2:]
    if (gh, gw) != tuple(want.shape[-2:]):
        if (gh, gw) == (H + pw, W + ph):
            return (f"the padding of H and W is swapped ({gh}x{gw}): F.pad lists the LAST axis first, "
                    "(left, right, top, bottom) = (0, pad_w, 0, pad_h)")  # fmt: skip
        if (gh, gw) == (H + p - H % p, W + p - W % p):
            return (f"a side that already is a multiple of p got p extra rows/columns ({gh}x{gw}): pad by (-H) % p, "
                    "which is 0 then, not p - H % p")  # fmt: skip
        if (gh, gw) == (H - H % p, W - W % p):
            return f"the image was cropped to {gh}x{gw}: pad it instead (cropping throws pixels away)"
        return generic
    if torch.equal(got[..., gh - H :, gw - W :], x):
        return "the padding went on the top and left: pad at the bottom and right, so patch (0, 0) stays the corner"
    if torch.equal(got[..., :H, :W], x):
        return "the image is in place, but the padding is not zeros: use F.pad's default constant 0"
    return generic


@forbid("swin_viz.windows.pad_to_window")
@own_rng
def check_pad_image(fn: Callable[[torch.Tensor, int], torch.Tensor]) -> Report:
    """Exercise 4: ``fn(x, p)`` zero-pads at the bottom and right to multiples of ``p``; the result must equal
    the reference and be accepted by :class:`swin_viz.PatchEmbed`."""
    report = Report("padding to a multiple of the patch size")
    for k, (shape, p) in enumerate(PAD_CASES):
        x = _random(*shape, seed=_SEED + k)
        want = reference_pad(x, p)
        name = f"x of shape {shape}, p={p} -> {tuple(want.shape)}"
        ok, got = call_student(report, name, fn, x.clone(), p)
        if not ok:
            continue
        why = _explain_pad(got, x, p, want)
        if not why:
            try:
                with torch.device("meta"):
                    PatchEmbed(p, shape[1], 8)(torch.empty(got.shape))
            except ValueError as exc:  # pragma: no cover - equal to the reference, so accepted
                why = f"PatchEmbed still refuses it: {exc}"
        report.add(name, not why, why)
    return report
