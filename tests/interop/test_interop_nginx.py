"""nginx (OpenSSL, as Debian builds it): versions, verification failures and OCSP stapling."""

from __future__ import annotations

import pytest

from tlsplug import Feature, SecurityWarning, TLSOptions

from .conftest import (
    InteropPKI,
    Nginx,
    backend_has,
    handshake,
    options,
    outcome,
    recv_until,
)

pytestmark = pytest.mark.interop


def _http_get(nginx: Nginx, site: str, backend_name: str, pki: InteropPKI) -> str:
    """GET / from ``site`` and return the negotiated protocol version."""
    with handshake(nginx.connector(site), options(backend_name, pki.ca_file)) as tls:
        tls.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        response = recv_until(tls, b"\n" + site.encode() + b"\n")
        assert response.startswith(b"HTTP/1.1 200"), response[:200]
        assert response.endswith(site.encode() + b"\n"), response[-200:]
        version = tls.version()
    assert version is not None
    return version


def _checked_close(nginx: Nginx, site: str, opts: TLSOptions) -> None:
    """Handshake with ``site`` and close."""
    handshake(nginx.connector(site), opts).close()


def _staple_verdict(backend_name: str, spec: str) -> str:
    """The spec outcome where the backend verifies staples, else what it reaches without one."""
    return spec if backend_has(backend_name, Feature.OCSP_STAPLING) else "ok"


def test_tls12_http_round_trip(nginx: Nginx, backend_name: str, interop_pki: InteropPKI) -> None:
    """A TLS 1.2-only nginx site serves an HTTP request over a verified connection."""
    assert _http_get(nginx, "tls12", backend_name, interop_pki) == "TLSv1.2"


def test_tls13_http_round_trip(nginx: Nginx, backend_name: str, interop_pki: InteropPKI) -> None:
    """A TLS 1.3-only nginx site serves an HTTP request over a verified connection."""
    assert _http_get(nginx, "tls13", backend_name, interop_pki) == "TLSv1.3"


def test_wrong_hostname(nginx: Nginx, backend_name: str, interop_pki: InteropPKI) -> None:
    """A name that is not in nginx's certificate fails with hostname-mismatch."""
    opts = options(backend_name, interop_pki.ca_file)
    result = outcome(lambda: handshake(nginx.connector("tls13"), opts, "wrong.tlsplug.test"))
    assert result == "hostname-mismatch"


def test_untrusted(nginx: Nginx, backend_name: str, interop_pki: InteropPKI) -> None:
    """Trusting only an unrelated root fails with cert-untrusted."""
    opts = options(backend_name, interop_pki.other_ca_file)
    assert outcome(lambda: handshake(nginx.connector("tls12"), opts)) == "cert-untrusted"


def test_good_staple(nginx: Nginx, backend_name: str, interop_pki: InteropPKI) -> None:
    """A good OCSP response stapled from ssl_stapling_file connects on every backend."""
    opts = options(backend_name, interop_pki.ca_file)
    expected = _staple_verdict(backend_name, "ok")
    assert outcome(lambda: _checked_close(nginx, "good_staple", opts)) == expected


def test_revoked_staple(nginx: Nginx, backend_name: str, interop_pki: InteropPKI) -> None:
    """A revoked staple from nginx fails with ocsp-revoked where staples are verified."""
    opts = options(backend_name, interop_pki.ca_file)
    expected = _staple_verdict(backend_name, "ocsp-revoked")
    assert outcome(lambda: _checked_close(nginx, "revoked_staple", opts)) == expected


def test_must_staple_without_staple(
    nginx: Nginx, backend_name: str, interop_pki: InteropPKI
) -> None:
    """A must-staple leaf without staple fails: ocsp-must-staple, or unsupported-option.

    A backend that cannot see staples fails closed with unsupported-option (project
    decision, RFC 7633; see tlsplug._stdlib._ocsp) instead of accepting the certificate.
    """
    opts = options(backend_name, interop_pki.ca_file)
    stapling = backend_has(backend_name, Feature.OCSP_STAPLING)
    expected = "ocsp-must-staple" if stapling else "unsupported-option"
    assert outcome(lambda: _checked_close(nginx, "must_staple", opts)) == expected


def test_legacy_site_needs_legacy_profile(
    nginx: Nginx, backend_name: str, interop_pki: InteropPKI
) -> None:
    """An AES256-SHA-only nginx site gives modern no-shared-cipher and serves legacy."""
    modern = options(backend_name, interop_pki.ca_file)
    assert outcome(lambda: handshake(nginx.connector("legacy"), modern)) == "no-shared-cipher"
    legacy = options(backend_name, interop_pki.ca_file, profile="legacy")
    with pytest.warns(SecurityWarning):
        result = outcome(lambda: _checked_close(nginx, "legacy", legacy))
    assert result == "ok"
