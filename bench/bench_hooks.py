"""What the hook points cost when nobody listens.

    python bench/bench_hooks.py              # Swin-T, batch 8, 224x224, inference
    python bench/bench_hooks.py --quick      # a tiny model (checks the script runs)

Times the model as built (every intermediate passes through a ``HookPoint`` module) against the same model
with every hook point replaced by a plain identity object (no module call at all), interleaved.
Also times one listener on every attention probability (the explicit path) for scale.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, median, parser, setup, time_interleaved

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
    args = parser(__doc__, repeats=7).parse_args(argv)
    hooked, x, device, name = setup(args)
    hooked.eval()
    bare = copy.deepcopy(hooked)
    n_points = strip_hook_points(bare)
    calls = []
    handles = [p.register_forward_hook(lambda m, i, o: calls.append(1)) for p in hooked.hook_points().values()]
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
            hooked.run_with_cache(x, names="*.attn.hook_probs")

    times = time_interleaved(
        {"hook points, unused": infer(hooked), "no hook points": infer(bare), "cache *.attn.hook_probs": listened},
        args.repeats,
        args.warmup,
        device,
    )
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
