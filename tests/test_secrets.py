"""The key password never shows in repr, str, errors or log records."""

from __future__ import annotations

import logging
import traceback
from typing import Callable, List

import pytest

import tlsplug
from tlsplug import TLSOptions

SECRET = "s3cr3t-Hunter2-pässword"


def test_repr_and_str_mask_the_password() -> None:
    """repr() and str() of options show that a password is set, never the password."""
    options = TLSOptions.parse(None, tlsCertificateKeyFile="/c.pem",
                               tlsCertificateKeyFilePassword=SECRET)
    assert SECRET not in repr(options)
    assert SECRET not in str(options)
    assert "********" in repr(options)


def test_errors_do_not_leak_the_password(caplog: pytest.LogCaptureFixture) -> None:
    """Errors raised while parsing options with a password never contain it."""
    caplog.set_level(logging.DEBUG)
    cases: List[Callable[[], object]] = [
        lambda: TLSOptions.parse("mongodb://h/?tlsInsecure=true&tlsAllowInvalidHostnames=true"
                                 f"&tlsCertificateKeyFilePassword={SECRET}"),
        lambda: TLSOptions.parse(None, tlsCertificateKeyFilePassword=SECRET, tls=False),
        lambda: TLSOptions(certificate_key_file_password=SECRET, crl_file="/x",
                           insecure=True),
        lambda: TLSOptions.parse(None, tlsCertificateKeyFilePasword=SECRET),
    ]
    for make in cases:
        with pytest.raises(tlsplug.ConfigurationError) as info:
            make()
        text = "".join(traceback.format_exception(info.type, info.value, info.tb))
        assert SECRET not in text
        assert SECRET not in repr(info.value)
    assert all(SECRET not in r.getMessage() for r in caplog.records)


def test_missing_key_file_error_does_not_leak_the_password(tmp_path: object) -> None:
    """A context built from a missing key file fails without showing the password."""
    options = TLSOptions(certificate_key_file="/nonexistent/client.pem",
                         certificate_key_file_password=SECRET)
    from tlsplug.backend import load_materials

    with pytest.raises(tlsplug.ConfigurationError) as info:
        load_materials(options)
    assert info.value.code == "file-not-found"
    text = "".join(traceback.format_exception(info.type, info.value, info.tb))
    assert SECRET not in text
    assert "/nonexistent/client.pem" in str(info.value)
