"""The data side of training: loaders for digits / CIFAR-10 / image folders, DeviceLoader, augmentation, mixing."""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from swin_viz.data import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    DeviceLoader,
    ImageSet,
    SyntheticLoader,
    augment_batch,
    load_cifar10,
    load_dataset,
    load_digits,
    load_image_folder,
    mixup_cutmix,
    normalize,
)
from swin_viz.data.augment import crop_thetas

# ------------------------------------------------------------------------------------------------- digits


def _as_rows(s: ImageSet) -> list[bytes]:
    return sorted(img.numpy().tobytes() + bytes([int(lab)]) for img, lab in zip(s.images, s.labels))


def test_digits_shapes_split_and_determinism() -> None:
    train, val = load_digits(split="train"), load_digits(split="val")
    assert train.images.shape[1:] == (3, 32, 32) and train.images.dtype == torch.uint8
    assert val.images.shape[1:] == (3, 32, 32) and val.labels.dtype == torch.int64
    assert len(train) + len(val) == 1797
    assert abs(len(val) / 1797 - 0.2) < 0.01
    assert train.classes == [str(i) for i in range(10)] and train.num_classes == 10
    assert set(train.labels.tolist()) == set(range(10)) == set(val.labels.tolist())
    for s in (train, val):
        assert int(s.images.min()) == 0 and int(s.images.max()) == 255
        assert torch.equal(s.images[:, 0], s.images[:, 1]) and torch.equal(s.images[:, 0], s.images[:, 2])
    assert train.name.startswith("digits") and "scikit-learn" in train.name and "32x32" in train.name
    assert "8x8" in train.name and not train.flip
    again = load_digits(split="train")
    assert torch.equal(again.images, train.images) and torch.equal(again.labels, train.labels)
    assert not torch.equal(load_digits(split="val", seed=1).labels, val.labels)


def test_digits_split_is_a_partition_of_the_original() -> None:
    from sklearn.datasets import load_digits as sk_digits

    train, val = load_digits(size=8, split="train"), load_digits(size=8, split="test")  # "test" aliases "val"
    bunch = sk_digits()
    full = ImageSet(
        images=torch.from_numpy(np.round(bunch.images * 255 / 16).astype(np.uint8))[:, None].expand(-1, 3, -1, -1),
        labels=torch.from_numpy(bunch.target.astype(np.int64)),
        classes=train.classes,
        name="full",
    )
    assert sorted(_as_rows(train) + _as_rows(val)) == _as_rows(full)
    # Stratified: every class is ~20% validation.
    for c in range(10):
        n_val, n_all = int((val.labels == c).sum()), int((full.labels == c).sum())
        assert n_val == round(n_all * 0.2)


def test_digits_other_sizes() -> None:
    small = load_digits(size=4, split="val")
    assert small.images.shape[1:] == (3, 4, 4) and "downsampled to 4x4" in small.name
    with pytest.raises(ValueError, match="split"):
        load_digits(split="holdout")


# --------------------------------------------------------------------------------------------- CIFAR-10


def _write_cifar(folder: Path, per_batch: int = 3, n_test: int = 4) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = [f"class{i}".encode() for i in range(10)]
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": names, b"num_vis": 3072}, f)
    for i, fname in enumerate([*(f"data_batch_{k}" for k in range(1, 6)), "test_batch"]):
        n = n_test if fname == "test_batch" else per_batch
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        data[0, :] = 0
        data[0, 0 * 1024 + 5 * 32 + 7] = 200 + i  # R plane, row 5, column 7
        data[0, 2 * 1024 + 31 * 32 + 0] = 100  # B plane, row 31, column 0
        labels = [(i + j) % 10 for j in range(n)]
        with open(folder / fname, "wb") as f:
            pickle.dump({b"data": data, b"labels": labels, b"batch_label": fname.encode()}, f)


def test_cifar10_fake_folder_both_root_conventions(tmp_path: Path) -> None:
    _write_cifar(tmp_path / "cifar-10-batches-py")
    for root in (tmp_path, tmp_path / "cifar-10-batches-py", str(tmp_path)):
        train = load_cifar10(root, "train")
        assert train.images.shape == (15, 3, 32, 32) and train.images.dtype == torch.uint8
        assert train.labels.dtype == torch.int64 and train.labels[:3].tolist() == [0, 1, 2]
        assert train.classes == [f"class{i}" for i in range(10)]
        assert train.name.startswith("CIFAR-10") and train.flip
    first = train.images[0]
    assert first[0, 5, 7] == 200 and first[2, 31, 0] == 100 and int(first.sum()) == 300
    assert train.images[3, 0, 5, 7] == 201  # first image of data_batch_2
    test = load_cifar10(tmp_path, "test")
    assert test.images.shape == (4, 3, 32, 32) and test.images[0, 0, 5, 7] == 205
    assert torch.equal(load_dataset("cifar10", str(tmp_path), split="val").images, test.images)


