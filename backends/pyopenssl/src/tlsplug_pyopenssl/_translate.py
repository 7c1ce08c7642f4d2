"""The one place where a native error becomes a ``TLSError``: ``_translate_errors()``.

Handshake, send, recv, close and the sans-IO object all run inside it, so every failure
gets a stable code, the native exception as ``__cause__`` and its text in the message, and
nothing from ``OpenSSL`` escapes to the caller. Certificate failures are decided by the
``X509_V_ERR_*`` number the verify callback recorded (``code_for_verify_error``), never by
the wording of the final error, which changes between OpenSSL releases.
"""

from __future__ import annotations

import contextlib
import ssl
from typing import Iterator, List, Optional

from OpenSSL import SSL

from tlsplug.backend import (
    CLOSED_ERRNOS,
    Facts,
    Failure,
    TLSError,
    WantReadError,
    WantWriteError,
    classified_error,
    os_failure,
)
from tlsplug.backend.openssl import (
    reason_token,
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

def _token(reason: str) -> str:
    # OpenSSL 3.2+ and 4.0 renamed the SSLv3 alert reasons ("ssl/tls alert ...", "tls alert
    # ..."); the core's reason_token maps every spelling to the one vocabulary token.
    return reason_token(reason)


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
    refused = _refused_staple(state, conn)
    if refused is not None:
        return refused
    facts = _facts(exc, state, conn)
    if facts.verify_failed:
        # Which certificate broke which strict rule, and the fix: the core's precise refusal.
        explained = explain_strict(
            facts.verify_error, facts.verify_depth, conn, state, backend=BACKEND_NAME,
            prefix=f"{_where(state, 'handshake')} failed: ",
        )
        if explained is not None:
            return explained
    return classified_error(
        facts, where=_where(state, operation), native=_native_text(exc), backend=BACKEND_NAME
    )


def _facts(
    exc: BaseException, state: Optional[ConnectionState], conn: Optional[SSL.Connection]
) -> Facts:
    """What the core's classification needs to know about ``exc``, read from pyOpenSSL."""
    if isinstance(exc, SSL.ZeroReturnError):
        return Facts(Failure.CLOSED)
    if isinstance(exc, SSL.SysCallError):
        # (-1, "Unexpected EOF") or (0, ...): the peer closed the TCP connection.
        code_no = exc.args[0] if exc.args else None
        closed = code_no in (-1, 0) or code_no in CLOSED_ERRNOS
        return Facts(Failure.CLOSED if closed else Failure.SYSTEM)
    if isinstance(exc, SSL.Error):
        return _ssl_facts(exc, state, conn)
    return Facts(os_failure(exc) or Failure.UNEXPECTED)


def _ssl_facts(
    exc: SSL.Error, state: Optional[ConnectionState], conn: Optional[SSL.Connection]
) -> Facts:
    reasons = tuple(reasons_of(exc))
    verify_failed = "CERTIFICATE_VERIFY_FAILED" in (_token(r) for r in reasons)
    errnum = depth = None
    if verify_failed:
        # The X509_V_ERR_* number the verify callback recorded, else OpenSSL's verify result.
        errnum = state.verify_error if state is not None else None
        depth = state.verify_depth if state is not None else None
        if errnum is None and conn is not None:
            errnum = verify_result(conn)
    return Facts(
        reasons=reasons,
        handshake_done=state is not None and state.handshake_done,
        negotiated=_negotiated(conn),
        verify_failed=verify_failed,
        verify_error=errnum,
        verify_depth=depth,
        verify_text=verify_error_string(errnum) if errnum is not None else None,
        options=state.options if state is not None else None,
        library=f"{openssl_version()} (pyOpenSSL's)",
    )


def _refused_staple(
    state: Optional[ConnectionState], conn: Optional[SSL.Connection]
) -> Optional[TLSError]:
    """The staple's refusal when the handshake failed after the chain was verified.

    The staple is judged once the handshake returns (``_ocsp``); when the server ends the
    handshake later still - under TLS 1.2, refusing our missing certificate after its
    own flight - OpenSSL's status callback would have refused a revoked or invalid staple
    first, so its refusal is reported first, as it was when the callback judged it.
    """
    if state is None or conn is None or state.handshake_done:
        return None
    judge = getattr(state.ocsp, "judge_staple", None)
    if judge is None or not (state.verify_error is None or state.deferred):
        return None
    try:
        if state.chain_facts(conn) is None:
            return None  # no verified chain: verification, not the staple, failed first
        judge(conn)
    except TLSError as refusal:
        return refusal
    except Exception:  # the native failure is the one to report
        return None
    return None


def _negotiated(conn: Optional[SSL.Connection]) -> bool:
    try:
        return conn is not None and conn.get_cipher_name() is not None
    except Exception:  # a broken connection object answers nothing useful
        return False


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
