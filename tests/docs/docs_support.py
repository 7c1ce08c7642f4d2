"""Reading the documentation pages: where they are and which code blocks are runnable.

The convention (docs/tutorial.md uses it): a ```` ```python ```` block right after a line
``<!-- run -->`` runs; the runnable blocks of one page run in order in one namespace, with
the current directory set to an empty temporary directory. Other blocks are illustrative.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import List

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

RUN_MARK = "<!-- run -->"
_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})(?P<info>[^\n`]*)$")


@dataclass(frozen=True)
class Block:
    """One runnable code block: its page, the line its code starts on, and the code."""

    page: Path
    line: int
    code: str


def pages() -> List[Path]:
    """Every Markdown page of the documentation (and the README), sorted."""
    found = sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.parts)
    return [ROOT / "README.md", *found]


def runnable_blocks(page: Path) -> List[Block]:
    """The blocks of ``page`` marked ``<!-- run -->``; a mark before anything else is an error."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks: List[Block] = []
    for index, line in enumerate(lines):
        if line.strip() != RUN_MARK:
            continue
        opening = _FENCE.match(lines[index + 1]) if index + 1 < len(lines) else None
        if opening is None or opening["info"].strip() != "python":
            raise ValueError(f"{page}:{index + 1}: {RUN_MARK} must be followed by ```python")
        fence = opening["fence"]
        body: List[str] = []
        for inner in lines[index + 2:]:
            if inner.strip() == fence:
                break
            body.append(inner)
        else:
            raise ValueError(f"{page}:{index + 2}: unterminated code block")
        blocks.append(Block(page=page, line=index + 3, code="\n".join(body) + "\n"))
    return blocks


def prose(text: str) -> str:
    """``text`` without its fenced code blocks (a ``# comment`` in code is no heading)."""
    out: List[str] = []
    fence = ""
    for line in text.splitlines():
        match = _FENCE.match(line.strip())
        if fence:
            if line.strip() == fence:
                fence = ""
        elif match is not None:
            fence = match["fence"]
        else:
            out.append(line)
    return "\n".join(out)


def relative(page: Path) -> str:
    """``page`` relative to the repository, for test ids and messages."""
    return page.relative_to(ROOT).as_posix()