def test_cifar10_missing_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"data_batch_1.*batches\.meta"):
        load_cifar10(tmp_path / "nowhere")
    _write_cifar(tmp_path / "c")
    (tmp_path / "c" / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match="lacks data_batch_3"):
        load_cifar10(tmp_path / "c", "train")
    assert len(load_cifar10(tmp_path / "c", "test")) == 4  # the test split does not need the training files
    with pytest.raises(ValueError, match="root"):
        load_dataset("cifar10")


# ---------------------------------------------------------------------------------------------- folders


def _write_png(path: Path, color: tuple[int, int, int], size: tuple[int, int] = (30, 20), mode: str = "RGB") -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).convert(mode).save(path)


def test_image_folder_loads_sorted_classes(tmp_path: Path) -> None:
    _write_png(tmp_path / "class_b" / "x.png", (0, 0, 255))
    _write_png(tmp_path / "class_b" / "y.PNG", (0, 255, 0), size=(20, 40))
    _write_png(tmp_path / "class_a" / "z.png", (255, 0, 0), mode="L")
    (tmp_path / "class_a" / "notes.txt").write_text("not an image")
    s = load_image_folder(tmp_path, size=16)
    assert s.classes == ["class_a", "class_b"]
    assert s.images.shape == (3, 3, 16, 16) and s.images.dtype == torch.uint8
    assert s.labels.tolist() == [0, 1, 1]
    grey = round(255 * 0.299)  # PIL's L conversion of pure red, then back to RGB
    assert (s.images[0] == grey).all()
    assert (s.images[1] == torch.tensor([0, 0, 255], dtype=torch.uint8)[:, None, None]).all()
    assert (s.images[2] == torch.tensor([0, 255, 0], dtype=torch.uint8)[:, None, None]).all()
    assert "2 classes" in s.name and s.flip
    assert load_image_folder(tmp_path, size=8, max_per_class=1).labels.tolist() == [0, 1]


def test_image_folder_center_crop(tmp_path: Path) -> None:
    from PIL import Image

    # A wide image: left third red, middle green, right third blue; the center crop keeps only green.
    arr = np.zeros((32, 96, 3), dtype=np.uint8)
    arr[:, :32, 0], arr[:, 32:64, 1], arr[:, 64:, 2] = 255, 255, 255
    (tmp_path / "c").mkdir()
    Image.fromarray(arr).save(tmp_path / "c" / "wide.png")
    img = load_image_folder(tmp_path, size=16).images[0]  # shorter side to 18, 54 wide, crop columns 19..34
    assert (img[1] == 255).all() and (img[0] == 0).all() and (img[2] == 0).all()


def test_image_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not found"):
        load_image_folder(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no class sub-folders"):
        load_image_folder(tmp_path)
    (tmp_path / "empty_class").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no images.*empty_class"):
        load_image_folder(tmp_path)
    (tmp_path / "empty_class" / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match=r"broken\.jpg"):
        load_image_folder(tmp_path, size=8)


def test_load_dataset_dispatch(tmp_path: Path) -> None:
    _write_png(tmp_path / "train" / "a" / "1.png", (10, 20, 30))
    _write_png(tmp_path / "val" / "a" / "1.png", (40, 50, 60))
    _write_png(tmp_path / "val" / "b" / "1.png", (70, 80, 90))
    tr = load_dataset("folder", str(tmp_path), size=8)
    va = load_dataset("folder", str(tmp_path), size=8, split="val")
    assert len(tr) == 1 and va.classes == ["a", "b"] and va.images.shape == (2, 3, 8, 8)
    assert tr.images[0, :, 0, 0].tolist() == [10, 20, 30]
    assert load_dataset("folder", str(tmp_path / "val"), size=8).classes == ["a", "b"]  # no split sub-folder
    with pytest.raises(FileNotFoundError, match="'test'"):
        load_dataset("folder", str(tmp_path), split="test")
    assert load_dataset("digits", split="val").images.shape[-1] == 32
    with pytest.raises(ValueError, match="unknown data set"):
        load_dataset("imagenet")


# ------------------------------------------------------------------------------------------ DeviceLoader


def _toy_set(n: int = 50, size: int = 8, flip: bool = True) -> ImageSet:
    g = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8)
    return ImageSet(images=images, labels=torch.arange(n), classes=[str(i) for i in range(n)], name="toy", flip=flip)


