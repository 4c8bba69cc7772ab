"""bench/bench_train.py on a tiny model (so it cannot rot), and its FLOPs and peak-throughput helpers."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch

import swin_viz

BENCH = Path(__file__).resolve().parents[1] / "bench"
HAVE_TIMM = importlib.util.find_spec("timm") is not None


@pytest.fixture(autouse=True)
def _bench_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCH))


def _rows(results: dict) -> dict[tuple[str, str, str], dict]:
    return {(r["model"], r["mode"], r["variant"]): r for r in results["rows"]}


def test_train_benchmark_runs(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import bench_train

    out_json = tmp_path / "results.json"
    results = bench_train.main(["--quick", "--device", "cpu", "--compile", "off", "--json", str(out_json)])
    rows = _rows(results)
    assert set(rows) == {("swin_viz", "train", "eager"), ("swin_viz", "infer", "eager")}
    for row in rows.values():
        assert row["error"] is None and row["img_per_s"] > 0 and row["batch"] == 4
        assert row["peak_mem_gb"] is None and row["mfu_pct"] is None  # CPU: no peak memory, no peak FLOP/s
    assert "timm" in results["skipped"] and results["skipped"]["timm"]  # tiny model: no timm twin, with a reason
    if not HAVE_TIMM:
        assert "not importable" in results["skipped"]["timm"]
    assert results["ratios"] == []
    assert json.loads(out_json.read_text())["rows"][0]["model"] == "swin_viz"
    out = capsys.readouterr().out
    assert "skipping the timm rows" in out and "attn_impl: auto (fused" in out and "n/a (pass --peak-tflops)" in out


def test_compile_failure_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    import bench_train

    def broken_compile(model: torch.nn.Module):
        def fail(*args: object) -> None:
            raise RuntimeError("backend exploded\nlong inductor log")

        return fail

    monkeypatch.setattr(bench_train.torch, "compile", broken_compile)
    results = bench_train.main(["--quick", "--device", "cpu", "--compile", "both", "--peak-tflops", "1"])
    rows = _rows(results)
    assert rows[("swin_viz", "train", "compiled")]["error"] == "RuntimeError: backend exploded"
    assert rows[("swin_viz", "infer", "compiled")]["img_per_s"] is None
    eager = rows[("swin_viz", "infer", "eager")]
    assert eager["img_per_s"] > 0 and eager["mfu_pct"] > 0  # --peak-tflops gives an MFU on any device


def test_peak_tflops_lookup() -> None:
    import bench_train

    assert bench_train.peak_tflops("NVIDIA H100 80GB HBM3")[0] == 989.0
    assert bench_train.peak_tflops("NVIDIA H100 PCIe")[0] == 756.0
    assert bench_train.peak_tflops("NVIDIA H200")[0] == 989.0
    assert bench_train.peak_tflops("NVIDIA A100-SXM4-80GB")[0] == 312.0
    assert bench_train.peak_tflops("NVIDIA GeForce RTX 4090")[0] == 165.0
    tflops, source = bench_train.peak_tflops("Tesla V100-SXM2-32GB")
    assert tflops == 125.0 and "fp16" in source
    assert bench_train.peak_tflops("cpu")[0] is None
    assert bench_train.peak_tflops("cpu", override=50.0) == (50.0, "--peak-tflops")
    assert bench_train.peak_tflops("NVIDIA H100 80GB HBM3", override=500.0)[0] == 500.0
    assert bench_train.mfu(1000.0, 10**12, None) is None
    assert bench_train.mfu(1000.0, 10**12, 2000.0) == pytest.approx(0.5)


def test_flops_per_image_swin_t() -> None:
    import bench_train

    with torch.device("meta"):
        model = swin_viz.swin_t()
    infer = bench_train.flops_per_image(model, 224, train=False)
    assert infer == pytest.approx(2 * 4.4906e9, rel=1e-3)
    assert bench_train.flops_per_image(model, 224, train=True) == 3 * infer


def test_ratio_rows_with_a_stand_in_timm(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The comparison path, without timm: ``swin_viz.create_model`` and a stand-in ``timm.create_model`` both build
    the same tiny Swin (so the parameter counts match), to stay fast."""
    import sys
    import types

    import bench_train

    def tiny(drop_path_rate: float = 0.2) -> torch.nn.Module:
        return swin_viz.SwinTransformer(
            embed_dim=16, depths=(2, 2), num_heads=(2, 4), window_size=4, num_classes=10, drop_path_rate=drop_path_rate
        )

    calls = []

    def create_model(name: str, **kwargs: object) -> torch.nn.Module:
        calls.append((name, kwargs))
        return tiny(kwargs["drop_path_rate"])

    fake = types.ModuleType("timm")
    fake.__version__ = "stand-in"
    fake.create_model = create_model
    monkeypatch.setitem(sys.modules, "timm", fake)
    monkeypatch.setattr(swin_viz, "create_model", lambda name: tiny())
    args = ["--device", "cpu", "--size", "32", "--batch-train", "2", "--batch-infer", "2", "--iters", "1"]
    results = bench_train.main([*args, "--warmup", "1", "--compile", "off"])
    assert calls[0] == ("swin_tiny_patch4_window7_224", {"pretrained": False, "drop_path_rate": 0.2, "img_size": 32})
    assert results["skipped"] == {} and results["params"]["timm"] == results["params"]["swin_viz"]
    assert {(r["model"], r["mode"]) for r in results["rows"]} == {
        (m, mode) for m in ("swin_viz", "timm") for mode in ("train", "infer")
    }
    assert [(r["mode"], r["variant"], r["target"]) for r in results["ratios"]] == [
        ("train", "eager", 1.0),
        ("infer", "eager", 1.0),
    ]
    assert all(r["ratio"] > 0 and r["verdict"] in ("meets target", "below target") for r in results["ratios"])
    out = capsys.readouterr().out
    assert "(match)" in out and "swin_viz / timm train eager" in out


def test_gpu_check_needs_a_gpu_and_its_engine_part_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import gpu_check

    if not torch.cuda.is_available():
        assert gpu_check.main(["--out", str(tmp_path / "r.json")]) == 2
        assert "no CUDA device" in capsys.readouterr().err and not (tmp_path / "r.json").exists()
    engine = gpu_check.engine_runs(workers=0, steps=4, batch=4, folder_images=16, model="small", image_size=32,
                                   device="cpu")  # fmt: skip
    for name in ("stream", "synthetic"):
        assert engine[name]["img_per_s"] > 0 and 0 <= engine[name]["data_wait"] <= 1
        assert [r["step"] for r in engine[name]["rows"]] == [1, 2, 3, 4]
    assert "streaming" in engine["stream"]["data"] and engine["stream_over_model"] > 0
    versions = gpu_check.versions()
    assert versions["torch"] == torch.__version__ and versions["kornia"] is not None


def test_data_benchmark_quick(capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch) -> None:
    import bench_data

    monkeypatch.setattr("sys.argv", ["bench_data.py", "--quick", "--seconds", "2", "--json", str(tmp_path / "d.json")])
    assert bench_data.main() == 0
    out = json.loads((tmp_path / "d.json").read_text())
    small, large = out["memory"]
    assert (small["images"], large["images"]) == (200, 2000)
    assert large["peak_rss_mb"] < 1.2 * small["peak_rss_mb"]  # flat, while the in-memory figure grows 10x
    assert large["in_memory_mb"] == pytest.approx(10 * small["in_memory_mb"])
    assert [r["workers"] for r in out["rate"]] == [1, 2] and all(r["img_per_s"] > 0 for r in out["rate"])
    assert "workers of this machine" in capsys.readouterr().out
