"""Page weight and figure fit of a built HTML book, measured in Chromium.

    .venv/bin/python bench/bench_pages.py [_build/html] [--json out.json]

For every page: the bytes a first visit transfers (every response body, a fresh browser context, nothing
cached), the plotly figures on it, and how many of them are wider than their container or the article column
at a 1280 px and an 800 px window. Needs Debian's Chromium and playwright (as tests/test_browser.py).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import shutil
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]  # fmt: skip

OVERFLOW_JS = """() => {
  const article = document.querySelector('.bd-article') || document.body;
  const limit = article.getBoundingClientRect().width;
  return [...document.querySelectorAll('.plotly-graph-div')].map(div => {
    const svg = div.querySelector('.main-svg');
    const w = svg ? svg.getBoundingClientRect().width : 0;
    const box = div.parentElement.getBoundingClientRect().width;
    return {svg: Math.round(w), container: Math.round(box), article: Math.round(limit),
            over: w > box + 1 || w > limit + 1};
  });
}"""


def serve(directory: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(directory)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


def _body_size(response) -> int:
    if not response.url.startswith("http"):  # blob: and data: URLs the page makes itself travel nowhere
        return 0
    try:
        return len(response.body()) if response.ok else 0
    except Exception:  # a response still streaming when the page is measured (none on a static book)
        return 0


def measure(html: Path, pages: list[str] | None = None) -> list[dict]:
    from playwright.sync_api import sync_playwright

    skip = {"genindex.html", "search.html"}
    names = pages or sorted(p.relative_to(html).as_posix() for p in html.rglob("*.html")
                            if p.name not in skip and "_static" not in p.parts)  # fmt: skip
    httpd, url = serve(html)
    rows = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            for name in names:
                row: dict = {"page": name}
                for width in (1280, 800):
                    context = browser.new_context(viewport={"width": width, "height": 900})
                    tab = context.new_page()
                    responses: list = []
                    tab.on("response", lambda r, responses=responses: responses.append(r))
                    tab.goto(f"{url}/{name}", wait_until="load")
                    tab.wait_for_timeout(800)
                    sizes = [_body_size(r) for r in responses]
                    figs = tab.evaluate(OVERFLOW_JS)
                    if width == 1280:
                        row["bytes"] = sum(sizes)
                        row["html_bytes"] = (html / name).stat().st_size
                        row["figures"] = len(figs)
                    row[f"over_{width}"] = sum(f["over"] for f in figs)
                    row[f"widest_{width}"] = max((f["svg"] for f in figs), default=0)
                    row[f"article_{width}"] = figs[0]["article"] if figs else None
                    context.close()
                rows.append(row)
            browser.close()
    finally:
        httpd.shutdown()
    return rows


LIVE_PAGE = "book/live_model.html"


def measure_live(html: Path, strokes: int = 30) -> dict | None:
    """The live model page: bytes before and after the reader scrolls to the figure (the runtime and the graph load
    then; the page first opens in a window too short to show it), and the stroke-to-figure latency over
    ``strokes`` mouse strokes (ms, as the page measures it: from the pointer event to the redrawn figures)."""
    from playwright.sync_api import sync_playwright

    if not (html / LIVE_PAGE).exists():
        return None
    httpd, url = serve(html)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            context = browser.new_context(viewport={"width": 1280, "height": 240})  # the figure below the fold
            tab = context.new_page()
            responses: list = []
            tab.on("response", lambda r: responses.append(r))
            tab.goto(f"{url}/{LIVE_PAGE}", wait_until="load")
            tab.wait_for_timeout(800)
            before = sum(_body_size(r) for r in responses)
            tab.set_viewport_size({"width": 1280, "height": 900})
            tab.locator(".swin-viz-live-root").scroll_into_view_if_needed()
            tab.wait_for_function("() => window.swinViz.live_model.dataset.ready === '1'", timeout=120_000)
            tab.wait_for_function("() => window.swinViz.live_model.swinViz.idle()", timeout=120_000)
            after = sum(_body_size(r) for r in responses)
            box = tab.locator(".swin-viz-live canvas").first.bounding_box()
            start = tab.evaluate("() => window.swinViz.live_model.swinViz.timings.length")
            for i in range(strokes):
                x, y = box["x"] + box["width"] * (0.2 + 0.6 * (i % 7) / 6), box["y"] + box["height"] * 0.2
                tab.mouse.move(x, y)
                tab.mouse.down()
                tab.mouse.move(x, y + box["height"] * 0.6, steps=4)
                tab.mouse.up()
                tab.wait_for_function("() => window.swinViz.live_model.swinViz.idle()", timeout=30_000)
            timings = tab.evaluate(f"() => window.swinViz.live_model.swinViz.timings.slice({start})")
            browser.close()
    finally:
        httpd.shutdown()
    timings.sort()
    return {"page": LIVE_PAGE, "bytes_before": before, "bytes_after": after, "updates": len(timings),
            "median_ms": timings[len(timings) // 2], "max_ms": timings[-1]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", nargs="?", default=str(ROOT / "_build" / "html"))
    parser.add_argument("--json", help="also write the rows here")
    parser.add_argument("--pages", nargs="*", help="only these pages (paths relative to the html folder)")
    args = parser.parse_args()
    rows = measure(Path(args.html), args.pages)
    head = ("page", "MB", "html KB", "figs", "over@1280", "over@800", "widest@800")
    print("{:45s} {:>6s} {:>8s} {:>4s} {:>9s} {:>8s} {:>10s}".format(*head))
    for r in rows:
        print(f"{r['page']:45s} {r['bytes'] / 1e6:6.2f} {r['html_bytes'] / 1e3:8.0f} {r['figures']:4d} "
              f"{r['over_1280']:9d} {r['over_800']:8d} {r['widest_800']:10d}")  # fmt: skip
    print(f"total figures {sum(r['figures'] for r in rows)}, too wide at 1280: {sum(r['over_1280'] for r in rows)}, "
          f"at 800: {sum(r['over_800'] for r in rows)}")  # fmt: skip
    live = measure_live(Path(args.html))
    if live:
        print(f"live model ({live['page']}): {live['bytes_before'] / 1e6:.2f} MB before the reader reaches it, "
              f"+{(live['bytes_after'] - live['bytes_before']) / 1e6:.2f} MB after; stroke to figure over "
              f"{live['updates']} updates: median {live['median_ms']:.1f} ms, max {live['max_ms']:.1f} ms")  # fmt: skip
        rows.append(live)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
