"""Figures and explorers for every Swin mechanism.

Each concept has its own module with the same four pieces:

* ``<concept>_spec(**state) -> FigureSpec`` -- what to draw, computed by the library;
* ``to_plotly(spec)`` / ``to_matplotlib(spec)`` -- the HTML and print drawings (:mod:`.render`);
* ``<concept>_explorer(...) -> Explorer`` -- the live ipywidgets version (``.widget`` to display);
* ``<concept>_static(...) -> plotly Figure`` -- the kernel-free version with a slider, for the HTML book.

The six index-arithmetic explorers (windows, shift, mask, relative position, merging, FLOPs) also exist as
ES-module components that compute in the reader's browser (:mod:`.components`, ``swin_viz/viz/js/``): a synced
anywidget in Jupyter, self-contained HTML in the book (:func:`explore` picks one).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import (
    architecture,
    attention_maps,
    block_path,
    flops,
    mask,
    merging,
    palette,
    patches,
    receptive_field,
    relative_position,
    shapes,
    shift,
    training,
    where_it_looks,
    windows,
)
from .components import COMPONENTS, explore
from .explorer import Explorer, static_figure
from .images import IMAGES, load_image, normalize
from .render import to_matplotlib, to_plotly
from .spec import FigureSpec, Label, Panel, Rect, Series
from .windows import windows_explorer, windows_spec, windows_static


@dataclass(frozen=True)
class ExplorerEntry:
    """How to build one explorer, replay its benchmark changes, and make its static twin."""

    explorer: Callable[[], Explorer]
    changes: list[dict[str, Any]]
    static: Callable[[], Any]


EXPLORERS: dict[str, ExplorerEntry] = {
    "patches": ExplorerEntry(patches.patches_explorer, patches.BENCH_CHANGES, patches.patches_static),
    "windows": ExplorerEntry(windows.windows_explorer, windows.BENCH_CHANGES, windows.windows_static),
    "shift": ExplorerEntry(shift.shift_explorer, shift.BENCH_CHANGES, shift.shift_static),
    "mask": ExplorerEntry(mask.mask_explorer, mask.BENCH_CHANGES, mask.mask_static),
    "relative_position": ExplorerEntry(
        relative_position.relative_position_explorer,
        relative_position.BENCH_CHANGES,
        relative_position.relative_position_static,
    ),
    "block_path": ExplorerEntry(block_path.block_path_explorer, block_path.BENCH_CHANGES, block_path.block_path_static),
    "merging": ExplorerEntry(merging.merging_explorer, merging.BENCH_CHANGES, merging.merging_static),
    "flops": ExplorerEntry(flops.flops_explorer, flops.BENCH_CHANGES, flops.flops_static),
    "attention_maps": ExplorerEntry(
        attention_maps.attention_maps_explorer, attention_maps.BENCH_CHANGES, attention_maps.attention_maps_static
    ),
    "receptive_field": ExplorerEntry(
        receptive_field.receptive_field_explorer,
        receptive_field.RECEPTIVE_FIELD_BENCH_CHANGES,
        receptive_field.receptive_field_static,
    ),
    "shapes": ExplorerEntry(shapes.shapes_explorer, shapes.BENCH_CHANGES, shapes.shapes_static),
    "where_it_looks": ExplorerEntry(
        where_it_looks.where_it_looks_explorer, where_it_looks.BENCH_CHANGES, where_it_looks.where_it_looks_static
    ),
}
"""Every explorer, in the order of the book (bench/bench_widgets.py and the tests walk this)."""

__all__ = [
    "COMPONENTS",
    "EXPLORERS",
    "IMAGES",
    "Explorer",
    "ExplorerEntry",
    "FigureSpec",
    "Label",
    "Panel",
    "Rect",
    "Series",
    "architecture",
    "explore",
    "load_image",
    "normalize",
    "palette",
    "static_figure",
    "to_matplotlib",
    "to_plotly",
    "training",
    "windows_explorer",
    "windows_spec",
    "windows_static",
]  # fmt: skip
