"""Write the configuration of a course's book build: the same book as ``_config.yml`` with every solution removed.

Usage: ``python scripts/book_config.py --no-solutions OUT.yml`` (``bash scripts/build_book.sh --no-solutions`` runs
it and builds into ``_build/course/_build/html``). The default build and ``_config.yml`` are unchanged: the public book
shows each lab solution, and each chapter's answers to its exercises, collapsed; a course's book shows none
(sphinx-exercise's ``hide_solutions``), so its pages can be given to students.
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]


def course_config(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` (a parsed ``_config.yml``) for a build without solutions; the input is not changed.

    Local extensions are made absolute, because Jupyter Book finds them relative to the configuration file, which
    now lives elsewhere.
    """
    out = copy.deepcopy(config)
    sphinx = out.setdefault("sphinx", {})
    sphinx.setdefault("config", {})["hide_solutions"] = True
    local = sphinx.get("local_extensions") or {}
    sphinx["local_extensions"] = {name: str((ROOT / path).resolve()) for name, path in local.items()}
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-solutions", action="store_true", required=True, help="remove every lab solution")
    parser.add_argument("out", type=Path, help="where to write the configuration (YAML)")
    args = parser.parse_args(argv)
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(yaml.safe_dump(course_config(config), sort_keys=False))
    print(f"course configuration (no solutions): {args.out}")


if __name__ == "__main__":
    main()
