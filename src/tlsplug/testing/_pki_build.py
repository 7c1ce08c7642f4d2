"""Certificate assembly helpers behind :mod:`tlsplug.testing.pki`."""

from __future__ import annotations

import datetime
import os
from pathlib import Path
from typing import Optional, Sequence, Tuple

from cryptography import x509

from ._pki_keys import PrivateKey, signing_hash, utcnow

__all__ = ["DAY", "build_certificate", "key_usage", "validity", "write_file"]

DAY = datetime.timedelta(days=1)


def write_file(path: Path, data: bytes, *, private: bool = False) -> Path:
    """Write ``data`` to ``path``; private files are created 0o600 before any byte lands."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    if private:
        os.chmod(str(path), 0o600)  # the file may have existed with wider permissions
    return path


def validity(
    not_before: Optional[datetime.datetime],
    not_after: Optional[datetime.datetime],
    expired: bool,
    not_yet_valid: bool,
    lifetime: datetime.timedelta,
) -> Tuple[datetime.datetime, datetime.datetime]:
    """Pick a validity window; the one-day backdating absorbs clock skew between hosts."""
    if expired and not_yet_valid:
        raise ValueError("a certificate cannot be both expired and not yet valid")
    now = utcnow()
    if expired:
        start, end = now - 30 * DAY, now - DAY
    elif not_yet_valid:
        start, end = now + DAY, now + 30 * DAY
    else:
        start, end = now - DAY, now + lifetime
    return (not_before or start, not_after or end)


def build_certificate(
    subject: x509.Name,
    public_key_of: PrivateKey,
    issuer: Optional[x509.Certificate],
    signing_key: PrivateKey,
    window: Tuple[datetime.datetime, datetime.datetime],
    serial: Optional[int],
    extensions: Sequence[Tuple[x509.ExtensionType, bool]],
    *,
    ski: Optional[bool] = False,
    aki: Optional[bool] = False,
) -> x509.Certificate:
    """Assemble and sign a v3 certificate; adds SKI always and AKI when ``issuer`` is given.

    ``ski``/``aki``: whether those extensions are critical, or None to leave them out (the
    defects strict X.509 validation refuses, for tests).
    """
    public_key = public_key_of.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer else subject)
        .public_key(public_key)
        .serial_number(serial if serial is not None else x509.random_serial_number())
        .not_valid_before(window[0])
        .not_valid_after(window[1])
    )
    if ski is not None:
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), ski)
    if issuer is not None and aki is not None:
        # Strict mode rejects any non-self-signed certificate without an AKI (RFC 5280 §4.2.1.1).
        try:
            issuer_ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
            aki_value = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                issuer_ski.value
            )
        except x509.ExtensionNotFound:  # an issuer made without one (a strict defect itself)
            aki_value = x509.AuthorityKeyIdentifier.from_issuer_public_key(
                signing_key.public_key()
            )
        builder = builder.add_extension(aki_value, aki)
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical)
    return builder.sign(signing_key, signing_hash(signing_key))


def key_usage(
    *,
    digital_signature: bool = False,
    key_encipherment: bool = False,
    key_cert_sign: bool = False,
    crl_sign: bool = False,
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )
