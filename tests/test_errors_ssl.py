"""tlsplug's errors are also the ``ssl`` exceptions drivers already catch (docs/design.md)."""

from __future__ import annotations

import pickle
import ssl

import pytest

import tlsplug
from tlsplug.backend import ErrorCode, error_for_code


def _raised(error: tlsplug.TLSError, cause: BaseException) -> tlsplug.TLSError:
    """``error`` raised from ``cause``, as a backend's translator raises it."""
    try:
        raise error from cause
    except tlsplug.TLSError as exc:
        return exc


def test_handshake_error_is_an_ssl_error() -> None:
    """A HandshakeError is caught by ``except ssl.SSLError`` and ``except OSError``."""
    err = error_for_code("no-shared-cipher", "no cipher", backend="stdlib")
    with pytest.raises(ssl.SSLError):
        raise err
    with pytest.raises(OSError):  # noqa: PT011 - the class itself is the point
        raise err
    assert not isinstance(err, ssl.SSLCertVerificationError)
    assert err.code == "no-shared-cipher"


def test_certificate_error_is_an_ssl_cert_verification_error() -> None:
    """A CertificateError is an ssl.SSLCertVerificationError, SSLError, OSError and ValueError."""
    err = error_for_code("cert-expired", "certificate verify failed: expired", backend="pyopenssl")
    with pytest.raises(ssl.SSLCertVerificationError):
        raise err
    assert isinstance(err, (ssl.SSLError, OSError, ValueError, tlsplug.HandshakeError))


def test_str_keeps_the_tlsplug_form() -> None:
    """str() shows code, message, backend and hint, not OSError's "(errno, strerror)"."""
    err = error_for_code("timeout", "timed out", backend="stdlib")
    assert str(err).startswith("[timeout] timed out (backend: stdlib) Hint: ")
    assert isinstance(err, OSError)
    assert err.errno is None  # no single SSL_ERROR_* number stands for a tlsplug code


def test_reason_and_library_from_the_native_error() -> None:
    """reason/library are the native ssl error's; without one, reason comes from the code."""
    native = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")
    native.reason = "WRONG_VERSION_NUMBER"  # as _ssl.c sets them
    native.library = "SSL"
    err = _raised(error_for_code("not-tls", "not TLS", backend="stdlib"), native)
    assert isinstance(err, ssl.SSLError)
    assert err.reason == "WRONG_VERSION_NUMBER"
    assert err.library == "SSL"
    bare = _raised(error_for_code("timeout", "timed out"), TimeoutError())
    assert isinstance(bare, ssl.SSLError)
    assert bare.reason == "TIMEOUT"
    assert bare.library is None


def test_verify_code_and_message() -> None:
    """verify_code comes from the native error, else the message, else the code's X509 error."""
    native = ssl.SSLCertVerificationError(1, "certificate verify failed")
    native.verify_code = 10  # as _ssl.c sets them
    native.verify_message = "certificate has expired"
    err = _raised(error_for_code("cert-expired", "expired", backend="stdlib"), native)
    assert isinstance(err, tlsplug.CertificateError)
    assert err.verify_code == 10
    assert err.verify_message == "certificate has expired"
    assert err.reason == "CERTIFICATE_VERIFY_FAILED"
    parsed = error_for_code(
        "cert-untrusted", "certificate verify failed: x (OpenSSL verify error 19 at depth 1)"
    )
    assert isinstance(parsed, tlsplug.CertificateError)
    assert parsed.verify_code == 19
    assert parsed.verify_message == parsed.message
    host = error_for_code("hostname-mismatch", "localhost is not in the certificate")
    assert isinstance(host, tlsplug.CertificateError)
    assert host.verify_code == 62  # X509_V_ERR_HOSTNAME_MISMATCH, as ssl reports it
    staple = error_for_code("ocsp-invalid-response", "bad staple")
    assert isinstance(staple, tlsplug.CertificateError)
    assert staple.verify_code is None


@pytest.mark.parametrize("code", ["cert-revoked", "connection-closed", "invalid-file"])
def test_pickle_round_trip(code: ErrorCode) -> None:
    """Errors survive pickling with class, code, backend, hint and str intact."""
    err = error_for_code(code, "something failed", backend="stdlib", hint="do this")
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        back = pickle.loads(pickle.dumps(err, protocol))
        assert type(back) is type(err)
        assert (back.code, back.backend, back.hint) == (err.code, err.backend, err.hint)
        assert str(back) == str(err)


def test_attributes_can_be_set() -> None:
    """reason, library, verify_code and verify_message are writable, as on ssl's errors."""
    err = error_for_code("cert-untrusted", "untrusted")
    assert isinstance(err, tlsplug.CertificateError)
    err.reason = "CUSTOM"
    err.library = "X509"
    err.verify_code = 2
    err.verify_message = "unable to get issuer certificate"
    assert (err.reason, err.library, err.verify_code) == ("CUSTOM", "X509", 2)
    assert err.verify_message == "unable to get issuer certificate"
