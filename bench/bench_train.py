"""Training and inference throughput of swin_viz's Swin-T against timm's, eager and compiled, on one device.

    python bench/bench_train.py                          # Swin-T vs timm swin_tiny_patch4_window7_224
    python bench/bench_train.py --compile on --json out.json
    python bench/bench_train.py --quick --device cpu     # a tiny swin_viz-only model, for CI to exercise the script

Each row is one model x mode x variant:

* **train** -- forward + backward + AdamW step under bf16 autocast, cross-entropy on a synthetic batch made on the
  device, ``optimizer.zero_grad(set_to_none=True)`` every step (default batch 128);
* **infer** -- forward under ``torch.inference_mode()`` and bf16 autocast (default batch 256);
* **eager** or **compiled** (``torch.compile(model)``; the warm-up includes the compilation, and a compilation
  failure is reported in its row instead of stopping the script).

Rows run one after another, each on a freshly built, seeded model that is freed before the next row starts, so a
row's peak memory (CUDA: ``max_memory_allocated`` over the timed steps -- parameters, gradients, AdamW state,
activations and the batch; GB = 1e9 bytes) is its own. The two models alternate within every (mode, variant), so
slow drift of the machine hits both alike. Throughput is the batch over the median time of one step (the device
synchronised around each step).

MFU (model FLOP utilisation) = images/s x FLOPs per image / the device's peak dense bf16 FLOP/s. FLOPs per image
are the matmul FLOPs of :func:`swin_viz.count_macs` (2 per MAC; LayerNorms, softmax and the rest not counted) for
inference, and 3x that for training (backward ~= 2x forward: a gradient for the input and one for the weights of
every matmul). timm's Swin-T is the same architecture, so the same count is used for it (the script prints both
parameter counts as a check).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, median, sync, time_interleaved

import swin_viz
from swin_viz.train.runtime import PEAK_TFLOPS

TIMM_NAMES = {
    "swin_t": "swin_tiny_patch4_window7_224",
    "swin_s": "swin_small_patch4_window7_224",
    "swin_b": "swin_base_patch4_window7_224",
    "swin_l": "swin_large_patch4_window7_224",
}


TARGETS = {"eager": 1.0, "compiled": 1.3}
"""swin_viz / timm images/s that each variant aims for."""


def peak_tflops(device_name: str, override: float | None = None) -> tuple[float | None, str]:
    """The device's peak dense bf16 TFLOP/s and where it came from; ``None`` for a device not in the table."""
    if override is not None:
        return override, "--peak-tflops"
    for key, tflops, note in PEAK_TFLOPS:
        if key.lower() in device_name.lower():
            return tflops, f"table entry {key!r}" + (f", {note}" if note else "")
    return None, f"{device_name!r} is not in the table"


def flops_per_image(model: swin_viz.SwinTransformer, size: int, train: bool) -> int:
    """Matmul FLOPs for one ``size x size`` image: ``2 x count_macs(...).macs.matmul`` forward, 3x that to train
    (forward + backward ~= 3x forward)."""
    return (3 if train else 1) * swin_viz.count_macs(model, size).macs.flops


def mfu(img_per_s: float | None, flops: int, peak: float | None) -> float | None:
    """Achieved FLOP/s over the peak, as a fraction; ``None`` when either is unknown."""
    if img_per_s is None or peak is None:
        return None
    return img_per_s * flops / (peak * 1e12)


def build_parser() -> argparse.ArgumentParser:
    # common.parser has one --batch and --repeats; this benchmark needs two batches and --iters, so it has its own.
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="swin_t", choices=sorted(TIMM_NAMES))
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batch-train", type=int, default=128)
    p.add_argument("--batch-infer", type=int, default=256)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--iters", type=int, default=10, help="timed steps per row")
    p.add_argument("--warmup", type=int, default=3, help="warm-up steps of eager rows (at least 1 is run)")
    p.add_argument(
        "--warmup-compiled", type=int, default=10, help="warm-up steps of compiled rows, compilation included"
    )
    p.add_argument("--compile", choices=("off", "on", "both"), default=None, help="default: both on CUDA, off on CPU")
    p.add_argument("--peak-tflops", type=float, default=None, help="the device's peak dense bf16 TFLOP/s, for MFU")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    p.add_argument("--quick", action="store_true", help="tiny swin_viz-only model (checks the script runs)")
    return p


def tiny_model() -> swin_viz.SwinTransformer:
    return swin_viz.SwinTransformer(embed_dim=16, depths=(2, 2), num_heads=(2, 4), window_size=4, num_classes=10)


