"""Verifying one OCSP response for one certificate (RFC 6960 §3.2), and certificate helpers.

``cryptography`` is imported inside the functions so that importing :mod:`tlsplug.ocsp`
stays cheap; only type checkers see the imports at module level.
"""

from __future__ import annotations

import datetime
import functools
from typing import TYPE_CHECKING, Dict, Iterable, List, Optional, Tuple, Union

from .._memo import IdentityMemo
from ._types import (
    INVALID_RESPONSE,
    RESPONDER_ERROR,
    STATUS_UNKNOWN,
    CertIDKey,
    Verdict,
)

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
    from cryptography.x509 import ocsp

__all__ = [
    "CertLike",
    "build_request",
    "cert_id",
    "find_issuer",
    "load_certificate",
    "must_staple",
    "response_window",
    "utcnow",
    "verify_response",
]

CertLike = Union[bytes, bytearray, memoryview, "x509.Certificate"]
"""A certificate as DER (or PEM) bytes, or a ``cryptography`` certificate object."""

_UTC = datetime.timezone.utc


def utcnow() -> datetime.datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.datetime.now(_UTC)


def _aware(value: datetime.datetime) -> datetime.datetime:
    # cryptography < 43 returns naive datetimes meaning UTC.
    return value.replace(tzinfo=_UTC) if value.tzinfo is None else value.astimezone(_UTC)


def load_certificate(data: CertLike) -> x509.Certificate:
    """Parse DER or PEM bytes into a certificate; a certificate object is returned unchanged."""
    from cryptography import x509

    if isinstance(data, x509.Certificate):
        return data
    return _load_bytes(bytes(data))


@functools.lru_cache(maxsize=256)
def _load_bytes(raw: bytes) -> x509.Certificate:
    # Every handshake hands the same peer chain over again: parse each distinct one once.
    from cryptography import x509

    if raw.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_certificate(raw)
    return x509.load_der_x509_certificate(raw)


def _load_all(items: Iterable[CertLike]) -> List[x509.Certificate]:
    out = []
    for item in items:
        try:
            out.append(load_certificate(item))
        except ValueError:
            continue  # an unparsable extra certificate cannot be anyone's issuer
    return out


def find_issuer(
    leaf: CertLike, chain: Iterable[CertLike], trust: Iterable[CertLike] = ()
) -> Optional[x509.Certificate]:
    """The certificate in ``chain`` (then ``trust``) that issued ``leaf``, or ``None``.

    A candidate must carry the leaf's issuer name as its subject *and* its key must verify
    the leaf's signature (``verify_directly_issued_by``); the leaf itself is skipped.
    """
    cert = load_certificate(leaf)
    for candidate in _load_all([*chain, *trust]):
        if candidate == cert or candidate.subject != cert.issuer:
            continue
        if _directly_issued(cert, candidate):
            return candidate
    return None


@functools.lru_cache(maxsize=256)
def _directly_issued(cert: x509.Certificate, candidate: x509.Certificate) -> bool:
    # A signature check per handshake was a measurable share of a full handshake (bench/):
    # the same (leaf, issuer) pair comes back on every connection to the same server.
    try:
        cert.verify_directly_issued_by(candidate)
    except ValueError:
        # cryptography refuses SHA-1/MD5 signatures outright ("Unsupported signature
        # algorithm"); whether such a digest is acceptable is the profile's decision, already
        # made on the verified chain (_limits.py), so the issuer is the key that signed.
        return _signed_by(cert, candidate)
    except Exception:  # InvalidSignature, TypeError (unsupported key)
        return False
    return True


