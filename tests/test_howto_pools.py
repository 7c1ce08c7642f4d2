"""docs/howto/pools.md: its runnable blocks run; its fixed releases are the code's."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, List

import pytest

from tlsplug._stdlib import _resume

PAGE = Path(__file__).resolve().parent.parent / "docs" / "howto" / "pools.md"


def _runnable(text: str) -> List[str]:
    """The ```python blocks that follow a <!-- run --> marker (the docs' convention)."""
    return re.findall(r"<!-- run -->\n```python\n(.*?)```", text, flags=re.S)


def test_page_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every <!-- run --> block of the page runs, in order, in one namespace."""
    monkeypatch.chdir(tmp_path)
    blocks = _runnable(PAGE.read_text(encoding="utf-8"))
    assert blocks
    namespace: Dict[str, Any] = {"__name__": "docs:howto/pools.md"}
    for code in blocks:
        exec(compile(code, str(PAGE), "exec"), namespace)


def test_fixed_releases_named_in_the_page_are_the_code_s() -> None:
    """The page's first fixed releases (3.12.7, 3.13.1) are where the code stops working around."""
    text = PAGE.read_text(encoding="utf-8")
    for release in ("3.12.7", "3.13.1"):
        assert f"**{release}**" in text
        fixed = tuple(int(part) for part in release.split("."))
        assert not _resume.getter_leaks(fixed)
        assert _resume.getter_leaks((fixed[0], fixed[1], fixed[2] - 1))
