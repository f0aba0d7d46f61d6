"""The README and docs/ stand on their own: short front page, no pointers outside the
repository, and every relative link leads to a file that exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS]

README_MAX_LINES = 300
FORBIDDEN = ("../shared", "DESIGN.md", "STYLE.md")

# [text](target) and ![alt](target); the target ends at whitespace or ")".
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)


def _ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(ROOT)) for p in paths]


def relative_links(text: str) -> list[str]:
    """Link targets in markdown text, outside code blocks, that point into the repo."""
    text = FENCE.sub("", text)
    found = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # http:, https:, mailto:
            continue
        if target.startswith("#"):  # an anchor on the same page
            continue
        found.append(target)
    return found


def test_the_readme_is_a_front_page_not_a_manual():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines"


def test_there_are_docs_pages():
    assert DOCS, "docs/*.md is empty"


@pytest.mark.parametrize("page", PAGES, ids=_ids(PAGES))
def test_no_page_points_outside_the_repository(page: Path):
    text = page.read_text(encoding="utf-8")
    found = [word for word in FORBIDDEN if word in text]
    assert found == [], f"{page.relative_to(ROOT)} mentions {found}"


@pytest.mark.parametrize("page", PAGES, ids=_ids(PAGES))
def test_every_relative_link_resolves_to_a_file_in_the_repository(page: Path):
    broken = []
    for target in relative_links(page.read_text(encoding="utf-8")):
        path = target.split("#", 1)[0].split("?", 1)[0]
        resolved = (page.parent / path).resolve()
        if not resolved.is_relative_to(ROOT) or not resolved.exists():
            broken.append(target)
    assert broken == [], f"{page.relative_to(ROOT)} links to missing files: {broken}"


def test_the_link_finder_reads_markdown_the_way_the_pages_write_it():
    text = (
        "See [a](docs/a.md), [b](docs/b.md#part), ![pic](../reports/x.png) and\n"
        "[web](https://example.org/x.md), [here](#anchor), <http://127.0.0.1:8000/>.\n"
        "```bash\n[not a link](nowhere.md)\n```\n"
    )
    assert relative_links(text) == ["docs/a.md", "docs/b.md#part", "../reports/x.png"]
