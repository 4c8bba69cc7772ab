"""Copy the JavaScript the HTML book needs from installed packages into _vendor/ (not committed).

    .venv/bin/python scripts/book_assets.py

The published book must work with no network: plotly.js comes from the plotly package, MathJax 3 (the chapters'
equations) from django-static-mathjax, a PyPI package that only carries MathJax's files. Sphinx would otherwise
load both from CDNs. Sphinx copies _vendor/ into the book's _static/ (html_static_path); it is a folder of its own
because Jupyter Book adds every script it finds in _static/ to every page.

The live model page (book/live_model.ipynb) runs the shipped digits-small model in the reader's browser with
onnxruntime-web: `npm install` fetches the pinned package from the npm registry into _npm/ (not committed; skipped
when it is there already), and the three files the page loads are gzipped into _vendor/onnxruntime-web/. Its graph,
_vendor/live/digits_small.onnx.gz (only gzipped: _vendor/ is copied into the HTML), is exported here by
swin_viz.export_onnx (re-exported when the library or the weights changed).
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import shutil
import subprocess
import tempfile
from pathlib import Path

from swin_viz.viz.display import plotly_js_path

ROOT = Path(__file__).resolve().parents[1]
VENDOR = ROOT / "_vendor"
NPM = ROOT / "_npm"
ORT_WEB = "onnxruntime-web@1.31.1"
"""The pinned onnxruntime-web (npm) the live model page runs on."""


def mathjax_es5() -> Path:
    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("MathJax files not found: pip install django-static-mathjax (see requirements.txt)")
    path = Path(next(iter(spec.submodule_search_locations))) / "static" / "mathjax" / "es5"
    if not (path / "tex-mml-chtml.js").exists():
        raise SystemExit(f"{path} has no tex-mml-chtml.js; reinstall django-static-mathjax")
    return path


def main() -> None:
    VENDOR.mkdir(exist_ok=True)
    shutil.copy(plotly_js_path(), VENDOR / "plotly.min.js")
    target = VENDOR / "mathjax"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(mathjax_es5(), target)
    print(f"copied plotly.min.js and MathJax into {VENDOR}")
    onnxruntime_web()
    live_graph()


def onnxruntime_web() -> None:
    """npm-install the pinned onnxruntime-web into _npm/ (once) and copy the files the live page loads."""
    from swin_viz.viz.components import LIVE_VENDOR

    dist = NPM / "node_modules" / "onnxruntime-web" / "dist"
    version = ORT_WEB.split("@")[1]
    package = dist.parent / "package.json"
    if not package.exists() or f'"version": "{version}"' not in package.read_text():
        if shutil.which("npm") is None:
            raise SystemExit(
                "npm not found: the live model page needs it once to fetch onnxruntime-web (apt install npm)"
            )
        NPM.mkdir(exist_ok=True)
        subprocess.run(["npm", "install", "--prefix", str(NPM), "--no-audit", "--no-fund", "--ignore-scripts",
                        "--no-save", ORT_WEB], check=True)  # fmt: skip
    target = VENDOR / "onnxruntime-web"
    target.mkdir(parents=True, exist_ok=True)
    for name in LIVE_VENDOR:
        gzipped(dist / name, target / f"{name}.gz")
    print(f"gzipped {', '.join(LIVE_VENDOR)} ({ORT_WEB}) into {target}")


def gzipped(source: Path, target: Path) -> None:
    """``source`` gzipped to ``target`` (no time stamp: the same input gives the same bytes). The page fetches the
    .gz files and inflates them itself (DecompressionStream), so a static server that does not compress still sends
    a quarter of the WebAssembly's 15 MB."""
    target.write_bytes(gzip.compress(source.read_bytes(), compresslevel=9, mtime=0))


def live_graph() -> None:
    """Export the live page's graph, unless one exported from the same library and weights is there."""
    import swin_viz
    from swin_viz.export import export_onnx
    from swin_viz.pretrained import ASSETS, PRETRAINED, load_pretrained
    from swin_viz.viz.components import LIVE_MODEL, LIVE_OUTPUTS

    sources = [*sorted(Path(swin_viz.__file__).parent.glob("*.py")), ASSETS / f"{PRETRAINED[LIVE_MODEL]}.pt"]
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources) + repr(LIVE_OUTPUTS).encode()).hexdigest()
    target = VENDOR / "live" / "digits_small.onnx.gz"  # only the gzipped graph: _vendor/ is copied into the HTML
    stamp = VENDOR / "live" / "digits_small.sha256"
    (VENDOR / "live" / "digits_small.onnx").unlink(missing_ok=True)  # the unzipped copy older builds left
    if not (target.exists() and stamp.exists() and stamp.read_text() == digest):
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            graph = Path(tmp) / "digits_small.onnx"
            export_onnx(load_pretrained(LIVE_MODEL)[0], graph, hook_outputs=list(LIVE_OUTPUTS))
            gzipped(graph, target)
            print(f"exported {target} ({graph.stat().st_size / 1e6:.1f} MB, {target.stat().st_size / 1e6:.1f} MB "
                  "gzipped)")  # fmt: skip
        stamp.write_text(digest)


if __name__ == "__main__":
    main()
