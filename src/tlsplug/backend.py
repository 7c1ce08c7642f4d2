"""The public API for backend authors: contracts, the shared policy, and the shared checks.

A backend is a thin translator: it takes ``TLSOptions``, loads files through
``load_materials``, applies ``policy_for(options)``, performs the handshake, and turns every
native error into a ``TLSError`` through one choke point, using ``code_for_verify_error`` for
certificate failures. Backends import only this module and ``tlsplug.ocsp``.

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

from ._bridge import BridgeSSLContext
from ._chainfacts import ChainFacts, ChainMemo
from ._chainlint import (
    X509_V_ERR_CA_BCONS_NOT_CRITICAL,
    X509_V_ERR_EMPTY_SUBJECT_SAN_NOT_CRITICAL,
    certificate_violation,
    newer_violation,
    strict_violation,
)
from ._crlchain import chain_crl_error
from ._errors import (
    ALL_CODES,
    CertificateError,
    ConfigurationError,
    HandshakeError,
    SecurityWarning,
    TLSError,
    error_for_code,
)
from ._hints import client_cert_hint, situated_hint
from ._hostname import (
    Identity,
    certificate_matches,
    check_identity,
    identity_matches,
    server_identity,
)
from ._limits import limits_error, limits_violation
from ._materials import MAX_FILE_SIZE, Materials, Trust, load_materials, system_trust
from ._options import TLSOptions
from ._policy import (
    LEGACY_CIPHERS,
    MODERN_CIPHERS,
    TLS13_CIPHERSUITES,
    X509_V_FLAG_CRL_CHECK,
    X509_V_FLAG_PARTIAL_CHAIN,
    X509_V_FLAG_X509_STRICT,
    Policy,
    code_for_verify_error,
    normalize_hostname,
    policy_for,
)
from ._protocols import (
    Backend,
    ClientContext,
    DeferredOCSP,
    Feature,
    TLSBuffer,
    TLSSocket,
    WantReadError,
    WantWriteError,
)
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
from ._sessions import Resumption, SessionKey, SessionStore, session_key
from ._sockcompat import SocketCompat, TLSSocketIO, no_flags, want_read, want_write
from ._strictrules import STRICT_RULES, StrictRule, is_strict_rule, strict_refusal, trust_anchors

__all__ = [
    "CLIENT_CERT_REFUSED_REASONS",
    "HANDSHAKE_FAILURE_ALERT_REASONS",
    "LEGACY_RENEGOTIATION_HINT",
    "LEGACY_RENEGOTIATION_REASON",
    "NOT_TLS_REASONS",
    "NO_SHARED_CIPHER_REASONS",
    "PROTOCOL_VERSION_REASONS",
    "ALL_CODES",
    "LEGACY_CIPHERS",
    "MAX_FILE_SIZE",
    "MODERN_CIPHERS",
    "TLS13_CIPHERSUITES",
    "X509_V_FLAG_CRL_CHECK",
    "X509_V_FLAG_PARTIAL_CHAIN",
    "X509_V_ERR_CA_BCONS_NOT_CRITICAL",
    "X509_V_ERR_EMPTY_SUBJECT_SAN_NOT_CRITICAL",
    "X509_V_FLAG_X509_STRICT",
    "STRICT_RULES",
    "Backend",
    "BridgeSSLContext",
    "CertificateError",
    "ChainFacts",
    "ChainMemo",
    "ClientContext",
    "DeferredOCSP",
    "ConfigurationError",
    "Feature",
    "HandshakeError",
    "Identity",
    "Materials",
    "Policy",
    "Resumption",
    "SecurityWarning",
    "SessionKey",
    "SessionStore",
    "StrictRule",
    "SocketCompat",
    "TLSBuffer",
    "TLSError",
    "TLSOptions",
    "TLSSocket",
    "TLSSocketIO",
    "Trust",
    "WantReadError",
    "WantWriteError",
    "certificate_matches",
    "check_identity",
    "certificate_violation",
    "chain_crl_error",
    "client_cert_hint",
    "code_for_verify_error",
    "error_for_code",
    "identity_matches",
    "is_strict_rule",
    "limits_error",
    "limits_violation",
    "load_materials",
    "newer_violation",
    "no_flags",
    "normalize_hostname",
    "policy_for",
    "reason_token",
    "server_identity",
    "situated_hint",
    "strict_refusal",
    "strict_violation",
    "session_key",
    "system_trust",
    "trust_anchors",
    "want_read",
    "want_write",
]
