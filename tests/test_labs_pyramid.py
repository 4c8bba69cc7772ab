"""Lab 13 checks: a correct answer passes; the usual mistakes fail with their specific explanation."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import swin_viz
from swin_course.pyramid import (
    CANVAS,
    CLASSES,
    INK,
    check_pyramid,
    check_pyramid_shapes,
    check_segmenter,
    lab_backbone,
    mosaics,
    segmentation_scores,
)


# ---------------------------------------------------------------------------------------------------- exercise 1
def shapes(rounding=math.ceil, swap=False):
    def pyramid_shapes(config, H, W):
        h, w = H // config.patch_size, W // config.patch_size
        out = [(config.embed_dim, h, w)]
        for i in range(1, len(config.depths)):
            h, w = rounding(h / 2), rounding(w / 2)
            out.append((config.embed_dim * 2**i, h, w))
        return [(c, b, a) for c, a, b in out] if swap else out

    return pyramid_shapes


def test_shapes_right_and_slips_explained() -> None:
    assert check_pyramid_shapes(shapes()).passed
    floor = str(check_pyramid_shapes(shapes(rounding=math.floor)))
    assert "NOT YET" in floor and "rounding *up*" in floor and "[ok] Swin-T, 224 x 224" in floor
    assert "swapped" in str(check_pyramid_shapes(shapes(swap=True)))


def test_shapes_may_not_ask_the_library() -> None:
    def measured(config, H, W):
        model = swin_viz.SwinTransformer(**{k: getattr(config, k) for k in ("embed_dim", "depths", "num_heads",
                                                                            "window_size", "patch_size")})  # fmt: skip
        return [(c, h, w) for _, c, h, w in (t.shape for t in model.forward_intermediates(torch.zeros(1, 3, H, W)))]

    def geometry(config, H, W):
        return [(s.channels, *s.resolution) for s in swin_viz.swin_t().stage_info(H, W)]

    for fn in (measured, geometry):
        report = str(check_pyramid_shapes(fn))
        assert "NOT YET" in report and "the library's own" in report, report


# ---------------------------------------------------------------------------------------------------- exercise 2
def pyramid(upsample="size", top_down=True, detach=False, plain_list=False, own_stages=False):
    class Pyramid(torch.nn.Module):
        def __init__(self, backbone, width):
            super().__init__()
            self.backbone = backbone
            channels = [backbone.config.embed_dim * 2**i for i in range(backbone.num_stages)]
            lateral = [torch.nn.Conv2d(c, width, 1) for c in channels]
            self.lateral = lateral if plain_list else torch.nn.ModuleList(lateral)

        def forward(self, images):
            if own_stages:  # the stages re-run by hand, not through forward_intermediates
                x = self.backbone.patch_embed(images)
                stages = []
                for stage in self.backbone.stages:
                    x = stage(x)
                    stages.append(x.permute(0, 3, 1, 2))
            else:
                stages = self.backbone.forward_intermediates(images, intermediates_only=True)
            if detach:
                stages = [s.detach() for s in stages]
            levels = [lat(s) for lat, s in zip(self.lateral, stages)]
            if top_down:
                for i in range(len(levels) - 2, -1, -1):
                    up = (F.interpolate(levels[i + 1], size=levels[i].shape[-2:]) if upsample == "size"
                          else F.interpolate(levels[i + 1], scale_factor=2))  # fmt: skip
                    levels[i] = levels[i] + up
            return levels

    return Pyramid


def failed(report) -> list[str]:
    return [f"{name} -- {why}" for name, ok, why in report.results if not ok]


def test_pyramid_right_passes_on_the_lab_backbone_and_another() -> None:
    assert check_pyramid(pyramid()).passed
    torch.manual_seed(0)
    other = swin_viz.SwinTransformer(embed_dim=16, depths=(1, 1, 1, 1), num_heads=(1, 2, 4, 8), window_size=2,
                                     patch_size=2).eval()  # fmt: skip
    assert check_pyramid(pyramid(), width=24, backbone=other, sizes=((32, 32), (28, 44))).passed


@pytest.mark.parametrize(
    ("slip", "says"),
    [
        (dict(upsample="x2"), "not by a factor of 2"),
        (dict(top_down=False), "add a top-down pathway"),
        (dict(detach=True), "no gradient reaches the backbone"),
        (dict(plain_list=True), "torch.nn.ModuleList"),
        (dict(own_stages=True), "backbone.forward_intermediates"),
    ],
)
def test_pyramid_slips_are_named(slip: dict, says: str) -> None:
    report = check_pyramid(pyramid(**slip))
    assert not report.passed
    assert any(says in line for line in failed(report)), str(report)


def test_pyramid_check_leaves_the_backbone_as_it_was() -> None:
    backbone = swin_viz.SwinTransformer(embed_dim=16, depths=(1, 1), num_heads=(1, 2), window_size=2, patch_size=2)
    for answer, passes in ((pyramid(), True), (pyramid(upsample="x2"), False)):  # x2 stops the check at 18 x 18
        assert check_pyramid(answer, width=8, backbone=backbone, sizes=((16, 16), (18, 18))).passed == passes
        assert "forward_intermediates" not in vars(backbone)  # the counting wrapper is gone
    assert not any(hp._forward_hooks for hp in swin_viz.hook_points(backbone).values())


# ---------------------------------------------------------------------------------------------------- exercise 3
def test_mosaics_are_fixed_and_labelled_by_their_ink() -> None:
    a, b = mosaics("train", 8, seed=3), mosaics("train", 8, seed=3)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert a.images.shape == (8, 3, CANVAS, CANVAS) and a.labels.shape == (8, CANVAS, CANVAS)
    grey = a.images[:, 0] * 0.229 + 0.485  # undo the ImageNet normalisation of the red channel
    assert bool((grey[a.labels > 0] > INK - 1e-4).all())  # every labelled pixel is ink
    assert set(a.labels.unique().tolist()) <= set(range(len(CLASSES)))
    for k in range(8):  # the labels name the digits placed on the canvas, and only those
        placed = {int(d) + 1 for d in a.digits[k] if d >= 0}
        assert set(a.labels[k].unique().tolist()) - {0} <= placed
    assert not torch.equal(mosaics("val", 8, seed=3).images, a.images)
    with pytest.raises(ValueError, match="split must be"):
        mosaics("test", 4)


def test_segmentation_scores() -> None:
    labels = mosaics("val", 4, seed=0).labels
    perfect = segmentation_scores(labels, labels)
    assert perfect == {"pixel_accuracy": 1.0, "mean_iou": 1.0, "foreground_iou": 1.0, "ink_class_accuracy": 1.0}
    background = segmentation_scores(torch.zeros_like(labels), labels)
    assert background["foreground_iou"] == 0.0 and background["ink_class_accuracy"] == 0.0
    assert math.isclose(background["pixel_accuracy"], float((labels == 0).float().mean()))
    where_only = segmentation_scores(torch.where(labels > 0, 1, 0), labels)  # every ink pixel called a 0
    assert where_only["foreground_iou"] == 1.0 and where_only["ink_class_accuracy"] < 0.5
    with pytest.raises(ValueError, match="differ"):
        segmentation_scores(labels[:, :32], labels)


def test_segmenter_check() -> None:
    assert "not written yet" in str(check_segmenter(None))
    data = mosaics("val", 20, seed=5)
    lookup = {bytes(img.numpy().tobytes()): lab for img, lab in zip(data.images, data.labels)}

    def oracle(images):  # knows the answers: passes
        labels = torch.stack([lookup[bytes(img.numpy().tobytes())] for img in images])
        return F.one_hot(labels, len(CLASSES)).permute(0, 3, 1, 2).float()

    assert check_segmenter(oracle, data).passed
    small = str(check_segmenter(lambda images: oracle(images)[..., ::2, ::2], data))
    assert "upsample the logits" in small
    blank = str(check_segmenter(lambda images: torch.zeros(len(images), len(CLASSES), CANVAS, CANVAS), data))
    assert "NOT YET" in blank and "foreground_iou is 0.000" in blank


def test_the_lab_backbone_is_shared_and_frozen() -> None:
    backbone = lab_backbone()
    assert backbone is lab_backbone() and not backbone.training
    assert not any(p.requires_grad for p in backbone.parameters())
