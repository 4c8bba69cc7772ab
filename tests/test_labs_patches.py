"""Lab 2 checks: a correct answer passes, typical wrong answers fail with the explanation of their mistake."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import swin_viz
from swin_course.patches import (
    check_embedding_numbers,
    check_linear_from_conv,
    check_pad_image,
    check_patch_partition,
    embedding_numbers,
)


def _why(report) -> str:
    return " ".join(why for _, ok, why in report.results if not ok)


# ----------------------------------------------------------------------------------------------- exercise 1
def good_partition(x, p):
    B, C, H, W = x.shape
    return x.reshape(B, C, H // p, p, W // p, p).permute(0, 2, 4, 1, 3, 5).reshape(B, H // p, W // p, C * p * p)


def channel_last_partition(x, p):  # (row, col, channel), the einops order
    B, C, H, W = x.shape
    return x.reshape(B, C, H // p, p, W // p, p).permute(0, 2, 4, 3, 5, 1).reshape(B, H // p, W // p, C * p * p)


def transposed_patch_partition(x, p):
    B, C, H, W = x.shape
    return x.reshape(B, C, H // p, p, W // p, p).permute(0, 2, 4, 1, 5, 3).reshape(B, H // p, W // p, C * p * p)


def reshape_only_partition(x, p):
    B, C, H, W = x.shape
    return x.reshape(B, H // p, W // p, C * p * p)


def transposed_grid_partition(x, p):
    B, C, H, W = x.shape
    return x.reshape(B, C, H // p, p, W // p, p).permute(0, 4, 2, 1, 3, 5).reshape(B, W // p, H // p, C * p * p)


def hard_coded_partition(x, p):
    return good_partition(x, 4)


def three_channel_partition(x, p):
    B, _, H, W = x.shape
    return x.reshape(B, 3, H // p, p, W // p, p).permute(0, 2, 4, 1, 3, 5).reshape(B, H // p, W // p, 3 * p * p)


def test_partition_correct_passes() -> None:
    report = check_patch_partition(good_partition)
    assert report.passed, str(report)
    assert "PASSED" in str(report)
    assert "the library's own" in str(check_patch_partition(swin_viz.patch_partition))  # the reference is refused


@pytest.mark.parametrize(
    ("fn", "phrase"),
    [
        (channel_last_partition, "(row, column, channel) order"),
        (transposed_patch_partition, "each patch is transposed"),
        (reshape_only_partition, "a reshape without a permute"),
        (transposed_grid_partition, "grid of patches is transposed"),
        (hard_coded_partition, "patch size of 4 is hard-coded"),
        (three_channel_partition, "hard-code 3 channels"),
    ],
)
def test_partition_mistakes_are_named(fn, phrase) -> None:
    report = check_patch_partition(fn)
    assert not report.passed
    assert "NOT YET" in str(report)
    assert phrase in _why(report), str(report)


def test_partition_not_written() -> None:
    def stub(x, p):
        raise NotImplementedError

    report = check_patch_partition(stub)
    assert not report.passed and "not written yet" in _why(report) and "hard-code" not in _why(report)


# ----------------------------------------------------------------------------------------------- exercise 2
def good_linear(conv):
    lin = nn.Linear(conv.weight[0].numel(), conv.out_channels, bias=conv.bias is not None)
    with torch.no_grad():
        lin.weight.copy_(conv.weight.reshape(conv.out_channels, -1))
        if conv.bias is not None:
            lin.bias.copy_(conv.bias)
    return lin


def no_bias_linear(conv):
    lin = nn.Linear(conv.weight[0].numel(), conv.out_channels, bias=False)
    with torch.no_grad():
        lin.weight.copy_(conv.weight.flatten(1))
    return lin


def rcc_weight_linear(conv):
    lin = good_linear(conv)
    with torch.no_grad():
        lin.weight.copy_(conv.weight.permute(0, 2, 3, 1).flatten(1))
    return lin


def transposed_linear(conv):
    return nn.Linear(conv.out_channels, conv.weight[0].numel())


def extra_bias_linear(conv):
    lin = nn.Linear(conv.weight[0].numel(), conv.out_channels)  # keeps its random bias when the conv has none
    with torch.no_grad():
        lin.weight.copy_(conv.weight.flatten(1))
        if conv.bias is not None:
            lin.bias.copy_(conv.bias)
    return lin


def test_linear_correct_passes() -> None:
    report = check_linear_from_conv(good_linear)
    assert report.passed, str(report)


@pytest.mark.parametrize(
    ("fn", "phrase"),
    [
        (no_bias_linear, "the bias is missing"),
        (rcc_weight_linear, "(row, column, channel) order"),
        (transposed_linear, "stores its weight as (out, in)"),
        (extra_bias_linear, "this conv has no bias"),
        (lambda conv: conv, "return an nn.Linear"),
    ],
)
def test_linear_mistakes_are_named(fn, phrase) -> None:
    report = check_linear_from_conv(fn)
    assert not report.passed
    assert phrase in _why(report), str(report)


def test_linear_must_not_edit_the_conv() -> None:
    def editing(conv):
        with torch.no_grad():
            conv.weight.zero_()
        return good_linear(conv)

    assert "changed in place" in _why(check_linear_from_conv(editing))


# ----------------------------------------------------------------------------------------------- exercise 3
def test_embedding_numbers_match_the_module() -> None:
    tokens, params = embedding_numbers(384, 384, 4, 128)
    embed = swin_viz.PatchEmbed(4, 3, 128)
    assert tokens == embed(torch.zeros(1, 3, 384, 384)).shape[1:3].numel()
    assert params == sum(p.numel() for p in embed.parameters())
    assert check_embedding_numbers(tokens, params, 384, 384, 4, 128).passed


@pytest.mark.parametrize(
    ("tokens", "params", "phrase"),
    [
        (96, None, "along one side"),
        (384 * 384, None, "number of pixels"),
        (None, 48 * 128 + 128, "LayerNorm after the embedding is missing"),
        (None, 48 * 128, "the weight only"),
        (None, 16 * 128 + 3 * 128, "all colour channels"),
        (96 * 96 + 1, None, "no class token"),
        (None, None, "not written yet"),
        (None, 6528.5, "whole number"),
    ],
)
def test_embedding_numbers_mistakes(tokens, params, phrase) -> None:
    report = check_embedding_numbers(tokens, params, 384, 384, 4, 128)
    assert not report.passed
    assert phrase in _why(report), str(report)


# ----------------------------------------------------------------------------------------------- exercise 4
def good_pad(x, p):
    H, W = x.shape[-2:]
    return F.pad(x, (0, (-W) % p, 0, (-H) % p))


def swapped_pad(x, p):
    H, W = x.shape[-2:]
    return F.pad(x, (0, (-H) % p, 0, (-W) % p))


def always_pad(x, p):
    H, W = x.shape[-2:]
    return F.pad(x, (0, p - W % p, 0, p - H % p))


def top_left_pad(x, p):
    H, W = x.shape[-2:]
    return F.pad(x, ((-W) % p, 0, (-H) % p, 0))


def crop(x, p):
    H, W = x.shape[-2:]
    return x[..., : H - H % p, : W - W % p]


def replicate_pad(x, p):
    H, W = x.shape[-2:]
    return F.pad(x, (0, (-W) % p, 0, (-H) % p), mode="replicate")


def test_pad_correct_passes() -> None:
    assert check_pad_image(good_pad).passed


@pytest.mark.parametrize(
    ("fn", "phrase"),
    [
        (swapped_pad, "F.pad lists the LAST axis first"),
        (always_pad, "not p - H % p"),
        (top_left_pad, "top and left"),
        (crop, "cropped"),
        (replicate_pad, "not zeros"),
    ],
)
def test_pad_mistakes_are_named(fn, phrase) -> None:
    report = check_pad_image(fn)
    assert not report.passed
    assert phrase in _why(report), str(report)


def test_checks_leave_the_global_rng_alone() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    check_patch_partition(good_partition)
    check_linear_from_conv(good_linear)
    check_pad_image(good_pad)
    assert torch.equal(torch.rand(3), expected)
