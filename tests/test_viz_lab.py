"""JupyterLab, one command: ``bash scripts/lab.sh`` serves the notebooks; a chapter runs, a slider moves, the figure
changes, a browser explorer syncs its state with Python, and saving writes no widget state.

Starts ``scripts/lab.sh`` on 127.0.0.1 with a random token over a temporary folder holding copies of the notebooks
it opens (the committed ones are never autosaved), and drives it with Debian's Chromium through Playwright.
Skips without Chromium / playwright. Bounded: every wait has a deadline, the server is stopped at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHAPTER = "03_window_attention.ipynb"
"""A chapter with a browser explorer (window partition, an anywidget) that runs in ~15 s."""
FLOPS_CHAPTER = "01_why_windows.ipynb"
"""The chapter whose live (Python) FLOPs explorer has a table (10 rows of 3 cells and a header)."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory):
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (apt-get install chromium); CI installs it")
    pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    folder = tmp_path_factory.mktemp("lab")
    shutil.copy(ROOT / "book" / CHAPTER, folder / CHAPTER)
    shutil.copy(ROOT / "book" / FLOPS_CHAPTER, folder / FLOPS_CHAPTER)
    component = nbformat.v4.new_notebook()
    component.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    component.cells = [
        nbformat.v4.new_code_cell("from swin_viz.viz.components import explore\nw = explore('shift')\nw"),
        nbformat.v4.new_code_cell("print('STATE', sorted(w.state.items()))"),
    ]
    nbformat.write(component, folder / "component.ipynb")
    port, token = _free_port(), secrets.token_hex(16)
    # The reader's own Jupyter config, runtime files and saved workspaces stay out of it (and untouched).
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(folder / "config"), "JUPYTER_RUNTIME_DIR": str(folder / "runtime"),
           "JUPYTERLAB_WORKSPACES_DIR": str(folder / "workspaces")}  # fmt: skip
    log = open(folder / "lab.log", "w")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen(
        ["bash", str(ROOT / "scripts" / "lab.sh"), "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={folder}", "--LabApp.expose_app_in_browser=True",
         "--ServerApp.port_retries=0"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT, env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 240  # lab.sh may first (re)install the venv's requirements
    while True:
        try:
            with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGTERM) if proc.poll() is None else None
            pytest.fail(f"JupyterLab did not start: {(folder / 'lab.log').read_text()[-3000:]}")
        time.sleep(1)
    try:
        yield url, token, folder
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


@pytest.fixture(scope="module")
def browser(lab):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


@pytest.fixture
def tab(browser):
    page = browser.new_page(viewport={"width": 1500, "height": 1000})
    yield page
    page.close()


def _open_and_run(tab, url: str, token: str, name: str, timeout_s: float) -> None:
    # ?reset: JupyterLab opens only this notebook. Without it the saved workspace reopens earlier tabs, one of which
    # could take the focus just before run-all, so run-all ran another notebook and this one stayed unexecuted.
    tab.goto(f"{url}/lab/tree/{name}?reset&token={token}", wait_until="load")
    panel = """(name) => window.jupyterapp
                         && [...jupyterapp.shell.widgets('main')].find(w => w.context && w.context.path === name)"""
    tab.wait_for_function(
        f"""(name) => {{ const p = ({panel})(name); return p && p.node.querySelector('.jp-Cell')
                         && p.sessionContext.session && p.sessionContext.session.kernel
                         && p.sessionContext.session.kernel.status === 'idle'; }}""",
        arg=name, timeout=90_000,
    )  # fmt: skip
    tab.evaluate(f"(name) => jupyterapp.shell.activateById(({panel})(name).id)", name)
    tab.wait_for_function("(name) => jupyterapp.shell.currentWidget.context.path === name", arg=name, timeout=30_000)
    tab.evaluate("() => jupyterapp.commands.execute('notebook:run-all-cells')")
    tab.wait_for_timeout(500)
    # Done when the kernel is idle and every code cell of *this* notebook ran, in order (counts from the saved
    # file are on checked cells only, so a notebook that did not run never passes).
    tab.wait_for_function(
        f"""(name) => {{ const p = ({panel})(name); const k = p.sessionContext.session.kernel;
                         const counts = [...p.content.model.cells].filter(c => c.type === 'code')
                                                                  .map(c => c.executionCount);
                         return k.status === 'idle' && counts.every(n => n !== null)
                                && counts.every((n, i) => i === 0 || n > counts[i - 1]); }}""",
        arg=name, timeout=timeout_s * 1000,
    )  # fmt: skip
    errors = tab.evaluate("() => [...document.querySelectorAll('.jp-OutputArea-output[data-mime-type$=\"error\"]')]"
                          ".map(e => e.textContent.slice(0, 300))")  # fmt: skip
    assert not errors, f"{name}: cells failed: {errors}"


@contextlib.contextmanager
def _screenshot_on_error(tab, folder: Path, name: str) -> Iterator[None]:
    """Keep a screenshot of JupyterLab (``<folder>/<name>.png``) when the block fails."""
    try:
        yield
    except BaseException:
        tab.screenshot(path=str(folder / f"{name}.png"))
        raise


def _drag(tab, handle, dx: float) -> None:
    box = handle.bounding_box()
    tab.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    tab.mouse.down()
    tab.mouse.move(box["x"] + box["width"] / 2 + dx, box["y"] + box["height"] / 2, steps=8)
    tab.mouse.up()


def test_chapter_runs_and_a_slider_redraws_the_figure(lab, tab) -> None:
    url, token, folder = lab
    with _screenshot_on_error(tab, folder, "chapter"):
        _check_chapter(tab, url, token, folder)


def _check_chapter(tab, url: str, token: str, folder: Path) -> None:
    _open_and_run(tab, url, token, CHAPTER, timeout_s=240)
    panel = tab.locator(".jp-NotebookPanel:visible")
    explorer = panel.locator(".swin-viz", has=tab.locator("h4", has_text="Window partition")).first
    explorer.wait_for(timeout=30_000)
    explorer.scroll_into_view_if_needed()
    panels = explorer.locator(".swin-viz-panels")
    before = panels.text_content()
    assert "padded by (4, 4) to 14 x 14" in before, before  # the chapter's opening state: 10 x 10, M = 7
    # The explorer fits its cell, and a slider track stays usable.
    widths = explorer.evaluate("""(el) => [el.getBoundingClientRect().width,
        el.closest('.jp-OutputArea-output').getBoundingClientRect().width]""")  # fmt: skip
    assert 0 < widths[0] <= widths[1] + 1, f"explorer {widths[0]} px in a {widths[1]} px cell"
    slider = explorer.locator("input[data-key='H']")
    box = slider.bounding_box()
    assert box["width"] >= 100
    tab.mouse.click(box["x"] + box["width"] - 2, box["y"] + box["height"] / 2)  # H to (nearly) its maximum
    tab.wait_for_function("([el, old]) => el.textContent !== old", arg=[panels.element_handle(), before],
                          timeout=30_000)  # fmt: skip
    tab.screenshot(path=str(folder / "lab.png"))
    assert "windows of 49 tokens" in panels.text_content()
    # Saving writes no widget state (lab.sh's settings) and keeps the notebook small.
    tab.evaluate("() => jupyterapp.commands.execute('docmanager:save')")
    tab.wait_for_timeout(1500)
    saved = json.loads((folder / CHAPTER).read_text())
    assert "widgets" not in saved["metadata"], "JupyterLab saved widget state into the notebook"


def test_live_explorer_slider_redraws_the_figure(lab, tab) -> None:
    """A Python explorer (ipywidgets + plotly) recomputes in the kernel when a slider moves."""
    url, token, folder = lab
    with _screenshot_on_error(tab, folder, "live"):
        _check_live_explorer(tab, url, token)


def _check_live_explorer(tab, url: str, token: str) -> None:
    _open_and_run(tab, url, token, FLOPS_CHAPTER, timeout_s=240)
    panel = tab.locator(".jp-NotebookPanel:visible")
    explorer = panel.locator(".widget-vbox", has=tab.locator("b", has_text="Counting MACs")).first
    explorer.scroll_into_view_if_needed()
    figure = explorer.locator(".js-plotly-plot").first
    figure.wait_for(timeout=30_000)
    title = figure.locator(".gtitle").first
    before = title.text_content()
    # The figure fills the cell (not plotly's 700 px default) and no svg is wider than its output area.
    tab.wait_for_timeout(500)
    widths = tab.evaluate("""(el) => { const svg = el.querySelector('.main-svg');
        const area = el.closest('.jp-OutputArea-output'); return [svg.getBoundingClientRect().width,
        area.getBoundingClientRect().width]; }""", figure.element_handle())  # fmt: skip
    assert widths[0] <= widths[1] + 1 and widths[0] > 0.8 * widths[1], f"figure {widths[0]} px in a {widths[1]} px cell"
    # Controls keep their width (they wrap rather than shrink): a slider track stays usable.
    track = explorer.locator(".widget-slider .noUi-target, .widget-slider .slider-container").first
    assert track.bounding_box()["width"] >= 100
    handle = explorer.locator(".widget-slider .noUi-handle").first  # tokens/side h
    handle.scroll_into_view_if_needed()
    tab.mouse.wheel(0, 200)  # the slider clear of the bottom edge
    tab.wait_for_timeout(300)
    _drag(tab, handle, -40)
    plot = figure.element_handle()
    tab.wait_for_function("([el, old]) => el.querySelector('.gtitle').textContent !== old", arg=[plot, before],
                          timeout=30_000)  # fmt: skip
    after = plot.evaluate("(el) => el.querySelector('.gtitle').textContent")
    assert after != before and "Counting the work" in after, (before, after)


def test_browser_explorer_syncs_with_python(lab, tab) -> None:
    url, token, _ = lab
    _open_and_run(tab, url, token, "component.ipynb", timeout_s=120)
    root = tab.locator(".jp-NotebookPanel:visible .swin-viz").first
    root.wait_for(timeout=30_000)
    # The component writes its opening state to Python, then every change the reader makes.
    slider = root.locator("input[data-key='s']")
    slider.evaluate("(el) => { el.value = '1'; el.dispatchEvent(new Event('input')); }")
    tab.wait_for_timeout(500)
    # Run only the second cell: it prints the state the kernel now holds.
    tab.evaluate("""() => { const nb = jupyterapp.shell.currentWidget.content; nb.activeCellIndex = 1;
                            return jupyterapp.commands.execute('notebook:run-cell'); }""")
    tab.wait_for_function(
        "() => [...document.querySelectorAll('.jp-OutputArea-output')].some(e => e.textContent.includes(\"('s', 1)\"))",
        timeout=60_000,
    )


def test_flops_table_shows_every_cell_before_any_change(lab, tab) -> None:
    """The table was drawn at plotly's 700 px default before the cell was laid out: 11 of its 33 cells showed."""
    url, token, folder = lab
    with _screenshot_on_error(tab, folder, "flops"):
        _check_flops_table(tab, url, token)


def _check_flops_table(tab, url: str, token: str) -> None:
    _open_and_run(tab, url, token, FLOPS_CHAPTER, timeout_s=240)
    title = tab.locator("b", has_text="Counting MACs")
    explorer = tab.locator(".jp-NotebookPanel:visible .widget-vbox", has=title).first
    explorer.scroll_into_view_if_needed(timeout=120_000)  # the widget appears when its cell's output renders
    figure = explorer.locator(".js-plotly-plot").first
    figure.wait_for(timeout=60_000)
    tab.wait_for_timeout(1000)
    cells = figure.evaluate(
        """(el) => [...el.querySelectorAll('.table .cell-text')].filter(t => {
             const r = t.getBoundingClientRect(), box = el.getBoundingClientRect();
             return t.textContent.trim() && r.width > 0 && r.right <= box.right + 1 && r.left >= box.left - 1;
           }).length"""
    )
    assert cells == 33, f"the FLOPs table shows {cells} of 33 cells"
