"""``create_ssl_context``: an ``ssl.SSLContext`` that carries out ``TLSOptions`` on any backend.

Libraries that take TLS as an ``ssl.SSLContext`` (asyncio's transports, asyncpg, aiohttp,
httpx, redis-py, ...) call ``wrap_bio`` (asyncio's ``SSLProtocol``) or ``wrap_socket``
(blocking clients) on it and drive the result with the ``ssl.SSLObject``/``ssl.SSLSocket``
surface. Two routes, chosen by the backend ``create_context(options)`` would choose:

* a backend with a ``create_ssl_context(options)`` hook builds the context itself: the
  stdlib backend returns Python's own machinery, configured with the pinned policy, whose
  objects run tlsplug's post-handshake checks (``tlsplug._stdlib._bridge``);
* any other backend (PyOpenSSL) is **routed**: :class:`RoutedSSLContext.wrap_bio` returns a
  :class:`BufferSSLObject` that moves bytes between asyncio's ``MemoryBIO`` pair and the
  backend's sans-IO ``wrap_buffers`` object, and ``wrap_socket`` returns the backend's own
  socket from ``ClientContext.wrap_socket`` — so OCSP stapling and must-staple hold inside
  those libraries.

Every call returns a new context its caller owns (a library's ``set_alpn_protocols``
affects nobody else); the backend's context underneath comes from the shared cache. The
options decide what is verified: lowering ``verify_mode`` or ``check_hostname`` afterwards
is refused with a ``SecurityWarning`` (:class:`BridgeSSLContext`).
"""

from __future__ import annotations

import builtins
import ssl
import warnings
from typing import Any, List, Optional, Tuple, Union

from ._codes import INVALID_OPTION
from ._errors import ConfigurationError, SecurityWarning
from ._hostname import server_identity
from ._options import TLSOptions
from ._protocols import ClientContext, TLSBuffer, TLSSocket, WantReadError, WantWriteError

__all__ = ["BridgeSSLContext", "BufferSSLObject", "RoutedSSLContext", "create_ssl_context"]

_VERIFY_MODE: Any = vars(ssl.SSLContext)["verify_mode"]  # ssl.py's property (an enum of _ssl's)
_CHECK_HOSTNAME: Any = ssl.SSLContext.check_hostname  # _ssl._SSLContext's getset descriptor


class BridgeSSLContext(ssl.SSLContext):
    """An ``ssl.SSLContext`` whose verification is decided by ``TLSOptions``, not its caller.

    Built unarmed (the builder configures it freely), then :meth:`_tlsplug_arm` fixes the
    options: afterwards a ``verify_mode`` below ``CERT_REQUIRED`` or ``check_hostname =
    False`` that the options do not allow is ignored with a ``SecurityWarning`` — libraries
    that relax a context they were given (some do when their own "verify" flag is off)
    cannot undo tlsplug's policy.
    """

    _tlsplug_options: Optional[TLSOptions] = None
    #: The name of the backend carrying out the options.
    backend_name: str = ""

    def _tlsplug_arm(self, options: TLSOptions, backend_name: str) -> None:
        self._tlsplug_options = options
        self.backend_name = backend_name

    @property
    def tlsplug_options(self) -> TLSOptions:
        """The options this context carries out."""
        assert self._tlsplug_options is not None
        return self._tlsplug_options

    @property  # type: ignore[override]
    def verify_mode(self) -> ssl.VerifyMode:
        """As ``ssl.SSLContext.verify_mode``; cannot go below what the options require."""
        return _VERIFY_MODE.fget(self)  # type: ignore[no-any-return]

    @verify_mode.setter
    def verify_mode(self, value: ssl.VerifyMode) -> None:
        options = self._tlsplug_options
        if options is not None and options.verify_certificates and value != ssl.CERT_REQUIRED:
            _refused(f"verify_mode = {value!r}")
            return
        _VERIFY_MODE.fset(self, value)

    @property
    def check_hostname(self) -> bool:
        """As ``ssl.SSLContext.check_hostname``; cannot be turned off against the options."""
        return bool(_CHECK_HOSTNAME.__get__(self))

    @check_hostname.setter
    def check_hostname(self, value: bool) -> None:
        options = self._tlsplug_options
        if (
            options is not None and not value
            and options.verify_certificates and options.verify_hostname
        ):
            _refused("check_hostname = False")
            return
        _CHECK_HOSTNAME.__set__(self, value)

    def _tlsplug_name(self, server_side: bool, server_hostname: Optional[str]) -> Optional[str]:
        """Refuse, before any I/O, what the options cannot carry out; the name to use.

        The one identity rule (docs/design.md, Identity): a name that may not be dialled is
        refused here, and the normalised name is what the handshake sends and checks.
        """
        if server_side:
            raise ValueError("tlsplug contexts are for clients (server_side=True given)")
        if server_hostname is not None:
            return server_identity(server_hostname, backend=self.backend_name).name
        if self.tlsplug_options.verify_hostname:
            raise ConfigurationError(
                "server_hostname is required while hostnames are verified",
                code=INVALID_OPTION, option="server_hostname", backend=self.backend_name,
                hint="Pass the host you dialled (server_hostname=...), or set "
                "tlsAllowInvalidHostnames=true.",
            )
        return None


