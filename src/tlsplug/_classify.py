"""The one classification of a failed TLS operation: neutral facts in, code, message, hint out.

A backend's translator only extracts facts from its native exception (the library's reason
strings, whether the handshake had completed, the X.509 verify error, what was negotiated)
and calls :func:`classify`, so both backends decide every situation by the same rules and
cannot drift apart (the conformance and differential suites check the outcome). The codes
are those of docs/design.md ("Errors"), from ``_codes``.
"""

from __future__ import annotations

import dataclasses
import enum
import errno
import socket
from typing import Callable, Dict, NamedTuple, Optional, Tuple

from ._codes import (
    CERT_INVALID,
    CONNECTION_CLOSED,
    HANDSHAKE_FAILURE,
    NO_SHARED_CIPHER,
    NOT_TLS,
    PROTOCOL_VERSION,
    TIMEOUT,
    ErrorCode,
)
from ._errors import TLSError, error_for_code
from ._hints import client_cert_hint, protocol_version_hint, situated_hint
from ._options import TLSOptions
from ._policy import code_for_verify_error
from ._reasons import (
    CLIENT_CERT_REFUSED_REASONS,
    HANDSHAKE_FAILURE_ALERT_REASONS,
    LEGACY_RENEGOTIATION_HINT,
    LEGACY_RENEGOTIATION_REASON,
    NO_SHARED_CIPHER_REASONS,
    NOT_TLS_REASONS,
    PROTOCOL_VERSION_REASONS,
    reason_token,
)

__all__ = [
    "CLOSED_ERRNOS",
    "Facts",
    "Failure",
    "Verdict",
    "classified_error",
    "classify",
    "closed_socket_error",
    "os_failure",
]

# What ssl and OpenSSL report for every certificate verification failure (SSL_R_*).
_VERIFY_FAILED = "CERTIFICATE_VERIFY_FAILED"


class Failure(enum.Enum):
    """What kind of native failure a backend caught, before any TLS reason is read."""

    #: The TLS library refused or aborted: decided by ``reasons`` and the verify facts.
    TLS = "tls"
    #: The peer ended the connection (close_notify, EOF, reset, broken pipe).
    CLOSED = "closed"
    #: The socket's timeout expired.
    TIMEOUT = "timeout"
    #: Another operating-system error on the socket.
    SYSTEM = "system"
    #: Anything else the TLS library raised.
    UNEXPECTED = "unexpected"
    # What a TLS library that has no OpenSSL reason strings says directly; classify words
    # them and writes the hints exactly as for the OpenSSL reasons that mean the same.
    #: No protocol version in common (a protocol_version alert, RFC 8446 6.2).
    PROTOCOL_VERSION = "protocol-version"
    #: No cipher suite in common (a handshake_failure alert before the ServerHello).
    NO_SHARED_CIPHER = "no-shared-cipher"
    #: The peer's bytes are not TLS records.
    NOT_TLS = "not-tls"
    #: The server refused the client certificate, or required one and got none.
    CLIENT_CERT_REFUSED = "client-cert-refused"
    #: The server aborted after the handshake (its answer to a refused renegotiation).
    ABORTED_AFTER_HANDSHAKE = "aborted-after-handshake"


@dataclasses.dataclass(frozen=True)
class Facts:
    """What a backend extracted from one native failure; the input of :func:`classify`."""

    failure: Failure = Failure.TLS
    #: The library's reason strings in the order it reported them (``SSLError.reason``, or
    #: the text of OpenSSL's error queue); ``reason_token`` normalises their spelling.
    reasons: Tuple[str, ...] = ()
    #: The handshake had completed before the failure (a cipher was negotiated, too).
    handshake_done: bool = False
    #: A ServerHello chose a cipher before the failure.
    negotiated: bool = False
    #: The library said certificate verification failed (even without an error number).
    verify_failed: bool = False
    #: The ``X509_V_ERR_*`` number, the depth of the certificate and the library's words;
    #: read only when verification failed (a recorded number alone decides nothing).
    verify_error: Optional[int] = None
    verify_depth: Optional[int] = None
    verify_text: Optional[str] = None
    #: A certificate failure already in the core's words, from a library without
    #: ``X509_V_ERR_*`` numbers (e.g. ``codes.CERT_EXPIRED``); it decides like a number.
    verify_code: Optional[ErrorCode] = None
    #: The connection's options: hints say what the user set, never advise it again.
    options: Optional[TLSOptions] = None
    #: The TLS library in use, with its version (the ``protocol-version`` hint names it).
    library: Optional[str] = None


