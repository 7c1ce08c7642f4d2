"""The ``ssl.SSLSocket`` surface drivers call beyond send/recv, shared by every backend's socket.

Drivers written for ``ssl`` (pg8000, PyMySQL-style clients, websocket clients) take the object
``wrap_socket`` returns and use it as an ``ssl.SSLSocket``: ``makefile("rwb")``,
``setblocking(False)`` with ``select``/``selectors``, ``shutdown``, ``family``. A backend's
socket class inherits :class:`SocketCompat` and supplies the data methods (``recv_into``,
``send``, ...); this module supplies the rest with the semantics of ``socket.socket`` and
``ssl.SSLSocket`` (CPython Lib/socket.py, Lib/ssl.py):

- ``makefile`` returns the same objects as ``socket.socket.makefile`` (a raw
  :class:`TLSSocketIO`, a ``BufferedReader``/``Writer``/``RWPair`` or a ``TextIOWrapper``),
  and ``close()`` of the socket while files are open is deferred until the last one is
  closed, as ``socket.socket``'s ``_io_refs`` does.
- In non-blocking mode (``setblocking(False)``, ``settimeout(0)``) an operation that cannot
  proceed raises exactly ``ssl.SSLWantReadError``/``ssl.SSLWantWriteError``, as
  ``SSLSocket`` does - not a subclass: redis-py looks the class up in a dict
  (``NONBLOCKING_EXCEPTION_ERROR_NUMBERS.get(ex.__class__)`` in redis/_parsers/socket.py),
  so a subclass would turn "no data yet" into a broken connection. As with ``SSLSocket``,
  select may say "not readable" while decrypted bytes wait: ask ``pending()``.
- ``recv``/``recv_into``/``send``/``sendall`` take ssl's ``flags`` argument and refuse a
  non-zero one with ``ValueError``, as ``SSLSocket`` does (redis-py probes ``MSG_PEEK`` and
  expects exactly that).
- ``shutdown(how)`` half-closes TCP without sending close_notify, as ``SSLSocket.shutdown``
  does; unlike ``SSLSocket`` (which then drops its TLS object and hands out raw records) the
  TLS layer stays, so what the peer still sends after ``SHUT_WR`` is decrypted.
- No ``detach()``: the file descriptor alone cannot continue a TLS stream (the keys and
  sequence numbers stay in the TLS library), so handing it out would only invite plaintext
  writes into an encrypted connection.
"""

from __future__ import annotations

import io
import socket as _socket
import ssl
from typing import TYPE_CHECKING, Any, Optional, Union, cast

from ._codes import TIMEOUT
from ._errors import TLSError

__all__ = ["SocketCompat", "TLSSocketIO", "no_flags", "want_read", "want_write"]


def want_read() -> ssl.SSLWantReadError:
    """The error a non-blocking operation that needs the peer's bytes raises (as ssl's)."""
    # errno and text as _ssl.c's: SSL_ERROR_WANT_READ, "The operation did not complete (read)".
    return ssl.SSLWantReadError(ssl.SSL_ERROR_WANT_READ, "The operation did not complete (read)")


def want_write() -> ssl.SSLWantWriteError:
    """The error a non-blocking operation that must wait for the send buffer raises."""
    return ssl.SSLWantWriteError(
        ssl.SSL_ERROR_WANT_WRITE, "The operation did not complete (write)"
    )


def no_flags(method: str, flags: int) -> None:
    """``ValueError`` for non-zero ``flags``, worded as ``ssl.SSLSocket``'s."""
    raise ValueError(f"non-zero flags not allowed in calls to {method}() on TLS sockets ({flags})")


class TLSSocketIO(io.RawIOBase):
    """Raw I/O over a TLS socket, as ``socket.SocketIO`` is over a plain one (Lib/socket.py).

    ``readinto`` is the socket's ``recv_into`` and ``write`` its ``send``; closing the file
    releases the socket's reference (see :meth:`SocketCompat.makefile`).
    """

    def __init__(self, sock: SocketCompat, mode: str) -> None:
        """Wrap ``sock`` for ``mode`` ("r", "w", "rw", with or without "b")."""
        if mode not in ("r", "w", "rw", "rb", "wb", "rwb"):
            raise ValueError(f"invalid mode: {mode!r}")
        super().__init__()
        self._sock: Optional[SocketCompat] = sock
        self._mode = mode if "b" in mode else mode + "b"
        self._reading = "r" in mode
        self._writing = "w" in mode
        self._timeout_occurred = False

    def _open_sock(self) -> SocketCompat:
        if self.closed or self._sock is None:
            raise ValueError("I/O operation on closed file.")
        return self._sock

    def readinto(self, b: Any) -> Optional[int]:
        """Read into ``b``; 0 at the end of the stream."""
        sock = self._open_sock()
        if not self._reading:
            raise io.UnsupportedOperation("File not open for reading")
        if self._timeout_occurred:
            # socket.SocketIO's rule: a buffered reader may hold a partial message by now.
            raise OSError("cannot read from timed out object")
        try:
            return sock.recv_into(b)
        except TLSError as exc:
            if exc.code == TIMEOUT:
                self._timeout_occurred = True
            raise

    def write(self, b: Any) -> Optional[int]:
        """Send some of ``b``; return how many bytes were taken."""
        sock = self._open_sock()
        if not self._writing:
            raise io.UnsupportedOperation("File not open for writing")
        return sock.send(b)

    def readable(self) -> bool:
        """Whether the file was opened for reading."""
        self._open_sock()
        return self._reading

    def writable(self) -> bool:
        """Whether the file was opened for writing."""
        self._open_sock()
        return self._writing

    def seekable(self) -> bool:
        """Never: a socket is a stream."""
        self._open_sock()
        return False

    def fileno(self) -> int:
        """The socket's file descriptor."""
        return self._open_sock().fileno()

    @property
    def name(self) -> int:
        """The file descriptor, or -1 once closed (as ``socket.SocketIO``)."""
        return self.fileno() if not self.closed else -1

    @property
    def mode(self) -> str:
        """The mode, with "b"."""
        return self._mode

    def close(self) -> None:
        """Close the file and release the socket's reference; the socket stays open."""
        if self.closed:
            return
        super().close()
        sock, self._sock = self._sock, None
        if sock is not None:
            sock._decref_socketios()


