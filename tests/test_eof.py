"""How the stream ended: close_notify, a close without it, a reset (docs/design.md, EOF)."""

from __future__ import annotations

import asyncio
import pathlib
import socket
import ssl
import struct
import tempfile
import threading
from typing import Optional, Tuple

import pytest

import tlsplug
import tlsplug.aio
from tlsplug import TLSOptions
from tlsplug.testing import CA

BEHAVIOURS = {"close_notify": True, "tcp-close": False, "reset": False}


class _EndingServer:
    """Sends b"hello", waits for b"go", then ends the connection as ``behaviour`` says."""

    def __init__(self, behaviour: str, ca: CA) -> None:
        leaf = ca.issue_cert("localhost")
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with tempfile.TemporaryDirectory() as tmp:
            files = leaf.write(tmp, combined=False)
            self.context.load_cert_chain(str(files.cert_file), str(files.key_file))
        self.behaviour = behaviour
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.thread = threading.Thread(target=self._run, daemon=True)

    @property
    def port(self) -> int:
        return int(self.listener.getsockname()[1])

    def _run(self) -> None:
        conn, _ = self.listener.accept()
        conn.settimeout(10)
        try:
            tls = self.context.wrap_socket(conn, server_side=True)
            tls.sendall(b"hello")
            tls.recv(2)
            if self.behaviour == "close_notify":
                try:
                    tls.unwrap().close()  # close_notify; the client answers when it closes
                except (OSError, ssl.SSLError):
                    tls.close()
            elif self.behaviour == "reset":
                tls.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                tls.close()
            else:
                tls.close()  # ssl's close() sends no close_notify
        except OSError:
            conn.close()

    def __enter__(self) -> _EndingServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.thread.join(10)
        self.listener.close()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Tuple[CA, str]:
    """A root and its certificate's file."""
    ca = CA()
    path: pathlib.Path = tmp_path_factory.mktemp("eof") / "ca.pem"
    path.write_bytes(ca.cert_pem)
    return ca, str(path)


@pytest.fixture(params=sorted(BEHAVIOURS))
def behaviour(request: pytest.FixtureRequest) -> str:
    """Each way of ending."""
    return str(request.param)


@pytest.mark.parametrize("api", ["recv", "recv_into"])
def test_blocking_eof_reads_empty_and_says_how(backend_name: str, pki: Tuple[CA, str],
                                               behaviour: str, api: str) -> None:
    """Every ending reads as b"" (0); eof_was_clean tells close_notify from the others."""
    ca, ca_file = pki
    ctx = tlsplug.create_context(TLSOptions(enabled=True, ca_file=ca_file, backend=backend_name))
    with _EndingServer(behaviour, ca) as server:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        tls = ctx.wrap_socket(sock, server_hostname="localhost")
        try:
            assert getattr(tls, "eof_was_clean") is None  # noqa: B009 - not in TLSSocket
            got = b""
            while len(got) < 5:
                got += tls.recv(5 - len(got))
            assert got == b"hello"
            tls.sendall(b"go")
            if api == "recv":
                assert tls.recv(100) == b""
            else:
                assert tls.recv_into(bytearray(100)) == 0
            assert getattr(tls, "eof_was_clean") is BEHAVIOURS[behaviour]  # noqa: B009
        finally:
            tls.close()
            sock.close()


def test_aio_eof_reads_empty_and_says_how(backend_name: str, pki: Tuple[CA, str],
                                          behaviour: str) -> None:
    """tlsplug.aio ends the stream the same way, a reset included (no exception)."""
    ca, ca_file = pki
    opts = TLSOptions(enabled=True, ca_file=ca_file, backend=backend_name)

    async def main(port: int) -> Tuple[bytes, Optional[bool]]:
        reader, writer = await tlsplug.aio.open_connection(
            "127.0.0.1", port, opts, server_hostname="localhost")
        first = await reader.readexactly(5)
        writer.write(b"go")
        await writer.drain()
        rest = await reader.read()
        clean = writer.get_extra_info("eof_was_clean")
        writer.close()
        return first + rest, clean

    with _EndingServer(behaviour, ca) as server:
        data, clean = asyncio.run(main(server.port))
    assert data == b"hello"
    assert clean is BEHAVIOURS[behaviour]
