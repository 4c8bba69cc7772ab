"""Launch and repository buttons only for a repository that is configured; a download button always.

The repository URL is set in one place, ``repository.url`` in ``_config.yml``; it is empty by default. Jupyter Book
turns the ``launch_buttons`` section into Binder and Colab links built from that URL, and would draw them (and a
repository button) for any URL, including none. This extension decides once, when the configuration is read:

* with no URL: no Binder, Colab or repository button (a button pointing at a repository that does not exist
  opens nothing);
* with a URL: the launch buttons of ``_config.yml`` and the repository button;
* either way, the "download" button, which offers every chapter as a notebook (``.ipynb``).
"""

from __future__ import annotations

from typing import Any

LAUNCH_KEYS = ("binderhub_url", "colab_url", "jupyterhub_url", "deepnote_url", "jupyterlite_url")


def configure(options: dict[str, Any]) -> dict[str, Any]:
    """The theme options to use, given those Jupyter Book made from ``_config.yml`` (a new dict, input unchanged)."""
    out = dict(options)
    url = str(out.get("repository_url") or "").strip()
    out["repository_url"] = url
    out["use_download_button"] = True
    if url:
        out["use_repository_button"] = True
    else:
        out["use_repository_button"] = False
        out["use_edit_page_button"] = False
        out["use_issues_button"] = False
        launch = dict(out.get("launch_buttons") or {})
        for key in LAUNCH_KEYS:
            launch.pop(key, None)
        out["launch_buttons"] = launch
    return out


def _config_inited(app: Any, config: Any) -> None:
    config.html_theme_options = configure(config.html_theme_options or {})


def setup(app: Any) -> dict[str, Any]:
    app.connect("config-inited", _config_inited)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
