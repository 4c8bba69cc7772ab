"""The engine at scale: streaming and sharded data, the whole recipe, correct multi-process runs, input that must
not go wrong, and tests that pin what the loop applies (lr, clipping, accumulation, stochastic depth, learning)."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import processes
import pytest
import torch
from PIL import Image

import swin_viz.data as D
import swin_viz.train.loop as loop
from swin_viz.block import DropPath
from swin_viz.data.shards import ShardLoader, write_shards
from swin_viz.train import TrainConfig, lr_at, main, parse_args, train
from swin_viz.train.cli import BARE_MESSAGE
from swin_viz.train.loop import NonFiniteLossError

COLORS = {"red": (200, 40, 40), "green": (40, 190, 60), "blue": (50, 60, 210)}


def make_folder(root: Path, per_class: int = 6, size: tuple[int, int] = (48, 40), classes=COLORS,
                splits=("train", "val")) -> Path:  # fmt: skip
    """An ImageFolder tree of JPEGs: each class a colour with noise, so the task is learnable."""
    rng = np.random.default_rng(0)
    for split in splits:
        for name, color in classes.items():
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                arr = np.clip(np.array(color) + rng.normal(0, 25, (size[1], size[0], 3)), 0, 255).astype(np.uint8)
                Image.fromarray(arr).save(root / split / name / f"{i:03d}.jpg", quality=90)
    return root


def engine_config(out: Path, **overrides: object) -> TrainConfig:
    kwargs = dict(data="digits", model="small", epochs=2, batch_size=16, lr=2e-3, warmup_epochs=0.5, mixup=0.0,
                  cutmix=0.0, randaugment="", reprob=0.0, drop_path=0.0, max_steps_per_epoch=3, out=str(out),
                  progress=False, device="cpu", log_every=1)  # fmt: skip
    kwargs.update(overrides)
    return TrainConfig(**kwargs)


# ============================================================================================ streaming data
def _batches(loader, epoch: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    loader.set_epoch(epoch)
    return list(loader)


def test_streaming_ranks_workers_and_resume(tmp_path: Path) -> None:
    make_folder(tmp_path, per_class=8)
    index = D.scan_image_folder(tmp_path / "train")
    single = _batches(D.StreamingLoader(index, 8, image_size=24, num_workers=0, seed=5), epoch=1)
    assert len(single) == 3 and single[0][0].shape == (8, 3, 24, 24) and single[0][0].dtype == torch.uint8
    # Two ranks: step i of rank 0 and rank 1 together are step i of one process, crops included.
    ranks = [_batches(D.StreamingLoader(index, 8, image_size=24, num_workers=0, seed=5, rank=r, world_size=2), 1)
             for r in range(2)]  # fmt: skip
    for i, (x, y) in enumerate(single):
        assert torch.equal(torch.cat([ranks[0][i][0], ranks[1][i][0]]), x)
        assert torch.equal(torch.cat([ranks[0][i][1], ranks[1][i][1]]), y)
    # Worker processes decode exactly what the main process decodes (each crop is seeded per image).
    workers = _batches(D.StreamingLoader(index, 8, image_size=24, num_workers=2, seed=5), epoch=1)
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(single, workers))
    # Another epoch, another order and other crops; another seed too.
    assert not torch.equal(_batches(D.StreamingLoader(index, 8, image_size=24, num_workers=0, seed=5), 2)[0][0],
                           single[0][0])  # fmt: skip
    # Resume after one batch: the rest of the epoch is the same.
    first = D.StreamingLoader(index, 8, image_size=24, num_workers=0, seed=5)
    first.set_epoch(1)
    it = iter(first)
    next(it)
    state = first.state_dict()
    assert state == {"epoch": 1, "batch": 1, "seed": 5}
    resumed = D.StreamingLoader(index, 8, image_size=24, num_workers=0, seed=5)
    resumed.load_state_dict(state)
    resumed.set_epoch(1)
    rest = list(resumed)
    assert len(rest) == 2 and all(torch.equal(a[0], b[0]) for a, b in zip(rest, single[1:]))
    # Evaluation: the centre crop, every image once, no shuffle.
    ev = D.StreamingLoader(index, 8, image_size=24, num_workers=0, train=False)
    labels = torch.cat([y for _, y in ev])
    assert len(labels) == 24 and torch.equal(labels, torch.from_numpy(index.labels))


_RSS_SCRIPT = r"""
import sys, torch
import swin_viz.data as D

