"""gnutls-serv: a TLS stack that is not OpenSSL, with and without client certificates."""

from __future__ import annotations

import pytest

import tlsplug

from .conftest import GnutlsServer, InteropPKI, handshake, options, outcome, recv_exactly

pytestmark = pytest.mark.interop


def _echo(server: GnutlsServer, opts: tlsplug.TLSOptions) -> str:
    """Round-trip a line through gnutls-serv's echo mode; return the TLS version."""
    with handshake(server.connect, opts) as tls:
        tls.sendall(b"tlsplug via gnutls\n")
        assert recv_exactly(tls, 19) == b"tlsplug via gnutls\n"
        version = tls.version()
    assert version is not None
    return version


def test_modern_echo_round_trip(
    gnutls_plain: GnutlsServer, backend_name: str, interop_pki: InteropPKI
) -> None:
    """The modern profile completes a TLS 1.3 handshake with GnuTLS and echoes a line."""
    assert _echo(gnutls_plain, options(backend_name, interop_pki.ca_file)) == "TLSv1.3"


def test_wrong_hostname(
    gnutls_plain: GnutlsServer, backend_name: str, interop_pki: InteropPKI
) -> None:
    """A name absent from GnuTLS's certificate fails with hostname-mismatch."""
    opts = options(backend_name, interop_pki.ca_file)
    result = outcome(lambda: handshake(gnutls_plain.connect, opts, "wrong.tlsplug.test"))
    assert result == "hostname-mismatch"


def test_untrusted(
    gnutls_plain: GnutlsServer, backend_name: str, interop_pki: InteropPKI
) -> None:
    """Trusting only an unrelated root fails against GnuTLS with cert-untrusted."""
    opts = options(backend_name, interop_pki.other_ca_file)
    assert outcome(lambda: handshake(gnutls_plain.connect, opts)) == "cert-untrusted"


def test_client_certificate_accepted(
    gnutls_mtls: GnutlsServer, backend_name: str, interop_pki: InteropPKI
) -> None:
    """A client certificate and its chain satisfy GnuTLS's verified certificate request."""
    opts = options(
        backend_name,
        interop_pki.ca_file,
        certificate_key_file=str(interop_pki.client_files.combined_file),
    )
    assert _echo(gnutls_mtls, opts) == "TLSv1.3"


def test_client_certificate_missing_read_first(
    gnutls_mtls: GnutlsServer, backend_name: str, interop_pki: InteropPKI
) -> None:
    """Without a client certificate, GnuTLS's certificate_required alert is handshake-failure."""
    opts = options(backend_name, interop_pki.ca_file)

    def read_first() -> None:
        # TLS 1.3: the client's handshake completes before the server judges its certificate,
        # so the refusal arrives as an alert on the first read.
        with handshake(gnutls_mtls.connect, opts) as tls:
            tls.recv(64)

    assert outcome(read_first) == "handshake-failure"


def test_client_certificate_missing_write_first(
    gnutls_mtls: GnutlsServer, backend_name: str, interop_pki: InteropPKI
) -> None:
    """Writing before GnuTLS's refusal is read fails as connection-closed or handshake-failure."""
    opts = options(backend_name, interop_pki.ca_file)
    # GnuTLS sends certificate_required and closes; the client's write then draws a TCP reset
    # that can discard the alert before it is read, leaving only the unclean EOF.
    assert outcome(lambda: _echo(gnutls_mtls, opts)) in ("connection-closed", "handshake-failure")


def test_tls12_client_certificate_accepted(
    gnutls_mtls12: GnutlsServer, backend_name: str, interop_pki: InteropPKI
) -> None:
    """A TLS 1.2-only GnuTLS accepts the client certificate and echoes a line."""
    opts = options(
        backend_name,
        interop_pki.ca_file,
        certificate_key_file=str(interop_pki.client_files.combined_file),
    )
    assert _echo(gnutls_mtls12, opts) == "TLSv1.2"


def test_tls12_client_certificate_missing(
    gnutls_mtls12: GnutlsServer, backend_name: str, interop_pki: InteropPKI
) -> None:
    """Under TLS 1.2 GnuTLS refuses a missing client certificate inside the handshake."""
    opts = options(backend_name, interop_pki.ca_file)
    # GnuTLS answers the empty Certificate message with a decode_error alert (OpenSSL servers
    # send handshake_failure), so the refusal surfaces from wrap_socket itself.
    assert outcome(lambda: handshake(gnutls_mtls12.connect, opts).close()) == "handshake-failure"