def _all(loader: DeviceLoader) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return list(loader)


def test_loader_epoch_order_reproducible_and_lengths() -> None:
    data = _toy_set()
    a, b = DeviceLoader(data, 8, augment=False), DeviceLoader(data, 8, augment=False, seed=0)
    assert len(a) == 6 and len(DeviceLoader(data, 8, train=False)) == 7
    a.set_epoch(3)
    b.set_epoch(3)
    ya = torch.cat([y for _, y in a])
    assert torch.equal(ya, torch.cat([y for _, y in b])) and len(ya) == 48 and len(set(ya.tolist())) == 48
    assert torch.equal(ya, torch.cat([y for _, y in a]))  # a second pass over the same epoch repeats it
    a.set_epoch(4)
    assert not torch.equal(ya, torch.cat([y for _, y in a]))
    assert not torch.equal(ya, torch.cat([y for _, y in DeviceLoader(data, 8, augment=False, seed=1)]))
    ev = torch.cat([y for _, y in DeviceLoader(data, 8, train=False)])
    assert torch.equal(ev, torch.arange(50))  # evaluation: every sample once, in order
    with pytest.raises(ValueError, match="divisible"):
        DeviceLoader(data, 9, world_size=2)
    with pytest.raises(ValueError, match="no batch"):
        DeviceLoader(data, 64)


@pytest.mark.parametrize("augment", [False, True])
def test_loader_ranks_concatenate_to_single_process(augment: bool) -> None:
    data = _toy_set()
    single = DeviceLoader(data, 8, augment=augment, image_size=6, seed=5)
    ranks = [DeviceLoader(data, 8, augment=augment, image_size=6, seed=5, rank=r, world_size=2) for r in range(2)]
    for loader in (single, *ranks):
        loader.set_epoch(2)
    batches = [_all(loader) for loader in ranks]
    assert len(batches[0]) == len(batches[1]) == len(single) == 6
    for step, (x, y) in enumerate(single):
        assert batches[0][step][0].shape == (4, 3, 6, 6)
        torch.testing.assert_close(torch.cat([batches[0][step][0], batches[1][step][0]]), x, rtol=0, atol=1e-6)
        assert torch.equal(torch.cat([batches[0][step][1], batches[1][step][1]]), y)


def test_loader_eval_ranks_cover_everything_once() -> None:
    data = _toy_set(n=49)
    loaders = [DeviceLoader(data, 8, train=False, rank=r, world_size=4) for r in range(4)]
    assert [len(lo) for lo in loaders] == [6, 6, 6, 7]  # last global batch has 1 sample: only rank 3 gets it
    seen = torch.cat([y for lo in loaders for _, y in lo])
    assert sorted(seen.tolist()) == list(range(49))


def test_loader_shapes_and_normalisation() -> None:
    data = _toy_set(size=8)
    x, y = next(iter(DeviceLoader(data, 8, train=False)))
    assert x.dtype == torch.float32 and y.dtype == torch.int64 and x.shape == (8, 3, 8, 8)
    mean, std = torch.tensor(IMAGENET_MEAN).view(3, 1, 1), torch.tensor(IMAGENET_STD).view(3, 1, 1)
    torch.testing.assert_close(x * std + mean, data.images[:8].float() / 255, rtol=0, atol=1e-6)
    torch.testing.assert_close(normalize(data.images[:8].float() / 255), x)
    for augment in (False, True):
        xa, ya = next(iter(DeviceLoader(data, 8, augment=augment, image_size=12)))
        assert xa.shape == (8, 3, 12, 12) and ya.shape == (8,)
        assert xa.device.type == "cpu"
    xe, _ = next(iter(DeviceLoader(data, 8, train=False, image_size=4)))
    assert xe.shape == (8, 3, 4, 4)


