"""What the hook points cost when nobody listens.

    python bench/bench_hooks.py              # Swin-T, batch 8, 224x224, inference
    python bench/bench_hooks.py --quick      # a tiny model (checks the script runs)

Times the model as built (every intermediate passes through a ``HookPoint`` module) against the same model
with every hook point replaced by a plain identity object (no module call at all), interleaved.
Also times one listener on every attention probability (the explicit path) for scale.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, median, time_interleaved

import swin_viz


class _Bare:
    """What a hook point would be without the module machinery: a plain identity call."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def has_hooks(self) -> bool:
        return False


def strip_hook_points(model: torch.nn.Module) -> int:
    """Replace every HookPoint by a plain (non-module) identity; returns how many were removed."""
    names = list(swin_viz.hook_points(model))
    for name in names:
        parent_name, _, attr = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        del parent._modules[attr]
        object.__setattr__(parent, attr, _Bare())
    return len(names)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="swin_t", choices=sorted(swin_viz.CONFIGS))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)

    device = torch.device(args.device)
    torch.manual_seed(0)
    if args.quick:
        hooked = swin_viz.SwinTransformer(16, (2, 2), (2, 4), window_size=4, num_classes=10)
        args.batch, args.size, args.repeats, args.warmup = 2, 32, 2, 1
    else:
        hooked = swin_viz.create_model(args.model)
    hooked = hooked.to(device).eval()
    bare = copy.deepcopy(hooked)
    n_points = strip_hook_points(bare)
    calls = []
    handles = [p.register_forward_hook(lambda m, i, o: calls.append(1)) for p in hooked.hook_points().values()]
    x = torch.randn(args.batch, 3, args.size, args.size, device=device)
    with torch.inference_mode():
        hooked(x)
        for h in handles:
            h.remove()
        same = torch.equal(hooked(x), bare(x))

    def infer(model: torch.nn.Module):
        def step() -> None:
            with torch.inference_mode():
                model(x)

        return step

    def listened() -> None:
        with torch.inference_mode():
            hooked.run_with_cache(x, names="*.attn.probs")

    times = time_interleaved(
        {"hook points, unused": infer(hooked), "no hook points": infer(bare), "cache *.attn.probs": listened},
        args.repeats,
        args.warmup,
        device,
    )
    name = "tiny" if args.quick else args.model
    print(f"{name} inference, batch {args.batch}, {args.size}x{args.size}, {machine()}")
    print(f"{n_points} hook points, {len(calls)} hook-point calls per forward; outputs identical: {same}")
    print(f"{'variant':22s} {'median s/batch':>15s} {'img/s':>8s}")
    for name, ts in times.items():
        print(f"{name:22s} {median(ts):15.4f} {args.batch / median(ts):8.1f}")
    overhead = median(times["hook points, unused"]) / median(times["no hook points"]) - 1
    print(f"overhead of unused hook points: {overhead * 100:+.2f}%")
    return {"overhead": overhead, "identical": float(same)}


if __name__ == "__main__":
    main()
