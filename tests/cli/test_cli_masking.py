"""No password in CLI output, however it is written into the connection string (issue 16 §4)."""

from __future__ import annotations

import contextlib
import io
import json
from typing import Any, Tuple
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tlsplug.__main__ import main
from tlsplug._cli._common import mask_uri

MARK = "Zq9"  # every generated password starts with it; it must never be printed


def run(*argv: str) -> Tuple[int, str]:
    """``tlsplug ARGV`` in-process; (exit status, stdout)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        status = main(list(argv))
    return status, out.getvalue()


secrets = st.text(alphabet="abZ09-_.~/?@:&;=+%# $!", min_size=0, max_size=10).map(
    lambda tail: MARK + tail)
key_names = st.sampled_from([
    "tlsCertificateKeyFilePassword", "TLSCERTIFICATEKEYFILEPASSWORD",
    "tlsCertificateKeyFile%50assword", "tlsCertificateKeyFile%70assword",
    "tls%43ertificateKeyFilePassword", "ssl_pem_passphrase", "ssl%5Fpem%5Fpassphrase",
])


def _encode(secret: str, how: int) -> str:
    return quote(secret, safe="") if how else secret


@settings(max_examples=settings().max_examples * 2)
@given(secret=secrets, how=st.integers(0, 1), key=key_names,
       place=st.sampled_from(["userinfo", "option"]), tail=st.sampled_from(["", "&w=1", "/"]))
def test_options_never_prints_a_password(secret: str, how: int, key: str, place: str,
                                         tail: str) -> None:
    """Raw or encoded, in the userinfo or under an encoded option name: never printed."""
    if place == "userinfo":
        uri = f"mongodb://alice:{_encode(secret, how)}@db.example.com{tail}/?tls=true"
    else:
        uri = f"mongodb://db.example.com/?tls=true&{key}={_encode(secret, how)}{tail}"
    status, out = run("options", uri)
    assert status in (0, 2)
    assert MARK not in out, out
    assert MARK not in mask_uri(uri)


@pytest.mark.parametrize("uri", [
    "mongodb://u:Zq9@ss@h/?tls=true",
    "mongodb://u:Zq9/ss@h/?tls=true",
    "mongodb://u:Zq9?ss@h/?tls=true",
    "mongodb://user:Zq9?tlsInsecure=true&x=@db/?tls=true",
    "mongodb://h/?tlsCertificateKeyFile%50assword=Zq9&tls=true",
    "mongodb://h/?tlsCertificateKeyFilePassword=ab;Zq9&w=1",
    "mongodb://h/?tlsCertificateKeyFilePassword=ab&Zq9&w=1",
])
def test_mask_uri_hides_every_reading_of_the_password(uri: str) -> None:
    """The userinfo is masked up to the last '@' before a host; '='-less tails too."""
    assert MARK not in mask_uri(uri)


def test_mask_uri_keeps_what_is_not_secret() -> None:
    """Hosts, the user name and other options stay readable."""
    masked = mask_uri("mongodb://alice:pw@h1:1,h2/db?tls=true&tlsCAFile=/ca.pem&w=1")
    assert masked == "mongodb://alice:********@h1:1,h2/db?tls=true&tlsCAFile=/ca.pem&w=1"


@pytest.mark.parametrize("json_flag", [(), ("--json",)])
def test_check_never_prints_a_password(json_flag: Tuple[str, ...]) -> None:
    """check with an invalid or a valid URI shows neither password (nothing listens on :1)."""
    for uri in ("mongodb://u:Zq9/x@127.0.0.1:1/?tls=true",
                "mongodb://u:Zq9%2Fx@127.0.0.1:1/?tls=true&tlsCertificateKeyFilePassword=Zq9b"
                "&tlsAllowInvalidHostnames=true"):
        status, out = run("check", "--uri", uri, "--timeout", "2", *json_flag)
        assert status in (1, 2)
        assert MARK not in out, out
        if json_flag:
            json.loads(out)


def test_check_reports_an_unsplittable_uri_as_invalid_options(cli: Any) -> None:
    """A raw '?' in the password is a configuration error (exit 2), not a bad port."""
    status, out = cli("check", "--uri", "mongodb://u:Zq9?x@h/?tls=true")
    assert status == 2
    assert "Invalid options" in out
    assert MARK not in out