def test_loader_state_dict_resumes_exactly() -> None:
    data = _toy_set()

    def run(loader: DeviceLoader, stop: int | None = None):
        out = []
        for i, (x, y) in enumerate(loader):
            out.append((x, y))
            if stop is not None and i + 1 == stop:
                return out, loader.state_dict()
        return out, loader.state_dict()

    ref = DeviceLoader(data, 8, augment=True, seed=3)
    ref.set_epoch(1)
    full, _ = run(ref)
    first_part = DeviceLoader(data, 8, augment=True, seed=3)
    first_part.set_epoch(1)
    head, state = run(first_part, stop=2)
    assert state["epoch"] == 1 and state["batch"] == 2
    resumed = DeviceLoader(data, 8, augment=True, seed=0)
    resumed.load_state_dict(state)
    resumed.set_epoch(1)  # what a training loop does at the top of the epoch: keeps the resume point
    tail, _ = run(resumed)
    assert len(head) + len(tail) == len(full) == 6
    for (xa, ta), (xb, tb) in zip(head + tail, full):
        assert torch.equal(xa, xb) and torch.equal(ta, tb)
    # At an epoch boundary the state carries over too: epoch 2 after resuming equals epoch 2 of the reference.
    ref.set_epoch(2)
    resumed.set_epoch(2)
    for (xa, _), (xb, _) in zip(_all(ref), _all(resumed)):
        assert torch.equal(xa, xb)
    # A state saved after a finished epoch needs no generator (so any device can load it); the epoch is done.
    end = resumed.state_dict()
    assert end["epoch"] == 2 and end["batch"] == 6
    fresh = DeviceLoader(data, 8, augment=True)
    fresh.load_state_dict({**end, "generator_device": "cuda"})
    assert _all(fresh) == []
    fresh.set_epoch(3)
    ref.set_epoch(3)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(_all(fresh), _all(ref)))
    with pytest.raises(ValueError, match="mid-epoch"):
        fresh.load_state_dict({**state, "generator_device": "cuda"})


def test_loader_flips_only_when_the_set_allows() -> None:
    # Every image is a left-to-right ramp: crops keep it increasing, only a flip makes it decreasing.
    ramp = torch.linspace(0, 255, 16).round().to(torch.uint8).expand(64, 3, 16, 16).contiguous()
    for flip in (False, True):
        data = ImageSet(images=ramp, labels=torch.zeros(64, dtype=torch.int64), classes=["r"], name="ramp", flip=flip)
        x = torch.cat([xb for xb, _ in DeviceLoader(data, 32, augment=True)])
        reversed_ = (x[:, 0, :, -1] < x[:, 0, :, 0]).all(dim=1)
        assert not (x[:, 0, :, -1] == x[:, 0, :, 0]).any()
        assert (reversed_.float().mean() > 0.25) if flip else not reversed_.any()


# ------------------------------------------------------------------------------------------ augmentation


def test_augment_batch_shape_and_identity() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 3, 10, 12)
    assert augment_batch(x, g, 16).shape == (4, 3, 16, 16)
    sq = torch.rand(5, 3, 16, 16)
    torch.testing.assert_close(augment_batch(sq, g, 16, scale=(1, 1), flip=False), sq, rtol=0, atol=1e-5)
    bilinear = augment_batch(sq, g, 24, scale=(1, 1), flip=False, mode="bilinear")
    up = F.interpolate(sq, size=(24, 24), mode="bilinear", align_corners=False)
    torch.testing.assert_close(bilinear, up, rtol=0, atol=1e-5)


def test_augment_batch_flips() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(64, 3, 8, 8)
    out = augment_batch(x, g, 8, scale=(1, 1), flip=True)
    same = (out - x).abs().flatten(1).amax(1) < 1e-5
    mirrored = (out - x.flip(-1)).abs().flatten(1).amax(1) < 1e-5
    assert (same ^ mirrored).all() and same.any() and mirrored.any()


def test_crop_parameters_respect_scale_and_ratio() -> None:
    g = torch.Generator().manual_seed(0)
    th = crop_thetas(2000, 16, 16, g, torch.device("cpu"), (0.35, 1.0), (3 / 4, 4 / 3), True)
    w, h = th[:, 0, 0].abs(), th[:, 1, 1]
    area, aspect = w * h, w / h
    assert (area >= 0.35 - 1e-6).all() and (area <= 1 + 1e-6).all()
    assert (aspect >= 3 / 4 - 1e-6).all() and (aspect <= 4 / 3 + 1e-6).all()
    assert ((th[:, 0, 2].abs() + w) <= 1 + 1e-6).all() and ((th[:, 1, 2].abs() + h) <= 1 + 1e-6).all()
    assert 0.4 < (th[:, 0, 0] < 0).float().mean() < 0.6
    fixed = crop_thetas(100, 16, 32, g, torch.device("cpu"), (0.25, 0.25), (1, 1), False)
    # A quarter of the area with square pixels: width fraction 0.5 * sqrt(H / W), height 0.5 * sqrt(W / H).
    torch.testing.assert_close(fixed[:, 0, 0], torch.full((100,), 0.5 * math.sqrt(0.5)))
    torch.testing.assert_close(fixed[:, 1, 1], torch.full((100,), 0.5 * math.sqrt(2)))


