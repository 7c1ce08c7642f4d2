"""The OpenSSL vocabulary for backends built on OpenSSL (Python's ``ssl``, pyOpenSSL, ...).

:mod:`tlsplug.backend` is the contract every backend needs, whatever its TLS library. What
only makes sense to a backend that speaks OpenSSL is here: the ``SSL_R_*`` reason tokens
grouped by the error code they mean, the ``X509_V_ERR_*`` and ``X509_V_FLAG_*`` numbers, the
OpenSSL cipher strings the profiles pin, and the chain checks that even out the differences
between OpenSSL builds (3.0 in Python's ``ssl``, 3.2+/4.0 in pyOpenSSL's wheel). A backend on
another TLS library does not import this module.

The rules stay in the core, one per decision (docs/design.md): both OpenSSL backends read
these tables instead of spelling reasons or numbers of their own, so they cannot drift apart.
"""

from __future__ import annotations

from .._chainlint import (
    X509_V_ERR_CA_BCONS_NOT_CRITICAL,
    X509_V_ERR_EMPTY_SUBJECT_SAN_NOT_CRITICAL,
    certificate_violation,
    newer_violation,
    strict_violation,
)
from .._policy import (
    LEGACY_CIPHERS,
    MODERN_CIPHERS,
    TLS13_CIPHERSUITES,
    X509_V_FLAG_CRL_CHECK,
    X509_V_FLAG_PARTIAL_CHAIN,
    X509_V_FLAG_X509_STRICT,
    code_for_verify_error,
)
from .._reasons import (
    CLIENT_CERT_REFUSED_REASONS,
    HANDSHAKE_FAILURE_ALERT_REASONS,
    LEGACY_RENEGOTIATION_HINT,
    LEGACY_RENEGOTIATION_REASON,
    NO_SHARED_CIPHER_REASONS,
    NOT_TLS_REASONS,
    PROTOCOL_VERSION_REASONS,
    reason_token,
)
from .._strictrules import STRICT_RULES, StrictRule, is_strict_rule, strict_refusal

__all__ = [
    # SSL_R_* reason tokens, grouped by the code they mean (tlsplug._reasons)
    "CLIENT_CERT_REFUSED_REASONS",
    "HANDSHAKE_FAILURE_ALERT_REASONS",
    "LEGACY_RENEGOTIATION_HINT",
    "LEGACY_RENEGOTIATION_REASON",
    "NOT_TLS_REASONS",
    "NO_SHARED_CIPHER_REASONS",
    "PROTOCOL_VERSION_REASONS",
    "reason_token",
    # X509_V_ERR_* numbers and the verify-error mapping
    "X509_V_ERR_CA_BCONS_NOT_CRITICAL",
    "X509_V_ERR_EMPTY_SUBJECT_SAN_NOT_CRITICAL",
    "code_for_verify_error",
    # the profiles in OpenSSL's terms: cipher strings and X509_V_FLAG_* verify flags
    "LEGACY_CIPHERS",
    "MODERN_CIPHERS",
    "TLS13_CIPHERSUITES",
    "X509_V_FLAG_CRL_CHECK",
    "X509_V_FLAG_PARTIAL_CHAIN",
    "X509_V_FLAG_X509_STRICT",
    # what one OpenSSL build checks and another does not (tlsplug._chainlint)
    "certificate_violation",
    "newer_violation",
    "strict_violation",
    # the strict X.509 rules, keyed by the X509_V_ERR_* number OpenSSL reports
    "STRICT_RULES",
    "StrictRule",
    "is_strict_rule",
    "strict_refusal",
]