class SocketCompat:
    """Mixin: the backend-neutral part of the ``ssl.SSLSocket`` surface.

    The class using it exposes the underlying ``socket.socket`` as ``socket``, implements the
    data methods, ``settimeout``/``gettimeout``, ``fileno`` and ``close``, and starts its
    ``close()`` with ``if self._defer_close(): return``.
    """

    # No state of its own: ``_io_refs`` (open makefile() objects) and ``_close_deferred``
    # live on the instance, read with getattr defaults and written with setattr, so a
    # subclass with __slots__ only has to list the two names (no __init__ change).
    __slots__ = ()

    if TYPE_CHECKING:

        @property
        def socket(self) -> _socket.socket: ...

        def recv(self, bufsize: int = 1024, flags: int = 0) -> bytes: ...

        def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int: ...

        def send(self, data: bytes, flags: int = 0) -> int: ...

        def settimeout(self, timeout: Optional[float]) -> None: ...

        def gettimeout(self) -> Optional[float]: ...

        def fileno(self) -> int: ...

        def close(self) -> None: ...

    # -- files ----------------------------------------------------------------------------

    def makefile(
        self,
        mode: str = "r",
        buffering: Optional[int] = None,
        *,
        encoding: Optional[str] = None,
        errors: Optional[str] = None,
        newline: Optional[str] = None,
    ) -> Any:
        """A file object over the connection, exactly as ``socket.socket.makefile`` builds it.

        ``mode`` is made of "r", "w" and "b"; ``buffering=0`` gives the raw
        :class:`TLSSocketIO` (binary only). Closing the socket while files are open takes
        effect when the last of them is closed.
        """
        if not set(mode) <= {"r", "w", "b"}:
            raise ValueError(f"invalid mode {mode!r} (only r, w, b allowed)")
        writing = "w" in mode
        reading = "r" in mode or not writing
        binary = "b" in mode
        if buffering is None or buffering < 0:
            buffering = io.DEFAULT_BUFFER_SIZE
        if buffering == 0 and not binary:
            raise ValueError("unbuffered streams must be binary")
        raw = TLSSocketIO(self, ("r" if reading else "") + ("w" if writing else ""))
        setattr(self, "_io_refs", getattr(self, "_io_refs", 0) + 1)  # noqa: B010 - see class doc
        if buffering == 0:
            return raw
        buffer: Union[io.BufferedRWPair, io.BufferedReader, io.BufferedWriter]
        if reading and writing:
            buffer = io.BufferedRWPair(raw, raw, buffering)
        elif reading:
            buffer = io.BufferedReader(raw, buffering)
        else:
            buffer = io.BufferedWriter(raw, buffering)
        if binary:
            return buffer
        text = io.TextIOWrapper(cast(Any, buffer), encoding, errors, newline)
        text.mode = mode  # type: ignore[misc]
        return text

    def _decref_socketios(self) -> None:
        """A makefile() object was closed (called by :class:`TLSSocketIO`)."""
        refs = getattr(self, "_io_refs", 0)
        if refs > 0:
            refs -= 1
            setattr(self, "_io_refs", refs)  # noqa: B010 - see the class docstring
        if refs <= 0 and getattr(self, "_close_deferred", False):
            self.close()

    def _defer_close(self) -> bool:
        """True (and remember the request) while makefile() objects are still open."""
        if getattr(self, "_io_refs", 0) > 0:
            setattr(self, "_close_deferred", True)  # noqa: B010 - see the class docstring
            return True
        return False

    # -- blocking mode --------------------------------------------------------------------

    def setblocking(self, flag: bool) -> None:
        """``settimeout(None)`` when ``flag``, else ``settimeout(0.0)`` (non-blocking)."""
        self.settimeout(None if flag else 0.0)

    def getblocking(self) -> bool:
        """False in non-blocking mode (timeout 0.0), else True."""
        return self.gettimeout() != 0.0

    # -- ssl.SSLSocket spellings ----------------------------------------------------------

    def read(self, len: int = 1024, buffer: Any = None) -> Any:
        """``SSLSocket.read``: up to ``len`` bytes, or the count read into ``buffer``."""
        if buffer is not None:
            return self.recv_into(buffer, len)
        return self.recv(len)

    def write(self, data: bytes) -> int:
        """``SSLSocket.write``: send some of ``data``; return how many bytes were taken."""
        return self.send(data)

    def shutdown(self, how: int) -> None:
        """Half-close TCP (``socket.SHUT_RD``/``SHUT_WR``/``SHUT_RDWR``), no close_notify.

        As ``ssl.SSLSocket.shutdown``; the TLS layer stays (see the module docstring), and
        ``close()`` is still needed to release the socket.
        """
        # The base class's method: ssl.SSLSocket.shutdown would also drop its TLS object.
        _socket.socket.shutdown(self.socket, how)

    @property
    def family(self) -> int:
        """The socket family, e.g. ``socket.AF_INET``."""
        return self.socket.family

    @property
    def type(self) -> int:
        """The socket type, ``socket.SOCK_STREAM``."""
        return self.socket.type

    @property
    def proto(self) -> int:
        """The socket protocol number."""
        return self.socket.proto
