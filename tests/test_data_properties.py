"""Properties of the data pipeline (``swin_viz.data``) over random sizes, seeds and layouts (hypothesis).

Each property is what a docstring of ``swin_viz.data`` promises: the epoch plan's order and rank slices, the crop
seeded by ``(seed, epoch, index)`` whatever decodes it, the random-resized crop's bounds, Mixup/CutMix targets and
groups, the shard round trip, the loaders' shared interface, the generated tasks, and named errors for bad input.
Images are tiny (8-40 px) and examples few, so the file runs in well under a minute on one thread.
"""

from __future__ import annotations

import math
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

import swin_viz
import swin_viz.data as D
from swin_viz.data.augment import crop_thetas
from swin_viz.data.shards import ShardLoader, write_shards
from swin_viz.data.tasks import COLOURS, MARK, TASKS, load_task
from swin_viz.data.transforms import decode_rgb, eval_crop, random_resized_crop_box, sample_rng, train_crop

FAST = settings(deadline=None, max_examples=25, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(deadline=None, max_examples=8, suppress_health_check=[HealthCheck.too_slow])
SWIN_VIZ_DIR = Path(swin_viz.__file__).resolve().parent

seeds = st.integers(0, 2**62)


def _named_error(fn: Callable[[], object], *words: str) -> None:
    """``fn()`` raises ``ValueError`` or ``TypeError`` from inside ``swin_viz`` whose message names one of ``words``."""
    with pytest.raises((ValueError, TypeError)) as info:
        fn()
    tb = info.tb
    while tb.tb_next is not None:
        tb = tb.tb_next
    origin = Path(tb.tb_frame.f_code.co_filename).resolve()
    where = f"{info.type.__name__} raised outside swin_viz, in {origin}: {info.value}"
    assert origin.is_relative_to(SWIN_VIZ_DIR), where
    assert any(w in str(info.value) for w in words), f"message does not name {words}: {info.value}"


# ================================================================================================ EpochPlan


@st.composite
def plans(draw: st.DrawFn) -> dict:
    world = draw(st.integers(1, 4))
    batch = world * draw(st.integers(1, 4))
    drop_last = draw(st.booleans())
    n = draw(st.integers(batch if drop_last else 1, 40))
    return dict(n=n, batch_size=batch, world_size=world, seed=draw(st.integers(-(2**40), 2**40)),
                shuffle=draw(st.booleans()), drop_last=drop_last)  # fmt: skip


@FAST
@given(p=plans(), epoch=st.integers(0, 10_000))
def test_epoch_plan_ranks_cut_each_global_batch_into_contiguous_slices(p: dict, epoch: int) -> None:
    n, B, W = p["n"], p["batch_size"], p["world_size"]
    ranks = [D.EpochPlan(rank=r, **p) for r in range(W)]
    order = ranks[0].order(epoch)
    # The order is a permutation of the data set (dataset order without shuffle), the same on every rank.
    assert sorted(order.tolist()) == list(range(n))
    if not p["shuffle"]:
        assert order.tolist() == list(range(n))
    assert all(torch.equal(plan.order(epoch), order) for plan in ranks)
    n_global = n // B if p["drop_last"] else -(-n // B)
    per_rank = [list(plan.batches(epoch)) for plan in ranks]
    for plan, batches in zip(ranks, per_rank):
        assert len(batches) == len(plan)
        # Only the last global batch can be partial, so a rank skips at most that one.
        assert len(batches) in (n_global, n_global - 1)
    seen: list[int] = []
    for step in range(n_global):
        lo, hi = step * B, min(step * B + B, n)
        parts = [batches[step] for batches in per_rank if step < len(batches)]
        lengths = [len(idx) for _, _, idx in parts] + [0] * (W - len(parts))
        assert all(size == hi - lo for size, _, _ in parts)
        # Rank slices in rank order are contiguous, start at offset 0 and together are the global batch.
        cursor = 0
        for _, offset, idx in parts:
            assert offset == cursor and len(idx) > 0
            cursor += len(idx)
        assert torch.equal(torch.cat([idx for _, _, idx in parts]), order[lo:hi])
        # Full batches: B / W each; a last partial batch: near-equal parts.
        if hi - lo == B:
            assert lengths == [B // W] * W
        else:
            assert max(lengths) - min(lengths) <= 1 and sum(lengths) == hi - lo
        seen += [i for _, _, idx in parts for i in idx.tolist()]
    # What the ranks take in an epoch: every image once; with drop_last, n - n % B distinct images.
    if p["drop_last"]:
        assert len(seen) == len(set(seen)) == n - n % B
    else:
        assert sorted(seen) == list(range(n))


@FAST
@given(p=plans(), epoch=st.integers(0, 10_000), data=st.data())
def test_epoch_plan_resumes_mid_epoch_with_the_remaining_batches(p: dict, epoch: int, data: st.DataObject) -> None:
    plan = D.EpochPlan(rank=data.draw(st.integers(0, p["world_size"] - 1)), **p)
    full = list(plan.batches(epoch))
    start = data.draw(st.integers(0, len(full) + 1))
    rest = list(plan.batches(epoch, start))
    assert len(rest) == len(full[start:])
    for (s1, a1, i1), (s2, a2, i2) in zip(rest, full[start:]):
        assert (s1, a1) == (s2, a2) and torch.equal(i1, i2)


@FAST
@given(n=st.integers(10, 60), seed=st.integers(-(2**40), 2**40), e1=st.integers(0, 10_000), e2=st.integers(0, 10_000))
def test_epoch_plan_order_is_a_function_of_seed_and_epoch(n: int, seed: int, e1: int, e2: int) -> None:
    a, b = D.EpochPlan(n, 1, seed), D.EpochPlan(n, 1, seed)
    assert torch.equal(a.order(e1), b.order(e1))
    # Another epoch, or another seed, another order (n >= 10: a collision has probability 1/10! at most).
    assert (e1 == e2) == torch.equal(a.order(e1), a.order(e2))
    assert not torch.equal(a.order(e1), D.EpochPlan(n, 1, seed + 1).order(e1))


# ====================================================================================== per-image crop seeds


@FAST
@given(a=st.tuples(seeds, st.integers(0, 10**6), st.integers(0, 10**6)),
       b=st.tuples(seeds, st.integers(0, 10**6), st.integers(0, 10**6)))  # fmt: skip
@example(a=(0, 1, 2), b=(2**32, 1, 2))  # seeds that agree in their low 32 bits are still different seeds
def test_sample_rng_is_a_function_of_seed_epoch_and_index(a: tuple, b: tuple) -> None:
    # Same (seed, epoch, index), same draws; any of the three differs, other draws.
    assert np.array_equal(sample_rng(*a).random(4), sample_rng(*a).random(4))
    assert (a == b) == np.array_equal(sample_rng(*a).random(4), sample_rng(*b).random(4))


# ============================================================================== random-resized crop geometry


@st.composite
def bounds(draw: st.DrawFn) -> tuple[tuple[float, float], tuple[float, float]]:
    s0 = draw(st.floats(0.01, 1.0))
    s1 = draw(st.floats(s0, 1.0))
    r0 = math.exp(draw(st.floats(-2.5, 2.5)))
    r1 = r0 * math.exp(draw(st.floats(0.0, 2.0)))
    return (s0, s1), (r0, r1)


@FAST
@given(width=st.integers(1, 64), height=st.integers(1, 64), seed=st.integers(0, 2**32), sr=bounds())
def test_random_resized_crop_box_fits_and_respects_scale_and_ratio(width: int, height: int, seed: int, sr) -> None:
    scale, ratio = sr
    box = random_resized_crop_box(width, height, np.random.default_rng(seed), scale, ratio)
    assert box == random_resized_crop_box(width, height, np.random.default_rng(seed), scale, ratio)
    left, top, right, bottom = box
    assert 0 <= left < right <= width and 0 <= top < bottom <= height  # a non-empty box inside the image
    w, h, area = right - left, bottom - top, width * height
    fallback = random_resized_crop_box(width, height, np.random.default_rng(0), scale, ratio, tries=0)
    if box != fallback:
        # A sampled box: the rounding of a real (w', h') with w' h' in scale * area and w' / h' in ratio.
        assert (w - 0.5) * (h - 0.5) <= scale[1] * area * (1 + 1e-9)
        assert (w + 0.5) * (h + 0.5) >= scale[0] * area * (1 - 1e-9)
        assert (w - 0.5) / (h + 0.5) <= ratio[1] * (1 + 1e-9)
        assert h <= 0.5 or (w + 0.5) / (h - 0.5) >= ratio[0] * (1 - 1e-9)
    else:
        # The fallback: the centred crop, as large as fits, whose aspect ratio is the image's clamped to ratio.
        fl, ft, fr, fb = fallback
        fw, fh = fr - fl, fb - ft
        assert fl == (width - fw) // 2 and ft == (height - fh) // 2
        assert fw == width or fh == height
        target = min(max(width / height, ratio[0]), ratio[1])
        # the other side is the full side times the clamped ratio, rounded to a pixel (never below one pixel)
        if width / height < ratio[0]:  # too tall for the ratio: full width, height cut
            exact, side = width / target, fh
            assert fw == width
        elif width / height > ratio[1]:  # too wide: full height, width cut
            exact, side = height * target, fw
            assert fh == height
        else:  # the image's own ratio is allowed: all of it
            exact, side = width, fw
            assert (fw, fh) == (width, height)
        assert abs(side - exact) <= 0.5 + 1e-9 or (side == 1 and exact < 1), (side, exact)


@FAST
@given(n=st.integers(1, 12), H=st.integers(1, 64), W=st.integers(1, 64), seed=st.integers(0, 2**32), sr=bounds(),
       flip=st.booleans())  # fmt: skip
def test_crop_thetas_respect_scale_ratio_or_fall_back_to_the_centre(n, H, W, seed, sr, flip) -> None:
    scale, ratio = sr
    theta = crop_thetas(n, H, W, torch.Generator().manual_seed(seed), torch.device("cpu"), scale, ratio, flip)
    assert theta.shape == (n, 2, 3) and torch.isfinite(theta).all()
    assert (theta[:, 0, 1] == 0).all() and (theta[:, 1, 0] == 0).all()
    wf, hf, cx, cy = theta[:, 0, 0].abs(), theta[:, 1, 1], theta[:, 0, 2], theta[:, 1, 2]
    if not flip:
        assert (theta[:, 0, 0] > 0).all()
    assert ((wf > 0) & (wf <= 1) & (hf > 0) & (hf <= 1)).all()
    assert ((cx.abs() + wf <= 1 + 1e-6) & (cy.abs() + hf <= 1 + 1e-6)).all()  # inside the image
    area, aspect = (wf * hf).double(), (wf * W / (hf * H)).double()
    sampled = ((area >= scale[0] * (1 - 1e-5)) & (area <= scale[1] * (1 + 1e-5))
               & (aspect >= ratio[0] * (1 - 1e-5)) & (aspect <= ratio[1] * (1 + 1e-5)))  # fmt: skip
    # Otherwise the documented fallback: the centre crop whose aspect ratio is the image's clamped to ratio.
    target = min(max(W / H, ratio[0]), ratio[1])
    fb_w, fb_h = min(1.0, target * H / W), min(1.0, W / (target * H))
    fallback = ((wf - fb_w).abs() < 1e-5) & ((hf - fb_h).abs() < 1e-5) & (cx.abs() < 1e-6) & (cy.abs() < 1e-6)
    assert (sampled | fallback).all()


@FAST
@given(B=st.integers(1, 4), C=st.integers(1, 3), H=st.integers(1, 24), W=st.integers(1, 24), out=st.integers(1, 24),
       seed=st.integers(0, 2**32), flip=st.booleans(), mode=st.sampled_from(["bicubic", "bilinear"]),
       data=st.data())  # fmt: skip
def test_augment_batch_shape_range_and_determinism(B, C, H, W, out, seed, flip, mode, data) -> None:
    lo = data.draw(st.floats(0.0, 1.0))
    hi = data.draw(st.floats(lo, 1.0))
    x = lo + (hi - lo) * torch.rand(B, C, H, W, generator=torch.Generator().manual_seed(seed))
    y = D.augment_batch(x, torch.Generator().manual_seed(seed), out, flip=flip, mode=mode)
    assert y.shape == (B, C, out, out) and y.dtype == x.dtype and torch.isfinite(y).all()
    assert torch.equal(y, D.augment_batch(x, torch.Generator().manual_seed(seed), out, flip=flip, mode=mode))
    if mode == "bilinear":  # convex combinations of input pixels: within each image's range
        assert (y.flatten(1).amin(1) >= x.flatten(1).amin(1) - 1e-6).all()
        assert (y.flatten(1).amax(1) <= x.flatten(1).amax(1) + 1e-6).all()
    else:  # bicubic may overshoot the image's range; it is clamped to [0, 1]
        assert y.min() >= 0 and y.max() <= 1
    # A constant image stays that constant, whatever the crop and the kernel.
    const = torch.full((B, C, H, W), lo)
    torch.testing.assert_close(D.augment_batch(const, torch.Generator().manual_seed(seed), out, flip=flip, mode=mode),
                               torch.full((B, C, out, out), lo), rtol=0, atol=1e-5)  # fmt: skip


@FAST
@given(B=st.integers(1, 4), H=st.integers(1, 24), W=st.integers(1, 24), out=st.integers(1, 24), seed=st.integers(0, 99))
def test_augment_batch_full_scale_without_flip_is_a_resize(B: int, H: int, W: int, out: int, seed: int) -> None:
    x = torch.rand(B, 3, H, W, generator=torch.Generator().manual_seed(seed))
    g = torch.Generator().manual_seed(seed)
    y = D.augment_batch(x, g, out, scale=(1, 1), ratio=(0.01, 100.0), flip=False, mode="bilinear")
    # With every aspect ratio allowed, the whole image, resized (exactly x when out == H == W).
    torch.testing.assert_close(y, F.interpolate(x, size=(out, out), mode="bilinear", align_corners=False),
                               rtol=0, atol=1e-5)  # fmt: skip
    if H == W == out:
        torch.testing.assert_close(D.augment_batch(x, g, out, scale=(1, 1), flip=False), x, rtol=0, atol=1e-5)


@FAST
@given(w=st.integers(1, 40), h=st.integers(1, 40), size=st.integers(1, 32), seed=st.integers(0, 2**32),
       value=st.integers(0, 255), flip=st.booleans())  # fmt: skip
def test_train_and_eval_crops_shape_and_constant_images(w: int, h: int, size: int, seed: int, value: int, flip) -> None:
    from PIL import Image

    noise = Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))
    a = train_crop(noise, size, sample_rng(seed, 0, 0), flip)
    assert a.shape == (3, size, size) and a.dtype == torch.uint8
    assert torch.equal(a, train_crop(noise, size, sample_rng(seed, 0, 0), flip))
    e = eval_crop(noise, size)
    assert e.shape == (3, size, size) and e.dtype == torch.uint8
    # A constant image gives that constant: the bicubic kernel's weights sum to one.
    flat = Image.new("RGB", (w, h), (value, value, value))
    assert (train_crop(flat, size, sample_rng(seed, 0, 0), flip) == value).all()
    assert (eval_crop(flat, size) == value).all()


