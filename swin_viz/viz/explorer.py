"""Live explorers (ipywidgets) and their kernel-free twins (plotly sliders), built the same way.

An explorer is three things:

* ``render(state) -> FigureSpec`` -- a pure function from a state (a dict of control values) to a figure,
  computed by the library;
* ``clamp(state) -> (state, message)`` -- makes an inconsistent state consistent (a query index beyond the
  window, a shift larger than half the window...) and says what it changed, so no choice ends in a traceback;
* the controls -- ipywidgets whose values make up the state.

:class:`Explorer` wires them into a live widget that updates a ``plotly.graph_objects.FigureWidget`` in place;
:func:`static_figure` precomputes one slider step per state for the HTML book, where no kernel runs.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
import torch

from .figure_widget import FitFigureWidget
from .render import columns_for, to_plotly_dict
from .spec import FigureSpec

__all__ = ["Explorer", "no_clamp", "static_figure"]

State = dict[str, Any]
Render = Callable[..., FigureSpec]
Clamp = Callable[[State], tuple[State, str]]
Limits = Callable[[State], dict[str, tuple[int, ...]]]
CONTROL_WIDTH = "330px"
"""Every control keeps this width; a row of controls wraps onto the next line instead of shrinking them."""


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run torch on ``n`` CPU threads inside the ``with`` block, restoring the setting after.

    The explorers' forward passes are small: a second thread gains nothing, and when the other core is busy
    the thread pool's barriers cost 100+ ms per pass (measured on the 2-core machine), so they use one.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def no_clamp(state: State) -> tuple[State, str]:
    """For explorers whose controls cannot produce an inconsistent state."""
    return state, ""


class Explorer:
    """A live explorer: controls, a message line and a plotly ``FigureWidget`` kept in sync with ``render``.

    ``explorer.widget`` is what a notebook displays. ``explorer.set(name=value, ...)`` changes controls
    from code (tests drive explorers headlessly this way); ``explorer.state`` is the state last drawn,
    ``explorer.spec`` its :class:`FigureSpec`, ``explorer.figure`` the ``FigureWidget`` and
    ``explorer.timings`` the seconds each update took (control change to updated figure).

    ``limits(state)``, if given, returns ``{control: (min, max)}`` or ``{control: (min, max, step)}`` for
    sliders whose range depends on the state (the query index runs to ``M*M - 1``), applied after clamping
    together with the value, in one message to the front-end: a slider never sees a value off its new step
    grid, which it would snap and send back as a change nobody made.

    The figure fills the cell's width (:class:`~swin_viz.viz.figure_widget.FitFigureWidget`) and shows as many
    panel columns as fit (:func:`~swin_viz.viz.render.columns_for`), redrawn when the width changes.
    """

    def __init__(
        self,
        controls: dict[str, Any],
        render: Render,
        clamp: Clamp = no_clamp,
        limits: Limits | None = None,
        title: str = "",
    ) -> None:
        import ipywidgets as widgets

        self.controls = controls
        self.render = render
        self.clamp = clamp
        self.limits = limits
        self.timings: list[float] = []
        self.message = widgets.HTML(value="")
        self._busy = False
        state, note = clamp({k: w.value for k, w in controls.items()})
        self._write_controls(state)
        self.state = state
        self.spec = render(**state)
        first = to_plotly_dict(self.spec)
        self.columns: int | None = None
        """Panels per row chosen from the widget's width (``None``: the spec's own, until a front-end reports)."""
        self.figure = FitFigureWidget(first)
        self._drawn, self._drawn_layout = first["data"], first["layout"]
        self._say(note)
        for w in controls.values():
            w.observe(self._on_change, names="value")
            w.layout.width = CONTROL_WIDTH
            w.layout.flex = "0 0 auto"
            if hasattr(w, "style") and hasattr(w.style, "description_width"):
                w.style.description_width = "110px"
        self.figure.observe(self._on_width, names="container_width")
        header = [widgets.HTML(f"<b>{title}</b>")] if title else []
        row = widgets.HBox(list(controls.values()), layout=widgets.Layout(flex_flow="row wrap", width="100%"))
        self.widget = widgets.VBox(
            [*header, row, self.message, self.figure], layout=widgets.Layout(width="100%", min_width="0")
        )

    # ------------------------------------------------------------------------------------------------ public
    def set(self, **values: Any) -> None:
        """Set several controls at once and redraw once (as a person would, one change at a time is also fine)."""
        unknown = set(values) - set(self.controls)
        if unknown:
            raise ValueError(f"unknown control(s) {sorted(unknown)}; this explorer has {sorted(self.controls)}")
        self._busy = True
        try:
            for name, value in values.items():
                try:
                    self._assign(self.controls[name], value)
                except Exception as exc:  # e.g. a Dropdown value that is not an option (traitlets.TraitError)
                    self._say(f"{name}={value!r} is not a valid choice: {exc}", error=True)
                    return
        finally:
            self._busy = False
        self.update()

    def update(self) -> None:
        """Read the controls, clamp, redraw. Any failure becomes a message in the widget, never a traceback."""
        start = time.perf_counter()
        raw = {k: w.value for k, w in self.controls.items()}
        try:
            state, note = self.clamp(raw)
            self._write_controls(state)
            spec = self.render(**state)
            self._apply(to_plotly_dict(spec, self._columns(spec)))
        except Exception as exc:  # shown to the reader instead of a traceback
            self._say(f"Could not draw this choice: {exc}", error=True)
            return
        self.state, self.spec = state, spec
        self._say(note)
        self.timings.append(time.perf_counter() - start)

    # ----------------------------------------------------------------------------------------------- private
    def _on_change(self, change: dict) -> None:
        if not self._busy:
            self.update()

    def _columns(self, spec: FigureSpec) -> int | None:
        width = self.figure.container_width if hasattr(self, "figure") else 0
        return columns_for(spec, width) if width else None

    def _on_width(self, change: dict) -> None:
        """The front-end reports a new width: redraw with the panel grid that fits, if that changed."""
        columns = self._columns(self.spec)
        if columns is not None and columns != (self.columns or self.spec.grid()[1]):
            self.columns = columns
            self._apply(to_plotly_dict(self.spec, columns))

    @staticmethod
    def _assign(widget: Any, value: Any) -> None:
        if hasattr(widget, "max") and hasattr(widget, "min") and isinstance(value, (int, float)):
            # ipywidgets silently clips to [min, max]; widen first so clamp() sees and explains the request.
            if value > widget.max:
                widget.max = value
            if value < widget.min:
                widget.min = value
        widget.value = value

    def _write_controls(self, state: State) -> None:
        """Show the clamped state in the controls, and narrow slider ranges to what the state allows."""
        self._busy = True
        try:
            ranges = self.limits(state) if self.limits else {}
            for name, value in state.items():
                w = self.controls.get(name)
                if w is None:
                    continue
                limits = ranges.get(name)
                with w.hold_sync():  # range, step and value reach the front-end as one message
                    if limits is not None:
                        lo, hi = limits[0], limits[1]
                        w.max = max(hi, w.min)  # order matters: ipywidgets rejects min > max at every step
                        w.min = lo
                        w.max = hi
                        if len(limits) > 2:
                            w.step = limits[2]
                    if w.value != value:
                        w.value = value
        finally:
            self._busy = False

    def _apply(self, new: dict) -> None:
        """Update the FigureWidget in place (the front-end then redraws once), skipping unchanged traces."""
        fig = self.figure
        with fig.batch_update():
            if [t.type for t in fig.data] == [t["type"] for t in new["data"]]:
                for k, (old, fresh) in enumerate(zip(fig.data, new["data"])):
                    previous = self._drawn[k] if k < len(self._drawn) else {}
                    if _same(previous, fresh):
                        continue
                    stale = {key: None for key in previous if key not in fresh}  # e.g. hovertext of a bigger map
                    old.update({**stale, **fresh}, overwrite=True)
            else:
                fig.data = ()
                fig.add_traces(new["data"])
            if not _same(self._drawn_layout, new["layout"]):
                fig.layout = new["layout"]
        self._drawn, self._drawn_layout = new["data"], new["layout"]

    def _say(self, note: str, error: bool = False) -> None:
        color = "#B00020" if error else "#555555"
        self.message.value = f'<span style="color:{color}">{note}</span>' if note else ""


def _same(a: Any, b: Any) -> bool:
    """Deep equality of plotly dicts that may hold numpy arrays."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape and np.array_equal(a, b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def static_figure(render: Render, states: Sequence[State], labels: Sequence[str], slider_title: str = "") -> go.Figure:
    """One plotly figure with a slider: one step per state, every step precomputed (no kernel needed).

    Each step restyles every trace (data, colours, text) and relayouts title, shapes and annotations, so a
    step shows exactly what ``to_plotly(render(**state))`` shows. All states must draw the same traces.
    """
    if not states or len(states) != len(labels):
        raise ValueError(f"need one label per state, got {len(states)} states and {len(labels)} labels")
    figures = [to_plotly_dict(render(**s)) for s in states]
    kinds = [t["type"] for t in figures[0]["data"]]
    keys = sorted({k for f in figures for t in f["data"] for k in t if k not in ("type", "xaxis", "yaxis")})
    steps = []
    for fig, label in zip(figures, labels):
        if [t["type"] for t in fig["data"]] != kinds:
            raise ValueError(f"state {label!r} draws different traces from the first state; cannot make a slider step")
        restyle = {k: [t.get(k) for t in fig["data"]] for k in keys}
        lay = fig["layout"]
        relayout = {"title": lay["title"], "annotations": lay["annotations"]}
        relayout |= {k: v for k, v in lay.items() if k.startswith(("xaxis", "yaxis"))}
        steps.append(dict(method="update", label=label, args=[restyle, relayout]))
    base = go.Figure(figures[0])
    grid = figures[0]["layout"].get("meta", {}).get("swin_viz_grid")
    if grid:  # the narrower grids of the page's fit-to-width (see render.to_plotly_dict) make room for the slider
        for patch in grid["grids"].values():
            patch["layout"]["height"] += 80
        base.update_layout(meta={"swin_viz_grid": grid})
    base.update_layout(
        sliders=[dict(active=0, steps=steps, currentvalue=dict(prefix=slider_title + ": " if slider_title else ""),
                      y=-0.16, yanchor="top", pad=dict(t=10))],
        margin=dict(b=170),
        height=(base.layout.height or 420) + 80,
    )  # fmt: skip
    return base
