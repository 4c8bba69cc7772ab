"""JupyterLab, one command: ``bash scripts/lab.sh`` serves the notebooks; a chapter runs, a slider moves, the figure
changes, a browser explorer syncs its state with Python and owns its arrow keys, a saved chapter reopens without a
widget error and holds each figure once, MyST renders, a student's lab runs to its last cell, and the clone is left
as it was.

Starts ``scripts/lab.sh`` on 127.0.0.1 with a random token, its working copy in a temporary folder
(``SWIN_VIZ_LAB_DIR``), and drives it with Debian's Chromium through Playwright. Skips without Chromium /
playwright. Bounded: every wait has a deadline, the server is stopped at the end. Set ``SWIN_VIZ_LAB_NO_INSTALL=1``
to start it from ``.venv`` as it is (lab.sh otherwise runs ``scripts/venv.sh`` first). Prints the timings it
measures (``-s`` shows them).
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
CHAPTER = "book/03_window_attention.ipynb"
"""A chapter with a browser explorer (window partition, an anywidget) that runs in ~15 s."""
FLOPS_CHAPTER = "book/01_why_windows.ipynb"
"""The chapter whose live (Python) FLOPs explorer has a table (10 rows of 3 cells and a header)."""
SAVED_CHAPTER = "book/04_shifted_windows.ipynb"
"""The chapter the issue measured: JavaScript and Python explorers, plotly figures, MyST admonitions."""
LAB = "notebooks/student/lab04_shifted_windows.ipynb"
"""A lab as a student opens it: three exercises, all stubs, and demo cells that call them."""


def _git_status() -> str:
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout  # fmt: skip


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
    work = folder / "work"  # lab.sh's working copy (by default _lab/ in the clone)
    work.mkdir()
    component = nbformat.v4.new_notebook()
    component.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    component.cells = [
        nbformat.v4.new_code_cell("from swin_viz.viz.components import explore\nw = explore('shift')\nw"),
        nbformat.v4.new_code_cell("print('STATE', sorted(w.state.items()))"),
    ]
    nbformat.write(component, work / "component.ipynb")
    status = _git_status()
    port, token = _free_port(), secrets.token_hex(16)
    # The reader's own Jupyter config, runtime files and saved workspaces stay out of it (and untouched).
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(folder / "config"), "JUPYTER_RUNTIME_DIR": str(folder / "runtime"),
           "JUPYTERLAB_WORKSPACES_DIR": str(folder / "workspaces"), "SWIN_VIZ_LAB_DIR": str(work)}  # fmt: skip
    log = open(folder / "lab.log", "w")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen(
        ["bash", str(ROOT / "scripts" / "lab.sh"), "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
         f"--IdentityProvider.token={token}", "--LabApp.expose_app_in_browser=True",
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
        yield url, token, work, status
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
    page.console_errors = []  # type: ignore[attr-defined]
    page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))  # type: ignore[attr-defined]
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


def _time_next_redraw(node, event: str) -> None:
    """Start timing in the page: from the next ``event`` (captured on the document) to the first change of
    ``node``'s subtree, read by :func:`_redraw_ms` (the browser's own clock, no round trip to the test)."""
    node.evaluate(
        """(el, event) => { window.__swinT = {};
             document.addEventListener(event, () => { window.__swinT.start = performance.now(); },
                                       {capture: true, once: true});
             const o = new MutationObserver(() => { if (window.__swinT.start !== undefined) {
                 window.__swinT.end = performance.now(); o.disconnect(); } });
             o.observe(el, {childList: true, subtree: true, characterData: true}); }""",
        event,
    )  # fmt: skip


def _redraw_ms(tab) -> float:
    return tab.evaluate("() => window.__swinT.end - window.__swinT.start")


def test_chapter_runs_and_a_slider_redraws_the_figure(lab, tab) -> None:
    url, token, folder, _ = lab
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
    _time_next_redraw(panels, "mousedown")
    tab.mouse.click(box["x"] + box["width"] - 2, box["y"] + box["height"] / 2)  # H to (nearly) its maximum
    tab.wait_for_function("([el, old]) => el.textContent !== old", arg=[panels.element_handle(), before],
                          timeout=30_000)  # fmt: skip
    print(f"\n[lab] JavaScript explorer: redrawn {_redraw_ms(tab):.0f} ms after a click on a slider")
    tab.screenshot(path=str(folder / "lab.png"))
    assert "windows of 49 tokens" in panels.text_content()
    # The slider owns its arrow keys: the value moves and the figure redraws; the notebook does not react (its
    # shortcuts would move the selection to another cell and scroll the explorer away).
    m = explorer.locator("input[data-key='M']")
    m.focus()
    selected = tab.evaluate("() => jupyterapp.shell.currentWidget.content.activeCellIndex")
    top = tab.evaluate("() => jupyterapp.shell.currentWidget.content.node.scrollTop")
    before = panels.text_content()
    _time_next_redraw(panels, "keydown")
    tab.keyboard.press("ArrowLeft")
    tab.wait_for_function("([el, old]) => el.textContent !== old", arg=[panels.element_handle(), before],
                          timeout=30_000)  # fmt: skip
    print(f"[lab] JavaScript explorer: redrawn {_redraw_ms(tab):.0f} ms after an arrow key")
    assert m.input_value() == "6" and "windows of 36 tokens" in panels.text_content()
    tab.keyboard.press("ArrowRight")
    tab.wait_for_function("(el) => el.textContent.includes('windows of 49 tokens')", arg=panels.element_handle(),
                          timeout=30_000)  # fmt: skip
    assert tab.evaluate("() => jupyterapp.shell.currentWidget.content.activeCellIndex") == selected
    assert tab.evaluate("() => jupyterapp.shell.currentWidget.content.node.scrollTop") == top
    assert tab.evaluate("() => document.activeElement.dataset.key") == "M", "the slider lost the focus"
    # Saving writes no widget state (lab.sh's settings) and keeps the notebook small.
    tab.evaluate("() => jupyterapp.commands.execute('docmanager:save')")
    tab.wait_for_timeout(1500)
    saved = json.loads((folder / CHAPTER).read_text())
    assert "widgets" not in saved["metadata"], "JupyterLab saved widget state into the notebook"
    assert (ROOT / CHAPTER).read_bytes() != (folder / CHAPTER).read_bytes(), "saved to the working copy"


def test_live_explorer_slider_redraws_the_figure(lab, tab) -> None:
    """A Python explorer (ipywidgets + plotly) recomputes in the kernel when a slider moves."""
    url, token, folder, _ = lab
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
    plot = figure.element_handle()
    _drag(tab, handle, -40)
    tab.wait_for_function("([el, old]) => el.querySelector('.gtitle').textContent !== old", arg=[plot, before],
                          timeout=30_000)  # fmt: skip
    after = plot.evaluate("(el) => el.querySelector('.gtitle').textContent")
    assert after != before and "Counting the work" in after, (before, after)
    # How long the kernel takes to redraw after one click on the track (one value change, one round trip).
    tab.wait_for_timeout(1500)  # the drag's last updates are through
    before = plot.evaluate("(el) => el.querySelector('.gtitle').textContent")
    box = track.bounding_box()
    t0 = time.monotonic()
    tab.mouse.click(box["x"] + box["width"] * 0.8, box["y"] + box["height"] / 2)
    tab.wait_for_function("([el, old]) => el.querySelector('.gtitle').textContent !== old", arg=[plot, before],
                          timeout=30_000)  # fmt: skip
    print(f"\n[lab] Python explorer: redrawn {time.monotonic() - t0:.3f} s after a click on a slider")


def test_browser_explorer_syncs_with_python(lab, tab) -> None:
    url, token, _, _ = lab
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
    url, token, folder, _ = lab
    with _screenshot_on_error(tab, folder, "flops"):
        _check_flops_table(tab, url, token)


def _check_flops_table(tab, url: str, token: str) -> None:
    _open_and_run(tab, url, token, FLOPS_CHAPTER, timeout_s=240)
    title = tab.locator("b", has_text="Counting MACs")
    explorer = tab.locator(".jp-NotebookPanel:visible .widget-vbox", has=title).first
    explorer.scroll_into_view_if_needed(timeout=120_000)  # the widget appears when its cell's output renders
    figure = explorer.locator(".js-plotly-plot").first
    figure.wait_for(timeout=60_000)
    # The figure redraws at its cell's width once JupyterLab has laid the cell out (a resize, no change by the
    # reader): wait up to 20 s for that, so a busy machine's late layout is not mistaken for the old bug, where the
    # table stayed at plotly's 700 px default and showed 11 of its 33 cells until a control changed.
    cells, deadline = 0, time.monotonic() + 20
    while True:
        cells = figure.evaluate(
            """(el) => [...el.querySelectorAll('.table .cell-text')].filter(t => {
                 const r = t.getBoundingClientRect(), box = el.getBoundingClientRect();
                 return t.textContent.trim() && r.width > 0 && r.right <= box.right + 1 && r.left >= box.left - 1;
               }).length"""
        )
        if cells == 33 or time.monotonic() > deadline:
            break
        tab.wait_for_timeout(250)
    assert cells == 33, f"the FLOPs table shows {cells} of 33 cells"


WIDGET_ERROR = "Error displaying widget"


def _cell_texts(tab, name: str, kind: str) -> list[str]:
    """The text each ``kind`` cell of notebook ``name`` shows (``code``: its outputs; ``markdown``: the rendered
    text), every cell scrolled to in turn so that JupyterLab renders it."""
    return tab.evaluate(
        """async ([name, kind]) => {
             const p = [...jupyterapp.shell.widgets('main')].find(w => w.context && w.context.path === name);
             const out = [];
             for (const [i, cell] of p.content.widgets.entries()) {
               if (cell.model.type !== kind) continue;
               await p.content.scrollToItem(i, 'start', 0).catch(() => {});
               await cell.ready; await new Promise(r => setTimeout(r, 50));
               if (kind === 'code') { out.push(cell.outputArea.node.innerText); continue; }
               // A markdown cell shows its rendered text once its editor is hidden (innerText skips hidden nodes).
               const edited = () => { const e = cell.node.querySelector('.jp-InputArea-editor');
                                      return e && e.offsetParent !== null; };
               for (let t = 0; t < 100 && (!cell.rendered || edited()); t++) await new Promise(r => setTimeout(r, 50));
               out.push((cell.rendered && !edited() ? '' : 'NOT RENDERED ')
                        + cell.node.querySelector('.jp-Cell-inputArea').innerText);
             }
             return out; }""",
        [name, kind],
    )  # fmt: skip


def _raw_myst(texts: list[str]) -> list[str]:
    """Markdown that shows MyST source instead of rendering it (a directive fence, an option line)."""
    marks = ("NOT RENDERED", "```{", ":::{", ":class:", ":label:", "{exercise", "{solution", "{admonition", "{dropdown",
             "$$")
    return [t[:200] for t in texts if any(m in t for m in marks)]


def test_a_saved_chapter_reopens_without_widget_errors_and_holds_each_figure_once(lab, browser) -> None:
    url, token, work, _ = lab
    page = browser.new_page(viewport={"width": 1500, "height": 1000})
    try:
        with _screenshot_on_error(page, work.parent, "saved"):
            _check_saved_chapter(browser, page, url, token, work)
    finally:
        page.close()


def _check_saved_chapter(browser, page, url: str, token: str, work: Path) -> None:
    path = work / SAVED_CHAPTER
    clean = path.stat().st_size
    _open_and_run(page, url, token, SAVED_CHAPTER, timeout_s=400)
    assert not _raw_myst(_cell_texts(page, SAVED_CHAPTER, 'markdown')), "MyST shown as text"
    mtime = path.stat().st_mtime_ns
    page.evaluate("() => jupyterapp.commands.execute('docmanager:save')")
    deadline = time.monotonic() + 60
    while path.stat().st_mtime_ns == mtime and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(1)
    saved = json.loads(path.read_text())
    print(f"\n[lab] {SAVED_CHAPTER}: {clean:,d} B clean, {path.stat().st_size:,d} B after Run All and Save")
    assert "widgets" not in saved["metadata"]
    outputs = [o for c in saved["cells"] if c["cell_type"] == "code" for o in c["outputs"]]
    figures = [o["data"] for o in outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert figures, "the chapter's figures were saved"
    twice = [sorted(d) for d in figures if {"text/html", "image/png"} & set(d)]
    assert not twice, f"a figure saved more than once: {twice[:2]}"
    assert not [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    lines = [o for o in outputs if "run the cell to make this live" in "".join(o.get("data", {}).get("text/plain", ""))]
    assert lines, "the chapter's explorers were saved as one line each"
    page.evaluate("() => jupyterapp.commands.execute('kernelmenu:shutdown')")
    # Reopen it in a fresh tab, as a reader does the next day.
    again = browser.new_page(viewport={"width": 1500, "height": 1000})
    errors: list[str] = []
    again.on("console", lambda m: m.type == "error" and errors.append(m.text))
    try:
        again.goto(f"{url}/lab/tree/{SAVED_CHAPTER}?reset&token={token}", wait_until="load")
        again.wait_for_function(
            """(name) => { const p = window.jupyterapp && [...jupyterapp.shell.widgets('main')]
                           .find(w => w.context && w.context.path === name);
                           return p && p.context.isReady && p.node.querySelector('.jp-OutputArea-output'); }""",
            arg=SAVED_CHAPTER, timeout=90_000,
        )  # fmt: skip
        texts = _cell_texts(again, SAVED_CHAPTER, 'code')
        again.wait_for_timeout(2000)
        texts = _cell_texts(again, SAVED_CHAPTER, 'code')
        widget_errors = [t for t in texts if WIDGET_ERROR in t]
        print(f"[lab] reopened: {len(widget_errors)} widget errors, {len(errors)} console errors")
        assert not widget_errors, widget_errors
        assert sum("run the cell to make this live" in t for t in texts) == len(lines)
        assert again.locator(".jp-NotebookPanel:visible .js-plotly-plot").count() >= 1, "no figure drawn on reopening"
        assert not [e for e in errors if "widget" in e.lower() or "model" in e.lower()], errors
    finally:
        again.close()


def test_a_lab_runs_to_its_last_cell(lab, tab) -> None:
    """A student opens lab 4 (nothing written yet) and runs all: the demo cells say in one line that they need an
    unwritten function, every cell runs, the last check too; the exercises render (MyST) and no solution is there."""
    url, token, work, _ = lab
    with _screenshot_on_error(tab, work.parent, "student"):
        page = json.loads((work / LAB).read_text())
        assert not [c for c in page["cells"] if "{solution}" in "".join(c["source"])], "the lab page shows solutions"
        _open_and_run(tab, url, token, LAB, timeout_s=300)  # every code cell ran, in order, none failed
        texts = _cell_texts(tab, LAB, 'code')
        assert any("is not written yet" in t for t in texts)
        assert "NOT YET" in texts[-1] or any("NOT YET" in t for t in texts[-3:]), texts[-3:]
        assert not _raw_myst(_cell_texts(tab, LAB, 'markdown')), "MyST shown as text"
        tab.evaluate("() => jupyterapp.shell.currentWidget.content.scrollToItem(4, 'start', 0)")
        tab.wait_for_timeout(500)
        tab.screenshot(path=str(work.parent / "student.png"))


def test_myst_renders_in_chapter_11_and_every_lab(lab, tab) -> None:
    """Admonitions, dropdowns, exercise blocks, labels and LaTeX render (jupyterlab-myst); nothing is run."""
    url, token, work, _ = lab
    labs = sorted(str(p.relative_to(work)) for p in (work / LAB).parent.glob("*.ipynb"))
    pages = ["book/11_efficiency.ipynb", *labs]
    assert len(pages) == 13  # chapter 11 and the 12 labs
    for name in pages:
        _check_myst(tab, url, token, work, name)


def _check_myst(tab, url: str, token: str, work: Path, name: str) -> None:
    with _screenshot_on_error(tab, work.parent, "myst"):
        tab.goto(f"{url}/lab/tree/{name}?reset&token={token}", wait_until="load")
        tab.wait_for_function(
            """(name) => { const p = window.jupyterapp && [...jupyterapp.shell.widgets('main')]
                           .find(w => w.context && w.context.path === name);
                           return p && p.context.isReady && p.node.querySelector('.jp-MarkdownCell'); }""",
            arg=name, timeout=90_000,
        )  # fmt: skip
        raw = _raw_myst(_cell_texts(tab, name, "markdown"))
        assert not raw, f"{name}: MyST shown as text: {raw[:2]}"


def test_reading_leaves_the_clone_unchanged(lab) -> None:
    """Run last: after the session (runs, saves, autosaves) ``git status`` is what it was before lab.sh started;
    the default working copy, ``_lab/``, is ignored by git."""
    _, _, _, status = lab
    assert _git_status() == status
    assert subprocess.run(["git", "check-ignore", "-q", "_lab/book/x.ipynb"], cwd=ROOT).returncode == 0
