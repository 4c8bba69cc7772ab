"""Opt-in real weights: the download path against a local HTTP server on 127.0.0.1 (nothing leaves the machine).

A good file loads through the key and shape report and gives the source model's logits; a bad hash raises and
leaves no file behind; no server gives a clear ConnectionError naming the URL; nothing downloads unless asked.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

import swin_viz
from swin_viz.checkpoints import export_state_dict
from swin_viz.pretrained import IMAGENET_ENV, download_weights, imagenet_swin_t_from_env, load_imagenet_swin_t


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # keep the test output clean
        pass


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``(base URL, served folder)`` of an HTTP server on 127.0.0.1, in a thread."""
    root = tmp_path / "served"
    root.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_download_checks_the_hash(server: tuple[str, Path], tmp_path: Path) -> None:
    base, root = server
    payload = b"swin weights" * 1000
    (root / "w.pth").write_bytes(payload)
    digest = hashlib.sha256(payload).hexdigest()
    dest = tmp_path / "cache" / "w.pth"
    assert download_weights(f"{base}/w.pth", dest, sha256=digest) == dest
    assert dest.read_bytes() == payload
    # A published prefix (torchvision's convention) is checked too.
    download_weights(f"{base}/w.pth", tmp_path / "p.pth", sha256_prefix=digest[:8])

    bad = tmp_path / "bad" / "w.pth"
    with pytest.raises(ValueError, match=r"sha256 mismatch: expected 0{64}, the file has " + digest[:64]):
        download_weights(f"{base}/w.pth", bad, sha256="0" * 64)
    assert not bad.exists() and list(bad.parent.iterdir()) == []  # no file, no temporary left behind
    with pytest.raises(ValueError, match="sha256 prefix mismatch"):
        download_weights(f"{base}/w.pth", bad, sha256_prefix="ffffffff" if digest[:8] != "ffffffff" else "00000000")
    assert not bad.exists()


def test_no_server_and_missing_file_give_clear_errors(server: tuple[str, Path], tmp_path: Path) -> None:
    base, _ = server
    dest = tmp_path / "w.pth"
    url = f"http://127.0.0.1:{_free_port()}/w.pth"
    with pytest.raises(ConnectionError, match=f"could not download {url}: .*Nothing was written"):
        download_weights(url, dest, timeout=5)
    with pytest.raises(ConnectionError, match=f"could not download {base}/absent.pth: HTTP 404"):
        download_weights(f"{base}/absent.pth", dest, timeout=5)
    assert not dest.exists()


def test_load_downloads_only_when_asked_and_reports_keys(
    server: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, root = server
    torch.manual_seed(0)
    source = swin_viz.swin_t().eval()
    torch.save({"model": export_state_dict(source, "official")}, root / "swin_tiny.pth")  # the official wrapping
    digest = hashlib.sha256((root / "swin_tiny.pth").read_bytes()).hexdigest()
    cache = tmp_path / "cache"

    with pytest.raises(ValueError, match="download=True"):
        load_imagenet_swin_t(cache_dir=cache)  # never downloads unasked
    assert not cache.exists()

    model, report = load_imagenet_swin_t(download=True, source="official", url=f"{base}/swin_tiny.pth",
                                         sha256=digest, cache_dir=cache)  # fmt: skip
    assert report.ok and report.layout == "official"
    assert len(report.loaded) == len(export_state_dict(source, "official"))
    print(report)  # the loader's key and shape report
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert torch.equal(model(x), source(x))
    assert not model.training

    # A local file with the wrong hash the user passes is refused; the env var is read, never a download.
    with pytest.raises(ValueError, match="sha256 mismatch"):
        load_imagenet_swin_t(cache / "swin_tiny.pth", sha256="1" * 64)
    monkeypatch.delenv(IMAGENET_ENV, raising=False)
    assert imagenet_swin_t_from_env() is None
    monkeypatch.setenv(IMAGENET_ENV, str(cache / "swin_tiny.pth"))
    loaded = imagenet_swin_t_from_env()
    assert loaded is not None and loaded[1].ok


def test_a_file_that_does_not_fit_is_reported_by_name(tmp_path: Path) -> None:
    torch.manual_seed(0)
    sd = export_state_dict(swin_viz.swin_t(), "timm")
    sd.pop("layers.3.blocks.1.mlp.fc2.bias")
    sd["absolute_pos_embed"] = torch.zeros(1, 3136, 96)
    torch.save(sd, tmp_path / "odd.pth")
    with pytest.raises(ValueError, match=r"missing \(1\): stage4.block1.mlp.fc2.bias[\s\S]*unexpected \(1\): "
                       r"absolute_pos_embed"):  # fmt: skip
        load_imagenet_swin_t(tmp_path / "odd.pth")


def test_the_published_prefix_is_checked_and_the_cache_reused(
    server: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """torchvision's entry: the sha256 prefix in its file name is checked; a cached file is not fetched again."""
    import swin_viz.pretrained as pretrained

    base, root = server
    torch.manual_seed(1)
    source = swin_viz.swin_t().eval()
    tmp_file = root / "tv.pth"
    torch.save(export_state_dict(source, "torchvision"), tmp_file)
    digest = hashlib.sha256(tmp_file.read_bytes()).hexdigest()
    name = f"swin_t-{digest[:8]}.pth"
    tmp_file.rename(root / name)
    published = pretrained.IMAGENET_SWIN_T["torchvision"]
    entry = pretrained.RealWeights(f"{base}/{name}", "torchvision", None, digest[:8], published.citation)
    monkeypatch.setitem(pretrained.IMAGENET_SWIN_T, "torchvision", entry)
    cache = tmp_path / "cache"
    _, report = load_imagenet_swin_t(download=True, cache_dir=cache)
    assert report.ok and report.layout == "torchvision" and (cache / name).exists()
    (root / name).unlink()  # the server no longer has it: the cached copy is used, and checked again
    model2, _ = load_imagenet_swin_t(download=True, cache_dir=cache)
    assert torch.equal(model2.head.weight, source.head.weight)

    wrong = "0" * 8 if digest[:8] != "0" * 8 else "1" * 8
    entry = pretrained.RealWeights(f"{base}/{name}", "torchvision", None, wrong, published.citation)
    monkeypatch.setitem(pretrained.IMAGENET_SWIN_T, "torchvision", entry)
    with pytest.raises(ValueError, match=f"sha256 prefix mismatch: expected {wrong}"):
        load_imagenet_swin_t(download=True, cache_dir=cache)
