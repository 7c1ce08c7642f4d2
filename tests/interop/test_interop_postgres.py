"""PostgreSQL with ssl=on: the SSLRequest upgrade of a plain socket done through tlsplug."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from typing import Callable, List, Optional, Tuple, TypeVar

import pytest

import tlsplug
from tlsplug.backend import WantReadError

from .conftest import TIMEOUT, InteropPKI, Postgres, options, outcome

pytestmark = pytest.mark.interop

SSL_REQUEST = struct.pack("!ii", 8, 80877103)
"""SSLRequest: length 8, then the magic code 1234.5679."""
PROTOCOL_3_0 = 196608
_R = TypeVar("_R")


def _recv_exactly(sock: tlsplug.TLSSocket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise EOFError(f"EOF after {len(data)} of {count} bytes")
        data += chunk
    return data


def _read_message(sock: tlsplug.TLSSocket) -> Tuple[bytes, bytes]:
    """One backend message: (type byte, body)."""
    header = _recv_exactly(sock, 5)
    length = struct.unpack("!i", header[1:])[0]
    return header[:1], _recv_exactly(sock, length - 4)


def _startup(user: str) -> bytes:
    params = b"".join(k + b"\0" + v + b"\0" for k, v in
                      ((b"user", user.encode()), (b"database", b"postgres")))
    body = struct.pack("!i", PROTOCOL_3_0) + params + b"\0"
    return struct.pack("!i", len(body) + 4) + body


def _ssl_request(pg: Postgres) -> socket.socket:
    """Connect, send SSLRequest and return the plain socket once the server answered 'S'."""
    sock = pg.connect()
    try:
        sock.settimeout(TIMEOUT)
        sock.sendall(SSL_REQUEST)
        answer = sock.recv(1)
        assert answer == b"S", f"server refused SSL: {answer!r}"
    except BaseException:
        sock.close()
        raise
    return sock


def _upgrade(
    pg: Postgres, opts: tlsplug.TLSOptions, server_hostname: Optional[str] = "localhost"
) -> tlsplug.TLSSocket:
    """SSLRequest, then the TLS handshake over the same socket."""
    sock = _ssl_request(pg)
    try:
        return tlsplug.create_context(opts).wrap_socket(sock, server_hostname=server_hostname)
    except BaseException:
        sock.close()
        raise


def _query_rows(tls: tlsplug.TLSSocket, sql: str) -> List[List[Optional[bytes]]]:
    """Run a simple query and return its data rows."""
    payload = sql.encode() + b"\0"
    tls.sendall(b"Q" + struct.pack("!i", len(payload) + 4) + payload)
    rows: List[List[Optional[bytes]]] = []
    while True:
        kind, body = _read_message(tls)
        assert kind != b"E", body
        if kind == b"D":
            count, offset, row = struct.unpack("!h", body[:2])[0], 2, []
            for _ in range(count):
                size = struct.unpack("!i", body[offset:offset + 4])[0]
                offset += 4
                row.append(None if size < 0 else body[offset:offset + size])
                offset += max(size, 0)
            rows.append(row)
        if kind == b"Z":
            return rows


def test_sslrequest_upgrade_and_startup(
    postgres: Postgres, backend_name: str, interop_pki: InteropPKI
) -> None:
    """After 'S' the same socket is upgraded; the server answers 'R' and sees TLS."""
    with _upgrade(postgres, options(backend_name, interop_pki.ca_file)) as tls:
        assert tls.version() == "TLSv1.3"
        tls.sendall(_startup(postgres.user))
        kind, body = _read_message(tls)
        assert kind == b"R", (kind, body)
        assert struct.unpack("!i", body[:4])[0] == 0  # AuthenticationOk (trust on loopback)
        while kind != b"Z":  # ParameterStatus..., BackendKeyData, ReadyForQuery
            kind, body = _read_message(tls)
            assert kind != b"E", body
        rows = _query_rows(tls, "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        assert rows == [[b"t", b"TLSv1.3"]]
        tls.sendall(b"X" + struct.pack("!i", 4))  # Terminate


def test_wrong_hostname(postgres: Postgres, backend_name: str, interop_pki: InteropPKI) -> None:
    """A name absent from PostgreSQL's certificate fails the upgrade with hostname-mismatch."""
    opts = options(backend_name, interop_pki.ca_file)
    result = outcome(lambda: _upgrade(postgres, opts, "wrong.tlsplug.test").close())
    assert result == "hostname-mismatch"


def test_untrusted(postgres: Postgres, backend_name: str, interop_pki: InteropPKI) -> None:
    """Trusting only an unrelated root fails the upgrade with cert-untrusted."""
    opts = options(backend_name, interop_pki.other_ca_file)
    assert outcome(lambda: _upgrade(postgres, opts).close()) == "cert-untrusted"


async def _pump(
    buf: tlsplug.TLSBuffer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Send what ``buf`` has queued; then feed it one chunk from the network."""
    outgoing = buf.pull_outgoing()
    if outgoing:
        writer.write(outgoing)
        await writer.drain()
    data = await reader.read(65536)
    if data:
        buf.receive_from_network(data)
    else:
        buf.receive_eof()


async def _buffer_call(
    buf: tlsplug.TLSBuffer,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    operation: Callable[[], _R],
) -> _R:
    """Run a sans-IO operation, moving bytes over the asyncio streams until it completes."""
    while True:
        try:
            result = operation()
        except WantReadError:
            await _pump(buf, reader, writer)
            continue
        outgoing = buf.pull_outgoing()
        if outgoing:
            writer.write(outgoing)
            await writer.drain()
        return result


async def _asyncio_startup(pg: Postgres, opts: tlsplug.TLSOptions) -> Tuple[str, bytes, bytes]:
    """SSLRequest over asyncio streams, then TLS via ``wrap_buffers``; return the first reply."""
    reader, writer = await asyncio.open_connection("127.0.0.1", pg.port)
    try:
        writer.write(SSL_REQUEST)
        await writer.drain()
        assert await reader.readexactly(1) == b"S"
        buf = tlsplug.create_context(opts).wrap_buffers(server_hostname="localhost")
        await _buffer_call(buf, reader, writer, buf.do_handshake)
        await _buffer_call(buf, reader, writer, lambda: buf.write(_startup(pg.user)))
        received = b""
        while len(received) < 9:  # type byte, length, auth code
            received += await _buffer_call(buf, reader, writer, lambda: buf.read(65536))
        version = buf.version()
        assert version is not None
        return version, received[:1], received[5:9]
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def test_asyncio_sslrequest_upgrade_with_sans_io(
    postgres: Postgres, backend_name: str, interop_pki: InteropPKI
) -> None:
    """The SSLRequest upgrade under asyncio through wrap_buffers (sans-IO) gets the 'R' reply."""
    opts = options(backend_name, interop_pki.ca_file)
    version, kind, code = asyncio.run(
        asyncio.wait_for(_asyncio_startup(postgres, opts), TIMEOUT)
    )
    assert (version, kind, code) == ("TLSv1.3", b"R", struct.pack("!i", 0))


def test_asyncio_untrusted(postgres: Postgres, backend_name: str, interop_pki: InteropPKI) -> None:
    """Under asyncio an untrusted PostgreSQL certificate fails the upgrade with cert-untrusted."""
    opts = options(backend_name, interop_pki.other_ca_file)
    result = outcome(
        lambda: asyncio.run(asyncio.wait_for(_asyncio_startup(postgres, opts), TIMEOUT))
    )
    assert result == "cert-untrusted"
