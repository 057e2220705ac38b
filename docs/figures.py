"""Tables of measured figures, rendered from the benchmarks' own JSON.

A page asks for a table with a marker line of its own::

    <!-- figures: bench-spmv -->

and the MkDocs hook ``docs/hooks/figures.py`` replaces it with :func:`render` of the records in
``docs/figures/bench-spmv.json``. Those files are what the benchmarks print with ``--json``
(a list of records, one per table row)::

    zerohero bench spmv --json > docs/figures/bench-spmv.json
    zerohero bench spmv --tiled --json > docs/figures/bench-spmv-tiled.json

``python docs/figures.py`` checks that every marker in ``docs/*.md`` has its JSON (a list of
records) and exits 1 naming each one that does not, with the command that writes it.
Standard library only: it runs without the project installed.
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

__all__ = ["DOCS", "FIGURES", "MARKER", "render", "markers", "load", "command_for", "check",
           "main"]

DOCS = Path(__file__).resolve().parent
FIGURES = DOCS / "figures"
#: A marker line: ``<!-- figures: NAME -->`` (NAME: letters, digits, ``-`` and ``_``).
MARKER = re.compile(r"^[ \t]*<!--[ \t]*figures:[ \t]*([A-Za-z0-9_-]+)[ \t]*-->[ \t]*$",
                    re.MULTILINE)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _cell(v, group: bool = False) -> str:
    """One table cell: integers as they are (thousands grouped with ``group``), floats to six
    significant digits (large ones whole and grouped), ``-`` for null, yes/no for booleans,
    anything else as compact JSON; ``|`` escaped."""
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}" if group else str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        if abs(v) >= 1e6:
            return f"{v:,.0f}" if group else f"{v:.0f}"
        text = f"{v:.6g}"
        if "e" not in text and "." not in text:
            text = f"{int(text):,}" if group else text
            text += ".0" if v.is_integer() else ""
        return text
    if not isinstance(v, str):
        v = json.dumps(v, separators=(",", ":"))
    return v.replace("|", "\\|").replace("\n", " ")


def render(records) -> str:
    """A Markdown table of ``records`` (a list of dicts): one column per key, in the order
    the keys first appear over all records, one row per record (a key a record lacks is an
    empty cell). Columns whose values are all numbers (or null) are right-aligned."""
    records = list(records)
    if not records or not all(isinstance(r, dict) for r in records):
        raise ValueError("figures: expected a non-empty list of records (JSON objects)")
    keys: list[str] = []
    for r in records:
        keys += [k for k in r if k not in keys]
    numeric = {k: all(_is_number(r[k]) or r[k] is None for r in records if k in r)
               and any(_is_number(r.get(k)) for r in records) for k in keys}
    # Thousands are grouped in a column that holds a number of five digits or more.
    group = {k: numeric[k] and any(_is_number(r.get(k)) and abs(r[k]) >= 10000
                                   for r in records) for k in keys}
    lines = ["| " + " | ".join(_cell(str(k)) for k in keys) + " |",
             "|" + "|".join("---:" if numeric[k] else "---" for k in keys) + "|"]
    for r in records:
        lines.append("| " + " | ".join(_cell(r[k], group[k]) if k in r else "" for k in keys)
                     + " |")
    return "\n".join(lines)


def markers(text: str) -> list[tuple[int, str]]:
    """``(line number, name)`` of every marker line in ``text``."""
    return [(text.count("\n", 0, m.start()) + 1, m.group(1)) for m in MARKER.finditer(text)]


def load(name: str, figures: Path = FIGURES):
    """The records of ``figures/NAME.json``; raises ``FileNotFoundError`` or ``ValueError``
    (not JSON, or not a non-empty list of records) with a message naming the file."""
    path = figures / f"{name}.json"
    try:
        records = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} is missing; write it with: {command_for(name)}") \
            from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not JSON ({e}); rewrite it with: {command_for(name)}") \
            from None
    if not (isinstance(records, list) and records
            and all(isinstance(r, dict) for r in records)):
        raise ValueError(f"{path} is not a non-empty list of records; rewrite it with: "
                         f"{command_for(name)}")
    return records


def command_for(name: str) -> str:
    """The command that writes ``docs/figures/NAME.json``, for the names the benchmarks use
    (``bench-KIND`` and ``bench-KIND-tiled``)."""
    out = f"docs/figures/{name}.json"
    m = re.fullmatch(r"bench-([a-z]+?)(-tiled)?", name)
    if m:
        tiled = " --tiled" if m.group(2) else ""
        return f"zerohero bench {m.group(1)}{tiled} --json > {out}"
    return f"(a command that prints a JSON list of records) > {out}"


def check(docs: Path = DOCS) -> list[str]:
    """One message per marker in ``docs/*.md`` whose JSON is missing or unusable."""
    problems = []
    for page in sorted(docs.glob("*.md")):
        for line, name in markers(page.read_text()):
            try:
                render(load(name, docs / "figures"))
            except (OSError, ValueError) as e:
                problems.append(f"{page.relative_to(docs.parent)}:{line}: figures '{name}': {e}")
    return problems


def main(argv=None) -> int:
    problems = check()
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print(f"figures: {len(problems)} marker(s) without usable JSON", file=sys.stderr)
        return 1
    found = sorted({n for page in DOCS.glob("*.md") for _, n in markers(page.read_text())})
    print(f"figures: every marker has its JSON ({', '.join(found) or 'no markers'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
