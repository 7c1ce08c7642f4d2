"""The stdlib backend's ``create_ssl_context``: Python's own ``ssl`` plus tlsplug's checks.

The context is built by the same ``build_ssl_context`` as the backend's ``ClientContext``
(the pinned policy, trust, DER CRLs converted, client certificate), as an
``ssl.SSLContext`` subclass whose ``sslobject_class``/``sslsocket_class`` run, when the
handshake completes, the checks ``StdlibContext.wrap_socket`` runs after it (``_context.py``):
the strict-chain lint and the hostname rule when chain verification is off (``_checks.py``),
and OCSP (``_ocsp.py``). Handshake failures are translated by the
backend's one choke point (``_translate.py``), so callers see tlsplug's codes.

OCSP responders: a blocking ``wrap_socket`` asks them within ``ocsp_timeout`` as today; an
``SSLObject`` (asyncio's transport, or a non-blocking socket) must not wait, so only what
needs no network is decided and a responder question starts in the background
(``tlsplug.ocsp.post_handshake_check_nowait``). Sessions are not resumed by this route
(asyncio passes no session; ``ClientContext.wrap_socket`` keeps resuming).
"""

from __future__ import annotations

import ssl
from typing import Any, Callable, Optional

from tlsplug.backend import (
    BridgeSSLContext,
    Materials,
    TLSOptions,
    load_materials,
)

from ._after import Passed, check_after_handshake
from ._ocsp import StdlibOCSP
from ._sslcontext import build_ssl_context
from ._translate import BACKEND_NAME, is_end_of_stream, translate

__all__ = ["StdlibSSLContext", "create_ssl_context"]


def _translated(exc: Exception, negotiated: Callable[[], bool]) -> None:
    error = translate(exc, handshake=True, negotiated=negotiated)
    if error is not None:
        raise error from exc


def _translated_read(exc: ssl.SSLError) -> None:
    """Raise the ``TLSError`` for a failed read (e.g. TLS 1.3's certificate_required alert).

    End of stream and "again" errors are the caller's (ssl and asyncio handle them).
    """
    if isinstance(exc, (ssl.SSLWantReadError, ssl.SSLWantWriteError)) or is_end_of_stream(exc):
        return
    error = translate(exc, handshake=False)
    if error is not None:
        raise error from exc


def _after_handshake(conn: Any, wait_for_responders: bool) -> StdlibOCSP:
    """The checks ``StdlibContext.wrap_socket`` makes after the handshake, on ``conn``."""
    ctx = conn.context
    options: TLSOptions = ctx.tlsplug_options
    tracker = StdlibOCSP(options)
    tracker.defer = not wait_for_responders
    # The core matcher decides in every mode, after OpenSSL's own check (which ssl cannot
    # make under tlsAllowInvalidCertificates: it refuses it with CERT_NONE). The name is
    # the one _tlsplug_name normalised for ssl.
    host = (conn.server_hostname or None) if options.verify_hostname else None
    check_after_handshake(conn, options, ctx.tlsplug_materials, host, tracker, ctx.tlsplug_passed)
    if wait_for_responders:
        tracker.finish_sync()
    else:
        tracker.finish_nowait()
    return tracker


_AGAIN = (ssl.SSLWantReadError, ssl.SSLWantWriteError)


class CheckedSSLObject(ssl.SSLObject):
    """``ssl.SSLObject`` whose ``do_handshake`` also runs tlsplug's checks (never waits).

    Its methods call the native ``_sslobj`` directly, as ``ssl.SSLObject``'s own do, rather
    than through ``super()``: one Python frame per call, not two. asyncio calls ``read``
    until it raises ``SSLWantReadError``, several times per connection, and right after a
    handshake every extra frame runs with cold caches (``_after.py``).
    """

    _tlsplug_ocsp: Optional[StdlibOCSP] = None
    _sslobj: Any  # _ssl._SSLSocket, set by ssl.SSLObject._create

    def do_handshake(self) -> None:
        """Advance the handshake; once complete, run every check before returning."""
        if self._tlsplug_ocsp is not None:
            return
        try:
            self._sslobj.do_handshake()
        except _AGAIN:
            raise
        except Exception as exc:
            _translated(exc, lambda: self.cipher() is not None)
            raise
        self._tlsplug_ocsp = _after_handshake(self, wait_for_responders=False)

    def read(self, len: int = 1024, buffer: Any = None) -> Any:
        """As ``ssl.SSLObject.read``; a TLS failure is tlsplug's error with its code."""
        try:
            if buffer is not None:
                return self._sslobj.read(len, buffer)
            return self._sslobj.read(len)
        except _AGAIN:
            raise
        except ssl.SSLError as exc:
            _translated_read(exc)
            raise

    @property
    def ocsp_status(self) -> Optional[str]:
        """What OCSP concluded (``tlsplug.ocsp.status_text``); None before the handshake."""
        return self._tlsplug_ocsp.status if self._tlsplug_ocsp is not None else None


