"""bench/bench_train.py on a tiny model (so it cannot rot), and its FLOPs and peak-throughput helpers."""

import importlib.util
import json
import os
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


def test_gpu_check_smoke_runs_every_part_and_writes_the_record(tmp_path: Path) -> None:
    """``bench/gpu_check.py --smoke``, as CI runs it: a fresh process, every part at toy size on the CPU."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    out = tmp_path / "smoke.json"
    done = subprocess.run([sys.executable, "bench/gpu_check.py", "--smoke", "--out", str(out)], cwd=root, env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rec = json.loads(out.read_text())
    assert rec["smoke"] and {k: v["status"] for k, v in rec["parts"].items()} == dict.fromkeys(
        ("data", "engine", "model"), "ok")  # fmt: skip
    assert rec["versions"]["torch"] == torch.__version__ and rec["machine"]["cpus"] and rec["total_s"] > 0
    d = rec["data"]
    assert d["per_worker_img_per_s"] > 0 and d["per_worker_without_randaugment"] > 0 and d["loader_img_per_s"] > 0
    assert d["gpu_rate_img_per_s"] == 646.76 and "rtx3090" in d["gpu_rate_source"]
    assert d["workers_needed"] == pytest.approx(646.76 / d["per_worker_img_per_s"])
    e = rec["engine"]
    assert set(e) >= {"stream", "stream_without_randaugment", "synthetic", "model_img_per_s", "randaugment_cost"}
    for name in ("stream", "stream_without_randaugment", "synthetic"):
        run = e[name]
        assert run["img_per_s"] > 0 and 0 <= run["data_wait"] <= 1 and [r["step"] for r in run["rows"]] == [1, 2, 3, 4]
        assert run["timed_steps"] == [2, 4] and run["timed_images"] == 12  # the first window left out
        # weighted mean: total images over total time of the kept windows
        t = sum(4 / r["img_per_s"] for r in run["rows"][1:])
        assert run["img_per_s"] == pytest.approx(12 / t)
    assert (e["stream"]["randaugment"], e["stream"]["reprob"]) == ("rand-m9-mstd0.5-inc1", 0.25)
    assert (e["stream_without_randaugment"]["randaugment"], e["stream_without_randaugment"]["reprob"]) == ("", 0.0)
    assert "streaming" in e["stream"]["data"] and rec["model"]["rows"]
    assert "photographs/s per worker" in done.stdout and "record ->" in done.stdout


def test_gpu_check_weighted_means_leave_out_the_first_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "bench"))
    import gpu_check

    # 120 steps logged every 10 at batch 128: the windows from step 21 on count, each by its images and seconds
    rows = [{"step": s, "img_per_s": 100.0 if s <= 20 else (1000.0 if s % 20 else 500.0), "data_wait": 0.5 * (s > 60)}
            for s in range(10, 130, 10)]  # fmt: skip
    w = gpu_check.weighted(rows, 128, 20)
    seconds = sum(1280 / r["img_per_s"] for r in rows[2:])
    assert w["timed_steps"] == [21, 120] and w["timed_images"] == 100 * 128
    assert w["img_per_s"] == pytest.approx(100 * 128 / seconds)  # not the plain mean of the rows' rates
    assert w["img_per_s"] != pytest.approx(sum(r["img_per_s"] for r in rows[2:]) / 10)
    waited = sum(0.5 * (r["step"] > 60) * 1280 / r["img_per_s"] for r in rows[2:])
    assert w["data_wait"] == pytest.approx(waited / seconds)


def test_gpu_check_without_a_gpu_says_so(tmp_path: Path) -> None:
    import subprocess
    import sys

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "bench/gpu_check.py", "--out", str(tmp_path / "r.json")], cwd=root,
                          env={**os.environ, "PYTHONPATH": str(root)}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "no CUDA device" in done.stderr and not (tmp_path / "r.json").exists()


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
