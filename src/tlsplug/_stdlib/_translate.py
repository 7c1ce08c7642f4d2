"""The one choke point turning native ``ssl``/``socket`` errors into ``TLSError`` codes.

Every operation of the stdlib backend that can fail on the wire (handshake, send, recv,
shutdown, over a socket or over memory buffers) runs inside :func:`translate_errors`. The
mapping uses the structured attributes of ``ssl.SSLError`` (``reason``, ``verify_code``)
rather than message text, keeps the native exception as ``__cause__`` and repeats its reason
in the message, because that reason is what users search for.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from typing import Callable, Iterator, Optional

from tlsplug.backend import TLSError, code_for_verify_error, error_for_code

__all__ = ["BACKEND_NAME", "is_end_of_stream", "translate", "translate_errors"]

BACKEND_NAME = "stdlib"

# OpenSSL reason strings (``SSLError.reason``), grouped by the code they mean. Reasons are
# stable across OpenSSL 1.1.1, 3.0 and 3.x; a few were renamed, so both spellings are listed.
_PROTOCOL_VERSION = frozenset(
    {
        "UNSUPPORTED_PROTOCOL",
        "TLSV1_ALERT_PROTOCOL_VERSION",
        "NO_PROTOCOLS_AVAILABLE",
        "WRONG_SSL_VERSION",
        "VERSION_TOO_LOW",
        "VERSION_TOO_HIGH",
        "TLSV1_ALERT_INAPPROPRIATE_FALLBACK",
    }
)
_NO_SHARED_CIPHER = frozenset(
    {
        "NO_SHARED_CIPHER",
        "NO_CIPHERS_AVAILABLE",
        "NO_SUITABLE_SIGNATURE_ALGORITHM",
        "NO_SHARED_SIGNATURE_ALGORITHMS",
        "WRONG_CIPHER_RETURNED",
        "TLSV1_ALERT_INSUFFICIENT_SECURITY",
        "NO_SHARED_GROUPS",
        "NO_SUITABLE_KEY_SHARE",
    }
)
# A handshake_failure alert (RFC 5246 §7.2.2) is what pre-2018 servers answer to a
# ClientHello without a suite they know; before the ServerHello it can mean nothing else.
_HANDSHAKE_FAILURE_ALERT = frozenset({"SSLV3_ALERT_HANDSHAKE_FAILURE", "ALERT_HANDSHAKE_FAILURE"})
_NOT_TLS = frozenset(
    {
        "WRONG_VERSION_NUMBER",
        "RECORD_LAYER_FAILURE",  # OpenSSL 3.2+ spelling for garbage records
        "PACKET_LENGTH_TOO_LONG",
        "HTTP_REQUEST",
        "HTTPS_PROXY_REQUEST",
        "UNKNOWN_PROTOCOL",
        "RECORD_LENGTH_MISMATCH",
    }
)
# Alerts a server sends when it does not accept our client certificate (or its absence).
_CLIENT_CERT_REFUSED = frozenset(
    {
        "TLSV13_ALERT_CERTIFICATE_REQUIRED",
        "SSLV3_ALERT_BAD_CERTIFICATE",
        "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
        "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
        "SSLV3_ALERT_CERTIFICATE_EXPIRED",
        "SSLV3_ALERT_CERTIFICATE_REVOKED",
        "TLSV1_ALERT_UNKNOWN_CA",
        "TLSV1_ALERT_ACCESS_DENIED",
    }
)
_LEGACY_RENEGOTIATION = "UNSAFE_LEGACY_RENEGOTIATION_DISABLED"

_LEGACY_HINT = (
    "The server predates RFC 5746 secure renegotiation (a server older than 2018); "
    "connect with tlsProfile=legacy."
)


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
        return reason.upper()
    # Errors raised without a reason (e.g. by _ssl.c itself) carry it only in the text.
    return str(exc).upper()


def translate(
    exc: BaseException,
    *,
    handshake: bool,
    negotiated: Optional[Callable[[], bool]] = None,
    backend: str = BACKEND_NAME,
) -> Optional[TLSError]:
    """The ``TLSError`` for a native exception, or ``None`` when it is not a network error.

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
        return _translate_ssl_error(exc, where, negotiated, backend)
    # socket.timeout is a subclass of OSError (not TimeoutError) on 3.9 (bpo-42413).
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return error_for_code("timeout", f"timed out {where} ({exc})", backend=backend)
    if isinstance(exc, (ConnectionError, EOFError)):
        return error_for_code(
            "connection-closed", f"the connection was closed {where} ({exc})", backend=backend
        )
    if isinstance(exc, OSError):
        return error_for_code("handshake-failure", f"socket error {where}: {exc}", backend=backend)
    return None


def _translate_ssl_error(
    exc: ssl.SSLError,
    where: str,
    negotiated: Optional[Callable[[], bool]],
    backend: str,
) -> TLSError:
    reason = _reason(exc)
    native = f"{reason}: {exc}"
    hint: Optional[str] = None
    if reason in _PROTOCOL_VERSION or reason.endswith("_ALERT_PROTOCOL_VERSION"):
        code = "protocol-version"
        message = f"no TLS version in common with the server {where} ({native})"
    elif reason in _NO_SHARED_CIPHER or (
        reason in _HANDSHAKE_FAILURE_ALERT and not _safely(negotiated)
    ):
        code = "no-shared-cipher"
        message = f"the server accepted none of the offered cipher suites ({native})"
    elif reason in _NOT_TLS:
        code = "not-tls"
        message = f"the peer does not speak TLS ({native})"
    elif reason in _HANDSHAKE_FAILURE_ALERT and negotiated is _always:
        code = "handshake-failure"
        message = (
            "the server aborted the connection with a handshake_failure alert after the "
            f"handshake, typically after asking to renegotiate, which tlsplug refuses ({native})"
        )
    elif reason in _CLIENT_CERT_REFUSED or reason in _HANDSHAKE_FAILURE_ALERT:
        code = "handshake-failure"
        message = (
            "the server refused the client certificate, or requires one and none was given "
            f"(tlsCertificateKeyFile) ({native})"
        )
        hint = (
            "Set tlsCertificateKeyFile to a certificate the server's CA issued for client "
            "authentication; the server's log says which check failed."
        )
    elif reason == _LEGACY_RENEGOTIATION:
        code = "handshake-failure"
        message = f"the server does not support secure renegotiation ({native})"
        hint = _LEGACY_HINT
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
) -> Iterator[None]:
    """Run a block, re-raising native TLS/socket errors as the matching ``TLSError``."""
    try:
        yield
    except Exception as exc:
        error = translate(exc, handshake=handshake, negotiated=negotiated, backend=backend)
        if error is None:
            raise
        raise error from exc