# ============================================================================================ Mixup / CutMix


@st.composite
def mix_cases(draw: st.DrawFn) -> dict:
    groups = draw(st.integers(1, 3))
    per = draw(st.integers(1, 4))
    return dict(groups=groups, per=per, C=draw(st.integers(1, 3)), H=draw(st.integers(1, 12)),
                W=draw(st.integers(1, 12)), seed=draw(st.integers(0, 2**40)),
                mixup=draw(st.sampled_from([0.0, 0.2, 0.8, 1.0])), cutmix=draw(st.sampled_from([0.0, 0.5, 1.0, 2.0])),
                switch=draw(st.floats(0, 1)), smoothing=draw(st.sampled_from([0.0, 0.1, 0.3])))  # fmt: skip


@FAST
@given(c=mix_cases(), steps=st.integers(1, 3))
def test_mixup_cutmix_targets_lambda_area_and_groups(c: dict, steps: int) -> None:
    G, per = c["groups"], c["per"]
    B, K = G * per, G * per  # one class per image, so every target column belongs to one image
    mix = D.MixupCutmix(K, c["mixup"], c["cutmix"], c["switch"], c["smoothing"], c["seed"], group_ids=range(G))
    plain = D.MixupCutmix(K, c["mixup"], c["cutmix"], c["switch"], 0.0, c["seed"], group_ids=range(G))
    ranks = [D.MixupCutmix(K, c["mixup"], c["cutmix"], c["switch"], c["smoothing"], c["seed"], group_ids=[g])
             for g in range(G)]  # fmt: skip
    # Image i is the constant i + 1, so every output pixel says which image it came from.
    x = (torch.arange(B, dtype=torch.float32) + 1).view(B, 1, 1, 1).expand(B, c["C"], c["H"], c["W"]).contiguous()
    y = torch.arange(B)
    for _ in range(steps):
        xm, t = mix(x, y)
        xp, tp = plain(x, y)
        assert xm.shape == x.shape and t.shape == (B, K)
        # Soft targets are probability distributions.
        assert (t >= 0).all() and torch.allclose(t.sum(1), torch.ones(B))
        assert torch.equal(xm, xp)  # label smoothing changes the targets only
        for i in range(B):
            g, j = divmod(i, per)
            partner = g * per + per - 1 - j  # the same group, reversed
            lam = float(tp[i, i]) if partner != i else 1.0
            assert -1e-6 <= lam <= 1 + 1e-6
            expected = {i, partner}
            # Groups never mix: only the image and its partner contribute, to the pixels and to the targets.
            assert set(tp[i].nonzero().flatten().tolist()) <= expected
            if partner == i:
                torch.testing.assert_close(xp[i], x[i])  # the middle image of an odd group mixes with itself
                assert tp[i, i] == 1
                continue
            assert abs(float(tp[i, i] + tp[i, partner]) - 1) < 1e-6
            if torch.all((xp[i] == i + 1) | (xp[i] == partner + 1)):  # CutMix (or a Mixup with lambda 0 or 1)
                kept = float((xp[i] == i + 1).float().mean())
                assert abs(kept - lam) < 1e-5, (kept, lam)  # lambda is the kept area after clipping
            else:  # Mixup: the same lambda on every pixel
                torch.testing.assert_close(xp[i], lam * x[i] + (1 - lam) * x[partner])
        # One process mixing every group gives what the ranks give, each mixing its own slice.
        parts = [r(xs, ys) for r, xs, ys in zip(ranks, x.chunk(G), y.chunk(G))]
        assert torch.equal(torch.cat([p[0] for p in parts]), xm)
        assert torch.equal(torch.cat([p[1] for p in parts]), t)


