"""The GPU check: one call, at most 8 minutes, leaves a record, ``bench/results/gpu_check.json``. Chapter 12 draws it.

    bash bench/gpu_check.sh                        # installs the carried wheels (webdataset), then runs this script
    python bench/gpu_check.py --out bench/results/gpu_check.json
    python bench/gpu_check.py --smoke --out /tmp/smoke.json   # every part at toy size on the CPU (run in CI)
    python bench/gpu_check.py --parts data --out /tmp/data.json  # the data rate alone, full size, on any machine

Three parts, in this order, the record rewritten (atomically) after each, so a failure keeps what was measured
(a part that fails records its error and the next one runs; the exit status is 1 then):

1. **Data.** Photographs bundled with scikit-image, cut and resized to 500 x 375 (about ImageNet's mean size) and
   saved as JPEG, are decoded, cropped (random-resized crop, flip) and augmented (the recipe's RandAugment,
   :mod:`swin_viz.data.rand_augment`) in one process: photographs per second per worker, with and without
   RandAugment, and with the loader's ``--workers`` processes together. Beside it, the workers one GPU needs at
   timm's published Swin-T training rate, 646.76 img/s (``swin_tiny_patch4_window7_224``, RTX 3090, AMP, batch 256:
   timm's ``results/benchmark-train-amp-nchw-pt112-cu113-rtx3090.csv``, quoted in the project's REFERENCE.md), and
   at this GPU's own rate once part 2 has measured it.
2. **Engine.** :func:`swin_viz.train.train` on its default path (``torch.compile`` and bfloat16 on CUDA) with the
   whole recipe, ``--steps`` (120) steps of batch 128, streaming a folder of those photographs; the same without
   RandAugment and random erasing (so their cost shows); and on synthetic batches (the engine's model-only rate).
   img/s and data-wait are weighted means over the logged windows after the first ``--skip-steps`` (20) steps:
   total images over total time, data-wait weighted by time.
3. **Model.** ``bench/bench_train.py``: Swin-T from swin_viz and from timm (when importable), training and
   inference, bf16, eager and compiled: img/s, peak memory, MFU, and the swin_viz / timm ratios.

Before each part, if ``--budget-s`` (450) has passed, the part is recorded as skipped. It writes the machine, the
versions and the date beside the figures. Without a GPU (and without ``--smoke``) it stops with a message.
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
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

TIMM_TRAIN_RATE = 646.76
TIMM_TRAIN_SOURCE = ("timm's published Swin-T training rate: swin_tiny_patch4_window7_224, RTX 3090, AMP, batch 256 "
                     "(huggingface/pytorch-image-models results/benchmark-train-amp-nchw-pt112-cu113-rtx3090.csv; "
                     "REFERENCE.md)")  # fmt: skip
RECIPE = "rand-m9-mstd0.5-inc1"
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry")


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version(), "torch": torch.__version__,
                                  "cuda": torch.version.cuda}  # fmt: skip
    for name in ("timm", "torchvision", "PIL", "webdataset", "swin_viz"):
        try:
            out[name] = getattr(__import__(name), "__version__", "installed")
        except ImportError:
            out[name] = None
    return out


# ================================================================================================ photographs
def photo_folder(root: Path, n_train: int, n_val: int, size: tuple[int, int] = (500, 375), classes: int = 10,
                 distinct: int = 48) -> Path:  # fmt: skip
    """``root/train`` and ``root/val`` ImageFolder trees of JPEG photographs (scikit-image's bundled colour images).

    ``distinct`` different files are cut from the photographs (a random 60-100% box, half of them mirrored),
    resized to ``size`` (bicubic) and saved (quality 90); the folders hold ``n_train`` and ``n_val`` hard links to
    them (copies where links are refused), dealt round-robin to ``classes`` classes. Decoding a link costs what
    decoding a file costs.
    """
    import skimage.data
    from PIL import Image

    rng = np.random.default_rng(0)
    sources = []
    for name in PHOTOS:  # bundled with scikit-image; one that a version would fetch from the network is left out
        try:
            sources.append(Image.fromarray(getattr(skimage.data, name)()).convert("RGB"))
        except Exception as e:  # any failure of the fetcher: no network, no cache
            print(f"gpu_check: skimage.data.{name} is not available here ({type(e).__name__}); left out")
    if not sources:
        raise RuntimeError(f"none of scikit-image's photographs {PHOTOS} is available")
    pool = root / "pool"
    pool.mkdir(parents=True, exist_ok=True)
    files = []
    for k in range(distinct):
        im = sources[k % len(sources)]
        f = rng.uniform(0.6, 1.0)
        w, h = int(im.width * f), int(im.height * f)
        x0, y0 = int(rng.integers(0, im.width - w + 1)), int(rng.integers(0, im.height - h + 1))
        out = im.resize(size, Image.Resampling.BICUBIC, box=(x0, y0, x0 + w, y0 + h))
        if k % 2:
            out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        files.append(pool / f"{k:03d}.jpg")
        out.save(files[-1], quality=90)
    for split, n in (("train", n_train), ("val", n_val)):
        for i in range(n):
            d = root / split / f"c{i % classes}"
            d.mkdir(parents=True, exist_ok=True)
            try:
                os.link(files[i % distinct], d / f"{i:06d}.jpg")
            except OSError:
                (d / f"{i:06d}.jpg").write_bytes(files[i % distinct].read_bytes())
    return root


# ====================================================================================================== parts
def per_worker_rates(root: Path, size: int, seconds: float, randaugment: str) -> tuple[float, float]:
    """Photographs per second of one process (one worker): decode, random-resized crop and flip, without and with
    RandAugment. The two alternate in slices of a quarter of a second, so a machine whose load drifts slows both
    alike; ``seconds`` of each in all."""
    import swin_viz.data as D
    from swin_viz.data.transforms import sample_rng

    index = D.scan_image_folder(root)
    variants = (None, D.RandAugment.from_spec(randaugment))
    counts, times, n = [0, 0], [0.0, 0.0], 0
    while min(times) < seconds:
        for k, ra in enumerate(variants):
            t0, m = time.perf_counter(), 0
            while time.perf_counter() - t0 < min(0.25, seconds) or m < 2:
                D.train_crop(D.decode_rgb(index.path(n % len(index))), size, sample_rng(0, 0, n), True, ra)
                m, n = m + 1, n + 1
            counts[k], times[k] = counts[k] + m, times[k] + time.perf_counter() - t0
    return counts[0] / times[0], counts[1] / times[1]


def loader_rate(root: Path, size: int, seconds: float, workers: int, batch: int) -> float:
    """Photographs per second of a :class:`StreamingLoader` with ``workers`` processes (the first batch, which pays
    the workers' start-up, left out)."""
    import swin_viz.data as D

    loader = D.StreamingLoader(D.scan_image_folder(root), batch, image_size=size, num_workers=workers,
                               prefetch_factor=2, randaugment=RECIPE)  # fmt: skip
    n, start = 0, None
    for x, _ in loader:
        if start is None:
            start = time.perf_counter()
            continue
        n += len(x)
        if time.perf_counter() - start > seconds:
            break
    assert start is not None and n > 0, "the folder is too small for a timed batch"
    return n / (time.perf_counter() - start)


def data_part(root: Path, size: int, seconds: float, workers: int, batch: int) -> dict[str, Any]:
    plain, augmented = per_worker_rates(root / "train", size, seconds, RECIPE)
    together = loader_rate(root / "train", size, seconds, workers, batch)
    return {
        "what": f"JPEG photographs 500x375 -> decode, random-resized crop {size} + flip (+ RandAugment {RECIPE})",
        "per_worker_img_per_s": augmented, "per_worker_without_randaugment": plain,
        "randaugment_ms_per_image": 1e3 * (1 / augmented - 1 / plain),
        "loader_workers": workers, "loader_img_per_s": together,
        "gpu_rate_img_per_s": TIMM_TRAIN_RATE, "gpu_rate_source": TIMM_TRAIN_SOURCE,
        "workers_needed": TIMM_TRAIN_RATE / augmented,
    }  # fmt: skip


def weighted(rows: list[dict[str, Any]], batch: int, skip_steps: int) -> dict[str, Any]:
    """Weighted means over the logged windows that start at or after step ``skip_steps`` (all but the first window
    when none does): img/s = total images / total seconds, data-wait weighted by each window's seconds."""
    windows, prev = [], 0
    for r in rows:
        n = (r["step"] - prev) * batch
        windows.append({"start": prev, "end": r["step"], "images": n, "seconds": n / r["img_per_s"],
                        "wait": r["data_wait"]})  # fmt: skip
        prev = r["step"]
    kept = [w for w in windows if w["start"] >= skip_steps] or windows[1:] or windows
    images, seconds = sum(w["images"] for w in kept), sum(w["seconds"] for w in kept)
    return {"img_per_s": images / seconds, "data_wait": sum(w["wait"] * w["seconds"] for w in kept) / seconds,
            "timed_steps": [kept[0]["start"] + 1, kept[-1]["end"]], "timed_images": images}  # fmt: skip


def engine_part(root: Path, steps: int, batch: int, workers: int, skip_steps: int, log_every: int, model: str,
                image_size: int, device: str, on_run: Callable[[str, dict], None]) -> dict[str, Any]:  # fmt: skip
    """Three runs of :func:`swin_viz.train.train` on its default path (compile and precision ``auto``)."""
    from swin_viz.train import TrainConfig, train

    common = dict(model=model, image_size=image_size, epochs=1, batch_size=batch, max_steps_per_epoch=steps,
                  warmup_epochs=0, log_every=log_every, workers=workers, progress=False, device=device)  # fmt: skip
    stream = dict(data="folder", data_root=str(root), loader="stream")
    runs = {"stream": stream, "stream_without_randaugment": dict(stream, randaugment="", reprob=0.0),
            "synthetic": dict(data="synthetic")}  # fmt: skip
    results: dict[str, Any] = {}
    for name, extra in runs.items():
        out = root.parent / f"run-{name}"
        t0 = time.perf_counter()
        cfg = TrainConfig(out=str(out), **common, **extra)
        summary = train(cfg)
        rows = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines()]
        means = weighted(rows, batch, skip_steps)
        results[name] = {
            "wall_s": time.perf_counter() - t0, **means, "mfu": rows[-1].get("mfu"),
            "peak_mem_gb": rows[-1].get("peak_mem_gb"), "rows": rows, "data": summary["data"],
            "randaugment": cfg.randaugment if cfg.augment else "", "reprob": cfg.reprob if cfg.augment else 0.0,
            "compiled": cfg.compile == "on" or (cfg.compile == "auto" and torch.cuda.is_available()
                                                and device != "cpu"),
        }  # fmt: skip
        on_run(name, results)
    model_rate = results["synthetic"]["img_per_s"]
    results["model_img_per_s"] = model_rate
    results["stream_over_model"] = results["stream"]["img_per_s"] / model_rate if model_rate else None
    results["randaugment_cost"] = (1 - results["stream"]["img_per_s"] / results["stream_without_randaugment"]
                                   ["img_per_s"])  # fmt: skip
    results["steps"], results["batch"], results["workers"], results["skip_steps"] = steps, batch, workers, skip_steps
    return results


# ======================================================================================================= main
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=None, help="the record (default bench/results/gpu_check.json on a "
                   "GPU; otherwise gpu_check-smoke.json or gpu_check-cpu.json in the temporary folder)")  # fmt: skip
    p.add_argument("--workers", type=int, default=max(1, min(14, (os.cpu_count() or 2) - 2)))
    p.add_argument("--steps", type=int, default=120)
    p.add_argument("--skip-steps", type=int, default=20, help="steps left out of the means (compilation, warm-up)")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--budget-s", type=float, default=450.0, help="parts that would start after this are skipped")
    p.add_argument("--data-seconds", type=float, default=8.0, help="timed seconds per data-rate figure")
    p.add_argument("--skip-model", action="store_true", help="leave out part 3 (bench_train)")
    p.add_argument("--parts", default="data,engine,model", help="which parts to run (data alone needs no GPU)")
    p.add_argument("--smoke", action="store_true", help="every part at toy size on the CPU (checks the script runs)")
    args = p.parse_args(argv)
    parts = set(args.parts.split(","))
    if args.skip_model:
        parts.discard("model")
    if not parts <= {"data", "engine", "model"}:
        p.error(f"--parts: choose among data, engine, model; got {args.parts!r}")
    if not args.smoke and not torch.cuda.is_available() and parts != {"data"}:
        print("gpu_check: no CUDA device here; run it on a GPU machine (see bench/gpu_check.sh), or --smoke",
              file=sys.stderr)  # fmt: skip
        return 2
    if args.out is None:  # only a GPU run may replace the committed record
        gpu_run = torch.cuda.is_available() and not args.smoke
        args.out = HERE / "results" / "gpu_check.json" if gpu_run else Path(tempfile.gettempdir()) / (
            "gpu_check-smoke.json" if args.smoke else "gpu_check-cpu.json")  # fmt: skip
    if args.smoke:
        size, model, device, steps, batch, log_every, skip = 32, "small", "cpu", 4, 4, 1, 1
        n_train, workers, seconds = 24, 1, 0.5
    else:
        size, model, device, steps, batch, log_every, skip = 224, "swin_t", "auto", args.steps, args.batch, 10, \
            args.skip_steps  # fmt: skip
        n_train, workers, seconds = (steps + 2) * batch, args.workers, args.data_seconds

    from swin_viz.atomic import atomic_write_text

    cuda = torch.cuda.is_available() and not args.smoke
    record: dict[str, Any] = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "smoke": args.smoke,
        "machine": {"gpu": torch.cuda.get_device_name(0) if cuda else None,
                    "gpus": torch.cuda.device_count() if cuda else 0,
                    "cpus": os.cpu_count(), "platform": platform.platform()},
        "versions": versions(),
        "command": "python bench/gpu_check.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "parts": {},
    }  # fmt: skip
    t_start = time.perf_counter()

    def save() -> None:
        record["total_s"] = time.perf_counter() - t_start
        args.out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(args.out, json.dumps(record, indent=1, default=str))

    def part(name: str, fn: Callable[[], dict[str, Any]]) -> None:
        t0 = time.perf_counter()
        if t0 - t_start > args.budget_s:
            record["parts"][name] = {"status": "skipped", "why": f"time budget of {args.budget_s:.0f} s spent"}
        else:
            try:
                record[name] = fn()
                record["parts"][name] = {"status": "ok", "seconds": time.perf_counter() - t0}
            except Exception as e:  # keep what was measured; record why this part failed
                traceback.print_exc()
                record["parts"][name] = {"status": "failed", "error": f"{type(e).__name__}: {e}",
                                         "seconds": time.perf_counter() - t0}  # fmt: skip
        save()
        print(f"gpu_check: part {name}: {record['parts'][name]['status']} -> {args.out}", flush=True)

    save()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "photos"
        t0 = time.perf_counter()
        if parts == {"data"}:
            n_train = min(n_train, 4 * batch)
        photo_folder(root, n_train, max(batch, 20), distinct=12 if args.smoke else 48)
        record["folder_s"] = time.perf_counter() - t0
        if "data" in parts:
            part("data", lambda: data_part(root, size, seconds, workers, batch))
        if "data" in record:
            d = record["data"]
            print(f"data: {d['per_worker_img_per_s']:.1f} photographs/s per worker decoded, cropped and augmented "
                  f"({d['per_worker_without_randaugment']:.1f} without RandAugment; RandAugment "
                  f"{d['randaugment_ms_per_image']:.1f} ms/image); {d['loader_workers']} workers together "
                  f"{d['loader_img_per_s']:.0f}/s. At {TIMM_TRAIN_RATE} img/s ({TIMM_TRAIN_SOURCE}) one GPU needs "
                  f"{d['workers_needed']:.1f} such workers", flush=True)  # fmt: skip

        def on_run(name: str, partial: dict[str, Any]) -> None:
            record["engine"] = partial
            save()

        if "engine" in parts:
            part("engine", lambda: engine_part(root, steps, batch, workers, skip, log_every, model, size, device,
                                               on_run))  # fmt: skip
        if record["parts"].get("engine", {}).get("status") == "ok":
            e = record["engine"]
            if "data" in record and e["model_img_per_s"]:
                record["data"]["workers_needed_this_gpu"] = e["model_img_per_s"] / record["data"][
                    "per_worker_img_per_s"]  # fmt: skip
            save()
            print(f"engine: streaming {e['stream']['img_per_s']:.0f} img/s (data wait "
                  f"{100 * e['stream']['data_wait']:.0f}%), without RandAugment and erasing "
                  f"{e['stream_without_randaugment']['img_per_s']:.0f}, synthetic {e['synthetic']['img_per_s']:.0f};"
                  f" stream / model {e['stream_over_model']:.2f}", flush=True)  # fmt: skip
    if "model" in parts:

        def model_part() -> dict[str, Any]:
            import bench_train

            if args.smoke:
                return bench_train.main(["--quick", "--device", "cpu", "--compile", "off"])
            return bench_train.main(["--batch-train", "128", "--batch-infer", "256", "--iters", "20"])

        part("model", model_part)
    failed = [k for k, v in record["parts"].items() if v["status"] == "failed"]
    print(f"gpu_check: record -> {args.out} ({record['total_s']:.0f} s)" + (f"; failed: {failed}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
