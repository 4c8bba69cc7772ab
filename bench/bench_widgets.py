"""Latency of every explorer: time from a control change to the updated figure, p50 / p95.

    python bench/bench_widgets.py            # every explorer, its BENCH_CHANGES replayed 3 times
    python bench/bench_widgets.py --quick    # one pass (checks the script runs)

Each explorer module lists ``BENCH_CHANGES``, control changes a reader would make; the explorer records the
seconds from the change to the updated ``FigureWidget`` (clamp + library computation + figure update). The
first draw (model forward passes, image loading) happens at construction and is reported separately, as is
the time to precompute the static (kernel-free) slider figure. Target: p95 <= 100 ms on the 2-core machine.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from swin_viz.viz import EXPLORERS


def main(argv: list[str] | None = None) -> dict[str, tuple[float, float]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", nargs="*", default=None, help="explorer names to run")
    args = parser.parse_args(argv)
    passes = 1 if args.quick else args.passes

    print(f"{'explorer':22s} {'first draw s':>12s} {'changes':>8s} {'p50 ms':>8s} {'p95 ms':>8s} {'max ms':>8s} "
          f"{'static s':>9s} {'static MB':>10s}")  # fmt: skip
    results = {}
    for name, entry in EXPLORERS.items():
        if args.only and name not in args.only:
            continue
        start = time.perf_counter()
        ex = entry.explorer()
        first = time.perf_counter() - start
        for _ in range(passes):
            for change in entry.changes:
                ex.set(**change)
        ms = np.array(ex.timings) * 1e3
        p50, p95 = np.percentile(ms, [50, 95])
        start = time.perf_counter()
        static = entry.static()
        static_s = time.perf_counter() - start
        mb = len(static.to_json()) / 1e6
        print(f"{name:22s} {first:12.2f} {len(ms):8d} {p50:8.1f} {p95:8.1f} {ms.max():8.1f} {static_s:9.2f} {mb:10.2f}")
        results[name] = (float(p50), float(p95))
    worst = max(p95 for _, p95 in results.values())
    print(f"worst p95: {worst:.1f} ms (target <= 100 ms)")
    return results


if __name__ == "__main__":
    main()