def timm_builder(
    args: argparse.Namespace, drop_path_rate: float
) -> tuple[Callable[[], nn.Module] | None, str, int | None]:
    """A function building timm's model, its name and version, and its parameter count; ``(None, reason, None)``
    when timm's rows are skipped."""
    try:
        import timm
    except Exception as e:  # ImportError, or a broken install
        return None, f"timm is not importable ({type(e).__name__}: {e})", None
    if args.quick:
        return None, "--quick runs a tiny swin_viz model only", None
    name = TIMM_NAMES[args.model]
    kwargs: dict[str, object] = {"pretrained": False, "drop_path_rate": drop_path_rate}
    if args.size != 224:
        kwargs["img_size"] = args.size
    try:  # on the CPU (timm's constructors call .tolist(), which the meta device cannot do); fails once, not per row
        model = timm.create_model(name, **kwargs)
    except Exception as e:
        return None, f"timm.create_model({name!r}) failed ({type(e).__name__}: {e})", None
    params = sum(p.numel() for p in model.parameters())
    try:
        fused = model.layers[0].blocks[0].attn.fused_attn  # timm's switch to scaled_dot_product_attention
    except (AttributeError, IndexError, TypeError):
        fused = "?"
    return (lambda: timm.create_model(name, **kwargs)), f"timm {timm.__version__} {name} (fused_attn={fused})", params


def make_step(model: nn.Module, fn: nn.Module, train: bool, batch: int, args: argparse.Namespace, num_classes: int):
    """One training or inference step of ``fn`` (``model`` itself or ``torch.compile(model)``) on synthetic data."""
    device = torch.device(args.device)
    x = torch.randn(batch, 3, args.size, args.size, device=device)
    if not train:

        def infer() -> None:
            with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16):
                fn(x)

        return infer

    y = torch.randint(0, num_classes, (batch,), device=device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)

    def train_step() -> None:
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16):
            loss = F.cross_entropy(fn(x), y)
        loss.backward()
        opt.step()

    return train_step


def run_row(
    name: str, build: Callable[[], nn.Module], mode: str, variant: str, args: argparse.Namespace, num_classes: int
) -> dict[str, object]:
    """Build, warm up and time one row; a failure of a compiled row is caught and kept in ``row["error"]``."""
    device = torch.device(args.device)
    train = mode == "train"
    batch = args.batch_train if train else args.batch_infer
    row: dict[str, object] = {"model": name, "mode": mode, "variant": variant, "batch": batch, "img_per_s": None,
                              "median_s": None, "first_call_s": None, "peak_mem_gb": None, "mfu_pct": None,
                              "error": None}  # fmt: skip
    torch.manual_seed(0)
    model = build().to(device).train(train)
    fn = torch.compile(model) if variant == "compiled" else model
    step = make_step(model, fn, train, batch, args, num_classes)
    warmup = args.warmup_compiled if variant == "compiled" else args.warmup
    try:
        sync(device)
        start = time.perf_counter()
        step()  # compiles, for a compiled row
        sync(device)
        row["first_call_s"] = time.perf_counter() - start
        for _ in range(warmup - 1):
            step()
        sync(device)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        times = time_interleaved({name: step}, args.iters, 0, device)[name]
        if device.type == "cuda":
            row["peak_mem_gb"] = torch.cuda.max_memory_allocated(device) / 1e9
        row["median_s"] = median(times)
        row["img_per_s"] = batch / median(times)
    except Exception as e:
        if variant != "compiled":
            raise
        lines = str(e).strip().splitlines() or [""]
        row["error"] = f"{type(e).__name__}: {lines[0][:200]}"
        tail = "".join(traceback.format_exc().splitlines(keepends=True)[-20:])
        print(f"[{name} {mode} compiled failed; traceback tail]\n{tail}", file=sys.stderr)
    return row


def free_memory(device: torch.device) -> None:
    """Drop what the last row left: compiled graphs (they hold the model) and cached device memory."""
    torch._dynamo.reset()
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def _fmt(value: object, spec: str, missing: str = "n/a") -> str:
    return missing if value is None else format(value, spec)


