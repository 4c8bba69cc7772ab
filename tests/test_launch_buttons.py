"""Launch buttons: the repository is named in one place (``_config.yml``), and no page links to one that is not set.

Each case builds a one-page book (a notebook, not executed) with ``jupyter-book`` in a fresh process, with the
``repository``, ``html`` and ``launch_buttons`` sections of the real ``_config.yml`` and the real
``book/_ext/launch_buttons.py``, once with the configured URL (empty by default) and once with a URL set, and reads
the HTML. The browser test (``tests/test_browser.py``) checks every page of the built book the same way.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
LAUNCH_HOSTS = ("mybinder.org", "colab.research.google.com")


def configured_url() -> str:
    return str((CONFIG.get("repository") or {}).get("url") or "").strip()


def test_config_names_the_repository_once_and_empty() -> None:
    """The URL is empty by default, and no other configuration or lab source names a repository to launch from."""
    assert configured_url() == "", "the shipped _config.yml must not point at a repository that may not exist"
    assert "launch_buttons" in CONFIG["sphinx"]["local_extensions"], "book/_ext/launch_buttons.py is not loaded"
    for path in [*ROOT.glob("notebooks/lab*.ipynb"), ROOT / "README.md", ROOT / "pyproject.toml"]:
        text = path.read_text()
        assert "git+https://github.com/" not in text and "mybinder.org" not in text, f"{path.name} names a repository"


def build_one_page(tmp_path: Path, url: str) -> str:
    book = tmp_path / "book"
    book.mkdir()
    cfg = {key: CONFIG[key] for key in ("title", "repository", "html", "launch_buttons")}
    cfg["repository"] = {**cfg["repository"], "url": url}
    cfg["execute"] = {"execute_notebooks": "off"}
    cfg["sphinx"] = {"local_extensions": {"launch_buttons": str(ROOT / "book" / "_ext")}}
    (book / "_config.yml").write_text(yaml.safe_dump(cfg))
    (book / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n- file: page\n")
    (book / "intro.md").write_text("# Intro\n\nA page.\n")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Page"), nbformat.v4.new_code_cell("1 + 1")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, book / "page.ipynb")
    jb = Path(sys.executable).with_name("jupyter-book")
    run = subprocess.run([str(jb), "build", str(book)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return (book / "_build" / "html" / "page.html").read_text()


def hrefs(html: str) -> list[str]:
    return re.findall(r'href="([^"]+)"', html)


@pytest.mark.parametrize("url", [configured_url(), "https://github.com/someone/somebook"])
def test_buttons_follow_the_configured_repository(tmp_path: Path, url: str) -> None:
    links = hrefs(build_one_page(tmp_path, url))
    assert "_sources/page.ipynb" in links, f"no download-notebook button: {links}"
    launch = [link for link in links if any(host in link for host in LAUNCH_HOSTS)]
    repository = [link for link in links if re.match(r"https://(github|gitlab)\.com/", link)]
    if not url:
        assert not launch and not repository, f"buttons for a repository that is not configured: {launch + repository}"
    else:
        assert len(launch) == 2 and all("someone/somebook" in link for link in launch), launch
        assert repository == [url], repository
