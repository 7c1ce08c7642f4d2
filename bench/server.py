"""The benchmark's TLS server: Python's ``ssl``, in its own process, one thread per connection.

Two listeners: one capped at TLS 1.2, one at TLS 1.3 (each with its own server context, so
session tickets and the session cache work as a real server's do). After the handshake the
client sends one command byte:

- ``P\n``: ping, the server answers ``P`` (then waits for EOF), as ``openssl s_server
  -rev`` does (see ``bench.openssl_server``);
- ``U`` + u64 total: the client uploads ``total`` bytes, the server answers ``K``;
- ``D`` + u64 total + u32 chunk: the server sends ``total`` bytes in ``chunk``-sized writes;
- nothing (EOF): a handshake-only client such as ``openssl s_time``.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
import threading
from typing import Any, Dict

_READ = 256 * 1024
#: (request, end of the answer) of the clients' ping against this server.
PING = (b"P\n", b"P")


def _recv_exact(tls: ssl.SSLSocket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = tls.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def _handle(tls: ssl.SSLSocket) -> None:
    cmd = tls.recv(1)
    if cmd == b"P":
        _recv_exact(tls, 1)  # the newline
        tls.sendall(b"P")
    elif cmd == b"U":
        (total,) = struct.unpack("!Q", _recv_exact(tls, 8))
        buf = bytearray(_READ)
        got = 0
        while got < total:
            n = tls.recv_into(buf, min(_READ, total - got))
            if not n:
                return
            got += n
        tls.sendall(b"K")
    elif cmd == b"D":
        total, chunk = struct.unpack("!QI", _recv_exact(tls, 12))
        block = memoryview(bytes(chunk))
        sent = 0
        while sent < total:
            piece = block[: min(chunk, total - sent)]
            tls.sendall(piece)
            sent += len(piece)
    else:
        return
    # Wait for the client's close so the connection ends in the client's order.
    with contextlib.suppress(OSError, ssl.SSLError):
        tls.recv(1)


def _serve_one(ctx: ssl.SSLContext, conn: socket.socket) -> None:
    with contextlib.suppress(OSError, ssl.SSLError, EOFError):
        conn.settimeout(60)
        with ctx.wrap_socket(conn, server_side=True) as tls:
            _handle(tls)
    conn.close()


def _accept_loop(ctx: ssl.SSLContext, listener: socket.socket) -> None:
    while True:
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=_serve_one, args=(ctx, conn), daemon=True).start()


def serve(cert_file: str, key_file: str, ports: Any, stop: Any) -> None:
    """Process entry point: listen on loopback, put {"tls12": port, "tls13": port} in ``ports``."""
    found: Dict[str, int] = {}
    for name, version in (("tls12", ssl.TLSVersion.TLSv1_2), ("tls13", ssl.TLSVersion.TLSv1_3)):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert_file, key_file)
        ctx.minimum_version = version
        ctx.maximum_version = version
        listener = socket.create_server(("127.0.0.1", 0), backlog=512)
        found[name] = listener.getsockname()[1]
        threading.Thread(target=_accept_loop, args=(ctx, listener), daemon=True).start()
    ports.put(found)
    stop.wait()
