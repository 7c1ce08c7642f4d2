"""What a certificate's signature and key may be, per profile (docs/design.md, Legacy limits).

The legacy profile needs OpenSSL's security level 0 for TLS 1.0/1.1, and level 0 also lets
MD5 signatures and 512-bit keys through; the modern profile inherits whatever level the
interpreter's OpenSSL starts with (1 on Python 3.9, where RSA-1024 passes). So tlsplug sets
the floor itself, on the chain the verifier built, as OpenSSL's ``check_auth_level`` does
(crypto/x509/x509_vfy.c): the key of every certificate (trust anchor included), the
signature of every certificate but the trust anchor (its self-signature vouches for
nothing). A violation is ``cert-invalid`` on every backend, as OpenSSL's own
``X509_V_ERR_*_KEY_TOO_SMALL``/``CA_MD_TOO_WEAK`` are.

=========  ======================================  =========================
profile    signature hashes refused                keys refused
=========  ======================================  =========================
legacy     MD2, MD4, MD5                           RSA/DSA < 1024, EC < 160
modern     MD2, MD4, MD5, SHA-1                    RSA/DSA < 2048, EC < 224
=========  ======================================  =========================
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Optional, Sequence, Tuple

from ._codes import CERT_INVALID
from ._errors import CertificateError

if TYPE_CHECKING:
    from cryptography import x509

__all__ = [
    "X509_V_ERR_CA_KEY_TOO_SMALL",
    "X509_V_ERR_CA_MD_TOO_WEAK",
    "X509_V_ERR_EE_KEY_TOO_SMALL",
    "limits_error",
    "limits_violation",
]

# openssl/x509_vfy.h, the numbers OpenSSL reports for the same refusals.
X509_V_ERR_EE_KEY_TOO_SMALL = 66
X509_V_ERR_CA_KEY_TOO_SMALL = 67
X509_V_ERR_CA_MD_TOO_WEAK = 68

# Signature algorithm OIDs by digest, for digests cryptography no longer names (MD2, MD4).
_WEAK_SIGNATURE_OIDS = {
    "1.2.840.113549.1.1.2": "md2",  # md2WithRSAEncryption
    "1.2.840.113549.1.1.3": "md4",  # md4WithRSAEncryption
    "1.2.840.113549.1.1.4": "md5",  # md5WithRSAEncryption
    "1.2.840.113549.1.1.5": "sha1",  # sha1WithRSAEncryption
    "1.3.14.3.2.29": "sha1",  # sha1WithRSA (OIW)
    "1.2.840.10040.4.3": "sha1",  # dsa-with-sha1
    "1.2.840.10045.4.1": "sha1",  # ecdsa-with-SHA1
}

_REFUSED_DIGESTS = {
    "legacy": frozenset({"md2", "md4", "md5"}),
    "modern": frozenset({"md2", "md4", "md5", "sha1"}),
}
# (RSA/DSA bits, EC bits): OpenSSL security levels 0->1 (80 bits) and 2 (112 bits).
_MINIMUM_KEYS = {"legacy": (1024, 160), "modern": (2048, 224)}


def _digest(cert: x509.Certificate) -> Optional[str]:
    oid = cert.signature_algorithm_oid.dotted_string
    if oid in _WEAK_SIGNATURE_OIDS:
        return _WEAK_SIGNATURE_OIDS[oid]
    try:
        algorithm = cert.signature_hash_algorithm
    except Exception:  # an algorithm cryptography does not know: OpenSSL judged it
        return None
    return None if algorithm is None else algorithm.name.lower()


def _key_bits(cert: x509.Certificate) -> Optional[Tuple[str, int]]:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    try:
        key = cert.public_key()
    except Exception:  # a key type cryptography cannot load: OpenSSL judged it
        return None
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC", key.curve.key_size
    size = getattr(key, "key_size", None)  # DSA (not imported: cryptography deprecates it)
    if isinstance(size, int):
        return "DSA", size
    return None  # Ed25519/Ed448: fixed sizes above every floor


@functools.lru_cache(maxsize=512)
def _certificate_limits(
    cert: x509.Certificate, profile: str, depth: int, anchor: bool
) -> Optional[Tuple[int, str]]:
    refused = _REFUSED_DIGESTS.get(profile, _REFUSED_DIGESTS["modern"])
    rsa_min, ec_min = _MINIMUM_KEYS.get(profile, _MINIMUM_KEYS["modern"])
    what = "the server's certificate" if depth == 0 else f"the CA certificate at depth {depth}"
    key = _key_bits(cert)
    if key is not None:
        kind, bits = key
        floor = ec_min if kind == "EC" else rsa_min
        if bits < floor:
            errnum = X509_V_ERR_EE_KEY_TOO_SMALL if depth == 0 else X509_V_ERR_CA_KEY_TOO_SMALL
            return errnum, (f"{what} has a {bits}-bit {kind} key; tlsProfile={profile} "
                            f"refuses {kind} keys under {floor} bits")
    if not anchor:
        digest = _digest(cert)
        if digest in refused:
            return X509_V_ERR_CA_MD_TOO_WEAK, (
                f"{what} is signed with {digest.upper()}; tlsProfile={profile} refuses "
                f"{', '.join(sorted(d.upper() for d in refused))} signatures")
    return None


def limits_violation(
    chain: Sequence[x509.Certificate], profile: str, *, complete: bool = True
) -> Optional[Tuple[int, int, str]]:
    """(X509_V_ERR number, depth, message) of the first limit ``chain`` breaks, or None.

    ``chain`` is the verified chain, leaf first, trust anchor last (its signature is not
    judged; its key is). ``complete=False``: only part of the chain is known (Python 3.9
    shows the leaf), so the last certificate is exempt only when it is self-issued.
    """
    last = len(chain) - 1
    for depth, cert in enumerate(chain):
        anchor = depth == last and (complete or cert.subject == cert.issuer)
        found = _certificate_limits(cert, profile, depth, anchor)
        if found is not None:
            return found[0], depth, found[1]
    return None


def limits_error(
    violation: Tuple[int, int, str], *, backend: Optional[str] = None
) -> CertificateError:
    """The ``cert-invalid`` error every backend raises for a ``limits_violation``."""
    errnum, _depth, message = violation
    return CertificateError(
        f"certificate verify failed: {message} (X509 error {errnum})",
        code=CERT_INVALID,
        backend=backend,
        hint="Reissue the certificate with SHA-256 and a 2048-bit RSA or a P-256 key.",
    )
