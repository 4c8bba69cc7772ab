"""A figure described as data, drawn by two back-ends.

Every explorer computes a :class:`FigureSpec` from the library -- panels of heatmaps, images, line or bar
charts and tables, with their labels -- and :mod:`swin_viz.viz.render` draws it with plotly (the HTML book
and the live widgets) or matplotlib (print). One description, two drawings: the two can't disagree, and the
rules every figure must follow (every axis and colour bar labelled, one palette) are checked in one place,
:meth:`FigureSpec.validate`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

KINDS = ("heatmap", "image", "lines", "bars", "table")


@dataclass
class Rect:
    """An outline over heatmap/image cells: rows ``r0..r1-1``, columns ``c0..c1-1`` (cell coordinates).

    ``style`` is one of :data:`swin_viz.viz.palette.OUTLINE_STYLES`: ``grid`` (window borders), ``highlight``
    (the selected item), ``dashed`` (a guide) or ``fill`` (a shaded area).
    """

    r0: float
    c0: float
    r1: float
    c1: float
    style: str = "grid"


@dataclass
class Label:
    """A text label at cell ``(row, col)`` of a heatmap/image panel (or data coordinates of a chart)."""

    row: float
    col: float
    text: str
    color: str = "#222222"
    size: int = 11


@dataclass
class Series:
    """One line or bar series of a chart panel."""

    name: str
    x: list | np.ndarray
    y: list | np.ndarray
    color: str | None = None
    dash: bool = False


@dataclass
class Panel:
    """One subplot.

    * ``heatmap``: ``z`` is ``(rows, cols)``; either continuous (``colorscale``, ``zmin``/``zmax``/``zmid``) or
      categorical (``categories`` names the integer values ``0..k-1``, ``category_colors`` colours them).
    * ``image``: ``z`` is ``(rows, cols, 3)`` floats in [0, 1] or uint8.
    * ``lines`` / ``bars``: ``series``.
    * ``table``: ``header`` and ``rows`` of strings.
    """

    title: str
    kind: str
    z: np.ndarray | None = None
    colorscale: str | None = None
    zmin: float | None = None
    zmax: float | None = None
    zmid: float | None = None
    categories: list[str] | None = None
    category_colors: list[str] | None = None
    colorbar: str | None = None
    show_scale: bool = True
    text: np.ndarray | None = None
    hovertext: np.ndarray | None = None
    x_label: str = ""
    y_label: str = ""
    x_ticks: list[str] | None = None
    y_ticks: list[str] | None = None
    rects: list[Rect] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)
    series: list[Series] = field(default_factory=list)
    log_x: bool = False
    log_y: bool = False
    header: list[str] | None = None
    rows: list[list[str]] | None = None
    hover: str | None = None
    square: bool = True
    """Heatmaps/images: keep cells square (maps); ``False`` lets a long matrix fill the panel."""

    def validate(self) -> None:
        """Raise ``ValueError`` if the panel breaks a house rule (unlabelled axis or colour bar, wrong data)."""
        from .palette import OUTLINE_STYLES

        bad = {r.style for r in self.rects} - set(OUTLINE_STYLES)
        if bad:
            raise ValueError(
                f"panel {self.title!r}: unknown outline style(s) {sorted(bad)}; use {sorted(OUTLINE_STYLES)}"
            )
        if self.kind not in KINDS:
            raise ValueError(f"panel {self.title!r}: kind must be one of {KINDS}, got {self.kind!r}")
        if not self.title:
            raise ValueError("every panel needs a title")
        if self.kind in ("heatmap", "image", "lines", "bars") and not (self.x_label and self.y_label):
            raise ValueError(
                f"panel {self.title!r}: label both axes (x_label={self.x_label!r}, y_label={self.y_label!r})"
            )
        if self.kind == "heatmap":
            if self.z is None or np.asarray(self.z).ndim != 2:
                raise ValueError(f"panel {self.title!r}: a heatmap needs a 2-d z")
            if self.show_scale and not self.colorbar:
                raise ValueError(f"panel {self.title!r}: label the colour bar (or set show_scale=False with labels)")
            if not self.show_scale and not (self.labels or self.text is not None or self.categories):
                raise ValueError(f"panel {self.title!r}: without a colour bar, cells need labels or categories")
            if self.categories is not None and (
                self.category_colors is None or len(self.category_colors) < len(self.categories)
            ):
                raise ValueError(f"panel {self.title!r}: give one colour per category")
        if self.kind == "image" and (self.z is None or np.asarray(self.z).ndim != 3):
            raise ValueError(f"panel {self.title!r}: an image needs z of shape (rows, cols, 3)")
        if self.kind in ("lines", "bars") and not self.series:
            raise ValueError(f"panel {self.title!r}: a chart needs at least one series")
        if self.kind == "table" and (not self.header or self.rows is None):
            raise ValueError(f"panel {self.title!r}: a table needs a header and rows")


@dataclass
class FigureSpec:
    """A whole figure: a title, panels side by side, and a caption (e.g. where the weights come from)."""

    title: str
    panels: list[Panel]
    caption: str = ""
    height: int = 420
    """Height of one row of panels, in pixels (plotly)."""
    columns: int | None = None
    """Panels per row; by default all of them when there are at most two, else two (book pages are narrow)."""

    def grid(self) -> tuple[int, int]:
        """``(rows, columns)`` of the panel grid."""
        n = len(self.panels)
        cols = self.columns or (n if n <= 2 else 2)
        cols = max(1, min(cols, n))
        return -(-n // cols), cols

    def validate(self) -> FigureSpec:
        if not self.title:
            raise ValueError("every figure needs a title")
        if not self.panels:
            raise ValueError(f"figure {self.title!r} has no panels")
        for panel in self.panels:
            panel.validate()
        return self
