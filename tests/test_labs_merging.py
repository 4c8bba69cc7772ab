"""Lab 7 checks: a correct answer passes; the usual mistakes fail with their specific explanation."""

import torch
import torch.nn.functional as F

import swin_viz
from swin_course.merging import (
    FEATURE_SIZES,
    check_feature_shapes,
    check_merge_patches,
    check_param_counts,
    feature_shapes,
    gather_offsets,
    position_coded,
)


def _gather(order, pad="bottom-right"):
    def merge(x):
        H, W = x.shape[1:3]
        if pad == "bottom-right":
            x = F.pad(x, (0, 0, 0, W % 2, 0, H % 2))
        elif pad == "top-left":
            x = F.pad(x, (0, 0, W % 2, 0, H % 2, 0))
        return torch.cat([x[:, dy::2, dx::2] for dy, dx in order], dim=-1)

    return merge


OFFICIAL = [(0, 0), (1, 0), (0, 1), (1, 1)]
READING = [(0, 0), (0, 1), (1, 0), (1, 1)]


def test_merge_correct_passes() -> None:
    assert "the library's own" in str(check_merge_patches(swin_viz.merge_patches))  # the reference is refused
    assert check_merge_patches(_gather(OFFICIAL)).passed


def test_merge_reading_order_names_the_swapped_slots() -> None:
    text = str(check_merge_patches(_gather(READING)))
    assert "NOT YET" in text
    assert "slot x1 holds the top-right x[0::2, 1::2] token, the official x1 is the bottom-left" in text
    assert "you swapped x1 and x2" in text and "the same mistake as above" in text


def test_merge_other_orders_say_which_slot_holds_what() -> None:
    text = str(check_merge_patches(_gather([(1, 1), (1, 0), (0, 1), (0, 0)])))
    assert "slot x0 holds the bottom-right" in text and "slot x3 holds the top-left" in text
    assert "swapped x1 and x2" not in text


def test_merge_interleaved_channels() -> None:
    def stacked(x):
        x = F.pad(x, (0, 0, 0, x.shape[2] % 2, 0, x.shape[1] % 2))
        return torch.stack([x[:, dy::2, dx::2] for dy, dx in OFFICIAL], dim=-1).flatten(-2)

    assert "channels are interleaved" in str(check_merge_patches(stacked))


def test_merge_padding_mistakes() -> None:
    no_pad = str(check_merge_patches(_gather(OFFICIAL, pad=None)))
    assert "odd sides" in no_pad and "zero-padded at the bottom/right" in no_pad
    top = str(check_merge_patches(_gather(OFFICIAL, pad="top-left")))
    assert "pad the bottom and right only" in top

    def crop(x):  # drops the odd row/column instead of padding
        H, W = x.shape[1:3]
        return _gather(OFFICIAL, pad=None)(x[:, : H - H % 2, : W - W % 2])

    assert "the last row/column was dropped" in str(check_merge_patches(crop))


def test_gather_offsets_reads_the_library() -> None:
    x = position_coded(2, 5, 7, 3)
    assert gather_offsets(swin_viz.merge_patches(x), 2, 5, 7, 3) == OFFICIAL


def _counts() -> tuple[int, int]:
    with torch.device("meta"):
        m = swin_viz.swin_t()
    return (sum(p.numel() for p in m.stage2.downsample.parameters()), sum(p.numel() for p in m.stage3.parameters()))


def test_param_counts() -> None:
    merging, stage3 = _counts()
    C = 96
    assert merging == 8 * C * C + 8 * C  # Linear(4C -> 2C, no bias) + LayerNorm(4C)
    assert check_param_counts(merging, stage3).passed
    assert "no bias" in str(check_param_counts(merging + 2 * C, stage3))
    assert "left out the LayerNorm(4C)" in str(check_param_counts(merging - 8 * C, stage3))
    text = str(check_param_counts(merging, stage3 - 6 * 169 * 12))
    assert "relative position bias table" in text
    text = str(check_param_counts(merging, stage3 - 6 * 3 * 384 - 6 * 169 * 12))
    assert "qkv has a bias" in text and "bias table" in text
    assert "relative_position_index is a buffer" in str(check_param_counts(merging, stage3 + 6 * 7**4))
    assert "not written yet" in str(check_param_counts(..., ...))


def _predict(H: int, W: int, rounding=lambda n: -(-n // 2), channels_last=False):
    h, w, out = H // 4, W // 4, {}
    for k in range(4):
        if k:
            h, w = rounding(h), rounding(w)
        C = 96 * 2**k
        out[f"stage{k + 1}"] = (1, h, w, C) if channels_last else (1, C, h, w)
    return out


def test_feature_shapes_match_a_real_forward() -> None:
    model = swin_viz.swin_t().eval()
    with torch.no_grad():
        feats = model.features(torch.zeros(1, 3, 100, 68))
    assert {k: tuple(v.shape) for k, v in feats.items()} == feature_shapes(100, 68)
    assert any((H // 4) % 2 for H, _ in FEATURE_SIZES)  # odd token maps are exercised


def test_feature_shapes_check() -> None:
    assert check_feature_shapes(_predict).passed
    floor = str(check_feature_shapes(lambda H, W: _predict(H, W, rounding=lambda n: n // 2)))
    assert "rounds UP" in floor
    assert "channels-last" in str(check_feature_shapes(lambda H, W: _predict(H, W, channels_last=True)))
    no_batch = {k: v[1:] for k, v in _predict(224, 224).items()}
    assert "no batch axis" in str(check_feature_shapes(lambda H, W: no_batch))
