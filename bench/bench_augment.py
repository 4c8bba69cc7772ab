"""Host time of the augmentation: the recipe's RandAugment per image (in the loader's workers) and random erasing on
the batch (in the training process), against the kornia batch augmentation it replaced.

    python bench/bench_augment.py            # batch 128: 8x8 and 224x224 images
    python bench/bench_augment.py --quick    # fewer repeats (checks the script runs)

* **kornia (before).** What ``swin_viz.data.BatchAugment`` did until it was removed: kornia's ``RandAugment(n=2,
  m=27)`` on chunks of 16 images (one draw of operations per chunk) and kornia's ``RandomErasing``, on the whole
  batch in the training process. Skipped when kornia is not installed (it is no longer a requirement).
* **swin_viz (now).** :class:`swin_viz.data.RandAugment` on one PIL image at a time, as a loader worker runs it
  (milliseconds per image; none of it in the training process), and :class:`swin_viz.data.RandomErasing` on the
  batch, the only part left in the training process.

On the CPU, the time of a call is its host time. On 8x8 images the computation is negligible, so a call's time is
almost all dispatch: the cost a GPU cannot hide.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch


def median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def kornia_batch():
    """The removed BatchAugment, rebuilt from kornia: RandAugment(n=2, m=27) per chunk of 16, then erasing."""
    from kornia.augmentation import RandomErasing
    from kornia.augmentation.auto import RandAugment

    ra = RandAugment(n=2, m=27)
    er = RandomErasing(p=0.25, scale=(0.02, 1 / 3), ratio=(0.3, 3.3), value=0.0)

    def run(x: torch.Tensor) -> torch.Tensor:
        mags = (9 + 0.5 * torch.randn(-(-len(x) // 16))).clamp(0.1, 9.9)
        parts = []
        for i, part in enumerate(x.split(16)):
            ra.m = float(3 * mags[i])
            parts.append(ra(part))
        return er(torch.cat(parts).clamp_(0, 1))

    return run


def rows_at(size: int, B: int, repeats: int, kornia, ra, erasing) -> list[tuple[str, float]]:
    """The timings at one image size: a random batch for the batch operations, scikit-image's astronaut resized
    (16 copies) for RandAugment."""
    import skimage.data
    from PIL import Image

    import swin_viz.data as D

    x = torch.rand(B, 3, size, size)
    xn = D.normalize(x)
    rows = []
    if kornia is not None:
        rows.append(("kornia BatchAugment (before), per batch, training process",
                     median_ms(lambda: kornia(x), repeats)))
    rows.append(("swin_viz RandomErasing, per batch, training process", median_ms(lambda: erasing(xn), repeats)))
    photo = Image.fromarray(skimage.data.astronaut()).resize((size, size), Image.Resampling.BICUBIC)
    rngs = iter(np.random.default_rng([0, i]) for i in range(10**6))
    per_image = median_ms(lambda: [ra(photo, next(rngs)) for _ in range(16)], repeats) / 16
    rows.append(("swin_viz RandAugment, per image, in a worker", per_image))
    rows.append(("  the same for a batch, spread over the workers", per_image * B))
    return rows


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    if args.quick:
        args.repeats = 2
    import swin_viz.data as D

    torch.manual_seed(0)
    B = args.batch
    results: dict = {"batch": B, "threads": torch.get_num_threads(), "torch": torch.__version__, "rows": []}
    print(f"batch {B}, CPU, {torch.get_num_threads()} thread(s); median of {args.repeats} calls")
    try:
        kornia = kornia_batch()
    except ImportError as e:
        kornia = None
        print(f"kornia rows skipped: {e}")
    ra = D.RandAugment.from_spec("rand-m9-mstd0.5-inc1")
    erasing = D.RandomErasing(0.25)
    for size in (8, 224):
        for name, ms in rows_at(size, B, args.repeats, kornia, ra, erasing):
            print(f"{size:>3}x{size:<3} {name:58s} {ms:9.2f} ms")
            results["rows"].append({"size": size, "what": name.strip(), "ms": ms})
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
    sys.exit(0)
