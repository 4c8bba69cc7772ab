"""Every training command of the README and chapters 12-13, run as a user runs it: ``python -m swin_viz.train`` (or
``torchrun``) in a fresh process, on tiny data, 2 steps each.

Nothing here imports the engine at the top: a module the command forgets to import (``--data shards`` once did)
must fail here, not be hidden by this file's imports. Then, with 2 processes (gloo on the CPU): an uninterrupted
run of 2 epochs and a run stopped after 1 and resumed end with bit-equal weights (Mixup on and off, streaming folder
and shards, fine-tuning); a resume on another number of processes runs, or is refused saying why.
"""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import numpy as np
import processes
import pytest
import torch
from PIL import Image
from test_train_engine import make_folder as engine_folder

DIGITS_CKPT = processes.ROOT / "swin_viz" / "assets" / "digits_small.pt"
FAST = ["--epochs", "1", "--max-steps-per-epoch", "2", "--device", "cpu", "--no-progress", "--log-every", "1"]
"""Every command below also gets these: 2 steps on the CPU."""
SMALL = ["--model", "small", "--image-size", "32", "--batch-size", "6", "--randaugment", "", "--reprob", "0",
         "--drop-path", "0"]  # fmt: skip
"""The paper's defaults made small enough for a CPU test (the recipe's flags are what the commands vary)."""


def make_folder(root: Path, per_class: int = 4) -> Path:
    """An ImageFolder tree ``root/{train,val}/<colour>/*.jpg`` (the engine tests' generator, smaller images)."""
    return engine_folder(root, per_class=per_class, size=(40, 36))


def make_shards(tmp: Path, per_class: int = 4, max_count: int = 3) -> Path:
    """Shards written by the documented command, ``python -m swin_viz.data.shards SRC DST --max-count N``."""
    src = make_folder(tmp / "folder", per_class)
    done = processes.run("-m", "swin_viz.data.shards", str(src), str(tmp / "shards"), "--max-count", str(max_count))
    assert done.returncode == 0, done.stderr[-3000:]
    return tmp / "shards"


