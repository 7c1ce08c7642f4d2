"""The asyncio machinery behind :mod:`tlsplug.aio`: a TLS layer between two protocols.

Layering (the same as CPython's own ``asyncio.sslproto``)::

    socket transport  <->  TLSProtocol  (owns the backend's sans-IO TLSBuffer)
                               |
                           TLSTransport  <->  asyncio.StreamReaderProtocol  <->  StreamReader
                                                                             <->  StreamWriter

``TLSProtocol`` is the protocol of the plain TCP transport: ciphertext arrives in
``data_received`` and goes into the buffer; plaintext comes out of ``buffer.read`` and is
handed to the *application protocol* — an unmodified ``asyncio.StreamReaderProtocol`` — through
``TLSTransport``, a regular ``asyncio.Transport`` the stream objects talk to. Composing the
stock ``StreamReaderProtocol`` (rather than subclassing the private ``FlowControlMixin``)
gives ``drain()``, ``wait_closed()``, the reader's limit and its pause/resume logic exactly as
``asyncio.open_connection`` has them, on every Python from 3.9.

Flow control, both ways:

* reading: when the ``StreamReader`` holds more than twice its limit it calls
  ``TLSTransport.pause_reading``; we stop handing out plaintext *and* pause the socket, so
  neither the kernel buffer nor the TLS buffer grows without bound (a TLS buffer holds at most
  what the socket delivered before the pause);
* writing: the socket transport's ``pause_writing``/``resume_writing`` are forwarded to the
  application protocol, so ``await writer.drain()`` waits on the real socket buffer.

Writes are encrypted in slices of :data:`WRITE_SLICE` bytes and each slice's records are given
to the socket transport in one ``write`` call; plaintext is read in :data:`READ_SIZE` pieces
and fed to the reader as is (no joining, no per-byte work).

OCSP responder checks must not block the loop. A buffer may offer the deferral hook described
by :class:`DeferredOCSP`; then the responders are asked through
``tlsplug.ocsp.post_handshake_check_async`` (HTTP in a worker thread). A backend that declares
``Feature.OCSP_ENDPOINT`` without the hook may ask responders synchronously inside
``do_handshake``: its handshake steps then run in the loop's default executor (one step at a
time, never concurrently with any other use of the buffer), which keeps the loop responsive.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Callable, Dict, List, Optional

from .._errors import HandshakeError, TLSError
from .._protocols import TLSBuffer, WantReadError, WantWriteError
from ._transport import READ_SIZE, WRITE_SLICE, DeferredOCSP, TLSTransport, lost_error

__all__ = ["READ_SIZE", "WRITE_SLICE", "DeferredOCSP", "TLSProtocol", "TLSTransport"]

class TLSProtocol(asyncio.Protocol):
    """Drives a ``TLSBuffer`` over a socket transport; plaintext goes to ``app``."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        buffer: TLSBuffer,
        app: asyncio.BaseProtocol,
        *,
        app_attached: bool,
        offload_handshake: bool = False,
        carry_over: bytes = b"",
        extra: Optional[Dict[str, Any]] = None,
        on_open: Optional[Callable[[TLSTransport], None]] = None,
    ) -> None:
        """``app_attached``: ``app`` already had ``connection_made`` (STARTTLS upgrade)."""
        self._loop = loop
        self.buffer = buffer
        self.app = app
        self._app_attached = app_attached
        self._offload = offload_handshake
        self._carry_over = carry_over
        self.extra = dict(extra or {})
        self._on_open = on_open
        self.transport: Optional[asyncio.Transport] = None
        self.app_transport = TLSTransport(self)
        self._waiter: asyncio.Future[None] = loop.create_future()
        self._lost: asyncio.Future[None] = loop.create_future()
        self._state = "new"  # new -> handshaking -> ocsp -> open; closed at connection_lost
        self._fatal: Optional[BaseException] = None
        self._closing = False
        self._step_running = False
        self._step_input: List[bytes] = []
        self._step_eof = False
        self._peer_eof = False
        #: How the stream ended (``eof_was_clean``): True after close_notify, False after a
        #: TCP close without it or a reset, None before the end (transport extra info).
        self.eof_was_clean: Optional[bool] = None
        self._app_eof_sent = False
        self._app_paused = False
        self._raw_write_paused = False
        self._app_write_paused = False
        self._backlog: List[memoryview] = []
        self._ocsp_task: Optional[asyncio.Task[None]] = None
        hook = buffer if isinstance(buffer, DeferredOCSP) else None
        self._hook = hook
        if hook is not None:
            hook.defer_ocsp_endpoint_check = True

    # -- what the orchestration in tlsplug.aio awaits -------------------------------------

    async def wait_open(self) -> None:
        """Return once the handshake and the OCSP checks passed, or raise their error."""
        await self._waiter

    async def wait_lost(self) -> None:
        """Return once the socket transport is gone (at once if it never existed)."""
        if self.transport is not None:
            await asyncio.shield(self._lost)

    @property
    def closing(self) -> bool:
        """Whether the connection is closing or closed."""
        return self._closing or self.transport is None or self.transport.is_closing()

    @property
    def app_reading(self) -> bool:
        """Whether plaintext is delivered to the application protocol."""
        return not self._app_paused and self._state != "closed"

    # -- socket transport callbacks -------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Start the handshake (the ClientHello goes out now)."""
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._state = "handshaking"
        if self._carry_over:
            # Bytes the plaintext reader had buffered before an upgrade (see start_tls).
            self.buffer.receive_from_network(self._carry_over)
            self._carry_over = b""
        self._handshake_step()

    def data_received(self, data: bytes) -> None:
        """Ciphertext from the peer."""
        if self._state == "closed" or self._fatal is not None:
            return
        if self._step_running:
            self._step_input.append(data)  # the worker thread owns the buffer right now
            return
        try:
            self.buffer.receive_from_network(data)
        except TLSError as exc:
            self._fail(exc)
            return
        self._advance()

    def eof_received(self) -> bool:
        """The peer closed its side; let the buffer see it, keep the socket for now."""
        self._peer_eof = True
        if self._state == "closed" or self._fatal is not None:
            return False
        if self._step_running:
            self._step_eof = True
            return True
        try:
            self.buffer.receive_eof()
        except TLSError as exc:
            self._fail(exc)
            return True
        self._advance()
        # True keeps the socket open: the application protocol decides (eof_received).
        return True

    def pause_writing(self) -> None:
        """The socket buffer is full: make ``drain()`` wait."""
        self._raw_write_paused = True
        self._sync_app_write_pause()

    def resume_writing(self) -> None:
        """The socket buffer drained: release ``drain()``."""
        self._raw_write_paused = False
        self._sync_app_write_pause()

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        """The socket is closed: wake every waiter, tell the application protocol."""
        if self._fatal is None and self._state == "ocsp":
            # Bytes that arrived while OCSP was pending were not read yet; the server's
            # alert among them (e.g. TLS 1.3 certificate_required) explains a reset better.
            try:
                self.buffer.read(READ_SIZE)
            except TLSError as tls_error:
                self._fatal = tls_error
            except WantReadError:
                pass
        if self._fatal is None and self._state == "open" and isinstance(exc, OSError):
            # A reset after the handshake ends the stream, as recv() returning b"" does on a
            # blocking socket (docs/design.md): plaintext already received goes first.
            self._deliver()
            if self._fatal is None:
                exc = None
                if self.eof_was_clean is None:
                    self.eof_was_clean = False
        error = self._fatal or lost_error(exc, self._state, self.buffer.backend_name)
        self._state = "closed"
        self._closing = True
        if self._ocsp_task is not None and not self._ocsp_task.done():
            self._ocsp_task.cancel()
        if not self._waiter.done():
            self._set_waiter_error(error or HandshakeError(
                "the peer closed the connection during the TLS handshake",
                code="connection-closed", backend=self.buffer.backend_name))
        if self._app_attached:
            self.app.connection_lost(error)  # type: ignore[arg-type]  # typeshed: Exception
        if not self._lost.done():
            self._lost.set_result(None)
        self.transport = None  # drop the cycle; the transport keeps no reference to us

    # -- the handshake --------------------------------------------------------------------

    def _advance(self) -> None:
        if self._state == "handshaking":
            self._handshake_step()
        elif self._state == "open":
            if self._backlog:
                self._flush_backlog()
            self._deliver()

    def _try_handshake(self) -> bool:
        """One ``do_handshake`` call: True when done. May run in a worker thread."""
        try:
            self.buffer.do_handshake()
        except WantReadError:
            return False
        return True

    def _handshake_step(self) -> None:
        if self._step_running or self._state != "handshaking":
            return
        if not self._offload:
            try:
                done = self._try_handshake()
            except TLSError as exc:
                self._fail(exc)
                return
            self._step_finished(done)
            return
        self._step_running = True
        future = self._loop.run_in_executor(None, self._try_handshake)
        future.add_done_callback(self._offloaded_step_done)

    def _offloaded_step_done(self, future: asyncio.Future[bool]) -> None:
        self._step_running = False
        if future.cancelled() or self._state != "handshaking":
            return
        error = future.exception()
        if error is not None:
            self._fail(error)
            return
        # Bytes that arrived while the worker thread owned the buffer.
        pending, self._step_input = self._step_input, []
        try:
            for chunk in pending:
                self.buffer.receive_from_network(chunk)
            eof_fed, self._step_eof = self._step_eof, False
            if eof_fed:
                self.buffer.receive_eof()
        except TLSError as exc:
            self._fail(exc)
            return
        done = future.result()
        if not done and (pending or eof_fed):
            self._flush()
            self._handshake_step()  # new input arrived meanwhile: advance again
            return
        self._step_finished(done)

    def _step_finished(self, done: bool) -> None:
        self._flush()
        if done:
            self._handshake_complete()
        elif self._peer_eof and not self._step_running:
            # The buffer wants more but the peer is gone (a backend that did not raise).
            self._fail(HandshakeError(
                "the peer closed the connection during the TLS handshake",
                code="connection-closed", backend=self.buffer.backend_name))

    def _handshake_complete(self) -> None:
        kwargs = self._hook.deferred_ocsp_check() if self._hook is not None else None
        if kwargs is None:
            self._open()
            return
        self._state = "ocsp"
        self._ocsp_task = self._loop.create_task(self._check_ocsp(dict(kwargs)))

    async def _check_ocsp(self, kwargs: Dict[str, Any]) -> None:
        from .. import ocsp  # cryptography is imported only when OCSP is actually used

        try:
            verdict = await ocsp.post_handshake_check_async(**kwargs)
        except TLSError as exc:
            self._fail(exc)
            return
        if self._state != "ocsp":
            return
        assert self._hook is not None
        self._hook.record_ocsp_verdict(verdict)
        self._open()

    def _open(self) -> None:
        self._state = "open"
        if self._on_open is not None:
            self._on_open(self.app_transport)
        if not self._app_attached:
            self._app_attached = True
            self.app.connection_made(self.app_transport)
        self._sync_app_write_pause()
        if not self._waiter.done():
            self._waiter.set_result(None)
        self._deliver()

    # -- data -----------------------------------------------------------------------------

    def _deliver(self) -> None:
        """Hand every plaintext byte the buffer holds to the app, unless it paused us."""
        if self._state != "open":
            return
        app = self.app
        assert isinstance(app, asyncio.Protocol)
        while not self._app_paused and not self._app_eof_sent and self._state == "open":
            try:
                chunk = self.buffer.read(READ_SIZE)
            except WantReadError:
                break
            except TLSError as exc:  # e.g. the server's alert after a TLS 1.3 handshake
                self._fail(exc)
                return
            if not chunk:
                if self.eof_was_clean is None:
                    # close_notify arrives as data and is read before the TCP FIN is seen.
                    self.eof_was_clean = not self._peer_eof
                self._app_eof_sent = True
                if not app.eof_received():
                    self.close()
                break
            app.data_received(chunk)
        self._flush()  # reading may have produced bytes to send (key updates, alerts)

    def app_write(self, data: Any) -> None:
        """Encrypt application data; the records go to the socket transport."""
        if self._state != "open" or self._closing:
            if self._state in ("new", "handshaking", "ocsp"):
                raise RuntimeError("the TLS handshake is not complete")
            return  # like asyncio's transports: writes after close are dropped
        view = memoryview(data).cast("B")
        if self._backlog:
            self._backlog.append(view)
            return
        self._encrypt(view)

    def _encrypt(self, view: memoryview) -> None:
        assert self.transport is not None
        offset = 0
        try:
            while offset < len(view):
                try:
                    # Both backends take any bytes-like object (the contract says bytes).
                    offset += self.buffer.write(view[offset : offset + WRITE_SLICE])  # type: ignore[arg-type]
                except (WantReadError, WantWriteError):
                    # Only a renegotiation-like event can ask for this; retry on new data.
                    self._backlog.append(view[offset:])
                    break
                self._flush()
        except TLSError as exc:
            self._fail(exc)

    def _flush_backlog(self) -> None:
        backlog, self._backlog = self._backlog, []
        for i, view in enumerate(backlog):
            self._encrypt(view)
            if self._backlog:  # still blocked: keep the rest in order
                self._backlog.extend(backlog[i + 1 :])
                return

    def _flush(self) -> None:
        """Send the ciphertext waiting in the buffer (never from a worker thread)."""
        if self.transport is None or self.transport.is_closing():
            return
        try:
            out = self.buffer.pull_outgoing()
        except TLSError:
            return
        if out:
            self.transport.write(out)

    # -- flow control ---------------------------------------------------------------------

    def pause_app_reading(self) -> None:
        """The reader is full: stop delivering and stop the socket."""
        self._app_paused = True
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()

    def resume_app_reading(self) -> None:
        """The reader drained: read the socket and deliver again (outside the reader's call)."""
        if not self._app_paused:
            return
        self._app_paused = False
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()
        self._loop.call_soon(self._deliver)

    def _sync_app_write_pause(self) -> None:
        # FlowControlMixin asserts strict pause/resume alternation, so track what it saw.
        if not self._app_attached or self._state not in ("open", "closed"):
            return
        if self._raw_write_paused and not self._app_write_paused:
            self._app_write_paused = True
            self.app.pause_writing()
        elif not self._raw_write_paused and self._app_write_paused:
            self._app_write_paused = False
            self.app.resume_writing()

    def raw_write_buffer_size(self) -> int:
        """Bytes buffered by the socket transport."""
        return self.transport.get_write_buffer_size() if self.transport is not None else 0

    def raw_call(self, name: str, *args: Any) -> Any:
        """Call a method of the socket transport (limits), if it is still there."""
        if self.transport is None:
            return None
        return getattr(self.transport, name)(*args)

    # -- closing --------------------------------------------------------------------------

    def close(self) -> None:
        """Send close_notify when the session is up, then close the socket gracefully."""
        if self._closing:
            return
        self._closing = True
        if self._state == "open" and self._fatal is None and not self._step_running:
            with contextlib.suppress(TLSError):  # closing anyway; the peer may be gone
                self.buffer.shutdown()
            self._flush()
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        """Drop the connection now (timeouts, cancellation, failed handshakes)."""
        self._closing = True
        if self.transport is not None:
            self.transport.abort()

    def _fail(self, exc: BaseException) -> None:
        """A fatal TLS error: send the alert if any, close, report ``exc`` to every waiter."""
        if self._fatal is not None:
            return
        self._fatal = exc
        if not self._step_running:
            self._flush()  # the alert explains the refusal to the server's log
        if not self._waiter.done():
            self._set_waiter_error(exc)
        self._closing = True
        if self.transport is not None:
            self.transport.close()

    def _set_waiter_error(self, exc: BaseException) -> None:
        self._waiter.set_exception(exc)
        # Nobody may await it any more (cancelled caller): do not log "never retrieved".
        self._waiter.exception()
