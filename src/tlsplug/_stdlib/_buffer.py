"""``StdlibTLSBuffer``: the sans-IO ``TLSBuffer`` contract on ``ssl.MemoryBIO``/``SSLObject``.

The caller moves bytes: ``receive_from_network`` what arrived, ``pull_outgoing`` what to
send. Operations raise ``WantReadError`` when OpenSSL needs more input. The same checks as
``wrap_socket`` run inside ``do_handshake``, and the same end-of-stream rule holds: ``read``
returns ``b""`` after close_notify and after ``receive_eof`` without one (ragged EOF).
"""

from __future__ import annotations

import contextlib
import ssl
from typing import Any, Callable, List, Mapping, Optional, Tuple, TypeVar

from tlsplug.backend import (
    Materials,
    TLSError,
    TLSOptions,
    WantReadError,
    WantWriteError,
    read_records,
)

from ._after import Passed, check_after_handshake
from ._chains import unverified_chain
from ._checks import strict_verify_error
from ._ocsp import StdlibOCSP
from ._translate import BACKEND_NAME, is_end_of_stream, translate_errors

__all__ = ["StdlibTLSBuffer"]

_T = TypeVar("_T")


class StdlibTLSBuffer:
    """A sans-IO TLS client connection of the stdlib backend."""

    backend_name = BACKEND_NAME
    #: The connection's OCSP step (set by the context; None: no OCSP at all).
    _ocsp: Optional[StdlibOCSP] = None
    #: The options the chain lint (_checks.py) reads (set by the context; None: no lint).
    _lint_options: Optional[TLSOptions] = None
    #: The parsed files: trust anchors, CRLs for the chain's CA certificates (set by the
    #: context).
    _materials: Optional[Materials] = None
    #: The context's memory of the chains that passed (``_after.py``; None: none).
    _passed: Optional[Passed] = None

    def __init__(
        self,
        ctx: ssl.SSLContext,
        server_hostname: Optional[str],
        sni_name: Optional[str],
        post_check_host: Optional[str],
    ) -> None:
        """Create the SSLObject; ``post_check_host`` is matched after the handshake if set."""
        self.server_hostname = server_hostname
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._obj = ctx.wrap_bio(
            self._incoming, self._outgoing, server_side=False, server_hostname=sni_name
        )
        self._post_check_host = post_check_host
        self._handshake_done = False

    def _call(self, func: Callable[[], _T]) -> _T:
        with translate_errors(
            handshake=not self._handshake_done,
            negotiated=self._negotiated,
            options=self._lint_options,  # the context's options: hints say what was set
        ):
            try:
                return func()
            except ssl.SSLWantReadError:
                raise WantReadError("more bytes from the peer are needed") from None
            except ssl.SSLWantWriteError:  # pragma: no cover - a MemoryBIO never blocks
                raise WantWriteError("pull_outgoing() first") from None

    def _negotiated(self) -> bool:
        return self._obj.cipher() is not None

    def do_handshake(self) -> None:
        """Advance the handshake; return once it is complete and every check passed."""
        if self._handshake_done:
            return
        try:
            self._call(self._obj.do_handshake)
        except TLSError as error:
            refusal = (
                strict_verify_error(error.__cause__, self._obj, self._materials)
                if self._lint_options is not None and error.__cause__ is not None
                else None
            )
            if refusal is None:
                raise
            raise refusal from error.__cause__
        tracker = self._ocsp
        # _after.py: the lint, limits, CRLs, host, must-staple (remembered per chain).
        check_after_handshake(
            self._obj, self._lint_options, self._materials, self._post_check_host, tracker,
            self._passed,
        )
        if tracker is not None and not tracker.done and not tracker.defer:
            tracker.finish_sync()  # responders now, unless tlsplug.aio defers them
        self._handshake_done = True

    def read(self, amt: int) -> bytes:
        """Up to ``amt`` bytes of plaintext; ``b""`` at the end of the stream.

        Every buffered record that fits (``tlsplug.backend.read_records``), as asyncio's own
        SSL transport reads every record there is before it hands them over.
        """
        if not self._handshake_done:
            self.do_handshake()
        obj = self._obj

        def one(size: int) -> bytes:
            try:
                return obj.read(size)
            except ssl.SSLError as exc:
                if is_end_of_stream(exc):
                    return b""
                raise

        return self._call(lambda: read_records(one, amt, (ssl.SSLWantReadError,)))

    def write(self, data: bytes) -> int:
        """Encrypt ``data`` into the outgoing buffer; return how many bytes were taken.

        All of it: ``ssl`` turns partial writes on, so ``SSLObject.write`` takes one record
        per call; looping here gives the caller one ``pull_outgoing`` per buffer.
        """
        if not self._handshake_done:
            self.do_handshake()
        obj = self._obj

        def write() -> int:
            sent = 0
            with memoryview(data) as view, view.cast("B") as octets:
                total = len(octets)
                while sent < total:
                    try:
                        sent += obj.write(octets[sent:] if sent else octets)
                    except ssl.SSLWantReadError:
                        if sent:
                            return sent
                        raise
            return sent

        return self._call(write)

    def receive_from_network(self, data: bytes) -> None:
        """Bytes that arrived from the peer."""
        self._incoming.write(data)

    def receive_eof(self) -> None:
        """The peer's transport closed."""
        self._incoming.write_eof()

    def pull_outgoing(self, amt: Optional[int] = None) -> bytes:
        """Bytes waiting to be sent to the peer (all of them unless ``amt``)."""
        return self._outgoing.read(amt) if amt is not None else self._outgoing.read()

    def shutdown(self) -> None:
        """Queue close_notify; send it with ``pull_outgoing``. Does not wait for the peer's."""

        # SSLWantReadError: our close_notify is queued, the peer's is not awaited.
        with translate_errors(handshake=False), contextlib.suppress(
            ssl.SSLWantReadError, ssl.SSLZeroReturnError, ssl.SSLEOFError
        ):
            self._obj.unwrap()

    def version(self) -> Optional[str]:
        """The negotiated protocol."""
        return self._obj.version()

    def cipher(self) -> Optional[Tuple[str, str, int]]:
        """The negotiated cipher."""
        return self._obj.cipher()

    def getpeercert(self, binary_form: bool = False) -> Any:
        """The leaf, as in ``TLSSocket.getpeercert``."""
        return self._obj.getpeercert(binary_form)

    def selected_alpn_protocol(self) -> Optional[str]:
        """The ALPN protocol the server chose (``alpn_protocols``), or None."""
        return self._obj.selected_alpn_protocol()

    def peer_chain(self) -> List[bytes]:
        """The chain the peer sent, leaf first, DER (only the leaf on Python 3.9)."""
        return unverified_chain(self._obj, self._obj.getpeercert(True))

    @property
    def session_reused(self) -> bool:
        """Whether the handshake resumed an earlier session."""
        return bool(self._obj.session_reused)

    @property
    def ocsp_status(self) -> Optional[str]:
        """What the OCSP step concluded (``tlsplug.ocsp.status_text``); None until decided."""
        return self._ocsp.status if self._ocsp is not None else None

    # -- the DeferredOCSP hook (tlsplug.backend docs, TLSBuffer): responders off the loop --

    @property
    def defer_ocsp_endpoint_check(self) -> bool:
        """True: ``do_handshake`` makes the local decisions but asks no responder."""
        return self._ocsp is not None and self._ocsp.defer

    @defer_ocsp_endpoint_check.setter
    def defer_ocsp_endpoint_check(self, value: bool) -> None:
        if self._ocsp is not None:
            self._ocsp.defer = bool(value)

    def deferred_ocsp_check(self) -> Optional[Mapping[str, Any]]:
        """After the handshake: keyword arguments for ``ocsp.post_handshake_check_async``."""
        if self._ocsp is None or not self._handshake_done:
            return None
        return self._ocsp.pending()

    def record_ocsp_verdict(self, verdict: Any) -> None:
        """The verdict of the deferred responder check (for ``ocsp_status``)."""
        if self._ocsp is not None:
            self._ocsp.record(verdict)

    def __repr__(self) -> str:
        """Name and state, for logs."""
        state = self.version() if self._handshake_done else "handshaking"
        return f"<StdlibTLSBuffer {self.server_hostname!r} {state}>"
