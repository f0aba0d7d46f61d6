"""Markdown and number formatting shared by the PR report and the summary.

One place decides how a metric value, a change and a table look, so the pull-request
comment, the terminal summary and their tests agree on every digit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

MISSING = "—"


def fmt_value(value: object, digits: int = 4) -> str:
    """A metric value for people: ints as they are, floats to ``digits`` places."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}".replace(",", " ")
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return f"{value:.{digits}f}"
    return str(value)


def fmt_delta(delta: float | None, digits: int = 4) -> str:
    """A signed change; ``None`` (one side missing) is shown as the missing marker."""
    if delta is None:
        return MISSING
    if delta == 0:
        return "±0"
    return f"{delta:+.{digits}f}"


def fmt_pct(value: float | None, digits: int = 2) -> str:
    """A relative change (0.0123 -> +1.23%), as the A/B lift and MDE are relative to arm A."""
    return MISSING if value is None else f"{value:+.{digits}%}"


def fmt_p(p: float | None) -> str:
    """A p-value: small ones in scientific notation, so 1e-12 does not print as 0.0000."""
    if p is None:
        return MISSING
    if p < 1e-4:
        return f"{p:.1e}"
    return f"{p:.4f}"


def escape_cell(text: object) -> str:
    """Make any value safe inside a Markdown table cell (pipes and newlines break rows)."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], align: str = "") -> str:
    """A GitHub-flavoured Markdown table.

    ``align`` is one character per column (``l``/``r``/``c``); missing columns are
    left-aligned. Cells are escaped, so track names with ``|`` cannot break the table.
    """
    marks = {"l": ":--", "r": "--:", "c": ":-:"}
    spec = [marks.get(align[i] if i < len(align) else "l", ":--") for i in range(len(headers))]
    lines = [
        "| " + " | ".join(escape_cell(h) for h in headers) + " |",
        "| " + " | ".join(spec) + " |",
    ]
    for row in rows:
        lines.append("| " + " | ".join(escape_cell(c) for c in row) + " |")
    return "\n".join(lines)


def image(alt: str, path: str) -> str:
    """An embedded image; CML uploads local paths (relative to the Markdown file)."""
    return f"![{alt}]({path})"


def details(summary: str, body: str) -> str:
    """A collapsed section (GitHub renders ``<details>``), for long lists in comments."""
    return f"<details><summary>{summary}</summary>\n\n{body}\n\n</details>"
