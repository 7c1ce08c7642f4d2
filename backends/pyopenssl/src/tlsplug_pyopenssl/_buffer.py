"""The sans-IO ``TLSBuffer``: a pyOpenSSL ``Connection`` over memory BIOs.

``SSL.Connection(ctx, None)`` gives OpenSSL a pair of memory BIOs: the caller feeds what
arrived with ``receive_from_network`` and sends what ``pull_outgoing`` returns. Writes to a
memory BIO never block, so only ``WantReadError`` reaches the caller. Every check of
``wrap_socket`` runs inside ``do_handshake``, through the same error choke point.
"""

from __future__ import annotations

from typing import Any, List, Mapping, Optional

from OpenSSL import SSL

from tlsplug.backend import TLSOptions, WantReadError, WantWriteError, read_records
from tlsplug.backend.openssl import reason_token

from ._checks import finish_handshake
from ._ocsp import status_of
from ._peer import PeerInfo
from ._translate import BACKEND_NAME, _translate_errors, reasons_of, translate
from ._verify import ConnectionState

__all__ = ["PyOpenSSLBuffer"]

#: Per read of the outgoing BIO: a 64 KiB write (four records and their overhead) in one.
_CHUNK = 128 * 1024


class PyOpenSSLBuffer(PeerInfo):
    """A TLS client over memory buffers; the caller moves the bytes."""

    backend_name = BACKEND_NAME

    def __init__(self, conn: SSL.Connection, state: ConnectionState, options: TLSOptions) -> None:
        """Wrap a memory-BIO ``Connection`` prepared by the context."""
        self._conn = conn
        self._state = state
        self._options = options
        self._verified = options.verify_certificates
        self.server_hostname = state.server_hostname

    def do_handshake(self) -> None:
        """Advance the handshake; return once it is complete and every check passed."""
        if self._state.handshake_done:
            return
        with _translate_errors(self._state, self._conn, "handshake"):
            try:
                self._conn.do_handshake()
            except SSL.WantReadError:
                raise WantReadError("need more bytes from the peer") from None
            except SSL.WantWriteError:  # pragma: no cover - memory BIOs always take writes
                raise WantWriteError("send the pending bytes first") from None
            finish_handshake(self._conn, self._state, self._options)
            tracker = self._state.ocsp
            if tracker is not None and not tracker.defer:
                try:
                    tracker.finish_sync(self._conn)  # blocking caller: ask responders now
                except BaseException:
                    self._state.handshake_done = False  # read/write must fail again
                    raise

    def read(self, amt: int) -> bytes:
        """Up to ``amt`` bytes of plaintext; ``b""`` after close_notify or a ragged EOF.

        Every buffered record that fits (``tlsplug.backend.read_records``): asyncio's SSL
        transport through ``_bridge`` and ``tlsplug.aio`` pay a round of Python per read.
        """
        if not self._state.handshake_done:
            self.do_handshake()
        return read_records(self._read_record, amt, (WantReadError,))

    def _read_record(self, amt: int) -> bytes:
        conn = self._conn
        try:
            return conn.recv(amt)
        except SSL.WantReadError:
            raise WantReadError("need more bytes from the peer") from None
        except SSL.ZeroReturnError:
            return b""
        except SSL.SysCallError as exc:
            if self._state.handshake_done and exc.args and exc.args[0] in (-1, 0):
                return b""  # the transport closed without close_notify
            raise translate(exc, self._state, conn, "read") from exc
        except Exception as exc:  # the choke point, inline (the read path runs per record)
            raise translate(exc, self._state, conn, "read") from exc

    def write(self, data: bytes) -> int:
        """Encrypt ``data``; return how many bytes were taken (then ``pull_outgoing``).

        All of it: pyOpenSSL turns partial writes on, so OpenSSL takes one record per
        call; looping here saves the caller a round of Python per 16 KiB record.
        """
        if not self._state.handshake_done:
            self.do_handshake()
        if not data:
            return 0
        conn = self._conn
        sent = 0
        try:
            with memoryview(data) as view, view.cast("B") as octets:
                total = len(octets)
                while sent < total:
                    sent += conn.send(octets[sent:] if sent else octets)
        except SSL.WantReadError:
            if sent:
                return sent
            raise WantReadError("need more bytes from the peer") from None
        except Exception as exc:  # the choke point, inline
            raise translate(exc, self._state, conn, "write") from exc
        return sent

    def receive_from_network(self, data: bytes) -> None:
        """Bytes that arrived from the peer."""
        if data:
            with _translate_errors(self._state, self._conn, "read"):
                self._conn.bio_write(data)

    def receive_eof(self) -> None:
        """The peer's transport closed."""
        with _translate_errors(self._state, self._conn, "read"):
            self._conn.bio_shutdown()

    def pull_outgoing(self, amt: Optional[int] = None) -> bytes:
        """Bytes waiting to be sent to the peer (all of them when ``amt`` is None)."""
        parts: List[bytes] = []
        left = amt
        with _translate_errors(self._state, self._conn, "write"):
            while left is None or left > 0:
                want = _CHUNK if left is None else min(left, _CHUNK)
                try:
                    data = self._conn.bio_read(want)
                except SSL.WantReadError:
                    break  # the outgoing BIO is empty
                if not data:
                    break
                parts.append(data)
                if left is not None:
                    left -= len(data)
                if len(data) < want:
                    break  # a short read emptied the BIO: no second call to learn it
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def shutdown(self) -> None:
        """Queue close_notify (then ``pull_outgoing``); sessions stay resumable."""
        with _translate_errors(self._state, self._conn, "shutdown"):
            try:
                self._conn.shutdown()
            except SSL.WantReadError:
                pass  # close_notify is queued; the peer's answer is not awaited
            except (SSL.SysCallError, SSL.ZeroReturnError):
                self._conn.set_shutdown(self._conn.get_shutdown() | SSL.SENT_SHUTDOWN)
            except SSL.Error as exc:
                # After the transport's EOF OpenSSL is in a fatal state and refuses with an
                # empty error queue; the stdlib backend ignores its SSLEOFError alike.
                # OpenSSL 3.2 (cryptography 42's wheel) says "shutdown while in init" there
                # instead: its state machine is in its error state, not in a handshake.
                reasons = reasons_of(exc)
                after_eof = self._state.handshake_done and [
                    reason_token(r) for r in reasons
                ] == ["SHUTDOWN_WHILE_IN_INIT"]
                if reasons and not after_eof:
                    raise
                self._conn.set_shutdown(self._conn.get_shutdown() | SSL.SENT_SHUTDOWN)

    def __repr__(self) -> str:
        return f"<PyOpenSSLBuffer {self.server_hostname!r} {self.version() or 'handshaking'}>"

    @property
    def ocsp_status(self) -> Optional[str]:
        """What OCSP concluded: ``tlsplug.ocsp.status_text``; None until it is decided."""
        return status_of(self._state.ocsp, self._options, self._state.handshake_done)

    # -- the DeferredOCSP hook (tlsplug.backend docs, TLSBuffer): responders off the loop --

    @property
    def defer_ocsp_endpoint_check(self) -> bool:
        """True: ``do_handshake`` judges the staple but leaves the responders to the caller."""
        return self._state.ocsp is not None and self._state.ocsp.defer

    @defer_ocsp_endpoint_check.setter
    def defer_ocsp_endpoint_check(self, value: bool) -> None:
        if self._state.ocsp is not None:
            self._state.ocsp.defer = bool(value)

    def deferred_ocsp_check(self) -> Optional[Mapping[str, Any]]:
        """After the handshake: keyword arguments for ``ocsp.post_handshake_check_async``."""
        tracker = self._state.ocsp
        if tracker is None or not self._state.handshake_done:
            return None
        pending: Optional[Mapping[str, Any]] = tracker.pending(self._conn)
        return pending

    def record_ocsp_verdict(self, verdict: Any) -> None:
        """The verdict of the deferred responder check (for ``ocsp_status``)."""
        if self._state.ocsp is not None:
            self._state.ocsp.record(verdict)
