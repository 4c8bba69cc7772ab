"""Copy the JavaScript the HTML book needs from installed packages into _vendor/ (not committed).

    .venv/bin/python scripts/book_assets.py

The published book must work with no network: plotly.js comes from the plotly package, MathJax 3 (the chapters'
equations) from django-static-mathjax, a PyPI package that only carries MathJax's files. Sphinx would otherwise
load both from CDNs. Sphinx copies _vendor/ into the book's _static/ (html_static_path); it is a folder of its own
because Jupyter Book adds every script it finds in _static/ to every page.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from swin_viz.viz.display import plotly_js_path

VENDOR = Path(__file__).resolve().parents[1] / "_vendor"


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


if __name__ == "__main__":
    main()
