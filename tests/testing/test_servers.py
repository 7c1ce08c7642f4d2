"""Tests of tlsplug.testing.servers and the pytest fixtures: real handshakes over loopback."""

from __future__ import annotations

import socket
import ssl
import sys
import threading
import time
from pathlib import Path
from typing import Callable, List, Tuple, Type, Union

import pytest

from tlsplug.testing import (
    CA,
    NO_IPV6,
    PKI,
    PKIFiles,
    RawServer,
    TLSServer,
    close_immediately,
    ipv6_available,
    respond_with,
    serve,
    stall,
)

TLSFactory = Callable[..., TLSServer]
IPV6 = pytest.param("::1", marks=pytest.mark.skipif(not ipv6_available(), reason=NO_IPV6))
RawFactory = Callable[..., RawServer]


def client(trust: CA) -> ssl.SSLContext:
    """A default client context trusting only ``trust``."""
    return ssl.create_default_context(cadata=trust.cert_pem.decode("ascii"))


def connect(
    server: Union[RawServer, TLSServer], ctx: ssl.SSLContext, hostname: str = "localhost"
) -> ssl.SSLSocket:
    """Open a TLS connection to ``server`` (the caller closes it)."""
    raw = socket.create_connection(server.address, timeout=10)
    try:
        return ctx.wrap_socket(raw, server_hostname=hostname)
    except BaseException:
        raw.close()
        raise


def echo(
    server: Union[RawServer, TLSServer], ctx: ssl.SSLContext, hostname: str = "localhost"
) -> bytes:
    """Send a message and return what comes back."""
    with connect(server, ctx, hostname) as tls:
        tls.sendall(b"ping")
        return bytes(tls.recv(16))


# -- modes, addresses and recorded details -------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", IPV6])
def test_echo_on_both_loopbacks(pki: PKI, tls_server: TLSFactory, host: str) -> None:
    """The echo server answers on IPv4 and IPv6 loopback and records SNI and version."""
    server = tls_server(host=host)
    assert server.address == (host, server.port)
    assert server.port > 0
    assert echo(server, client(pki.root), host) == b"ping"
    assert echo(server, client(pki.root), "localhost") == b"ping"
    assert server.wait_handled(2)
    first, second = server.handshakes
    assert first.server_name is None  # RFC 6066 §3: no SNI for IP literals
    assert second.server_name == "localhost"
    assert first.version == "TLSv1.3"
    assert first.peer_cert is None
    assert server.connections == 2
    assert server.errors == []


def test_greeting_and_close_modes(pki: PKI, tls_server: TLSFactory) -> None:
    """Greeting mode speaks first; close mode ends the connection right after the handshake."""
    greeter = tls_server(mode="greeting", greeting=b"hi\n")
    with connect(greeter, client(pki.root)) as tls:
        assert tls.recv(16) == b"hi\n"
        tls.sendall(b"x")
        assert tls.recv(16) == b"x"
    closer = tls_server(mode="close")
    with connect(closer, client(pki.root)) as tls:
        assert tls.recv(16) == b""
    with pytest.raises(ValueError, match="mode"):
        TLSServer(cert=pki.leaf, mode="chat")


def test_version_bounds_and_alpn(pki: PKI, tls_server: TLSFactory) -> None:
    """max_version caps the protocol and ALPN is negotiated and recorded."""
    server = tls_server(max_version=ssl.TLSVersion.TLSv1_2, alpn=["h2", "http/1.1"])
    ctx = client(pki.root)
    ctx.set_alpn_protocols(["http/1.1"])
    with connect(server, ctx) as tls:
        assert tls.version() == "TLSv1.2"
        assert tls.selected_alpn_protocol() == "http/1.1"
    assert server.wait_handled(1)
    assert server.handshakes[0].alpn_protocol == "http/1.1"


# -- legacy server --------------------------------------------------------------------------


