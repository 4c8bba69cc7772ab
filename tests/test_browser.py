"""The built HTML book in a real browser: every page loads, every plotly figure renders, nothing is broken.

Needs the book built (``bash scripts/build_book.sh`` -> ``_build/html``), Debian's Chromium (``/usr/bin/chromium``)
and the ``playwright`` package, which drives that Chromium (nothing downloads a browser). Skips with the reason
when one is missing; CI (``.ci/run``) installs Chromium and builds the book first. Screenshots of every page go
to ``_build/screenshots``.
"""

from __future__ import annotations

import functools
import http.server
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def configured_repository() -> str:
    """``repository.url`` of ``_config.yml``: the one place the book names its repository (empty: none)."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    return str((config.get("repository") or {}).get("url") or "").strip()


def pages() -> list[Path]:
    if not HTML.exists():
        return []
    skip = {"genindex.html", "search.html"}
    return sorted(p for p in HTML.rglob("*.html") if p.name not in skip and "_static" not in p.parts)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(HTML))

    class Quiet(handler.func):  # type: ignore[name-defined]
        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(HTML)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    if not pages():
        pytest.skip(f"the book is not built ({HTML} missing): run bash scripts/build_book.sh first")
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (apt-get install chromium); CI installs it")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"],
        )  # fmt: skip
        yield b
        b.close()


FIT_JS = """() => {
  const article = document.querySelector('.bd-article') || document.body;
  const column = article.getBoundingClientRect().width;
  const out = [];
  for (const div of document.querySelectorAll('.plotly-graph-div')) {
    const svg = div.querySelector('.main-svg');
    if (!svg) continue;
    const width = svg.getBoundingClientRect().width, box = div.parentElement.getBoundingClientRect().width;
    if (width > box + 1 || width > column + 1)
      out.push(`${div.id}: svg ${width} px, container ${box} px, article ${column} px`);
  }
  for (const el of document.querySelectorAll('.swin-viz')) {
    const name = el.parentElement.dataset.component;
    if (el.scrollWidth > el.clientWidth + 1 || el.getBoundingClientRect().width > column + 1)
      out.push(`explorer ${name}: ${el.scrollWidth} px in ${el.clientWidth} px`);
  }
  return out;
}"""


LINKS_JS = """() => [...document.querySelectorAll('a[href]')].map(a =>
  typeof a.href === 'string' ? a.href : new URL(a.getAttribute('href'), document.baseURI).href)"""
"""Every link's absolute URL; an SVG ``<a>`` (the architecture figure's parts) has no string ``href``."""


def wait_for_figures(tab) -> None:
    """Until every plotly figure has drawn and the page's fit-to-width (_theme/swin_viz.js) has settled."""
    tab.wait_for_function(
        "() => [...document.querySelectorAll('.plotly-graph-div')].every(d => d.querySelector('.main-svg'))",
        timeout=20_000,
    )
    tab.wait_for_timeout(400)


@pytest.mark.parametrize("page", [p.relative_to(HTML).as_posix() for p in pages()] or ["(book not built)"])
@pytest.mark.parametrize("width", [1280, 800])
def test_figures_fit(page: str, width: int, server: str, browser) -> None:
    """No plotly figure (nor browser explorer) is wider than its container or the article column."""
    tab = browser.new_page(viewport={"width": width, "height": 900})
    tab.goto(f"{server}/{page}", wait_until="load")
    wait_for_figures(tab)
    too_wide = tab.evaluate(FIT_JS)
    tab.close()
    assert not too_wide, f"{page} at {width} px: figures wider than their container or the column: {too_wide}"