def _refused(what: str) -> None:
    warnings.warn(
        f"{what} ignored: this context comes from tlsplug.create_ssl_context and its "
        "TLSOptions decide what is verified (set tlsAllowInvalidCertificates / "
        "tlsAllowInvalidHostnames there to relax it)",
        SecurityWarning,
        stacklevel=3,
    )


def _want_read() -> ssl.SSLWantReadError:
    # errno as _ssl sets it: asyncio 3.9's _SSLPipe tells the "again" errors by exc.errno.
    return ssl.SSLWantReadError(ssl.SSL_ERROR_WANT_READ, "The operation did not complete (read)")


class BufferSSLObject(ssl.SSLObject):
    """The ``ssl.SSLObject`` surface over a backend's sans-IO ``TLSBuffer``.

    asyncio writes what arrived into ``incoming`` and sends what appears in ``outgoing``;
    each call here moves ``incoming`` into the buffer first and the buffer's output into
    ``outgoing`` last, and turns ``WantReadError`` into ``ssl.SSLWantReadError``. An
    ``isinstance(obj, ssl.SSLObject)`` check holds (``ssl.SSLObject`` has no public
    constructor; none of its own state is used).
    """

    def __init__(
        self,
        context: RoutedSSLContext,
        buffer: TLSBuffer,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_hostname: Optional[str],
    ) -> None:
        self._bridge_context = context
        self._buffer = buffer
        self._incoming = incoming
        self._outgoing = outgoing
        self._server_hostname = server_hostname
        self._eof_fed = False
        self._done = False
        self._shutdown_sent = False
        # Responders never on the event loop (TLSBuffer docs, DeferredOCSP): decided in
        # do_handshake without waiting (tlsplug.ocsp.post_handshake_check_nowait).
        if hasattr(buffer, "defer_ocsp_endpoint_check"):
            buffer.defer_ocsp_endpoint_check = True

    # -- moving bytes -------------------------------------------------------------------

    def _feed(self) -> None:
        data = self._incoming.read()
        if data:
            self._buffer.receive_from_network(data)
        if self._incoming.eof and not self._eof_fed:
            self._eof_fed = True
            self._buffer.receive_eof()

    def _flush(self) -> None:
        data = self._buffer.pull_outgoing()
        if data:
            self._outgoing.write(data)

    # -- the SSLObject surface asyncio drives --------------------------------------------

    def do_handshake(self) -> None:
        """Advance the handshake; every check of the backend runs before it returns."""
        if self._done:
            return
        self._feed()
        buf = self._buffer
        try:
            buf.do_handshake()
            deferred = getattr(buf, "deferred_ocsp_check", None)
            kwargs = deferred() if deferred is not None else None
            if kwargs is not None:
                from .ocsp import post_handshake_check_nowait

                buf.record_ocsp_verdict(  # type: ignore[attr-defined]
                    post_handshake_check_nowait(**kwargs)
                )
        except WantReadError:
            raise _want_read() from None
        finally:
            self._flush()
        self._done = True

    def read(self, len: int = 1024, buffer: Any = None) -> Any:
        """Plaintext: bytes, or the count written into ``buffer``; empty/0 at the end."""
        self._feed()
        try:
            if buffer is None:
                return self._buffer.read(len)
            view = memoryview(buffer).cast("B")
            size = min(len, view.nbytes) if len > 0 else view.nbytes
            data = self._buffer.read(size)
            count = builtins.len(data)
            view[:count] = data
            return count
        except WantReadError:
            raise _want_read() from None
        finally:
            self._flush()

    def write(self, data: Any) -> int:
        """Encrypt ``data`` into ``outgoing``; return how many bytes were taken."""
        self._feed()
        try:
            return self._buffer.write(data)
        except WantReadError:
            raise _want_read() from None
        except WantWriteError:  # pragma: no cover - a memory buffer always takes writes
            raise ssl.SSLWantWriteError(ssl.SSL_ERROR_WANT_WRITE, "write") from None
        finally:
            self._flush()

    def unwrap(self) -> None:
        """Send close_notify; return once the peer's arrived (``SSLWantReadError`` until)."""
        self._feed()
        try:
            if not self._shutdown_sent:
                self._shutdown_sent = True
                self._buffer.shutdown()
            while True:  # data still in flight is dropped, as SSL_shutdown drops it
                if not self._buffer.read(16384):
                    return None
        except WantReadError:
            raise _want_read() from None
        finally:
            self._flush()

    def pending(self) -> int:
        """Decrypted bytes waiting (0 when the backend does not say)."""
        pending = getattr(self._buffer, "pending", None)
        return int(pending()) if callable(pending) else 0

    # -- information --------------------------------------------------------------------

    @property
    def context(self) -> ssl.SSLContext:
        """The ``create_ssl_context`` context this object came from."""
        return self._bridge_context

    @context.setter
    def context(self, ctx: ssl.SSLContext) -> None:
        raise AttributeError("the context of a tlsplug connection cannot be replaced")

    @property
    def server_side(self) -> bool:
        """Always False: tlsplug is a client."""
        return False

    @property
    def server_hostname(self) -> Optional[str]:
        """The name given to ``wrap_bio``."""
        return self._server_hostname

    @property
    def session(self) -> None:
        """None: sessions are the backend's (``session_reused`` tells)."""
        return None

    @session.setter
    def session(self, session: Any) -> None:
        raise ValueError("sessions of a tlsplug connection are managed by its backend")

    @property
    def session_reused(self) -> bool:
        """Whether the handshake resumed an earlier session."""
        return bool(self._buffer.session_reused)

    @property
    def ocsp_status(self) -> Optional[str]:
        """What OCSP concluded (``tlsplug.ocsp.status_text``), as on the backend's objects."""
        return getattr(self._buffer, "ocsp_status", None)

    @property
    def tlsplug(self) -> TLSBuffer:
        """The backend's sans-IO object underneath."""
        return self._buffer

    def getpeercert(self, binary_form: bool = False) -> Any:
        """The leaf, as ``ssl.SSLObject.getpeercert``."""
        if not self._done:
            raise ValueError("handshake not done yet")
        return self._buffer.getpeercert(binary_form)

    def selected_alpn_protocol(self) -> Optional[str]:
        """The ALPN protocol the server chose, or None."""
        chosen = getattr(self._buffer, "selected_alpn_protocol", None)
        return chosen() if callable(chosen) else None

    def selected_npn_protocol(self) -> None:
        """None: NPN is obsolete (RFC 7301 replaced it)."""
        return None

    def cipher(self) -> Optional[Tuple[str, str, int]]:
        """The negotiated cipher."""
        return self._buffer.cipher()

    def shared_ciphers(self) -> Optional[List[Tuple[str, str, int]]]:
        """None: not exposed by the backend's buffer."""
        return None

    def compression(self) -> None:
        """None: the pinned policies never compress."""
        return None

    def version(self) -> Optional[str]:
        """The negotiated protocol, e.g. ``"TLSv1.3"``."""
        return self._buffer.version() if self._done else None

    def get_channel_binding(self, cb_type: str = "tls-unique") -> None:
        """None: the backend's buffer does not expose channel bindings."""
        if cb_type not in ssl.CHANNEL_BINDING_TYPES:
            raise ValueError(f"{cb_type} channel binding type not implemented")
        return None

    def get_unverified_chain(self) -> List[bytes]:
        """The chain the peer sent, leaf first, DER."""
        return self._buffer.peer_chain()

    def verify_client_post_handshake(self) -> None:
        """Not for clients."""
        raise ssl.SSLError("post-handshake authentication is for servers")

    def __repr__(self) -> str:
        return f"<BufferSSLObject {self._buffer!r}>"