def test_legacy_server_rejects_default_client_on_310_plus() -> None:
    """Python 3.10+ default clients fail against the legacy server; 3.9 still negotiates."""
    root = CA(key_type="rsa")
    with TLSServer.legacy(root.issue_cert("localhost")) as server:
        if sys.version_info >= (3, 10):
            with pytest.raises(ssl.SSLError) as info:
                echo(server, client(root))
            assert info.value.reason == "SSLV3_ALERT_HANDSHAKE_FAILURE"
            assert server.wait_handled(1)
            assert [getattr(e, "reason", None) for e in server.errors] == ["NO_SHARED_CIPHER"]
        else:
            # Python 3.9's default cipher list still contains AES256-SHA.
            assert echo(server, client(root)) == b"ping"


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1 is deprecated:DeprecationWarning")
def test_legacy_server_accepts_legacy_client() -> None:
    """A client allowing AES256-SHA at security level 0 connects, down to TLS 1.0."""
    root = CA(key_type="rsa")
    with TLSServer.legacy(root.issue_cert("localhost")) as server:
        ctx = client(root)
        ctx.set_ciphers("AES256-SHA:@SECLEVEL=0")
        with connect(server, ctx) as tls:
            assert tls.version() == "TLSv1.2"
            assert (tls.cipher() or ("",))[0] == "AES256-SHA"
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1
        with connect(server, ctx) as tls:
            assert tls.version() == "TLSv1"
        tls13 = client(root)
        tls13.minimum_version = ssl.TLSVersion.TLSv1_3
        with pytest.raises(ssl.SSLError):
            echo(server, tls13)


def test_legacy_server_needs_rsa(pki: PKI, tls_server: TLSFactory) -> None:
    """AES256-SHA is RSA key transport, so an ECDSA leaf is refused up front."""
    with pytest.raises(ValueError, match="RSA"):
        TLSServer.legacy(pki.leaf)
    with pytest.raises(ValueError, match="RSA"):
        tls_server(legacy=True)


# -- client certificates ----------------------------------------------------------------------


def test_required_client_cert(pki: PKI, pki_files: PKIFiles, tls_server: TLSFactory) -> None:
    """With require_client_cert the server records the client cert and rejects its absence."""
    server = tls_server(require_client_cert=pki.root)
    ctx = client(pki.root)
    assert pki_files.client.combined_file is not None
    ctx.load_cert_chain(str(pki_files.client.combined_file))
    assert echo(server, ctx) == b"ping"
    assert server.wait_handled(1)
    assert server.peer_certs == [pki.client.certificate]
    # In TLS 1.3 the client finishes first; the server's alert arrives on the first read.
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        echo(server, client(pki.root))
    assert server.wait_handled(2)
    assert any("PEER_DID_NOT_RETURN_A_CERTIFICATE" in str(e) for e in server.errors)


def test_client_cert_from_other_ca_is_rejected(
    pki: PKI, tls_server: TLSFactory, tmp_path: Path
) -> None:
    """A client certificate from an untrusted CA fails on the server side."""
    server = tls_server(require_client_cert=pki.intermediate)
    stranger = CA().issue_cert("client.example.test", client=True, server=False)
    files = stranger.write(tmp_path)
    assert files.combined_file is not None
    ctx = client(pki.root)
    ctx.load_cert_chain(str(files.combined_file))
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        echo(server, ctx)
    assert server.wait_handled(1)
    assert any("certificate verify failed" in str(e) for e in server.errors)


def test_optional_client_cert(pki: PKI, tls_server: TLSFactory) -> None:
    """With optional_client_cert a client without a certificate still connects."""
    server = tls_server(optional_client_cert=pki.root)
    assert echo(server, client(pki.root)) == b"ping"
    assert server.wait_handled(1)
    assert server.peer_certs == []
    assert server.errors == []
    with pytest.raises(ValueError, match="not both"):
        TLSServer(cert=pki.leaf, require_client_cert=pki.root, optional_client_cert=pki.root)


# -- lifecycle ----------------------------------------------------------------------------------


