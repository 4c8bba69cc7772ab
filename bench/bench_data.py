"""The streaming loader on this machine: resident memory against the data set's size, and images/s per worker.

    python bench/bench_data.py                 # 2k- and 20k-image folders, then decode rates with 1 and 2 workers
    python bench/bench_data.py --quick         # 200 and 2k images (checks the script runs)

1. **Memory.** Two generated JPEG folders (2k and 20k images). A fresh process indexes each, streams the same number
   of batches through :class:`swin_viz.data.StreamingLoader`, and reports its peak RSS; beside it, what decoding the
   set into memory (the in-memory path) would hold. The streaming figure must not grow with the set.
2. **Rate.** Decoded, cropped (random-resized crop, bicubic, flip) training images per second with 1 and 2 worker
   processes at 224, from 500x375 JPEGs (about ImageNet's mean size), beside the rate one GPU consumes in Swin-T
   training: the last GPU record (``bench/results/gpu_check.json``) when there is one, else timm's published RTX 3090
   training figure (647 img/s, ``shared REFERENCE.md``). Their ratio is the number of workers a GPU needs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
GPU_RECORD = ROOT / "bench" / "results" / "gpu_check.json"

_RSS = r"""
import resource, sys, torch
import swin_viz.data as D
root, batches = sys.argv[1], int(sys.argv[2])
index = D.scan_image_folder(root)
loader = D.StreamingLoader(index, 64, image_size=64, num_workers=0)
for i, _ in enumerate(loader):
    if i + 1 == batches:
        break
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def make_folder(root: Path, n: int, size: tuple[int, int], classes: int = 10) -> Path:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    for i in range(n):
        d = root / f"c{i % classes}"
        d.mkdir(parents=True, exist_ok=True)
        arr = np.roll(base, int(rng.integers(0, size[0])), axis=1)
        Image.fromarray(arr).save(d / f"{i:06d}.jpg", quality=85)
    return root


def peak_rss(root: Path, batches: int) -> int:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", _RSS, str(root), str(batches)], env=env, capture_output=True,
                         text=True, check=True)  # fmt: skip
    return int(out.stdout.split()[-1])


def decode_rate(root: Path, workers: int, seconds: float) -> float:
    import swin_viz.data as D

    loader = D.StreamingLoader(D.scan_image_folder(root), 32, image_size=224, num_workers=workers, prefetch_factor=2)
    n, start = 0, None
    for x, _ in loader:
        if start is None:  # the first batch pays the workers' start-up
            start = time.perf_counter()
            continue
        n += len(x)
        if time.perf_counter() - start > seconds:
            break
    return n / (time.perf_counter() - start)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--seconds", type=float, default=20.0, help="timed seconds per decode-rate row")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()
    sizes = (200, 2000) if args.quick else (2000, 20000)
    results: dict = {"memory": [], "rate": []}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        print(f"{'images':>7} {'streaming peak RSS':>19} {'in memory at 224 would hold':>28}")
        for n in sizes:
            root = make_folder(tmp / f"n{n}", n, (96, 72))
            rss = peak_rss(root, batches=20)
            held = n * 3 * 224 * 224
            results["memory"].append({"images": n, "peak_rss_mb": rss / 1e6, "in_memory_mb": held / 1e6})
            print(f"{n:>7} {rss / 1e6:>16.0f} MB {held / 1e6:>25.0f} MB")
        a, b = results["memory"]
        print(f"streaming RSS ratio {sizes[1]}/{sizes[0]} images: {b['peak_rss_mb'] / a['peak_rss_mb']:.3f} "
              f"(in memory: {b['in_memory_mb'] / a['in_memory_mb']:.0f})")  # fmt: skip
        root = make_folder(tmp / "big", 400 if args.quick else 1500, (500, 375))
        for workers in (1, 2):
            rate = decode_rate(root, workers, args.seconds / (4 if args.quick else 1))
            results["rate"].append({"workers": workers, "img_per_s": rate})
            print(f"{workers} worker(s): {rate:.0f} decoded and cropped img/s at 224 ({rate / workers:.0f} per worker)")
    per_worker = results["rate"][0]["img_per_s"]
    gpu, source = 647.0, "timm's RTX 3090 Swin-T training figure (REFERENCE.md)"
    if GPU_RECORD.exists():
        rec = json.loads(GPU_RECORD.read_text())
        engine = rec.get("engine", {})
        if engine.get("model_img_per_s"):
            gpu, source = engine["model_img_per_s"], f"{rec['machine']['gpu']} record of {rec['date']}"
    need = gpu / per_worker
    print(f"one GPU consumes {gpu:.0f} img/s in Swin-T training ({source}): about {need:.0f} workers of this "
          f"machine's cores at {per_worker:.0f} img/s each")  # fmt: skip
    results.update(gpu_img_per_s=gpu, gpu_source=source, workers_needed=need, cpu_count=os.cpu_count())
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
