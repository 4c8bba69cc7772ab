"""Timing helpers shared by the benchmarks: interleaved repeats, medians, a plain-text table."""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

import swin_viz


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_interleaved(
    fns: dict[str, Callable[[], object]], repeats: int, warmup: int, device: torch.device
) -> dict[str, list[float]]:
    """Run each function ``warmup`` times, then ``repeats`` rounds of one call each, alternating, so slow drift
    of the machine (another process, thermal state) hits every variant alike. Returns seconds per call."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    sync(device)
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            sync(device)
            start = time.perf_counter()
            fn()
            sync(device)
            times[name].append(time.perf_counter() - start)
    return times


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def machine() -> str:
    threads = torch.get_num_threads()
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name()} (torch {torch.__version__})"
    return f"CPU, {threads} threads (torch {torch.__version__})"


def parser(doc: str | None, repeats: int) -> argparse.ArgumentParser:
    """The options every benchmark takes: model, batch, size, repeats, warm-up, device, --quick."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="swin_t", choices=sorted(swin_viz.CONFIGS))
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--repeats", type=int, default=repeats)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--quick", action="store_true", help="tiny model and input (checks the script runs)")
    return p


def setup(args: argparse.Namespace) -> tuple[swin_viz.SwinTransformer, torch.Tensor, torch.device, str]:
    """Seeded model and input batch on the device; ``--quick`` swaps in a tiny model and shrinks the run."""
    device = torch.device(args.device)
    torch.manual_seed(0)
    if args.quick:
        model = swin_viz.SwinTransformer(embed_dim=16, depths=(2, 2), num_heads=(2, 4), window_size=4, num_classes=10)
        args.batch, args.size, args.repeats, args.warmup = 2, 32, 2, 1
    else:
        model = swin_viz.create_model(args.model)
    x = torch.randn(args.batch, 3, args.size, args.size, device=device)
    return model.to(device), x, device, "tiny" if args.quick else args.model
