"""Fixtures and helpers behind :class:`tlsplug.testing.conformance.BackendConformance`."""

from __future__ import annotations

import socket
import threading
import warnings
from typing import Any, Callable, ClassVar, Dict, FrozenSet, Iterator, List, Optional, Tuple

import pytest

import tlsplug
from tlsplug.backend import (
    CertificateError,
    ConfigurationError,
    Feature,
    HandshakeError,
    SecurityWarning,
    TLSBuffer,
    TLSError,
    TLSOptions,
    TLSSocket,
    WantReadError,
)

from ._conformance_world import World, build_world
from .servers import RawServer, TLSServer

__all__ = ["TIMEOUT", "ConformanceHelpers", "check_error"]

#: Socket timeout of every connection the suite opens, in seconds.
TIMEOUT = 5.0

_WORLDS: Dict[int, World] = {}
_WORLD_LOCK = threading.Lock()
_CERTIFICATE_CODES = CertificateError.codes
_HANDSHAKE_CODES = HandshakeError.codes


def check_error(exc: BaseException, code: str, backend_name: str) -> TLSError:
    """Assert that ``exc`` is the tlsplug error of ``code`` raised by ``backend_name``."""
    assert isinstance(exc, TLSError), f"expected a TLSError [{code}], got {exc!r}"
    assert exc.code == code, f"expected [{code}], got [{exc.code}]: {exc}"
    expected: type = (
        CertificateError if code in _CERTIFICATE_CODES
        else HandshakeError if code in _HANDSHAKE_CODES
        else ConfigurationError
    )
    assert isinstance(exc, expected), f"{type(exc).__name__} is not a {expected.__name__}"
    assert exc.backend == backend_name, f"error.backend is {exc.backend!r}"
    return exc


