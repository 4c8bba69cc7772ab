"""Draw a :class:`~swin_viz.viz.spec.FigureSpec` with plotly (HTML book, live widgets) or matplotlib (print).

Both back-ends follow the same conventions: heatmaps in image orientation (row 0 at the top, square cells),
categorical maps with one colour per category and a labelled colour bar, outlines and labels in cell
coordinates, a white background that reads in light and dark themes and on paper.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go

from . import palette
from .spec import FigureSpec, Panel

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure as MplFigure

__all__ = [
    "MIN_PANEL_WIDTH", "MPL_COLORMAPS", "columns_for", "image_of", "to_matplotlib", "to_plotly", "to_plotly_dict",
]  # fmt: skip

MPL_COLORMAPS = {"Viridis": "viridis", "RdBu_r": "RdBu_r", "Greys": "Greys", "Magma": "magma", "Blues": "Blues"}


def _as_uint8(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z)
    if z.dtype == np.uint8:
        return z
    return (np.clip(z, 0.0, 1.0) * 255).round().astype(np.uint8)


def _png_data_uri(z: np.ndarray) -> str:
    """An RGB image as a PNG data URI: a few KB of base64 instead of a nested list of every pixel, which
    keeps widget updates fast and static figures small."""
    import base64
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(_as_uint8(z)).save(buffer, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def image_of(trace: Any) -> np.ndarray:
    """The ``(rows, cols, 3)`` uint8 pixels an image trace shows (decodes its PNG ``source``)."""
    import base64
    import io

    from PIL import Image

    source = trace["source"] if isinstance(trace, dict) else trace.source
    data = base64.b64decode(source.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def _json_safe(z: np.ndarray) -> np.ndarray:
    """``z`` with NaN / inf as ``None`` (plotly draws a gap): a live widget sends its data as JSON, which has no
    NaN (the kernel would warn "Out of range float values are not JSON compliant" at every update)."""
    if z.dtype.kind != "f" or np.isfinite(z).all():
        return z
    return np.where(np.isfinite(z), z, None).astype(object)


def _discrete_colorscale(colors: list[str]) -> list[list]:
    k = len(colors)
    scale = []
    for i, c in enumerate(colors):
        scale += [[i / k, c], [(i + 1) / k, c]]
    return scale


# --------------------------------------------------------------------------------------------------- plotly
# Figures are built as plain dicts and validated once by go.Figure (or by the FigureWidget they update):
# make_subplots / add_trace / add_shape validate at every step, which costs more than the drawing itself.
_TEMPLATE = {
    "layout": {
        "paper_bgcolor": palette.BACKGROUND,
        "plot_bgcolor": palette.BACKGROUND,
        "font": {"color": palette.FONT_COLOR},
        "xaxis": {"gridcolor": "#E5E5E5", "zerolinecolor": "#CCCCCC", "linecolor": "#444444", "ticks": "outside"},
        "yaxis": {"gridcolor": "#E5E5E5", "zerolinecolor": "#CCCCCC", "linecolor": "#444444", "ticks": "outside"},
        "colorway": list(palette.REGION_COLORS),
    }
}


def _heatmap_trace(p: Panel, colorbar_x: float, ydomain: list[float]) -> dict:
    trace: dict = dict(type="heatmap", z=_json_safe(np.asarray(p.z)), showscale=p.show_scale)
    colorbar = dict(title=dict(text=p.colorbar or "", side="right"), x=colorbar_x, y=(ydomain[0] + ydomain[1]) / 2,
                    yanchor="middle", len=0.9 * (ydomain[1] - ydomain[0]), thickness=12)  # fmt: skip
    if p.categories is not None:
        k = len(p.categories)
        colorbar.update(tickvals=list(range(k)), ticktext=p.categories)
        trace.update(colorscale=_discrete_colorscale(list(p.category_colors)[:k]), zmin=-0.5, zmax=k - 0.5)
    else:
        trace.update(colorscale=p.colorscale or palette.SEQUENTIAL, zmin=p.zmin, zmax=p.zmax, zmid=p.zmid)
    trace["colorbar"] = colorbar
    if p.text is not None:
        trace.update(text=np.asarray(p.text), texttemplate="%{text}", textfont=dict(size=9))
    if p.hovertext is not None:
        trace.update(hovertext=np.asarray(p.hovertext), hovertemplate="%{hovertext}<extra></extra>")
    else:
        trace["hovertemplate"] = p.hover or "row %{y}, col %{x}: %{z}<extra></extra>"
    return trace


def _overlay_traces(p: Panel) -> list[dict]:
    """Outlines and labels of a heatmap/image panel as traces: one per outline style, one for the labels.

    Always the same traces (empty when unused), so every state of an explorer has the same trace list and a
    slider step can restyle it; and traces are cheap, where hundreds of layout shapes/annotations are not.
    """
    traces = []
    for style, look in palette.OUTLINE_STYLES.items():
        xs: list = []
        ys: list = []
        for r in p.rects:
            if r.style == style:
                x0, x1, y0, y1 = r.c0 - 0.5, r.c1 - 0.5, r.r0 - 0.5, r.r1 - 0.5
                xs += [x0, x1, x1, x0, x0, None]
                ys += [y0, y0, y1, y1, y0, None]
        traces.append(dict(
            type="scatter", x=xs, y=ys, mode="lines", name=style, showlegend=False, hoverinfo="skip",
            line=dict(color=look["color"], width=look["width"], dash="dash" if look["dash"] else "solid"),
            fill="toself" if look["fill"] else "none", fillcolor=look["fill"],
        ))  # fmt: skip
    traces.append(dict(
        type="scatter", x=[lab.col for lab in p.labels], y=[lab.row for lab in p.labels],
        text=[lab.text for lab in p.labels], mode="text", showlegend=False, hoverinfo="skip",
        textfont=dict(color=[lab.color for lab in p.labels], size=[lab.size for lab in p.labels]),
    ))  # fmt: skip
    return traces


def _axis(title: str, log: bool, ticks: list[str] | None) -> dict:
    axis: dict = dict(title=dict(text=title), type="log" if log else "-", automargin=True)
    if ticks is not None:
        axis.update(tickvals=list(range(len(ticks))), ticktext=ticks)
    return axis


MIN_PANEL_WIDTH = 340
"""Narrowest a panel may be drawn, in CSS pixels: a figure shows as many columns as its container allows
(never more than the spec asks for); the HTML book (``_theme/swin_viz.js``) and the live widgets choose."""


def _geometry(spec: FigureSpec, cols: int) -> dict:
    """Where each panel goes with ``cols`` panels per row: paper-coordinate domains, height, margins, caption."""
    n = len(spec.panels)
    cols = max(1, min(cols, n))
    rows = -(-n // cols)
    hspace = (0.16 if any(p.kind == "heatmap" and p.show_scale for p in spec.panels) else 0.1) if cols > 1 else 0.0
    vspace = 110 / (spec.height * rows) if rows > 1 else 0.0  # ~110 px for axis title + next row's titles
    width = (1.0 - hspace * (cols - 1)) / cols
    tall = (1.0 - vspace * (rows - 1)) / rows
    caption = "<br>".join(textwrap.wrap(spec.caption, 60 * cols + 20))
    lines = caption.count("<br>")
    panels = []
    for i in range(n):
        r, c = divmod(i, cols)
        x0 = c * (width + hspace)
        y1 = 1.0 - r * (tall + vspace)
        # Rounding can put the last edge a hair past 1 (e.g. 1.0000000000000002 with 8 columns): plotly refuses it.
        xdomain = [round(x0, 9), min(round(x0 + width, 9), 1.0)]
        panels.append((xdomain, [max(round(y1 - tall, 9), 0.0), min(round(y1, 9), 1.0)]))
    return dict(cols=cols, rows=rows, panels=panels, caption=caption, height=spec.height * rows + 40 * lines,
                margin_t=100 + 16 * lines)  # fmt: skip


def _grid_patch(spec: FigureSpec, geo: dict, data: list[dict]) -> dict:
    """What changes between two panel grids, as flat plotly update keys: ``{"layout": {...}, "traces": {i: {...}}}``.

    ``data`` is the figure's trace list (its ``xaxis`` / ``yaxis`` / ``type`` tell which panel a trace is on).
    """
    layout: dict = {"height": geo["height"], "margin.t": geo["margin_t"]}
    if spec.caption:
        layout["title.subtitle.text"] = geo["caption"]
    traces: dict = {}
    axis_of = {}
    for i, (domain, ydomain) in enumerate(geo["panels"]):
        suffix = "" if i == 0 else str(i + 1)
        axis_of["x" + suffix] = (domain, ydomain)
        layout[f"annotations[{i}].x"] = (domain[0] + domain[1]) / 2
        layout[f"annotations[{i}].y"] = ydomain[1]
        if spec.panels[i].kind != "table":
            layout[f"xaxis{suffix}.domain"] = domain
            layout[f"yaxis{suffix}.domain"] = ydomain
    tables = iter(i for i, p in enumerate(spec.panels) if p.kind == "table")
    for k, t in enumerate(data):
        if t["type"] == "table":
            domain, ydomain = geo["panels"][next(tables)]
            traces[k] = {"domain.x": domain, "domain.y": ydomain}
        elif t["type"] == "heatmap":
            domain, ydomain = axis_of[t.get("xaxis", "x")]
            traces[k] = {"colorbar.x": domain[1] + 0.01, "colorbar.y": (ydomain[0] + ydomain[1]) / 2,
                         "colorbar.len": 0.9 * (ydomain[1] - ydomain[0])}  # fmt: skip
    return {"layout": layout, "traces": traces}


def to_plotly_dict(spec: FigureSpec, columns: int | None = None) -> dict:
    """``{"data": [...], "layout": {...}}`` of ``spec`` (validated against the house rules, not by plotly).

    ``columns`` overrides the spec's panels per row (the live widgets choose it from their width). The figure
    has no fixed width: it fills its container. ``layout.meta.swin_viz_grid`` holds, for every narrower grid,
    the update that redraws the panels in fewer columns, so a page can fit the grid to its width without Python.
    """
    spec.validate()
    default_cols = spec.grid()[1]
    geo = _geometry(spec, columns or default_cols)
    cols = geo["cols"]
    data: list[dict] = []
    caption = geo["caption"]
    layout: dict = dict(
        # The title hangs from the top of the figure, its caption lines below it: plotly's default ("auto") centres
        # the title's baseline in the top margin, which pushed a three-line caption onto the panel titles.
        title=dict(text=spec.title, yref="container", y=1.0, yanchor="top", pad=dict(t=14),
                   **({"subtitle": dict(text=caption)} if spec.caption else {})),
        template=_TEMPLATE, height=geo["height"], autosize=True,
        margin=dict(l=60, r=60, t=geo["margin_t"], b=60), barmode="group",
        legend=dict(orientation="h", y=-0.08 if geo["rows"] > 1 else -0.2), annotations=[],
    )  # fmt: skip
    for i, p in enumerate(spec.panels):
        domain, ydomain = geo["panels"][i]
        y1 = ydomain[1]
        layout["annotations"].append(dict(text=f"<b>{p.title}</b>", x=(domain[0] + domain[1]) / 2, y=y1,
                                          xref="paper", yref="paper", xanchor="center", yanchor="bottom",
                                          showarrow=False, font=dict(size=13)))  # fmt: skip
        if p.kind == "table":
            columns = [list(col) for col in zip(*p.rows)] if p.rows else [[] for _ in p.header]
            # Relative widths, halfway between a column's longest unbreakable run and its longest text: plotly
            # wraps a cell at spaces and cuts a run longer than its column (equal columns cut long names,
            # "stage1.block0.hook_inpu"), and a column of short runs may wrap onto a second line.
            texts = [[str(v) for v in [h, *col]] for h, col in zip(p.header, columns)]
            widths = [(max(len(w) for t in col for w in t.split(" ")) + max(map(len, col))) / 2 + 2 for col in texts]
            data.append(dict(type="table", domain=dict(x=domain, y=ydomain), columnwidth=widths,
                             header=dict(values=p.header, fill_color="#EEEEEE", align="left"),
                             cells=dict(values=columns, fill_color="white", align="left")))  # fmt: skip
            continue
        suffix = "" if i == 0 else str(i + 1)
        xref, yref = "x" + suffix, "y" + suffix
        xaxis = _axis(p.x_label, p.log_x, p.x_ticks) | dict(domain=domain, anchor=yref)
        yaxis = _axis(p.y_label, p.log_y, p.y_ticks) | dict(domain=ydomain, anchor=xref)
        traces: list[dict] = []
        if p.kind == "heatmap":
            traces.append(_heatmap_trace(p, domain[1] + 0.01, ydomain))
        elif p.kind == "image":
            traces.append(dict(type="image", source=_png_data_uri(p.z),
                               hovertemplate=p.hover or "row %{y}, col %{x}<extra></extra>"))  # fmt: skip
        elif p.kind == "lines":
            for s in p.series:
                traces.append(dict(type="scatter", x=list(s.x), y=list(s.y), name=s.name, mode="lines+markers",
                                   line=dict(color=s.color, dash="dash" if s.dash else "solid")))  # fmt: skip
        elif p.kind == "bars":
            for s in p.series:
                traces.append(dict(type="bar", x=list(s.x), y=list(s.y), name=s.name, marker=dict(color=s.color)))
        if p.kind in ("heatmap", "image"):
            traces += _overlay_traces(p)
            yaxis.update(autorange="reversed", showgrid=False)
            xaxis.update(showgrid=False)
            if p.square:
                yaxis.update(scaleanchor=xref, constrain="domain")
                xaxis.update(constrain="domain")
        for t in traces:
            t.update(xaxis=xref, yaxis=yref)
        data += traces
        layout["xaxis" + suffix] = xaxis
        layout["yaxis" + suffix] = yaxis
    if default_cols > 1:
        grids = {c: _grid_patch(spec, _geometry(spec, c), data) for c in range(1, default_cols + 1)}
        layout["meta"] = {"swin_viz_grid": {"columns": cols, "min_panel_width": MIN_PANEL_WIDTH, "grids": grids}}
    return {"data": data, "layout": layout}


def columns_for(spec: FigureSpec, width: float) -> int:
    """Panels per row for a container ``width`` CSS pixels wide: as many as fit, at most the spec's."""
    return max(1, min(spec.grid()[1], int(width // MIN_PANEL_WIDTH)))


def to_plotly(spec: FigureSpec) -> go.Figure:
    """A plotly figure of ``spec``."""
    return go.Figure(to_plotly_dict(spec))


# ----------------------------------------------------------------------------------------------- matplotlib
def _mpl_panel(ax, p: Panel, fig) -> None:
    from matplotlib import colors as mcolors
    from matplotlib.patches import Rectangle

    if p.kind == "table":
        ax.axis("off")
        if p.rows:
            table = ax.table(cellText=p.rows, colLabels=p.header, loc="center")
            table.auto_set_font_size(False)
            table.set_fontsize(8)
            table.auto_set_column_width(list(range(len(p.header))))
        ax.set_title(p.title, fontsize=10)
        return
    if p.kind == "heatmap":
        z = np.asarray(p.z, dtype=float)
        if p.categories is not None:
            k = len(p.categories)
            cmap = mcolors.ListedColormap(list(p.category_colors)[:k])
            norm = mcolors.BoundaryNorm(np.arange(-0.5, k), k)
            im = ax.imshow(z, cmap=cmap, norm=norm, interpolation="nearest", aspect="equal" if p.square else "auto")
            if p.show_scale:
                cb = fig.colorbar(im, ax=ax, ticks=range(k), shrink=0.8)
                cb.ax.set_yticklabels(p.categories)
                cb.set_label(p.colorbar or "")
        else:
            cmap = MPL_COLORMAPS.get(p.colorscale or palette.SEQUENTIAL, "viridis")
            if p.zmid is not None:
                lo = p.zmin if p.zmin is not None else min(np.nanmin(z), p.zmid - 1e-9)
                hi = p.zmax if p.zmax is not None else max(np.nanmax(z), p.zmid + 1e-9)
                norm = mcolors.TwoSlopeNorm(vcenter=p.zmid, vmin=min(lo, p.zmid - 1e-9), vmax=max(hi, p.zmid + 1e-9))
            else:
                norm = mcolors.Normalize(vmin=p.zmin, vmax=p.zmax)
            im = ax.imshow(z, cmap=cmap, norm=norm, interpolation="nearest", aspect="equal" if p.square else "auto")
            if p.show_scale:
                fig.colorbar(im, ax=ax, shrink=0.8).set_label(p.colorbar or "")
        if p.text is not None and z.size <= 400:
            for (r, c), t in np.ndenumerate(np.asarray(p.text)):
                ax.text(c, r, str(t), ha="center", va="center", fontsize=6)
    elif p.kind == "image":
        ax.imshow(_as_uint8(p.z), interpolation="nearest")
    elif p.kind == "lines":
        for j, s in enumerate(p.series):
            color = s.color or palette.REGION_COLORS[j % len(palette.REGION_COLORS)]  # plotly's colorway too
            ax.plot(s.x, s.y, marker="o", markersize=3, label=s.name, color=color, linestyle="--" if s.dash else "-")
        ax.legend(fontsize=8)
    elif p.kind == "bars":
        width = 0.8 / len(p.series)
        base = np.arange(len(p.series[0].x))
        for j, s in enumerate(p.series):
            color = s.color or palette.REGION_COLORS[j % len(palette.REGION_COLORS)]
            ax.bar(base + j * width, s.y, width=width, label=s.name, color=color)
        ax.set_xticks(base + 0.4 - width / 2, [str(x) for x in p.series[0].x], rotation=45, ha="right", fontsize=7)
        ax.legend(fontsize=8)
    if p.kind in ("heatmap", "image"):  # cell coordinates are whole numbers
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if p.log_x:
        ax.set_xscale("log")
    if p.log_y:
        ax.set_yscale("log")
    if p.x_ticks is not None:
        ax.set_xticks(range(len(p.x_ticks)), p.x_ticks, fontsize=7)
    if p.y_ticks is not None:
        ax.set_yticks(range(len(p.y_ticks)), p.y_ticks, fontsize=7)
    for r in p.rects:
        look = palette.OUTLINE_STYLES[r.style]
        ax.add_patch(Rectangle((r.c0 - 0.5, r.r0 - 0.5), r.c1 - r.c0, r.r1 - r.r0, fill=look["fill"] is not None,
                               facecolor=(0.84, 0.15, 0.16, 0.25) if look["fill"] else "none",
                               edgecolor=look["color"], linewidth=look["width"],
                               linestyle="--" if look["dash"] else "-"))  # fmt: skip
    for lab in p.labels:
        ax.text(lab.col, lab.row, lab.text, ha="center", va="center", color=lab.color, fontsize=lab.size * 0.8)
    if p.labels and p.kind in ("heatmap", "image"):  # labels may sit just outside the map (as plotly allows)
        rows = [lab.row for lab in p.labels]
        cols = [lab.col for lab in p.labels]
        (x0, x1), (y1, y0) = ax.get_xlim(), ax.get_ylim()  # y is inverted for images
        ax.set_xlim(min(x0, min(cols) - 0.5), max(x1, max(cols) + 0.5))
        ax.set_ylim(max(y1, max(rows) + 0.5), min(y0, min(rows) - 0.5))
    ax.set_title(p.title, fontsize=10)
    ax.set_xlabel(p.x_label)
    ax.set_ylabel(p.y_label)


def to_matplotlib(spec: FigureSpec) -> MplFigure:
    """A matplotlib figure of ``spec`` (no pyplot state: safe in scripts, tests and the book build)."""
    from matplotlib.figure import Figure

    spec.validate()
    rows, cols = spec.grid()
    fig = Figure(figsize=(4.6 * cols, 4.2 * rows + 0.6), layout="constrained", facecolor=palette.BACKGROUND)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, p in zip(axes, spec.panels):
        _mpl_panel(ax, p, fig)
    for ax in axes[len(spec.panels) :]:
        ax.axis("off")
    width = int(50 * cols)  # characters per caption line, about the figure's width
    caption = "\n".join(textwrap.wrap(spec.caption, width)) if spec.caption else ""
    fig.suptitle(spec.title + (f"\n{caption}" if caption else ""), fontsize=11)
    return fig
