"""The OpenSSL reason tokens every OpenSSL-based backend maps to the same error codes.

Reasons are ``SSLError.reason`` spellings (``SSL_R_FOO_BAR`` -> ``"FOO_BAR"``), stable across
OpenSSL 1.1.1, 3.0 and 4.0 where listed in both spellings. The core owns this vocabulary so
the backends cannot drift apart (the conformance and differential suites check they do not).
"""

from __future__ import annotations

__all__ = [
    "CLIENT_CERT_REFUSED_REASONS",
    "HANDSHAKE_FAILURE_ALERT_REASONS",
    "LEGACY_RENEGOTIATION_HINT",
    "LEGACY_RENEGOTIATION_REASON",
    "NOT_TLS_REASONS",
    "NO_SHARED_CIPHER_REASONS",
    "PROTOCOL_VERSION_REASONS",
    "reason_token",
]

# The spellings OpenSSL gave the alerts SSLv3 defined (reasons 1010-1047) when it dropped
# SSLv3; the numbers never changed. 3.0 (and CPython's _ssl tables): "sslv3 alert handshake
# failure"; 3.2-3.x: "ssl/tls alert handshake failure" (cryptography 42's wheel); 4.0: "tls
# alert handshake failure". A backend that reads OpenSSL's text gets the 3.0 token back.
_RENAMED_ALERT_PREFIXES = ("SSL/TLS_ALERT_", "TLS_ALERT_")


def reason_token(reason: str) -> str:
    """The vocabulary token of an OpenSSL reason: ``SSL_R_*`` minus prefix, 3.0 spelling.

    Accepts ``SSLError.reason`` (``"SSLV3_ALERT_HANDSHAKE_FAILURE"``) as well as the text
    OpenSSL's error queue gives (``"ssl/tls alert handshake failure"``).
    """
    token = reason.strip().upper().replace(" ", "_").replace("-", "_")
    for prefix in _RENAMED_ALERT_PREFIXES:
        if token.startswith(prefix):
            return "SSLV3_ALERT_" + token[len(prefix) :]
    return token


# OpenSSL reason strings (``SSLError.reason``), grouped by the code they mean. Reasons are
# stable across OpenSSL 1.1.1, 3.0 and 3.x; a few were renamed, so both spellings are listed.
PROTOCOL_VERSION_REASONS = frozenset(
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
NO_SHARED_CIPHER_REASONS = frozenset(
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
HANDSHAKE_FAILURE_ALERT_REASONS = frozenset(
    {"SSLV3_ALERT_HANDSHAKE_FAILURE", "ALERT_HANDSHAKE_FAILURE"}
)
NOT_TLS_REASONS = frozenset(
    {
        "WRONG_VERSION_NUMBER",
        "RECORD_LAYER_FAILURE",  # OpenSSL 3.2+ spelling for garbage records
        "PACKET_LENGTH_TOO_LONG",
        "HTTP_REQUEST",
        "HTTPS_PROXY_REQUEST",
        "UNKNOWN_PROTOCOL",
        "RECORD_LENGTH_MISMATCH",
        # A record longer than TLS allows (2^14 + expansion, RFC 8446 §5.1/§5.2): OpenSSL 3.0
        # says DATA_LENGTH_TOO_LONG up to 2^14 + 2048, PACKET_LENGTH_TOO_LONG beyond; 4.0 adds
        # RECORD_LAYER_FAILURE. One situation, one code on every backend.
        "DATA_LENGTH_TOO_LONG",
        "ENCRYPTED_LENGTH_TOO_LONG",
    }
)
# Alerts a server sends when it does not accept our client certificate (or its absence).
CLIENT_CERT_REFUSED_REASONS = frozenset(
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
LEGACY_RENEGOTIATION_REASON = "UNSAFE_LEGACY_RENEGOTIATION_DISABLED"
LEGACY_RENEGOTIATION_HINT = (
    "The server predates RFC 5746 secure renegotiation (a server older than 2018); "
    "connect with tlsProfile=legacy."
)