@FAST
@given(c=mix_cases())
def test_mixup_cutmix_state_dict_replays_the_draws(c: dict) -> None:
    G = c["groups"]
    B = G * c["per"]
    make = lambda: D.MixupCutmix(B, c["mixup"], c["cutmix"], c["switch"], c["smoothing"], c["seed"], range(G))  # noqa: E731
    x, y = torch.rand(B, c["C"], c["H"], c["W"]), torch.arange(B)
    a = make()
    a(x, y)
    state = a.state_dict()
    b = make()
    b.load_state_dict(state)
    for p, q in zip(a(x, y), b(x, y)):
        assert torch.equal(p, q)


# ============================================================================================ image folders


@st.composite
def folders(draw: st.DrawFn, max_classes: int = 3, max_per_class: int = 3) -> dict:
    counts = draw(st.lists(st.integers(1, max_per_class), min_size=1, max_size=max_classes))
    sizes = draw(st.lists(st.tuples(st.integers(8, 40), st.integers(8, 40)), min_size=sum(counts),
                          max_size=sum(counts)))  # fmt: skip
    return dict(counts=counts, sizes=sizes, seed=draw(st.integers(0, 2**16)))


def _write_folder(root: Path, spec: dict) -> Path:
    """``root/c<k>/img<j>.png``: random-noise RGB PNGs (lossless, so decoding gives back the exact pixels)."""
    from PIL import Image

    rng = np.random.default_rng(spec["seed"])
    sizes = iter(spec["sizes"])
    for k, count in enumerate(spec["counts"]):
        (root / f"c{k}").mkdir(parents=True)
        for j in range(count):
            w, h = next(sizes)
            Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(root / f"c{k}" / f"img{j}.png")
    return root