# ------------------------------------------------------------------------------------------ mixup / cutmix


def test_label_smoothing_only_when_alphas_zero() -> None:
    g = np.random.default_rng(0)
    x, y = torch.rand(4, 3, 8, 8), torch.tensor([0, 3, 3, 9])
    xm, t = mixup_cutmix(x, y, 10, g, mixup_alpha=0, cutmix_alpha=0, label_smoothing=0.1)
    assert xm is x and t.shape == (4, 10)
    expected = torch.full((4, 10), 0.01)
    expected[torch.arange(4), y] = 0.91
    torch.testing.assert_close(t, expected)
    torch.testing.assert_close(t.sum(1), torch.ones(4))


def test_mixup_mixes_images_and_targets_alike() -> None:
    g = np.random.default_rng(0)
    x, y = torch.rand(4, 3, 8, 8), torch.arange(4)
    for _ in range(5):
        xm, t = mixup_cutmix(x, y, 6, g, mixup_alpha=0.8, cutmix_alpha=0, label_smoothing=0)
        lam = t[0, 0]
        assert 0 <= lam <= 1 and torch.isclose(t[0, 3], 1 - lam)
        torch.testing.assert_close(xm, lam * x + (1 - lam) * x.flip(0))
        torch.testing.assert_close(t.sum(1), torch.ones(4))


def test_cutmix_box_area_matches_target_lambda() -> None:
    g = np.random.default_rng(0)
    B, H, W = 6, 12, 20
    x = torch.arange(B, dtype=torch.float32).view(B, 1, 1, 1).expand(B, 3, H, W).contiguous()
    y = torch.arange(B)
    lams = []
    for _ in range(30):
        xm, t = mixup_cutmix(x, y, B, g, mixup_alpha=0, cutmix_alpha=1.0, label_smoothing=0)
        for i in range(B // 2):  # with an even batch, i's partner B-1-i differs from i
            kept = xm[i] == i
            assert (kept | (xm[i] == B - 1 - i)).all()
            torch.testing.assert_close(kept.float().mean(), t[i, i])
            torch.testing.assert_close(t[i, B - 1 - i], 1 - t[i, i])
            pasted = ~kept[0]
            if pasted.any():  # the pasted region is one axis-aligned box
                rows, cols = pasted.any(1).nonzero().flatten(), pasted.any(0).nonzero().flatten()
                assert pasted[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].all()
                assert int(pasted.sum()) == len(rows) * len(cols)
        lams.append(float(t[0, 0]))
    assert min(lams) < 0.5 < max(lams)


def test_switch_between_mixup_and_cutmix() -> None:
    g = np.random.default_rng(0)
    x, y = torch.rand(4, 3, 8, 8), torch.arange(4)

    def is_cutmix(xm: torch.Tensor) -> bool:
        return bool(((xm == x) | (xm == x.flip(0))).all())

    assert all(is_cutmix(mixup_cutmix(x, y, 4, g, switch_prob=1.0)[0]) for _ in range(5))
    assert not any(is_cutmix(mixup_cutmix(x, y, 4, g, switch_prob=0.0)[0]) for _ in range(5))
    kinds = {is_cutmix(mixup_cutmix(x, y, 4, g)[0]) for _ in range(20)}
    assert kinds == {True, False}
    _, t = mixup_cutmix(x, y, 4, g)
    assert t.shape == (4, 4) and torch.allclose(t.sum(1), torch.ones(4))


# ------------------------------------------------------------------------------------------------ synthetic


def test_synthetic_loader_shares_the_loaders_interface() -> None:
    loader = SyntheticLoader(8, 16, num_classes=7, steps=3, seed=1, world_size=2)
    batches = list(loader)
    assert len(loader) == 3 == len(batches) and loader.kind == "synthetic"
    for x, y in batches:
        assert x.shape == (4, 3, 16, 16) and x.dtype == torch.uint8 and x.device.type == "cpu"
        assert y.shape == (4,) and y.dtype == torch.int64 and ((y >= 0) & (y < 7)).all()
    loader.set_epoch(2)
    assert loader.state_dict()["epoch"] == 2
    assert torch.equal(next(iter(SyntheticLoader(8, 16, 7, 1, seed=1, world_size=2)))[0], batches[0][0])
