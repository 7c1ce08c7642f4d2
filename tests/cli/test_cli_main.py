"""The entry point: help and usage errors in-process, and every command as a real process."""

from __future__ import annotations

import json
from typing import Any, Dict

import pytest

from tlsplug import __version__
from tlsplug.testing import PKIFiles, TLSServer

from .cli_support import run_subprocess, schema_errors


def test_help_and_version(cli: Any) -> None:
    """--help lists the four commands; --version prints the version; both exit 0."""
    status, out = cli("--help")
    assert status == 0
    for command in ("check", "demo", "options", "backends"):
        assert command in out
    status, out = cli("--version")
    assert status == 0
    assert __version__ in out


def test_usage_errors_exit_2(cli: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """No command, an unknown command or a bad flag exit 2 instead of raising SystemExit."""
    assert cli()[0] == 2
    assert cli("nosuch")[0] == 2
    assert cli("check", "--timeout", "soon")[0] == 2
    assert cli("check", "h", "--timeout", "0")[0] == 2
    capsys.readouterr()


def test_subprocess_options() -> None:
    """``python -m tlsplug options`` runs as a process; a conflict exits 2."""
    proc = run_subprocess("options", "mongodb://h/?tls=true")
    assert proc.returncode == 0, proc.stderr
    assert "What they turn on or off" in proc.stdout
    proc = run_subprocess("options", "mongodb://h/?tls=false&tlsCAFile=/x")
    assert proc.returncode == 2
    assert "conflicting-options" in proc.stdout


def test_subprocess_backends() -> None:
    """``python -m tlsplug backends --json`` prints valid JSON."""
    proc = run_subprocess("backends", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["backends"]


def test_subprocess_check(pki_files: PKIFiles, tls_server: Any, backend_name: str,
                          check_schema: Dict[str, Any]) -> None:
    """``python -m tlsplug check --json`` against a local server: exit 0, valid document."""
    server: TLSServer = tls_server()
    proc = run_subprocess("check", f"localhost:{server.port}", "--tlsCAFile",
                          str(pki_files.ca_file), "--backend", backend_name, "--json",
                          "--timeout", "5")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert not schema_errors(doc, check_schema, check_schema)
    assert proc.stderr == ""


def test_subprocess_demo() -> None:
    """``python -m tlsplug demo`` exits 0 and prints nothing on stderr (warnings are notes)."""
    proc = run_subprocess("demo")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr == ""
    assert "outcomes as expected" in proc.stdout
