"""``StdlibContext``: a ``ClientContext`` over one pinned ``ssl.SSLContext``.

The ``ssl.SSLContext`` is built once and never modified afterwards, so one context can be
shared by any number of threads (OpenSSL's ``SSL_CTX`` is thread-safe for ``SSL_new``).
"""

from __future__ import annotations

import socket
import ssl
from typing import Callable, Optional, Tuple

from tlsplug.backend import (
    ConfigurationError,
    Materials,
    SessionStore,
    TLSOptions,
    codes,
    server_identity,
    session_key,
)

from ._after import Passed, check_after_handshake
from ._buffer import StdlibTLSBuffer
from ._checks import strict_verify_error
from ._ocsp import StdlibOCSP, outcome
from ._resume import Resumption
from ._socket import StdlibTLSSocket
from ._translate import BACKEND_NAME, translate

__all__ = ["StdlibContext"]


def _reraise(
    exc: Exception, negotiated: Optional[Callable[[], bool]], options: TLSOptions
) -> None:
    """Raise the ``TLSError`` for a handshake failure; return when ``exc`` has none."""
    error = translate(exc, handshake=True, negotiated=negotiated, options=options)
    if error is not None:
        raise error from exc


class StdlibContext:
    """Options turned into a pinned ``ssl.SSLContext``; thread-safe."""

    backend_name = BACKEND_NAME
    #: The parsed files (trust anchors, CRLs for the chain's CA certificates; the backend
    #: sets them).
    materials: Optional[Materials] = None

    def __init__(self, options: TLSOptions, ssl_context: ssl.SSLContext) -> None:
        """Use ``build_ssl_context`` through the backend rather than calling this."""
        self.options = options
        self._ctx = ssl_context
        # Sessions are per context: never offered by a context with other options.
        self._sessions = SessionStore() if options.session_resumption else None
        # The (verified chain, host) pairs that passed the pure checks (_after.py).
        self._passed = Passed()

    @property
    def ssl_context(self) -> ssl.SSLContext:
        """The native context (for inspection; changing it voids the pinned policy)."""
        return self._ctx

    def _names(self, server_hostname: Optional[str]) -> Tuple[Optional[str], Optional[str]]:
        """(name for ssl: SNI and OpenSSL's check, host to match after the handshake)."""
        if server_hostname is None:
            if self.options.verify_hostname:
                raise ConfigurationError(
                    "server_hostname is required while hostnames are verified",
                    code=codes.INVALID_OPTION, option="server_hostname", backend=BACKEND_NAME,
                    hint="Pass the host you dialled, or set tlsAllowInvalidHostnames=true.",
                )
            return None, None
        # The one identity rule (docs/design.md, Identity): refused names never reach ssl.
        identity = server_identity(server_hostname, backend=BACKEND_NAME)
        # Python sends no SNI for an IP literal (RFC 6066 §3) and checks it against IP SANs.
        name = identity.name
        # The core matcher decides in every mode (_checks.py), after OpenSSL's own check.
        post = name if self.options.verify_hostname else None
        return name, post

    def wrap_socket(
        self, sock: socket.socket, server_hostname: Optional[str] = None
    ) -> StdlibTLSSocket:
        """Handshake over a connected blocking socket (its timeout applies) and check it all."""
        if sock.gettimeout() == 0.0:
            raise ValueError("wrap_socket needs a blocking socket; use wrap_buffers instead")
        name, post_check = self._names(server_hostname)
        resume = (
            Resumption(self._sessions, session_key(sock, name))
            if self._sessions is not None else None
        )
        try:
            tls = self._ctx.wrap_socket(
                sock, server_hostname=name, do_handshake_on_connect=False,
                suppress_ragged_eofs=True, session=resume.offer() if resume else None,
            )
        except Exception as exc:  # translate_errors, inline: this runs per connection
            _reraise(exc, None, self.options)
            raise
        try:
            try:
                tls.do_handshake()
            except Exception as exc:
                refusal = strict_verify_error(exc, tls, self.materials)
                if refusal is not None:  # which certificate broke which strict rule
                    raise refusal from exc
                _reraise(exc, lambda: tls.cipher() is not None, self.options)
                raise
            tracker = self._after_handshake(tls, post_check)
        except BaseException:
            tls.close()
            raise
        wrapped = StdlibTLSSocket(tls, server_hostname, resume)
        wrapped._ocsp = outcome(tracker)  # decided: one shared object per verdict
        wrapped._options = self.options
        return wrapped

    def _after_handshake(self, tls: ssl.SSLSocket, post_check: Optional[str]) -> StdlibOCSP:
        """Every check after a blocking handshake; the connection's OCSP step (bench/hotpath.py)."""
        tracker = StdlibOCSP(self.options)
        # _after.py: the lint, limits, CRLs, host, must-staple; remembered per chain and host.
        check_after_handshake(tls, self.options, self.materials, post_check, tracker, self._passed)
        tracker.finish_sync()  # responders within ocsp_timeout (the cache first)
        return tracker

    def wrap_buffers(self, server_hostname: Optional[str] = None) -> StdlibTLSBuffer:
        """A sans-IO connection with the same checks as ``wrap_socket``."""
        name, post_check = self._names(server_hostname)
        buffer = StdlibTLSBuffer(self._ctx, server_hostname, name, post_check)
        buffer._ocsp = StdlibOCSP(self.options)  # the post-handshake OCSP step (_ocsp.py)
        buffer._lint_options = self.options
        buffer._materials = self.materials
        buffer._passed = self._passed
        return buffer

    def __repr__(self) -> str:
        """The options, password masked."""
        return f"<StdlibContext {self.options!r}>"
