"""The figure framework: house rules, both back-ends, live explorers and static sliders."""

import ipywidgets as widgets
import numpy as np
import pytest

from swin_viz.viz import (
    EXPLORERS,
    Explorer,
    FigureSpec,
    Label,
    Panel,
    Rect,
    Series,
    static_figure,
    to_matplotlib,
    to_plotly,
)
from swin_viz.viz.render import to_plotly_dict


def heat(z: np.ndarray, **kw: object) -> Panel:
    defaults = dict(x_label="column", y_label="row", colorbar="value")
    defaults.update(kw)
    return Panel("a heatmap", "heatmap", z=z, **defaults)


def test_house_rules_are_enforced() -> None:
    z = np.zeros((2, 2))
    with pytest.raises(ValueError, match="label both axes"):
        FigureSpec("t", [Panel("p", "heatmap", z=z, colorbar="v", x_label="x")]).validate()
    with pytest.raises(ValueError, match="label the colour bar"):
        FigureSpec("t", [heat(z, colorbar=None)]).validate()
    with pytest.raises(ValueError, match="without a colour bar, cells need labels"):
        FigureSpec("t", [heat(z, show_scale=False)]).validate()
    with pytest.raises(ValueError, match="one colour per category"):
        FigureSpec("t", [heat(z, categories=["a", "b"], category_colors=["#000000"])]).validate()
    with pytest.raises(ValueError, match="unknown outline style"):
        FigureSpec("t", [heat(z, rects=[Rect(0, 0, 1, 1, "wobbly")])]).validate()
    with pytest.raises(ValueError, match="needs a title"):
        FigureSpec("", [heat(z)]).validate()


def test_both_backends_draw_every_panel_kind() -> None:
    spec = FigureSpec(
        "all kinds",
        [
            heat(np.arange(6).reshape(2, 3), rects=[Rect(0, 0, 1, 2, "highlight")], labels=[Label(0, 0, "q")]),
            Panel(
                "categories",
                "heatmap",
                z=np.array([[0, 1], [1, 0]]),
                categories=["a", "b"],
                category_colors=["#ff0000", "#0000ff"],
                colorbar="kind",
                x_label="x",
                y_label="y",
            ),
            Panel("photo", "image", z=np.random.rand(4, 4, 3), x_label="x", y_label="y"),
            Panel("lines", "lines", series=[Series("a", [1, 2], [3, 4])], x_label="x", y_label="y", log_y=True),
            Panel("bars", "bars", series=[Series("a", ["u", "v"], [3, 4])], x_label="x", y_label="y"),
            Panel("table", "table", header=["name", "shape"], rows=[["a", "(1, 2)"]]),
        ],
        caption="a caption",
    )
    fig = to_plotly(spec)
    types = [t.type for t in fig.data]
    # heatmaps and images carry 4 outline traces and 1 label trace each, so every state has the same traces
    assert types == ["heatmap"] + ["scatter"] * 5 + ["heatmap"] + ["scatter"] * 5 + ["image"] + ["scatter"] * 5 + [
        "scatter", "bar", "table"]  # fmt: skip
    assert fig.layout.xaxis.title.text == "column" and fig.data[0].colorbar.title.text == "value"
    assert list(fig.data[6].colorbar.ticktext) == ["a", "b"]
    highlight = fig.data[2]  # the "highlight" outline trace of panel 1
    assert highlight.x[:5] == (-0.5, 1.5, 1.5, -0.5, -0.5)
    assert fig.layout.yaxis.autorange == "reversed"  # image orientation
    assert fig.layout.yaxis4.type == "log"
    mpl = to_matplotlib(spec)
    assert len(mpl.axes) >= 6 and mpl.axes[0].get_xlabel() == "column"


def _render(n: int = 2, bad: bool = False) -> FigureSpec:
    if bad:
        raise RuntimeError("this state cannot be drawn")
    return FigureSpec(f"n={n}", [heat(np.full((n, n), n))])


