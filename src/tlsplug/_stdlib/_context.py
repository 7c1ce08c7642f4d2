"""``StdlibContext``: a ``ClientContext`` over one pinned ``ssl.SSLContext``.

The ``ssl.SSLContext`` is built once and never modified afterwards, so one context can be
shared by any number of threads (OpenSSL's ``SSL_CTX`` is thread-safe for ``SSL_new``).
"""

from __future__ import annotations

import socket
import ssl
from typing import Optional, Tuple

from tlsplug.backend import ConfigurationError, TLSOptions, normalize_hostname

from ._buffer import StdlibTLSBuffer
from ._hostcheck import check_hostname_after_handshake
from ._socket import StdlibTLSSocket
from ._translate import BACKEND_NAME, translate_errors

__all__ = ["StdlibContext"]


class StdlibContext:
    """Options turned into a pinned ``ssl.SSLContext``; thread-safe."""

    backend_name = BACKEND_NAME

    def __init__(self, options: TLSOptions, ssl_context: ssl.SSLContext) -> None:
        """Use ``build_ssl_context`` through the backend rather than calling this."""
        self.options = options
        self._ctx = ssl_context

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
                    code="invalid-option", option="server_hostname", backend=BACKEND_NAME,
                    hint="Pass the host you dialled, or set tlsAllowInvalidHostnames=true.",
                )
            return None, None
        name, ip = normalize_hostname(server_hostname)
        try:
            # What ssl does with the name; a label over 63 octets fails here, not mid-handshake.
            valid = bool(name) and (ip is not None or bool(name.encode("idna")))
        except UnicodeError:
            valid = False
        if not valid:
            raise ConfigurationError(
                f"server_hostname {server_hostname!r} is not a valid host name or IP address",
                code="invalid-option", option="server_hostname", backend=BACKEND_NAME,
            )
        # Python sends no SNI for an IP literal (RFC 6066 §3) and checks it against IP SANs.
        post = name if (self.options.verify_hostname and not self._ctx.check_hostname) else None
        return name, post

    def wrap_socket(
        self, sock: socket.socket, server_hostname: Optional[str] = None
    ) -> StdlibTLSSocket:
        """Handshake over a connected blocking socket (its timeout applies) and check it all."""
        if sock.gettimeout() == 0.0:
            raise ValueError("wrap_socket needs a blocking socket; use wrap_buffers instead")
        name, post_check = self._names(server_hostname)
        with translate_errors(handshake=True):
            tls = self._ctx.wrap_socket(
                sock, server_hostname=name, do_handshake_on_connect=False,
                suppress_ragged_eofs=True,
            )
        try:
            with translate_errors(handshake=True, negotiated=lambda: tls.cipher() is not None):
                tls.do_handshake()
            if post_check is not None:
                check_hostname_after_handshake(tls.getpeercert(True), post_check)
        except BaseException:
            tls.close()
            raise
        return StdlibTLSSocket(tls, server_hostname)

    def wrap_buffers(self, server_hostname: Optional[str] = None) -> StdlibTLSBuffer:
        """A sans-IO connection with the same checks as ``wrap_socket``."""
        name, post_check = self._names(server_hostname)
        return StdlibTLSBuffer(self._ctx, server_hostname, name, post_check)

    def __repr__(self) -> str:
        """The options, password masked."""
        return f"<StdlibContext {self.options!r}>"
