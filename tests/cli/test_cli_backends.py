"""``tlsplug backends``: the listing, features, what auto picks and the environment variable."""

from __future__ import annotations

import json
from typing import Any

import pytest

import tlsplug


def test_lists_installed_backends(cli: Any) -> None:
    """Every installed backend appears with its priority, versions and the auto choice."""
    status, out = cli("backends")
    assert status == 0
    for name in tlsplug.available_backends():
        assert name in out
    assert "auto picks" in out
    assert "highest priority" in out
    assert "openssl" in out.lower()
    assert all(len(line) <= 80 for line in out.splitlines()), out


def test_json(cli: Any, usable_backend_names: Any) -> None:
    """--json gives the same facts as data; auto names the best usable backend."""
    status, out = cli("backends", "--json")
    assert status == 0
    doc = json.loads(out)
    names = [b["name"] for b in doc["backends"]]
    assert sorted(names) == sorted(tlsplug.available_backends())
    for entry in doc["backends"]:
        assert {"name", "status", "priority", "versions", "features", "error"} <= set(entry)
        assert entry["status"] in ("ready", "unavailable", "cannot-load")
    assert doc["auto"]["name"] == names[0]
    assert doc["env"]["name"] == "TLSPLUG_BACKEND"


def test_env_variable_effect(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A set TLSPLUG_BACKEND is explained; an unknown one is shown to break every context."""
    monkeypatch.setenv("TLSPLUG_BACKEND", "stdlib")
    status, out = cli("backends", "--json")
    assert status == 0
    assert "use stdlib" in json.loads(out)["env"]["effect"]
    monkeypatch.setenv("TLSPLUG_BACKEND", "nosuch")
    status, out = cli("backends")
    assert status == 0
    assert "backend-not-found" in out


def test_env_unset(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without TLSPLUG_BACKEND the listing says auto applies."""
    monkeypatch.delenv("TLSPLUG_BACKEND", raising=False)
    status, out = cli("backends", "--json")
    assert status == 0
    assert json.loads(out)["env"]["value"] is None
