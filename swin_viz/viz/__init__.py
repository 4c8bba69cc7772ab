"""Figures and explorers for every Swin mechanism.

Each concept has its own module with the same four pieces:

* ``<concept>_spec(**state) -> FigureSpec`` -- what to draw, computed by the library;
* ``to_plotly(spec)`` / ``to_matplotlib(spec)`` -- the HTML and print drawings (:mod:`.render`);
* ``<concept>_explorer(...) -> Explorer`` -- the live ipywidgets version (``.widget`` to display);
* ``<concept>_static(...) -> plotly Figure`` -- the kernel-free version with a slider, for the HTML book.
"""

from . import palette
from .explorer import Explorer, static_figure
from .images import IMAGES, load_image, normalize
from .render import to_matplotlib, to_plotly
from .spec import FigureSpec, Label, Panel, Rect, Series
from .windows import windows_explorer, windows_spec, windows_static

__all__ = [
    "IMAGES", "Explorer", "FigureSpec", "Label", "Panel", "Rect", "Series", "load_image", "normalize", "palette",
    "static_figure", "to_matplotlib", "to_plotly", "windows_explorer", "windows_spec", "windows_static",
]  # fmt: skip