def test_lifecycle_is_idempotent_and_leaks_no_threads(pki: PKI) -> None:
    """start/stop are idempotent, stop unblocks idle clients, and thread count returns to base."""
    baseline = threading.active_count()
    server = TLSServer(cert=pki.leaf)
    server.stop()  # stopping a server that never started is harmless
    assert server.start() is server.start()
    idle = connect(server, client(pki.root))  # handler thread blocks in recv
    assert threading.active_count() >= baseline + 1
    started = time.monotonic()
    server.stop()
    server.stop()
    assert time.monotonic() - started < 2
    assert threading.active_count() == baseline
    idle.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(server.address, timeout=1).close()
    with server:  # restartable, on a fresh ephemeral port
        assert echo(server, client(pki.root)) == b"ping"
    assert threading.active_count() == baseline


def test_handshake_failures_are_recorded_not_printed(
    pki: PKI, tls_server: TLSFactory, capfd: pytest.CaptureFixture[str]
) -> None:
    """A client that rejects the server cert leaves an error in the list and nothing on stderr."""
    server = tls_server()
    for _ in range(3):
        with pytest.raises(ssl.SSLCertVerificationError):
            echo(server, client(CA()))
    assert server.wait_handled(3)
    assert len(server.errors) == 3
    assert all("unknown ca" in str(e).lower() for e in server.errors)
    assert capfd.readouterr().err == ""


# -- raw servers ----------------------------------------------------------------------------------


def test_raw_server_http_reply(pki: PKI, raw_server: RawFactory) -> None:
    """A TLS client talking to an HTTP server gets an SSL error, and the server saw a hello."""
    seen: List[bytes] = []

    def http(conn: socket.socket) -> None:
        seen.append(conn.recv(65536))
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    server = raw_server(http)
    with pytest.raises(ssl.SSLError):
        echo(server, client(pki.root))
    assert server.wait_handled(1)
    assert seen
    assert seen[0][:1] == b"\x16"


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        # Closing with the ClientHello unread may send RST instead of FIN (RFC 9293 §3.6.1);
        # Python 3.9's ssl reports a FIN during the handshake as SSLZeroReturnError.
        (close_immediately, (ssl.SSLEOFError, ssl.SSLZeroReturnError, ConnectionResetError)),
        (respond_with(b"\x00" * 7), ssl.SSLError),
    ],
)
def test_raw_server_abrupt_peers(
    pki: PKI,
    raw_server: RawFactory,
    handler: Callable[[socket.socket], None],
    expected: Union[Type[BaseException], Tuple[Type[BaseException], ...]],
) -> None:
    """Peers that hang up or send garbage make the client's handshake fail."""
    server = raw_server(handler)
    with pytest.raises(expected):
        echo(server, client(pki.root))
    assert server.wait_handled(1)
    assert server.errors == []


def test_raw_server_stall_times_out_and_stops(pki: PKI) -> None:
    """A stalling peer makes a client time out, and stop() still returns promptly."""
    baseline = threading.active_count()
    with RawServer(stall) as server:
        raw = socket.create_connection(server.address, timeout=0.3)
        with pytest.raises(socket.timeout):
            client(pki.root).wrap_socket(raw, server_hostname="localhost")
        raw.close()
        waiting = socket.create_connection(server.address, timeout=5)
        started = time.monotonic()
    assert time.monotonic() - started < 2
    waiting.close()
    assert threading.active_count() == baseline


def test_raw_server_handler_errors_are_recorded(raw_server: RawFactory) -> None:
    """An exception raised by a handler lands in errors instead of killing the server."""

    def broken(conn: socket.socket) -> None:
        raise RuntimeError("boom")

    server = raw_server(broken)
    socket.create_connection(server.address, timeout=5).close()
    assert server.wait_handled(1)
    assert [str(e) for e in server.errors] == ["boom"]


def test_serve_helper(pki: PKI) -> None:
    """serve() yields a running server and stops it afterwards."""
    with serve(pki.leaf, mode="greeting") as server, connect(server, client(pki.root)) as tls:
        assert tls.recv(64) == server.greeting
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(server.address, timeout=1).close()


def test_wait_handled_times_out(tls_server: TLSFactory) -> None:
    """wait_handled returns False when not enough connections arrive."""
    server = tls_server()
    assert server.wait_handled(1, timeout=0.1) is False
