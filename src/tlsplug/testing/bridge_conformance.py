"""The conformance suite run through ``tlsplug.create_ssl_context``: wrap_socket and asyncio.

:class:`SSLContextConformance` is :class:`~tlsplug.testing.conformance.BackendConformance`
whose connections are made by the ``ssl.SSLContext`` that ``create_ssl_context`` returns,
over the ``transport`` parameter: ``"wrap_socket"`` (``ctx.wrap_socket``, as blocking
drivers such as pg8000 call it) and ``"asyncio"`` (``asyncio.open_connection(sock=...,
ssl=ctx, server_hostname=...)``, asyncio's own SSL transport driving ``ctx.wrap_bio``, on
an event loop in a helper thread). The checks are the suite's; tests of what a bridged
context does not offer are skipped by name (:data:`NOT_APPLICABLE`), each with its reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
import warnings
from typing import Any, Coroutine, FrozenSet, List, Optional, Tuple, TypeVar

import pytest

import tlsplug
from tlsplug.backend import Feature, SecurityWarning, TLSError, TLSOptions

from ._conformance_support import TIMEOUT
from .conformance import BackendConformance

__all__ = ["NOT_APPLICABLE", "SSLContextConformance", "TRANSPORTS"]

T = TypeVar("T")

TRANSPORTS = ("wrap_socket", "asyncio")

_NO_BUFFERS = "a bridged ssl.SSLContext has no wrap_buffers (use create_context for sans-IO)"
_NO_RESUME = "create_ssl_context does not resume sessions (asyncio passes none to wrap_bio)"
_NOWAIT = (
    "inside asyncio the responder is asked in the background and this connection soft-fails "
    "(tests/test_bridge.py checks that rule)"
)
#: (test name prefix, parameter id part, transports it does not apply to, reason); a
#: transport may be qualified by the route: "wrap_socket/native" (the backend's own
#: create_ssl_context hook) or "wrap_socket/routed".
NOT_APPLICABLE: Tuple[Tuple[str, str, Tuple[str, ...], str], ...] = (
    ("test_wrap_buffers", "", TRANSPORTS, _NO_BUFFERS),
    ("test_ocsp_deferred_hook", "", TRANSPORTS, _NO_BUFFERS),
    ("test_session_", "", TRANSPORTS, _NO_RESUME),
    ("test_sessions_", "", TRANSPORTS, _NO_RESUME),
    ("test_ocsp_must_staple_session_resumes", "", TRANSPORTS, _NO_RESUME),
    ("test_ocsp_resumed_session", "", TRANSPORTS, _NO_RESUME),
    ("test_ocsp_responder", "", ("asyncio",), _NOWAIT),
    ("test_ocsp_soft_fail", "", ("asyncio",), _NOWAIT),
    ("test_handshake_timeout", "", ("asyncio",),
     "asyncio bounds the handshake itself (ssl_handshake_timeout), with its own error"),
    ("test_not_a_tls_server", "close", ("asyncio",),
     "asyncio's SSLProtocol reports a peer hanging up mid-handshake as ConnectionResetError "
     "before the SSLObject sees the end of the stream"),
    ("test_many_threads_one_context", "", ("asyncio",), "threads are the wrap_socket transport's"),
    # A backend with its own create_ssl_context hook (stdlib) returns a real ssl.SSLSocket
    # from wrap_socket, which behaves as ssl's does ("wrap_socket/native"):
    ("test_makefile_read_timeout", "", ("wrap_socket/native",),
     "a real ssl.SSLSocket times out with socket.timeout (TimeoutError), as drivers expect"),
    ("test_shutdown_write_keeps_reading", "", ("wrap_socket/native",),
     "ssl.SSLSocket.shutdown() drops the TLS layer (ssl.py); the native route does as ssl"),
)


def _applies(name: str, qualname: str, transport: str) -> bool:
    """Whether a test applies to ``transport`` whatever the backend and parameters.

    What depends on the route or a parameter stays a skip with its reason
    (``_bridge_transport``); a test that applies to no transport is not collected at all.
    """
    if transport == "asyncio" and qualname.startswith("SocketConformance."):
        return False  # asyncio streams are not sockets: the socket section is wrap_socket's
    return not any(
        name.startswith(prefix) and not part and transport in transports
        for prefix, part, transports, _ in NOT_APPLICABLE
    )


def _hide_not_applicable(cls: type) -> None:
    """Set the tests no transport applies to (sans-IO, resumption) to None: not collected."""
    for name in dir(cls):
        member = getattr(cls, name, None)
        if name.startswith("test_") and callable(member) and not any(
            _applies(name, getattr(member, "__qualname__", ""), t) for t in TRANSPORTS
        ):
            setattr(cls, name, None)


class _Loop:
    """One event loop in a daemon thread, for the blocking test helpers to call into."""

    _lock = threading.Lock()
    _loop: Optional[asyncio.AbstractEventLoop] = None

    @classmethod
    def run(cls, coro: Coroutine[Any, Any, T], timeout: float = TIMEOUT) -> T:
        with cls._lock:
            if cls._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="tlsplug-bridge-loop",
                                 daemon=True).start()
                cls._loop = loop
            loop = cls._loop
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)


def _chain(conn: Any) -> List[bytes]:
    """The peer's chain, leaf first, from an SSLSocket/SSLObject or a tlsplug object."""
    if hasattr(conn, "peer_chain"):
        return list(conn.peer_chain())
    if hasattr(conn, "get_unverified_chain") and not isinstance(conn, ssl.SSLSocket):
        return list(conn.get_unverified_chain())
    from tlsplug._stdlib._chains import unverified_chain

    return unverified_chain(conn, conn.getpeercert(True))


