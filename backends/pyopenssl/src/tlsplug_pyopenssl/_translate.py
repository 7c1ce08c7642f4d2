"""The one place where a native error becomes a ``TLSError``: ``_translate_errors()``.

Handshake, send, recv, close and the sans-IO object all run inside it, so every failure
gets a stable code, the native exception as ``__cause__`` and its text in the message, and
nothing from ``OpenSSL`` escapes to the caller. Certificate failures are decided by the
``X509_V_ERR_*`` number the verify callback recorded (``code_for_verify_error``), never by
the wording of the final error, which changes between OpenSSL releases.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import ssl
from typing import Iterator, List, Optional, Protocol

from OpenSSL import SSL

from tlsplug.backend import (
    CLIENT_CERT_REFUSED_REASONS,
    HANDSHAKE_FAILURE_ALERT_REASONS,
    LEGACY_RENEGOTIATION_HINT,
    LEGACY_RENEGOTIATION_REASON,
    NO_SHARED_CIPHER_REASONS,
    NOT_TLS_REASONS,
    PROTOCOL_VERSION_REASONS,
    TLSError,
    WantReadError,
    WantWriteError,
    client_cert_hint,
    code_for_verify_error,
    error_for_code,
    reason_token,
    situated_hint,
)

from ._checks import chain_failure
from ._verify import (
    BACKEND_NAME,
    ConnectionState,
    explain_strict,
    verify_error_string,
    verify_result,
)

__all__ = ["BACKEND_NAME", "openssl_version", "reasons_of", "translate", "_translate_errors"]

_CLOSED_ERRNOS = frozenset(
    {errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED, errno.ENOTCONN, errno.ESHUTDOWN}
)



def _token(reason: str) -> str:
    # OpenSSL 3.2+ and 4.0 renamed the SSLv3 alert reasons ("ssl/tls alert ...", "tls alert
    # ..."); the core's reason_token maps every spelling to the one vocabulary token.
    return reason_token(reason)


class _Maker(Protocol):
    def __call__(self, code: str, what: str, hint: Optional[str] = None) -> TLSError: ...


def openssl_version() -> str:
    """The OpenSSL version pyOpenSSL runs on (its wheel bundles its own)."""
    raw = SSL.OpenSSL_version(SSL.OPENSSL_VERSION)
    return raw.decode("ascii", "replace") if isinstance(raw, bytes) else str(raw)


def reasons_of(exc: SSL.Error) -> List[str]:
    """The reason strings of an ``SSL.Error`` (its args are a list of (lib, func, reason))."""
    out: List[str] = []
    for arg in exc.args:
        if isinstance(arg, list):
            for entry in arg:
                if isinstance(entry, tuple) and entry:
                    out.append(str(entry[-1]))
                else:
                    out.append(str(entry))
        else:
            out.append(str(arg))
    return [r for r in out if r]


def _native_text(exc: BaseException) -> str:
    if isinstance(exc, SSL.Error) and not isinstance(exc, SSL.SysCallError):
        return "; ".join(reasons_of(exc)) or type(exc).__name__
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _where(state: Optional[ConnectionState], operation: str) -> str:
    host = state.server_hostname if state is not None else None
    return f"TLS {operation}" + (f" with {host}" if host else "")


def translate(
    exc: BaseException,
    state: Optional[ConnectionState],
    conn: Optional[SSL.Connection],
    operation: str,
) -> TLSError:
    """The ``TLSError`` for a native exception raised during ``operation``."""
    if isinstance(exc, TLSError):
        return exc
    if (
        state is not None
        and state.strict
        and not state.handshake_done
        and conn is not None
        and (state.verify_error is None or state.deferred)  # else OpenSSL's error is first
    ):
        # The handshake failed after the chain was verified (e.g. the server refused our
        # certificate under TLS 1.2): a strict-lint violation or a deferred chain error
        # (_checks.py) is what OpenSSL 3.0 - so the stdlib backend - reports, and first.
        deferred = chain_failure(conn, state)
        if deferred is not None:
            return deferred
    stashed = _stashed_ocsp_error(state, exc)
    if stashed is not None:
        return stashed
    where = _where(state, operation)
    native = _native_text(exc)

    def make(code: str, what: str, hint: Optional[str] = None) -> TLSError:
        return error_for_code(
            code, f"{where} failed: {what} ({native})", backend=BACKEND_NAME, hint=hint
        )

    if isinstance(exc, (socket.timeout, TimeoutError)):
        return make("timeout", "the peer did not answer in time")
    if isinstance(exc, SSL.ZeroReturnError):
        return make("connection-closed", "the peer closed the TLS connection")
    if isinstance(exc, SSL.SysCallError):
        code_no = exc.args[0] if exc.args else None
        if code_no == -1 or code_no in _CLOSED_ERRNOS or code_no == 0:
            return make("connection-closed", "the peer closed the connection")
        return make("handshake-failure", "a system call failed")
    if isinstance(exc, SSL.Error):
        return _translate_ssl_error(exc, state, conn, make)
    if isinstance(exc, (ConnectionError, BrokenPipeError)):
        return make("connection-closed", "the peer closed the connection")
    if isinstance(exc, OSError) and exc.errno in _CLOSED_ERRNOS:
        return make("connection-closed", "the peer closed the connection")
    return make("handshake-failure", "unexpected error")


def _stashed_ocsp_error(state: Optional[ConnectionState], exc: BaseException) -> Optional[TLSError]:
    """The tlsplug error the OCSP status callback stashed before refusing the staple.

    The callback returns False, OpenSSL aborts with SSL_R_INVALID_STATUS_RESPONSE
    ("invalid status response"); the stashed error says why (``ocsp-revoked``,
    ``ocsp-invalid-response``, ``ocsp-must-staple``) and keeps that text in its message.
    """
    tracker = getattr(state, "ocsp", None) if state is not None else None
    error = getattr(tracker, "error", None)
    if isinstance(error, TLSError) and isinstance(exc, SSL.Error):
        return error
    return None


def _negotiated(conn: Optional[SSL.Connection]) -> bool:
    try:
        return conn is not None and conn.get_cipher_name() is not None
    except Exception:  # a broken connection object answers nothing useful
        return False


def _translate_ssl_error(
    exc: SSL.Error,
    state: Optional[ConnectionState],
    conn: Optional[SSL.Connection],
    make: _Maker,
) -> TLSError:
    tokens = [_token(r) for r in reasons_of(exc)]
    if "CERTIFICATE_VERIFY_FAILED" in tokens:
        errnum = state.verify_error if state is not None else None
        depth = state.verify_depth if state is not None else None
        if errnum is None and conn is not None:
            errnum = verify_result(conn)
        if errnum is None:
            return make("cert-invalid", "certificate verify failed")
        explained = explain_strict(
            errnum, depth, conn, state, backend=BACKEND_NAME,
            prefix=f"{_where(state, 'handshake')} failed: ",
        )
        if explained is not None:  # which certificate broke which strict rule, and the fix
            return explained
        at = f" at depth {depth}" if depth is not None else ""
        code = code_for_verify_error(errnum)
        return make(
            code,
            f"certificate verify failed: {verify_error_string(errnum)} "
            f"(OpenSSL verify error {errnum}{at})",
            hint=situated_hint(code, state.options if state is not None else None),
        )
    for token in tokens:
        if token in PROTOCOL_VERSION_REASONS or token.endswith("_ALERT_PROTOCOL_VERSION"):
            return make(
                "protocol-version",
                "no TLS version in common with the server",
                hint=situated_hint("protocol-version", state.options if state else None)
                or (
                    "The server and client share no TLS version. Old servers need "
                    f"tlsProfile=legacy. OpenSSL in use: {openssl_version()} (pyOpenSSL's)."
                ),
            )
        if token in NO_SHARED_CIPHER_REASONS or (
            token in HANDSHAKE_FAILURE_ALERT_REASONS and not _negotiated(conn)
        ):
            return make(
                "no-shared-cipher",
                "the server accepted none of the offered cipher suites",
                hint=situated_hint("no-shared-cipher", state.options if state else None),
            )
        if token in NOT_TLS_REASONS:
            return make("not-tls", "the peer does not speak TLS")
        if token in HANDSHAKE_FAILURE_ALERT_REASONS and state is not None and state.handshake_done:
            return make(
                "handshake-failure",
                "the server aborted the connection with a handshake_failure alert after the "
                "handshake, typically after asking to renegotiate, which tlsplug refuses",
            )
        if token in CLIENT_CERT_REFUSED_REASONS or token in HANDSHAKE_FAILURE_ALERT_REASONS:
            return make(
                "handshake-failure",
                "the server refused the client certificate, or requires one and none was "
                "given (tlsCertificateKeyFile)",
                hint=client_cert_hint(state.options if state is not None else None),
            )
        if token == LEGACY_RENEGOTIATION_REASON:
            return make(
                "handshake-failure",
                "the server does not support secure renegotiation",
                hint=LEGACY_RENEGOTIATION_HINT,
            )
        if "EOF" in token:
            return make("connection-closed", "the peer closed the connection")
    return make("handshake-failure", "TLS failure")


@contextlib.contextmanager
def _translate_errors(
    state: Optional[ConnectionState],
    conn: Optional[SSL.Connection],
    operation: str,
) -> Iterator[None]:
    """Run the block; re-raise any native failure as the matching ``TLSError``."""
    try:
        yield
    except (TLSError, WantReadError, WantWriteError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
        raise  # ssl's: a non-blocking socket's signal (_socket.py), as ssl.SSLSocket's
    except Exception as exc:
        raise translate(exc, state, conn, operation) from exc
