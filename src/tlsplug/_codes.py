"""The error-code vocabulary of docs/design.md ("Errors"), as one set that mypy checks.

``ErrorCode`` is the ``Literal`` of every code; each code also has a ``Final`` constant, so a
backend writes ``codes.CERT_UNTRUSTED`` and a misspelt code fails type checking instead of at
run time. The values are the plain strings of the design contract: ``exc.code ==
"cert-untrusted"`` keeps working, and the codes print, pickle and serialise as before.
tests/test_codes.py checks that this set is the table of docs/design.md.
"""

from __future__ import annotations

from typing import Final, FrozenSet, Literal, Union, get_args

__all__ = [
    "ALL_CODES",
    "BACKEND_NOT_FOUND",
    "BACKEND_UNAVAILABLE",
    "BAD_PASSWORD",
    "CERTIFICATE_CODES",
    "CERT_EXPIRED",
    "CERT_INVALID",
    "CERT_NOT_YET_VALID",
    "CERT_REVOKED",
    "CERT_UNTRUSTED",
    "CONFIGURATION_CODES",
    "CONFLICTING_OPTIONS",
    "CONNECTION_CLOSED",
    "CONNECT_FAILED",
    "ErrorCode",
    "FILE_NOT_FOUND",
    "FILE_UNREADABLE",
    "HANDSHAKE_CODES",
    "HANDSHAKE_FAILURE",
    "HOSTNAME_MISMATCH",
    "INVALID_FILE",
    "INVALID_OPTION",
    "KEY_MISMATCH",
    "NOT_TLS",
    "NO_SHARED_CIPHER",
    "OCSP_INVALID_RESPONSE",
    "OCSP_MUST_STAPLE",
    "OCSP_REVOKED",
    "PASSWORD_REQUIRED",
    "PROTOCOL_VERSION",
    "TIMEOUT",
    "UNKNOWN_OPTION",
    "UNSUPPORTED_OPTION",
]

ConfigurationCode = Literal[
    "invalid-option",
    "conflicting-options",
    "unknown-option",
    "file-not-found",
    "file-unreadable",
    "invalid-file",
    "key-mismatch",
    "bad-password",
    "password-required",
    "backend-not-found",
    "backend-unavailable",
    "unsupported-option",
]
HandshakeCode = Literal[
    "protocol-version",
    "no-shared-cipher",
    "handshake-failure",
    "connection-closed",
    "connect-failed",
    "not-tls",
    "timeout",
]
CertificateCode = Literal[
    "cert-untrusted",
    "cert-expired",
    "cert-not-yet-valid",
    "hostname-mismatch",
    "cert-revoked",
    "ocsp-revoked",
    "ocsp-invalid-response",
    "ocsp-must-staple",
    "cert-invalid",
]
#: Every stable error code (``TLSError.code``).
ErrorCode = Union[ConfigurationCode, HandshakeCode, CertificateCode]

# ConfigurationError (also ValueError): invalid options or files, an unusable backend.
INVALID_OPTION: Final = "invalid-option"
CONFLICTING_OPTIONS: Final = "conflicting-options"
UNKNOWN_OPTION: Final = "unknown-option"
FILE_NOT_FOUND: Final = "file-not-found"
FILE_UNREADABLE: Final = "file-unreadable"
INVALID_FILE: Final = "invalid-file"
KEY_MISMATCH: Final = "key-mismatch"
BAD_PASSWORD: Final = "bad-password"
PASSWORD_REQUIRED: Final = "password-required"
BACKEND_NOT_FOUND: Final = "backend-not-found"
BACKEND_UNAVAILABLE: Final = "backend-unavailable"
UNSUPPORTED_OPTION: Final = "unsupported-option"

# HandshakeError (also ssl.SSLError, so OSError): the connection failed or broke.
PROTOCOL_VERSION: Final = "protocol-version"
NO_SHARED_CIPHER: Final = "no-shared-cipher"
HANDSHAKE_FAILURE: Final = "handshake-failure"
CONNECTION_CLOSED: Final = "connection-closed"
CONNECT_FAILED: Final = "connect-failed"
NOT_TLS: Final = "not-tls"
TIMEOUT: Final = "timeout"

# CertificateError (also ssl.SSLCertVerificationError): the peer's certificate was refused.
CERT_UNTRUSTED: Final = "cert-untrusted"
CERT_EXPIRED: Final = "cert-expired"
CERT_NOT_YET_VALID: Final = "cert-not-yet-valid"
HOSTNAME_MISMATCH: Final = "hostname-mismatch"
CERT_REVOKED: Final = "cert-revoked"
OCSP_REVOKED: Final = "ocsp-revoked"
OCSP_INVALID_RESPONSE: Final = "ocsp-invalid-response"
OCSP_MUST_STAPLE: Final = "ocsp-must-staple"
CERT_INVALID: Final = "cert-invalid"

CONFIGURATION_CODES: FrozenSet[ErrorCode] = frozenset(get_args(ConfigurationCode))
HANDSHAKE_CODES: FrozenSet[ErrorCode] = frozenset(get_args(HandshakeCode))
CERTIFICATE_CODES: FrozenSet[ErrorCode] = frozenset(get_args(CertificateCode))
ALL_CODES: FrozenSet[ErrorCode] = CONFIGURATION_CODES | HANDSHAKE_CODES | CERTIFICATE_CODES
