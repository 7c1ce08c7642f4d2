"""The blocking ``TLSSocket``: a pyOpenSSL ``Connection`` over the caller's socket.

pyOpenSSL on a socket with a timeout raises ``WantReadError`` out of ``do_handshake()``
instead of waiting, so a socket with a timeout is switched to non-blocking and every
operation loops on ``WantRead``/``WantWrite``, sleeping in ``poll``/``select`` (never
spinning) until one deadline - the socket's timeout, for the whole operation - passes. A
socket without a timeout stays blocking and OpenSSL waits in ``recv``/``send`` itself, as
plain pyOpenSSL code does: one system call where the loop makes three (failed ``recv``,
``poll``, ``recv``), a measurable share of a loopback handshake (``bench/``). ``send`` may take less
than it was given (pyOpenSSL enables ``SSL_MODE_ENABLE_PARTIAL_WRITE``), so ``sendall``
loops. After the handshake a close_notify, a ragged EOF and a TCP reset all read as ``b""``,
exactly as the stdlib backend reports them.
"""

from __future__ import annotations

import errno
import functools
import select
import socket
import ssl
import time
from typing import Any, Callable, Optional, TypeVar

from OpenSSL import SSL

from tlsplug.backend import (
    SocketCompat,
    TLSError,
    TLSOptions,
    WantReadError,
    WantWriteError,
    closed_socket_error,
    no_flags,
    want_read,
    want_write,
)

from ._checks import finish_handshake
from ._ocsp import outcome, status_of
from ._peer import PeerInfo
from ._resume import Resumption
from ._translate import BACKEND_NAME, _translate_errors, translate
from ._verify import ConnectionState

__all__ = ["PyOpenSSLSocket"]

T = TypeVar("T")

# tlsplug's own errors (and its WantRead/WantWrite) are not native: never translated.
# ssl's SSLWantRead/WriteError: what non-blocking mode raises, as ssl.SSLSocket (_retry).
_PASS_THROUGH = (
    TLSError, WantReadError, WantWriteError, ssl.SSLWantReadError, ssl.SSLWantWriteError
)

# pyOpenSSL refuses more than 2**31-1 bytes per SSL_write; a 1 GiB slice stays well below.
_MAX_WRITE = 1 << 30


def _wait(sock: socket.socket, for_write: bool, deadline: Optional[float]) -> None:
    """Sleep until ``sock`` is readable/writable, or raise ``TimeoutError`` at ``deadline``."""
    if deadline is None:
        timeout: Optional[float] = None
    else:
        timeout = deadline - time.monotonic()
        if timeout <= 0:
            raise TimeoutError("the operation timed out")
    fd = sock.fileno()
    if fd < 0:
        raise OSError("the socket is closed")
    if hasattr(select, "poll"):  # no descriptor limit, no extra fd (unlike epoll)
        poller = select.poll()
        poller.register(fd, select.POLLOUT if for_write else select.POLLIN)
        ready = poller.poll(None if timeout is None else max(0, int(timeout * 1000) + 1))
    else:  # pragma: no cover - Windows
        r, w, _ = select.select(
            [] if for_write else [fd], [fd] if for_write else [], [], timeout
        )
        ready = r or w  # type: ignore[assignment]
    if not ready:
        raise TimeoutError("the operation timed out")