def rss() -> int:  # resident bytes now (not the peak: imports would dominate it)
    return int(open("/proc/self/statm").read().split()[1]) * 4096

kind, root = sys.argv[1], sys.argv[2]
D.StreamingLoader(D.scan_image_folder(root), 4, image_size=8, num_workers=0)  # warm every import first
before = rss()
index = D.scan_image_folder(root)
if kind == "stream":
    loader = D.StreamingLoader(index, 16, image_size=128, num_workers=0)
else:
    loader = D.DeviceLoader(D.load_image_folder(index, 128), 16)
for _ in loader:
    pass
print(rss() - before)
"""


def _rss_growth_kb(kind: str, root: Path) -> float:
    out = processes.run("-c", _RSS_SCRIPT, kind, str(root))
    assert out.returncode == 0, out.stderr[-2000:]
    return int(out.stdout.split()[-1]) / 1024


def test_streaming_memory_is_flat_in_the_data_set_size(tmp_path: Path) -> None:
    """Resident memory a pass adds: 60 vs 600 images. In memory grows by ~540 x 3 x 128 x 128 bytes (26 MB);
    streaming must not grow with the set."""
    small = make_folder(tmp_path / "small", per_class=20, size=(160, 120), splits=("train",)) / "train"
    large = make_folder(tmp_path / "large", per_class=200, size=(160, 120), splits=("train",)) / "train"
    grow_memory = _rss_growth_kb("memory", large) - _rss_growth_kb("memory", small)
    grow_stream = _rss_growth_kb("stream", large) - _rss_growth_kb("stream", small)
    expected_kb = 540 * 3 * 128 * 128 / 1024
    # The measurement sees an in-memory set grow (the allocator may reuse freed pages, so not by all of it).
    assert grow_memory > 0.4 * expected_kb, grow_memory
    assert grow_stream < 0.15 * expected_kb, (grow_stream, grow_memory)


def test_shards_round_trip(tmp_path: Path) -> None:
    src = make_folder(tmp_path / "folder", per_class=5)
    meta = write_shards(src, tmp_path / "shards", max_count=4)
    assert meta["classes"] == sorted(COLORS) and meta["splits"]["train"]["count"] == 15
    assert len(meta["splits"]["train"]["shards"]) == 4
    # Evaluation reads every image once, decoded exactly as the folder loader decodes it.
    ev = ShardLoader(tmp_path / "shards", "val", 4, image_size=24, train=False, num_workers=0)
    xs, ys = zip(*ev)
    folder = D.StreamingLoader(D.scan_image_folder(src / "val"), 15, image_size=24, train=False, num_workers=0)
    fx, fy = next(iter(folder))
    assert torch.equal(torch.cat(xs), fx) and torch.equal(torch.cat(ys), fy)
    # Training: every rank takes the same number of full batches from its own shards.
    per_rank = [list(ShardLoader(tmp_path / "shards", "train", 4, image_size=24, rank=r, world_size=2,
                                 num_workers=0)) for r in range(2)]  # fmt: skip
    assert [len(b) for b in per_rank] == [3, 3] and per_rank[0][0][0].shape == (2, 3, 24, 24)
    with pytest.raises(ValueError, match="cannot be dealt to 8 ranks"):
        ShardLoader(tmp_path / "shards", "train", 8, rank=0, world_size=8)


def test_train_streams_a_folder_and_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_folder(tmp_path / "data", per_class=6)
    summary = train(engine_config(tmp_path / "run", data="folder", data_root=str(tmp_path / "data"), loader="stream",
                                  workers=0, image_size=32, batch_size=6, epochs=1))  # fmt: skip
    assert "streaming, 0 workers per rank" in capsys.readouterr().out
    assert summary["data"].startswith("image folder")
    # top-1 is a share of the 18 validation images (6 per colour): a whole number of them; 3 classes: top-5 is all
    row, n_val = summary["metrics"][0], 6 * len(COLORS)
    hits = row["val_top1"] * n_val / 100
    assert 0 <= round(hits) <= n_val and hits == pytest.approx(round(hits), abs=1e-9)
    assert row["val_top5"] == 100


# ================================================================================================ the recipe
def test_train_crop_is_the_papers_and_seeded_per_image() -> None:
    im = Image.fromarray(np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8))
    boxes = [D.transforms.random_resized_crop_box(400, 300, np.random.default_rng(i)) for i in range(400)]
    areas = np.array([(r - l) * (b - t) / (400 * 300) for l, t, r, b in boxes])
    assert areas.min() >= 0.07 and areas.min() < 0.15 and areas.max() > 0.9  # (0.08, 1) of the original
    x1 = D.train_crop(im, 64, D.transforms.sample_rng(3, 1, 17))
    x2 = D.train_crop(im, 64, D.transforms.sample_rng(3, 1, 17))
    assert x1.shape == (3, 64, 64) and torch.equal(x1, x2)


def test_sixteen_bit_png_keeps_its_range(tmp_path: Path) -> None:
    ramp = (np.linspace(0, 65535, 64 * 64).reshape(64, 64)).astype(np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(ramp).save(path)
    rgb = np.asarray(D.decode_rgb(path))
    assert (rgb[..., 0] == 255).mean() < 0.01 and abs(rgb.mean() - 127.5) < 2


# ======================================================================================= input must not go wrong
def test_cifar_batches_are_read_with_a_restricted_unpickler(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    good = {b"data": np.zeros((2, 3072), dtype=np.uint8), b"labels": [0, 1]}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (folder / name).write_bytes(pickle.dumps(good))
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": Evil()}))
    with pytest.raises(ValueError, match=r"refusing to load (posix|os)\.system"):
        D.load_cifar10(tmp_path)
    assert not marker.exists()
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": [b"cat", b"dog"]}))
    assert D.load_cifar10(tmp_path, "test").classes == ["cat", "dog"]
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": Evil()}))
    with pytest.raises(ValueError, match="refusing"):  # through the training command too
        train(engine_config(tmp_path / "run", data="cifar10", data_root=str(tmp_path)))
    assert not marker.exists()


@pytest.mark.parametrize(("val_classes", "named"), [
    (("blue", "red"), "missing ['green']"),
    (("blue", "green", "red", "zebra"), "extra ['zebra']"),
])  # fmt: skip
def test_a_val_split_with_other_classes_fails_at_start(tmp_path: Path, val_classes, named: str) -> None:
    make_folder(tmp_path / "data", per_class=3, splits=("train",))
    make_folder(tmp_path / "data", per_class=3, splits=("val",),
                classes={c: COLORS.get(c, (0, 0, 0)) for c in val_classes})  # fmt: skip
    with pytest.raises(ValueError, match=named.replace("[", r"\[").replace("]", r"\]")):
        train(engine_config(tmp_path / "run", data="folder", data_root=str(tmp_path / "data"), image_size=32))
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_a_bad_last_step_keeps_the_previous_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The loss of the last step is finite but its update makes the weights NaN: nothing bad is saved."""
    train(engine_config(tmp_path, epochs=2, stop_after=1))
    before = (tmp_path / "checkpoint.pt").read_bytes()
    real_step = torch.optim.AdamW.step
    calls = {"n": 0}

    def poisoned(self, *args, **kwargs):
        out = real_step(self, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 3:  # the epoch's last step
            with torch.no_grad():
                self.param_groups[0]["params"][0].fill_(float("nan"))
        return out

    monkeypatch.setattr(torch.optim.AdamW, "step", poisoned)
    with pytest.raises(NonFiniteLossError, match="weights or the validation loss"):
        train(engine_config(tmp_path, epochs=2, resume=True))
    assert (tmp_path / "checkpoint.pt").read_bytes() == before


def test_resume_with_another_config_names_the_fields(tmp_path: Path) -> None:
    train(engine_config(tmp_path, epochs=2, stop_after=1))
    with pytest.raises(ValueError, match=r"batch_size: 16 -> 32.*seed: 0 -> 1|seed: 0 -> 1.*batch_size"):
        train(engine_config(tmp_path, epochs=2, resume=True, batch_size=32, seed=1))
    summary = train(engine_config(tmp_path, epochs=2, resume=True, lr=1e-3, allow_config_change=True))
    assert [r["epoch"] for r in summary["metrics"]] == [1, 2]


@pytest.mark.parametrize(("args", "named"), [
    (["--clip-grad", "-5"], "clip_grad"), (["--amp", "fp8"], "--amp"), (["--compile", "yes"], "--compile"),
    (["--channels-last", "maybe"], "--channels-last"), (["--epochs", "0"], "epochs"),
    (["--accum-steps", "0"], "accum_steps"), (["--label-smoothing", "2"], "label_smoothing"),
    (["--warmup-epochs", "-1"], "warmup_epochs"), (["--mixup", "-1"], "mixup"), (["--data", "imagenet"], "--data"),
    (["--data", "folder"], "data_root"), (["--model", "swin_xl"], "model"),
    (["--randaugment", "rand-x"], "randaugment"), (["--reprob", "1.5"], "reprob"),
])  # fmt: skip
def test_command_line_values_are_validated(args: list[str], named: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_args(["--preset", "cpu-demo", *args])
    assert exc.value.code == 2 and named in capsys.readouterr().err


def test_bare_command_says_what_to_pass(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    err = capsys.readouterr().err
    assert err.strip() == BARE_MESSAGE and "--preset cpu-demo" in err and "--data-root" in err


# ========================================================================================= pins on the loop
def _record_steps(monkeypatch: pytest.MonkeyPatch, clip: float | None) -> list[dict[str, float]]:
    """Record, at every optimiser step, the lr applied and the gradient norm the optimiser sees."""
    seen: list[dict[str, float]] = []
    real_step = torch.optim.AdamW.step

    def recording(self, *args, **kwargs):
        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])).item()
        seen.append({"lr": self.param_groups[0]["lr"], "norm": norm})
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", recording)
    return seen