def make_cifar(root: Path, per_batch: int = 4) -> Path:
    """Fake CIFAR-10 python batches (``cifar-10-batches-py``): the files and keys of the real ones, tiny."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for n in names:
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        (folder / n).write_bytes(pickle.dumps({b"data": data, b"labels": [i % 10 for i in range(per_batch)]}))
    meta = {b"label_names": [f"class{i}".encode() for i in range(10)]}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta))
    return root


def train(out: Path, *args: str, nproc: int = 1, ok: bool = True) -> str:
    """Run ``python -m swin_viz.train ARGS --out OUT`` (``torchrun`` with ``nproc`` > 1); its output."""
    done = processes.run("-m", "swin_viz.train", *args, "--out", str(out), nproc=nproc, timeout=300)
    if ok:
        assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-4000:])
    return done.stdout + done.stderr if ok else done


def weights(out: Path) -> dict[str, torch.Tensor]:
    return torch.load(out / "checkpoint.pt", map_location="cpu", weights_only=True)["state_dict"]


def assert_bit_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differ, f"{len(differ)} tensors differ, e.g. {differ[:3]}"


# ===================================================================================== each command, one process
@pytest.mark.parametrize("loader", ["memory", "stream"])
def test_folder(tmp_path: Path, loader: str) -> None:
    """README: ``python -m swin_viz.train --data folder --data-root PATH`` (decoded into memory, or streamed)."""
    root = make_folder(tmp_path / "data")
    log = train(tmp_path / "run", "--data", "folder", "--data-root", str(root), "--loader", loader, "--workers", "1",
                *SMALL, *FAST)  # fmt: skip
    assert ("streaming, 1 workers per rank" if loader == "stream" else "in memory") in log
    assert "epoch 1 step 2" in log
    # The paper's 20 warm-up epochs do not fit a 1-epoch run: clamped, and the log says so (no extra flag needed).
    assert "warm-up clamped to 1 epochs: --warmup-epochs 20 is longer than the run's --epochs 1" in log


def _one_line_error(done, *named: str) -> None:
    assert done.returncode == 2, (done.stdout[-1000:], done.stderr[-3000:])
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert "Traceback" not in done.stderr and len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    for name in named:
        assert name in lines[0], lines[0]


@pytest.mark.parametrize("problem", ["missing class", "bad file", "no folder"])
def test_errors_in_the_data_print_one_line_and_exit_2(tmp_path: Path, problem: str) -> None:
    root = make_folder(tmp_path / "data", per_class=2)
    named = []
    if problem == "missing class":
        shutil.rmtree(root / "val" / "green")
        named = ["green"]
    elif problem == "bad file":
        (root / "train" / "red" / "000.jpg").write_bytes(b"not a jpeg")
        named = ["000.jpg"]
    else:
        root = tmp_path / "nowhere"
        named = ["nowhere"]
    done = train(tmp_path / "run", "--data", "folder", "--loader", "stream", "--data-root", str(root), "--workers",
                 "1", *SMALL, *FAST, ok=False)  # fmt: skip
    _one_line_error(done, *named)


def test_shards(tmp_path: Path) -> None:
    """README: ``python -m swin_viz.data.shards PATH SHARDS``, then ``--data shards --data-root SHARDS``."""
    shards = make_shards(tmp_path)
    log = train(tmp_path / "run", "--data", "shards", "--data-root", str(shards), "--workers", "1", *SMALL, *FAST)
    assert "webdataset, 1 workers per rank" in log and "epoch 1 step 2" in log


def test_cifar10_python_batches(tmp_path: Path) -> None:
    root = make_cifar(tmp_path / "cifar")
    log = train(tmp_path / "run", "--data", "cifar10", "--data-root", str(root), *SMALL, *FAST)
    assert "CIFAR-10" in log or "cifar" in log.lower()
    assert "epoch 1 step 2" in log


def test_digits_cpu_demo(tmp_path: Path) -> None:
    """README and chapter 12: ``python -m swin_viz.train --preset cpu-demo``."""
    log = train(tmp_path / "run", "--preset", "cpu-demo", *FAST)
    assert "short CPU schedule" in log and "epoch 1 step 2" in log


def test_synthetic(tmp_path: Path) -> None:
    log = train(tmp_path / "run", "--data", "synthetic", *SMALL, "--augment", *FAST)
    assert "synthetic" in log and "epoch 1 step 2" in log


def test_task(tmp_path: Path) -> None:
    log = train(tmp_path / "run", "--data", "task", "--task", "pair", "--model", "small", "--batch-size", "8", *FAST)
    assert "task pair" in log and "epoch 1 step 2" in log


@pytest.mark.parametrize("mode", ["full", "linear", "last-1", "lora"])
def test_init_with_each_finetune_mode(tmp_path: Path, mode: str) -> None:
    """README and chapter 13: ``--preset cpu-demo --init swin_viz/assets/digits_small.pt --finetune MODE``."""
    extra = ["--lora-rank", "4"] if mode == "lora" else []
    log = train(tmp_path / "run", "--preset", "cpu-demo", "--init", str(DIGITS_CKPT), "--finetune", mode, *extra,
                *FAST)  # fmt: skip
    assert f"init from {DIGITS_CKPT}" in log and f"trained ({mode})" in log and "epoch 1 step 2" in log


# ======================================================================= 2 processes: interrupted = uninterrupted
TWO_EPOCHS = ["--epochs", "2", "--max-steps-per-epoch", "2", "--device", "cpu", "--no-progress", "--log-every", "1"]


def interrupted_equals_uninterrupted(tmp: Path, args: list[str], nproc: int = 2) -> None:
    """2 epochs in one go vs 1 epoch, stop, ``--resume`` for the second: bit-equal weights, and the log says so."""
    train(tmp / "whole", *args, *TWO_EPOCHS, nproc=nproc)
    train(tmp / "parts", *args, *TWO_EPOCHS, "--stop-after", "1", nproc=nproc)
    log = train(tmp / "parts", *args, *TWO_EPOCHS, "--resume", nproc=nproc)
    assert "resumed from" in log and "after epoch 1" in log
    assert_bit_equal(weights(tmp / "whole"), weights(tmp / "parts"))


MIX_ON = ["--mixup", "0.8", "--cutmix", "1.0"]
MIX_OFF = ["--mixup", "0", "--cutmix", "0"]


@pytest.mark.parametrize("mix", ["mixup", "no-mixup"])
@pytest.mark.parametrize("data", ["stream", "shards"])
def test_two_processes_resume_exactly(tmp_path: Path, data: str, mix: str) -> None:
    if data == "stream":
        source = ["--data", "folder", "--loader", "stream", "--data-root", str(make_folder(tmp_path / "data"))]
    else:
        source = ["--data", "shards", "--data-root", str(make_shards(tmp_path, per_class=4, max_count=2))]
    interrupted_equals_uninterrupted(tmp_path, [*source, "--workers", "0", *SMALL, "--batch-size", "4",
                                                *(MIX_ON if mix == "mixup" else MIX_OFF)])  # fmt: skip


def test_two_processes_finetuning_resumes_exactly(tmp_path: Path) -> None:
    """A fine-tuning run resumes: without ``--init`` (not a change of configuration; the run's config keeps the
    init's path), bit-equal to the uninterrupted run; and with ``--init`` given again, the checkpoint wins."""
    init = ["--init", str(DIGITS_CKPT)]
    args = ["--preset", "cpu-demo", "--finetune", "lora", "--lora-rank", "2", "--batch-size", "8", *MIX_ON]
    train(tmp_path / "whole", *args, *init, *TWO_EPOCHS, nproc=2)
    train(tmp_path / "parts", *args, *init, *TWO_EPOCHS, "--stop-after", "1", nproc=2)
    log = train(tmp_path / "parts", *args, *TWO_EPOCHS, "--resume", nproc=2)
    assert "after epoch 1" in log and f"the run started from --init {DIGITS_CKPT}, not applied again" in log
    assert_bit_equal(weights(tmp_path / "whole"), weights(tmp_path / "parts"))
    saved = torch.load(tmp_path / "parts" / "checkpoint.pt", weights_only=True)["train_config"]
    assert saved["init"] == str(DIGITS_CKPT) and saved["finetune"] == "lora"
    # --init with --resume (the same command resubmitted): accepted, the checkpoint's weights are kept.
    log = train(tmp_path / "parts", *args, *init, *TWO_EPOCHS, "--resume", nproc=2)
    assert "after epoch 2" in log and "init from" not in log
    assert_bit_equal(weights(tmp_path / "whole"), weights(tmp_path / "parts"))


def test_resume_on_another_number_of_processes(tmp_path: Path) -> None:
    """The data order, crops and Mixup groups do not depend on the number of processes: with ``--mix-groups 2`` a
    2-process run resumes on 1 process and ends where the 2-process run ends (to float rounding). With one Mixup
    group per rank (``mix_groups=0``) the pairs would differ: refused, in one line that says why."""
    root = make_folder(tmp_path / "data")
    base = ["--data", "folder", "--loader", "stream", "--data-root", str(root), "--workers", "0", *SMALL,
            "--batch-size", "4", *MIX_ON]  # fmt: skip
    fixed = [*base, "--mix-groups", "2"]
    train(tmp_path / "whole", *fixed, *TWO_EPOCHS, nproc=2)
    train(tmp_path / "parts", *fixed, *TWO_EPOCHS, "--stop-after", "1", nproc=2)
    shutil.copytree(tmp_path / "parts", tmp_path / "per-rank")
    log = train(tmp_path / "parts", *fixed, *TWO_EPOCHS, "--resume", nproc=1)
    assert "resuming a run of 2 processes on 1" in log
    a, b = weights(tmp_path / "whole"), weights(tmp_path / "parts")
    worst = max((a[k] - b[k]).abs().max().item() for k in a)
    assert worst < 1e-5, worst
    # The same checkpoint, resumed with one Mixup group per rank on 1 process: refused, exit 2, one line.
    ckpt = torch.load(tmp_path / "per-rank" / "checkpoint.pt", weights_only=True)
    ckpt["train_config"]["mix_groups"] = 0
    torch.save(ckpt, tmp_path / "per-rank" / "checkpoint.pt")
    done = train(tmp_path / "per-rank", *base, *TWO_EPOCHS, "--resume", nproc=1, ok=False)
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert "made on 2" in done.stderr and "Mixup pairs images inside each rank's slice" in done.stderr


# ============================================================================================ SLURM
def test_slurm_variables_stand_in_for_torchruns() -> None:
    from swin_viz.train.runtime import first_host, process_env

    env = {"SLURM_PROCID": "3", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1", "SLURM_JOB_NODELIST": "gpu[07-08]",
           "SLURM_JOB_ID": "4242"}  # fmt: skip
    assert process_env(env) == (3, 8, 1)
    assert env["MASTER_ADDR"] == "gpu07" and env["MASTER_PORT"] == str(29500 + 4242) and env["RANK"] == "3"
    # torchrun's variables win (srun torchrun: SLURM_PROCID is the node's task, RANK the process's).
    assert process_env({"RANK": "5", "WORLD_SIZE": "16", "LOCAL_RANK": "5", "SLURM_PROCID": "0"}) == (5, 16, 5)
    assert process_env({}) == (0, 1, 0)
    assert [first_host(n) for n in ("n1", "a,b", "x[3-4,9]", "x[1-2],y[3]")] == ["n1", "a", "x3", None]
    with pytest.raises(ValueError, match="MASTER_ADDR is not set"):
        process_env({"SLURM_PROCID": "0", "SLURM_NTASKS": "2", "SLURM_JOB_NODELIST": "x[1-2],y[3]"})


def test_plain_srun_tasks_form_one_run(tmp_path: Path) -> None:
    """Two tasks as a plain ``srun -n 2 python -m swin_viz.train`` starts them: ranks 0 and 1 of one run, not two
    runs that race on one checkpoint."""
    import subprocess
    import sys

    port = processes.free_port()
    procs = []
    for rank in range(2):
        env = {**processes.ENV, "SLURM_PROCID": str(rank), "SLURM_NTASKS": "2", "SLURM_LOCALID": str(rank),
               "SLURM_JOB_NODELIST": "localhost", "MASTER_PORT": str(port)}  # fmt: skip
        argv = [sys.executable, "-m", "swin_viz.train", "--preset", "cpu-demo", *FAST, "--out", str(tmp_path)]
        procs.append(subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    assert "device cpu x 2" in outs[0][0]
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["world_size"] == 2


def test_sbatch_template_runs_srun_torchrun(tmp_path: Path) -> None:
    """``scripts/slurm_train.sbatch`` under stand-ins for ``srun`` and ``scontrol`` (one node, 2 processes)."""
    import os
    import subprocess
    import sys

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text('#!/bin/bash\nwhile [[ "$1" == --* ]]; do shift; done\nexec "$@"\n')
    (bin_dir / "scontrol").write_text("#!/bin/bash\necho localhost\n")
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    env = {**processes.ENV, "PATH": f"{bin_dir}:{os.environ['PATH']}", "PYTHON": sys.executable,
           "SLURM_JOB_NODELIST": "localhost", "SLURM_JOB_NUM_NODES": "1", "SLURM_JOB_ID": "7", "GPUS_PER_NODE": "2",
           "MASTER_PORT": str(processes.free_port())}  # fmt: skip
    script = processes.ROOT / "scripts" / "slurm_train.sbatch"
    done = subprocess.run(["bash", str(script), "--preset", "cpu-demo", *FAST, "--out", str(tmp_path / "run")],
                          env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "device cpu x 2" in done.stdout and "no checkpoint" in done.stdout  # --resume, nothing to resume yet


# ====================================================================== the engine's own checks (in this process)
def _engine(out: Path, **overrides: object):
    from swin_viz.train import TrainConfig

    kwargs = dict(data="digits", model="small", epochs=1, batch_size=16, lr=1e-3, warmup_epochs=0, mixup=0.0,
                  cutmix=0.0, randaugment="", reprob=0.0, drop_path=0.0, max_steps_per_epoch=1, out=str(out),
                  progress=False, device="cpu", log_every=1, augment=False)  # fmt: skip
    kwargs.update(overrides)
    return TrainConfig(**kwargs)


def _steps(out: Path) -> list[dict[str, object]]:
    import json

    return [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines()]


def test_the_loss_is_divided_by_the_accumulation_steps(tmp_path: Path) -> None:
    """Two micro-batches of 8 give the gradient of one batch of 16: the same norm (to rounding), not twice it.
    Compared as a ratio of norms, so it does not depend on the processor's float bits (issue 17)."""
    from swin_viz.train import train as run

    norms = []
    for accum in (1, 2):
        run(_engine(tmp_path / str(accum), accum_steps=accum))
        norms.append(_steps(tmp_path / str(accum))[0]["grad_norm"])
    assert abs(norms[1] / norms[0] - 1) < 1e-3, norms


def test_evaluate_reports_top1_and_top5_apart() -> None:
    """Integer logits: the label ranks 1st for 2 samples, 3rd for 1, 6th (last) for 1 of 4."""
    import torch.nn.functional as F

    from swin_viz.train import evaluate

    logits = torch.tensor([[5.0, 4, 3, 2, 1, 0], [0, 5, 4, 3, 2, 1], [5, 4, 3, 2, 1, 0], [5, 4, 3, 2, 1, 0]])
    y = torch.tensor([0, 1, 2, 5])

    class Fixed(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.p = torch.nn.Parameter(torch.zeros(()))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return logits[x[:, 0, 0, 0].long()]

    x = torch.arange(4.0).reshape(4, 1, 1, 1).expand(4, 3, 2, 2).contiguous()

    class Loader:
        normalize = True  # x passes to the model as it is

        def __iter__(self):
            yield x[:2], y[:2]
            yield x[2:], y[2:]

    ev = evaluate(Fixed(), Loader(), 6)
    assert (ev["top1"], ev["top5"], ev["count"]) == (50.0, 75.0, 4)
    assert abs(ev["loss"] - F.cross_entropy(logits, y).item()) < 1e-6
    assert ev["confusion"].tolist()[2] == [1, 0, 0, 0, 0, 0] and ev["confusion"].sum() == 4


def test_fp16_scales_the_loss_unscales_before_clipping_and_saves_the_scaler(tmp_path: Path) -> None:
    """``--amp fp16`` on the CPU: the norm that clipping sees is the true one (the loss scale is 65536), the
    scaler's state is in the checkpoint and a resume continues from it."""
    from swin_viz.train import train as run

    run(_engine(tmp_path / "fp32", amp="off"))
    run(_engine(tmp_path / "fp16", amp="fp16", epochs=2, stop_after=1))
    fp32, fp16 = _steps(tmp_path / "fp32")[0]["grad_norm"], _steps(tmp_path / "fp16")[0]["grad_norm"]
    assert 0.5 < fp16 / fp32 < 2, (fp16, fp32)  # scaled gradients would be ~65536 times larger
    ckpt_path = tmp_path / "fp16" / "checkpoint.pt"
    ckpt = torch.load(ckpt_path, weights_only=True)
    assert ckpt["scaler"]["scale"] == 65536.0 and ckpt["version"] == 3
    ckpt["scaler"]["scale"] = 1024.0  # as if the scale had backed off during the run
    torch.save(ckpt, ckpt_path)
    run(_engine(tmp_path / "fp16", amp="fp16", epochs=2, resume=True))
    assert torch.load(ckpt_path, weights_only=True)["scaler"]["scale"] == 1024.0


def test_amp_auto_picks_by_device() -> None:
    from swin_viz.train import TrainConfig
    from swin_viz.train.loop import Speed

    assert Speed.resolve(TrainConfig(amp="auto"), torch.device("cpu")).amp_dtype is None
    assert Speed.resolve(TrainConfig(amp="fp16"), torch.device("cpu")).amp_dtype == torch.float16
    if torch.cuda.is_available():
        major = torch.cuda.get_device_capability()[0]
        want = torch.bfloat16 if major >= 8 else torch.float16
        assert Speed.resolve(TrainConfig(amp="auto"), torch.device("cuda")).amp_dtype == want


def test_max_device_batch_becomes_accumulation_steps(tmp_path: Path) -> None:
    from swin_viz.train import TrainConfig
    from swin_viz.train import train as run

    cfg = TrainConfig(batch_size=1024, max_device_batch=64)
    assert [cfg.resolved_accum_steps(w) for w in (1, 2, 8, 16)] == [16, 8, 2, 1]
    assert TrainConfig(batch_size=96, max_device_batch=40).resolved_accum_steps(1) == 3  # 32 each, not 2 x 48
    assert TrainConfig(batch_size=96, accum_steps=4, max_device_batch=40).resolved_accum_steps(1) == 4
    summary = run(_engine(tmp_path, max_device_batch=4))
    assert summary["steps"] == 1
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=True)["train_config"]
    assert saved["accum_steps"] == 4 and saved["batch_size"] == 16


def test_evaluation_without_the_crop_sees_the_whole_image() -> None:
    """``eval_crop=False`` (the fine-tuning preset): a wide image keeps its left and right edges."""
    from swin_viz.data.sources import eval_view

    arr = np.zeros((20, 40, 3), dtype=np.uint8)
    arr[:, :5] = 255  # a white left edge
    im = Image.fromarray(arr)
    whole, crop = eval_view(im, 16, center_crop=False), eval_view(im, 16)
    assert whole.shape == crop.shape == (3, 16, 16)
    assert whole[:, :, 0].float().mean() > 200 and crop[:, :, 0].float().mean() < 10


def test_every_loader_is_a_loader_with_one_set_epoch(tmp_path: Path) -> None:
    from swin_viz.data import loaders as L
    from swin_viz.data.shards import ShardLoader

    classes = [L.DeviceLoader, L.StreamingLoader, L.SyntheticLoader, ShardLoader]
    for cls in classes:
        assert issubclass(cls, L.EpochLoader) and "set_epoch" not in vars(cls), cls
    synthetic = L.SyntheticLoader(4, 8, 3, steps=2)
    assert isinstance(synthetic, L.Loader) and len(synthetic) == 2
    with pytest.raises(ValueError, match="epoch"):
        synthetic.set_epoch(-1)