class ConformanceHelpers:
    """Fixtures (PKI, servers, backend) and connection helpers; no tests."""

    #: The backend under test, as registered in the ``tlsplug.backends`` entry point group.
    backend: ClassVar[Optional[str]] = None

    # -- fixtures ---------------------------------------------------------------------

    @pytest.fixture
    def backend_name(self) -> str:
        """The backend under test: the class attribute ``backend``."""
        if not self.backend:
            pytest.fail(f"{type(self).__name__} must set `backend = '<name>'`")
        return self.backend

    @pytest.fixture
    def features(self, backend_name: str) -> FrozenSet[Feature]:
        """The features the backend declares."""
        return frozenset(tlsplug.get_backend(backend_name).features)

    @pytest.fixture
    def world(self, tmp_path_factory: pytest.TempPathFactory) -> World:
        """Every certificate, key and CRL the suite uses, built once per test session."""
        # Cached by hand rather than with a wider fixture scope: class-scoped fixtures on
        # instance methods are deprecated in pytest 8, and classmethod fixtures fail on 7.
        key = id(tmp_path_factory)
        with _WORLD_LOCK:
            if key not in _WORLDS:
                _WORLDS.clear()
                _WORLDS[key] = build_world(tmp_path_factory.mktemp("tlsplug-conformance"))
            return _WORLDS[key]

    @pytest.fixture
    def serve(self) -> Iterator[Callable[..., TLSServer]]:
        """Factory starting a TLSServer (``legacy=True`` for the legacy one), stopped after."""
        servers: List[Any] = []

        def start(cert: Any, *, legacy: bool = False, **kwargs: Any) -> TLSServer:
            kwargs.setdefault("timeout", TIMEOUT)
            server = TLSServer.legacy(cert, **kwargs) if legacy else TLSServer(cert=cert, **kwargs)
            servers.append(server)
            return server.start()

        yield start
        for server in servers:
            server.stop()

    @pytest.fixture
    def raw(self) -> Iterator[Callable[..., RawServer]]:
        """Factory starting a plain-TCP RawServer running a handler, stopped after."""
        servers: List[RawServer] = []

        def start(handler: Callable[[socket.socket], None]) -> RawServer:
            server = RawServer(handler, timeout=TIMEOUT)
            servers.append(server)
            return server.start()

        yield start
        for server in servers:
            server.stop()

    # -- helpers ----------------------------------------------------------------------

    @staticmethod
    def require(features: FrozenSet[Feature], *needed: Feature) -> None:
        """Skip unless the backend declares every feature in ``needed``."""
        missing = [f.name for f in needed if f not in features]
        if missing:
            pytest.skip(f"backend does not declare Feature.{', Feature.'.join(missing)}")

    @staticmethod
    def context(backend_name: str, **options: Any) -> tlsplug.ClientContext:
        """A context for ``TLSOptions(enabled=True, backend=backend_name, **options)``."""
        with warnings.catch_warnings():
            # Relaxing options warn (asserted in their own tests); keep the other tests quiet.
            warnings.simplefilter("ignore", SecurityWarning)
            return tlsplug.create_context(
                TLSOptions(enabled=True, backend=backend_name, **options)
            )

    @staticmethod
    def open(
        ctx: tlsplug.ClientContext,
        address: Tuple[str, int],
        host: Optional[str],
        timeout: float = TIMEOUT,
    ) -> TLSSocket:
        """TCP-connect to ``address`` and wrap with ``ctx`` for ``host``."""
        sock = socket.create_connection(address, timeout=timeout)
        try:
            return ctx.wrap_socket(sock, server_hostname=host)
        except BaseException:
            sock.close()
            raise

    def roundtrip(
        self,
        ctx: tlsplug.ClientContext,
        server: Any,
        host: Optional[str] = "localhost",
        payload: bytes = b"tlsplug conformance",
    ) -> Dict[str, Any]:
        """Handshake, echo ``payload`` through the server, and report what was negotiated."""
        with self.open(ctx, server.address, host) as tls:
            tls.sendall(payload)
            received = b""
            while len(received) < len(payload):
                chunk = tls.recv(65536)
                if not chunk:
                    break
                received += chunk
            assert received == payload, f"echo returned {received!r}"
            return {
                "version": tls.version(),
                "cipher": tls.cipher(),
                "leaf": tls.getpeercert(True),
                "cert": tls.getpeercert(),
                "chain": tls.peer_chain(),
                "backend": tls.backend_name,
                "server_hostname": tls.server_hostname,
            }

    def refused(
        self, code: str, backend_name: str, ctx: tlsplug.ClientContext, server: Any,
        host: Optional[str] = "localhost",
    ) -> TLSError:
        """Assert that connecting fails with ``code``, at the handshake or the first echo."""
        with pytest.raises(TLSError) as info:
            self.roundtrip(ctx, server, host)
        return check_error(info.value, code, backend_name)

    # -- sans-IO ----------------------------------------------------------------------

    @staticmethod
    def pump_handshake(buf: TLSBuffer, sock: socket.socket) -> None:
        """Drive ``buf.do_handshake`` over ``sock``, flushing the outgoing bytes (alerts too)."""
        try:
            while True:
                try:
                    buf.do_handshake()
                    return
                except WantReadError:
                    pending = buf.pull_outgoing()
                    if pending:
                        sock.sendall(pending)
                    data = sock.recv(65536)
                    if data:
                        buf.receive_from_network(data)
                    else:
                        buf.receive_eof()
        finally:
            pending = buf.pull_outgoing()
            if pending:
                sock.sendall(pending)

    def buffer_roundtrip(
        self, ctx: tlsplug.ClientContext, server: Any, host: str, payload: bytes = b"sans-io"
    ) -> TLSBuffer:
        """Handshake and echo ``payload`` through ``wrap_buffers`` over a real socket."""
        buf = ctx.wrap_buffers(server_hostname=host)
        assert buf.backend_name == ctx.backend_name
        with socket.create_connection(server.address, timeout=TIMEOUT) as sock:
            self.pump_handshake(buf, sock)
            assert buf.write(payload) == len(payload)
            sock.sendall(buf.pull_outgoing())
            received = b""
            while len(received) < len(payload):
                try:
                    chunk = buf.read(65536)
                except WantReadError:
                    data = sock.recv(65536)
                    assert data, "server closed before echoing"
                    buf.receive_from_network(data)
                    continue
                assert chunk, "unexpected end of stream"
                received += chunk
            assert received == payload
            buf.shutdown()
            sock.sendall(buf.pull_outgoing())
        return buf