def _rows(loader, epoch: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    loader.set_epoch(epoch)
    return list(loader)


@FEW
@given(spec=folders(), S=st.integers(8, 24), seed=seeds, epoch=st.integers(0, 100), world=st.integers(1, 2),
       per_rank=st.integers(1, 3), workers=st.sampled_from([0, 1, 2]), drop_last=st.booleans())  # fmt: skip
def test_streaming_crop_is_a_function_of_seed_epoch_and_index(spec, S, seed, epoch, world, per_rank, workers,
                                                               drop_last) -> None:  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        index = D.scan_image_folder(_write_folder(Path(tmp), spec))
        n, B = len(index), world * per_rank
        assume(not drop_last or n >= B)
        # What image i becomes in this epoch, decoded and cropped here, in this process.
        ref = [train_crop(decode_rgb(index.path(i)), S, sample_rng(seed, epoch, i)) for i in range(n)]
        for rank in range(world):
            loader = D.StreamingLoader(index, B, image_size=S, seed=seed, rank=rank, world_size=world,
                                       num_workers=workers, prefetch_factor=1, drop_last=drop_last)  # fmt: skip
            got = _rows(loader, epoch)
            plan = list(loader.plan.batches(epoch))
            assert len(got) == len(plan) == len(loader)
            for (x, y), (_, _, idx) in zip(got, plan):
                assert x.dtype == torch.uint8 and x.shape == (len(idx), 3, S, S) and y.dtype == torch.int64
                for row, label, i in zip(x, y, idx.tolist()):
                    assert torch.equal(row, ref[i]) and int(label) == index.labels[i]
        # Another epoch: other crops (random-noise images; a collision for every image has negligible odds).
        other = [train_crop(decode_rgb(index.path(i)), S, sample_rng(seed, epoch + 1, i)) for i in range(n)]
        assert not all(torch.equal(a, b) for a, b in zip(ref, other))


@FEW
@given(spec=folders(), S=st.integers(8, 24), seed=seeds, epoch=st.integers(0, 100), per_rank=st.integers(1, 3),
       data=st.data())  # fmt: skip
def test_streaming_resume_yields_the_rest_of_the_epoch(spec, S, seed, epoch, per_rank, data) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        index = D.scan_image_folder(_write_folder(Path(tmp), spec))
        make = lambda: D.StreamingLoader(index, per_rank, image_size=S, seed=seed, num_workers=0, drop_last=False)  # noqa: E731
        full = _rows(make(), epoch)
        k = data.draw(st.integers(0, len(full)))
        first = make()
        first.set_epoch(epoch)
        it = iter(first)
        for _ in range(k):
            next(it)
        state = first.state_dict()
        assert state["batch"] == k and state["epoch"] == epoch
        resumed = make()
        resumed.load_state_dict(state)
        rest = list(resumed)
        assert len(rest) == len(full) - k
        assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(rest, full[k:]))
        _named_error(lambda: resumed.set_epoch(-1 - epoch), "epoch must be")
        _named_error(lambda: D.StreamingLoader(index, 2, image_size=S, num_workers=-1 - k), "num_workers")
        _named_error(lambda: D.StreamingLoader(index, 2, image_size=S, num_workers=1, prefetch_factor=-k), "prefetch")


