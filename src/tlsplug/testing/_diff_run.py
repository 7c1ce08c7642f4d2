"""``run_scenario``: one handshake plus one echo, in memory or over a loopback socket.

In memory the client's ``wrap_buffers`` object is pumped against a server living in the same
thread: Python's ``ssl.SSLObject`` normally, a pyOpenSSL ``Connection`` when the scenario
staples an OCSP response (``ssl`` cannot staple). Over a socket the server is
:class:`tlsplug.testing.servers.TLSServer`. Every scenario exchanges data after the
handshake because under TLS 1.3 a server refuses a missing client certificate only after
the client's handshake has completed.
"""

from __future__ import annotations

import importlib.util
import socket
import ssl
import warnings
from typing import Any, Optional, Protocol

import tlsplug
from tlsplug.backend import (
    Backend,
    ConfigurationError,
    SecurityWarning,
    TLSBuffer,
    TLSError,
    WantReadError,
)

from ._diff_realize import Realized, build_options
from ._diff_scenario import Scenario
from .servers import TLSServer

__all__ = ["PAYLOAD", "TIMEOUT", "handshake_in_memory", "run_realized"]

PAYLOAD = b"differential ping"
#: Bound of every socket operation of a scenario, in seconds.
TIMEOUT = 5.0
_MAX_ROUNDS = 64  # a TLS handshake needs ~4; anything beyond is a stuck pump


class _ServerEngine(Protocol):
    error: Optional[BaseException]

    def feed(self, data: bytes) -> None: ...

    def feed_eof(self) -> None: ...

    def step(self) -> None: ...

    def pull(self) -> bytes: ...


def _server_context(r: Realized) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cfg = r.server
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0/1.1 on purpose
        if cfg.ciphers:
            ctx.set_ciphers(cfg.ciphers)
        if cfg.min_version is not None:
            ctx.minimum_version = cfg.min_version
        if cfg.max_version is not None:
            ctx.maximum_version = cfg.max_version
    ctx.load_cert_chain(str(r.server_chain_file), str(r.server_key_file))
    if r.client_ca is not None:
        ctx.load_verify_locations(cadata=r.client_ca.cert_pem.decode("ascii"))
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


class _SSLServer:
    """A server-side ``ssl.SSLObject`` over memory BIOs that echoes what it reads."""

    def __init__(self, ctx: ssl.SSLContext) -> None:
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._obj = ctx.wrap_bio(self._in, self._out, server_side=True)
        self._done = False
        self.error: Optional[BaseException] = None

    def feed(self, data: bytes) -> None:
        self._in.write(data)

    def feed_eof(self) -> None:
        self._in.write_eof()

    def step(self) -> None:
        if self.error is not None:
            return
        try:
            if not self._done:
                self._obj.do_handshake()
                self._done = True
            while True:
                data = self._obj.read(65536)
                if not data:
                    return
                self._obj.write(data)
        except ssl.SSLWantReadError:
            return
        except (ssl.SSLError, OSError) as exc:
            self.error = exc

    def pull(self) -> bytes:
        return self._out.read()


class _StaplingServer:
    """A pyOpenSSL server ``Connection`` over memory BIOs that staples an OCSP response."""

    def __init__(self, r: Realized) -> None:
        from OpenSSL import SSL

        self._ssl = SSL
        versions = {
            ssl.TLSVersion.TLSv1: SSL.TLS1_VERSION,
            ssl.TLSVersion.TLSv1_1: SSL.TLS1_1_VERSION,
            ssl.TLSVersion.TLSv1_2: SSL.TLS1_2_VERSION,
            ssl.TLSVersion.TLSv1_3: SSL.TLS1_3_VERSION,
        }
        ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
        cfg = r.server
        if cfg.ciphers:
            ctx.set_cipher_list(cfg.ciphers.encode("ascii"))
        if cfg.min_version is not None:
            ctx.set_min_proto_version(versions[cfg.min_version])
        if cfg.max_version is not None:
            ctx.set_max_proto_version(versions[cfg.max_version])
        ctx.use_certificate_chain_file(str(r.server_chain_file))
        ctx.use_privatekey_file(str(r.server_key_file))
        staple = r.staple or b""
        ctx.set_ocsp_server_callback(lambda conn, data: staple)
        if r.client_ca is not None:
            ca_file = r.directory / "client-ca.pem"
            ca_file.write_bytes(r.client_ca.cert_pem)
            ctx.load_verify_locations(str(ca_file))
            ctx.set_verify(
                SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, lambda *args: bool(args[-1])
            )
        self._conn = SSL.Connection(ctx, None)
        self._conn.set_accept_state()
        self._done = False
        self.error: Optional[BaseException] = None

    def feed(self, data: bytes) -> None:
        self._conn.bio_write(data)

    def feed_eof(self) -> None:
        self._conn.bio_shutdown()

    def step(self) -> None:
        if self.error is not None:
            return
        SSL = self._ssl
        try:
            if not self._done:
                self._conn.do_handshake()
                self._done = True
            while True:
                self._conn.send(self._conn.recv(65536))
        except SSL.WantReadError:
            return
        except (SSL.Error, OSError) as exc:
            self.error = exc

    def pull(self) -> bytes:
        out = b""
        while True:
            try:
                chunk = self._conn.bio_read(65536)
            except self._ssl.WantReadError:
                return out
            if not chunk:
                return out
            out += chunk


