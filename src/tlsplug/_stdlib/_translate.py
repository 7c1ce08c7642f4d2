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
import socket
import ssl
from typing import Callable, Iterator, Optional

from tlsplug.backend import TLSError, TLSOptions, client_cert_hint, error_for_code, situated_hint
from tlsplug.backend.openssl import (
    CLIENT_CERT_REFUSED_REASONS,
    HANDSHAKE_FAILURE_ALERT_REASONS,
    LEGACY_RENEGOTIATION_HINT,
    LEGACY_RENEGOTIATION_REASON,
    NO_SHARED_CIPHER_REASONS,
    NOT_TLS_REASONS,
    PROTOCOL_VERSION_REASONS,
    code_for_verify_error,
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

    ``options`` (the context's) let the hint say what the user set (``situated_hint``).
    ``negotiated`` tells whether a ServerHello was received (a cipher was chosen): a
    handshake_failure alert before that means "no shared cipher", after it the server
    refused something else, typically a missing client certificate under TLS 1.2.
    """
    if isinstance(exc, TLSError):
        return None
    where = "during the TLS handshake" if handshake else "after the handshake"
    if isinstance(exc, ssl.SSLCertVerificationError):
        code = code_for_verify_error(exc.verify_code)
        detail = exc.verify_message or _reason(exc)
        return error_for_code(
            code,
            f"certificate verify failed: {detail} (OpenSSL verify error {exc.verify_code})",
            backend=backend,
            hint=situated_hint(code, options),
        )
    if isinstance(exc, (ssl.SSLZeroReturnError, ssl.SSLEOFError)):
        return error_for_code(
            "connection-closed", f"the peer closed the connection {where} ({exc})", backend=backend
        )
    if isinstance(exc, (ssl.SSLWantReadError, ssl.SSLWantWriteError)):
        return error_for_code(
            "handshake-failure",
            f"the socket is non-blocking ({exc}); use wrap_buffers for non-blocking I/O",
            backend=backend,
        )
    if isinstance(exc, ssl.SSLError):
        if not handshake:
            # After the handshake a cipher was negotiated by definition: a handshake_failure
            # alert then (e.g. the server's answer to our refusing to renegotiate) is never
            # "no shared cipher".
            negotiated = _always
        return _translate_ssl_error(exc, where, negotiated, backend, options)
    # socket.timeout is a subclass of OSError (not TimeoutError) on 3.9 (bpo-42413).
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return error_for_code("timeout", f"timed out {where} ({exc})", backend=backend)
    if isinstance(exc, (ConnectionError, EOFError)):
        return error_for_code(
            "connection-closed", f"the connection was closed {where} ({exc})", backend=backend
        )
    if isinstance(exc, OSError) and exc.errno == errno.EBADF:
        # send/recv after close(): the pyopenssl backend's code for the same situation.
        return error_for_code("connection-closed", "the TLS socket is closed", backend=backend,
                              hint="close() was called on this connection; open a new one.")
    if isinstance(exc, OSError):
        return error_for_code("handshake-failure", f"socket error {where}: {exc}", backend=backend)
    return None


def _translate_ssl_error(
    exc: ssl.SSLError,
    where: str,
    negotiated: Optional[Callable[[], bool]],
    backend: str,
    options: Optional[TLSOptions] = None,
) -> TLSError:
    reason = _reason(exc)
    native = f"{reason}: {exc}"
    hint: Optional[str] = None
    if reason in PROTOCOL_VERSION_REASONS or reason.endswith("_ALERT_PROTOCOL_VERSION"):
        code = "protocol-version"
        message = f"no TLS version in common with the server {where} ({native})"
        hint = situated_hint(code, options)
    elif reason in NO_SHARED_CIPHER_REASONS or (
        reason in HANDSHAKE_FAILURE_ALERT_REASONS and not _safely(negotiated)
    ):
        code = "no-shared-cipher"
        message = f"the server accepted none of the offered cipher suites ({native})"
        hint = situated_hint(code, options)
    elif reason in NOT_TLS_REASONS:
        code = "not-tls"
        message = f"the peer does not speak TLS ({native})"
    elif reason in HANDSHAKE_FAILURE_ALERT_REASONS and negotiated is _always:
        code = "handshake-failure"
        message = (
            "the server aborted the connection with a handshake_failure alert after the "
            f"handshake, typically after asking to renegotiate, which tlsplug refuses ({native})"
        )
    elif reason in CLIENT_CERT_REFUSED_REASONS or reason in HANDSHAKE_FAILURE_ALERT_REASONS:
        code = "handshake-failure"
        message = (
            "the server refused the client certificate, or requires one and none was given "
            f"(tlsCertificateKeyFile) ({native})"
        )
        hint = client_cert_hint(options)
    elif reason == LEGACY_RENEGOTIATION_REASON:
        code = "handshake-failure"
        message = f"the server does not support secure renegotiation ({native})"
        hint = LEGACY_RENEGOTIATION_HINT
    elif "EOF" in reason:
        code = "connection-closed"
        message = f"the peer closed the connection {where} ({native})"
    else:
        code = "handshake-failure"
        message = f"TLS failure {where} ({native})"
    return error_for_code(code, message, backend=backend, hint=hint)


def _always() -> bool:
    return True


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
