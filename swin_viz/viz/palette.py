"""One palette for every figure: regions, windows, attention, bias and the mask look the same everywhere.

Colours are chosen to stay distinct for the common forms of colour blindness and to read on the white
figure background used in both the light and dark book themes and in print.
"""

from __future__ import annotations

REGION_COLORS: tuple[str, ...] = (
    "#4E79A7", "#F28E2B", "#E15759", "#76B7B2", "#59A14F", "#EDC948", "#B07AA1", "#FF9DA7", "#9C755F",
)  # fmt: skip
"""Regions 0..8 of the shifted map (label = 3 * row band + column band, as the official code numbers them)."""

REGION_CATEGORIES: list[str] = [f"region {r}" for r in range(len(REGION_COLORS))]
"""The legend names of the regions, in the order of :data:`REGION_COLORS`."""

WINDOW_COLORS: tuple[str, ...] = (
    "#8DD3C7", "#FFFFB3", "#BEBADA", "#FB8072", "#80B1D3", "#FDB462", "#B3DE69", "#FCCDE5", "#D9D9D9",
    "#BC80BD", "#CCEBC5", "#FFED6F",
)  # fmt: skip
"""Windows (pastels, so region colours and outlines stay readable on top); cycled when there are more."""

PAD_COLOR = "#BDBDBD"
"""Padding tokens (the map padded to a multiple of the window; patch merging's odd side)."""

AREA_COLORS: dict[str, str] = {"A": "#E15759", "B": "#4E79A7", "C": "#59A14F"}
"""The A / B / C areas of the paper's Fig. 4 (top-left corner, top strip, left strip) that the roll moves."""

MASK_COLORS: tuple[str, str] = ("#F7F7F7", "#252525")
"""Attention allowed (mask 0) and blocked (mask -100)."""

SEQUENTIAL = "Viridis"
"""Probabilities, magnitudes, counts."""

DIVERGING = "RdBu_r"
"""Signed values centred on 0 (relative position bias, logits)."""

OUTLINE = "#222222"
"""Window borders and other outlines."""

HIGHLIGHT = "#D62728"
"""The selected query / patch."""

OUTLINE_STYLES: dict[str, dict] = {
    "grid": {"color": OUTLINE, "width": 1.2, "dash": False, "fill": None},
    "highlight": {"color": HIGHLIGHT, "width": 3.0, "dash": False, "fill": None},
    "dashed": {"color": OUTLINE, "width": 1.5, "dash": True, "fill": None},
    "fill": {"color": HIGHLIGHT, "width": 1.0, "dash": False, "fill": "rgba(214, 39, 40, 0.25)"},
}
"""The four kinds of outline a figure may draw: window grid, the selected item, a dashed guide, a shaded area."""

FONT_COLOR = "#222222"
BACKGROUND = "#FFFFFF"


def window_color(index: int) -> str:
    """Colour of window ``index`` (the palette repeats every ``len(WINDOW_COLORS)`` windows)."""
    return WINDOW_COLORS[index % len(WINDOW_COLORS)]


def text_color_on(background: str) -> str:
    """Dark or white text, whichever reads better on the ``#RRGGBB`` ``background`` (relative luminance)."""
    r, g, b = (int(background[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return FONT_COLOR if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.45 else BACKGROUND
