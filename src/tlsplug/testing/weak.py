"""Certificates that only old PKIs produce: MD5/SHA-1 signatures, RSA keys under 1024 bits.

``cryptography`` refuses to *sign* certificates with MD5 or SHA-1 (since 39/41) and to
generate RSA keys under 1024 bits, on every Python from 3.9 to 3.13, so this module:

* re-signs a certificate that ``CA`` built: the signature algorithm identifier inside the
  TBSCertificate is swapped (``sha256WithRSAEncryption`` -> ``md5WithRSAEncryption`` or
  ``sha1WithRSAEncryption``, same encoded length) and the TBS is signed again with the
  issuer's RSA key through ``RSAPrivateKey.sign`` (which still accepts both digests);
* makes small RSA keys from primes found here (Miller-Rabin), so neither an ``openssl``
  binary nor its security level is involved.

Example::

    root = CA(key_type="rsa")
    leaf = root.issue_cert("localhost", key_type="rsa")
    md5_leaf = with_digest(leaf, "md5")            # signed by root with MD5
    tiny = small_rsa_leaf(root, "localhost", bits=512)
"""

from __future__ import annotations

import secrets
from typing import Optional, Tuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from ._pki_leaf import LeafCert

__all__ = ["resign", "small_rsa_key", "small_rsa_leaf", "with_digest"]

_SHA256_RSA = bytes.fromhex("06092a864886f70d01010b")  # OID 1.2.840.113549.1.1.11
_DIGEST_OIDS = {
    "md5": (bytes.fromhex("06092a864886f70d010104"), hashes.MD5()),  # md5WithRSAEncryption
    "sha1": (bytes.fromhex("06092a864886f70d010105"), hashes.SHA1()),  # sha1WithRSAEncryption
    "sha256": (_SHA256_RSA, hashes.SHA256()),
}


def _tlv(der: bytes, offset: int) -> Tuple[int, int]:
    """(start of contents, end) of the DER element at ``offset``."""
    length = der[offset + 1]
    start = offset + 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(der[start:start + count], "big")
        start += count
    return start, start + length


def _encode(tag: int, contents: bytes) -> bytes:
    n = len(contents)
    if n < 0x80:
        return bytes([tag, n]) + contents
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + contents


def resign(cert: x509.Certificate, issuer_key: rsa.RSAPrivateKey, digest: str) -> x509.Certificate:
    """``cert`` (signed by ``issuer_key`` with SHA-256) signed again with ``digest``."""
    oid, algorithm = _DIGEST_OIDS[digest]
    der = cert.public_bytes(Encoding.DER)
    body_start, _ = _tlv(der, 0)
    _, tbs_end = _tlv(der, body_start)
    tbs = der[body_start:tbs_end]
    if tbs.count(_SHA256_RSA) != 1:
        raise ValueError("resign() needs a certificate signed with sha256WithRSAEncryption")
    tbs = tbs.replace(_SHA256_RSA, oid)
    signature = issuer_key.sign(tbs, padding.PKCS1v15(), algorithm)
    algorithm_id = _encode(0x30, oid + b"\x05\x00")
    body = tbs + algorithm_id + _encode(0x03, b"\x00" + signature)
    return x509.load_der_x509_certificate(_encode(0x30, body))


def with_digest(leaf: LeafCert, digest: str) -> LeafCert:
    """A copy of ``leaf`` whose signature uses ``digest`` ("md5", "sha1"); RSA issuer only."""
    key = leaf.issuer.private_key
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("MD5/SHA-1 signatures need an RSA issuer (no ECDSA-with-MD5 exists)")
    return LeafCert(resign(leaf.certificate, key, digest), leaf.private_key, leaf.issuer)


def _probable_prime(bits: int) -> int:
    while True:
        candidate = secrets.randbits(bits) | (1 << (bits - 1)) | (1 << (bits - 2)) | 1
        if all(candidate % p for p in (3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37)) and _mr(candidate):
            return candidate


def _mr(n: int, rounds: int = 32) -> bool:
    d, r = n - 1, 0
    while d % 2 == 0:
        d, r = d // 2, r + 1
    for _ in range(rounds):
        x = pow(secrets.randbelow(n - 3) + 2, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def small_rsa_key(bits: int = 512) -> rsa.RSAPrivateKey:
    """An RSA private key of ``bits`` bits (any size; cryptography only makes >= 1024)."""
    e = 65537
    while True:
        p, q = _probable_prime(bits // 2), _probable_prime(bits - bits // 2)
        n, phi = p * q, (p - 1) * (q - 1)
        if p != q and n.bit_length() == bits and phi % e:
            break
    d = pow(e, -1, phi)
    numbers = rsa.RSAPrivateNumbers(
        p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p), rsa.RSAPublicNumbers(e, n)
    )
    return numbers.private_key(unsafe_skip_rsa_key_validation=True)


def small_rsa_leaf(issuer: object, *identities: str, bits: int = 512,
                   digest: Optional[str] = None) -> LeafCert:
    """A leaf of ``issuer`` (a ``CA``) for ``identities`` whose own key has ``bits`` bits."""
    from .pki import CA

    assert isinstance(issuer, CA)
    template = issuer.issue_cert(*identities, key_type="rsa")
    key = small_rsa_key(bits)
    builder = (
        x509.CertificateBuilder()
        .subject_name(template.certificate.subject)
        .issuer_name(template.certificate.issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(template.certificate.not_valid_before_utc)
        .not_valid_after(template.certificate.not_valid_after_utc)
    )
    for ext in template.certificate.extensions:
        if isinstance(ext.value, x509.SubjectKeyIdentifier):
            ext = x509.Extension(ext.oid, ext.critical,
                                 x509.SubjectKeyIdentifier.from_public_key(key.public_key()))
        builder = builder.add_extension(ext.value, ext.critical)
    from ._pki_keys import signing_hash

    cert = builder.sign(issuer.private_key, signing_hash(issuer.private_key))
    leaf = LeafCert(cert, key, issuer)
    return with_digest(leaf, digest) if digest else leaf