def test_the_lr_applied_each_step_is_the_schedule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _record_steps(monkeypatch, None)
    train(engine_config(tmp_path, epochs=3, warmup_epochs=1.5, max_steps_per_epoch=4))
    steps_per_epoch, total = 4, 12
    warmup = 6  # floor(1.5 epochs x 4 steps), written out rather than computed by the code under test
    expected = [lr_at(s, total, warmup, 2e-3) for s in range(total)]
    assert [r["lr"] for r in seen] == pytest.approx(expected, rel=1e-12)
    assert seen[0]["lr"] == pytest.approx(2e-6) and seen[warmup]["lr"] == pytest.approx(2e-3)
    assert steps_per_epoch * 3 == len(seen)


def test_gradients_are_clipped_to_the_clip_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _record_steps(monkeypatch, 0.05)
    train(engine_config(tmp_path, epochs=1, clip_grad=0.05, lr=5e-3))
    assert seen and all(r["norm"] <= 0.05 * (1 + 1e-5) for r in seen)
    seen.clear()
    train(engine_config(tmp_path / "free", epochs=1, clip_grad=None, lr=5e-3))
    assert max(r["norm"] for r in seen) > 0.05  # without clipping the norms are larger: the test can see it


def test_two_accumulation_steps_equal_one_step_of_the_same_global_batch(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Accumulating two micro-batches of 8 gives the step of one batch of 16.

    The comparison runs in float64, so that it measures the loop and not float32's rounding: in float32 the two
    ways of summing the same gradient differ in their last bits, and AdamW's first step (``lr * g / (|g| + eps)``,
    a sign-like step) amplifies a gradient difference ``dg`` on elements with ``|g|`` near ``eps`` by up to
    ``lr / (4 eps)`` = 2.5e4: up to 3e-6 on an AVX-512 Xeon, with no bug (issue 17). In float64 the gradient
    elements, sums of at most ``N = 2**14`` terms of size <= 1 here, differ by at most ``N u`` (u = 2**-53), so the
    weights by at most ``lr / (4 eps) * N u`` = 4.5e-8. Dropping the division of the loss by ``accum_steps``
    moves them by 1.7e-4; a change of the data order by far more.
    """
    base_build = loop.build_model

    def build_float64(cfg: TrainConfig, num_classes: int) -> torch.nn.Module:
        model = base_build(cfg, num_classes).double()
        model.register_forward_pre_hook(lambda module, args: (args[0].double(), *args[1:]))
        return model

    monkeypatch.setattr(loop, "build_model", build_float64)
    lr, adam_eps, terms, unit_roundoff = 1e-3, 1e-8, 2**14, 2.0**-53
    bound = lr / (4 * adam_eps) * terms * unit_roundoff
    common = dict(epochs=1, max_steps_per_epoch=1, augment=False, batch_size=16, lr=lr, warmup_epochs=0)
    one = train(engine_config(tmp_path / "one", **common))
    two = train(engine_config(tmp_path / "two", accum_steps=2, **common))
    a = torch.load(Path(one["checkpoint"]), weights_only=True)
    b = torch.load(Path(two["checkpoint"]), weights_only=True)
    assert a["step"] == b["step"] == 1
    assert all(v.dtype == torch.float64 for v in a["state_dict"].values() if v.is_floating_point())
    worst = max((a["state_dict"][k] - b["state_dict"][k]).abs().max().item() for k in a["state_dict"])
    assert worst < bound, (worst, bound)
    assert a["optimizer"]["param_groups"][0]["eps"] == adam_eps  # the bound's eps is the optimiser's


def test_drop_path_keeps_the_expected_value() -> None:
    torch.manual_seed(0)
    dp = DropPath(0.3).train()
    x = torch.full((20000, 4), 2.0)
    y = dp(x)
    kept = y[:, 0] != 0
    assert torch.allclose(y[kept], torch.full_like(y[kept], 2.0 / 0.7))  # kept samples are scaled by 1/keep
    assert abs(kept.float().mean().item() - 0.7) < 0.015
    assert abs(y.mean().item() - 2.0) < 0.05  # so the expectation is unchanged


def test_a_short_run_learns_an_easy_task(tmp_path: Path) -> None:
    make_folder(tmp_path / "data", per_class=16)
    summary = train(engine_config(tmp_path / "run", data="folder", data_root=str(tmp_path / "data"), image_size=32,
                                  epochs=4, batch_size=12, max_steps_per_epoch=None, lr=3e-3, warmup_epochs=0.5,
                                  augment=False))  # fmt: skip
    assert summary["metrics"][-1]["val_top1"] >= 80, summary["metrics"]  # chance is 33%


# ================================================================================================ multi-process
def test_two_gloo_processes_with_mixup_equal_one_process_mixing_two_groups(tmp_path: Path) -> None:
    """With Mixup and CutMix on, 2 ranks (each mixing its slice) equal 1 process given ``--mix-groups 2``."""
    args = ["--preset", "cpu-demo", "--epochs", "1", "--max-steps-per-epoch", "3", "--batch-size", "16",
            "--no-augment", "--drop-path", "0", "--device", "cpu", "--no-progress", "--mixup", "0.8",
            "--cutmix", "1.0", "--log-every", "1"]  # fmt: skip
    one = processes.run("-m", "swin_viz.train", *args, "--mix-groups", "2", "--out", str(tmp_path / "one"))
    assert one.returncode == 0, one.stderr[-2000:]
    two = processes.run("-m", "swin_viz.train", *args, "--out", str(tmp_path / "two"), nproc=2)
    assert two.returncode == 0, two.stderr[-2000:]
    a = torch.load(tmp_path / "one" / "checkpoint.pt", weights_only=True)
    b = torch.load(tmp_path / "two" / "checkpoint.pt", weights_only=True)
    worst = max((a["state_dict"][k] - b["state_dict"][k]).abs().max().item() for k in a["state_dict"])
    assert worst < 1e-5, worst
    # Without the groups, one process mixes differently: the equality above is not an accident.
    other = processes.run("-m", "swin_viz.train", *args, "--out", str(tmp_path / "other"))
    assert other.returncode == 0, other.stderr[-2000:]
    c = torch.load(tmp_path / "other" / "checkpoint.pt", weights_only=True)
    assert max((a["state_dict"][k] - c["state_dict"][k]).abs().max().item() for k in a["state_dict"]) > 1e-4
    # The second rank's random streams differ from the first's (stochastic depth, augmentation).
    assert len(b["rng"]) == 2 and not torch.equal(b["rng"][0]["torch"], b["rng"][1]["torch"])


_NAN_ON_RANK_1 = r"""
import os, sys, torch
import swin_viz.train.loop as loop
real = loop.soft_cross_entropy
calls = {"n": 0}
def poisoned(logits, targets):
    calls["n"] += 1
    loss = real(logits, targets)
    return loss * float("nan") if os.environ["RANK"] == "1" and calls["n"] >= 2 else loss
