"""The one choke point turning native ``ssl``/``socket`` errors into ``TLSError`` codes.

Every operation of the stdlib backend that can fail on the wire (handshake, send, recv,
shutdown, over a socket or over memory buffers) runs inside :func:`translate_errors`. The
mapping uses the structured attributes of ``ssl.SSLError`` (``reason``, ``verify_code``)
rather than message text, keeps the native exception as ``__cause__`` and repeats its reason
in the message, because that reason is what users search for.
"""

from __future__ import annotations

import contextlib
import errno
import ssl
from typing import Callable, Iterator, Optional

from tlsplug.backend import (
    Facts,
    Failure,
    TLSError,
    TLSOptions,
    classified_error,
    closed_socket_error,
    codes,
    error_for_code,
    os_failure,
)
from tlsplug.backend.openssl import (
    reason_token,
)

__all__ = ["BACKEND_NAME", "is_end_of_stream", "translate", "translate_errors"]

BACKEND_NAME = "stdlib"


def is_end_of_stream(exc: BaseException) -> bool:
    """Whether ``exc`` means the peer ended the stream (close_notify, or a ragged EOF).

    Python 3.10+ raises ``SSLEOFError`` for OpenSSL 3's ``UNEXPECTED_EOF_WHILE_READING``;
    3.9 raises a plain ``SSLError`` with that reason (gh-89051), so both are recognised.
    """
    if isinstance(exc, (ssl.SSLZeroReturnError, ssl.SSLEOFError)):
        return True
    return isinstance(exc, ssl.SSLError) and _reason(exc) == "UNEXPECTED_EOF_WHILE_READING"


def _reason(exc: ssl.SSLError) -> str:
    reason = getattr(exc, "reason", None)
    if isinstance(reason, str) and reason:
        return reason_token(reason)
    # Errors raised without a reason (e.g. by _ssl.c itself) carry it only in the text.
    return str(exc).upper()


def translate(
    exc: BaseException,
    *,
    handshake: bool,
    negotiated: Optional[Callable[[], bool]] = None,
    backend: str = BACKEND_NAME,
    options: Optional[TLSOptions] = None,
) -> Optional[TLSError]:
    """The ``TLSError`` for a native exception, or ``None`` when it is not a network error.

    Extracts the facts and lets the core classify them (``tlsplug._classify``). ``options``
    (the context's) let the hint say what the user set. ``negotiated`` tells whether a
    ServerHello was received (a cipher was chosen); an operation other than the handshake
    runs after it, so a cipher was negotiated by definition.
    """
    if isinstance(exc, TLSError):
        return None
    if isinstance(exc, (ssl.SSLWantReadError, ssl.SSLWantWriteError)):
        return error_for_code(
            codes.HANDSHAKE_FAILURE,
            f"the socket is non-blocking ({exc}); use wrap_buffers for non-blocking I/O",
            backend=backend,
        )
    if isinstance(exc, OSError) and not isinstance(exc, ssl.SSLError) and exc.errno == errno.EBADF:
        return closed_socket_error(backend)  # send/recv after close()
    facts = _facts(exc, handshake, negotiated, options)
    if facts is None:
        return None
    if isinstance(exc, ssl.SSLCertVerificationError):
        native = _reason(exc)  # the verify message is already in the classified message
    elif isinstance(exc, ssl.SSLError):
        native = f"{_reason(exc)}: {exc}"
    else:
        native = _describe(exc)
    where = "TLS handshake" if handshake else "TLS I/O"
    return classified_error(facts, where=where, native=native, backend=backend)


def _facts(
    exc: BaseException,
    handshake: bool,
    negotiated: Optional[Callable[[], bool]],
    options: Optional[TLSOptions],
) -> Optional[Facts]:
    if isinstance(exc, (ssl.SSLZeroReturnError, ssl.SSLEOFError)):
        return Facts(Failure.CLOSED)
    if isinstance(exc, ssl.SSLError):
        verify = isinstance(exc, ssl.SSLCertVerificationError)
        # _ssl.c sets both on every verification failure; an error built by hand may lack them.
        number = getattr(exc, "verify_code", None) if verify else None
        words = getattr(exc, "verify_message", None) if verify else None
        return Facts(
            reasons=(_reason(exc),),
            handshake_done=not handshake,
            negotiated=not handshake or _safely(negotiated),
            verify_failed=verify,
            verify_error=number if isinstance(number, int) else None,
            verify_text=words if isinstance(words, str) and words else None,
            options=options,
            library=ssl.OPENSSL_VERSION,
        )
    failure = os_failure(exc)
    return Facts(failure) if failure is not None else None


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _safely(probe: Optional[Callable[[], bool]]) -> bool:
    if probe is None:
        return False
    try:
        return probe()
    except Exception:  # a broken connection object answers nothing useful
        return False


@contextlib.contextmanager
def translate_errors(
    *,
    handshake: bool,
    negotiated: Optional[Callable[[], bool]] = None,
    backend: str = BACKEND_NAME,
    options: Optional[TLSOptions] = None,
) -> Iterator[None]:
    """Run a block, re-raising native TLS/socket errors as the matching ``TLSError``."""
    try:
        yield
    except Exception as exc:
        error = translate(
            exc, handshake=handshake, negotiated=negotiated, backend=backend, options=options
        )
        if error is None:
            raise
        raise error from exc
