"""Write book/explorers.ipynb: one section per explorer in swin_viz.viz.EXPLORERS.

    .venv/bin/python scripts/make_gallery.py

One section per explorer, in the order of :data:`swin_viz.viz.EXPLORERS`. An explorer with a browser component
(:data:`swin_viz.viz.components.COMPONENTS`) shows it (``explore(name)``: computed in the reader's browser in the
HTML book, a synced widget in Jupyter), followed, where the Python explorer shows more (a forward pass, a model's
breakdown), by that live explorer in a cell whose output the HTML book hides. The others show their static
(precomputed) explorer and their live one.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from swin_viz.viz import EXPLORERS
from swin_viz.viz.components import COMPONENTS

INTRO = """# Explorer gallery

Every mechanism of Swin as something to step through.

The first six explorers below (windows, the cyclic shift, the mask, relative positions, patch merging, the
FLOP count) **compute in your browser**: small JavaScript components that redo the library's index arithmetic
for any value you pick, on this HTML page with no kernel. The browser test checks what they compute against
`swin_viz`'s own tensors over a grid of parameters. Opened as a notebook (`bash scripts/lab.sh`, or the launch
buttons at the top), the same components run as Jupyter widgets, their state synced with Python
(`widget.state`).

The explorers that need a forward pass through a model (patch embedding, attention maps, the receptive field,
the shape tracer) show precomputed states here, as a figure with a slider; in a notebook their live twins
recompute everything with `swin_viz` on every change (hidden in the HTML book: widget callbacks need a kernel)."""


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
        "The naive shifted windows (more windows, some partial) beside the rolled map with its regular windows, "
        "and the nine regions travelling with their tokens.",
    ),
    "mask": (
        "The attention mask",
        "Choose a map, a window and a query token: the regions of the shifted map, the window's mask, and the keys "
        'the query may attend to. Untick "mask on" to see the leak: the keys from other regions, brought next to '
        "the query by the roll from the far side of the image. What a real block then attends to needs a forward "
        "pass: the live explorer below (in a notebook) reads it through the hooks.",
    ),
    "relative_position": (
        "Relative position bias",
        "The table row each key reads for a query, the rows of the (2M-1)^2 table the query uses, and the whole "
        "relative position index, which fills M^4 entries from (2M-1)^2 rows. The learned bias values themselves "
        "come from a model: the live explorer below (in a notebook) shows them.",
    ),
    "block_path": (
        "One token through a block",
        "A token of a validation digit through one block of the shipped small Swin: its channels and their length "
        "after each step of eq. (3), and where it looked, all read from the block's hook points.",
    ),
    "merging": (
        "Patch merging",
        "The 2x2 gather in the official order, x0 | x1 | x2 | x3, and the 4C vector of one merged token (odd "
        "sides zero-padded). The live explorer below (in a notebook) adds LayerNorm, the 4C to 2C projection and "
        "the stages of each model.",
    ),
    "flops": (
        "Counting the work",
        "The paper's eq. (1) and (2) for one attention layer on h x w tokens, counted exactly. Where a whole Swin "
        "spends its multiply-accumulates, analytic beside measured, needs the model: the live explorer below (in a "
        "notebook).",
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


BROWSER_ONLY = {"windows", "shift"}
"""Browser components that show all their Python explorer shows: no live Python twin in the gallery."""


def section(name: str) -> list:
    title, text = SECTIONS[name]
    live = new_code_cell(f'live(viz.EXPLORERS["{name}"].explorer)')
    live.metadata["tags"] = ["remove-output"]
    if name in COMPONENTS:
        cells = [new_markdown_cell(f"## {title}\n\n{text}"), new_code_cell(f'explore("{name}")')]
        return cells if name in BROWSER_ONLY else [*cells, live]
    return [
        new_markdown_cell(f"## {title}\n\n{text}"),
        new_code_cell(f'show(viz.EXPLORERS["{name}"].static())'),
        live,
    ]


def main() -> None:
    cells = [
        new_markdown_cell(INTRO),
        new_code_cell(
            "import swin_viz.viz as viz\n"
            "from swin_viz.viz.components import explore\n"
            "from swin_viz.viz.display import live, show"
        ),
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