class CheckedSSLSocket(ssl.SSLSocket):
    """``ssl.SSLSocket`` whose ``do_handshake`` also runs tlsplug's checks."""

    _tlsplug_ocsp: Optional[StdlibOCSP] = None

    def do_handshake(self, block: bool = False) -> None:
        """Handshake, then every check; OCSP responders are asked unless non-blocking."""
        if self._tlsplug_ocsp is not None:  # checked once (ssl allows calling it again)
            return
        try:
            super().do_handshake(block)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            raise
        except Exception as exc:
            _translated(exc, lambda: self.cipher() is not None)
            raise
        # A non-blocking socket belongs to an event loop: it must not wait on a responder.
        self._tlsplug_ocsp = _after_handshake(self, self.gettimeout() != 0.0)

    def read(self, len: int = 1024, buffer: Any = None) -> Any:
        """As ``ssl.SSLSocket.read`` (``recv`` uses it); TLS failures carry tlsplug's code."""
        try:
            return super().read(len, buffer)
        except ssl.SSLError as exc:
            if getattr(self, "suppress_ragged_eofs", True) and is_end_of_stream(exc):
                # Python 3.9 raises a ragged EOF as a plain SSLError (gh-89051), which ssl's
                # own suppress_ragged_eofs misses; 3.10+ read it as the end of the stream.
                return 0 if buffer is not None else b""
            _translated_read(exc)
            raise

    @property
    def ocsp_status(self) -> Optional[str]:
        """What OCSP concluded (``tlsplug.ocsp.status_text``); None before the handshake."""
        return self._tlsplug_ocsp.status if self._tlsplug_ocsp is not None else None


class StdlibSSLContext(BridgeSSLContext):
    """The stdlib backend's ``ssl.SSLContext`` for ``tlsplug.create_ssl_context``."""

    sslobject_class = CheckedSSLObject
    sslsocket_class = CheckedSSLSocket
    #: The parsed files: trust anchors, CRLs for the chain's CA certificates.
    tlsplug_materials: Optional[Materials] = None
    #: The (chain, host) pairs that passed the checks (``_after.py``), set per context.
    tlsplug_passed: Optional[Passed] = None

    def wrap_socket(
        self, sock: Any, server_side: bool = False, do_handshake_on_connect: bool = True,
        suppress_ragged_eofs: bool = True, server_hostname: Any = None, session: Any = None,
    ) -> ssl.SSLSocket:
        """As ``ssl.SSLContext.wrap_socket``, with tlsplug's checks in the handshake."""
        name = self._tlsplug_name(server_side, _text(server_hostname))
        return super().wrap_socket(
            sock, server_side=server_side, do_handshake_on_connect=do_handshake_on_connect,
            suppress_ragged_eofs=suppress_ragged_eofs, server_hostname=name,
            session=session,
        )

    def wrap_bio(
        self, incoming: ssl.MemoryBIO, outgoing: ssl.MemoryBIO, server_side: bool = False,
        server_hostname: Any = None, session: Any = None,
    ) -> ssl.SSLObject:
        """As ``ssl.SSLContext.wrap_bio``, with tlsplug's checks in the handshake."""
        name = self._tlsplug_name(server_side, _text(server_hostname))
        if name is not None and not name.isascii():  # pragma: no cover - normalised: ASCII
            name = self._encode_hostname(name)  # type: ignore[attr-defined]
        # ssl.SSLContext.wrap_bio, inline: the normalised name needs no idna codec again.
        return self.sslobject_class._create(  # type: ignore[attr-defined,no-any-return]
            incoming, outgoing, server_side=server_side, server_hostname=name,
            session=session, context=self,
        )

    def __repr__(self) -> str:
        return f"<StdlibSSLContext {self.tlsplug_options!r}>"


def _text(name: Any) -> Optional[str]:
    return name.decode("ascii") if isinstance(name, bytes) else name


def create_ssl_context(options: TLSOptions) -> StdlibSSLContext:
    """Build the context (files checked as ``create_context`` checks them)."""
    from tlsplug.backend import TLSError

    try:
        materials = load_materials(options)
        ctx = build_ssl_context(options, materials, StdlibSSLContext)
    except TLSError as exc:
        if exc.backend is None:
            exc.backend = BACKEND_NAME
        raise
    assert isinstance(ctx, StdlibSSLContext)
    ctx._tlsplug_arm(options, BACKEND_NAME)
    ctx.tlsplug_materials = materials
    ctx.tlsplug_passed = Passed()
    return ctx