def main(argv: list[str] | None = None) -> dict[str, object]:
    args = build_parser().parse_args(argv)
    device = torch.device(args.device)
    if args.quick:
        args.batch_train = args.batch_infer = 4
        args.size, args.iters, args.warmup, args.warmup_compiled = 32, 2, 1, 1
    if args.compile is None:
        args.compile = "both" if device.type == "cuda" else "off"
    variants = {"off": ["eager"], "on": ["compiled"], "both": ["eager", "compiled"]}[args.compile]
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    build_ours = tiny_model if args.quick else (lambda: swin_viz.create_model(args.model))
    with torch.device("meta"):
        ref = build_ours()  # for counting only: no memory, no initialisation cost
    cfg = ref.config
    builders: dict[str, Callable[[], nn.Module]] = {"swin_viz": build_ours}
    build_timm, timm_info, timm_params = timm_builder(args, cfg.drop_path_rate)
    skipped: dict[str, str] = {}
    if build_timm is None:
        skipped["timm"] = timm_info
    else:
        builders["timm"] = build_timm

    params = {"swin_viz": sum(p.numel() for p in ref.parameters())}
    if timm_params is not None:
        params["timm"] = timm_params
    flops = {"train": flops_per_image(ref, args.size, train=True), "infer": flops_per_image(ref, args.size, False)}
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    peak, peak_source = peak_tflops(device_name, args.peak_tflops)
    attn = ref.stage1.block0.attn
    attn_impl = (
        f"{attn.attn_impl} ({'explicit' if attn.uses_explicit_path() else 'fused: scaled_dot_product_attention'})"
    )

    where = (
        machine() if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads (torch {torch.__version__})"
    )
    title = "tiny (--quick)" if args.quick else args.model
    print(f"{title} vs {timm_info if build_timm else 'timm (skipped)'}, {args.size}x{args.size}, {where}")
    print(f"bf16 autocast; train batch {args.batch_train} (AdamW, drop_path_rate {cfg.drop_path_rate} in both), "
          f"infer batch {args.batch_infer}; warm-up {args.warmup} eager / {args.warmup_compiled} compiled, "
          f"{args.iters} timed steps; compile: {args.compile}")  # fmt: skip
    tf32 = "on (torch.backends.cuda.matmul / cudnn .allow_tf32)" if device.type == "cuda" else "n/a (CPU)"
    print(f"swin_viz attn_impl: {attn_impl}; TF32: {tf32}")
    match = "" if "timm" not in params else ("  (match)" if params["timm"] == params["swin_viz"] else "  (DIFFER)")
    print("parameters: " + ", ".join(f"{k} {v:,d}" for k, v in params.items()) + match)
    print(f"FLOPs/image (matmul, 2 per MAC): infer {flops['infer'] / 1e9:.3f} G, "
          f"train {flops['train'] / 1e9:.3f} G (forward + backward ~= 3x forward); timm: the same")  # fmt: skip
    print(f"peak bf16 dense: {_fmt(peak, '.0f', 'unknown')} TFLOP/s ({peak_source})")
    for model_name, reason in skipped.items():
        print(f"skipping the {model_name} rows: {reason}")

    rows = []
    for mode in ("train", "infer"):
        for variant in variants:
            for model_name, build in builders.items():
                row = run_row(model_name, build, mode, variant, args, cfg.num_classes)
                m = mfu(row["img_per_s"], flops[mode], peak)
                row["mfu_pct"] = None if m is None else 100 * m
                rows.append(row)
                free_memory(device)

    print()
    print(f"{'model':8s} {'mode':5s} {'variant':8s} {'batch':>5s} {'img/s':>9s} {'peak mem GB':>11s} "
          f"{'1st call s':>10s} {'MFU %':>6s}")  # fmt: skip
    mfu_missing = f"{'n/a':>6s} (pass --peak-tflops)" if peak is None else f"{'n/a':>6s}"
    mem_missing = f"{'n/a':>11s}"
    for r in rows:
        head = f"{r['model']:8s} {r['mode']:5s} {r['variant']:8s} {r['batch']:5d}"
        if r["error"]:
            print(f"{head} failed: {r['error']}")
            continue
        print(f"{head} {r['img_per_s']:9.1f} {_fmt(r['peak_mem_gb'], '11.2f', mem_missing)} "
              f"{r['first_call_s']:10.2f} {_fmt(r['mfu_pct'], '6.2f', mfu_missing)}")  # fmt: skip

    ratios = []
    print()
    if "timm" in skipped:
        print(f"swin_viz / timm: n/a (timm rows skipped: {skipped['timm']})")
    else:
        by_key = {(r["model"], r["mode"], r["variant"]): r for r in rows}
        for mode in ("train", "infer"):
            for variant in variants:
                ours, theirs = by_key[("swin_viz", mode, variant)], by_key[("timm", mode, variant)]
                target = TARGETS[variant]
                if ours["img_per_s"] is None or theirs["img_per_s"] is None:
                    ratio, verdict = None, "n/a (a row failed)"
                else:
                    ratio = ours["img_per_s"] / theirs["img_per_s"]
                    verdict = "meets target" if ratio >= target else "below target"
                ratios.append({"mode": mode, "variant": variant, "ratio": ratio, "target": target, "verdict": verdict})
                print(f"swin_viz / timm {mode:5s} {variant:8s} {_fmt(ratio, '5.2f')}x  (target >= {target:.1f}): "
                      f"{verdict}")  # fmt: skip

    results: dict[str, object] = {
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "machine": where,
        "device_name": device_name,
        "attn_impl": attn_impl,
        "timm": timm_info,
        "params": params,
        "flops_per_image": flops,
        "peak_tflops": peak,
        "peak_tflops_source": peak_source,
        "rows": rows,
        "skipped": skipped,
        "ratios": ratios,
    }
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.json}")
    return results


if __name__ == "__main__":
    main()