@FEW
@given(spec=folders(), S=st.integers(8, 24), world=st.integers(1, 3), per_rank=st.integers(1, 3),
       normalize=st.booleans())  # fmt: skip
def test_memory_and_streaming_loaders_agree_on_the_evaluation_path(spec, S, world, per_rank, normalize) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        index = D.scan_image_folder(_write_folder(Path(tmp), spec))
        memory = D.load_image_folder(index, size=S)  # the evaluation crop, decoded once into memory
        B = world * per_rank
        rows = 0
        for rank in range(world):
            kw = dict(train=False, rank=rank, world_size=world, normalize=normalize)
            dev = list(D.DeviceLoader(memory, B, **kw))
            stream = list(D.StreamingLoader(index, B, image_size=S, num_workers=0, **kw))
            assert len(dev) == len(stream)
            for (xa, ya), (xb, yb) in zip(dev, stream):
                assert torch.equal(ya, yb)
                if normalize:
                    assert torch.equal(xa, xb)
                else:  # in memory: float in [0, 1]; streamed: uint8
                    assert torch.equal((xa * 255).round().to(torch.uint8), xb)
            rows += sum(len(y) for _, y in stream)
        assert rows == len(index)  # evaluation keeps the last partial batch: every image once over the ranks


# ============================================================================================= DeviceLoader


def _toy_set(n: int, H: int, W: int, seed: int, flip: bool) -> D.ImageSet:
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 3, H, W), dtype=torch.uint8, generator=g)
    return D.ImageSet(images, torch.arange(n) % 3, ["a", "b", "c"], "toy", flip=flip)


@FEW
@given(p=plans(), H=st.integers(4, 16), W=st.integers(4, 16), S=st.integers(4, 16), epoch=st.integers(0, 100),
       augment=st.booleans(), flip=st.booleans())  # fmt: skip
