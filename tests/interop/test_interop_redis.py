"""redis-server built with TLS: a driver's round trip over RESP with an encrypted client key."""

from __future__ import annotations

import pytest

import tlsplug

from .conftest import KEY_PASSWORD, InteropPKI, Redis, handshake, options, outcome, recv_until

pytestmark = pytest.mark.interop

PING = b"*1\r\n$4\r\nPING\r\n"
"""PING as a RESP array of one bulk string, as drivers send it."""


def _ping(redis: Redis, opts: tlsplug.TLSOptions) -> bytes:
    """Send PING over TLS and return the reply line."""
    with handshake(redis.connect, opts) as tls:
        tls.sendall(PING)
        return recv_until(tls, b"\r\n")


def test_ping_with_encrypted_client_key(
    redis: Redis, backend_name: str, interop_pki: InteropPKI
) -> None:
    """PING answers +PONG with a client certificate whose key is encrypted."""
    opts = options(
        backend_name,
        interop_pki.ca_file,
        certificate_key_file=str(interop_pki.client_encrypted_files.combined_file),
        certificate_key_file_password=KEY_PASSWORD,
    )
    assert _ping(redis, opts) == b"+PONG\r\n"


def test_ping_with_connection_string(
    redis: Redis, backend_name: str, interop_pki: InteropPKI
) -> None:
    """The same round trip configured from a rediss:// connection string's tls* options."""
    key_file = interop_pki.client_encrypted_files.combined_file
    uri = (
        f"rediss://127.0.0.1:{redis.port}/0?tlsCAFile={interop_pki.ca_file}"
        f"&tlsCertificateKeyFile={key_file}&tlsBackend={backend_name}"
    )
    opts = tlsplug.TLSOptions.parse(uri, tlsCertificateKeyFilePassword=KEY_PASSWORD)
    assert _ping(redis, opts) == b"+PONG\r\n"


def test_no_client_certificate(redis: Redis, backend_name: str, interop_pki: InteropPKI) -> None:
    """Without a client certificate redis refuses the connection with a TLSError code."""
    opts = options(backend_name, interop_pki.ca_file)
    # TLS 1.3: the refusal comes after the client's handshake completed. The driver writes PING
    # first; redis's alert can then be lost to a TCP reset, leaving an unclean EOF.
    assert outcome(lambda: _ping(redis, opts)) in ("connection-closed", "handshake-failure")


def test_no_client_certificate_read_first(
    redis: Redis, backend_name: str, interop_pki: InteropPKI
) -> None:
    """Reading first, the client sees redis's certificate_required alert as handshake-failure."""
    opts = options(backend_name, interop_pki.ca_file)

    def read_first() -> None:
        with handshake(redis.connect, opts) as tls:
            tls.recv(64)

    assert outcome(read_first) == "handshake-failure"


def test_wrong_client_key_password(
    redis: Redis, backend_name: str, interop_pki: InteropPKI
) -> None:
    """A wrong tlsCertificateKeyFilePassword is bad-password, before any socket."""
    opts = options(
        backend_name,
        interop_pki.ca_file,
        certificate_key_file=str(interop_pki.client_encrypted_files.combined_file),
        certificate_key_file_password="not the password",
    )
    assert outcome(lambda: _ping(redis, opts)) == "bad-password"