def test_explorer_updates_clamps_and_never_raises() -> None:
    def clamp(state: dict) -> tuple[dict, str]:
        if state["n"] > 5:
            return {**state, "n": 5}, "n is at most 5"
        return state, ""

    controls = {"n": widgets.IntSlider(value=2, min=1, max=10), "bad": widgets.Checkbox(value=False)}
    ex = Explorer(controls, _render, clamp, limits=lambda s: {"n": (1, 5)})
    assert controls["n"].max == 5  # the limits narrowed the slider
    ex.set(n=3)
    assert ex.state["n"] == 3 and np.all(np.asarray(ex.figure.data[0].z) == 3)
    ex.set(n=9)  # beyond the slider: clamped and explained
    assert ex.state["n"] == 5 and controls["n"].value == 5 and "at most 5" in ex.message.value
    assert np.all(np.asarray(ex.figure.data[0].z) == 5)
    controls["n"].value = 4  # a person moving the slider
    assert ex.state["n"] == 4 and ex.message.value == ""
    ex.set(bad=True)  # the render fails: a message, not a traceback, and the last good figure stays
    assert "Could not draw" in ex.message.value and np.all(np.asarray(ex.figure.data[0].z) == 4)
    assert len(ex.timings) == 3
    with pytest.raises(ValueError, match="unknown control"):
        ex.set(m=1)


def test_static_figure_has_one_step_per_state() -> None:
    fig = static_figure(_render, [dict(n=2), dict(n=3), dict(n=4)], ["two", "three", "four"], "size")
    steps = fig.layout.sliders[0].steps
    assert [s.label for s in steps] == ["two", "three", "four"]
    restyle, relayout = steps[2].args
    assert np.all(np.asarray(restyle["z"][0]) == 4) and relayout["title"]["text"] == "n=4"
    with pytest.raises(ValueError, match="one label per state"):
        static_figure(_render, [dict(n=2)], [], "size")


def test_static_figure_rejects_states_with_different_traces() -> None:
    def render(k: int) -> FigureSpec:
        return FigureSpec("t", [Panel("l", "lines", series=[Series(str(i), [0], [i]) for i in range(k)],
                                      x_label="x", y_label="y")])  # fmt: skip

    with pytest.raises(ValueError, match="draws different traces"):
        static_figure(render, [dict(k=1), dict(k=2)], ["one", "two"])


def test_plotly_dict_is_fast_to_validate() -> None:
    d = to_plotly_dict(FigureSpec("t", [heat(np.zeros((3, 3)))]))
    assert d["layout"]["xaxis"]["title"]["text"] == "column"


UNBENCHED_CONTROLS = {"flops": {"measure"}, "attention_maps": {"image"}}
"""Controls a benchmark replay leaves alone: a measured count and a new image run the model and are timed apart."""


@pytest.mark.parametrize("name", list(EXPLORERS))
def test_every_registered_explorer_replays_its_changes_without_errors(name: str) -> None:
    """Every explorer in the registry (what the gallery and the benchmark use): each benchmark change draws once,
    and the changes together touch every control (but the ones timed apart), so a latency covers the explorer."""
    entry = EXPLORERS[name]
    ex = entry.explorer()
    for change in entry.changes:
        before = len(ex.timings)
        ex.set(**change)
        assert "Could not draw" not in ex.message.value, (name, change, ex.message.value)
        assert len(ex.timings) == before + 1, (name, change)
    touched = set().union(*map(set, entry.changes))
    assert set(ex.controls) - touched == UNBENCHED_CONTROLS.get(name, set())
    assert len(entry.static().layout.sliders[0].steps) >= 2


def test_every_explorer_is_registered() -> None:
    """Each ``*_explorer`` a module of swin_viz.viz defines is in EXPLORERS, with its module's static twin."""
    import importlib
    import inspect
    import pkgutil

    import swin_viz.viz as viz

    found = {}
    for info in pkgutil.iter_modules(viz.__path__):
        module = importlib.import_module(f"swin_viz.viz.{info.name}")
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if name.endswith("_explorer") and fn.__module__ == module.__name__:
                found[name] = fn
    assert len(found) >= 11
    registered = {entry.explorer for entry in EXPLORERS.values()}
    assert sorted(name for name, fn in found.items() if fn not in registered) == []
    for key, entry in EXPLORERS.items():
        assert entry.explorer.__module__ == entry.static.__module__, key


def test_panel_domains_stay_inside_the_figure_for_every_grid() -> None:
    """Eight panels in one row once gave an x domain ending at 1.0000000000000002, which plotly refuses."""
    import numpy as np

    from swin_viz import viz
    from swin_viz.viz.render import _geometry

    spec = viz.FigureSpec("grid", [viz.Panel(f"p{i}", "image", z=np.zeros((4, 4, 3), dtype=np.uint8), x_label="x",
                                             y_label="y") for i in range(8)])  # fmt: skip
    for cols in range(1, 9):
        for xdomain, ydomain in _geometry(spec, cols)["panels"]:
            assert 0 <= xdomain[0] < xdomain[1] <= 1 and 0 <= ydomain[0] < ydomain[1] <= 1, cols
    viz.to_plotly(spec)  # builds without plotly's range error
