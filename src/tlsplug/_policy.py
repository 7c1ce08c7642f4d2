"""The pinned policy of each profile, and the vocabulary shared by every backend's checks."""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import ssl
from typing import Dict, Optional, Tuple, Union

from ._codes import (
    CERT_EXPIRED,
    CERT_INVALID,
    CERT_NOT_YET_VALID,
    CERT_REVOKED,
    CERT_UNTRUSTED,
    HOSTNAME_MISMATCH,
    ErrorCode,
)
from ._hostname import server_identity
from ._options import TLSOptions

__all__ = [
    "LEGACY_CIPHERS",
    "MODERN_CIPHERS",
    "TLS13_CIPHERSUITES",
    "Policy",
    "code_for_verify_error",
    "normalize_hostname",
    "policy_for",
]

# Forward-secret AEAD suites only, named one by one (not "ECDHE+AESGCM") so OpenSSL 3.0
# (Python's ssl) and OpenSSL 4.0 (pyOpenSSL's wheel) expand to the same list, in this order.
# Mozilla's "intermediate" configuration is the source of the selection.
MODERN_CIPHERS = ":".join(
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
        "DHE-RSA-AES128-GCM-SHA256",
        "DHE-RSA-AES256-GCM-SHA384",
        "DHE-RSA-CHACHA20-POLY1305",
    )
)
# The servers the legacy profile exists for (pre-2018, e.g. MongoDB < 4.0) offer CBC suites
# and plain RSA key exchange, refused by Python 3.10+ (bpo-43998) and OpenSSL 3's default
# security level 1 for TLS < 1.2. @SECLEVEL=0 lets SHA-1 signatures and TLS 1.0/1.1 through.
LEGACY_CIPHERS = ":".join(
    (
        MODERN_CIPHERS,
        "ECDHE-ECDSA-AES128-SHA256",
        "ECDHE-RSA-AES128-SHA256",
        "ECDHE-ECDSA-AES256-SHA384",
        "ECDHE-RSA-AES256-SHA384",
        "ECDHE-ECDSA-AES128-SHA",
        "ECDHE-RSA-AES128-SHA",
        "ECDHE-ECDSA-AES256-SHA",
        "ECDHE-RSA-AES256-SHA",
        "DHE-RSA-AES128-SHA256",
        "DHE-RSA-AES256-SHA256",
        "DHE-RSA-AES128-SHA",
        "DHE-RSA-AES256-SHA",
        "AES128-GCM-SHA256",
        "AES256-GCM-SHA384",
        "AES128-SHA256",
        "AES256-SHA256",
        "AES128-SHA",
        "AES256-SHA",
        "@SECLEVEL=0",
    )
)
# OpenSSL's defaults for TLS 1.3 (identical in 3.0 and 4.0); Python's ssl cannot set them,
# so a backend that can must use exactly these.
TLS13_CIPHERSUITES = "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256"

# X509_V_FLAG_X509_STRICT and X509_V_FLAG_PARTIAL_CHAIN: what Python 3.13 turned on by
# default (gh-107361); pinned on every interpreter and backend so 3.13 does not differ.
X509_V_FLAG_X509_STRICT = 0x20
X509_V_FLAG_PARTIAL_CHAIN = 0x80000
X509_V_FLAG_CRL_CHECK = 0x4


@dataclasses.dataclass(frozen=True)
class Policy:
    """What a profile pins: versions, ciphers, verify flags, legacy renegotiation."""

    minimum_version: ssl.TLSVersion
    maximum_version: ssl.TLSVersion
    ciphers: str
    tls13_ciphersuites: str
    verify_flags: int
    legacy_server_connect: bool


@functools.lru_cache(maxsize=64)
def policy_for(options: TLSOptions) -> Policy:
    """The policy a backend must apply for ``options.profile``."""
    flags = X509_V_FLAG_PARTIAL_CHAIN
    if options.check_crl:
        flags |= X509_V_FLAG_CRL_CHECK
    if options.profile == "legacy":
        # No X509_STRICT: old private CAs often lack a critical basicConstraints or key ids.
        return Policy(
            ssl.TLSVersion.TLSv1,
            ssl.TLSVersion.TLSv1_3,
            LEGACY_CIPHERS,
            TLS13_CIPHERSUITES,
            flags,
            legacy_server_connect=True,
        )
    return Policy(
        ssl.TLSVersion.TLSv1_2,
        ssl.TLSVersion.TLSv1_3,
        MODERN_CIPHERS,
        TLS13_CIPHERSUITES,
        # strict_x509=False: the modern protocol and ciphers, without the strict X.509 rules
        # that private CAs made with `openssl req` defaults fail (docs/howto/private-ca.md).
        flags | X509_V_FLAG_X509_STRICT if options.strict_x509 else flags,
        legacy_server_connect=False,
    )


# X509_V_ERR_* numbers (openssl/x509_vfy.h; stable across 1.1, 3.0 and 4.0) -> our code.
_VERIFY_CODES: Dict[int, ErrorCode] = {
    2: CERT_UNTRUSTED,  # UNABLE_TO_GET_ISSUER_CERT
    18: CERT_UNTRUSTED,  # DEPTH_ZERO_SELF_SIGNED_CERT
    19: CERT_UNTRUSTED,  # SELF_SIGNED_CERT_IN_CHAIN
    20: CERT_UNTRUSTED,  # UNABLE_TO_GET_ISSUER_CERT_LOCALLY
    21: CERT_UNTRUSTED,  # UNABLE_TO_VERIFY_LEAF_SIGNATURE
    27: CERT_UNTRUSTED,  # CERT_UNTRUSTED
    28: CERT_UNTRUSTED,  # CERT_REJECTED
    9: CERT_NOT_YET_VALID,  # CERT_NOT_YET_VALID
    10: CERT_EXPIRED,  # CERT_HAS_EXPIRED
    23: CERT_REVOKED,  # CERT_REVOKED
    62: HOSTNAME_MISMATCH,  # HOSTNAME_MISMATCH
    64: HOSTNAME_MISMATCH,  # IP_ADDRESS_MISMATCH
}


def code_for_verify_error(verify_code: int) -> ErrorCode:
    """Map an OpenSSL ``X509_V_ERR_*`` number to a ``CertificateError`` code."""
    return _VERIFY_CODES.get(verify_code, CERT_INVALID)


def normalize_hostname(
    host: str,
) -> Tuple[str, Optional[Union[ipaddress.IPv4Address, ipaddress.IPv6Address]]]:
    """Return (name to verify and send, IP address or None) for a dialled host.

    The one identity rule (``_hostname.server_identity``): raises
    ``ConfigurationError(invalid-option)`` for a name that may not be dialled.
    """
    identity = server_identity(host)
    return identity.name, identity.ip
