"""Threaded loopback servers for tests: :class:`TLSServer` (on ``ssl``) and :class:`RawServer`.

Example::

    with TLSServer(cert=leaf) as srv:                 # modern: whatever ssl allows by default
        sock = socket.create_connection(srv.address)
    with TLSServer.legacy(rsa_leaf) as srv: ...       # TLS 1.0-1.2, AES256-SHA only
    with RawServer(close_immediately) as srv: ...     # not TLS at all

Every accepted connection runs in its own daemon thread. Server-side failures are recorded
in :attr:`TLSServer.errors` rather than printed; :meth:`~TLSServer.stop` unblocks the
accept loop, shuts the open connections down and joins every thread within a bound.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import ssl
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Type, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from .pki import CA, LeafCert

__all__ = [
    "NO_IPV6",
    "HandshakeInfo",
    "RawServer",
    "TLSServer",
    "close_immediately",
    "ipv6_available",
    "respond_with",
    "serve",
    "stall",
]

_DRAIN_SECONDS = 1.0
"""How long a server that refused a handshake reads on before closing (``_close_gently``)."""

_POLL = 0.05  # accept-loop wake-up interval, so stop() never waits on a blocking accept()
_S = TypeVar("_S", bound="_ThreadedServer")
Handler = Callable[[socket.socket], None]

LEGACY_CIPHERS = "AES256-SHA:@SECLEVEL=0"
"""What a pre-2018 server offers: RSA key transport, CBC, SHA-1 MAC (no forward secrecy)."""

# ssl.VERIFY_X509_PARTIAL_CHAIN appeared in Python 3.10; the OpenSSL flag value is stable.
_PARTIAL_CHAIN = ssl.VerifyFlags(getattr(ssl, "VERIFY_X509_PARTIAL_CHAIN", 0x80000))
_GONE = (ConnectionResetError, BrokenPipeError, ssl.SSLEOFError, ssl.SSLZeroReturnError)

NO_IPV6 = "needs IPv6 on loopback: this host cannot bind ::1"
"""The one skip reason of every test that listens on or dials ``::1`` (see ipv6_available)."""


def ipv6_available() -> bool:
    """Whether a server can listen on ``::1`` (containers sometimes lack IPv6).

    The rule of the suite: a test that uses ``::1`` calls this and skips with
    :data:`NO_IPV6` when it is False; nothing else about IPv6 is optional.
    """
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


class _ThreadedServer:
    """Listening socket, accept loop and per-connection threads; subclasses implement ``_serve``."""

    def __init__(self, *, host: str, port: int, timeout: float, join_timeout: float) -> None:
        self._host = host
        self._requested_port = port
        self.timeout = timeout
        """Socket timeout of each accepted connection, in seconds."""
        self.join_timeout = join_timeout
        """Upper bound, in seconds, on how long :meth:`stop` waits for threads."""
        self.stopping = threading.Event()
        """Set while stopping; handlers that stall on purpose should wait on it."""
        self._lock = threading.Condition()
        self._listener: Optional[socket.socket] = None
        self._acceptor: Optional[threading.Thread] = None
        self._workers: List[threading.Thread] = []
        self._open: Dict[int, socket.socket] = {}
        self._errors: List[BaseException] = []
        self._accepted = 0
        self._handled = 0
        self._port = 0

    # -- lifecycle ----------------------------------------------------------------------

    def start(self: _S) -> _S:
        """Bind, listen and start accepting; a no-op when already running."""
        with self._lock:
            if self._acceptor is not None:
                return self
            family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
            listener = socket.socket(family, socket.SOCK_STREAM)
            try:
                listener.bind((self._host, self._requested_port))
                listener.listen(64)
                listener.setblocking(False)
            except BaseException:
                listener.close()
                raise
            self._listener = listener
            self._port = listener.getsockname()[1]
            self.stopping.clear()
            name = f"{type(self).__name__}-{self._port}"
            self._acceptor = threading.Thread(target=self._accept_loop, name=name, daemon=True)
            self._acceptor.start()
        return self

    def stop(self) -> None:
        """Stop accepting, shut open connections down and join threads; idempotent."""
        with self._lock:
            acceptor, self._acceptor = self._acceptor, None
            if acceptor is None:
                return
            self.stopping.set()
        acceptor.join(self.join_timeout)
        with self._lock:
            for sock in list(self._open.values()):
                # The base-class shutdown acts on the descriptor even for an SSLSocket, whose
                # own shutdown() would drop the SSL object under the worker's feet.
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)
            workers, self._workers = self._workers, []
        for worker in workers:
            worker.join(self.join_timeout)

    def __enter__(self: _S) -> _S:
        """Start the server."""
        return self.start()

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        """Stop the server."""
        self.stop()

    # -- introspection ------------------------------------------------------------------

    @property
    def host(self) -> str:
        """The address the server listens on (``127.0.0.1`` by default)."""
        return self._host

    @property
    def port(self) -> int:
        """The bound port (the ephemeral one when ``port=0``); 0 before :meth:`start`."""
        return self._port

    @property
    def address(self) -> Tuple[str, int]:
        """``(host, port)``, ready for :func:`socket.create_connection`."""
        return (self._host, self._port)

    @property
    def connections(self) -> int:
        """How many connections were accepted."""
        with self._lock:
            return self._accepted

    @property
    def errors(self) -> List[BaseException]:
        """A copy of the exceptions raised while serving (handshake failures included)."""
        with self._lock:
            return list(self._errors)

    def wait_handled(self, count: int, timeout: float = 5.0) -> bool:
        """Wait until ``count`` connections have been fully handled; False on timeout."""
        with self._lock:
            return self._lock.wait_for(lambda: self._handled >= count, timeout)

    # -- internals ----------------------------------------------------------------------

    def _accept_loop(self) -> None:
        listener = self._listener
        assert listener is not None
        with selectors.DefaultSelector() as selector, listener:
            selector.register(listener, selectors.EVENT_READ)
            while not self.stopping.is_set():
                if not selector.select(_POLL):
                    continue
                try:
                    conn, _ = listener.accept()
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError as exc:  # pragma: no cover - e.g. EMFILE
                    self._record(exc)
                    continue
                conn.setblocking(True)
                conn.settimeout(self.timeout)
                self._spawn(conn)

    def _spawn(self, conn: socket.socket) -> None:
        with self._lock:
            self._accepted += 1
            name = f"{type(self).__name__}-{self._port}-conn-{self._accepted}"
            worker = threading.Thread(target=self._run, args=(conn,), name=name, daemon=True)
            self._workers = [w for w in self._workers if w.is_alive()]
            self._workers.append(worker)
            self._open[id(worker)] = conn
        worker.start()

    def _track(self, sock: socket.socket) -> None:
        """Remember the socket object now owning the descriptor (wrapping replaces it)."""
        with self._lock:
            self._open[id(threading.current_thread())] = sock
            if self.stopping.is_set():
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def _run(self, conn: socket.socket) -> None:
        key = id(threading.current_thread())
        failed = False
        try:
            self._serve(conn)
        except Exception as exc:
            failed = True
            if not self.stopping.is_set():
                self._record(exc)
        finally:
            with self._lock:
                sock = self._open.pop(key, conn)
            if failed and not self.stopping.is_set():
                _close_gently(sock)
            with self._lock:
                self._handled += 1
                self._lock.notify_all()
            sock.close()
            conn.close()

    def _record(self, exc: BaseException) -> None:
        with self._lock:
            self._errors.append(exc)

    def _serve(self, conn: socket.socket) -> None:
        raise NotImplementedError


class RawServer(_ThreadedServer):
    """A plain TCP server running ``handler(conn)`` per connection, for non-TLS peers."""

    def __init__(
        self,
        handler: Handler,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        timeout: float = 10.0,
        join_timeout: float = 5.0,
    ) -> None:
        """Prepare the server; ``handler`` may raise, which is recorded in :attr:`errors`."""
        super().__init__(host=host, port=port, timeout=timeout, join_timeout=join_timeout)
        self.handler = handler

    def _serve(self, conn: socket.socket) -> None:
        self.handler(conn)


def respond_with(data: bytes, *, read_first: bool = True) -> Handler:
    """Return a handler that (optionally reads once, then) sends ``data`` and closes."""

    def handler(conn: socket.socket) -> None:
        if read_first:
            conn.recv(65536)
        conn.sendall(data)

    return handler


def close_immediately(conn: socket.socket) -> None:
    """Handler that closes the connection without reading or writing anything."""


def stall(conn: socket.socket) -> None:
    """Handler that reads and discards everything, never answering, until the peer leaves."""
    with contextlib.suppress(OSError):
        while conn.recv(65536):
            pass


@dataclass(frozen=True)
class HandshakeInfo:
    """What one successful server-side handshake negotiated."""

    version: Optional[str]
    cipher: Optional[str]
    alpn_protocol: Optional[str]
    server_name: Optional[str]
    """The SNI the client sent, if any."""
    peer_cert: Optional[x509.Certificate]
    """The client certificate, if one was requested and presented."""


class TLSServer(_ThreadedServer):
    """A loopback TLS server built on :mod:`ssl`, serving a :class:`LeafCert` and its chain.

    ``mode``: ``"echo"`` echoes until EOF, ``"greeting"`` sends :attr:`greeting` first and
    then echoes, ``"close"`` closes right after the handshake.
    """

    def __init__(
        self,
        *,
        cert: LeafCert,
        host: str = "127.0.0.1",
        port: int = 0,
        min_version: Optional[ssl.TLSVersion] = None,
        max_version: Optional[ssl.TLSVersion] = None,
        ciphers: Optional[str] = None,
        require_client_cert: Optional[CA] = None,
        optional_client_cert: Optional[CA] = None,
        mode: str = "echo",
        greeting: bytes = b"hello from tlsplug\n",
        alpn: Optional[Sequence[str]] = None,
        timeout: float = 10.0,
        join_timeout: float = 5.0,
    ) -> None:
        """Build the server context now, so bad settings fail here rather than in a thread."""
        if mode not in ("echo", "greeting", "close"):
            raise ValueError(f"mode must be 'echo', 'greeting' or 'close', not {mode!r}")
        if require_client_cert is not None and optional_client_cert is not None:
            raise ValueError("give require_client_cert or optional_client_cert, not both")
        super().__init__(host=host, port=port, timeout=timeout, join_timeout=join_timeout)
        self.cert = cert
        self.mode = mode
        self.greeting = greeting
        self._handshakes: List[HandshakeInfo] = []
        self._sni: Dict[int, Optional[str]] = {}
        self.context = self._make_context(
            min_version, max_version, ciphers, require_client_cert or optional_client_cert, alpn
        )
        if require_client_cert is not None:
            self.context.verify_mode = ssl.CERT_REQUIRED
        elif optional_client_cert is not None:
            self.context.verify_mode = ssl.CERT_OPTIONAL

    @classmethod
    def legacy(
        cls,
        cert: LeafCert,
        *,
        ciphers: str = LEGACY_CIPHERS,
        min_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1,
        max_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
        **kwargs: Any,
    ) -> TLSServer:
        """A server as a pre-4.0 MongoDB looks to Python 3.10+: TLS 1.0-1.2, ``AES256-SHA`` only.

        Python 3.10+ clients offer TLS 1.2+ with forward-secret suites only, so their
        default context fails with ``SSLV3_ALERT_HANDSHAKE_FAILURE``. ``AES256-SHA`` is RSA
        key transport, so ``cert`` must have an RSA key unless ``ciphers`` is overridden.
        Other keyword arguments are those of :class:`TLSServer`.
        """
        if ciphers == LEGACY_CIPHERS and not isinstance(cert.private_key, rsa.RSAPrivateKey):
            raise ValueError("the legacy cipher AES256-SHA needs an RSA certificate")
        return cls(
            cert=cert, ciphers=ciphers, min_version=min_version, max_version=max_version, **kwargs
        )

    def _make_context(
        self,
        min_version: Optional[ssl.TLSVersion],
        max_version: Optional[ssl.TLSVersion],
        ciphers: Optional[str],
        client_ca: Optional[CA],
        alpn: Optional[Sequence[str]],
    ) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with warnings.catch_warnings():
            # 3.10+ deprecates TLS 1.0/1.1 as settings; reproducing old servers is the point.
            warnings.simplefilter("ignore", DeprecationWarning)
            if ciphers is not None:
                ctx.set_ciphers(ciphers)
            if min_version is not None:
                ctx.minimum_version = min_version
            if max_version is not None:
                ctx.maximum_version = max_version
        with tempfile.TemporaryDirectory(prefix="tlsplug-server-") as tmp:
            files = self.cert.write(tmp, combined=False)
            ctx.load_cert_chain(str(files.cert_file), str(files.key_file))
        if client_ca is not None:
            ctx.load_verify_locations(cadata=client_ca.cert_pem.decode("ascii"))
            if not client_ca.is_root:
                ctx.verify_flags |= _PARTIAL_CHAIN
        if alpn:
            ctx.set_alpn_protocols(list(alpn))
        ctx.sni_callback = self._on_sni
        return ctx

    def _on_sni(self, sslobj: object, server_name: Optional[str], ctx: ssl.SSLContext) -> None:
        with self._lock:
            self._sni[id(sslobj)] = server_name

    @property
    def handshakes(self) -> List[HandshakeInfo]:
        """A copy of the details of every successful handshake, in completion order."""
        with self._lock:
            return list(self._handshakes)

    @property
    def peer_certs(self) -> List[x509.Certificate]:
        """Client certificates presented in successful handshakes, in order."""
        return [h.peer_cert for h in self.handshakes if h.peer_cert is not None]

    def _serve(self, conn: socket.socket) -> None:
        tls = self.context.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
        self._track(tls)
        try:
            tls.do_handshake()
        finally:
            with self._lock:
                server_name = self._sni.pop(id(tls), None)
        der = tls.getpeercert(binary_form=True)
        cipher = tls.cipher()
        info = HandshakeInfo(
            version=tls.version(),
            cipher=cipher[0] if cipher else None,
            alpn_protocol=tls.selected_alpn_protocol(),
            server_name=server_name,
            peer_cert=x509.load_der_x509_certificate(der) if der else None,
        )
        with self._lock:
            self._handshakes.append(info)
        if self.mode == "close":
            return
        try:
            if self.mode == "greeting":
                tls.sendall(self.greeting)
            while True:
                data = tls.recv(65536)
                if not data:
                    return
                tls.sendall(data)
        except _GONE:
            return  # the client left without close_notify; that is normal for tests


def _close_gently(sock: socket.socket) -> None:
    """Half-close, then read what the client still sends, before the socket is closed.

    Closing a TCP socket with unread bytes makes the kernel answer with a RST (RFC 1122
    4.2.2.13), which can overtake the alert just sent: under TLS 1.3 the client's first record
    is often in flight when the server refuses its (missing) certificate, and the client must
    read "certificate required", not "connection reset", whatever the timing.
    """
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_WR)
        socket.socket.settimeout(sock, _DRAIN_SECONDS)
        deadline = time.monotonic() + _DRAIN_SECONDS
        while time.monotonic() < deadline and socket.socket.recv(sock, 65536):
            pass


@contextlib.contextmanager
def serve(cert: LeafCert, **kwargs: Any) -> Iterator[TLSServer]:
    """Run a :class:`TLSServer` for ``cert`` (keyword arguments as its) during a ``with`` block."""
    with TLSServer(cert=cert, **kwargs) as server:
        yield server
