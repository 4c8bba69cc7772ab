"""Fused (scaled_dot_product_attention) vs explicit attention in a whole Swin forward pass.

    python bench/bench_attention.py                      # Swin-T, batch 8, 224x224, inference
    python bench/bench_attention.py --train              # forward + backward
    python bench/bench_attention.py --quick              # a tiny model, for CI to exercise the script

Prints the median time per batch of each path, images/s and the speed-up, and checks the two paths agree.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, median, time_interleaved

import swin_viz


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="swin_t", choices=sorted(swin_viz.CONFIGS))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--train", action="store_true", help="time forward + backward instead of inference")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true", help="tiny model and input (checks the script runs)")
    args = parser.parse_args(argv)

    device = torch.device(args.device)
    torch.manual_seed(0)
    if args.quick:
        model = swin_viz.SwinTransformer(16, (2, 2), (2, 4), window_size=4, num_classes=10)
        args.batch, args.size, args.repeats, args.warmup = 2, 32, 2, 1
    else:
        model = swin_viz.create_model(args.model)
    model = model.to(device).train(args.train)
    x = torch.randn(args.batch, 3, args.size, args.size, device=device)

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
