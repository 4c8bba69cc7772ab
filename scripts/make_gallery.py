"""Write book/explorers.ipynb: one section per explorer in swin_viz.viz.EXPLORERS.

    .venv/bin/python scripts/make_gallery.py

Each section shows the static (kernel-free) explorer and, in a cell whose output the HTML book hides, the live
one, in the order of :data:`swin_viz.viz.EXPLORERS`.
"""

from __future__ import annotations

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


SECTIONS = {
    "patches": (
        "Patch partition and embedding",
        "Pick a patch of a real photograph and follow its pixels into the "
        "48-vector that patch_partition makes, then into the C-channel embedding.",
    ),
    "windows": (
        "Window partition",
        "Tokens coloured by window, and the windows laid out as the batch axis that window "
        "attention sees; padding and the small-map clamp included.",
    ),
    "shift": (
        "The cyclic shift",
        "The naive shifted windows beside the rolled map with its regular windows, the regions "
        "(and the popular explanations' A/B/C areas) moving with their tokens, and the roll back.",
    ),
    "mask": (
        "The attention mask",
        "Choose a window and a query token: the mask of that window, the keys the query may "
        "attend to, and what a real block attends to with the mask and without it (through the hooks).",
    ),
    "relative_position": (
        "Relative position bias",
        "The index table, the offsets a query sees, the bias that lands on "
        "its logits, and the (2M-1)^2 table that fills M^4 entries.",
    ),
    "merging": (
        "Patch merging",
        "The 2x2 gather in the official order, the 4C concatenation, LayerNorm and the 4C to 2C "
        "projection, and the resolution and channels of every stage.",
    ),
    "flops": (
        "Counting the work",
        "Global against window attention as the map grows, and where a Swin model spends its "
        "multiply-accumulates, analytic beside measured.",
    ),
    "attention_maps": (
        "Attention maps",
        "The attention of one query, block by block, on a validation digit, read through the hook points of "
        "the small Swin the package ships (trained on the digits; a photograph with random weights on request).",
    ),
    "receptive_field": (
        "Receptive field",
        "How far information travels after k blocks, with and without the shift, "
        "measured by perturbing one input token.",
    ),
    "shapes": ("Shape tracer", "Every hooked tensor of a Swin-T forward pass, with its shape, stage by stage."),
}
"""Title and one-line description of each explorer's section."""


def section(name: str) -> list:
    title, text = SECTIONS[name]
    live = new_code_cell(f'live(viz.EXPLORERS["{name}"].explorer)')
    live.metadata["tags"] = ["remove-output"]
    return [
        new_markdown_cell(f"## {title}\n\n{text}"),
        new_code_cell(f'show(viz.EXPLORERS["{name}"].static())'),
        live,
    ]


def main() -> None:
    cells = [
        new_markdown_cell(INTRO),
        new_code_cell("import swin_viz.viz as viz\nfrom swin_viz.viz.display import live, show"),
    ]
    missing = set(EXPLORERS) - set(SECTIONS)
    if missing:
        raise SystemExit(f"add a title and description for {sorted(missing)} to SECTIONS")
    for name in EXPLORERS:
        cells += section(name)
    kernel = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb = new_notebook(cells=cells, metadata={"kernelspec": kernel, "language_info": {"name": "python"}})
    path = Path(__file__).resolve().parents[1] / "book" / "explorers.ipynb"
    nbformat.write(nb, path)
    print(f"wrote {path} with {len(EXPLORERS)} explorers")


if __name__ == "__main__":
    main()
