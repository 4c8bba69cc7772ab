"""The GPU check: one script that leaves a record, ``bench/results/gpu_check.json``. Chapter 11 draws it.

    bash bench/gpu_check.sh            # installs the carried wheels (kornia, webdataset), then runs this script
    python bench/gpu_check.py --out bench/results/gpu_check.json

On a GPU machine (no network) it does two things within about 8 minutes:

1. **Model.** ``bench/bench_train.py``: Swin-T from swin_viz and from timm (when importable), training and
   inference, bf16, eager and compiled, batch 128 (train) / 256 (inference): img/s, peak memory, MFU, and the
   swin_viz / timm ratios.
2. **Engine.** A short run of :func:`swin_viz.train.train` with the whole recipe (random-resized crop in workers,
   RandAugment, erasing, Mixup/CutMix, label smoothing) streaming a JPEG folder generated here, and the same run on
   synthetic batches (the model-only rate of the engine): img/s, data-wait fraction, and their ratio.

It writes the machine, the versions and the date beside the figures. Without a GPU it stops with a message.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version(), "torch": torch.__version__,
                                  "cuda": torch.version.cuda}  # fmt: skip
    for name in ("timm", "torchvision", "kornia", "webdataset", "swin_viz"):
        try:
            out[name] = getattr(__import__(name), "__version__", "installed")
        except ImportError:
            out[name] = None
    return out


def engine_runs(workers: int, steps: int, batch: int, folder_images: int, model: str = "swin_t",
                image_size: int = 224, device: str = "auto") -> dict:  # fmt: skip
    """Swin-T (or ``model``) with the whole recipe: streaming a generated JPEG folder, then synthetic batches, both
    ``steps`` steps of ``batch``; returns img/s and data-wait fractions (the first logging window, which pays
    start-up, left out) and the rows of ``steps.jsonl``."""
    from bench_data import make_folder

    from swin_viz.train import TrainConfig, train

    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        for split, n in (("train", folder_images), ("val", max(batch, 20))):  # every class in both splits
            make_folder(tmp / "data" / split, n, (500, 375))
        results["folder_s"] = time.perf_counter() - t0
        common = dict(model=model, image_size=image_size, epochs=1, batch_size=batch, max_steps_per_epoch=steps,
                      warmup_epochs=0, log_every=max(1, steps // 6), workers=workers, compile="off", progress=False,
                      device=device)  # fmt: skip
        for name, extra in (("stream", dict(data="folder", data_root=str(tmp / "data"), loader="stream")),
                            ("synthetic", dict(data="synthetic"))):  # fmt: skip
            out = tmp / f"run-{name}"
            t0 = time.perf_counter()
            summary = train(TrainConfig(out=str(out), **common, **extra))
            rows = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines()]
            steady = rows[1:] or rows  # the first window pays start-up
            results[name] = {
                "wall_s": time.perf_counter() - t0,
                "img_per_s": sum(r["img_per_s"] for r in steady) / len(steady),
                "data_wait": sum(r["data_wait"] for r in steady) / len(steady),
                "mfu": steady[-1]["mfu"], "peak_mem_gb": steady[-1]["peak_mem_gb"], "rows": rows,
                "data": summary["data"],
            }  # fmt: skip
    results["stream_over_model"] = results["stream"]["img_per_s"] / results["synthetic"]["img_per_s"]
    results["model_img_per_s"] = results["synthetic"]["img_per_s"]
    results["workers"] = workers
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=HERE / "results" / "gpu_check.json")
    p.add_argument("--workers", type=int, default=min(14, (os.cpu_count() or 2) - 2))
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--folder-images", type=int, default=4000)
    p.add_argument("--skip-model", action="store_true", help="only the engine part")
    args = p.parse_args(argv)
    if not torch.cuda.is_available():
        print("gpu_check: no CUDA device here; run it on a GPU machine (see bench/gpu_check.sh)", file=sys.stderr)
        return 2
    record: dict = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"gpu": torch.cuda.get_device_name(0), "gpus": torch.cuda.device_count(),
                    "cpus": os.cpu_count(), "platform": platform.platform()},
        "versions": versions(),
        "command": "python bench/gpu_check.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    }  # fmt: skip
    t0 = time.perf_counter()
    if not args.skip_model:
        import bench_train

        record["model"] = bench_train.main(["--batch-train", "128", "--batch-infer", "256", "--iters", "10"])
    record["model_s"] = time.perf_counter() - t0
    record["engine"] = engine_runs(args.workers, args.steps, args.batch, args.folder_images)
    record["total_s"] = time.perf_counter() - t0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1, default=str))
    e = record["engine"]
    print(f"engine: streaming {e['stream']['img_per_s']:.0f} img/s (data wait {100 * e['stream']['data_wait']:.0f}%)"
          f", synthetic {e['synthetic']['img_per_s']:.0f} img/s, ratio {e['stream_over_model']:.2f}; "
          f"record -> {args.out} ({record['total_s']:.0f} s)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
