"""``StdlibTLSSocket``: an ``ssl.SSLSocket`` behind the ``TLSSocket`` contract.

Every I/O call runs through the translation choke point, so callers see ``TLSError`` codes
(``HandshakeError`` is also an ``OSError``) rather than native ``ssl`` exceptions.

End of stream: ``recv`` returns ``b""`` both after the peer's close_notify and when the peer
closes TCP without one (a "ragged EOF", ``suppress_ragged_eofs=True`` semantics). Many
servers, MongoDB among them, close without close_notify, and the protocols drivers speak
frame their own messages, so truncation is detected one layer up. Every backend does the
same. A TCP reset (RST) after the handshake reads as ``b""`` too: Python 3.11's ``ssl``
reports it as the same ``SSLEOFError`` as a ragged EOF while 3.9 and 3.13 raise
``ConnectionResetError``, so only this rule holds on every interpreter and backend.
A ragged EOF or a reset *during the handshake* is an error (``connection-closed``).
``eof_was_clean`` tells a driver which end it read: True after close_notify, False after a
ragged EOF or a reset, None before the end of the stream (docs/design.md, Identity and EOF).
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import sys
from typing import TYPE_CHECKING, Any, List, Optional, Tuple

from tlsplug.backend import SocketCompat, no_flags

from ._chains import unverified_chain
from ._ocsp import OCSPOutcome
from ._translate import BACKEND_NAME, is_end_of_stream, translate

if TYPE_CHECKING:
    from tlsplug.backend import TLSOptions

    from ._resume import Resumption

__all__ = ["StdlibTLSSocket"]


def _raise_translated(exc: Exception, options: Optional[TLSOptions] = None) -> None:
    """Raise the ``TLSError`` for ``exc`` (after the handshake); return if it has none."""
    if isinstance(exc, (ssl.SSLWantReadError, ssl.SSLWantWriteError)):
        return  # non-blocking mode: ssl's own signal, unchanged (_sockcompat.py)
    error = translate(exc, handshake=False, options=options)
    if error is not None:
        raise error from exc


class StdlibTLSSocket(SocketCompat):
    """A connected, verified TLS client socket of the stdlib backend."""

    backend_name = BACKEND_NAME
    # A pool holds many idle sockets: no per-instance __dict__ (docs/howto/pools.md).
    # _io_refs/_close_deferred: the makefile() bookkeeping of the socket-compatibility mixin.
    __slots__ = (
        "_close_deferred", "_closed", "_eof_clean", "_io_refs", "_ocsp", "_options", "_resume",
        "_sock", "server_hostname",
    )

    @property
    def eof_was_clean(self) -> Optional[bool]:
        """True after the peer's close_notify; False after a close without it or a reset."""
        return self._eof_clean

    def __init__(
        self,
        sock: ssl.SSLSocket,
        server_hostname: Optional[str],
        resume: Optional[Resumption] = None,
    ) -> None:
        """Wrap an ``ssl.SSLSocket`` whose handshake and checks already succeeded."""
        self._sock = sock
        self.server_hostname = server_hostname
        self._closed = False
        self._resume = resume
        #: The connection's decided OCSP step (set by the context after the handshake).
        self._ocsp: Optional[OCSPOutcome] = None
        #: The context's options (set by the context), so hints can say what was set.
        self._options: Optional[TLSOptions] = None
        #: How the stream ended: True (close_notify), False (ragged EOF, reset), None (not yet).
        self._eof_clean: Optional[bool] = None

    # -- data -------------------------------------------------------------------------

    # The data methods inline what ``translate_errors`` does: a generator-based context
    # manager costs ~2 µs per call, 3% of a 64 KiB sendall (bench/). Same choke point:
    # every exception still goes through ``translate``.

    def sendall(self, data: bytes, flags: int = 0) -> None:
        """Send all of ``data`` or raise a ``HandshakeError``."""
        if flags:
            no_flags("sendall", flags)
        try:
            sslobj = getattr(self._sock, "_sslobj", None)  # private: absent -> public path
            if sslobj is None:  # closed: let ssl raise what it raises
                self._sock.sendall(data)
                return
            # SSLSocket.sendall's loop without its send() and _checkClosed() frames per
            # record (ssl enables partial writes: one SSL_write per 16 KiB record); the
            # timeout is the socket's, applied by _ssl's write() itself, as for send().
            with memoryview(data) as view, view.cast("B") as octets:
                total = len(octets)
                sent = sslobj.write(octets)
                while sent < total:
                    sent += sslobj.write(octets[sent:])
        except Exception as exc:
            _raise_translated(exc, self._options)
            raise

    def send(self, data: bytes, flags: int = 0) -> int:
        """Send some of ``data``; return how many bytes were taken."""
        if flags:
            no_flags("send", flags)
        try:
            return self._sock.send(data)
        except Exception as exc:
            _raise_translated(exc, self._options)
            raise

    def recv(self, bufsize: int = 1024, flags: int = 0) -> bytes:
        """Up to ``bufsize`` bytes; ``b""`` at the end of the stream (close_notify or EOF)."""
        if flags:
            no_flags("recv", flags)
        try:
            sslobj = getattr(self._sock, "_sslobj", None)
            if sslobj is None or bufsize <= 0:
                return self._sock.recv(bufsize)
            # _ssl's read returns b"" only after close_notify and raises SSLEOFError on a
            # ragged EOF (SSLSocket.read would hide the difference: suppress_ragged_eofs).
            data: bytes = sslobj.read(bufsize)
            if not data:
                self._eof_clean = True
            return data
        except ssl.SSLError as exc:
            if is_end_of_stream(exc):
                self._eof_clean = isinstance(exc, ssl.SSLZeroReturnError)
                return b""
            _raise_translated(exc, self._options)
            raise
        except ConnectionResetError:
            self._eof_clean = False
            return b""  # as a ragged EOF: see the module docstring
        except Exception as exc:
            _raise_translated(exc, self._options)
            raise

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        """Read into ``buffer``; return the count (0 at the end of the stream)."""
        if flags:
            no_flags("recv_into", flags)
        try:
            sslobj = getattr(self._sock, "_sslobj", None)
            if sslobj is not None and not nbytes:
                with memoryview(buffer) as view:
                    nbytes = view.nbytes  # as SSLSocket.recv_into: the whole buffer
            if sslobj is None or not nbytes:
                return self._sock.recv_into(buffer, nbytes)
            # SSLSocket.recv_into -> read -> _sslobj.read, without the two Python frames
            # (a ragged EOF is handled below, as suppress_ragged_eofs would).
            count = int(sslobj.read(nbytes, buffer))
            if not count:
                self._eof_clean = True  # _ssl returns 0 only after close_notify
            return count
        except ssl.SSLError as exc:
            if is_end_of_stream(exc):
                self._eof_clean = isinstance(exc, ssl.SSLZeroReturnError)
                return 0
            _raise_translated(exc, self._options)
            raise
        except ConnectionResetError:
            self._eof_clean = False
            return 0  # as a ragged EOF: see the module docstring
        except Exception as exc:
            _raise_translated(exc, self._options)
            raise

    def close(self) -> None:
        """Send close_notify when the connection allows it, then close; idempotent."""
        if self._closed or self._defer_close():  # makefile() objects still open
            return
        self._closed = True
        sock = self._sock
        try:
            # One non-blocking SSL_shutdown queues and flushes our close_notify without
            # waiting for the peer's (RFC 8446 §6.1 allows closing after sending it).
            sock.setblocking(False)
            if self._resume is not None:
                # At close, not after the handshake: TLS 1.3 tickets come later.
                self._resume.remember(sock)
            with contextlib.suppress(Exception):
                sock.unwrap()  # raises SSLWantReadError once close_notify is sent
        except OSError:
            pass
        finally:
            sock.close()

    # -- introspection --------------------------------------------------------------

    def version(self) -> Optional[str]:
        """The negotiated protocol, e.g. ``"TLSv1.3"``."""
        return self._sock.version()

    def cipher(self) -> Optional[Tuple[str, str, int]]:
        """(name, protocol, secret bits) of the negotiated cipher."""
        return self._sock.cipher()

    def getpeercert(self, binary_form: bool = False) -> Any:
        """The leaf: DER when ``binary_form``, else the ``ssl`` dict (empty if unverified)."""
        return self._sock.getpeercert(binary_form)

    def selected_alpn_protocol(self) -> Optional[str]:
        """The ALPN protocol the server chose (``alpn_protocols``), or None."""
        return self._sock.selected_alpn_protocol()

    def peer_chain(self) -> List[bytes]:
        """The chain the peer sent, leaf first, DER (only the leaf on Python 3.9)."""
        return unverified_chain(self._sock, self._sock.getpeercert(True))

    def fileno(self) -> int:
        """The underlying socket's file descriptor (-1 once closed)."""
        return self._sock.fileno()

    def settimeout(self, timeout: Optional[float]) -> None:
        """Set the socket timeout used by later operations."""
        self._sock.settimeout(timeout)

    def gettimeout(self) -> Optional[float]:
        """The socket timeout."""
        return self._sock.gettimeout()

    def getpeername(self) -> Any:
        """The remote address."""
        return self._sock.getpeername()

    def getsockname(self) -> Any:
        """The local address."""
        return self._sock.getsockname()

    @property
    def socket(self) -> socket.socket:
        """The native ``ssl.SSLSocket`` (escape hatch; errors from it are not translated)."""
        return self._sock

    @property
    def session_reused(self) -> bool:
        """Whether the handshake resumed an earlier session."""
        return bool(self._sock.session_reused)

    @property
    def ocsp_status(self) -> Optional[str]:
        """What the responder check concluded (``tlsplug.ocsp.status_text``; "off" when off).

        Python's ssl cannot see stapled responses; see ``_ocsp.py``.
        """
        return self._ocsp.status if self._ocsp is not None else None

    # -- ssl.SSLSocket compatibility (drivers; the rest is in SocketCompat) ----------

    def pending(self) -> int:
        """Decrypted bytes ready to read without touching the socket (select cannot see them)."""
        return self._sock.pending()

    def __enter__(self) -> StdlibTLSSocket:
        """Return self."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the connection."""
        self.close()

    def __repr__(self) -> str:
        """Name, peer and protocol, for logs."""
        state = "closed" if self._closed else (self.version() or "?")
        return f"<StdlibTLSSocket {self.server_hostname!r} {state}>"


if sys.version_info < (3, 10):  # pragma: no cover - documented limitation
    StdlibTLSSocket.peer_chain.__doc__ = "The peer's leaf only: Python 3.9 cannot see the chain."