class BridgedSocket:
    """What ``ctx.wrap_socket`` returned, with the few ``TLSSocket`` names ssl lacks."""

    def __init__(self, tls: Any, backend_name: str, server_hostname: Optional[str]) -> None:
        """Wrap the socket ``create_ssl_context(...).wrap_socket`` returned."""
        self._tls = tls
        self.backend_name = backend_name
        self.server_hostname = server_hostname

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tls, name)

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        """As the socket's; a reset after the handshake ends the stream (_socket.py)."""
        try:
            data = self._tls.recv(bufsize, flags) if flags else self._tls.recv(bufsize)
            return bytes(data)
        except ConnectionResetError:
            return b""

    def peer_chain(self) -> List[bytes]:
        """The chain the peer sent, leaf first."""
        return _chain(self._tls)

    def close(self) -> None:
        """Close the socket."""
        self._tls.close()

    def __enter__(self) -> BridgedSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncioSocket:
    """A blocking face on asyncio streams opened with ``ssl=ctx`` (asyncio's SSL transport)."""

    def __init__(self, sock: socket.socket, ctx: ssl.SSLContext, host: Optional[str],
                 backend_name: str) -> None:
        """Run the handshake in asyncio's transport over the connected ``sock``."""
        self.backend_name = backend_name
        self.server_hostname = host
        timeout = sock.gettimeout() or TIMEOUT

        async def connect() -> Tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            return await asyncio.open_connection(
                sock=sock, ssl=ctx, server_hostname=host, ssl_handshake_timeout=timeout
            )

        try:
            self._reader, self._writer = _Loop.run(connect(), timeout + 5)
        except BaseException:
            sock.close()
            raise
        self._obj = self._writer.get_extra_info("ssl_object")

    def sendall(self, data: bytes) -> None:
        """Write and drain."""

        async def send() -> None:
            self._writer.write(data)
            await self._writer.drain()

        _Loop.run(send())

    def recv(self, bufsize: int) -> bytes:
        """What the stream has (b"" at its end)."""
        return _Loop.run(self._reader.read(bufsize))

    def recv_into(self, buffer: Any, nbytes: int = 0) -> int:
        """``recv`` copied into ``buffer``."""
        view = memoryview(buffer).cast("B")
        if view.readonly:
            raise TypeError("recv_into() needs a writable buffer")
        data = self.recv(min(nbytes or view.nbytes, view.nbytes))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        """Close the stream (close_notify by asyncio), waiting briefly."""
        if self._writer.is_closing():
            return

        async def close() -> None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._writer.wait_closed(), 2)

        _Loop.run(close())

    def version(self) -> Optional[str]:
        """The negotiated protocol."""
        return self._obj.version()  # type: ignore[no-any-return]

    def cipher(self) -> Any:
        """The negotiated cipher."""
        return self._obj.cipher()

    def getpeercert(self, binary_form: bool = False) -> Any:
        """The leaf."""
        return self._obj.getpeercert(binary_form)

    def peer_chain(self) -> List[bytes]:
        """The chain the peer sent, leaf first."""
        return _chain(self._obj)

    def selected_alpn_protocol(self) -> Optional[str]:
        """The negotiated ALPN protocol."""
        return self._obj.selected_alpn_protocol()  # type: ignore[no-any-return]

    @property
    def ocsp_status(self) -> Optional[str]:
        """What OCSP concluded."""
        return getattr(self._obj, "ocsp_status", None)

    @property
    def session_reused(self) -> bool:
        """Whether the session was resumed."""
        return bool(self._obj.session_reused)

    def __enter__(self) -> AsyncioSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class BridgedContext:
    """A ``ClientContext`` face on ``create_ssl_context(options)`` for the suite's helpers."""

    def __init__(self, options: TLSOptions, transport: str) -> None:
        """Create the ``ssl.SSLContext`` now (configuration errors are raised here)."""
        self.options = options
        self.transport = transport
        self.ssl_context = tlsplug.create_ssl_context(options)
        self.backend_name: str = getattr(self.ssl_context, "backend_name", "")

    def wrap_socket(self, sock: socket.socket, server_hostname: Optional[str] = None) -> Any:
        """Handshake through the bridged context on ``self.transport``."""
        if self.transport == "asyncio":
            return AsyncioSocket(sock, self.ssl_context, server_hostname, self.backend_name)
        tls = self.ssl_context.wrap_socket(sock, server_hostname=server_hostname)
        return BridgedSocket(tls, self.backend_name, server_hostname)

    def wrap_buffers(self, server_hostname: Optional[str] = None) -> Any:
        """Not offered by a bridged context."""
        pytest.skip(_NO_BUFFERS)


