"""The recipe's RandAugment (``rand-m9-mstd0.5-inc1``) and random erasing: magnitudes, effects, probabilities,
fill, and determinism whatever the number of workers. ``test_rand_augment_reference.py`` compares with timm."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import swin_viz.data as D
from swin_viz.data.rand_augment import (
    INCREASING_OPS,
    MEAN_FILL,
    OPS,
    RandAugment,
    RandomErasing,
    apply_op,
    op_argument,
    parse_randaugment,
)
from swin_viz.data.transforms import IMAGENET_MEAN, sample_rng


def ramp() -> Image.Image:
    """A 16 x 16 RGB image holding every 8-bit value once per channel (channels shifted)."""
    v = np.arange(256, dtype=np.uint8).reshape(16, 16)
    return Image.fromarray(np.stack([v, np.roll(v, 85), np.roll(v, 170)], axis=-1))


def dot(size: int = 64, at: tuple[int, int] = (48, 32)) -> Image.Image:
    a = np.zeros((size, size, 3), np.uint8)
    a[at[1] - 1 : at[1] + 2, at[0] - 1 : at[0] + 2] = 255
    return Image.fromarray(a)


def centroid(im: Image.Image) -> tuple[float, float]:
    a = np.asarray(im, dtype=np.float64)[..., 0]
    w = np.where(a > 128, a, 0)
    ys, xs = np.mgrid[: a.shape[0], : a.shape[1]]
    return float((w * (xs + 0.5)).sum() / w.sum()), float((w * (ys + 0.5)).sum() / w.sum())


# ============================================================================================ the magnitudes
def test_magnitude_nine_gives_the_recipes_arguments() -> None:
    expect = {"Rotate": 27.0, "ShearX": 0.27, "ShearY": 0.27, "TranslateXRel": 0.405, "TranslateYRel": 0.405,
              "PosterizeIncreasing": 1, "SolarizeIncreasing": 26, "SolarizeAdd": 99, "ColorIncreasing": 1.81,
              "ContrastIncreasing": 1.81, "BrightnessIncreasing": 1.81, "SharpnessIncreasing": 1.81,
              "Posterize": 3, "Solarize": 230, "Color": 1.72, "AutoContrast": None}  # fmt: skip
    for name, value in expect.items():
        got = op_argument(name, 9.0)
        assert got == pytest.approx(value) if value is not None else got is None, name
    assert op_argument("Rotate", 9.0, negate=True) == pytest.approx(-27.0)
    assert op_argument("ColorIncreasing", 9.0, negate=True) == pytest.approx(0.19)
    assert op_argument("ContrastIncreasing", 10.0, negate=True) == pytest.approx(0.1)  # kept >= 0.1
    assert op_argument("PosterizeIncreasing", 0.0) == 4 and op_argument("SolarizeIncreasing", 0.0) == 256
    assert len(INCREASING_OPS) == len(OPS) == 15
    with pytest.raises(ValueError, match="unknown RandAugment operation 'Cutout'"):
        op_argument("Cutout", 5)
    with pytest.raises(ValueError, match=r"magnitude must be in \[0, 10\], got 11"):
        apply_op(ramp(), "Rotate", 11)


def test_spec_is_read_as_timm_reads_it() -> None:
    ra = RandAugment.from_spec("rand-m9-mstd0.5-inc1")
    assert (ra.m, ra.mstd, ra.n, ra.p, ra.ops, ra.fill) == (9.0, 0.5, 2, 0.5, INCREASING_OPS, MEAN_FILL)
    assert RandAugment.from_spec("rand-m7-n3").ops == OPS and parse_randaugment("rand-m7-n3") == (7.0, 0.0, 3)
    for bad in ("augmix-m9", "rand-m11", "rand-x3", "rand-mstd-1"):
        with pytest.raises(ValueError, match="RandAugment spec"):
            RandAugment.from_spec(bad)


# ================================================================================================ the effects
def test_rotate_turns_by_the_angle_counter_clockwise_about_the_centre() -> None:
    dx, dy = (c - 32 for c in centroid(dot()))  # (16.5, 0.5) from the centre (32, 32); y points down
    for negate in (False, True):
        out = apply_op(dot(), "Rotate", 9.0, negate=negate)
        a = math.radians(op_argument("Rotate", 9.0, negate))
        expect = (32 + dx * math.cos(a) + dy * math.sin(a), 32 - dx * math.sin(a) + dy * math.cos(a))
        assert centroid(out) == pytest.approx(expect, abs=0.1)
    corner = np.asarray(apply_op(dot(), "Rotate", 9.0))[0, 0]
    assert tuple(corner) == MEAN_FILL == tuple(min(255, round(255 * c)) for c in IMAGENET_MEAN)


def test_translate_and_shear_move_by_the_magnitude_and_fill_with_the_mean() -> None:
    a = np.random.default_rng(0).integers(0, 256, (40, 100, 3), dtype=np.uint8)
    im = Image.fromarray(a)
    out = np.asarray(apply_op(im, "TranslateXRel", 10.0))  # 0.45 * 100 = 45 px: content moves left
    assert np.array_equal(out[:, :55], a[:, 45:]) and (out[:, 55:] == MEAN_FILL).all()
    out = np.asarray(apply_op(im, "TranslateYRel", 10.0, negate=True))  # 0.45 * 40 = 18 px down
    assert np.array_equal(out[18:], a[:22]) and (out[:18] == MEAN_FILL).all()
    line = np.zeros((40, 40, 3), np.uint8)
    line[:, 5] = 255
    out = np.asarray(apply_op(Image.fromarray(line), "ShearX", 10.0, negate=True))  # x_in = x - 0.3 y
    for y in (0, 10, 30):
        assert int(np.argmax(out[y, :, 0])) == 5 + round(0.3 * y), y
    assert (out[39, :12] == MEAN_FILL).all() and (out[0, :5] == 0).all()  # the shift grows with y


def test_colour_operations() -> None:
    im, a = ramp(), np.asarray(ramp()).astype(int)
    post = np.asarray(apply_op(im, "PosterizeIncreasing", 9.0))  # 1 bit kept
    assert set(np.unique(post)) == {0, 128} and np.array_equal(post, a & 0x80)
    assert np.array_equal(np.asarray(apply_op(im, "PosterizeIncreasing", 10.0)), 0 * a)  # 0 bits: black
    assert np.array_equal(np.asarray(apply_op(im, "Posterize", 7.5)), a & 0xE0)  # 3 bits
    sol = np.asarray(apply_op(im, "SolarizeIncreasing", 9.0)).astype(int)  # threshold 26
    assert np.array_equal(sol, np.where(a >= 26, 255 - a, a))
    add = np.asarray(apply_op(im, "SolarizeAdd", 9.0)).astype(int)  # +99 below 128
    assert np.array_equal(add, np.where(a < 128, np.minimum(a + 99, 255), a))
    assert np.array_equal(np.asarray(apply_op(im, "Invert", 3.0)), 255 - a)
    bright = np.asarray(apply_op(im, "BrightnessIncreasing", 9.0)).astype(int)  # x 1.81
    assert np.abs(bright - np.clip(a * 1.81, 0, 255)).max() <= 1
    grey = np.asarray(apply_op(im, "ColorIncreasing", 10.0, negate=True)).astype(int)  # factor 0.1: almost grey
    assert np.ptp(grey, axis=-1).max() < 0.12 * np.ptp(a, axis=-1).max()
    narrow = Image.fromarray(np.clip(a, 50, 100).astype(np.uint8))
    auto = np.asarray(apply_op(narrow, "AutoContrast", 9.0))
    assert auto.min() == 0 and auto.max() >= 254  # 50..100 stretched to the full range
    flat = Image.fromarray(np.full((8, 8, 3), 77, np.uint8))
    assert (np.asarray(apply_op(flat, "ContrastIncreasing", 9.0)) == 77).all()  # contrast about the mean


# ========================================================================================== the probabilities
def test_each_operation_is_applied_half_the_time_with_noisy_magnitude_and_random_sign() -> None:
    ra = RandAugment.from_spec("rand-m9-mstd0.5-inc1")
    draws = [ra.draw(np.random.default_rng([7, i])) for i in range(4000)]
    applied = [op for d in draws for op in d]
    assert abs(len(applied) / (2 * len(draws)) - 0.5) < 0.03  # 2 operations per image, each with p = 0.5
    counts = np.array([sum(name == op for name, _, _ in applied) for op in INCREASING_OPS])
    assert counts.min() > 0.7 * len(applied) / 15 and counts.max() < 1.3 * len(applied) / 15  # uniform choice
    mags = np.array([m for _, m, _ in applied])
    assert abs(mags.mean() - 9.0) < 0.05 and 0.4 < mags.std() < 0.55 and mags.max() <= 10.0
    signed = [neg for name, _, neg in applied if name in ("Rotate", "ShearX", "ColorIncreasing")]
    assert abs(np.mean(signed) - 0.5) < 0.05
    assert not any(neg for name, _, neg in applied if name in ("Equalize", "SolarizeIncreasing"))
    never = RandAugment(p=0.0)
    assert all(never.draw(np.random.default_rng(i)) == [] for i in range(50))


def test_random_erasing_probability_area_and_per_pixel_noise() -> None:
    torch.manual_seed(3)
    er = RandomErasing(0.25)
    boxes = er.boxes(20000, 56, 56)
    erased = boxes[:, 2] > 0
    assert abs(erased.float().mean().item() - 0.25) < 0.015
    area = (boxes[erased, 2] * boxes[erased, 3]).double() / 56**2
    assert area.min() >= 0.015 and area.max() <= 0.35
    assert ((boxes[:, 0] + boxes[:, 2] <= 56) & (boxes[:, 1] + boxes[:, 3] <= 56)).all()
    x = torch.full((64, 3, 56, 56), 5.0)
    y = RandomErasing(1.0)(x)
    noise = y[y != 5.0]
    assert abs(noise.mean().item()) < 0.02 and abs(noise.std().item() - 1.0) < 0.02  # N(0, 1) per pixel
    assert ((y != 5.0).flatten(1).any(1)).float().mean() > 0.95  # every image erased (a box almost always fits)
    const = RandomErasing(1.0, mode="const")(x)
    assert set(const.unique().tolist()) == {0.0, 5.0}
    with pytest.raises(ValueError, match="mode must be 'pixel' or 'const'"):
        RandomErasing(mode="rand")


# ============================================================================================== determinism
def _folder(root: Path, n: int = 8) -> Path:
    rng = np.random.default_rng(0)
    for i in range(n):
        d = root / "train" / f"c{i % 2}"
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (40, 52, 3), dtype=np.uint8)).save(d / f"{i}.png")
    return root / "train"


def test_streamed_images_are_the_same_whatever_the_number_of_workers(tmp_path: Path) -> None:
    index = D.scan_image_folder(_folder(tmp_path))
    spec = "rand-m9-mstd0.5-inc1"

    def epoch(workers: int, randaugment: str | None = spec) -> torch.Tensor:
        loader = D.StreamingLoader(index, 4, image_size=24, num_workers=workers, randaugment=randaugment, seed=5)
        loader.set_epoch(1)
        return torch.cat([x for x, _ in loader])

    base = epoch(0)
    assert torch.equal(base, epoch(2)) and not torch.equal(base, epoch(0, None))
    # each image is train_crop + RandAugment drawn from its own (seed, epoch, index) generator
    order = D.EpochPlan(len(index), 4, seed=5).order(1)[:4]
    ra = RandAugment.from_spec(spec)
    one = torch.stack([D.train_crop(D.decode_rgb(index.path(int(i))), 24, sample_rng(5, 1, int(i)), True, ra)
                       for i in order])  # fmt: skip
    assert torch.equal(base[:4], one)


def test_in_memory_sets_get_the_same_operations_on_the_host() -> None:
    data = D.load_digits(size=16)
    common = dict(batch_size=32, image_size=16, normalize=False, seed=1)
    plain = D.DeviceLoader(data, **common)
    ra = D.DeviceLoader(data, randaugment="rand-m9-mstd0.5-inc1", **common)
    again = D.DeviceLoader(data, randaugment="rand-m9-mstd0.5-inc1", **common)
    (xp, _), (xa, _), (xb, _) = next(iter(plain)), next(iter(ra)), next(iter(again))
    assert torch.equal(xa, xb) and xa.dtype == torch.float32 and xa.min() >= 0 and xa.max() <= 1
    changed = (xa - xp).abs().flatten(1).amax(1) > 2 / 255
    assert 0.4 < changed.float().mean() < 0.95  # about 1 - 0.5^2 of the images get at least one operation
    assert D.DeviceLoader(data, train=False, randaugment="rand-m9", **common).rand_augment is None
    # two ranks together hold the single-process batch, RandAugment included (it is seeded per image)
    ranks = [next(iter(D.DeviceLoader(data, randaugment="rand-m9-mstd0.5-inc1", rank=r, world_size=2, **common)))[0]
             for r in range(2)]  # fmt: skip
    assert torch.equal(torch.cat(ranks), xa)


def test_shards_apply_randaugment_per_image_as_the_folder_loader_does(tmp_path: Path) -> None:
    from swin_viz.data.shards import ShardLoader, write_shards

    root = _folder(tmp_path / "src", 8).parent
    (root / "val").symlink_to(root / "train")
    write_shards(root, tmp_path / "shards", max_count=4)
    spec = "rand-m9-mstd0.5-inc1"

    def batches(randaugment: str | None) -> list[tuple[torch.Tensor, torch.Tensor]]:
        loader = ShardLoader(tmp_path / "shards", "train", 4, image_size=24, num_workers=0, randaugment=randaugment,
                             shuffle_buffer=1)  # fmt: skip
        return list(loader)

    a, b, plain = batches(spec), batches(spec), batches(None)
    assert all(torch.equal(x, y) for (x, _), (y, _) in zip(a, b))
    assert not all(torch.equal(x, y) for (x, _), (y, _) in zip(a, plain))
    # each image is what the folder loader makes of it: train_crop + RandAugment from (seed, epoch, index)
    index = D.scan_image_folder(root / "train")
    ra = RandAugment.from_spec(spec)
    made = {tuple(D.train_crop(D.decode_rgb(index.path(i)), 24, sample_rng(0, 0, i), True, ra).flatten()[:64].tolist())
            for i in range(len(index))}  # fmt: skip
    assert all(tuple(x.flatten()[:64].tolist()) in made for xb, _ in a for x in xb)
    val = ShardLoader(tmp_path / "shards", "val", 4, image_size=24, train=False, num_workers=0, randaugment=spec)
    assert val.randaugment is None  # evaluation is never augmented


# ======================================================================================== in the training run
@pytest.mark.parametrize("loader", ["stream", "memory"])
def test_the_engine_runs_the_recipes_augmentation(tmp_path: Path, loader: str) -> None:
    import swin_viz.train.loop as loop
    from swin_viz.train import TrainConfig, train
    from swin_viz.train.runtime import setup_runtime

    build_data = getattr(loop, "build_data", None) or D.build_data  # type: ignore[attr-defined]

    _folder(tmp_path, 8)
    (tmp_path / "val").symlink_to(tmp_path / "train")
    cfg = TrainConfig(data="folder", data_root=str(tmp_path), loader=loader, model="small", image_size=32,
                      epochs=1, batch_size=4, warmup_epochs=0, workers=0, device="cpu", progress=False,
                      out=str(tmp_path / "run"), max_steps_per_epoch=1)  # fmt: skip
    assert (cfg.randaugment, cfg.reprob) == ("rand-m9-mstd0.5-inc1", 0.25)  # the recipe is the default
    data = build_data(cfg, setup_runtime(cfg.device))
    ra = getattr(data.train, "rand_augment", None) or data.train._loader.dataset.randaugment
    assert isinstance(ra, RandAugment) and ra.ops == INCREASING_OPS
    assert getattr(data.val, "rand_augment", None) is None and "randaugment" not in vars(data.val)
    x = torch.zeros(16, 3, 32, 32, dtype=torch.uint8)
    erased = loop.prepare_batch(x, RandomErasing(1.0))
    assert not torch.equal(erased, D.normalize(x.float())) and erased.std() > 0.2  # noise, not the mean
    summary = train(cfg)
    assert summary["metrics"][0]["train_loss"] > 0
