"""The documentation's runnable examples run, against local servers only (docs_support)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

import pytest

from .docs_support import pages, relative, runnable_blocks

RUNNABLE = [page for page in pages() if runnable_blocks(page)]


def _stop_servers(namespace: Dict[str, Any]) -> None:
    # A page that failed half-way leaves its tlsplug.testing servers running.
    for value in namespace.values():
        module = type(value).__module__
        if module.startswith("tlsplug.testing") and callable(getattr(value, "stop", None)):
            value.stop()


def test_the_tutorial_runs_for_real() -> None:
    """The tutorial's main flow is made of runnable blocks, not illustrations."""
    tutorial = [page for page in RUNNABLE if page.name == "tutorial.md"]
    assert tutorial, "docs/tutorial.md has no <!-- run --> blocks"
    assert len(runnable_blocks(tutorial[0])) >= 10


@pytest.mark.parametrize("page", RUNNABLE, ids=relative)
def test_page_examples_run(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every <!-- run --> block of the page runs without error, in order, in one namespace."""
    monkeypatch.chdir(tmp_path)
    namespace: Dict[str, Any] = {"__name__": f"docs:{relative(page)}"}
    try:
        for block in runnable_blocks(page):
            # Padding keeps traceback line numbers equal to the page's.
            source = "\n" * (block.line - 1) + block.code
            exec(compile(source, str(block.page), "exec"), namespace)
    finally:
        _stop_servers(namespace)
