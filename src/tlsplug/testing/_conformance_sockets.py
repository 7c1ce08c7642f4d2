"""The socket-compatibility section of the conformance suite: ``ssl.SSLSocket`` as drivers use it.

Drivers written for ``ssl`` (pg8000, PyMySQL-style clients, websocket clients) take what
``wrap_socket`` returns and call ``makefile``, ``setblocking``, ``pending``, ``shutdown``,
``family``... on it. Every test here runs a real handshake against a loopback
:class:`~tlsplug.testing.servers.TLSServer` and checks the behaviour ``ssl.SSLSocket`` has.
"""

from __future__ import annotations

import io
import selectors
import socket
import ssl
from typing import Any, Callable, Tuple

import pytest

from tlsplug.backend import TLSError

from ._conformance_support import TIMEOUT, ConformanceHelpers, check_error
from ._conformance_world import World
from .servers import respond_with

__all__ = ["SocketConformance"]

GREETING = b"hello from tlsplug\n"


class SocketConformance(ConformanceHelpers):
    """Tests of the ``ssl.SSLSocket`` surface of ``wrap_socket``'s result (no fixtures)."""

    # -- makefile ---------------------------------------------------------------------

    def test_makefile_rwb_line_protocol(self, backend_name: str, world: World, serve: Any) -> None:
        """makefile("rwb") reads the server's greeting and echoed lines with readline."""
        server = serve(world.leaf, mode="greeting", greeting=GREETING)
        ctx = self.context(backend_name, ca_file=world.ca_file)
        with self._open(ctx, server.address, "localhost") as tls, tls.makefile("rwb") as f:
            assert isinstance(f, io.BufferedRWPair)
            assert f.readline() == GREETING
            f.write(b"SELECT 1;\nSELECT 2;\n")
            f.flush()
            assert f.readline() == b"SELECT 1;\n"
            assert f.readline() == b"SELECT 2;\n"

    def test_makefile_text_and_one_way_modes(
        self, backend_name: str, world: World, serve: Any
    ) -> None:
        """"wb" and "rb" files, and "w"/"r" text files with an encoding, share the stream."""
        ctx = self.context(backend_name, ca_file=world.ca_file)
        with self._open(ctx, serve(world.leaf).address, "localhost") as tls:
            writer = tls.makefile("wb")
            reader = tls.makefile("rb")
            assert isinstance(writer, io.BufferedWriter)
            assert isinstance(reader, io.BufferedReader)
            writer.write(b"binary line\n")
            writer.flush()
            assert reader.readline() == b"binary line\n"
            text_out = tls.makefile("w", encoding="utf-8", newline="\n")
            text_in = tls.makefile("r", encoding="utf-8", newline="\n")
            assert text_out.mode == "w"
            assert text_in.mode == "r"
            text_out.write("grüße ✓\n")
            text_out.flush()
            assert text_in.readline() == "grüße ✓\n"
            for f in (writer, reader, text_out, text_in):
                f.close()

    def test_makefile_unbuffered_is_raw(self, backend_name: str, world: World, serve: Any) -> None:
        """buffering=0 gives a raw binary file: write returns a count, readinto fills a buffer."""
        ctx = self.context(backend_name, ca_file=world.ca_file)
        with self._open(ctx, serve(world.leaf).address, "localhost") as tls:
            raw = tls.makefile("rwb", buffering=0)
            assert raw.mode == "rwb"
            assert isinstance(raw, io.RawIOBase)
            assert raw.readable()
            assert raw.writable()
            assert not raw.seekable()
            assert raw.fileno() == tls.fileno()
            assert raw.write(b"raw bytes") == 9
            got = bytearray(9)
            filled = 0
            while filled < 9:
                n = raw.readinto(memoryview(got)[filled:])
                assert n, "unexpected end of stream"
                filled += n
            assert bytes(got) == b"raw bytes"
            raw.close()
            assert raw.closed
            with pytest.raises(ValueError, match="closed file"):
                raw.write(b"x")

    def test_makefile_bad_modes(self, backend_name: str, world: World, serve: Any) -> None:
        """An unknown mode and unbuffered text are ValueError and leave no open reference."""
        ctx = self.context(backend_name, ca_file=world.ca_file)
        tls = self._open(ctx, serve(world.leaf).address, "localhost")
        with pytest.raises(ValueError, match="invalid mode"):
            tls.makefile("rx")
        with pytest.raises(ValueError, match="must be binary"):
            tls.makefile("r", buffering=0)
        tls.close()
        assert tls.fileno() == -1  # closed at once: no makefile() object is open

    def test_close_waits_for_open_files(self, backend_name: str, world: World, serve: Any) -> None:
        """close() with a makefile() object open takes effect when the last file is closed."""
        ctx = self.context(backend_name, ca_file=world.ca_file)
        tls = self._open(ctx, serve(world.leaf).address, "localhost")
        first = tls.makefile("rwb")
        second = tls.makefile("rb")
        tls.close()  # as pg8000 and socket.socket users do: files still in use
        assert tls.fileno() != -1
        first.write(b"still open\n")
        first.flush()
        assert first.readline() == b"still open\n"
        first.close()
        assert tls.fileno() != -1  # one file left
        second.close()
        assert tls.fileno() == -1
        tls.close()  # idempotent

    def test_makefile_read_timeout(self, backend_name: str, world: World, serve: Any) -> None:
        """A read through makefile() that times out raises the timeout error, and the file
        refuses later reads (socket.SocketIO's rule: the buffer may hold half a message)."""
        ctx = self.context(backend_name, ca_file=world.ca_file)
        with self._open(ctx, serve(world.leaf).address, "localhost") as tls:
            tls.settimeout(0.2)
            with tls.makefile("rb") as f:
                with pytest.raises(TLSError) as info:
                    f.read(1)  # the echo server sends nothing unasked
                check_error(info.value, "timeout", backend_name)
                with pytest.raises(OSError, match="timed out object"):
                    f.read(1)

    # -- non-blocking mode ------------------------------------------------------------

    def test_nonblocking_want_read(self, backend_name: str, world: World, serve: Any) -> None:
        """Non-blocking recv with nothing to read raises exactly ssl.SSLWantReadError;
        blocking mode comes back with setblocking(True) or settimeout."""
        ctx = self.context(backend_name, ca_file=world.ca_file)
        with self._open(ctx, serve(world.leaf).address, "localhost") as tls:
            assert tls.getblocking()
            tls.setblocking(False)
            assert tls.gettimeout() == 0.0
            assert not tls.getblocking()
            reads: Tuple[Callable[[], object], ...] = (
                lambda: tls.recv(10),
                lambda: tls.recv_into(bytearray(10)),
            )
            for read in reads:
                with pytest.raises(ssl.SSLWantReadError) as info:
                    read()
                # Exactly ssl's class: redis-py looks it up by type(exc) (see _sockcompat.py).
                assert type(info.value) is ssl.SSLWantReadError
                assert info.value.errno == ssl.SSL_ERROR_WANT_READ
                assert not isinstance(info.value, TLSError)
            tls.setblocking(True)
            assert tls.gettimeout() is None
            tls.settimeout(TIMEOUT)
            tls.sendall(b"blocking again")
            assert self._read_exactly(tls, 14) == b"blocking again"

    def test_nonblocking_selectors_echo(self, backend_name: str, world: World, serve: Any) -> None:
        """A selectors loop moves 512 KiB through the echo server in non-blocking mode,
        retrying on SSLWantWriteError/SSLWantReadError and draining pending() bytes."""
        ctx = self.context(backend_name, ca_file=world.ca_file)
        payload = bytes(range(256)) * 2048
        with self._open(ctx, serve(world.leaf).address, "localhost") as tls:
            tls.setblocking(False)
            sent = 0
            received = bytearray()
            wants_write = 0
            with selectors.DefaultSelector() as sel:
                sel.register(tls, selectors.EVENT_READ | selectors.EVENT_WRITE)
                while len(received) < len(payload):
                    events = sel.select(TIMEOUT)
                    assert events, f"stalled at {sent} sent, {len(received)} received"
                    mask = events[0][1]
                    if mask & selectors.EVENT_WRITE and sent < len(payload):
                        try:
                            # After a want, the same bytes again (as SSL_write requires).
                            sent += tls.send(payload[sent : sent + 16384])
                        except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                            wants_write += 1
                        if sent == len(payload):
                            sel.modify(tls, selectors.EVENT_READ)
                    if mask & selectors.EVENT_READ:
                        while True:  # select cannot see decrypted bytes: read until want
                            try:
                                chunk = tls.recv(8192)
                            except ssl.SSLWantReadError:
                                assert tls.pending() == 0
                                break
                            assert chunk, "unexpected end of stream"
                            received += chunk
            assert bytes(received) == payload

    # -- the rest of the surface ------------------------------------------------------

    def test_pending_counts_decrypted_bytes(
        self, backend_name: str, world: World, serve: Any
    ) -> None:
        """After reading 10 bytes of a 1000-byte record, pending() is 990."""
        ctx = self.context(backend_name, ca_file=world.ca_file)
        with self._open(ctx, serve(world.leaf).address, "localhost") as tls:
            assert tls.pending() == 0
            tls.sendall(b"p" * 1000)  # one record there, echoed as one record back
            assert tls.recv(10) == b"p" * 10
            assert tls.pending() == 990
            assert self._read_exactly(tls, 990) == b"p" * 990
            assert tls.pending() == 0

    def test_shutdown_write_keeps_reading(
        self, backend_name: str, world: World, serve: Any
    ) -> None:
        """shutdown(SHUT_WR) half-closes TCP; the echo still arrives decrypted, then EOF."""
        ctx = self.context(backend_name, ca_file=world.ca_file)
        with self._open(ctx, serve(world.leaf).address, "localhost") as tls:
            tls.sendall(b"last words")
            tls.shutdown(socket.SHUT_WR)
            assert self._read_exactly(tls, 10) == b"last words"
            # The server then sees EOF without close_notify: OpenSSL 3 answers that with a
            # decode_error alert (a TLSError here), others just close (b"").
            try:
                rest = tls.recv(100)
            except TLSError as exc:
                rest = exc.backend.encode() if exc.backend else b"?"
            assert rest in (b"", backend_name.encode())

    def test_socket_attributes(self, backend_name: str, world: World, serve: Any) -> None:
        """family/type/proto, names, fileno, version, cipher, getpeercert (both forms) and
        selected_alpn_protocol (None: nothing offered) answer as ssl.SSLSocket does."""
        server = serve(world.leaf)
        ctx = self.context(backend_name, ca_file=world.ca_file)
        with socket.create_connection(server.address, timeout=TIMEOUT) as plain:
            expected = (plain.family, plain.type, plain.proto, plain.getsockname())
            fd = plain.fileno()  # ssl's wrap_socket detaches ``plain`` from its descriptor
            tls = ctx.wrap_socket(plain, server_hostname="localhost")
            with tls:
                got: Any = tls
                assert (got.family, got.type, got.proto, got.getsockname()) == expected
                assert got.family == socket.AF_INET
                assert got.type == socket.SOCK_STREAM
                assert got.getpeername() == server.address
                assert got.fileno() == fd
                assert got.version() == "TLSv1.3"
                _, protocol, bits = got.cipher()
                assert protocol == "TLSv1.3"
                assert bits >= 128
                assert got.getpeercert(binary_form=True) == world.leaf.cert_der
                assert ("DNS", "localhost") in got.getpeercert()["subjectAltName"]
                assert got.selected_alpn_protocol() is None
                assert got.write(b"spelled") == 7
                buf = bytearray(7)
                assert got.read(7, buf) == 7
                assert buf == b"spelled"
            assert tls.fileno() == -1  # the context manager closed it

    def test_refusals_are_ssl_errors(
        self, backend_name: str, world: World, serve: Any, raw: Any
    ) -> None:
        """A certificate refusal is an ssl.SSLCertVerificationError with verify_code and the
        same tlsplug code; a non-certificate failure is an ssl.SSLError and an OSError."""
        ctx = self.context(backend_name, ca_file=world.ca_file)
        with pytest.raises(ssl.SSLCertVerificationError) as cert_info:
            self._open(ctx, serve(world.untrusted).address, "localhost")
        err = check_error(cert_info.value, "cert-untrusted", backend_name)
        assert isinstance(err, (ssl.SSLError, OSError, ValueError))
        assert isinstance(cert_info.value.verify_code, int)
        assert cert_info.value.verify_message
        assert cert_info.value.reason == "CERTIFICATE_VERIFY_FAILED"
        assert err.__cause__ is not None
        http = raw(respond_with(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"))
        with pytest.raises(ssl.SSLError) as info:
            self._open(ctx, http.address, "localhost")
        assert not isinstance(info.value, ssl.SSLCertVerificationError)
        assert isinstance(info.value, OSError)
        check_error(info.value, "not-tls", backend_name)

    def _open(self, ctx: Any, address: Any, host: str) -> Any:
        """``open``, typed as what drivers see: the ``ssl.SSLSocket`` surface."""
        return self.open(ctx, address, host)

    def test_flags_refused_as_ssl(self, backend_name: str, world: World, serve: Any) -> None:
        """Non-zero flags are ValueError, as ssl.SSLSocket (drivers probe MSG_PEEK so)."""
        ctx = self.context(backend_name, ca_file=world.ca_file)
        with self._open(ctx, serve(world.leaf).address, "localhost") as tls:
            calls: Tuple[Callable[[], object], ...] = (
                lambda: tls.recv(1, socket.MSG_PEEK),
                lambda: tls.recv_into(bytearray(1), 1, socket.MSG_PEEK),
                lambda: tls.send(b"x", socket.MSG_OOB),
                lambda: tls.sendall(b"x", socket.MSG_OOB),
            )
            for call in calls:
                with pytest.raises(ValueError, match="non-zero flags"):
                    call()
            tls.sendall(b"flags 0", 0)
            assert self._read_exactly(tls, 7) == b"flags 0"

    @staticmethod
    def _read_exactly(tls: Any, count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = tls.recv(count - len(data))
            assert chunk, f"EOF after {len(data)} of {count} bytes"
            data += chunk
        return data
