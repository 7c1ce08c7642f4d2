"""check.schema.json itself: well-formed, and strict enough to catch broken documents."""

from __future__ import annotations

import copy
from typing import Any, Callable, Dict, List

from tlsplug._cli._check import SCHEMA_ID, BackendResult, result_json

from .cli_support import schema_errors

_GOOD: Dict[str, Any] = {
    "schema": SCHEMA_ID, "ok": True,
    "target": {"host": "localhost", "port": 27017, "server_hostname": "localhost"},
    "timeout": 10.0, "options": {"tls": True}, "notes": [], "results": [],
}


def test_schema_id_matches_code(check_schema: Dict[str, Any]) -> None:
    """The schema's $id is the SCHEMA_ID the command writes."""
    assert check_schema["$id"] == SCHEMA_ID


def test_minimal_documents_conform(check_schema: Dict[str, Any]) -> None:
    """A report with a failed result, and the invalid-options form, both validate."""
    from tlsplug import CertificateError

    result = BackendResult("stdlib", error=CertificateError("x", code="cert-expired"))
    doc = dict(_GOOD, ok=False, results=[result_json(result)])
    assert schema_errors(doc, check_schema, check_schema) == []
    invalid = {"schema": SCHEMA_ID, "ok": False,
               "error": {"code": "unknown-option", "class": "ConfigurationError",
                         "message": "m", "hint": "h"}}
    assert schema_errors(invalid, check_schema, check_schema) == []


def test_broken_documents_are_caught(check_schema: Dict[str, Any]) -> None:
    """Wrong types, missing keys, unknown keys and bad ports are each reported."""
    mutations: List[Callable[[Dict[str, Any]], object]] = [
        lambda d: d.pop("results"),
        lambda d: d.update(ok="yes"),
        lambda d: d.update(surprise=1),
        lambda d: d["target"].update(port=70000),
        lambda d: d.update(schema="tlsplug-check/2"),
    ]
    cases = []
    for mutate in mutations:
        doc = copy.deepcopy(_GOOD)
        mutate(doc)
        cases.append(schema_errors(doc, check_schema, check_schema))
    assert all(cases), cases
