"""The training loop: recipe pieces, a real CPU run, exact resume, non-finite stop, DDP equivalence."""

from __future__ import annotations

import json
from pathlib import Path

import processes
import pytest
import torch

import swin_viz
import swin_viz.data
from swin_viz.metrics import read_log
from swin_viz.train import (
    NonFiniteLossError,
    TrainConfig,
    build_model,
    lr_at,
    main,
    param_groups,
    parse_args,
    train,
)
from swin_viz.viz import to_matplotlib, to_plotly
from swin_viz.viz.training import confusion_spec, curves_spec


def tiny_config(out: Path, **overrides: object) -> TrainConfig:
    """A small Swin on the bundled digits, a few steps per epoch: seconds on the CPU."""
    kwargs = dict(data="digits", model="small", epochs=3, batch_size=32, lr=2e-3, warmup_epochs=1, mixup=0.0,
                  cutmix=0.0, drop_path=0.1, max_steps_per_epoch=4, out=str(out), progress=False,
                  device="cpu")  # fmt: skip
    kwargs.update(overrides)
    return TrainConfig(**kwargs)


def test_learning_rate_schedule() -> None:
    peak, total, warm = 1e-3, 1000, 100
    assert lr_at(0, total, warm, peak) == pytest.approx(peak / 1000)
    assert lr_at(warm, total, warm, peak) == pytest.approx(peak)
    assert lr_at(total, total, warm, peak) == pytest.approx(peak / 100)
    mid = lr_at((total + warm) // 2, total, warm, peak)
    assert mid == pytest.approx(peak / 100 + (peak - peak / 100) / 2, rel=1e-3)
    lrs = [lr_at(s, total, warm, peak) for s in range(total)]
    assert lrs[:warm] == sorted(lrs[:warm]) and lrs[warm:] == sorted(lrs[warm:], reverse=True)
    assert TrainConfig(batch_size=512).resolved_lr() == pytest.approx(5e-4)  # scaled by batch / 1024


def test_no_weight_decay_on_norms_biases_and_bias_tables() -> None:
    model = swin_viz.swin_t()
    decay, no_decay = param_groups(model, 0.05)
    names = {id(p): n for n, p in model.named_parameters()}
    no_decay_names = {names[id(p)] for p in no_decay["params"]}
    assert "stage1.block0.attn.relative_bias.table" in no_decay_names
    assert "stage1.block0.norm1.weight" in no_decay_names and "head.bias" in no_decay_names
    assert all(p.ndim == 2 or p.ndim == 4 for p in decay["params"])
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


def test_cpu_run_writes_metrics_and_a_loadable_checkpoint(tmp_path: Path) -> None:
    summary = train(tiny_config(tmp_path, epochs=2))
    rows = read_log(tmp_path)
    assert [r["epoch"] for r in rows] == [1, 2] and rows == summary["metrics"]
    assert all(r["img_per_s"] > 0 and 0 <= r["val_top1"] <= 100 and r["val_top5"] >= r["val_top1"] for r in rows)
    csv_lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert csv_lines[0].startswith("epoch,") and len(csv_lines) == 3
    model = swin_viz.model_from_checkpoint(tmp_path / "checkpoint.pt")  # weights_only load of a training checkpoint
    assert model.num_classes == 10
    confusion = json.loads((tmp_path / "confusion.json").read_text())
    n_val = len(swin_viz.data.load_digits(split="val"))
    assert sum(map(sum, confusion["matrix"])) == n_val  # the validation split, every image counted once
    to_plotly(curves_spec(tmp_path)), to_matplotlib(confusion_spec(confusion["matrix"], confusion["classes"]))
    assert len(summary["per_class"]) == 10


def test_resume_continues_exactly(tmp_path: Path) -> None:
    """An interrupted run resumed from its checkpoint gives the same losses as an uninterrupted one (on CPU)."""
    full = train(tiny_config(tmp_path / "full", mixup=0.8, cutmix=1.0))
    train(tiny_config(tmp_path / "split", mixup=0.8, cutmix=1.0, stop_after=1))
    assert len(read_log(tmp_path / "split")) == 1
    resumed = train(tiny_config(tmp_path / "split", mixup=0.8, cutmix=1.0, resume=True))
    keys = ("train_loss", "train_top1", "val_loss", "val_top1", "lr")
    assert [[r[k] for k in keys] for r in resumed["metrics"]] == [[r[k] for k in keys] for r in full["metrics"]]
    a = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "split" / "checkpoint.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    train(tiny_config(tmp_path, stop_after=1))
    ckpt = tmp_path / "checkpoint.pt"
    before = ckpt.read_bytes()
    with pytest.raises(NonFiniteLossError, match=r"last good checkpoint is .*checkpoint\.pt"):
        train(tiny_config(tmp_path, resume=True, lr=1e12, clip_grad=None, warmup_epochs=0, allow_config_change=True))
    assert ckpt.read_bytes() == before
    assert not list(tmp_path.glob("*.tmp"))


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = parse_args(["--preset", "cpu-demo", "--epochs", "1", "--no-augment", "--model-kwargs", '{"embed_dim": 16}'])
    assert (cfg.model, cfg.epochs, cfg.augment, cfg.model_kwargs["embed_dim"]) == ("small", 1, False, 16)
    assert "CPU" in cfg.label
    with pytest.raises(SystemExit):
        parse_args(["--help"])
    assert "--warmup-epochs" in capsys.readouterr().out
    code = main(["--preset", "cpu-demo", "--epochs", "1", "--max-steps-per-epoch", "2", "--out", str(tmp_path),
                 "--no-progress"])  # fmt: skip
    assert code == 0 and (tmp_path / "checkpoint.pt").exists()
    assert build_model(cfg, 10).config.embed_dim == 16


def test_two_process_ddp_equals_one_process(tmp_path: Path) -> None:
    """torchrun with 2 gloo processes: both ranks end identical, and equal to 1 process on the same global batch."""
    args = ["--preset", "cpu-demo", "--epochs", "1", "--max-steps-per-epoch", "3", "--batch-size", "16",
            "--no-augment", "--drop-path", "0", "--device", "cpu", "--no-progress"]  # fmt: skip
    one = processes.run("-m", "swin_viz.train", *args, "--out", str(tmp_path / "one"))
    assert one.returncode == 0, one.stderr[-2000:]
    two = processes.run("-m", "swin_viz.train", *args, "--out", str(tmp_path / "two"), nproc=2)
    assert two.returncode == 0, two.stderr[-2000:]
    assert json.loads((tmp_path / "two" / "summary.json").read_text())["ranks_identical"] is True
    a = torch.load(tmp_path / "one" / "checkpoint.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "two" / "checkpoint.pt", weights_only=True)["state_dict"]
    worst = max((a[k] - b[k]).abs().max().item() for k in a)
    assert worst < 1e-5, worst
    la = read_log(tmp_path / "one")[0]
    lb = read_log(tmp_path / "two")[0]
    assert la["train_loss"] == pytest.approx(lb["train_loss"], rel=1e-5)
