"""The README and docs/ hold to what they promise: the README's test command is the one CI runs, the
README stays one page, every relative link (and its #anchor) resolves, and no document carries change
history or paths of a particular machine."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
DOCUMENTS = [README, *DOCS]
MAX_README_LINES = 250

HISTORY_PHRASES = ("previous version", "after this change", "no longer", "used to", "now uses", "was changed")
"""Change history belongs in git; a document states what is true of the code it ships with."""
MACHINE_PATHS = ("/work/", "/tmp/")
"""Examples write to `runs/...` folders inside the repository instead."""

FENCE = re.compile(r"^(```|~~~)")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _code_lines(text: str) -> list[str]:
    """The lines inside fenced code blocks."""
    lines, inside = [], False
    for line in text.splitlines():
        if FENCE.match(line.strip()):
            inside = not inside
        elif inside:
            lines.append(line.strip())
    return lines


def _prose(text: str) -> str:
    """The text outside fenced code blocks."""
    kept, inside = [], False
    for line in text.splitlines():
        if FENCE.match(line.strip()):
            inside = not inside
        elif not inside:
            kept.append(line)
    return "\n".join(kept)


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, markup and punctuation dropped, spaces as hyphens.

    >>> github_anchor("The real engines on a CPU (`.ci/engines`)")
    'the-real-engines-on-a-cpu-ciengines'
    """
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = unicodedata.normalize("NFC", text).strip().lower()
    text = "".join(ch for ch in text if ch in " -_" or unicodedata.category(ch)[0] in "LN")
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading anchor of a Markdown file (duplicates numbered as GitHub numbers them)."""
    seen: dict[str, int] = {}
    out = set()
    for line in _prose(path.read_text(encoding="utf-8")).splitlines():
        match = HEADING.match(line)
        if not match:
            continue
        base = github_anchor(match.group(2))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def relative_links(path: Path) -> list[str]:
    """The link targets of a Markdown file that point inside the repository (no scheme, no mailto)."""
    targets = LINK.findall(_prose(path.read_text(encoding="utf-8")))
    return [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:", t, re.IGNORECASE)]


def ci_pytest_line() -> str:
    """The line of `.ci/run` that runs the main test suite."""
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
             if "python -m pytest" in line and not line.lstrip().startswith("#")]
    assert len(lines) == 1, f".ci/run has {len(lines)} pytest lines, expected one: {lines}"
    return lines[0]


def test_the_readme_test_command_is_the_one_ci_runs():
    line = ci_pytest_line()
    assert line in _code_lines(README.read_text(encoding="utf-8")), (
        f"README.md has no code line equal to .ci/run's test command; put this line in a code block:\n{line}")


def test_the_readme_is_one_page():
    n_lines = len(README.read_text(encoding="utf-8").splitlines())
    assert n_lines < MAX_README_LINES, f"README.md has {n_lines} lines; move detail into docs/ (limit {MAX_README_LINES})"


@pytest.mark.parametrize("path", DOCUMENTS, ids=_rel)
def test_every_relative_link_resolves(path):
    broken = []
    for target in relative_links(path):
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            broken.append(f"{target} (no file {file_part})")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target} (no heading #{anchor} in {_rel(linked)})")
        elif linked.exists() and ROOT not in linked.parents and linked != ROOT:
            broken.append(f"{target} (outside the repository)")
    assert not broken, f"{_rel(path)}: broken links: {broken}"


def test_every_docs_page_is_reachable_from_the_readme():
    linked = {(ROOT / target.partition("#")[0]).resolve() for target in relative_links(README)}
    orphans = [_rel(path) for path in DOCS if path.resolve() not in linked]
    assert not orphans, f"docs pages the README links to nowhere: {orphans}"


@pytest.mark.parametrize("path", DOCUMENTS, ids=_rel)
def test_no_change_history_or_machine_paths(path):
    text = path.read_text(encoding="utf-8")
    lower = " ".join(text.lower().split())  # a phrase broken across lines still counts
    found = [p for p in HISTORY_PHRASES if p in lower] + [p for p in MACHINE_PATHS if p in text]
    assert not found, f"{_rel(path)} contains {found}: state what is true of the code, with runs/... paths in examples"


def test_the_checks_catch_what_they_exist_for(tmp_path):
    """The helpers fail on the defects they look for (so the tests above cannot pass vacuously)."""
    doc = tmp_path / "doc.md"
    doc.write_text("# A title\n\n## The real engines on a CPU (`.ci/engines`)\n\nSee [x](missing.md), "
                   "[y](doc.md#a-title), [z](https://example.org), and\n```\n[not a link](nowhere.md)\n```\n")
    assert relative_links(doc) == ["missing.md", "doc.md#a-title"]
    assert anchors(doc) == {"a-title", "the-real-engines-on-a-cpu-ciengines"}
    assert DOCS, "docs/ holds no Markdown files"
    assert any(relative_links(path) for path in DOCUMENTS), "no relative link found anywhere: the link pattern is broken"
