"""Shared fixtures of the CLI tests: which backends work here, and running the command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

import tlsplug._cli
from tlsplug.__main__ import main

from .cli_support import schema_errors, usable_backends

SCHEMA_PATH = Path(tlsplug._cli.__file__).with_name("check.schema.json")


@pytest.fixture(scope="session")
def usable_backend_names() -> List[str]:
    """The usable backends' names, best first."""
    return usable_backends()


@pytest.fixture(scope="session")
def check_schema() -> Dict[str, Any]:
    """The JSON schema of ``tlsplug check --json``, as shipped in the package."""
    schema: Dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return schema


@pytest.fixture(autouse=True)
def _plain_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every CLI test sees an 80-column terminal without NO_COLOR set."""
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.delenv("NO_COLOR", raising=False)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Any:
    """Run ``main(argv)`` in-process; return (exit status, stdout)."""

    def run(*argv: str) -> Tuple[int, str]:
        status = main(list(argv))
        return status, capsys.readouterr().out

    return run


@pytest.fixture
def cli_json(cli: Any) -> Any:
    """Run ``main(argv)`` with ``--json`` output parsed; return (exit status, document)."""

    def run(*argv: str) -> Tuple[int, Dict[str, Any]]:
        status, out = cli(*argv)
        return status, json.loads(out)

    return run


@pytest.fixture
def assert_valid_check_json(check_schema: Dict[str, Any]) -> Any:
    """Assert that a document conforms to check.schema.json."""

    def check(document: Any) -> None:
        errors = schema_errors(document, check_schema, check_schema)
        assert not errors, "\n".join(errors)

    return check