#: The errno values of a connection the peer (or the network) ended.
CLOSED_ERRNOS = frozenset(
    {errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED, errno.ENOTCONN, errno.ESHUTDOWN}
)


def os_failure(exc: BaseException) -> Optional[Failure]:
    """The ``Failure`` of a socket-level exception, or None when ``exc`` is not one."""
    # socket.timeout is a subclass of OSError (not TimeoutError) on 3.9 (bpo-42413).
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return Failure.TIMEOUT
    if isinstance(exc, (ConnectionError, EOFError)):
        return Failure.CLOSED
    if isinstance(exc, OSError):
        return Failure.CLOSED if exc.errno in CLOSED_ERRNOS else Failure.SYSTEM
    return None


class Verdict(NamedTuple):
    """The classification of one failure: its code, what happened, and the hint."""

    code: ErrorCode
    #: What happened, without where or the native text (``classified_error`` adds those).
    message: str
    #: None: the code's default hint (``_errors._HINTS``).
    hint: Optional[str] = None


def classify(facts: Facts) -> Verdict:
    """The code, message and hint of a failure, from the facts a backend extracted."""
    if facts.failure is Failure.TIMEOUT:
        return Verdict(TIMEOUT, "the peer did not answer in time")
    if facts.failure is Failure.CLOSED:
        return Verdict(CONNECTION_CLOSED, "the peer closed the connection")
    if facts.failure is Failure.SYSTEM:
        return Verdict(HANDSHAKE_FAILURE, "a socket operation failed")
    if facts.failure is Failure.UNEXPECTED:
        return Verdict(HANDSHAKE_FAILURE, "unexpected error")
    if facts.failure in _KIND_VERDICTS:
        return _KIND_VERDICTS[facts.failure](facts)
    tokens = [reason_token(reason) for reason in facts.reasons]
    if facts.verify_failed or facts.verify_code is not None or _VERIFY_FAILED in tokens:
        # Decided by the X509_V_ERR_* number, never by the wording of the final error, which
        # changes between OpenSSL releases.
        return _verify_verdict(facts)
    for token in tokens:  # the first reason OpenSSL queued is the cause; later ones follow
        verdict = _reason_verdict(token, facts)
        if verdict is not None:
            return verdict
    return Verdict(HANDSHAKE_FAILURE, "TLS failure")


def _verify_verdict(facts: Facts) -> Verdict:
    if facts.verify_code is not None:  # a library that names the failure in our words
        words = facts.verify_text or facts.verify_code
        return Verdict(facts.verify_code, f"certificate verify failed: {words}",
                       situated_hint(facts.verify_code, facts.options))
    errnum = facts.verify_error
    if errnum is None:  # refused, but the library did not say why: not a known trust failure
        return Verdict(CERT_INVALID, "certificate verify failed")
    code = code_for_verify_error(errnum)
    at = f" at depth {facts.verify_depth}" if facts.verify_depth is not None else ""
    words = facts.verify_text or _VERIFY_FAILED
    return Verdict(
        code,
        f"certificate verify failed: {words} (OpenSSL verify error {errnum}{at})",
        situated_hint(code, facts.options),
    )