def test_device_loader_ranks_together_are_the_single_process_batches(p, H, W, S, epoch, augment, flip) -> None:
    data = _toy_set(p["n"], H, W, p["seed"] & 0xFFFF, flip)
    kw = dict(train=p["shuffle"], augment=augment, image_size=S, seed=p["seed"], drop_last=p["drop_last"])
    single = _rows(D.DeviceLoader(data, p["batch_size"], **kw), epoch)
    ranks = [_rows(D.DeviceLoader(data, p["batch_size"], rank=r, world_size=p["world_size"], **kw), epoch)
             for r in range(p["world_size"])]  # fmt: skip
    for step, (x, y) in enumerate(single):
        assert x.shape == (len(y), 3, S, S) and torch.isfinite(x).all()
        parts = [r[step] for r in ranks if step < len(r)]
        torch.testing.assert_close(torch.cat([q[0] for q in parts]), x, rtol=0, atol=1e-6)
        assert torch.equal(torch.cat([q[1] for q in parts]), y)


@FEW
@given(p=plans(), S=st.integers(4, 12), epoch=st.integers(0, 100), data=st.data())
def test_device_loader_resumes_mid_epoch_exactly(p: dict, S: int, epoch: int, data: st.DataObject) -> None:
    images = _toy_set(p["n"], 10, 12, 0, True)
    rank = data.draw(st.integers(0, p["world_size"] - 1))
    kw = dict(train=p["shuffle"], image_size=S, seed=p["seed"], drop_last=p["drop_last"], rank=rank,
              world_size=p["world_size"])  # fmt: skip
    full = _rows(D.DeviceLoader(images, p["batch_size"], **kw), epoch)
    k = data.draw(st.integers(0, len(full)))
    first = D.DeviceLoader(images, p["batch_size"], **kw)
    first.set_epoch(epoch)
    it = iter(first)
    for _ in range(k):
        next(it)
    resumed = D.DeviceLoader(images, p["batch_size"], **kw)
    resumed.load_state_dict(first.state_dict())
    rest = list(resumed)
    assert len(rest) == len(full) - k
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(rest, full[k:]))


# ================================================================================================== shards


def _tar_samples(path: Path) -> list[dict[str, bytes]]:
    """The samples of one webdataset tar, in file order, read with ``tarfile`` (not webdataset)."""
    samples: dict[str, dict[str, bytes]] = {}
    with tarfile.open(path) as tar:
        for member in tar.getmembers():
            key, _, ext = member.name.partition(".")
            samples.setdefault(key, {})[ext] = tar.extractfile(member).read()
    return list(samples.values())


@FEW
@given(train=folders(max_classes=2, max_per_class=5), val_counts=st.lists(st.integers(1, 3), min_size=2, max_size=2),
       max_count=st.integers(1, 5), seed=st.integers(0, 2**16), S=st.integers(8, 16))  # fmt: skip
