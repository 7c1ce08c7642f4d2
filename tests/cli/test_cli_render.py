"""The output helpers: colour only on a TTY without NO_COLOR, tables that fit 80 columns."""

from __future__ import annotations

import io
from typing import Any, List

import pytest

from tlsplug._cli._render import Cell, CellLike, Style, display_width, kv_lines, table, use_colour


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_only_on_a_tty(monkeypatch: pytest.MonkeyPatch) -> None:
    """auto colours a TTY, not a pipe; always/never override the guess."""
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert use_colour(_Tty()) is True
    assert use_colour(io.StringIO()) is False
    assert use_colour(io.StringIO(), "always") is True
    assert use_colour(_Tty(), "never") is False


def test_no_color_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    """A non-empty NO_COLOR turns colour off even on a TTY; an empty one does not."""
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setenv("NO_COLOR", "1")
    assert use_colour(_Tty()) is False
    monkeypatch.setenv("NO_COLOR", "")
    assert use_colour(_Tty()) is True


def test_table_fits_and_aligns_in_colour() -> None:
    """Long cells wrap within max_width and escape codes do not disturb alignment."""
    rows: List[List[CellLike]] = [["a", Cell("ok", "ok"), "x" * 30 + " " + "y" * 60],
                                  ["bb", Cell("bad", "bad"), "z"]]
    plain = table(["k", "state", "text"], rows, Style(False), max_width=40)
    assert all(display_width(line) <= 40 for line in plain)
    coloured = table(["k", "state", "text"], rows, Style(True), max_width=40)
    assert "\x1b[32mok\x1b[0m" in coloured[1]
    strip = [line.replace("\x1b[32m", "").replace("\x1b[31m", "").replace("\x1b[0m", "")
             .replace("\x1b[1;4m", "") for line in coloured]
    assert strip == plain


def test_kv_lines_wrap_under_the_value() -> None:
    """Continuation lines start under the value column."""
    lines = kv_lines([("key", "word " * 30)], Style(False), max_width=40)
    assert len(lines) > 1
    assert all(line.startswith(" " * 7) for line in lines[1:])


def test_colour_flag_end_to_end(cli: Any) -> None:
    """--color always paints the output even when captured; never leaves it plain."""
    _, painted = cli("--color", "always", "backends")
    assert "\x1b[" in painted
    _, plain = cli("--color", "never", "backends")
    assert "\x1b[" not in plain