def _registered(backend: Backend) -> bool:
    try:
        return tlsplug.get_backend(backend.name) is backend
    except TLSError:
        return False


def _context(scenario: Scenario, r: Realized, backend: Backend) -> tlsplug.ClientContext:
    options = build_options(scenario, r, backend.name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        if not _registered(backend):
            # A backend object that is not installed (e.g. a deliberately broken one in a
            # test): what create_context does once the backend is chosen.
            backend.check(options)
            return backend.create_context(options)
        ctx = tlsplug.create_context(options)  # selection through options.backend
    if ctx.backend_name != backend.name:
        raise AssertionError(f"tlsBackend={backend.name} gave a {ctx.backend_name} context")
    return ctx


def _pump(client: TLSBuffer, server: _ServerEngine) -> None:
    """Drive the handshake and one echo of ``PAYLOAD``; raise the client's TLSError."""
    handshaken = False
    written = False
    received = b""
    eof_sent = False
    for _ in range(_MAX_ROUNDS):
        try:
            if not handshaken:
                client.do_handshake()
                handshaken = True
            if not written:
                client.write(PAYLOAD)
                written = True
            chunk = client.read(65536)
            if not chunk:
                raise tlsplug.HandshakeError(
                    "the server closed the connection before echoing",
                    code="connection-closed", backend=client.backend_name,
                )
            received += chunk
            if len(received) >= len(PAYLOAD):
                return
        except WantReadError:
            pass
        moved = False
        outgoing = client.pull_outgoing()
        if outgoing:
            server.feed(outgoing)
            moved = True
        server.step()
        incoming = server.pull()
        if incoming:
            client.receive_from_network(incoming)
            moved = True
        if not moved:
            if eof_sent:
                break
            # The server gave up (its error is recorded) or has nothing more to say.
            client.receive_eof()
            eof_sent = True
    raise AssertionError(f"the in-memory pump stalled (server error: {server.error!r})")


def _run_memory(scenario: Scenario, r: Realized, backend: Backend) -> None:
    ctx = _context(scenario, r, backend)
    # Without pyOpenSSL nothing can staple; nor can a backend of ours read staples then.
    stapling = r.staple is not None and importlib.util.find_spec("OpenSSL") is not None
    server: _ServerEngine = _StaplingServer(r) if stapling else _SSLServer(_server_context(r))
    client = ctx.wrap_buffers(server_hostname=scenario.dialled)
    _pump(client, server)


def handshake_in_memory(
    ctx: tlsplug.ClientContext, server_context: ssl.SSLContext, server_hostname: Optional[str]
) -> None:
    """Handshake ``ctx`` against a server-side ``ssl.SSLContext`` in memory and echo once.

    Raises the client's ``TLSError`` (other exceptions are bugs and propagate).
    """
    _pump(ctx.wrap_buffers(server_hostname=server_hostname), _SSLServer(server_context))


def _run_socket(scenario: Scenario, r: Realized, backend: Backend) -> None:
    ctx = _context(scenario, r, backend)
    if r.staple is not None:
        raise ValueError("TLSServer (Python's ssl) cannot staple: use transport='memory'")
    cfg = r.server
    kwargs: Any = {"min_version": cfg.min_version, "max_version": cfg.max_version,
                   "ciphers": cfg.ciphers, "timeout": TIMEOUT, "join_timeout": TIMEOUT}
    if r.client_ca is not None:
        kwargs["require_client_cert"] = r.client_ca
    with TLSServer(cert=r.leaf, **kwargs) as server:
        sock = socket.create_connection(server.address, timeout=TIMEOUT)
        try:
            with ctx.wrap_socket(sock, server_hostname=scenario.dialled) as tls:
                tls.sendall(PAYLOAD)
                received = b""
                while len(received) < len(PAYLOAD):
                    chunk = tls.recv(65536)
                    if not chunk:
                        raise tlsplug.HandshakeError(
                            "the server closed the connection before echoing",
                            code="connection-closed", backend=backend.name,
                        )
                    received += chunk
        finally:
            sock.close()


def run_realized(scenario: Scenario, r: Realized, backend: Backend, transport: str) -> str:
    """Connect with ``backend`` as the scenario says; ``"ok"`` or the TLSError's code.

    Anything that is not a ``TLSError`` propagates: a backend must never leak a native
    exception. A ``TLSError`` naming another backend is a bug too.
    """
    try:
        if transport == "memory":
            _run_memory(scenario, r, backend)
        elif transport == "socket":
            _run_socket(scenario, r, backend)
        else:
            raise ValueError(f"transport must be 'memory' or 'socket', not {transport!r}")
    except TLSError as exc:
        # Option errors are raised before a backend is involved; all others name it.
        if exc.backend != backend.name and not (
            exc.backend is None and isinstance(exc, ConfigurationError)
        ):
            raise AssertionError(
                f"{backend.name}: the error names backend {exc.backend!r}: {exc}"
            ) from exc
        return str(exc.code)
    return "ok"
