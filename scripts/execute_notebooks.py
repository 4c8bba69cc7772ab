"""Execute notebooks in place so the outputs nbval checks are committed with them.

Usage: python scripts/execute_notebooks.py book/*.ipynb notebooks/*.ipynb

Only the outputs of cells marked ``# NBVAL_CHECK_OUTPUT`` are kept (they are what nbval compares); every
other output, and the widgets' saved state, is cleared, so the committed notebooks stay small; the book build
regenerates the rest.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def execute(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3", store_widget_state=False,
                            resources={"metadata": {"path": str(path.parent)}})  # fmt: skip
    client.execute()
    nb.metadata.pop("widgets", None)  # live widgets' state (megabytes of plotly.js) never goes into git
    for cell in nb.cells:
        cell.metadata.pop("execution", None)  # nbclient's timestamps: noise in every diff and merge
        if cell.cell_type != "code":
            continue
        if not cell.source.lstrip().startswith("# NBVAL_CHECK_OUTPUT"):
            cell.outputs = []
            cell.execution_count = None
    nbformat.write(nb, path)
    print(f"executed {path}")


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        execute(Path(arg))
