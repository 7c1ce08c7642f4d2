"""``tlsplug options``: parsed options in plain words, warnings, conflicts and masking."""

from __future__ import annotations

from typing import Any

import pytest

from tlsplug import TLSOptions
from tlsplug._cli._options_cmd import describe_option, effects


def test_explains_each_option_and_effect(cli: Any) -> None:
    """Each given option is listed with its meaning and every effective behaviour is shown."""
    status, out = cli("options", "mongodb://h/?tls=true&tlsAllowInvalidHostnames=true"
                      "&tlsCAFile=/etc/ca.pem")
    assert status == 0
    assert "tlsAllowInvalidHostnames" in out
    assert "a certificate for any host" in out
    assert "verify the hostname / IP      off    off by tlsAllowInvalidHostnames=true" in out
    assert "verify the certificate chain  on     against /etc/ca.pem" in out
    for what in ("check stapled OCSP responses", "ask OCSP responders", "check a CRL"):
        assert what in out
    assert "SecurityWarning" in out
    assert all(len(line) <= 80 for line in out.splitlines()), out


def test_warnings_are_captured_and_printed(cli: Any, recwarn: pytest.WarningsRecorder) -> None:
    """OptionWarning and DeprecationWarning are printed under Warnings, not emitted."""
    status, out = cli("options", "mongodb://h/?ssl_certfile=/c.pem&tlsInsecure=maybe")
    assert status == 0
    assert "DeprecationWarning: ssl_certfile is deprecated" in out
    assert "OptionWarning: tlsInsecure: invalid value 'maybe'" in out
    assert not [w for w in recwarn if w.category.__name__ in ("OptionWarning",
                                                               "DeprecationWarning")]


def test_conflict_exit_2(cli: Any) -> None:
    """Conflicting options print the code, the message and the hint, and exit 2."""
    status, out = cli("options", "mongodb://h/?tlsInsecure=true&tlsDisableOCSPEndpointCheck=true")
    assert status == 2
    assert "conflicting-options" in out
    assert "tlsInsecure: cannot be combined with tlsDisableOCSPEndpointCheck" in out
    assert "hint" in out


def test_unknown_option_suggests(cli: Any) -> None:
    """A misspelt key is unknown-option with a did-you-mean."""
    status, out = cli("options", "mongodb://h/?tlsAllowInvalidHostname=true")
    assert status == 2
    assert "did you mean tlsAllowInvalidHostnames?" in " ".join(out.split())


def test_password_masked(cli: Any) -> None:
    """Neither the user's password nor the key password is ever printed."""
    status, out = cli("options", "mongodb://alice:s3cret@h/?tlsCertificateKeyFile=/k.pem"
                      "&tlsCertificateKeyFilePassword=hunter2")
    assert status == 0
    assert "s3cret" not in out
    assert "hunter2" not in out
    assert "alice:********@" in out


def test_flags_without_uri(cli: Any) -> None:
    """Option flags alone work, and a CRL turns OCSP off with the reason given."""
    status, out = cli("options", "--tlsCRLFile", "/x.crl")
    assert status == 0
    assert "a CRL file is given, which replaces OCSP" in out
    assert "tlsCRLFile: /x.crl is not a file here" in out


def test_nothing_given(cli: Any) -> None:
    """Without a URI or flags the command explains what it needs; exit 2."""
    status, out = cli("options")
    assert status == 2
    assert "connection string" in out


def test_backend_line_respects_env(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The backend row names $TLSPLUG_BACKEND as the source when no tlsBackend is given."""
    monkeypatch.setenv("TLSPLUG_BACKEND", "stdlib")
    status, out = cli("options", "mongodb://h/?tls=true")
    assert status == 0
    assert "stdlib (from $TLSPLUG_BACKEND=stdlib)" in out


def test_effects_follow_the_properties() -> None:
    """effects() mirrors TLSOptions' effective properties for a relaxing option."""
    opts = TLSOptions(enabled=True, allow_invalid_certificates=True)
    states = {what: on for what, on, _ in effects(opts)}
    assert states["verify the certificate chain"] is opts.verify_certificates is False
    assert states["check stapled OCSP responses"] is opts.check_ocsp_stapling is False
    assert states["verify the hostname / IP"] is True


def test_describe_option_never_echoes_password() -> None:
    """The password's description holds no part of its value."""
    assert "hunter2" not in describe_option("tlsCertificateKeyFilePassword", "hunter2")
