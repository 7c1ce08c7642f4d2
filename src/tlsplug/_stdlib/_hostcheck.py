"""The hostname check that must still run when chain verification is off.

``tlsAllowInvalidCertificates`` turns chain verification off, and Python's ssl refuses
``check_hostname`` with ``CERT_NONE``; the two options are independent (only ``tlsInsecure``
drops both), so the dialled name is matched against the leaf after the handshake.
"""

from __future__ import annotations

from typing import Optional

from tlsplug.backend import CertificateError, certificate_matches

from ._translate import BACKEND_NAME

__all__ = ["check_hostname_after_handshake"]


def check_hostname_after_handshake(leaf_der: Optional[bytes], host: str) -> None:
    """Raise ``CertificateError(hostname-mismatch)`` unless the leaf names ``host``."""
    if leaf_der and certificate_matches(leaf_der, host):
        return
    raise CertificateError(
        f"the server's certificate does not match {host!r} (subjectAltName checked after "
        "the handshake because tlsAllowInvalidCertificates disabled chain verification)",
        code="hostname-mismatch",
        backend=BACKEND_NAME,
    )
