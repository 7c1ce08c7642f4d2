"""The core's hostname/IP check, run after every handshake that verifies host names.

Python's ssl also checks the name inside the handshake when the chain is verified (OpenSSL's
``X509_check_host``, which decides first, as in docs/design.md's precedence); the core
matcher (``tlsplug.backend.check_identity``) accepts nothing OpenSSL refuses, and runs in
every mode - also under ``tlsAllowInvalidCertificates``, where ssl refuses ``check_hostname``
with ``CERT_NONE`` - so the verdict is the core's on every backend (docs/design.md, Identity).
"""

from __future__ import annotations

from typing import Optional

from tlsplug.backend import check_identity, server_identity

from ._translate import BACKEND_NAME

__all__ = ["check_hostname_after_handshake"]


def check_hostname_after_handshake(leaf_der: Optional[bytes], host: str) -> None:
    """Raise ``CertificateError(hostname-mismatch)`` unless the leaf names ``host``."""
    # ``host`` is already normalised; normalising again is a cache hit.
    check_identity(leaf_der, server_identity(host, backend=BACKEND_NAME), backend=BACKEND_NAME)
