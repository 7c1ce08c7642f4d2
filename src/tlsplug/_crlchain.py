"""CRLs for the CA certificates of the verified chain (docs/design.md, Options: tlsCRLFile).

OpenSSL is asked for the leaf only (``X509_V_FLAG_CRL_CHECK``, Python's
``VERIFY_CRL_CHECK_LEAF``): ``CRL_CHECK_ALL`` would refuse every chain whose CAs have no CRL
in the file, and most files hold the CRL of one CA. So the rest of the chain is checked
here, after the handshake, on every backend alike: each certificate of the verified chain
between the leaf and the trust anchor (RFC 5280 §6.1: the anchor is an input, not
checked) for which the file holds a CRL *from its issuer* - the next certificate of the
chain, by name and by signature - must not be listed in it, and that CRL must be current
(as OpenSSL requires of the leaf's: ``X509_V_ERR_CRL_HAS_EXPIRED``/``NOT_YET_VALID`` ->
``cert-invalid``). A CA whose issuer has no CRL in the file is not an error.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Optional, Sequence, Tuple

from ._codes import CERT_INVALID, CERT_REVOKED
from ._errors import CertificateError

if TYPE_CHECKING:
    from cryptography import x509

__all__ = ["chain_crl_error"]


def _when(value: object) -> Optional[datetime.datetime]:
    return value if isinstance(value, datetime.datetime) else None


def _times(crl: x509.CertificateRevocationList) -> Tuple[
    Optional[datetime.datetime], Optional[datetime.datetime]
]:
    # cryptography >= 42 has the *_utc properties; older ones return naive UTC datetimes.
    this = _when(getattr(crl, "last_update_utc", None))
    nxt = _when(getattr(crl, "next_update_utc", None))
    if this is None:
        this = crl.last_update.replace(tzinfo=datetime.timezone.utc)
        raw_next = crl.next_update
        nxt = raw_next.replace(tzinfo=datetime.timezone.utc) if raw_next else None
    return this, nxt


def _issued_by(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> bool:
    if crl.issuer != issuer.subject:
        return False
    try:
        return bool(crl.is_signature_valid(issuer.public_key()))  # type: ignore[arg-type]
    except Exception:  # a key type cryptography cannot check: not this issuer's CRL
        return False


def chain_crl_error(
    chain: Sequence[x509.Certificate],
    crls: Sequence[x509.CertificateRevocationList],
    *,
    backend: Optional[str] = None,
    now: Optional[datetime.datetime] = None,
) -> Optional[CertificateError]:
    """The ``CertificateError`` for the first CA of ``chain`` that a CRL in ``crls`` revokes.

    ``chain``: the verified chain, leaf first, trust anchor last (the leaf is OpenSSL's).
    """
    if not crls or len(chain) < 3:
        return None
    moment = now or datetime.datetime.now(datetime.timezone.utc)
    for depth in range(1, len(chain) - 1):
        cert, issuer = chain[depth], chain[depth + 1]
        for crl in crls:
            if not _issued_by(crl, issuer):
                continue
            this_update, next_update = _times(crl)
            if this_update is not None and this_update > moment:
                return CertificateError(
                    f"certificate verify failed: the CRL of {issuer.subject.rfc4514_string()}"
                    " in tlsCRLFile is not yet valid", code=CERT_INVALID, backend=backend)
            if next_update is not None and next_update < moment:
                return CertificateError(
                    f"certificate verify failed: the CRL of {issuer.subject.rfc4514_string()}"
                    " in tlsCRLFile has expired", code=CERT_INVALID, backend=backend,
                    hint="Download a current CRL from the CA.")
            if crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None:
                return CertificateError(
                    f"certificate verify failed: the CA certificate "
                    f"{cert.subject.rfc4514_string()} (depth {depth}) is revoked by its "
                    "issuer's CRL in tlsCRLFile", code=CERT_REVOKED, backend=backend,
                    hint="The server's chain holds a revoked intermediate CA: the server "
                    "must be given a certificate from a CA in good standing.")
    return None
