"""Terminal output for the ``tlsplug`` command: aligned tables, wrapping and optional colour.

Colour is used only when the stream is a terminal, ``NO_COLOR`` is unset (https://no-color.org)
and ``TERM`` is not ``dumb``; ``--color always|never`` overrides the guess. Widths are measured
on the plain text and escape codes are added after padding, so columns stay aligned in colour.
"""

from __future__ import annotations

import os
import shutil
import textwrap
import unicodedata
from dataclasses import dataclass
from typing import IO, Dict, List, Optional, Sequence, Tuple, Union

__all__ = [
    "Cell",
    "CellLike",
    "Style",
    "display_width",
    "heading",
    "kv_lines",
    "table",
    "terminal_width",
    "use_colour",
]

_CODES: Dict[str, str] = {
    "ok": "32",  # green
    "bad": "31",  # red
    "warn": "33",  # yellow
    "dim": "2",
    "bold": "1",
    "head": "1;4",  # bold underlined table headers
}


def use_colour(stream: IO[str], mode: str = "auto") -> bool:
    """Whether to colour ``stream``: ``always``/``never``, or ``auto`` (a TTY without NO_COLOR)."""
    if mode == "always":
        return True
    if mode == "never":
        return False
    # NO_COLOR: "when present and not an empty string" disables colour, whatever its value.
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (OSError, ValueError):  # a closed or detached stream
        return False


def terminal_width(default: int = 80) -> int:
    """Columns to fit: the terminal's (or ``$COLUMNS``), clamped to 60..120 for readability."""
    columns = shutil.get_terminal_size((default, 24)).columns
    return max(60, min(columns, 120))


def display_width(text: str) -> int:
    """Columns ``text`` takes on a terminal (East Asian wide characters count twice)."""
    width = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


class Style:
    """Wraps text in ANSI escape codes when enabled, and is the identity otherwise."""

    def __init__(self, enabled: bool) -> None:
        """Colour on or off for everything rendered through this object."""
        self.enabled = enabled

    def __call__(self, text: str, style: str) -> str:
        """``text`` in ``style`` (one of ok, bad, warn, dim, bold, head; "" for none)."""
        code = _CODES.get(style)
        if not self.enabled or not code or not text:
            return text
        return f"\x1b[{code}m{text}\x1b[0m"

    def ok(self, text: str) -> str:
        """Green."""
        return self(text, "ok")

    def bad(self, text: str) -> str:
        """Red."""
        return self(text, "bad")

    def warn(self, text: str) -> str:
        """Yellow."""
        return self(text, "warn")

    def dim(self, text: str) -> str:
        """Faint."""
        return self(text, "dim")

    def bold(self, text: str) -> str:
        """Bold."""
        return self(text, "bold")


@dataclass(frozen=True)
class Cell:
    """A table cell: its text and the style to paint it with after alignment."""

    text: str
    style: str = ""


CellLike = Union[str, Cell]


def _cell(value: CellLike) -> Cell:
    return value if isinstance(value, Cell) else Cell(value)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - display_width(text))


def _wrap(text: str, width: int) -> List[str]:
    if display_width(text) <= width:
        return [text]
    # break_on_hyphens=False keeps error codes such as "cert-untrusted" in one piece.
    lines = textwrap.wrap(text, width, break_on_hyphens=False) or [""]
    return lines


def _fit(widths: List[int], max_width: int, gap: int, shrinkable: Sequence[int]) -> List[int]:
    """Narrow the widest shrinkable columns until the row fits ``max_width``."""
    widths = list(widths)
    total = sum(widths) + gap * (len(widths) - 1)
    while total > max_width:
        candidates = [i for i in shrinkable if widths[i] > 12]
        if not candidates:
            break
        widest = max(candidates, key=lambda i: widths[i])
        widths[widest] -= 1
        total -= 1
    return widths


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[CellLike]],
    style: Style,
    *,
    max_width: int = 80,
    indent: int = 0,
    shrinkable: Optional[Sequence[int]] = None,
    gap: int = 2,
) -> List[str]:
    """Render ``rows`` under ``headers`` as aligned lines no wider than ``max_width``.

    Cells of the ``shrinkable`` columns (default: the last one) wrap onto continuation
    lines when the table would be too wide; other columns keep their natural width.
    """
    cells = [[_cell(c) for c in row] for row in rows]
    ncols = len(headers)
    widths = [display_width(h) for h in headers]
    for row in cells:
        for i, c in enumerate(row[:ncols]):
            widths[i] = max(widths[i], display_width(c.text))
    shrink = list(shrinkable) if shrinkable is not None else [ncols - 1]
    widths = _fit(widths, max_width - indent, gap, shrink)
    pad = " " * indent
    sep = " " * gap
    # Paint the text, then pad: trailing blanks stay outside the escape codes (and rstrip-able).
    out = [(pad + sep.join(style(h, "head") + " " * max(0, w - display_width(h))
                           for h, w in zip(headers, widths))).rstrip()]
    for row in cells:
        wrapped: List[Tuple[List[str], str]] = []
        for i in range(ncols):
            c = row[i] if i < len(row) else Cell("")
            wrapped.append((_wrap(c.text, widths[i]), c.style))
        height = max(len(lines) for lines, _ in wrapped)
        for n in range(height):
            parts = []
            for (lines, cell_style), w in zip(wrapped, widths):
                text = lines[n] if n < len(lines) else ""
                parts.append(style(text, cell_style) + " " * max(0, w - display_width(text)))
            out.append((pad + sep.join(parts)).rstrip())
    return out


def kv_lines(
    pairs: Sequence[Tuple[str, str]],
    style: Style,
    *,
    max_width: int = 80,
    indent: int = 2,
    value_style: Optional[Dict[str, str]] = None,
) -> List[str]:
    """``key  value`` lines with the values aligned and wrapped under themselves."""
    if not pairs:
        return []
    key_width = max(display_width(k) for k, _ in pairs)
    room = max(20, max_width - indent - key_width - 2)
    out = []
    styles = value_style or {}
    for key, value in pairs:
        lines = []
        for paragraph in value.split("\n"):
            lines.extend(_wrap(paragraph, room))
        first = " " * indent + style(_pad(key, key_width), "dim") + "  "
        rest = " " * (indent + key_width + 2)
        painted = [style(line, styles.get(key, "")) for line in lines]
        out.append((first + painted[0]).rstrip())
        out.extend((rest + line).rstrip() for line in painted[1:])
    return out


def heading(text: str, style: Style) -> str:
    """A section title."""
    return style(text, "bold")
