"""The browser explorers (swin_viz/viz/js): their arithmetic against swin_viz's tensors, driven in Chromium.

Each component is put on a page exactly as the HTML book shows it (:func:`component_html`), driven through its
controls over a grid of parameters, and what it computed is compared with the library. Also measures the update
latency (control change to redrawn SVG) and prints it. The browser part skips without Chromium / playwright.
"""

from __future__ import annotations

import functools
import http.server
import itertools
import shutil
import statistics
import threading
from pathlib import Path

import pytest
import torch

from swin_viz import (
    cyclic_shift,
    effective_window,
    merge_patches,
    omega_msa,
    omega_wmsa,
    pad_to_window,
    region_labels,
    relative_position_index,
    shifted_window_mask,
    window_partition,
)
from swin_viz.viz.components import COMPONENTS, component_html, component_source, component_widget, explore

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]  # fmt: skip
LATENCIES: dict[str, list[float]] = {}


# ------------------------------------------------------------------------------------------------ Python side
def test_every_component_is_an_es_module_with_a_render() -> None:
    for name in COMPONENTS:
        src = component_source(name)
        assert "export default" in src and "render" in src and "const PALETTE" in src


def test_widget_state_and_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    w = component_widget("windows", H=5, W=9, M=7)
    assert w.state == {"H": 5, "W": 9, "M": 7} and "export default" in str(w._esm)
    with pytest.raises(ValueError, match=r"unknown control\(s\) \['Q'\].*\('H', 'W', 'M'\)"):
        component_widget("windows", Q=1)
    with pytest.raises(ValueError, match="unknown component 'nope'"):
        component_html("nope")
    monkeypatch.setenv("SWIN_VIZ_BOOK_BUILD", "1")
    html = explore("shift", H=8)._repr_html_()
    assert '<script type="module">' in html and '"H": 8' in html


# ----------------------------------------------------------------------------------------------- the browser
@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory):
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (apt-get install chromium); CI installs it")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    root = tmp_path_factory.mktemp("components")
    body = "\n".join(component_html(name) for name in COMPONENTS)
    (root / "index.html").write_text(f"<!doctype html><html><head><meta charset='utf-8'></head>"
                                     f"<body style='width:760px'>{body}</body></html>")  # fmt: skip

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        tab = browser.new_page(viewport={"width": 800, "height": 900})
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        tab.goto(f"http://127.0.0.1:{httpd.server_address[1]}/index.html", wait_until="load")
        tab.wait_for_function(f"document.querySelectorAll('.swin-viz').length === {len(COMPONENTS)}")
        yield tab, errors
        browser.close()
    httpd.shutdown()
    if LATENCIES:
        print("\nexplorer update latency in Chromium (control change -> redrawn SVG), ms:")
        for name, ms in LATENCIES.items():
            print(f"  {name:18s} median {statistics.median(ms):6.2f}  max {max(ms):6.2f}  ({len(ms)} updates)")


DRIVE = """([name, grid, pick]) => {
  const el = document.querySelector(`[data-component="${name}"]`);
  const out = [];
  for (const values of grid) {
    const ms = el.swinViz.set(values);
    const r = el.swinViz.result;
    const kept = {};
    for (const k of pick) kept[k] = r[k];
    out.push({ state: el.swinViz.state(), result: kept, ms, svg: el.querySelectorAll('svg').length });
  }
  return out;
}"""


def drive(page, name: str, grid: list[dict], pick: list[str]) -> list[dict]:
    tab, errors = page
    rows = tab.evaluate(DRIVE, [name, grid, pick])
    assert not errors, f"JavaScript errors: {errors}"
    for values, row in zip(grid, rows):
        requested = {k: v for k, v in values.items() if k in row["state"]}
        shown = row["state"]
        assert shown == {**shown, **requested}, f"{name}: asked {values}, the component shows {shown}"
    return rows


