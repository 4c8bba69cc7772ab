"""The benchmarks are scripts, not timed tests: here they only run on a tiny model so they cannot rot."""

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture(autouse=True)
def _bench_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCH))


def test_attention_benchmark_runs(capsys: pytest.CaptureFixture[str]) -> None:
    import bench_attention

    result = bench_attention.main(["--quick", "--device", "cpu"])
    assert result["max_diff"] < 1e-5
    assert "speed-up fused vs explicit" in capsys.readouterr().out
    result = bench_attention.main(["--quick", "--device", "cpu", "--train"])
    out = capsys.readouterr().out
    # --train times forward + backward of both paths, and the speed-up printed is the one returned
    assert "tiny forward+backward" in out and f"speed-up fused vs explicit: {result['speedup']:.2f}x" in out
    assert [line.split()[0] for line in out.splitlines()[2:4]] == ["explicit", "fused"]


def test_hook_benchmark_runs(capsys: pytest.CaptureFixture[str]) -> None:
    import bench_hooks

    result = bench_hooks.main(["--quick", "--device", "cpu"])
    assert result["identical"] == 1.0  # stripping the hook points changes nothing but the module calls
    out = capsys.readouterr().out
    assert "overhead of unused hook points" in out and "hook points," in out
    sys.modules.pop("bench_hooks", None)


def test_widget_benchmark_runs(capsys: pytest.CaptureFixture[str]) -> None:
    import bench_widgets

    results = bench_widgets.main(["--quick", "--only", "windows"])
    assert set(results) == {"windows"} and results["windows"][1] > 0
    assert "worst p95" in capsys.readouterr().out


def test_augment_benchmark_runs(capsys: pytest.CaptureFixture[str]) -> None:
    import bench_augment

    result = bench_augment.main(["--quick", "--batch", "4"])
    rows = {(r["size"], r["what"]): r["ms"] for r in result["rows"]}
    for size in (8, 224):
        assert rows[(size, "swin_viz RandomErasing, per batch, training process")] > 0
        per_image = rows[(size, "swin_viz RandAugment, per image, in a worker")]
        assert rows[(size, "the same for a batch, spread over the workers")] == pytest.approx(4 * per_image)
    assert "RandAugment, per image, in a worker" in capsys.readouterr().out