@pytest.mark.parametrize("page", [p.relative_to(HTML).as_posix() for p in pages()] or ["(book not built)"])
def test_page_renders(page: str, server: str, browser) -> None:
    tab = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    failed: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    tab.on("requestfailed", lambda req: failed.append(req.url))
    tab.on("response", lambda resp: failed.append(f"{resp.status} {resp.url}") if resp.status >= 400 else None)
    # Nothing may come from the network: block every request that is not to our server.
    tab.route(
        re.compile(r"^(?!http://127\.0\.0\.1).*"), lambda route: (failed.append(route.request.url), route.abort())
    )
    tab.goto(f"{server}/{page}", wait_until="load")
    tab.wait_for_timeout(300)
    explorers = tab.evaluate("() => document.querySelectorAll('.swin-viz-root').length")
    mounted = tab.evaluate("() => [...document.querySelectorAll('.swin-viz-root')].filter(e => e.swinViz).length")
    figures = tab.evaluate("() => document.querySelectorAll('.plotly-graph-div').length")
    drawn = tab.evaluate(
        "() => [...document.querySelectorAll('.plotly-graph-div')].filter(d => d.querySelector('.main-svg')).length"
    )
    broken_images = tab.evaluate(
        "() => [...document.images].filter(i => i.complete && i.naturalWidth === 0).map(i => i.src)"
    )
    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SHOTS / (page.replace("/", "_") + ".png")), full_page=False)
    links = tab.evaluate(LINKS_JS)
    buttons = tab.evaluate("() => [...document.querySelectorAll('.article-header-buttons a[href]')].map(a => a.href)")
    tab.close()
    assert not errors, f"JavaScript errors on {page}: {errors}"
    assert drawn == figures, f"{page}: {figures - drawn} of {figures} plotly figures did not render"
    assert mounted == explorers, f"{page}: {explorers - mounted} of {explorers} browser explorers did not start"
    assert not broken_images, f"{page}: broken images {broken_images}"
    assert not [f for f in failed if f.startswith("http://127.0.0.1")], f"{page}: failed requests {failed}"
    local = [link.split("#")[0] for link in links if link.startswith(server)]
    missing = sorted({link for link in local if not (HTML / link[len(server) + 1 :]).exists() and link != server + "/"})
    assert not missing, f"{page}: broken links {missing}"
    # Launch and repository buttons only for the repository _config.yml names (none by default); download always.
    repository = configured_repository()
    launch = [link for link in links if "mybinder.org" in link or "colab.research.google.com" in link]
    to_repos = [link for link in buttons if re.match(r"https://(github|gitlab|bitbucket)\.(com|org)/", link)]
    if not repository:
        assert not launch and not to_repos, f"{page}: links to a repository that is not configured: {launch + to_repos}"
    else:
        assert all(repository.split("://", 1)[1] in link for link in to_repos), f"{page}: {to_repos} vs {repository}"
    if page.endswith(".html") and (HTML / "_sources" / page).with_suffix(".ipynb").exists():
        assert any(link.endswith(".ipynb") for link in buttons), f"{page}: no download-notebook button"


SPINE_CLICKS = [
    ("book/08_hierarchy.html", "stage1.blocks", "book/07_block.html"),
    ("book/07_block.html", "block1.mask", "book/05_attention_mask.html"),
    ("book/01_why_windows.html", "stage2.merging", "book/08_hierarchy.html"),
]


@pytest.mark.parametrize("page, part, target", SPINE_CLICKS)
def test_architecture_figure_links(page: str, part: str, target: str, server: str, browser) -> None:
    """Clicking a part of the architecture figure at the top of a chapter lands on that part's chapter, whose own
    figure lights that part."""
    if not (HTML / page).exists() or not (HTML / target).exists():
        pytest.skip(f"{page} or {target} is not in this build")
    tab = browser.new_page(viewport={"width": 1280, "height": 900})
    tab.goto(f"{server}/{page}", wait_until="load")
    figure = tab.locator("svg.swin-architecture").first
    assert "You are here" in figure.text_content()
    with tab.expect_navigation():
        figure.locator(f'a[data-part="{part}"]').click()
    assert tab.url.split("#")[0] == f"{server}/{target}"
    lit = tab.locator("svg.swin-architecture").first.locator(f'a[data-part="{part}"]').get_attribute("class")
    tab.close()
    assert "swin-arch-lit" in lit.split(), f"{target} does not light {part}: class {lit!r}"
