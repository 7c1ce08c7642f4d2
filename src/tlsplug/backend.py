"""The public API for backend authors: contracts, the shared policy, and the shared checks.

A backend is a thin translator: it takes ``TLSOptions``, loads files through
``load_materials``, applies ``policy_for(options)``, performs the handshake, and turns every
native error into a ``TLSError`` through one choke point, using ``code_for_verify_error`` for
certificate failures. Backends import only this module and ``tlsplug.ocsp``.
"""

from __future__ import annotations

from ._errors import (
    ALL_CODES,
    CertificateError,
    ConfigurationError,
    HandshakeError,
    SecurityWarning,
    TLSError,
    error_for_code,
)
from ._hostname import certificate_matches
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
    Feature,
    TLSBuffer,
    TLSSocket,
    WantReadError,
    WantWriteError,
)

__all__ = [
    "ALL_CODES",
    "LEGACY_CIPHERS",
    "MAX_FILE_SIZE",
    "MODERN_CIPHERS",
    "TLS13_CIPHERSUITES",
    "X509_V_FLAG_CRL_CHECK",
    "X509_V_FLAG_PARTIAL_CHAIN",
    "X509_V_FLAG_X509_STRICT",
    "Backend",
    "CertificateError",
    "ClientContext",
    "ConfigurationError",
    "Feature",
    "HandshakeError",
    "Materials",
    "Policy",
    "SecurityWarning",
    "TLSBuffer",
    "TLSError",
    "TLSOptions",
    "TLSSocket",
    "Trust",
    "WantReadError",
    "WantWriteError",
    "certificate_matches",
    "code_for_verify_error",
    "error_for_code",
    "load_materials",
    "normalize_hostname",
    "policy_for",
    "system_trust",
]