loop.soft_cross_entropy = poisoned
from swin_viz.train import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_non_finite_loss_on_one_rank_stops_every_rank(tmp_path: Path) -> None:
    """Rank 1's loss turns NaN at its second step; both ranks stop with the error (exit 3) instead of hanging."""
    script = tmp_path / "nan_rank.py"
    script.write_text(_NAN_ON_RANK_1)
    args = ["--preset", "cpu-demo", "--epochs", "1", "--max-steps-per-epoch", "4", "--batch-size", "16",
            "--device", "cpu", "--no-progress", "--log-every", "2", "--out", str(tmp_path / "run")]  # fmt: skip
    done = processes.run(str(script), *args, nproc=2, timeout=240)
    assert done.returncode != 0
    assert done.stderr.count("became nan in epoch 1 (by step 2); every rank stopped") == 2, done.stderr[-3000:]
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_resume_reads_the_checkpoint_on_rank_0_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a shared filesystem, rank 1 has no file: it takes what rank 0 broadcasts."""
    from swin_viz.train.runtime import Runtime
    from swin_viz.train.state import load_run_state

    cfg = engine_config(tmp_path, resume=True)
    sent = {"format": "swin_viz", "version": 3, "train_config": cfg.plain(), "world_size": 2, "epoch": 0, "step": 3,
            "state_dict": {"w": torch.ones(1)}, "optimizer": {}, "rng": [{}, {}], "loader": {}}  # fmt: skip
    rank1 = Runtime(rank=1, world_size=2, local_rank=1, device=torch.device("cpu"))
    monkeypatch.setattr(Runtime, "broadcast", lambda self, obj: sent if not self.main else obj)
    reads = []
    monkeypatch.setattr(torch, "load", lambda *a, **k: reads.append(a) or {})
    got = load_run_state(tmp_path / "missing-here.pt", rank1, cfg)
    assert got is not None and got["state_dict"] is sent["state_dict"] and got["step"] == 3 and reads == []
    changed = engine_config(tmp_path, resume=True, seed=4)
    with pytest.raises(ValueError, match="seed: 0 -> 4"):
        load_run_state(tmp_path / "missing-here.pt", rank1, changed)


def test_per_class_report_is_scikit_learns() -> None:
    from sklearn.metrics import classification_report

    from swin_viz.metrics import confusion_matrix, per_class_report

    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 300)
    pred = np.where(rng.random(300) < 0.7, y, rng.integers(0, 4, 300))
    pred[pred == 3] = 2  # class 3 is never predicted: precision 0 by scikit-learn's convention
    ours = per_class_report(confusion_matrix(torch.from_numpy(pred), torch.from_numpy(y), 4), list("abcd"))
    theirs = classification_report(y, pred, labels=range(4), target_names=list("abcd"), output_dict=True,
                                   zero_division=0)  # fmt: skip
    for row in ours:
        ref = theirs[row["class"]]
        assert row["precision"] == pytest.approx(ref["precision"]) and row["recall"] == pytest.approx(ref["recall"])
        assert row["f1"] == pytest.approx(ref["f1-score"]) and row["support"] == ref["support"]
