"""The MongoDB specification vectors in tests/vectors/mongodb-specs, read as they are."""

from __future__ import annotations

import json
import pathlib
import warnings
from typing import Any, Dict

import pytest

import tlsplug

SPECS = pathlib.Path(__file__).resolve().parent / "vectors" / "mongodb-specs"


def _load(relative: str) -> Any:
    path = SPECS / relative
    if not path.exists():
        pytest.fail(f"vendored vector missing: {path}")
    return json.loads(path.read_text())


TLS_CASES = _load("uri-options/tls-options.json")["tests"]
CS_CASES = _load("connection-string/valid-options.json")["tests"]


def test_the_tls_vector_file_has_all_68_cases() -> None:
    """The vendored tls-options.json is complete, so no case is silently lost."""
    assert len(TLS_CASES) == 68


def _normalized(options: Dict[str, Any]) -> Dict[str, Any]:
    return {k.lower(): v for k, v in options.items()}


@pytest.mark.parametrize("case", TLS_CASES, ids=[c["description"] for c in TLS_CASES])
def test_tls_options_vector(case: Dict[str, Any]) -> None:
    """Each uri-options/tls-options.json case is valid, warns or fails exactly as specified."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if not case["valid"]:
            with pytest.raises(tlsplug.ConfigurationError) as info:
                tlsplug.TLSOptions.parse(case["uri"])
            assert info.value.code in ("conflicting-options", "invalid-option")
            return
        options = tlsplug.TLSOptions.parse(case["uri"])
    option_warnings = [w for w in caught if issubclass(w.category, tlsplug.OptionWarning)]
    assert bool(option_warnings) == case["warning"], [str(w.message) for w in caught]
    expected = case.get("options") or {}
    got = _normalized(options.to_uri_options())
    for key, value in _normalized(expected).items():
        if key == "ssl":
            key = "tls"
        assert got.get(key) == value, (key, got)


@pytest.mark.parametrize("case", CS_CASES, ids=[c["description"] for c in CS_CASES])
def test_connection_string_vector(case: Dict[str, Any]) -> None:
    """Non-TLS options are left to the driver and TLS options are read where they apply."""
    options = tlsplug.TLSOptions.parse(case["uri"])
    expected = _normalized(case["options"])
    got = _normalized(options.to_uri_options())
    for key, value in expected.items():
        if key.startswith(("tls", "ssl")):
            assert got[key] == value
        else:
            assert key not in got


SRV = SPECS / "initial-dns-seedlist-discovery" / "replica-set"


def _txt_for(case: Dict[str, Any]) -> str:
    """The TXT record a vector implies: its non-URI, non-TLS options, or a forbidden ssl."""
    if case.get("error"):
        return "replicaSet=repl0&ssl=false"  # the vector's comment: ssl is not allowed there
    uri_keys = {k.split("=")[0].lower() for k in case["uri"].partition("?")[2].split("&") if k}
    return "&".join(
        f"{k}={v}"
        for k, v in case["options"].items()
        if k.lower() not in uri_keys and k.lower() not in ("ssl", "tls")
    )


@pytest.mark.parametrize("name", sorted(p.name for p in SRV.glob("*.json")))
def test_srv_vector(name: str) -> None:
    """SRV URIs imply TLS unless tls/ssl is given, and TXT records may not set ssl/tls."""
    case = json.loads((SRV / name).read_text())
    txt = _txt_for(case)
    if case.get("error"):
        with pytest.raises(tlsplug.ConfigurationError) as info:
            tlsplug.parse_txt_record(txt)
        assert info.value.option == "ssl"
        return
    txt_options = tlsplug.parse_txt_record(txt)
    options = tlsplug.TLSOptions.parse(case["uri"])
    assert options.enabled is case["options"]["ssl"]
    for key, value in case["options"].items():
        if key not in ("ssl", "tls") and key.lower() not in case["uri"].lower():
            assert txt_options[key] == value