def _signed_by(cert: x509.Certificate, candidate: x509.Certificate) -> bool:
    """Whether ``candidate``'s key made ``cert``'s signature, whatever its digest."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    try:
        key = candidate.public_key()
        digest = cert.signature_hash_algorithm
        params = cert.signature_algorithm_parameters
        if digest is None:
            return False
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes, params, digest)  # type: ignore[arg-type]
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(digest))
        else:
            return False
    except Exception:  # InvalidSignature, an unknown algorithm
        return False
    return True


def must_staple(cert: CertLike) -> bool:
    """Whether ``cert`` has the TLS Feature extension with ``status_request`` (RFC 7633 §4).

    Only ``status_request`` (5) counts: it is the feature a TLS 1.2/1.3 client requests and
    a server staples for; ``status_request_v2`` (RFC 6961) is not implemented by OpenSSL.
    """
    hit = _MUST_STAPLE.get(cert)
    if hit is not None:
        return hit
    certificate = load_certificate(cert)
    value = _must_staple(certificate)
    if certificate is cert:  # asked on every handshake, with the backends' memoized objects
        _MUST_STAPLE.put((cert,), value)
    return value


_MUST_STAPLE: IdentityMemo[bool] = IdentityMemo()


@functools.lru_cache(maxsize=256)
def _must_staple(certificate: x509.Certificate) -> bool:
    from cryptography import x509

    try:
        feature = certificate.extensions.get_extension_for_class(x509.TLSFeature)
    except x509.ExtensionNotFound:
        return False
    except ValueError:
        # An extension that does not decode: the chain lint refuses such a certificate under
        # the modern profile; under legacy OpenSSL accepted it, and so must this check.
        return False
    return x509.TLSFeatureType.status_request in feature.value


def cert_id(
    cert: CertLike, issuer: CertLike, algorithm: Optional[hashes.HashAlgorithm] = None
) -> CertIDKey:
    """The CertID of ``cert`` (RFC 6960 §4.1.1), hashed with ``algorithm`` (default SHA-1).

    SHA-1 is what every client sends (RFC 5019 §2.1.1) and is the key of the OCSP cache.
    """
    if algorithm is None:
        # The cache key of every handshake to the same server: computed once per pair, and
        # found by identity for the backends' memoized objects (no DER hashing).
        hit = _CERT_IDS.get(cert, issuer)
        if hit is not None:
            return hit
        certificate, issuer_cert = load_certificate(cert), load_certificate(issuer)
        value = _sha1_cert_id(certificate, issuer_cert)
        if certificate is cert and issuer_cert is issuer:
            _CERT_IDS.put((cert, issuer), value)
        return value
    return _cert_id(load_certificate(cert), load_certificate(issuer), algorithm)


_CERT_IDS: IdentityMemo[CertIDKey] = IdentityMemo()


@functools.lru_cache(maxsize=256)
def _sha1_cert_id(cert: x509.Certificate, issuer: x509.Certificate) -> CertIDKey:
    from cryptography.hazmat.primitives import hashes

    return _cert_id(cert, issuer, hashes.SHA1())


def _cert_id(
    cert: x509.Certificate, issuer: x509.Certificate, algorithm: hashes.HashAlgorithm
) -> CertIDKey:
    from cryptography.x509 import ocsp

    request = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, algorithm).build()
    return (
        request.hash_algorithm.name,
        request.issuer_name_hash,
        request.issuer_key_hash,
        request.serial_number,
    )


def build_request(cert: CertLike, issuer: CertLike) -> bytes:
    """The DER OCSPRequest for ``cert``: one SHA-1 CertID, no nonce (RFC 5019 §2.1)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509 import ocsp

    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(load_certificate(cert), load_certificate(issuer), hashes.SHA1())
        .build()
    )
    return request.public_bytes(serialization.Encoding.DER)


def _invalid(reason: str, source: str, problem: str = INVALID_RESPONSE) -> Verdict:
    return Verdict("invalid", reason, source=source, problem=problem)


def verify_response(
    response_der: bytes,
    cert: CertLike,
    issuer: CertLike,
    *,
    now: Optional[datetime.datetime] = None,
    source: str = "staple",
) -> Verdict:
    """Verify a DER OCSP response about ``cert`` (issued by ``issuer``); never raises.

    RFC 6960 §3.2: the response is successful (§2.3); one of its SingleResponses carries
    the CertID of *this* certificate (item 1); it is signed (item 2) by the issuer or by a
    delegate the issuer signed directly that has id-kp-OCSPSigning (items 3-4, §4.2.2.2),
    identified by the ResponderID (§4.2.2.3); and ``thisUpdate <= now < nextUpdate`` with
    no tolerance (items 5-6; the MongoDB OCSP spec's caching section excludes nextUpdate).

    A response without nextUpdate is accepted (RFC 6960 §4.2.2.1: newer information is
    always available) but is never cached; RFC 5019 §2.2.4 requires nextUpdate only of
    responders following that profile. Anything that fails gives status ``"invalid"`` with
    the reason; a valid response yields ``"good"``, ``"revoked"`` or ``"unknown"``.
    """
    when = utcnow() if now is None else _aware(now)
    try:
        return _verify(response_der, cert, issuer, when, source)
    except Exception as exc:  # garbage in, a verdict out: never an exception
        return _invalid(f"malformed OCSP response: {type(exc).__name__}: {exc}", source)


