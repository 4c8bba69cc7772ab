"""Write book/explorers.ipynb: one section per explorer in swin_viz.viz.EXPLORERS.

    .venv/bin/python scripts/make_gallery.py

Each section shows the static (kernel-free) explorer and, in a cell whose output the HTML book hides, the live
one. The text of each section is the explorer module's first docstring paragraph, so the page and the code say
the same thing.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from swin_viz.viz import EXPLORERS

INTRO = """# Explorer gallery

Every mechanism of Swin as something to step through. Each section shows the **static explorer**: a figure
with a slider, precomputed by the library, that works in this HTML page without a running kernel. Open the
page as a notebook (launch buttons at the top) to get the **live explorer**: the same figure driven by
widgets, recomputed by `swin_viz` on every change. In the HTML book the live cells are hidden, because
widget callbacks need a kernel."""


def section(name: str) -> list:
    entry = EXPLORERS[name]
    module = importlib.import_module(entry.explorer.__module__)
    title, _, text = (module.__doc__ or name).strip().partition("\n\n")
    live = new_code_cell(f'live(viz.EXPLORERS["{name}"].explorer)')
    live.metadata["tags"] = ["remove-output"]
    return [
        new_markdown_cell(f"## {title.strip().rstrip('.')}\n\n{text.strip()}"),
        new_code_cell(f'show(viz.EXPLORERS["{name}"].static())'),
        live,
    ]


def main() -> None:
    cells = [
        new_markdown_cell(INTRO),
        new_code_cell("import swin_viz.viz as viz\nfrom swin_viz.viz.display import live, show"),
    ]
    for name in EXPLORERS:
        cells += section(name)
    kernel = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb = new_notebook(cells=cells, metadata={"kernelspec": kernel, "language_info": {"name": "python"}})
    path = Path(__file__).resolve().parents[1] / "book" / "explorers.ipynb"
    nbformat.write(nb, path)
    print(f"wrote {path} with {len(EXPLORERS)} explorers")


if __name__ == "__main__":
    main()