class RoutedSSLContext(BridgeSSLContext):
    """A context whose connections are made by a tlsplug backend's ``ClientContext``."""

    def _tlsplug_route(self, options: TLSOptions, client: ClientContext) -> None:
        self._tlsplug_arm(options, client.backend_name)
        self._client: Optional[ClientContext] = client
        self._alpn: Optional[Tuple[str, ...]] = options.alpn_protocols

    def _tlsplug_client(self) -> ClientContext:
        client = self._client
        if client is None:  # set_alpn_protocols changed what to offer
            options = self.tlsplug_options.replace(alpn_protocols=self._alpn)
            client = self._client = _backend_context(options)
        return client

    @property
    def tlsplug_context(self) -> ClientContext:
        """The backend's ``ClientContext`` that makes the connections."""
        return self._tlsplug_client()

    def set_alpn_protocols(self, alpn_protocols: Any) -> None:
        """Offer these ALPN protocols on later connections (this context only)."""
        super().set_alpn_protocols(alpn_protocols)  # ssl's validation
        protocols = tuple(alpn_protocols) or None
        if protocols != self._alpn:
            self._alpn = protocols
            self._client = None

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: Union[str, bytes, None] = None,
        session: Any = None,
    ) -> BufferSSLObject:
        """A ``ssl.SSLObject``-like connection made by the backend (asyncio's SSLProtocol)."""
        name = _text(server_hostname)
        self._tlsplug_name(server_side, name)
        buffer = self._tlsplug_client().wrap_buffers(server_hostname=name)
        return BufferSSLObject(self, buffer, incoming, outgoing, name)

    def wrap_socket(  # type: ignore[override]
        self,
        sock: Any,
        server_side: bool = False,
        do_handshake_on_connect: bool = True,
        suppress_ragged_eofs: bool = True,
        server_hostname: Union[str, bytes, None] = None,
        session: Any = None,
    ) -> TLSSocket:
        """The backend's verified socket (``ClientContext.wrap_socket``: handshake now)."""
        name = _text(server_hostname)
        self._tlsplug_name(server_side, name)
        return self._tlsplug_client().wrap_socket(sock, server_hostname=name)

    def __repr__(self) -> str:
        return f"<RoutedSSLContext {self.tlsplug_options!r}>"