class SSLContextConformance(BackendConformance):
    """:class:`BackendConformance` through ``create_ssl_context``, per ``transport``.

    Each test runs on the transports it applies to; the tests of what a bridged context does
    not offer on any transport (sans-IO buffers, session resumption) are not collected, and
    what depends on the backend's route is skipped with the reason (:data:`NOT_APPLICABLE`).
    """

    _transport = "wrap_socket"
    #: ``ssl.SSLSocket`` and asyncio's transport raise ``OSError`` subclasses after close.
    CLOSED_SEND_ERRORS = (OSError, TLSError)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _hide_not_applicable(cls)

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """Run each test on the transports it applies to (``ctx.wrap_socket``, asyncio)."""
        if "transport" in metafunc.fixturenames:
            function = metafunc.function
            metafunc.parametrize("transport", [
                t for t in TRANSPORTS if _applies(function.__name__, function.__qualname__, t)
            ])

    @pytest.fixture
    def features(self, backend_name: str) -> FrozenSet[Feature]:
        """The backend's features but sans-IO and resumption, which the bridge does not offer."""
        declared = frozenset(tlsplug.get_backend(backend_name).features)
        return declared - {Feature.SANS_IO, Feature.SESSION_RESUMPTION}

    @pytest.fixture(autouse=True)
    def _bridge_transport(self, transport: str, request: pytest.FixtureRequest) -> None:
        node = request.node
        backend = tlsplug.get_backend(self._backend_of(request))
        route = "native" if hasattr(backend, "create_ssl_context") else "routed"
        for prefix, part, transports, reason in NOT_APPLICABLE:
            if (
                node.name.startswith(prefix)
                and (transport in transports or f"{transport}/{route}" in transports)
                and part in getattr(getattr(node, "callspec", None), "id", "")
            ):
                pytest.skip(reason)
        self._transport = transport

    @staticmethod
    def _backend_of(request: pytest.FixtureRequest) -> str:
        return str(request.getfixturevalue("backend_name"))

    def context(self, backend_name: str, **options: Any) -> Any:  # type: ignore[override]
        """A :class:`BridgedContext` for ``TLSOptions(enabled=True, backend=..., **options)``."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SecurityWarning)
            return BridgedContext(
                TLSOptions(enabled=True, backend=backend_name, **options), self._transport
            )

    def _reused(self, ctx: Any, server: Any, host: str = "localhost") -> bool:
        pytest.skip(_NO_RESUME)

