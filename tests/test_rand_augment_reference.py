"""swin_viz's RandAugment and random erasing against timm's, operation by operation (same image, magnitude, sign).

Collected only with ``SWIN_VIZ_REFERENCE=1`` (see conftest.py), in an environment that has timm::

    python -m venv /work/refenv
    /work/refenv/bin/pip install torch==2.14.1 torchvision==0.29.1 timm pytest hypothesis scikit-image==0.26.0
    SWIN_VIZ_REFERENCE=1 SWIN_VIZ_REFERENCE_REPORT=bench/results/rand_augment_reference.json PYTHONPATH=$PWD \
        /work/refenv/bin/python -m pytest tests/test_rand_augment_reference.py -p no:cacheprovider -o addopts="" -s

(timm 1.0.31 and Pillow 13.0.0 wrote the committed ``bench/results/rand_augment_reference.json``; chapter 12 reads
it.)

Set ``SWIN_VIZ_REFERENCE_REPORT=path.json`` to write each operation's largest difference (in 8-bit levels).
The imports are unconditional: in the reference environment a missing package fails the run.
"""

from __future__ import annotations

import json
import os
import random

import numpy as np
import pytest
import skimage.data
import timm.data
import timm.data.auto_augment as taa
import torch
from PIL import Image
from timm.data.random_erasing import RandomErasing as TimmErasing

from swin_viz.data.rand_augment import INCREASING_OPS, MEAN_FILL, OPS, RandAugment, RandomErasing, apply_op
from swin_viz.data.transforms import IMAGENET_MEAN

MAGNITUDES = (0.0, 3.0, 8.6, 9.0, 9.7, 10.0)
DIFFS: dict[str, int] = {}
REFUSED: set[str] = set()


def photo() -> Image.Image:
    return Image.fromarray(skimage.data.astronaut()).resize((224, 224), Image.Resampling.BICUBIC)


def test_the_recipes_settings_are_timms() -> None:
    """timm's own factory, as Swin's code calls it, builds the RandAugment and erasing we reproduce."""
    tf = timm.data.create_transform(224, is_training=True, auto_augment="rand-m9-mstd0.5-inc1",
                                    interpolation="bicubic", re_prob=0.25, re_mode="pixel", re_count=1)  # fmt: skip
    ra = next(t for t in tf.transforms if isinstance(t, taa.RandAugment))
    er = next(t for t in tf.transforms if isinstance(t, TimmErasing))
    ours = RandAugment.from_spec("rand-m9-mstd0.5-inc1")
    assert tuple(op.name for op in ra.ops) == ours.ops == INCREASING_OPS
    assert tuple(taa._RAND_TRANSFORMS) == OPS
    assert ra.num_layers == ours.n and ra.choice_weights is None  # uniform, with replacement
    for op in ra.ops:
        assert (op.prob, op.magnitude, op.magnitude_std) == (ours.p, ours.m, ours.mstd)
        assert tuple(op.kwargs["fillcolor"]) == MEAN_FILL == tuple(round(255 * c) for c in IMAGENET_MEAN)
        assert op.kwargs["resample"] == Image.Resampling.BICUBIC
    assert (er.probability, er.mode, er.min_area, er.max_area, er.max_count) == (0.25, "pixel", 0.02, 1 / 3, 1)


@pytest.mark.parametrize("name", sorted(set(OPS) | set(INCREASING_OPS)))
def test_each_operation_matches_timm(name: str) -> None:
    hparams = dict(img_mean=MEAN_FILL, interpolation=Image.Resampling.BICUBIC)
    im = photo()
    worst = 0
    for m in MAGNITUDES:
        theirs = taa.AugmentOp(name, prob=1.0, magnitude=m, hparams=hparams)
        for seed in range(4):  # timm negates when its first random.random() > 0.5
            random.seed(seed)
            negate = random.random() > 0.5
            random.seed(seed)
            got = np.asarray(apply_op(im, name, m, negate, MEAN_FILL, "bicubic"), dtype=np.int16)
            try:
                want = np.asarray(theirs(im), dtype=np.int16)
            except ValueError as e:  # timm's posterize to 0 bits; Pillow >= 11 refuses it, older Pillow gave black
                assert name.startswith("Posterize") and "bits" in str(e) and not got.any(), (name, m, e)
                REFUSED.add(f"{name} at magnitude {m}")
                continue
            worst = max(worst, int(np.abs(want - got).max()))
    DIFFS[name] = worst
    print(f"{name:22s} largest difference from timm over magnitudes {MAGNITUDES}, both signs: {worst}")
    assert worst == 0


def test_random_erasing_matches_timm_in_distribution() -> None:
    """timm erases one image at a time with Python's ``random``; ours draws a batch with torch. Same law: the
    erased fraction, the boxes' area and aspect ratio, and N(0, 1) fill."""
    random.seed(0)
    torch.manual_seed(0)
    H = W = 56
    n = 4000
    theirs = TimmErasing(probability=0.25, mode="pixel", device="cpu")
    areas_t, n_t = [], 0
    for _ in range(n):
        x = torch.full((3, H, W), 9.0)
        theirs(x)
        mask = x[0] != 9.0
        if mask.any():
            n_t += 1
            areas_t.append(mask.sum().item() / (H * W))
    boxes = RandomErasing(0.25).boxes(n, H, W)
    ours = boxes[boxes[:, 2] > 0]
    areas_o = (ours[:, 2] * ours[:, 3]).double().numpy() / (H * W)
    assert abs(n_t / n - len(ours) / n) < 0.03
    assert abs(np.mean(areas_t) - areas_o.mean()) < 0.01
    assert abs(np.median(areas_t) - np.median(areas_o)) < 0.015


def teardown_module() -> None:
    path = os.environ.get("SWIN_VIZ_REFERENCE_REPORT")
    if path and DIFFS:
        with open(path, "w") as f:
            json.dump({"timm": timm.__version__, "pillow": Image.__version__, "max_abs_diff_8bit": DIFFS,
                       "timm_raises": sorted(REFUSED)}, f, indent=1)  # fmt: skip
