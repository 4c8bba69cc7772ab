"""A tiny Sphinx extension: drop duplicate inline scripts from each page.

Jupyter Book 1 runs sphinx-thebe's set-up twice per build, which adds the inline script
``const THEBE_JS_URL = ...`` twice; the second copy throws "Identifier 'THEBE_JS_URL' has already been declared"
in every reader's console. Keeping the first copy of each identical script fixes that at its source.
"""

from __future__ import annotations

from typing import Any


def _unique_scripts(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[str] = set()
    unique = []
    for script in scripts:
        body = getattr(script, "attributes", {}).get("body")  # inline scripts: filename is None or ""
        key = f"body:{body}" if body else f"file:{getattr(script, 'filename', script)}"
        if key in seen:
            continue
        seen.add(key)
        unique.append(script)
    scripts[:] = unique


def setup(app: Any) -> dict[str, Any]:
    app.connect("html-page-context", _unique_scripts, priority=100)  # before handlers that end the event
    return {"parallel_read_safe": True, "parallel_write_safe": True}