def _verify(
    response_der: bytes,
    cert_like: CertLike,
    issuer_like: CertLike,
    now: datetime.datetime,
    source: str,
) -> Verdict:
    cert = load_certificate(cert_like)
    issuer = load_certificate(issuer_like)
    der = bytes(response_der)
    # The same staple, for the same (memoized) certificate objects, on every handshake: an
    # identity look-up with one bytes comparison, before the lru_cache that hashes them all.
    hit = _LAST_RESPONSE.get(cert, issuer)
    if hit is not None and hit[0] == der:
        checked = hit[1]
    else:
        checked = _LAST_RESPONSE.put((cert, issuer), (der, _check_response(der, cert, issuer)))[1]
    if isinstance(checked, tuple):
        reason, problem = checked
        return _invalid(reason, source, problem)
    # What depends on the time is decided now, on every call; the rest was decided once.
    if checked.signer_windows and not any(
        not_before <= now <= not_after for not_before, not_after in checked.signer_windows
    ):
        return _invalid(
            f"the responder certificate {checked.signer_subject!r} is outside its validity "
            "period",
            source,
        )
    this_update, next_update = checked.this_update, checked.next_update
    if this_update > now:
        return _invalid(
            f"thisUpdate {this_update.isoformat()} is in the future (RFC 6960 §3.2 item 5)",
            source,
        )
    if next_update is not None and now >= next_update:
        return _invalid(
            f"nextUpdate {next_update.isoformat()} has passed: the response is stale "
            "(RFC 6960 §3.2 item 6)",
            source,
        )
    unknown = STATUS_UNKNOWN if checked.status == "unknown" else None
    return Verdict(checked.status, checked.detail, this_update, next_update, source, unknown)


def response_window(
    response_der: bytes, cert: CertLike, issuer: CertLike
) -> Optional[Tuple[float, float]]:
    """The POSIX times ``[start, end)`` within which :func:`verify_response` of these bytes,
    just called for these very objects, gives the same verdict; None when it cannot be said.

    Only time changes the verdict of bytes already checked (RFC 6960 §3.2 items 5-6 and the
    responder certificate's validity): a caller that remembers a verdict with this window
    (``ChainFacts.check_staple``) decides the same staple again by a comparison of floats.
    The end is exclusive, so an inclusive bound (the responder's notAfter) is met by the full
    check at that very instant, never by the window.
    """
    hit = _LAST_RESPONSE.get(cert, issuer)
    if hit is None or hit[0] != bytes(response_der) or not isinstance(hit[1], _Signed):
        return None
    checked = hit[1]
    start, end = checked.this_update, checked.next_update
    if len(checked.signer_windows) > 1:
        return None  # several candidate signers: "any of them valid" is no single window
    if checked.signer_windows:
        not_before, not_after = checked.signer_windows[0]
        start = max(start, not_before)
        end = not_after if end is None else min(end, not_after)
    return start.timestamp(), (float("inf") if end is None else end.timestamp())


# (id(cert), id(issuer)) -> (cert, issuer, response DER, _check_response's result); the
# entry holds the objects, so their ids cannot be reused while it exists.
_LAST_RESPONSE: IdentityMemo[Tuple[bytes, Union[_Signed, Tuple[str, str]]]] = IdentityMemo()


class _Signed:
    """What a response's bytes and signature establish about one certificate, time aside."""

    __slots__ = (
        "detail", "next_update", "signer_subject", "signer_windows", "status", "this_update"
    )

    def __init__(
        self,
        status: str,
        detail: str,
        this_update: datetime.datetime,
        next_update: Optional[datetime.datetime],
        signer_windows: List[Tuple[datetime.datetime, datetime.datetime]],
        signer_subject: str,
    ) -> None:
        self.status = status
        self.detail = detail
        self.this_update = this_update
        self.next_update = next_update
        #: A delegated responder's validity periods (empty: the issuer signed).
        self.signer_windows = signer_windows
        self.signer_subject = signer_subject


