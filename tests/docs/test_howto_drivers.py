"""docs/howto/drivers.md: every Python block compiles; the plain-asyncio recipe runs."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any, Dict, List

import pytest

from tlsplug.testing.pki import CA
from tlsplug.testing.servers import TLSServer

PAGE = Path(__file__).resolve().parents[2] / "docs" / "howto" / "drivers.md"


def _blocks() -> List[str]:
    return re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S)


def test_page_has_one_title_and_recipes() -> None:
    """One H1, and a recipe per client the page names."""
    text = PAGE.read_text(encoding="utf-8")
    assert re.findall(r"^# .*$", text, re.M) == ["# Using tlsplug with your driver"]
    for client in ("asyncpg", "pg8000", "redis.asyncio", "httpx", "Plain asyncio"):
        assert f"### {client}" in text


@pytest.mark.parametrize("index", range(len(_blocks())))
def test_block_compiles(index: int) -> None:
    """Each Python block is complete, valid Python."""
    compile(_blocks()[index], f"{PAGE.name}[{index}]", "exec")


def test_plain_asyncio_recipe_runs(backend_name: str, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The plain-asyncio recipe echoes through a local server and negotiates http/1.1."""
    monkeypatch.setenv("TLSPLUG_BACKEND", backend_name)
    namespace: Dict[str, Any] = {}
    exec(compile(_blocks()[0], "plain asyncio", "exec"), namespace)
    root = CA("docs root")
    ca_file = str(root.write_cert(tmp_path / "ca.pem"))
    with TLSServer(cert=root.issue_cert("localhost"), alpn=["http/1.1"]) as server:
        assert asyncio.run(namespace["ping"]("localhost", server.port, ca_file)) == b"ping"
