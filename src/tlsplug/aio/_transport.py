"""The application-side half of :mod:`tlsplug.aio._protocol`: ``TLSTransport``, and the hook.

``TLSTransport`` is the ``asyncio.Transport`` the stream objects talk to; it forwards every
call to the ``TLSProtocol`` that owns the TLS buffer. ``DeferredOCSP`` (the optional hook
of a ``TLSBuffer`` that lets ``tlsplug.aio`` ask OCSP responders off the event loop) is the
contract's, defined in :mod:`tlsplug._protocols` and re-exported here.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Optional

from .._errors import HandshakeError, TLSError
from .._protocols import DeferredOCSP

if TYPE_CHECKING:
    from ._protocol import TLSProtocol

__all__ = ["READ_SIZE", "WRITE_SLICE", "DeferredOCSP", "TLSTransport", "lost_error"]

#: Plaintext bytes asked of ``TLSBuffer.read`` at once: both backends return every buffered
#: record that fits (a record carries at most 16 KiB), so the app gets one ``data_received``
#: per 64 KiB rather than per record.
READ_SIZE = 64 * 1024
#: Plaintext encrypted per ``TLSBuffer.write``; its records reach the socket in one write.
WRITE_SLICE = 256 * 1024


class TLSTransport(asyncio.Transport):
    """The transport the application protocol sees: plaintext in, plaintext out."""

    def __init__(self, tls: TLSProtocol) -> None:
        """Bind to the ``TLSProtocol`` doing the work."""
        super().__init__()
        self._tls = tls

    # -- information ----------------------------------------------------------------------

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """TLS facts (``peercert``, ``cipher``, ``tlsplug``...), else the socket transport's."""
        buf = self._tls.buffer
        if name in ("tlsplug", "ssl_object"):
            # "ssl_object" for code written for asyncio's SSL transport: a duck-typed stand-in
            # (version(), cipher(), getpeercert(), ...), not an ssl.SSLObject.
            return buf
        if name == "peercert":
            return buf.getpeercert()
        if name == "cipher":
            return buf.cipher()
        if name == "compression":
            return None  # the pinned policies never negotiate compression
        if name == "ocsp_status":
            return getattr(buf, "ocsp_status", None)
        if name == "eof_was_clean":
            return self._tls.eof_was_clean
        if name == "sslcontext":
            # Not an ssl.SSLContext; StreamReaderProtocol reads this key to decide how to
            # answer eof_received, and plain-stream semantics (keep open) are what we want.
            return default
        if name in self._tls.extra:
            return self._tls.extra[name]
        raw = self._tls.transport
        return raw.get_extra_info(name, default) if raw is not None else default

    # -- writing --------------------------------------------------------------------------

    def write(self, data: Any) -> None:
        """Encrypt ``data`` (bytes-like) and hand the records to the socket transport."""
        self._tls.app_write(data)

    def writelines(self, list_of_data: Any) -> None:
        """Write the concatenation of the buffers (one encryption pass)."""
        self._tls.app_write(b"".join(list_of_data))

    def can_write_eof(self) -> bool:
        """False: TLS has no half-close (close_notify ends the connection), as in asyncio."""
        return False

    def write_eof(self) -> None:
        """Not supported over TLS (asyncio's SSL transport refuses it too)."""
        raise NotImplementedError("TLS cannot half-close a connection; use close()")

    def get_write_buffer_size(self) -> int:
        """Ciphertext bytes waiting in the socket transport."""
        return self._tls.raw_write_buffer_size()

    def set_write_buffer_limits(
        self, high: Optional[int] = None, low: Optional[int] = None
    ) -> None:
        """Set the socket transport's limits (ciphertext bytes)."""
        self._tls.raw_call("set_write_buffer_limits", high, low)

    def get_write_buffer_limits(self) -> Any:
        """The socket transport's (low, high) write buffer limits."""
        return self._tls.raw_call("get_write_buffer_limits")

    # -- reading --------------------------------------------------------------------------

    def pause_reading(self) -> None:
        """Stop delivering plaintext and stop reading the socket."""
        self._tls.pause_app_reading()

    def resume_reading(self) -> None:
        """Deliver plaintext again."""
        self._tls.resume_app_reading()

    def is_reading(self) -> bool:
        """Whether plaintext is being delivered."""
        return self._tls.app_reading

    # -- closing --------------------------------------------------------------------------

    def close(self) -> None:
        """Queue close_notify, flush, close the socket; ``connection_lost`` follows."""
        self._tls.close()

    def abort(self) -> None:
        """Close the socket at once, dropping buffered data."""
        self._tls.abort()

    def is_closing(self) -> bool:
        """Whether ``close`` or ``abort`` was called or the socket is gone."""
        return self._tls.closing

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        """Replace the application protocol."""
        self._tls.app = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        """The application protocol."""
        return self._tls.app

    def __repr__(self) -> str:
        """The buffer's description."""
        return f"<tlsplug.aio TLSTransport {self._tls.buffer!r}>"


def lost_error(
    exc: Optional[BaseException], state: str, backend: Optional[str]
) -> Optional[BaseException]:
    """A socket error (reset, broken pipe) as the blocking path reports it: connection-closed."""
    if exc is None or isinstance(exc, TLSError) or not isinstance(exc, OSError):
        return exc
    during = "on a TLS connection" if state == "open" else "during the TLS handshake"
    error = HandshakeError(
        f"the connection was lost {during}: {exc.strerror or exc}",
        code="connection-closed", backend=backend)
    error.__cause__ = exc
    return error
