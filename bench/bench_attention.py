"""Fused (scaled_dot_product_attention) vs explicit attention in a whole Swin forward pass.

    python bench/bench_attention.py                      # Swin-T, batch 8, 224x224, inference
    python bench/bench_attention.py --train              # forward + backward
    python bench/bench_attention.py --quick              # a tiny model, for CI to exercise the script

Prints the median time per batch of each path, images/s and the speed-up, and checks the two paths agree.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, median, parser, setup, time_interleaved


def main(argv: list[str] | None = None) -> dict[str, float]:
    p = parser(__doc__, repeats=5)
    p.add_argument("--train", action="store_true", help="time forward + backward instead of inference")
    args = p.parse_args(argv)
    model, x, device, name = setup(args)
    model.train(args.train)

    def run(impl: str):
        def step() -> None:
            model.set_attn_impl(impl)
            if args.train:
                model.zero_grad(set_to_none=True)
                model(x).float().logsumexp(-1).mean().backward()
            else:
                with torch.inference_mode():
                    model(x)

        return step

    with torch.inference_mode():
        model.eval()
        model.set_attn_impl("explicit")
        a = model(x)
        model.set_attn_impl("fused")
        b = model(x)
        model.train(args.train)
    max_diff = (a - b).abs().max().item()

    times = time_interleaved({"explicit": run("explicit"), "fused": run("fused")}, args.repeats, args.warmup, device)
    mode = "forward+backward" if args.train else "inference"
    print(
        f"{args.model if not args.quick else 'tiny'} {mode}, batch {args.batch}, {args.size}x{args.size}, {machine()}"
    )
    print(f"{'path':9s} {'median s/batch':>15s} {'img/s':>8s}")
    for name, ts in times.items():
        print(f"{name:9s} {median(ts):15.4f} {args.batch / median(ts):8.1f}")
    speedup = median(times["explicit"]) / median(times["fused"])
    print(f"speed-up fused vs explicit: {speedup:.2f}x   max |explicit - fused| logits: {max_diff:.2e}")
    return {"speedup": speedup, "max_diff": max_diff}


if __name__ == "__main__":
    main()
