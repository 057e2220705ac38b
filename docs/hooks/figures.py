"""MkDocs hook: a marker line ``<!-- figures: NAME -->`` becomes the Markdown table of
``docs/figures/NAME.json`` (rendered by ``docs/figures.py``), so the pages' tables are the
benchmarks' own output and cannot drift from it.

A marker whose JSON is missing or unusable is a warning (an error under ``strict: true``) and
leaves a note in the page naming the command that writes the file.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

log = logging.getLogger("mkdocs.hooks.figures")

_spec = importlib.util.spec_from_file_location(
    "zerohero_docs_figures", Path(__file__).resolve().parent.parent / "figures.py")
figures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(figures)


def on_page_markdown(markdown, page, config, files):
    folder = Path(config["docs_dir"]) / "figures"

    def table(match):
        name = match.group(1)
        try:
            return figures.render(figures.load(name, folder))
        except (OSError, ValueError) as e:
            log.warning(f"{page.file.src_uri}: figures '{name}': {e}")
            return f"*(figures '{name}' missing: `{figures.command_for(name)}`)*"

    return figures.MARKER.sub(table, markdown)
