"""The public API for backend authors: contracts, the shared policy, and the shared checks.

A backend is a thin translator: it takes ``TLSOptions``, loads files through
``load_materials``, applies ``policy_for(options)``, performs the handshake, and turns every
native error into a ``TLSError`` through one choke point: it extracts the neutral ``Facts``
(reasons, handshake state, verify error) and lets ``classify`` / ``classified_error`` decide
the code, message and hint. Codes are spelt ``codes.CERT_UNTRUSTED`` (the ``ErrorCode`` set,
which mypy checks), never as strings. Backends import only this module, ``tlsplug.ocsp``
and, when their TLS library is OpenSSL, :mod:`tlsplug.backend.openssl` (reason tokens,
``X509_V_*`` numbers and ``code_for_verify_error``, cipher strings, the chain checks that
even out OpenSSL builds).

OCSP: a backend that can read staples judges them during the handshake with
``tlsplug.ocsp.check_staple`` (declaring ``Feature.OCSP_STAPLING``); after the handshake it
runs ``tlsplug.ocsp.post_handshake_check`` for the responders (``Feature.OCSP_ENDPOINT``),
and exposes ``ocsp_status``. Its sans-IO buffer should implement the ``DeferredOCSP`` hook
(described on ``TLSBuffer``) so ``tlsplug.aio`` can run the responder check with
``post_handshake_check_async`` instead of blocking the event loop inside ``do_handshake``.
A backend whose TLS library cannot see staples passes ``stapling=False`` and must refuse a
must-staple certificate with ``ConfigurationError(code="unsupported-option")`` rather than
accept it unchecked (RFC 7633; the stdlib backend does so).

Sockets: drivers use ``wrap_socket``'s result as an ``ssl.SSLSocket``. A backend's socket class
inherits ``SocketCompat`` (``makefile``, ``setblocking``, ``shutdown``, ``family``, ...),
starts its ``close()`` with ``if self._defer_close(): return``, raises ``want_read()`` /
``want_write()`` (exactly ``ssl.SSLWantReadError``/``SSLWantWriteError``) in non-blocking mode,
and refuses non-zero ``flags`` with ``no_flags``; the conformance suite checks all of it.

``tlsplug.create_ssl_context`` routes every backend through its ``ClientContext``
(``wrap_buffers`` behind an ``ssl.SSLObject`` face for asyncio, ``wrap_socket`` for blocking
callers), so a backend needs nothing more for it. A backend whose TLS library *is* Python's
``ssl`` may instead offer the optional hook ``create_ssl_context(options)`` returning a
``BridgeSSLContext`` subclass of its own (the stdlib backend does); an event loop's
handshake then decides OCSP with ``tlsplug.ocsp.post_handshake_check_nowait``.
"""

from __future__ import annotations

import importlib
import warnings
from typing import TYPE_CHECKING, Any, List

from .. import _codes as codes
from .._bridge import BridgeSSLContext
from .._chainfacts import ChainFacts, ChainMemo
from .._classify import (
    CLOSED_ERRNOS,
    Facts,
    Failure,
    Verdict,
    classified_error,
    classify,
    closed_socket_error,
    os_failure,
)
from .._codes import ALL_CODES, ErrorCode
from .._crlchain import chain_crl_error
from .._decision import NOT_DECIDED, LastDecision
from .._errors import (
    CertificateError,
    ConfigurationError,
    HandshakeError,
    SecurityWarning,
    TLSError,
    error_for_code,
    option_error,
)
from .._hints import client_cert_hint, situated_hint
from .._hostname import (
    Identity,
    certificate_matches,
    check_identity,
    identity_matches,
    server_identity,
)
from .._limits import limits_error, limits_violation
from .._materials import MAX_FILE_SIZE, Materials, Trust, load_materials, system_trust
from .._options import TLSOptions
from .._policy import Policy, normalize_hostname, policy_for
from .._protocols import (
    Backend,
    ClientContext,
    DeferredOCSP,
    Feature,
    TLSBuffer,
    TLSSocket,
    WantReadError,
    WantWriteError,
)
from .._records import read_records
from .._sessions import Resumption, SessionKey, SessionStore, session_key
from .._sockcompat import SocketCompat, TLSSocketIO, no_flags, want_read, want_write
from .._strictrules import trust_anchors

__all__ = [
    "CLOSED_ERRNOS",
    "ALL_CODES",
    "MAX_FILE_SIZE",
    "Backend",
    "BridgeSSLContext",
    "CertificateError",
    "ChainFacts",
    "ChainMemo",
    "ClientContext",
    "DeferredOCSP",
    "ErrorCode",
    "Facts",
    "Failure",
    "ConfigurationError",
    "Feature",
    "HandshakeError",
    "Identity",
    "LastDecision",
    "Materials",
    "NOT_DECIDED",
    "Policy",
    "Resumption",
    "SecurityWarning",
    "SessionKey",
    "SessionStore",
    "SocketCompat",
    "TLSBuffer",
    "TLSError",
    "TLSOptions",
    "TLSSocket",
    "TLSSocketIO",
    "Verdict",
    "Trust",
    "WantReadError",
    "WantWriteError",
    "certificate_matches",
    "check_identity",
    "chain_crl_error",
    "classified_error",
    "classify",
    "closed_socket_error",
    "codes",
    "client_cert_hint",
    "error_for_code",
    "identity_matches",
    "limits_error",
    "limits_violation",
    "load_materials",
    "no_flags",
    "read_records",
    "normalize_hostname",
    "os_failure",
    "option_error",
    "policy_for",
    "server_identity",
    "situated_hint",
    "session_key",
    "system_trust",
    "trust_anchors",
    "want_read",
    "want_write",
]

# Names that moved to tlsplug.backend.openssl (issue 17: the contract is neutral; what
# presumes OpenSSL has its own module). They keep working from here, with a warning.
_MOVED_TO_OPENSSL = frozenset(
    {
        "CLIENT_CERT_REFUSED_REASONS",
        "HANDSHAKE_FAILURE_ALERT_REASONS",
        "LEGACY_CIPHERS",
        "LEGACY_RENEGOTIATION_HINT",
        "LEGACY_RENEGOTIATION_REASON",
        "MODERN_CIPHERS",
        "NOT_TLS_REASONS",
        "NO_SHARED_CIPHER_REASONS",
        "PROTOCOL_VERSION_REASONS",
        "STRICT_RULES",
        "StrictRule",
        "TLS13_CIPHERSUITES",
        "X509_V_ERR_CA_BCONS_NOT_CRITICAL",
        "X509_V_ERR_EMPTY_SUBJECT_SAN_NOT_CRITICAL",
        "X509_V_FLAG_CRL_CHECK",
        "X509_V_FLAG_PARTIAL_CHAIN",
        "X509_V_FLAG_X509_STRICT",
        "certificate_violation",
        "code_for_verify_error",
        "is_strict_rule",
        "newer_violation",
        "reason_token",
        "strict_refusal",
        "strict_violation",
    }
)


if not TYPE_CHECKING:  # type checkers name the new place; at run time the old one still works

    def __getattr__(name: str) -> Any:
        # PEP 562: only called for names this module does not define.
        if name in _MOVED_TO_OPENSSL:
            warnings.warn(
                f"tlsplug.backend.{name} moved to tlsplug.backend.openssl.{name} (the "
                "OpenSSL helpers of the backend API); import it from there",
                DeprecationWarning,
                stacklevel=2,
            )
            return getattr(importlib.import_module(f"{__name__}.openssl"), name)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> List[str]:
    return sorted({*globals(), *_MOVED_TO_OPENSSL})