@functools.lru_cache(maxsize=256)
def _check_response(
    response_der: bytes, cert: x509.Certificate, issuer: x509.Certificate
) -> Union[_Signed, Tuple[str, str]]:
    """Parse, match and verify the signature once per distinct (response, certificate).

    A server staples the same response on every handshake until it refreshes it, so the
    signature is checked once and the bytes are the cache key; only the clock-dependent
    checks (``_verify``) run per handshake. Returns ``_Signed``, or (reason, problem).
    """
    from cryptography.x509 import ocsp

    try:
        response = ocsp.load_der_ocsp_response(response_der)
    except ValueError as exc:
        return f"not a DER OCSP response ({exc})", INVALID_RESPONSE
    if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        # RFC 6960 §2.3: an unsuccessful response carries no status information at all.
        status_name = response.response_status.name.lower()
        return f"unsuccessful OCSP response status {status_name!r}", RESPONDER_ERROR
    single = _matching_single(response, cert, issuer)
    if single is None:
        serials = ", ".join(f"{r.serial_number:#x}" for r in response.responses)
        return (
            f"the response is not about this certificate (RFC 6960 §3.2 item 1): expected "
            f"serial {cert.serial_number:#x} from {issuer.subject.rfc4514_string()}, "
            f"got {serials or 'no SingleResponse'}",
            INVALID_RESPONSE,
        )
    signer = _check_signer(response, issuer)
    if isinstance(signer, str):
        return signer, INVALID_RESPONSE
    windows, subject = signer
    raw_this = _time(single, "this_update")
    assert raw_this is not None  # mandatory in a SingleResponse (RFC 6960 §4.2.1)
    raw_next = _time(single, "next_update")
    next_update = None if raw_next is None else _aware(raw_next)
    status = single.certificate_status
    if status is ocsp.OCSPCertStatus.GOOD:
        return _Signed("good", "the certificate is good", _aware(raw_this), next_update,
                       windows, subject)
    if status is ocsp.OCSPCertStatus.REVOKED:
        revoked_at = _time(single, "revocation_time")
        detail = f"revoked at {_aware(revoked_at).isoformat()}" if revoked_at else "revoked"
        if single.revocation_reason is not None:
            detail += f", reason {single.revocation_reason.name}"
        return _Signed("revoked", detail, _aware(raw_this), next_update, windows, subject)
    return _Signed(
        "unknown",
        "the responder does not know the certificate (status unknown)",
        _aware(raw_this),
        next_update,
        windows,
        subject,
    )


def _time(obj: object, name: str) -> Optional[datetime.datetime]:
    # cryptography >= 43 has the aware ``*_utc`` properties and deprecates the naive ones.
    value = getattr(obj, f"{name}_utc") if hasattr(obj, f"{name}_utc") else getattr(obj, name)
    assert value is None or isinstance(value, datetime.datetime)
    return value


def _matching_single(
    response: ocsp.OCSPResponse, cert: x509.Certificate, issuer: x509.Certificate
) -> Optional[ocsp.OCSPSingleResponse]:
    """The SingleResponse whose CertID is this certificate's, hashed as the response did."""
    expected: Dict[str, CertIDKey] = {}
    for single in response.responses:
        algorithm = single.hash_algorithm
        if algorithm.name not in expected:
            try:
                expected[algorithm.name] = cert_id(cert, issuer, algorithm)
            except Exception:  # a hash the builder refuses (e.g. MD5) cannot match
                continue
        ours = expected[algorithm.name]
        theirs = (
            algorithm.name,
            single.issuer_name_hash,
            single.issuer_key_hash,
            single.serial_number,
        )
        if theirs == ours:
            return single
    return None


def _key_hash(cert: x509.Certificate) -> bytes:
    """SHA-1 of the subjectPublicKey BIT STRING: the ResponderID byKey (RFC 6960 §4.2.1)."""
    from cryptography import x509

    return x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest


def _is_responder(cert: x509.Certificate, response: ocsp.OCSPResponse) -> bool:
    """Whether the response's ResponderID designates ``cert`` (RFC 6960 §4.2.2.3)."""
    name = response.responder_name
    if name is not None:
        return cert.subject == name
    key_hash = response.responder_key_hash
    return key_hash is not None and _key_hash(cert) == key_hash


def _check_signer(
    response: ocsp.OCSPResponse, issuer: x509.Certificate
) -> Union[str, Tuple[List[Tuple[datetime.datetime, datetime.datetime]], str]]:
    """([], "") when the issuer signed; (validity periods, subject) of the authorised
    delegates whose signature verifies; else the reason (a str).

    The delegates' validity is the one clock-dependent part: ``_verify`` checks it per call.
    """
    if _is_responder(issuer, response):
        if _verify_signature(issuer.public_key(), response):
            return [], ""
        return "the response's signature does not verify with the issuer's key"
    candidates = [c for c in response.certificates if _is_responder(c, response)]
    if not candidates:
        return (
            "the response is signed by an unknown responder: neither the issuer nor a "
            "certificate included in the response (RFC 6960 §4.2.2.2)"
        )
    reason = ""
    windows: List[Tuple[datetime.datetime, datetime.datetime]] = []
    subject = ""
    for delegate in candidates:
        reason = _delegate_problem(delegate, issuer) or ""
        if reason:
            continue
        if _verify_signature(delegate.public_key(), response):
            windows.append(_validity(delegate))
            subject = subject or delegate.subject.rfc4514_string()
            continue
        reason = "the response's signature does not verify with the delegated responder's key"
    if windows:
        return windows, subject
    return reason


def _delegate_problem(delegate: x509.Certificate, issuer: x509.Certificate) -> Optional[str]:
    """Why ``delegate`` may not sign for ``issuer`` (RFC 6960 §4.2.2.2), or None.

    Its validity period is left to the caller: it depends on the time of each check.
    """
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    subject = delegate.subject.rfc4514_string()
    try:
        delegate.verify_directly_issued_by(issuer)
    except Exception:
        return (
            f"the responder certificate {subject!r} was not issued by the certificate's "
            "issuer (RFC 6960 §4.2.2.2)"
        )
    try:
        usage = delegate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        usage = x509.ExtendedKeyUsage([])
    if ExtendedKeyUsageOID.OCSP_SIGNING not in usage:
        return (
            f"the responder certificate {subject!r} lacks the id-kp-OCSPSigning extended key "
            "usage (RFC 6960 §4.2.2.2)"
        )
    return None


def _validity(cert: x509.Certificate) -> Tuple[datetime.datetime, datetime.datetime]:
    if hasattr(cert, "not_valid_before_utc"):
        return cert.not_valid_before_utc, cert.not_valid_after_utc
    return _aware(cert.not_valid_before), _aware(cert.not_valid_after)  # pragma: no cover


def _verify_signature(key: CertificatePublicKeyTypes, response: ocsp.OCSPResponse) -> bool:
    """Verify the response's signature with ``key``: RSA (PKCS#1 v1.5 or PSS), ECDSA, EdDSA.

    cryptography has no one-call OCSP signature check; this mirrors what it does for
    certificates (``verify_directly_issued_by``).
    """
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
    from cryptography.x509.oid import SignatureAlgorithmOID

    signature, data = response.signature, response.tbs_response_bytes
    try:
        algorithm = response.signature_hash_algorithm
        if isinstance(key, rsa.RSAPublicKey):
            if algorithm is None:
                return False
            if response.signature_algorithm_oid == SignatureAlgorithmOID.RSASSA_PSS:
                pss = padding.PSS(mgf=padding.MGF1(algorithm), salt_length=padding.PSS.AUTO)
                key.verify(signature, data, pss, algorithm)
            else:
                key.verify(signature, data, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            if algorithm is None:
                return False
            key.verify(signature, data, ec.ECDSA(algorithm))
        elif isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            key.verify(signature, data)
        elif isinstance(key, dsa.DSAPublicKey):
            if algorithm is None:
                return False
            key.verify(signature, data, algorithm)
        else:
            return False
    except InvalidSignature:
        return False
    except Exception:  # UnsupportedAlgorithm, a key/algorithm mismatch: not verifiable
        return False
    return True
