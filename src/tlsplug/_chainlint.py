"""Chain checks OpenSSL 3.0 makes and a newer OpenSSL no longer does, for lenient backends.

docs/design.md: where the two OpenSSL builds judge a chain differently, the more lenient backend
adds the missing check itself. The stdlib backend runs Python's OpenSSL (3.0 here); a
backend on OpenSSL 3.2+/4.0 calls :func:`strict_violation` on the chain OpenSSL verified.
Measured differences under ``X509_V_FLAG_X509_STRICT`` (crypto/x509/x509_vfy.c
``check_extensions`` of 3.0, run over every certificate of a chain longer than one):

* a CA certificate (intermediate or trust anchor) whose basicConstraints is not critical
  (``X509_V_ERR_CA_BCONS_NOT_CRITICAL``, 89; RFC 5280 §4.2.1.9);
* an empty subject with a non-critical subjectAltName
  (``X509_V_ERR_EMPTY_SUBJECT_SAN_NOT_CRITICAL``, 88; RFC 5280 §4.2.1.6).

The other way round (:func:`newer_violation`, for a backend on OpenSSL 3.0, i.e. the stdlib
backend), found by x509-limbo (tests/limbo_report.md):

* OpenSSL 4.0 also checks the trust anchor's authorityKeyIdentifier: authorityCertIssuer
  and authorityCertSerialNumber must come together (``X509_V_ERR_AKID_ISSUER_SERIAL_NOT_
  PAIRED``, 103; RFC 5280 §4.2.1.1), where 3.0 skips the anchor;
* neither build refuses an extension that does not decode (e.g. an empty AIA, CABF
  7.1.2.7.7); both backends refuse it here (``X509_V_ERR_INVALID_EXTENSION``, 41), so it
  fails as a certificate, not later in the OCSP step that needs to read it.

All are ``check_extensions`` errors, which OpenSSL reports *before* the host name, the
CRL and the validity dates; a backend must therefore run this lint before it reports any
of those (see the PyOpenSSL backend's deferred verification).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, List, Optional, Sequence, Tuple

if TYPE_CHECKING:  # cryptography is imported when a chain is linted, not with the core
    from cryptography import x509

__all__ = [
    "X509_V_ERR_CA_BCONS_NOT_CRITICAL",
    "X509_V_ERR_EMPTY_SUBJECT_SAN_NOT_CRITICAL",
    "X509_V_ERR_AKID_ISSUER_SERIAL_NOT_PAIRED",
    "X509_V_ERR_INVALID_EXTENSION",
    "certificate_violation",
    "newer_violation",
    "strict_violation",
]

X509_V_ERR_EMPTY_SUBJECT_SAN_NOT_CRITICAL = 88
X509_V_ERR_CA_BCONS_NOT_CRITICAL = 89
X509_V_ERR_INVALID_EXTENSION = 41
X509_V_ERR_AKID_ISSUER_SERIAL_NOT_PAIRED = 103


def _extension(cert: x509.Certificate, kind: Any) -> Optional[x509.Extension[Any]]:
    from cryptography import x509

    try:
        return cert.extensions.get_extension_for_class(kind)
    except x509.ExtensionNotFound:
        return None


@functools.lru_cache(maxsize=512)
def certificate_violation(cert: x509.Certificate) -> Optional[int]:
    """The X509_V_ERR number of the first check above that ``cert`` alone fails, or None.

    Covers every check of this module, including those of :func:`newer_violation`.
    """
    from cryptography import x509

    newer = _newer_certificate_violation(cert)
    if newer is not None:
        return newer
    try:
        bc = _extension(cert, x509.BasicConstraints)
        if bc is not None and bc.value.ca and not bc.critical:
            return X509_V_ERR_CA_BCONS_NOT_CRITICAL
        san = _extension(cert, x509.SubjectAlternativeName)
        if san is not None and not san.critical and len(cert.subject) == 0:
            return X509_V_ERR_EMPTY_SUBJECT_SAN_NOT_CRITICAL
    except ValueError:  # an extension cryptography cannot parse: OpenSSL judged it
        return None
    return None


@functools.lru_cache(maxsize=512)
def _newer_certificate_violation(cert: x509.Certificate) -> Optional[int]:
    from cryptography import x509

    try:
        extensions = cert.extensions
    except ValueError:  # an extension that does not decode
        return X509_V_ERR_INVALID_EXTENSION
    try:
        aki = extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    except x509.ExtensionNotFound:
        return None
    if (aki.authority_cert_issuer is None) != (aki.authority_cert_serial_number is None):
        return X509_V_ERR_AKID_ISSUER_SERIAL_NOT_PAIRED
    return None


def newer_violation(chain: Sequence[x509.Certificate]) -> Optional[Tuple[int, int]]:
    """(X509_V_ERR number, depth) of the first check a newer OpenSSL adds that ``chain``
    fails (see the module docstring), or None. ``chain``: verified, leaf first."""
    for depth, cert in enumerate(chain):
        errnum = _newer_certificate_violation(cert)
        if errnum is not None:
            return errnum, depth
    return None


def strict_violation(chain: Sequence[x509.Certificate]) -> Optional[Tuple[int, int]]:
    """(X509_V_ERR number, depth) of the first check above that ``chain`` fails, or None.

    ``chain`` is the verified chain, leaf first, as OpenSSL built it (trust anchor last).
    """
    certs: List[x509.Certificate] = list(chain)
    if len(certs) <= 1:  # 3.0 skips self-issued end-entity certificates (RFC 6818 §2)
        return None
    for depth, cert in enumerate(certs):  # leaf first, like check_extensions
        errnum = certificate_violation(cert)
        if errnum is not None:
            return errnum, depth
    return None