def test_shards_round_trip_images_labels_and_order(train: dict, val_counts: list, max_count: int, seed: int,
                                                   S: int) -> None:  # fmt: skip
    classes = len(train["counts"])
    val = dict(counts=val_counts[:classes], sizes=[(12, 9)] * sum(val_counts[:classes]), seed=seed)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "src"
        _write_folder(root / "train", train)
        _write_folder(root / "val", val)
        meta = write_shards(root, Path(tmp) / "shards", max_count=max_count, seed=seed)
        for split in ("train", "val"):
            index = D.scan_image_folder(root / split)
            info = meta["splits"][split]
            assert info["count"] == len(index) and len(info["shards"]) == -(-len(index) // max_count)
            samples = [s for name in info["shards"] for s in _tar_samples(Path(tmp) / "shards" / name)]
            order = np.random.default_rng(seed).permutation(len(index)) if split == "train" else range(len(index))
            # Every image once, its original bytes and label, in the seeded order (train) or the folder's (val).
            assert [int(s["idx"]) for s in samples] == list(order)
            for s in samples:
                i = int(s["idx"])
                assert s["png"] == Path(index.path(i)).read_bytes() and int(s["cls"]) == index.labels[i]
        assert meta["classes"] == [f"c{k}" for k in range(classes)]
        # The evaluation path reads the shards back as the folder loader reads the folder.
        shards = list(ShardLoader(Path(tmp) / "shards", "val", 2, image_size=S, train=False, num_workers=0))
        folder = list(D.StreamingLoader(D.scan_image_folder(root / "val"), 2, image_size=S, train=False,
                                        num_workers=0))  # fmt: skip
        assert torch.equal(torch.cat([x for x, _ in shards]), torch.cat([x for x, _ in folder]))
        assert torch.equal(torch.cat([y for _, y in shards]), torch.cat([y for _, y in folder]))
        # Bad sizes and ranks are refused by name before anything is read.
        out = Path(tmp) / "shards"
        _named_error(lambda: ShardLoader(out, "val", 1 - S, image_size=S), "batch_size")
        _named_error(lambda: ShardLoader(out, "val", 2, image_size=1 - S), "image_size")
        _named_error(lambda: ShardLoader(out, "val", 2, world_size=-seed), "world_size")
        _named_error(lambda: ShardLoader(out, "val", 2, rank=seed + 1, world_size=1), "rank")


@FEW
@given(spec=folders(max_classes=2, max_per_class=6), max_count=st.integers(1, 6), world=st.integers(1, 3),
       per_rank=st.integers(1, 3), seed=st.integers(0, 2**16), epoch=st.integers(0, 50),
       workers=st.sampled_from([0, 2]))  # fmt: skip
@example(spec=dict(counts=[7], sizes=[(8, 8)] * 7, seed=0), max_count=6, world=2, per_rank=1, seed=0, epoch=0,
         workers=0)  # fmt: skip
def test_shard_loader_ranks_read_disjoint_shards_and_take_equal_steps(spec, max_count, world, per_rank, seed, epoch,
                                                                      workers) -> None:  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "src"
        _write_folder(root / "train", spec)
        meta = write_shards(root, Path(tmp) / "shards", max_count=max_count, seed=seed, splits=("train",))
        n, B = meta["splits"]["train"]["count"], world * per_rank
        assume(len(meta["splits"]["train"]["shards"]) >= world and n >= B)
        loaders = [ShardLoader(Path(tmp) / "shards", "train", B, image_size=8, seed=seed, rank=r, world_size=world,
                               num_workers=workers, shuffle_buffer=4) for r in range(world)]  # fmt: skip
        for loader in loaders:
            loader.set_epoch(epoch)
        dealt = [loader._my_shards() for loader in loaders]
        # Each epoch the shards are dealt to the ranks: disjoint, and together all of them.
        assert sorted(s for d in dealt for s in d) == sorted(loaders[0].shards)
        # Every rank takes exactly len() steps of batch_size / world_size images (DDP needs equal step counts).
        for loader in loaders:
            batches = list(loader)
            assert len(batches) == len(loader) == n // B
            assert all(x.shape == (per_rank, 3, 8, 8) and y.shape == (per_rank,) for x, y in batches)


# =========================================================================================== SyntheticLoader


@FAST
@given(world=st.integers(1, 4), per_rank=st.integers(1, 4), S=st.integers(1, 16), K=st.integers(1, 20),
       steps=st.integers(0, 4), seed=st.integers(0, 2**40))  # fmt: skip
def test_synthetic_loader_shares_the_interface_and_is_seeded(world, per_rank, S, K, steps, seed) -> None:
    make = lambda s: D.SyntheticLoader(world * per_rank, S, K, steps, seed=s, world_size=world)  # noqa: E731
    a = make(seed)
    batches = list(a)
    assert len(batches) == len(a) == steps and a.kind == "synthetic" and a.num_classes == len(a.classes) == K
    for x, y in batches:
        assert x.shape == (per_rank, 3, S, S) and x.dtype == torch.uint8
        assert y.shape == (per_rank,) and y.dtype == torch.int64 and y.min() >= 0 and y.max() < K
    if steps:
        x, y = batches[0]
        b = list(make(seed))
        assert torch.equal(b[0][0], x) and torch.equal(b[0][1], y)
        assert not torch.equal(next(iter(make(seed + 1)))[0], x)
    a.set_epoch(3)
    fresh = make(seed)
    fresh.load_state_dict(a.state_dict())
    assert fresh.epoch == 3


# ============================================================================================ generated tasks


def _marks(img: torch.Tensor) -> list[tuple[int, int, tuple[int, int, int]]]:
    """``(row, col, colour)`` of every 2x2 mark token of one ``(3, S, S)`` task image (background is 24..39)."""
    grid = img.shape[-1] // MARK
    tokens = img.view(3, grid, MARK, grid, MARK).permute(1, 3, 0, 2, 4).reshape(grid, grid, 3, MARK * MARK)
    out = []
    for r, c in (tokens.amax(-1).amax(-1) >= 40).nonzero().tolist():
        px = tokens[r, c]
        assert (px == px[:, :1]).all(), "a mark is one colour"
        out.append((r, c, tuple(px[:, 0].tolist())))
    return out


@pytest.mark.parametrize("split", ["train", "val"])
@pytest.mark.parametrize("name", sorted(TASKS))
@settings(deadline=None, max_examples=2, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31))
def test_generated_tasks_are_balanced_seeded_and_labelled_as_documented(name: str, split: str, seed: int) -> None:
    spec = TASKS[name]
    data = load_task(name, split, seed)
    n, S, K = (spec.n_train if split == "train" else spec.n_val), spec.image_size, len(spec.classes)
    assert data.images.shape == (n, 3, S, S) and data.images.dtype == torch.uint8 and not data.flip
    counts = torch.bincount(data.labels, minlength=K)
    assert len(counts) == K and counts.min() >= n // K and counts.max() <= n // K + 1  # balanced, in range
    again = load_task(name, split, seed)
    assert torch.equal(again.images, data.images) and torch.equal(again.labels, data.labels)
    assert not torch.equal(load_task(name, split, seed + 1).images, data.images)
    if name == "photos":
        return
    colours = set(COLOURS.values())
    half = 8 // 2
    for img, y in zip(data.images[:200], data.labels[:200].tolist()):
        marks = _marks(img)
        assert all(c in colours for _, _, c in marks)
        if name == "pair":  # two marks in the central 4x4 tokens, in different quadrants; label: same colour
            (r1, c1, a), (r2, c2, b) = marks
            assert all(2 <= v < 6 for v in (r1, c1, r2, c2))
            assert (r1 // 2 - 1, c1 // 2 - 1) != (r2 // 2 - 1, c2 // 2 - 1)
            assert y == int(a == b)
        elif name == "wrap":  # one mark on the left edge and one on the right edge of one row; label: same colour
            (r1, c1, a), (r2, c2, b) = marks
            assert r1 == r2 and (c1, c2) == (0, S // MARK - 1) and y == int(a == b)
        else:  # arrangement: eight red/green pairs in one half of the rows; label: red on the left
            rows = {r for r, _, _ in marks}
            assert rows == (set(range(half)) if split == "train" else set(range(half, 2 * half)))
            red, green = COLOURS["red"], COLOURS["green"]
            by_pos = {(r, c): col for r, c, col in marks}
            for (r, c), col in by_pos.items():
                if col == red:
                    assert by_pos.get((r, c + 1) if y == 1 else (r, c - 1)) == green


# =============================================================================================== bad inputs


def _plan(**kw: object) -> Callable[[], object]:
    args = dict(n=10, batch_size=4, seed=0, rank=0, world_size=1)
    args.update(kw)
    return lambda: D.EpochPlan(**args)


bad_ints = st.one_of(st.integers(-5, 0), st.floats(0.5, 4.5), st.just(True), st.just("4"), st.none())


@FAST
@given(which=st.sampled_from(["n", "batch_size", "world_size"]), value=bad_ints, drop_last=st.booleans())
def test_epoch_plan_rejects_bad_sizes_by_name(which: str, value: object, drop_last: bool) -> None:
    words = ("number of images", "data set is empty") if which == "n" else (f"{which} must",)
    _named_error(_plan(**{which: value}, drop_last=drop_last), *words)


@FAST
@given(image_size=bad_ints, epoch=st.one_of(st.integers(-5, -1), st.just(1.5)), data=st.data())
def test_loaders_reject_bad_image_sizes_and_epochs_by_name(image_size: object, epoch: object, data) -> None:
    images = _toy_set(4, 8, 8, 0, True)
    if image_size is not None:  # None means "the stored size" for the in-memory loader
        _named_error(lambda: D.DeviceLoader(images, 2, image_size=image_size), "image_size")
    loader = data.draw(st.sampled_from([
        lambda: D.DeviceLoader(images, 2), lambda: D.SyntheticLoader(2, 8, 3, 1),
    ]))()  # fmt: skip
    _named_error(lambda: loader.set_epoch(epoch), "epoch must be")


@FAST
@given(world=st.integers(2, 5), batch=st.integers(1, 20), rank=st.integers(-3, 8))
def test_epoch_plan_rejects_indivisible_batches_and_bad_ranks(world: int, batch: int, rank: int) -> None:
    if batch % world:
        _named_error(_plan(batch_size=batch, world_size=world), "divisible by world_size")
    elif not 0 <= rank < world:
        _named_error(_plan(batch_size=batch, world_size=world, rank=rank), "rank")
    else:
        D.EpochPlan(10, batch, 0, rank, world, drop_last=False)


@FAST
@given(which=st.sampled_from(["batch_size", "image_size", "num_classes", "world_size", "steps"]), value=bad_ints)
def test_synthetic_loader_rejects_bad_arguments_by_name(which: str, value: object) -> None:
    args = dict(batch_size=4, image_size=8, num_classes=3, steps=2, world_size=1)
    if which == "steps" and isinstance(value, int) and not isinstance(value, bool) and value == 0:
        return  # zero steps is a valid (empty) loader
    args[which] = value
    _named_error(lambda: D.SyntheticLoader(**args), which)


@FAST
@given(which=st.sampled_from(["num_classes", "labels"]), value=st.integers(-3, 0), K=st.integers(1, 5))
def test_mixup_rejects_bad_classes_and_labels_by_name(which: str, value: int, K: int) -> None:
    if which == "num_classes":
        _named_error(lambda: D.MixupCutmix(value), "num_classes")
    else:
        y = torch.tensor([0, K - value])  # one label out of 0..K-1
        _named_error(lambda: D.MixupCutmix(K)(torch.zeros(2, 3, 4, 4), y), "label")


@FAST
@given(width=st.integers(-3, 0), height=st.integers(-3, 4), size=st.integers(-3, 0))
def test_crops_reject_empty_sizes_by_name(width: int, height: int, size: int) -> None:
    from PIL import Image

    _named_error(lambda: random_resized_crop_box(width, height, np.random.default_rng(0)), "width", "height")
    _named_error(lambda: random_resized_crop_box(height + 5, width, np.random.default_rng(0)), "width", "height")
    im = Image.new("RGB", (9, 7))
    _named_error(lambda: train_crop(im, size, np.random.default_rng(0)), "size")
    _named_error(lambda: eval_crop(im, size), "size")
    _named_error(lambda: sample_rng(0, size - 1, 0), "epoch")