def _reason_verdict(token: str, facts: Facts) -> Optional[Verdict]:
    """The verdict an OpenSSL reason token means, through the neutral kind it stands for."""
    negotiated = facts.negotiated or facts.handshake_done
    kind: Optional[Failure] = None
    if token in PROTOCOL_VERSION_REASONS or token.endswith("_ALERT_PROTOCOL_VERSION"):
        kind = Failure.PROTOCOL_VERSION
    # A handshake_failure alert before the ServerHello can only mean "no suite in common"
    # (RFC 5246 §7.2.2; _reasons.HANDSHAKE_FAILURE_ALERT_REASONS).
    elif token in NO_SHARED_CIPHER_REASONS or (
        token in HANDSHAKE_FAILURE_ALERT_REASONS and not negotiated
    ):
        kind = Failure.NO_SHARED_CIPHER
    elif token in NOT_TLS_REASONS:
        kind = Failure.NOT_TLS
    elif token in HANDSHAKE_FAILURE_ALERT_REASONS and facts.handshake_done:
        kind = Failure.ABORTED_AFTER_HANDSHAKE
    elif token in CLIENT_CERT_REFUSED_REASONS or token in HANDSHAKE_FAILURE_ALERT_REASONS:
        kind = Failure.CLIENT_CERT_REFUSED
    elif token == LEGACY_RENEGOTIATION_REASON:
        return Verdict(
            HANDSHAKE_FAILURE,
            "the server does not support secure renegotiation",
            LEGACY_RENEGOTIATION_HINT,
        )
    elif "EOF" in token:  # UNEXPECTED_EOF_WHILE_READING and older spellings
        kind = Failure.CLOSED
    if kind is None:
        return None
    if kind is Failure.CLOSED:
        return Verdict(CONNECTION_CLOSED, "the peer closed the connection")
    return _KIND_VERDICTS[kind](facts)


def _protocol_version(facts: Facts) -> Verdict:
    hint = situated_hint(PROTOCOL_VERSION, facts.options)
    if hint is None and facts.library is not None:
        hint = protocol_version_hint(facts.library)
    return Verdict(PROTOCOL_VERSION, "no TLS version in common with the server", hint)


def _no_shared_cipher(facts: Facts) -> Verdict:
    return Verdict(
        NO_SHARED_CIPHER,
        "the server accepted none of the offered cipher suites",
        situated_hint(NO_SHARED_CIPHER, facts.options),
    )


def _not_tls(facts: Facts) -> Verdict:
    return Verdict(NOT_TLS, "the peer does not speak TLS")


def _aborted_after_handshake(facts: Facts) -> Verdict:
    # After the handshake: the server's answer to our refusing to renegotiate.
    return Verdict(
        HANDSHAKE_FAILURE,
        "the server aborted the connection with a handshake_failure alert after the "
        "handshake, typically after asking to renegotiate, which tlsplug refuses",
    )


def _client_cert_refused(facts: Facts) -> Verdict:
    return Verdict(
        HANDSHAKE_FAILURE,
        "the server refused the client certificate, or requires one and none was given "
        "(tlsCertificateKeyFile)",
        client_cert_hint(facts.options),
    )


#: The one verdict of each neutral kind, whether a backend said it or an OpenSSL reason did.
_KIND_VERDICTS: Dict[Failure, Callable[[Facts], Verdict]] = {
    Failure.PROTOCOL_VERSION: _protocol_version,
    Failure.NO_SHARED_CIPHER: _no_shared_cipher,
    Failure.NOT_TLS: _not_tls,
    Failure.ABORTED_AFTER_HANDSHAKE: _aborted_after_handshake,
    Failure.CLIENT_CERT_REFUSED: _client_cert_refused,
}


def classified_error(facts: Facts, *, where: str, native: str, backend: str) -> TLSError:
    """The ``TLSError`` of ``classify(facts)``: ``"{where} failed: {what} ({native})"``.

    ``where`` names the operation (and the host when known), ``native`` repeats the native
    error's reason and text, because that is what users search for.
    """
    verdict = classify(facts)
    return error_for_code(
        verdict.code, f"{where} failed: {verdict.message} ({native})", backend=backend,
        hint=verdict.hint,
    )


def closed_socket_error(backend: str) -> TLSError:
    """``connection-closed`` for ``send``/``recv`` after ``close()`` (docs/design.md, "Errors")."""
    return error_for_code(
        CONNECTION_CLOSED, "the TLS socket is closed", backend=backend,
        hint="close() was called on this connection; open a new one.",
    )