class PyOpenSSLSocket(PeerInfo, SocketCompat):
    """A connected, verified TLS client socket (blocking, with the socket's timeout)."""

    backend_name = BACKEND_NAME
    # A pool holds many idle sockets: no per-instance __dict__ (docs/howto/pools.md).
    # _io_refs/_close_deferred: the makefile() bookkeeping of the socket-compatibility mixin.
    __slots__ = (
        "_close_deferred", "_closed", "_conn", "_eof_clean", "_io_refs", "_options", "_resume",
        "_sock", "_state", "_timeout", "_verified", "server_hostname",
    )

    @property
    def eof_was_clean(self) -> Optional[bool]:
        """True after the peer's close_notify; False after a close without it or a reset."""
        return self._eof_clean

    def __init__(
        self,
        conn: SSL.Connection,
        state: ConnectionState,
        sock: socket.socket,
        options: TLSOptions,
        resume: Optional[Resumption] = None,
    ) -> None:
        """Take over ``sock`` (made non-blocking; its timeout is kept here)."""
        self._resume = resume
        self._conn = conn
        self._state = state
        self._sock = sock
        self._options = options
        self._verified = options.verify_certificates
        self._timeout = sock.gettimeout()
        self._closed = False
        #: How the stream ended: True (close_notify), False (ragged EOF, reset), None (not yet).
        self._eof_clean: Optional[bool] = None
        self.server_hostname = state.server_hostname
        if self._timeout is not None:
            sock.setblocking(False)  # the deadline loop; without a timeout OpenSSL just waits

    @classmethod
    def handshake(
        cls,
        conn: SSL.Connection,
        state: ConnectionState,
        sock: socket.socket,
        options: TLSOptions,
        resume: Optional[Resumption] = None,
    ) -> PyOpenSSLSocket:
        """Wrap, handshake and check; on failure close the socket (as ``ssl`` does)."""
        self = cls(conn, state, sock, options, resume)
        try:
            try:
                if self._timeout is None:
                    conn.do_handshake()  # a blocking socket: OpenSSL waits itself
                else:
                    self._retry(conn.do_handshake, self._deadline())
                finish_handshake(conn, state, options)
                if state.ocsp is not None:  # responders, blocking up to ocsp_timeout
                    state.ocsp.finish_sync(conn)
                    state.ocsp = outcome(state.ocsp)  # decided: one shared object per verdict
            except _PASS_THROUGH:
                raise
            except Exception as exc:  # the choke point, inline as in the data methods
                raise translate(exc, state, conn, "handshake") from exc
            if resume is not None:
                resume.handshake_done(conn)
        except BaseException:
            self._abort()
            raise
        return self

    # -- the I/O loop ---------------------------------------------------------------------

    def _deadline(self) -> Optional[float]:
        return None if self._timeout is None else time.monotonic() + self._timeout

    def _retry(self, operation: Callable[[], T], deadline: Optional[float]) -> T:
        while True:
            try:
                return operation()
            except SSL.WantReadError:
                if self._timeout == 0.0:  # non-blocking mode: ssl's signal (_sockcompat.py)
                    raise want_read() from None
                _wait(self._sock, False, deadline)
            except SSL.WantWriteError:
                if self._timeout == 0.0:
                    raise want_write() from None
                _wait(self._sock, True, deadline)

    def _check_open(self) -> None:
        if self._closed:
            raise closed_socket_error(BACKEND_NAME)

    # -- data -----------------------------------------------------------------------------

    def send(self, data: bytes, flags: int = 0) -> int:
        """Send some of ``data``; return how many bytes were taken."""
        if flags:
            no_flags("send", flags)
        self._check_open()
        view = memoryview(data).cast("B")[:_MAX_WRITE]
        if not view:
            return 0
        with _translate_errors(self._state, self._conn, "write"):
            return self._retry(lambda: self._conn.send(view), self._deadline())

    # The data methods catch and translate inline rather than through the
    # ``_translate_errors`` context manager (~2 µs per call, a measurable share of a small
    # request/response); the translation itself is the same ``translate``.

    def sendall(self, data: bytes, flags: int = 0) -> None:
        """Send all of ``data`` within one deadline, looping over partial writes."""
        if flags:
            no_flags("sendall", flags)
        self._check_open()
        try:
            if self._timeout is None:
                # A blocking socket: OpenSSL waits in send() and, partial writes being off,
                # writes everything in one SSL_write per 2 GiB.
                self._conn.sendall(data)
                return
            view = memoryview(data).cast("B")
            deadline = self._deadline()
            sent = 0
            while sent < len(view):
                # After WantWrite OpenSSL needs the same bytes again: ``sent`` only moves on
                # success, and SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER allows a new view object.
                chunk = view[sent : sent + _MAX_WRITE]
                sent += self._retry(functools.partial(self._conn.send, chunk), deadline)
        except _PASS_THROUGH:
            raise
        except Exception as exc:
            raise translate(exc, self._state, self._conn, "write") from exc

    def recv(self, bufsize: int = 1024, flags: int = 0) -> bytes:
        """Up to ``bufsize`` bytes; ``b""`` after close_notify or a ragged EOF."""
        if flags:
            no_flags("recv", flags)
        self._check_open()
        if bufsize <= 0:
            return b""
        try:
            if self._timeout is None:
                return self._conn.recv(bufsize)
            return self._retry(lambda: self._conn.recv(bufsize), self._deadline())
        except SSL.ZeroReturnError:
            self._eof_clean = True
            return b""
        except SSL.SysCallError as exc:
            if _is_eof(exc):
                self._eof_clean = False
                return b""  # ragged EOF after the handshake: same as the stdlib backend
            raise translate(exc, self._state, self._conn, "read") from exc
        except _PASS_THROUGH:
            raise
        except Exception as exc:
            raise translate(exc, self._state, self._conn, "read") from exc

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        """Read into ``buffer``; return the count (0 at EOF)."""
        if flags:
            no_flags("recv_into", flags)
        self._check_open()
        view = memoryview(buffer)  # TypeError for a non-buffer, as socket.recv_into
        if view.readonly:
            raise TypeError("recv_into() needs a writable buffer, not a read-only one")
        size = nbytes or view.nbytes
        if size <= 0:
            return 0
        try:
            if self._timeout is None:
                return _read_into(self._conn, buffer, size)
            return self._retry(lambda: _read_into(self._conn, buffer, size), self._deadline())
        except SSL.ZeroReturnError:
            self._eof_clean = True
            return 0
        except SSL.SysCallError as exc:
            if _is_eof(exc):
                self._eof_clean = False
                return 0
            raise translate(exc, self._state, self._conn, "read") from exc
        except _PASS_THROUGH:
            raise
        except Exception as exc:
            raise translate(exc, self._state, self._conn, "read") from exc

    # -- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        """Send close_notify when the socket can take it, then close (idempotent).

        ``SSL_free`` drops the session from the cache and marks it not resumable unless
        ``SSL_SENT_SHUTDOWN`` is set (ssl/ssl_lib.c ``ssl_clear_bad_session``), so the flag
        is set even when close_notify could not be written.
        """
        if self._closed or self._defer_close():  # makefile() objects still open
            return
        self._closed = True
        sent = False
        try:
            if self._state.handshake_done:
                # Closing never waits for the peer: no blocking read for tickets, no
                # close_notify stuck behind a full send buffer.
                if self._timeout is None:
                    self._sock.setblocking(False)  # our own, still open socket
                if self._resume is not None:
                    # At close, not after the handshake: TLS 1.3 tickets come later.
                    self._resume.remember(self._conn)
                try:
                    self._conn.shutdown()  # non-blocking: writes close_notify or gives up
                    sent = True  # SSL_shutdown set SSL_SENT_SHUTDOWN itself
                except (SSL.Error, OSError):
                    pass
        finally:
            self._abort(shutdown_sent=sent)

    def _abort(self, shutdown_sent: bool = False) -> None:
        self._closed = True
        try:
            if self._state.handshake_done and not shutdown_sent:
                self._conn.set_shutdown(self._conn.get_shutdown() | SSL.SENT_SHUTDOWN)
        except (SSL.Error, OSError):  # pragma: no cover - defensive
            pass
        self._sock.close()

    def __enter__(self) -> PyOpenSSLSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else (self.version() or "handshaking")
        return f"<PyOpenSSLSocket {self.server_hostname!r} {state}>"

    # -- socket-like ----------------------------------------------------------------------

    def fileno(self) -> int:
        """The underlying socket's file descriptor."""
        return self._sock.fileno()

    def settimeout(self, timeout: Optional[float]) -> None:
        """Set the timeout of later operations (the socket itself stays non-blocking)."""
        if timeout is not None and timeout < 0:
            raise ValueError("timeout must be non-negative or None")
        self._timeout = timeout
        if not self._closed:
            self._sock.setblocking(timeout is None)  # see the module docstring

    def gettimeout(self) -> Optional[float]:
        """The timeout of each operation, as given to the socket."""
        return self._timeout

    def getpeername(self) -> Any:
        """The remote address."""
        return self._sock.getpeername()

    def getsockname(self) -> Any:
        """The local address."""
        return self._sock.getsockname()

    @property
    def socket(self) -> socket.socket:
        """The underlying socket (do not read or write it directly)."""
        return self._sock

    @property
    def ocsp_status(self) -> Optional[str]:
        """What OCSP concluded: ``tlsplug.ocsp.status_text`` ("good (staple)", "off", ...)."""
        return status_of(self._state.ocsp, self._options, self._state.handshake_done)

    @property
    def connection(self) -> SSL.Connection:
        """The native pyOpenSSL ``Connection`` (escape hatch; do not do I/O on it)."""
        return self._conn

    # -- ssl.SSLSocket compatibility (drivers; the rest is in SocketCompat) ---------------

    def pending(self) -> int:
        """Decrypted bytes ready to read without touching the socket (select cannot see them)."""
        return int(self._conn.pending())


