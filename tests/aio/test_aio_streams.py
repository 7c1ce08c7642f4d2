"""Stream behaviour of ``tlsplug.aio``: flow control, closing, cancellation, STARTTLS."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import ssl
import struct
from typing import Any, Callable, List

import pytest

import tlsplug
import tlsplug.aio
from tlsplug import TLSError
from tlsplug.testing._conformance_world import World
from tlsplug.testing.conformance import ConformanceHelpers
from tlsplug.testing.servers import Handler, RawServer, TLSServer, stall

Runner = Callable[..., Any]
TIMEOUT = 5.0
#: PostgreSQL's SSLRequest: length 8, code 80877103 (protocol docs, "SSL Session Encryption").
SSL_REQUEST = struct.pack("!II", 8, 80877103)


def starttls_handler(ctx: ssl.SSLContext, preamble: bytes, answer: bytes) -> Handler:
    """A server that reads ``preamble``, answers ``answer`` in plaintext, then echoes in TLS."""

    def handler(conn: socket.socket) -> None:
        got = b""
        while len(got) < len(preamble):
            chunk = conn.recv(len(preamble) - len(got))
            if not chunk:
                return
            got += chunk
        if got != preamble:
            conn.sendall(b"N")
            return
        conn.sendall(answer)
        with ctx.wrap_socket(conn, server_side=True) as tls:
            while True:
                data = tls.recv(65536)
                if not data:
                    return
                tls.sendall(data)

    return handler


class TestAioStreams(ConformanceHelpers):
    """Behaviour of the streams beyond the handshake, per installed backend."""

    @pytest.fixture
    def backend_name(self, backend_name: str) -> str:
        """The conftest's parametrized backend."""
        return backend_name

    @pytest.fixture
    def starttls_server(self, world: World) -> Any:
        """Factory of RawServers speaking a plaintext preamble, then TLS as world.leaf."""
        servers: List[RawServer] = []
        ctx = TLSServer(cert=world.leaf).context

        def start(preamble: bytes, answer: bytes) -> RawServer:
            server = RawServer(starttls_handler(ctx, preamble, answer), timeout=TIMEOUT)
            servers.append(server)
            return server.start()

        yield start
        for server in servers:
            server.stop()

    def test_extra_info(
        self, backend_name: str, world: World, serve: Any, aio_run: Runner
    ) -> None:
        """get_extra_info answers peercert, cipher, tlsplug/ssl_object, socket and peername."""
        server = serve(world.leaf)
        ctx = self.context(backend_name, ca_file=world.ca_file)

        async def main() -> None:
            _reader, writer = await tlsplug.aio.open_connection(
                *server.address, context=ctx, server_hostname="localhost", timeout=TIMEOUT)
            buf = writer.get_extra_info("tlsplug")
            assert isinstance(buf, tlsplug.TLSBuffer)
            assert writer.get_extra_info("ssl_object") is buf
            assert buf.version() == "TLSv1.3"
            assert writer.get_extra_info("cipher") == buf.cipher()
            assert writer.get_extra_info("peercert")["subjectAltName"]
            assert writer.get_extra_info("peername") == server.address
            assert isinstance(writer.get_extra_info("socket").fileno(), int)
            assert writer.get_extra_info("tlsplug_context") is ctx
            assert writer.get_extra_info("ocsp_status") == getattr(buf, "ocsp_status", None)
            assert writer.get_extra_info("no such key", 42) == 42
            assert not writer.can_write_eof()
            with pytest.raises(NotImplementedError):
                writer.write_eof()
            writer.close()
            assert writer.is_closing()
            writer.write(b"dropped after close")  # ignored, as asyncio's transports do
            await writer.wait_closed()

        aio_run(main())

    def test_bulk_echo_with_flow_control(
        self, backend_name: str, world: World, serve: Any, aio_run: Runner
    ) -> None:
        """8 MiB echo through a 16 KiB-limit reader pauses the socket and loses nothing."""
        server = serve(world.leaf)
        ctx = self.context(backend_name, ca_file=world.ca_file)
        total, chunk = 8 * 1024 * 1024, 64 * 1024
        block = bytes(range(256)) * (chunk // 256)

        async def main() -> None:
            reader, writer = await tlsplug.aio.open_connection(
                *server.address, context=ctx, server_hostname="localhost", timeout=TIMEOUT,
                limit=16 * 1024)
            sent = hashlib.sha256()

            async def send() -> None:
                for i in range(total // chunk):
                    piece = block[i % 256:] + block[: i % 256]
                    sent.update(piece)
                    writer.write(piece)
                    await writer.drain()

            sender = asyncio.ensure_future(send())
            transport = writer.transport
            assert isinstance(transport, asyncio.Transport)
            # Nobody reads: once the reader's buffer passes its limit the transport must pause.
            # Polled with a generous bound, not a fixed sleep, so a loaded machine cannot
            # turn slow progress into a failure.
            deadline = asyncio.get_running_loop().time() + 20.0
            while transport.is_reading():
                assert asyncio.get_running_loop().time() < deadline, "reading never paused"
                await asyncio.sleep(0.01)
            got, received = 0, hashlib.sha256()
            while got < total:
                data = await reader.read(1 << 20)
                assert data
                received.update(data)
                got += len(data)
            await sender
            assert received.digest() == sent.digest()
            writer.close()
            await writer.wait_closed()

        aio_run(main())

    def test_close_sends_close_notify(
        self, backend_name: str, world: World, serve: Any, aio_run: Runner
    ) -> None:
        """writer.close() ends the server's echo loop (it sees close_notify or EOF)."""
        server = serve(world.leaf)
        ctx = self.context(backend_name, ca_file=world.ca_file)

        async def main() -> None:
            reader, writer = await tlsplug.aio.open_connection(
                *server.address, context=ctx, server_hostname="localhost", timeout=TIMEOUT)
            writer.write(b"ping")
            assert await reader.readexactly(4) == b"ping"
            writer.close()
            await writer.wait_closed()

        aio_run(main())
        assert server.wait_handled(1, timeout=5.0)
        assert server.errors == []

    def test_eof_after_server_close(
        self, backend_name: str, world: World, serve: Any, aio_run: Runner
    ) -> None:
        """The reader sees the greeting, then b"" once the server drops the connection."""
        server = serve(world.leaf, mode="greeting", greeting=b"bye\n")
        ctx = self.context(backend_name, ca_file=world.ca_file)

        async def main() -> None:
            reader, writer = await tlsplug.aio.open_connection(
                *server.address, context=ctx, server_hostname="localhost", timeout=TIMEOUT)
            assert await reader.readline() == b"bye\n"
            await asyncio.get_running_loop().run_in_executor(None, server.stop)
            assert await reader.read() == b""
            assert reader.at_eof()
            writer.close()
            await writer.wait_closed()

        aio_run(main())

    def test_many_connections_one_context(
        self, backend_name: str, world: World, serve: Any, aio_run: Runner
    ) -> None:
        """One context serves 64 concurrent connections on one loop, each echoing its bytes."""
        server = serve(world.leaf)
        ctx = self.context(backend_name, ca_file=world.ca_file)

        async def one(i: int) -> bytes:
            reader, writer = await tlsplug.aio.open_connection(
                *server.address, context=ctx, server_hostname="localhost", timeout=TIMEOUT * 4)
            payload = f"connection {i}".encode()
            writer.write(payload)
            data = await reader.readexactly(len(payload))
            writer.close()
            await writer.wait_closed()
            return data

        async def main() -> List[bytes]:
            return list(await asyncio.gather(*(one(i) for i in range(64))))

        assert aio_run(main()) == [f"connection {i}".encode() for i in range(64)]

    def test_cancel_mid_handshake(
        self, backend_name: str, world: World, raw: Any, aio_run: Runner
    ) -> None:
        """Cancelling open_connection mid-handshake closes the socket before it returns."""
        server = raw(stall)
        ctx = self.context(backend_name, ca_file=world.ca_file)

        async def main() -> None:
            task = asyncio.ensure_future(tlsplug.aio.open_connection(
                *server.address, context=ctx, server_hostname="localhost", timeout=TIMEOUT))
            await asyncio.sleep(0.2)
            assert not task.done()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        aio_run(main())
        assert server.wait_handled(1, timeout=5.0), "the server still sees the connection"

    @pytest.mark.parametrize(
        ("preamble", "answer"),
        [(SSL_REQUEST, b"S"), (b"STARTTLS\r\n", b"220 go ahead\r\n")],
        ids=["postgres", "smtp"],
    )
    def test_start_tls(
        self, backend_name: str, world: World, starttls_server: Any, aio_run: Runner,
        preamble: bytes, answer: bytes,
    ) -> None:
        """A plaintext preamble, then start_tls upgrades the same streams to verified TLS."""
        server = starttls_server(preamble, answer)
        ctx = self.context(backend_name, ca_file=world.ca_file)

        async def main() -> None:
            reader, writer = await asyncio.open_connection(*server.address)
            writer.write(preamble)
            await writer.drain()
            assert await reader.readexactly(len(answer)) == answer
            plain_transport = writer.transport
            r2, w2 = await tlsplug.aio.start_tls(
                reader, writer, context=ctx, server_hostname="localhost", timeout=TIMEOUT)
            assert (r2, w2) == (reader, writer)
            assert writer.transport is not plain_transport
            assert writer.get_extra_info("tlsplug").version() == "TLSv1.3"
            for size in (5, 300_000):
                payload = b"x" * size
                writer.write(payload)
                await writer.drain()
                assert await reader.readexactly(size) == payload
            writer.close()
            await writer.wait_closed()
            assert plain_transport.is_closing()

        aio_run(main())
        assert server.errors == []

    def test_start_tls_refused(
        self, backend_name: str, world: World, starttls_server: Any, aio_run: Runner
    ) -> None:
        """An upgrade to a certificate for another host fails by code and closes the stream."""
        server = starttls_server(SSL_REQUEST, b"S")
        ctx = self.context(backend_name, ca_file=world.ca_file)

        async def main() -> None:
            reader, writer = await asyncio.open_connection(*server.address)
            writer.write(SSL_REQUEST)
            assert await reader.readexactly(1) == b"S"
            with pytest.raises(TLSError) as info:
                await tlsplug.aio.start_tls(
                    reader, writer, context=ctx, server_hostname="wrong.example",
                    timeout=TIMEOUT)
            assert info.value.code == "hostname-mismatch"
            assert writer.is_closing()
            with pytest.raises(TLSError):
                await writer.wait_closed()  # the stream reports why it closed

        aio_run(main())

    def test_start_tls_timeout(
        self, backend_name: str, world: World, raw: Any, aio_run: Runner
    ) -> None:
        """An upgrade whose server never answers the ClientHello ends in timeout, closed."""
        server = raw(stall)
        ctx = self.context(backend_name, ca_file=world.ca_file)

        async def main() -> None:
            reader, writer = await asyncio.open_connection(*server.address)
            with pytest.raises(TLSError) as info:
                await tlsplug.aio.start_tls(
                    reader, writer, context=ctx, server_hostname="localhost", timeout=0.3)
            assert info.value.code == "timeout"
            assert writer.is_closing()

        aio_run(main())
        assert server.wait_handled(1, timeout=5.0)
