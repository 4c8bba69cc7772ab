import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ENTRIES = [
    (
        "windows",
        "Window partition",
        "Tokens coloured by window for a chosen window size M and map size, and the windows laid out as the batch axis that window attention sees. A window that does not divide the map pads it; a map smaller than a window gets one window of its own size.",
    ),
]
cells = [
    new_markdown_cell("""# Explorer gallery

Every mechanism of Swin as something to step through. Each section shows the **static explorer**: a figure
with a slider, precomputed by the library, that works in this HTML page without a running kernel. Open the
page as a notebook (launch buttons at the top) to get the **live explorer**: the same figure driven by
widgets, recomputed by `swin_viz` on every change. In the HTML book the live cells are hidden, because
widget callbacks need a kernel."""),
    new_code_cell("""import swin_viz.viz as viz
from swin_viz.viz.display import live, show"""),
]
for name, title, text in ENTRIES:
    cells.append(new_markdown_cell(f"## {title}\n\n{text}"))
    cells.append(new_code_cell(f'show(viz.EXPLORERS["{name}"].static())'))
    c = new_code_cell(f'live(viz.EXPLORERS["{name}"].explorer)')
    c.metadata["tags"] = ["remove-output"]
    cells.append(c)
nb = new_notebook(
    cells=cells,
    metadata={
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    },
)
nbformat.write(nb, "book/explorers.ipynb")