try:  # pyOpenSSL's bindings: SSL_read straight into the caller's buffer
    from OpenSSL._util import ffi as _ffi
    from OpenSSL._util import lib as _lib

    _DIRECT_READ = hasattr(_lib, "SSL_read") and hasattr(SSL.Connection, "_raise_ssl_error")
except ImportError:  # pragma: no cover
    _DIRECT_READ = False


def _read_into(conn: SSL.Connection, buffer: Any, size: int) -> int:
    """``conn.recv_into(buffer, size)`` without its temporary buffer and copy.

    pyOpenSSL reads into a fresh C buffer of ``size`` bytes and copies the result over
    (SSL.py: "it would be better if we could pass memoryviews straight into the SSL_read
    call"); cffi's ``from_buffer(require_writable=True)`` can, which matters for downloads
    into a large buffer: one allocation and one copy less per 16 KiB record.
    """
    if not _DIRECT_READ:  # pragma: no cover
        return conn.recv_into(buffer, size)
    try:
        target = _ffi.from_buffer(buffer, require_writable=True)
    except (TypeError, BufferError):  # e.g. not contiguous: pyOpenSSL's own way
        return conn.recv_into(buffer, size)
    with target:
        result = _lib.SSL_read(conn._ssl, target, min(size, len(target)))
        conn._raise_ssl_error(conn._ssl, result)  # WantRead, ZeroReturn, SysCall... as recv_into
    return int(result)


def _is_eof(exc: SSL.SysCallError) -> bool:
    # pyOpenSSL turns OpenSSL 3's SSL_R_UNEXPECTED_EOF_WHILE_READING into (-1, 'Unexpected EOF').
    # A TCP reset after the handshake ends the stream too: Python 3.11's ssl cannot tell it
    # from a ragged EOF, so the stdlib backend reads both as b"" (see its _socket.py).
    return bool(exc.args) and exc.args[0] in (-1, 0, errno.ECONNRESET)
