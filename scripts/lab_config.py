"""Jupyter server settings of ``scripts/lab.sh`` (passed as ``--config``): what a saved notebook keeps.

A live notebook holds outputs that mean nothing once its kernel is gone, and some held twice:

* a widget's output (an explorer, a figure widget) is a reference to a model that lives in the kernel. Saved, it
  reopens as "Error displaying widget: model not found"; it is saved as one line instead, "run the cell to make
  this live";
* a plotly figure is saved once, as plotly's JSON (JupyterLab draws it again on reopening, with no kernel): the PNG
  that JupyterLab's plotly renderer adds to the output and any HTML copy of the figure are dropped;
* widget state (``metadata.widgets``, megabytes of it) is never saved.

Only the saved file changes; the notebook open in the browser keeps its live outputs. Standard library only, so
the server starts as fast as without it.
"""

from __future__ import annotations

from typing import Any

WIDGET = "application/vnd.jupyter.widget-view+json"
PLOTLY = "application/vnd.plotly.v1+json"
RUN_TO_MAKE_LIVE = "(a live explorer: run the cell to make this live)"
"""What a saved widget output says when the notebook is reopened."""


def for_saving(nb: dict[str, Any]) -> dict[str, Any]:
    """Edit a notebook (nbformat 4, as a dict) in place for saving, as the module docstring says; return it."""
    nb.get("metadata", {}).pop("widgets", None)
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        for out in cell.get("outputs", []):
            data = out.get("data")
            if not isinstance(data, dict):
                continue
            if WIDGET in data:
                out["data"] = {"text/plain": RUN_TO_MAKE_LIVE}
                out["metadata"] = {}
            elif PLOTLY in data:
                out["data"] = {k: v for k, v in data.items() if k in (PLOTLY, "text/plain")}
                out["metadata"] = {k: v for k, v in out.get("metadata", {}).items() if k in out["data"]}
    return nb


def pre_save(model: dict[str, Any], **kwargs: Any) -> None:
    """Jupyter server's ``ContentsManager.pre_save_hook``: applies :func:`for_saving` to every notebook saved."""
    if model.get("type") == "notebook" and isinstance(model.get("content"), dict):
        for_saving(model["content"])


if "get_config" in globals():  # loaded by Jupyter as a config file
    c = get_config()  # type: ignore[name-defined]  # noqa: F821
    c.ContentsManager.pre_save_hook = pre_save
