"""What a notebook saved from ``scripts/lab.sh`` keeps (``scripts/lab_config.py``), and what ``show`` emits.

The browser test (``tests/test_viz_lab.py``) saves a chapter from JupyterLab and reopens it; these check the rules
themselves, fast and without a browser.
"""

from __future__ import annotations

import runpy
from pathlib import Path

import plotly.graph_objects as go
import pytest

ROOT = Path(__file__).resolve().parents[1]
WIDGET = "application/vnd.jupyter.widget-view+json"
PLOTLY = "application/vnd.plotly.v1+json"


def _config() -> dict:
    """The config file as Jupyter loads it: a namespace with ``get_config``."""
    from traitlets.config import Config

    c = Config()
    ns = runpy.run_path(str(ROOT / "scripts" / "lab_config.py"), init_globals={"get_config": lambda: c})
    return {"c": c, **ns}


def _display(data: dict, metadata: dict | None = None) -> dict:
    return {"output_type": "display_data", "data": data, "metadata": metadata or {}}


def test_a_saved_notebook_keeps_each_figure_once_and_no_widget() -> None:
    ns = _config()
    assert ns["c"].ContentsManager.pre_save_hook is ns["pre_save"]
    nb = {"metadata": {"widgets": {"state": "megabytes"}}, "cells": [
        {"cell_type": "markdown", "source": "text", "metadata": {}},
        {"cell_type": "code", "source": "w", "metadata": {}, "outputs": [
            _display({"text/plain": "VBox(...)", WIDGET: {"model_id": "abc", "version_major": 2}}),
            _display({"text/plain": "fig", "text/html": "<div>", "image/png": "iVBOR", PLOTLY: {"data": []}},
                     {"image/png": {"width": 600}}),
            _display({"image/png": "iVBOR", "text/plain": "<Figure>"}),  # a matplotlib figure: kept as it is
            {"output_type": "stream", "name": "stdout", "text": "printed"},
        ]},
    ]}  # fmt: skip
    model = {"type": "notebook", "content": nb}
    ns["pre_save"](model=model, path="x.ipynb", contents_manager=None)
    outputs = nb["cells"][1]["outputs"]
    assert "widgets" not in nb["metadata"]
    assert outputs[0]["data"] == {"text/plain": ns["RUN_TO_MAKE_LIVE"]} and "run the cell" in ns["RUN_TO_MAKE_LIVE"]
    assert outputs[1]["data"] == {"text/plain": "fig", PLOTLY: {"data": []}} and outputs[1]["metadata"] == {}
    assert outputs[2]["data"] == {"image/png": "iVBOR", "text/plain": "<Figure>"}
    assert outputs[3]["text"] == "printed"
    untouched = {"type": "file", "content": "a text file"}
    ns["pre_save"](model=untouched, path="x.txt", contents_manager=None)
    assert untouched == {"type": "file", "content": "a text file"}


@pytest.mark.parametrize("build", ["", "1"])
def test_show_emits_one_representation(build: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Plotly's JSON in Jupyter (drawn with no kernel, trusted or not), HTML only while the book is built."""
    import IPython.display

    from swin_viz.viz import display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda bundle, raw: shown.append(bundle))
    monkeypatch.setenv("SWIN_VIZ_BOOK_BUILD", build)
    display.show(go.Figure(go.Bar(y=[1, 2]), layout={"title": {"text": "bars"}}))
    (bundle,) = shown
    want = {"text/plain", "text/html"} if build else {"text/plain", PLOTLY}
    assert set(bundle) == want and bundle["text/plain"] == "<plotly figure: bars>"