def test_windows_component_matches_window_partition(page) -> None:
    sizes = itertools.product((1, 2, 3, 4, 5, 7, 8), (1, 3, 7, 8, 13, 14, 29), (1, 4, 9, 14, 16))
    grid = [dict(M=M, H=H, W=W) for M, H, W in sizes]
    for values, row in zip(grid, drive(page, "windows", grid, ["Mh", "Mw", "nW", "batch"])):
        H, W, M = values["H"], values["W"], values["M"]
        (Mh, Mw), _ = effective_window(H, W, M, 0)
        pos = torch.stack(torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij"), -1)[None] + 1  # (1, H, W, 2)
        padded, _ = pad_to_window(pos, (Mh, Mw))
        expected = (window_partition(padded, (Mh, Mw)).reshape(-1, Mh * Mw, 2) - 1).tolist()  # -1: padding
        got = row["result"]
        assert (got["Mh"], got["Mw"], got["nW"]) == (Mh, Mw, len(expected)), values
        assert got["batch"] == expected, values


def _shift_grid() -> list[dict]:
    return [dict(M=M, H=kh * M, W=kw * M, s=s) for M in range(2, 9) for kh in (1, 2, 3) for kw in (1, 2, 3)
            if kh * M <= 28 and kw * M <= 28 for s in range(M // 2 + 1)]  # fmt: skip


def test_shift_component_matches_cyclic_shift_and_regions(page) -> None:
    grid = _shift_grid()
    for values, row in zip(grid, drive(page, "shift", grid, ["shifted", "regions", "sh", "sw"])):
        H, W, M, s = values["H"], values["W"], values["M"], values["s"]
        (Mh, Mw), (sh, sw) = effective_window(H, W, M, s)
        ids = torch.arange(H * W).view(1, H, W, 1)
        assert row["result"]["shifted"] == cyclic_shift(ids, (sh, sw))[0, ..., 0].tolist(), values
        assert row["result"]["regions"] == region_labels(H, W, (Mh, Mw), (sh, sw)).tolist(), values


def test_mask_component_matches_shifted_window_mask(page) -> None:
    grid = []
    for values in _shift_grid()[::3]:
        (Mh, Mw), _ = effective_window(values["H"], values["W"], values["M"], values["s"])
        nW, N = (values["H"] // Mh) * (values["W"] // Mw), Mh * Mw
        for window, query, masked in ((0, 0, True), (nW - 1, N - 1, False), (nW // 2, N // 3, False)):
            grid.append({**values, "window": window, "query": query, "masked": masked})
    for values, row in zip(grid, drive(page, "mask", grid, ["mask", "leaked", "attend"])):
        H, W, M, s = values["H"], values["W"], values["M"], values["s"]
        (Mh, Mw), (sh, sw) = effective_window(H, W, M, s)
        mask = shifted_window_mask(H, W, (Mh, Mw), (sh, sw))[values["window"]]
        assert row["result"]["mask"] == mask.tolist(), values
        blocked = int((mask[values["query"]] != 0).sum())
        assert row["result"]["leaked"] == (0 if values["masked"] else blocked), values
        assert sum(row["result"]["attend"]) == Mh * Mw - (blocked if values["masked"] else 0), values


def test_relative_position_component_matches_the_index(page) -> None:
    grid = [dict(M=M, query=q) for M in range(2, 13) for q in (0, M * M // 2, M * M - 1)]
    for values, row in zip(grid, drive(page, "relative_position", grid, ["index", "row", "distinct"])):
        index = relative_position_index(values["M"])
        assert row["result"]["index"] == index.tolist(), values
        assert row["result"]["row"] == index[values["query"]].tolist(), values
        assert row["result"]["distinct"] == (2 * values["M"] - 1) ** 2


def test_merging_component_matches_merge_patches(page) -> None:
    grid = [dict(H=H, W=W, C=C, row=r, col=c) for H in (2, 3, 5, 8) for W in (2, 4, 7) for C in (1, 3)
            for r, c in ((0, 0), ((H + 1) // 2 - 1, (W + 1) // 2 - 1))]  # fmt: skip
    for values, row in zip(grid, drive(page, "merging", grid, ["vector", "Ho", "Wo"])):
        H, W, C = values["H"], values["W"], values["C"]
        x = (torch.arange(H * W * C) + 1).view(1, H, W, C)  # every channel of every token numbered from 1
        merged = merge_patches(x)
        assert (row["result"]["Ho"], row["result"]["Wo"]) == tuple(merged.shape[1:3]), values
        got = [0 if r < 0 else (r * W + c) * C + k + 1 for r, c, k in row["result"]["vector"]]
        assert got == merged[0, values["row"], values["col"]].tolist(), values


def test_flops_component_matches_the_paper_formulas(page) -> None:
    grid = [dict(h=h, w=w, C=C, M=M) for h in (1, 7, 56, 100, 256) for w in (3, 56, 224) for C in (16, 96, 768)
            for M in (1, 7, 12)]  # fmt: skip
    for values, row in zip(grid, drive(page, "flops", grid, ["msa", "wmsa"])):
        h, w, C, M = values["h"], values["w"], values["C"], values["M"]
        assert row["result"]["msa"] == str(omega_msa(h, w, C)), values
        assert row["result"]["wmsa"] == str(omega_wmsa(h, w, C, M)), values


ONE_CONTROL = {
    "windows": ("M", [4, 7]), "shift": ("s", [1, 2]), "mask": ("query", [5, 30]),
    "relative_position": ("query", [3, 40]), "merging": ("col", [0, 3]), "flops": ("h", [14, 56]),
}  # fmt: skip


def test_update_latency(page) -> None:
    """One control moved at a time, as a reader does: the time from the input event to the redrawn panels."""
    tab, _ = page
    tab.evaluate(DRIVE, ["mask", [dict(M=7, H=14, W=14, s=3, window=3, masked=True)], []])  # the book's opening state
    for name, (key, values) in ONE_CONTROL.items():
        grid = [{key: values[i % 2]} for i in range(30)]
        rows = tab.evaluate(DRIVE, [name, grid, []])
        LATENCIES[name] = [r["ms"] for r in rows]
        assert statistics.median(LATENCIES[name]) < 250, f"{name}: {LATENCIES[name]}"


def test_components_fit_the_page(page) -> None:
    tab, _ = page
    widths = tab.evaluate(
        "() => [...document.querySelectorAll('.swin-viz')]"
        ".map(e => [e.scrollWidth, e.clientWidth, e.parentElement.clientWidth])"
    )
    for scroll, client, parent in widths:
        assert scroll <= client + 1 and client <= parent + 1, widths
