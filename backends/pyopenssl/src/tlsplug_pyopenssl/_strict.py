"""The ``X509_V_FLAG_X509_STRICT`` checks OpenSSL 3.0 makes and OpenSSL 4.0 no longer does.

DESIGN.md: where the two OpenSSL builds judge a chain differently, the more lenient backend
adds the missing check itself. Measured against Python's OpenSSL 3.0 (crypto/x509/
x509_vfy.c ``check_extensions``, run over every certificate of a chain longer than one),
pyOpenSSL's OpenSSL 4.0 accepts two things 3.0 refuses under X509_STRICT:

* a CA certificate (intermediate or trust anchor) whose basicConstraints is not critical
  (``X509_V_ERR_CA_BCONS_NOT_CRITICAL``, 89; RFC 5280 §4.2.1.9);
* an empty subject with a non-critical subjectAltName
  (``X509_V_ERR_EMPTY_SUBJECT_SAN_NOT_CRITICAL``, 88; RFC 5280 §4.2.1.6).

Every other strict check gives the same verdict on both (backends/pyopenssl/tests).
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

from cryptography import x509

__all__ = ["X509_V_ERR_CA_BCONS_NOT_CRITICAL", "X509_V_ERR_EMPTY_SUBJECT_SAN_NOT_CRITICAL",
           "strict_violation"]

X509_V_ERR_EMPTY_SUBJECT_SAN_NOT_CRITICAL = 88
X509_V_ERR_CA_BCONS_NOT_CRITICAL = 89


def _extension(cert: x509.Certificate, kind: type) -> Optional[x509.Extension[x509.ExtensionType]]:
    try:
        return cert.extensions.get_extension_for_class(kind)
    except x509.ExtensionNotFound:
        return None


def strict_violation(chain: Sequence[x509.Certificate]) -> Optional[Tuple[int, int]]:
    """(X509_V_ERR number, depth) of the first check above that ``chain`` fails, or None.

    ``chain`` is the verified chain, leaf first, as OpenSSL built it (trust anchor last).
    """
    certs: List[x509.Certificate] = list(chain)
    if len(certs) <= 1:  # 3.0 skips self-issued end-entity certificates (RFC 6818 §2)
        return None
    for depth, cert in enumerate(certs):  # leaf first, like check_extensions
        try:
            bc = _extension(cert, x509.BasicConstraints)
            if bc is not None and bc.value.ca and not bc.critical:  # type: ignore[attr-defined]
                return X509_V_ERR_CA_BCONS_NOT_CRITICAL, depth
            san = _extension(cert, x509.SubjectAlternativeName)
            if san is not None and not san.critical and len(cert.subject) == 0:
                return X509_V_ERR_EMPTY_SUBJECT_SAN_NOT_CRITICAL, depth
        except ValueError:  # an extension cryptography cannot parse: OpenSSL judged it
            continue
    return None
