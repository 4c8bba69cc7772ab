"""Train every controlled experiment of the book (chapters 4, 5, 6, 12) and write its records.

    OMP_NUM_THREADS=1 python scripts/run_experiments.py                 # all experiments, seeds 0 1 2
    OMP_NUM_THREADS=1 python scripts/run_experiments.py --only shift    # one experiment
    OMP_NUM_THREADS=1 python scripts/run_experiments.py --only shift --condition "W-MSA only" --seeds 1 --dry

Each run is trained by ``swin_viz.train`` on a generated task of ``swin_viz.data.tasks`` and recorded with its
provenance (command, seed, commit, full config, per-epoch log, processor, torch version, threads) in
``swin_viz/assets/experiments/<experiment>.json``; the chapters only read those records
(``swin_viz.viz.experiments``). ``--dry`` trains without writing records.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from swin_viz.train import train
from swin_viz.train.config import TrainConfig
from swin_viz.train.reproduce import machine

ROOT = Path(__file__).resolve().parents[1]
RECORDS = ROOT / "swin_viz" / "assets" / "experiments"

# One stage of two blocks on an 8x8 token grid (16x16 pixels, patch 2), 2x2 windows of 4x4 tokens, a linear head
# on the pooled features: W-MSA alone cannot mix windows, and nothing after the pooling can either.
MARKS_MODEL = dict(embed_dim=32, depths=(2,), num_heads=(2,), window_size=4, patch_size=2)
# The mask and position experiments use 4 heads: with 2, some seeds never leave the symmetric start (50% on every
# class) within the budget (four random heads break the symmetry sooner).
POSITION_MODEL = dict(MARKS_MODEL, num_heads=(4,))
# The book's small Swin (3 stages, 32 channels, 4x4 windows, patch 2) for 32x32 photograph crops.
PHOTOS_MODEL = dict(embed_dim=32, depths=(2, 2, 2), num_heads=(2, 4, 8), window_size=4, patch_size=2)

COMMON = dict(model="tiny", batch_size=50, lr=4e-3, warmup_epochs=0.5, weight_decay=0.05, label_smoothing=0.0,
              clip_grad=5.0, mixup=0.0, cutmix=0.0, augment=False, randaugment="", reprob=0.0, drop_path=0.0,
              device="cpu", compile="off", amp="off", channels_last="off", progress=False, log_every=1000)  # fmt: skip

EXPERIMENTS: dict[str, dict[str, Any]] = {
    "shift": dict(
        task="pair", epochs=10, model=MARKS_MODEL, chapter=4,
        question="Do shifted windows let a model relate content in two different regular windows?",
        conditions={"W-MSA + SW-MSA": dict(shift=True), "W-MSA only": dict(shift=False)},
    ),
    "mask": dict(
        task="wrap", epochs=10, model=POSITION_MODEL, chapter=5,
        question="Without the mask, does a model learn from content the cyclic shift wraps around?",
        conditions={"with mask": dict(attn_mask=True), "no mask": dict(attn_mask=False)},
    ),
    "position": dict(
        task="arrangement", epochs=10, model=POSITION_MODEL, chapter=6,
        question="Can attention tell which of two marks in a window is on the left, and at positions not trained?",
        conditions={"relative bias": dict(position="relative"), "absolute embedding": dict(position="absolute",
                    img_size=16), "none": dict(position="none")},
    ),
    "table4": dict(
        task="photos", epochs=4, model=PHOTOS_MODEL, chapter=12,
        question="The paper's Table 4 in miniature: shift on/off x relative/absolute/no position.",
        conditions={f"{'shift' if s else 'no shift'}, {p}": dict(shift=s, position=p, **({"img_size": 32}
                    if p == "absolute" else {})) for s in (True, False) for p in ("relative", "absolute", "none")},
    ),
}  # fmt: skip
"""Each experiment: a task, a model, an epoch count and the conditions it compares (model keyword arguments)."""

PAPER_TABLE4 = {
    "source": "Liu et al., Swin Transformer (ICCV 2021), Table 4: Swin-T on ImageNet-1K, top-1 (%)",
    "rows": {"shift, relative": 81.3, "no shift, relative": 80.2, "shift, absolute": 80.5, "shift, none": 80.1},
}
"""The paper's numbers for the same switches (shared REFERENCE.md): shifted windows +1.1; relative bias +1.2 over
none, +0.8 over absolute. The paper gives no "no shift, absolute" or "no shift, none" row."""


def run_config(name: str, condition: str, seed: int, work: Path) -> TrainConfig:
    """The :class:`TrainConfig` of one run of ``EXPERIMENTS[name]``."""
    exp = EXPERIMENTS[name]
    model_kwargs = dict(exp["model"], **exp["conditions"][condition])
    return TrainConfig(data="task", task=exp["task"], model_kwargs=model_kwargs, epochs=exp["epochs"], seed=seed,
                       out=str(work / name / condition.replace(" ", "_").replace(",", "") / f"seed{seed}"),
                       label=f"experiment {name}: {condition}, seed {seed}", **COMMON)  # fmt: skip


def commit() -> str:
    """The checkout's commit, with ``+dirty`` when tracked code (``swin_viz``, ``scripts``) differs from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "swin_viz", "scripts"],
                               cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
        return head.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", choices=sorted(EXPERIMENTS), help="experiments to run (default: all)")
    parser.add_argument("--condition", default=None, help="run only this condition")
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--dry", action="store_true", help="train, but write no records")
    parser.add_argument("--work", default=None, help="where runs write their checkpoints (default: a temp dir)")
    args = parser.parse_args(argv)
    names = args.only or list(EXPERIMENTS)
    work = Path(args.work or tempfile.mkdtemp(prefix="swin_experiments_"))
    command = (
        "OMP_NUM_THREADS="
        + os.environ.get("OMP_NUM_THREADS", "unset")
        + " python "
        + " ".join(shlex.quote(a) for a in ["scripts/run_experiments.py", *(sys.argv[1:] if argv is None else argv)])
    )
    rev, total_start = commit(), time.perf_counter()
    for name in names:
        exp = EXPERIMENTS[name]
        runs = []
        start = time.perf_counter()
        for condition in exp["conditions"]:
            if args.condition and condition != args.condition:
                continue
            for seed in args.seeds:
                cfg = run_config(name, condition, seed, work)
                t0, c0 = time.perf_counter(), time.process_time()
                summary = train(cfg)
                seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
                last = summary["metrics"][-1]
                print(
                    f"{name:8s} {condition:24s} seed {seed}: val top-1 {last['val_top1']:.1f}% (train "
                    f"{last['train_top1']:.1f}%) in {seconds:.1f} s ({cpu_seconds:.1f} s CPU)",
                    flush=True,
                )
                runs.append(dict(condition=condition, seed=seed, config=cfg.plain(), metrics=summary["metrics"],
                                 seconds=seconds, cpu_seconds=cpu_seconds))  # fmt: skip
        record = dict(
            experiment=name, question=exp["question"], task=exp["task"], chapter=exp["chapter"],
            conditions={c: kw for c, kw in exp["conditions"].items()}, command=command, commit=rev,
            **machine(),  # processor, architecture, torch, Python, threads: where bit-equality holds
            seconds=time.perf_counter() - start, runs=runs,
            not_reproducible=["img_per_s", "epoch_s", "seconds", "cpu_seconds"],
        )  # fmt: skip
        if name == "table4":
            record["paper"] = PAPER_TABLE4
        if not args.dry:
            RECORDS.mkdir(parents=True, exist_ok=True)
            path = RECORDS / f"{name}.json"
            path.write_text(json.dumps(record, indent=1) + "\n")
            print(f"wrote {path.relative_to(ROOT)} ({len(runs)} runs, {record['seconds']:.0f} s)", flush=True)
    print(f"all experiments: {time.perf_counter() - total_start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