def _text(name: Union[str, bytes, None]) -> Optional[str]:
    return name.decode("ascii") if isinstance(name, bytes) else name


def _backend_context(options: TLSOptions) -> ClientContext:
    """The backend's (cached) ``ClientContext``, without ``create_context``'s warnings."""
    from ._registry import cached_context, select_backend

    return cached_context(select_backend(options), options)


def create_ssl_context(options: Optional[TLSOptions] = None) -> ssl.SSLContext:
    """An ``ssl.SSLContext`` carrying out ``options`` on the backend ``create_context`` chooses.

    For libraries that take an ``ssl.SSLContext`` (``asyncio.open_connection(ssl=...)``,
    asyncpg, httpx, aiohttp, redis-py, ...). Each call returns a new context the caller owns.
    Errors are tlsplug's (``CertificateError``, ``HandshakeError``) with their codes.
    """
    from ._registry import cached_context, select_backend, warn_if_insecure

    if options is None:
        options = TLSOptions(enabled=True)
    backend = select_backend(options)
    backend.check(options)
    warn_if_insecure(options)
    hook = getattr(backend, "create_ssl_context", None)
    if hook is not None:  # the backend builds its own (the stdlib backend: ssl itself)
        ctx = hook(options)
        if not isinstance(ctx, BridgeSSLContext):
            raise TypeError(f"{backend.name}.create_ssl_context returned {type(ctx).__name__}")
        return ctx
    client = cached_context(backend, options)
    routed = RoutedSSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # What the connections will do, for libraries that read it (they never touch OpenSSL
    # through this SSL_CTX: wrap_bio and wrap_socket are routed to the backend).
    routed.check_hostname = False
    if options.verify_certificates:
        routed.verify_mode = ssl.CERT_REQUIRED
        routed.check_hostname = options.verify_hostname
    else:
        routed.verify_mode = ssl.CERT_NONE
    if options.alpn_protocols:
        ssl.SSLContext.set_alpn_protocols(routed, list(options.alpn_protocols))
    routed._tlsplug_route(options, client)
    return routed
