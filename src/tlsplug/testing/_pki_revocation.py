"""CRL and OCSP response builders behind :class:`tlsplug.testing.pki.CA`."""

from __future__ import annotations

import datetime
from typing import Optional, Sequence, Tuple, Union

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from ._pki_keys import PrivateKey, signing_hash

__all__ = [
    "OCSPStatusLike",
    "build_crl",
    "build_ocsp_response",
    "ocsp_error_response",
]

OCSPStatusLike = Union[str, ocsp.OCSPCertStatus]
"""``"good"``, ``"revoked"``, ``"unknown"`` or an ``OCSPCertStatus``."""

_CERT_STATUS = {
    "good": ocsp.OCSPCertStatus.GOOD,
    "revoked": ocsp.OCSPCertStatus.REVOKED,
    "unknown": ocsp.OCSPCertStatus.UNKNOWN,
}

_RESPONSE_STATUS = {
    "malformed_request": ocsp.OCSPResponseStatus.MALFORMED_REQUEST,
    "internal_error": ocsp.OCSPResponseStatus.INTERNAL_ERROR,
    "try_later": ocsp.OCSPResponseStatus.TRY_LATER,
    "sig_required": ocsp.OCSPResponseStatus.SIG_REQUIRED,
    "unauthorized": ocsp.OCSPResponseStatus.UNAUTHORIZED,
}

# RFC 6960 spells them in camelCase (tryLater, internalError, ...).
_RESPONSE_ALIASES = {name.replace("_", ""): name for name in _RESPONSE_STATUS}


def _encode(crl: x509.CertificateRevocationList, encoding: str) -> bytes:
    if encoding == "pem":
        return crl.public_bytes(serialization.Encoding.PEM)
    if encoding == "der":
        return crl.public_bytes(serialization.Encoding.DER)
    raise ValueError(f"encoding must be 'pem' or 'der', not {encoding!r}")


def build_crl(
    issuer: x509.Certificate,
    issuer_key: PrivateKey,
    entries: Sequence[Tuple[int, Optional[x509.ReasonFlags]]],
    *,
    last_update: datetime.datetime,
    next_update: datetime.datetime,
    number: int,
    encoding: str = "pem",
) -> bytes:
    """Build and sign a v2 CRL listing ``entries`` (serial, reason) for ``issuer``."""
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject)
        .last_update(last_update)
        .next_update(next_update)
        # RFC 5280 §5.2.1 and §5.2.3: conforming CRL issuers MUST include the AKI and the
        # CRL number; OpenSSL uses the AKI to pick the CRL that belongs to a certificate.
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), False)
        .add_extension(x509.CRLNumber(number), False)
    )
    revocation_date = last_update - datetime.timedelta(hours=1)
    for serial, reason in entries:
        entry = (
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(revocation_date)
        )
        if reason is not None:
            entry = entry.add_extension(x509.CRLReason(reason), False)
        builder = builder.add_revoked_certificate(entry.build())
    crl = builder.sign(issuer_key, signing_hash(issuer_key))
    return _encode(crl, encoding)


def build_ocsp_response(
    cert: x509.Certificate,
    issuer: x509.Certificate,
    *,
    status: OCSPStatusLike,
    signer_cert: x509.Certificate,
    signer_key: PrivateKey,
    extra_certs: Sequence[x509.Certificate],
    this_update: datetime.datetime,
    next_update: Optional[datetime.datetime],
    hash_algorithm: hashes.HashAlgorithm,
    responder_id: str,
    revocation_time: Optional[datetime.datetime],
    revocation_reason: Optional[x509.ReasonFlags],
    nonce: Optional[bytes],
    corrupt_signature: bool,
) -> bytes:
    """Build a successful basic OCSP response (RFC 6960 §4.2) for one certificate."""
    cert_status = status if isinstance(status, ocsp.OCSPCertStatus) else _CERT_STATUS[status]
    if cert_status is ocsp.OCSPCertStatus.REVOKED:
        if revocation_time is None:
            revocation_time = this_update - datetime.timedelta(days=1)
    else:
        revocation_time = None
        revocation_reason = None
    if responder_id == "key-hash":
        encoding = ocsp.OCSPResponderEncoding.HASH
    elif responder_id == "name":
        encoding = ocsp.OCSPResponderEncoding.NAME
    else:
        raise ValueError(f"responder_id must be 'key-hash' or 'name', not {responder_id!r}")
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response(
            cert=cert,
            issuer=issuer,
            algorithm=hash_algorithm,
            cert_status=cert_status,
            this_update=this_update,
            next_update=next_update,
            revocation_time=revocation_time,
            revocation_reason=revocation_reason,
        )
        .responder_id(encoding, signer_cert)
    )
    if extra_certs:
        builder = builder.certificates(list(extra_certs))
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), False)
    response = builder.sign(signer_key, signing_hash(signer_key))
    der = response.public_bytes(serialization.Encoding.DER)
    if corrupt_signature:
        der = _flip_signature_byte(der, response.signature)
    return der


def _flip_signature_byte(der: bytes, signature: bytes) -> bytes:
    """Return ``der`` with the last byte of ``signature`` inverted: well-formed, badly signed."""
    start = der.find(signature)
    if start < 0 or der.find(signature, start + 1) >= 0:  # pragma: no cover - astronomically rare
        raise RuntimeError("could not locate the OCSP signature uniquely")
    index = start + len(signature) - 1
    return der[:index] + bytes([der[index] ^ 0xFF]) + der[index + 1 :]


def ocsp_error_response(status: Union[str, ocsp.OCSPResponseStatus] = "try_later") -> bytes:
    """Return the DER of an unsuccessful OCSP response (RFC 6960 §4.2.1), e.g. ``"try_later"``."""
    if isinstance(status, ocsp.OCSPResponseStatus):
        response_status = status
    else:
        key = status.replace("-", "_").lower()
        key = _RESPONSE_ALIASES.get(key, key)
        if key not in _RESPONSE_STATUS:
            raise ValueError(f"unknown OCSP response status {status!r}")
        response_status = _RESPONSE_STATUS[key]
    if response_status is ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise ValueError("a successful response needs a body; use CA.ocsp_response()")
    return ocsp.OCSPResponseBuilder.build_unsuccessful(response_status).public_bytes(
        serialization.Encoding.DER
    )
