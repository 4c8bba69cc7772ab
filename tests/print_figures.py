"""What the figure tests assert about a print figure (a module, not conftest: notebooks/ has a conftest too)."""

from __future__ import annotations


def assert_print_figure_shows(spec) -> None:
    """The matplotlib version of ``spec`` shows what a reader looks for: the figure's title and every panel's title."""
    from swin_viz.viz import to_matplotlib

    fig = to_matplotlib(spec)
    titles = {ax.get_title() for ax in fig.axes}
    missing = [p.title for p in spec.panels if p.title not in titles]
    assert not missing, f"panels without their title in the print figure: {missing}"
    assert fig._suptitle is not None and spec.title in fig._suptitle.get_text()
