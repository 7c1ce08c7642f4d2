"""tlsplug.ocsp without the network: response verification, must-staple, the cache, staples."""

from __future__ import annotations

import datetime
import subprocess
import sys
import threading
from typing import Callable, Dict, List, Optional

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509 import ocsp as cocsp

from tlsplug import CertificateError, TLSOptions, ocsp
from tlsplug.testing.pki import CA, ocsp_error_response

UTC = datetime.timezone.utc
HOUR = datetime.timedelta(hours=1)


def now() -> datetime.datetime:
    return datetime.datetime.now(UTC)


class Hierarchy:
    """A root, an intermediate, a leaf and a must-staple leaf of one key type."""

    def __init__(self, key_type: str) -> None:
        self.root = CA(key_type=key_type)
        self.ca = self.root.create_intermediate()
        self.leaf = self.ca.issue_cert("localhost")
        self.staple_leaf = self.ca.issue_cert("localhost", must_staple=True)
        self.other_ca = CA("another root", key_type=key_type)

    @property
    def chain(self) -> List[bytes]:
        return [self.leaf.cert_der, self.ca.cert_der]


def _hash_for(key: CertificateIssuerPrivateKeyTypes) -> Optional[hashes.SHA256]:
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


@pytest.fixture(scope="module", params=["rsa", "ecdsa", "ed25519"])
def h(request: pytest.FixtureRequest) -> Hierarchy:
    return Hierarchy(request.param)


def foreign_delegate_response(h: Hierarchy) -> bytes:
    """A response about h.leaf signed by an OCSPSigning delegate that *another* CA issued."""
    delegate = h.other_ca.ocsp_responder_cert()
    return _signed_by(h, delegate.certificate, delegate.private_key)


def _signed_by(
    h: Hierarchy, signer: x509.Certificate, key: CertificateIssuerPrivateKeyTypes
) -> bytes:
    builder = (
        cocsp.OCSPResponseBuilder()
        .add_response(
            cert=h.leaf.certificate,
            issuer=h.ca.certificate,
            algorithm=hashes.SHA1(),
            cert_status=cocsp.OCSPCertStatus.GOOD,
            this_update=now() - HOUR,
            next_update=now() + HOUR,
            revocation_time=None,
            revocation_reason=None,
        )
        .responder_id(cocsp.OCSPResponderEncoding.HASH, signer)
        .certificates([signer])
    )
    return builder.sign(key, _hash_for(key)).public_bytes(serialization.Encoding.DER)


def issuer_named_impostor(h: Hierarchy) -> bytes:
    """A response whose ResponderID names the issuer but that another key signed."""
    builder = (
        cocsp.OCSPResponseBuilder()
        .add_response(
            cert=h.leaf.certificate,
            issuer=h.ca.certificate,
            algorithm=hashes.SHA1(),
            cert_status=cocsp.OCSPCertStatus.GOOD,
            this_update=now() - HOUR,
            next_update=now() + HOUR,
            revocation_time=None,
            revocation_reason=None,
        )
        # The ResponderID is taken from a look-alike certificate: the issuer's name, another key.
        .responder_id(
            cocsp.OCSPResponderEncoding.NAME, _rename(h.other_ca, h.ca.certificate.subject)
        )
    )
    return builder.sign(h.other_ca.private_key, _hash_for(h.other_ca.private_key)).public_bytes(
        serialization.Encoding.DER
    )


# -- verify_response ------------------------------------------------------------------------


@pytest.mark.parametrize("signer", ["issuer", "delegate"])
@pytest.mark.parametrize("status", ["good", "revoked", "unknown"])
def test_valid_responses_give_their_status(h: Hierarchy, signer: str, status: str) -> None:
    """A well-formed response signed by the issuer or its delegate yields its status."""
    der = h.ca.ocsp_response(h.leaf, status, signer=signer)
    verdict = ocsp.verify_response(der, h.leaf.cert_der, h.ca.cert_der)
    assert verdict.status == status
    assert verdict.this_update is not None
    assert verdict.next_update is not None
    assert verdict.this_update <= now() < verdict.next_update
    assert verdict.conclusive is (status != "unknown")
    assert verdict.problem == (ocsp.STATUS_UNKNOWN if status == "unknown" else None)


def test_revoked_reason_names_time_and_reason(h: Hierarchy) -> None:
    """A revoked verdict's reason carries the revocation time and the CRL reason."""
    der = h.ca.ocsp_response(h.leaf, "revoked", revocation_reason=x509.ReasonFlags.key_compromise)
    verdict = ocsp.verify_response(der, h.leaf.certificate, h.ca.certificate)
    assert verdict.status == "revoked"
    assert "key_compromise" in verdict.reason
    assert "revoked at" in verdict.reason


@pytest.mark.parametrize(
    ("variant", "expected"),
    [
        ("delegate-without-eku", "id-kp-OCSPSigning"),
        ("unrelated", "not issued by the certificate's issuer"),
        ("foreign-delegate", "not issued by the certificate's issuer"),
        ("impostor", "does not verify with the issuer's key"),
        ("corrupt", "does not verify with the issuer's key"),
        ("corrupt-delegate", "delegated responder's key"),
        ("other-cert", "not about this certificate"),
        ("other-issuer", "not about this certificate"),
        ("future", "in the future"),
        ("expired", "has passed"),
        ("garbage", "not a DER OCSP response"),
        ("empty", "not a DER OCSP response"),
        ("truncated", "not a DER OCSP response"),
        ("try-later", "unsuccessful OCSP response status 'try_later'"),
        ("unauthorized", "unsuccessful OCSP response status 'unauthorized'"),
    ],
)
def test_invalid_responses_are_invalid_with_reason(
    h: Hierarchy, variant: str, expected: str
) -> None:
    """Every RFC 6960 §3.2 violation gives status invalid and says which rule failed."""
    good = h.ca.ocsp_response(h.leaf, "good")
    responses: Dict[str, Callable[[], bytes]] = {
        "delegate-without-eku": lambda: h.ca.ocsp_response(h.leaf, signer="delegate-without-eku"),
        "unrelated": lambda: h.ca.ocsp_response(h.leaf, signer="unrelated"),
        "foreign-delegate": lambda: foreign_delegate_response(h),
        "impostor": lambda: issuer_named_impostor(h),
        "corrupt": lambda: h.ca.ocsp_response(h.leaf, corrupt_signature=True),
        "corrupt-delegate": lambda: h.ca.ocsp_response(
            h.leaf, signer="delegate", corrupt_signature=True
        ),
        "other-cert": lambda: h.ca.ocsp_response(h.staple_leaf),
        "other-issuer": lambda: h.root.ocsp_response(h.ca),
        "future": lambda: h.ca.ocsp_response(
            h.leaf, this_update=now() + HOUR, next_update=now() + 2 * HOUR
        ),
        "expired": lambda: h.ca.ocsp_response(h.leaf, expired=True),
        "garbage": lambda: b"\x00garbage\xff" * 10,
        "empty": lambda: b"",
        "truncated": lambda: good[: len(good) // 2],
        "try-later": lambda: ocsp_error_response("try_later"),
        "unauthorized": lambda: ocsp_error_response("unauthorized"),
    }
    verdict = ocsp.verify_response(responses[variant](), h.leaf.cert_der, h.ca.cert_der)
    assert verdict.status == "invalid"
    assert expected in verdict.reason
    assert verdict.problem in (ocsp.INVALID_RESPONSE, ocsp.RESPONDER_ERROR)
    assert not verdict.conclusive


def test_time_window_has_no_tolerance(h: Hierarchy) -> None:
    """thisUpdate <= now < nextUpdate exactly: valid at thisUpdate, invalid at nextUpdate."""
    this_update = now().replace(microsecond=0) - HOUR
    next_update = this_update + 2 * HOUR
    der = h.ca.ocsp_response(h.leaf, this_update=this_update, next_update=next_update)

    def at(t: datetime.datetime) -> str:
        return ocsp.verify_response(der, h.leaf.cert_der, h.ca.cert_der, now=t).status

    assert at(this_update) == "good"
    assert at(this_update - datetime.timedelta(seconds=1)) == "invalid"
    assert at(next_update - datetime.timedelta(microseconds=1)) == "good"
    assert at(next_update) == "invalid"


def test_signature_checked_once_per_distinct_response(
    h: Hierarchy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same response bytes are parsed and signature-checked once; new bytes again."""
    from tlsplug.ocsp import _verify as _ocsp_verify

    calls: List[int] = []
    real = _ocsp_verify._verify_signature

    def counting(key: object, response: object) -> bool:
        calls.append(1)
        return real(key, response)  # type: ignore[arg-type]

    monkeypatch.setattr(_ocsp_verify, "_verify_signature", counting)
    # An unusual thisUpdate: bytes no other test verified (the memo is process-wide).
    der = h.ca.ocsp_response(h.leaf, this_update=now() - datetime.timedelta(seconds=797))
    for _ in range(3):
        assert ocsp.verify_response(der, h.leaf.cert_der, h.ca.cert_der).status == "good"
    assert len(calls) == 1
    other = h.ca.ocsp_response(
        h.leaf, "revoked", this_update=now() - datetime.timedelta(seconds=811)
    )
    assert ocsp.verify_response(other, h.leaf.cert_der, h.ca.cert_der).status == "revoked"
    assert len(calls) == 2


def test_delegate_validity_is_checked_at_every_verification(h: Hierarchy) -> None:
    """A remembered delegate-signed response still fails once the delegate has expired."""
    der = h.ca.ocsp_response(h.leaf, signer="delegate")
    assert ocsp.verify_response(der, h.leaf.cert_der, h.ca.cert_der).status == "good"
    delegate = h.ca.ocsp_responder_cert().certificate
    after = delegate.not_valid_after_utc + datetime.timedelta(seconds=1)
    late = ocsp.verify_response(der, h.leaf.cert_der, h.ca.cert_der, now=after)
    assert late.status == "invalid"
    assert "outside its validity period" in late.reason


def test_response_without_next_update_is_usable(h: Hierarchy) -> None:
    """A response without nextUpdate verifies (RFC 6960 §4.2.2.1) but cannot be cached."""
    der = h.ca.ocsp_response(h.leaf, include_next_update=False)
    verdict = ocsp.verify_response(der, h.leaf.cert_der, h.ca.cert_der)
    assert verdict.status == "good"
    assert verdict.next_update is None
    assert not ocsp.OCSPCache().put(ocsp.cert_id(h.leaf.cert_der, h.ca.cert_der), verdict)


@pytest.mark.parametrize("algorithm", [hashes.SHA1(), hashes.SHA256(), hashes.SHA384()])
@pytest.mark.parametrize("responder_id", ["key-hash", "name"])
def test_cert_id_hash_and_responder_id_variants(
    h: Hierarchy, algorithm: hashes.HashAlgorithm, responder_id: str
) -> None:
    """The CertID is recomputed with the response's hash; both ResponderID forms work."""
    der = h.ca.ocsp_response(h.leaf, hash_algorithm=algorithm, responder_id=responder_id)
    assert ocsp.verify_response(der, h.leaf.cert_der, h.ca.cert_der).status == "good"
    wrong_issuer = ocsp.verify_response(der, h.leaf.cert_der, h.root.cert_der)
    assert wrong_issuer.status == "invalid"


def test_delegate_by_name_is_found(h: Hierarchy) -> None:
    """A delegate named by subject (ResponderID byName) is accepted like one named by key."""
    der = h.ca.ocsp_response(h.leaf, signer="delegate", responder_id="name")
    assert ocsp.verify_response(der, h.leaf.cert_der, h.ca.cert_der).status == "good"


def test_verify_accepts_pem_and_objects(h: Hierarchy) -> None:
    """Certificates may be given as DER, PEM or cryptography objects."""
    der = h.ca.ocsp_response(h.leaf)
    assert ocsp.verify_response(der, h.leaf.cert_pem, h.ca.certificate).ok


# -- find_issuer, must_staple ---------------------------------------------------------------


def test_find_issuer_checks_name_and_signature(h: Hierarchy) -> None:
    """The issuer is the chain certificate whose subject and key both match the leaf."""
    assert ocsp.find_issuer(h.leaf.cert_der, h.chain) == h.ca.certificate
    assert ocsp.find_issuer(h.leaf.cert_der, [h.leaf.cert_der, h.root.cert_der]) is None
    assert ocsp.find_issuer(h.leaf.cert_der, [b"junk"], trust=[h.ca.cert_pem]) == h.ca.certificate
    # Same name, different key: a look-alike CA is not the issuer.
    impostor = CA(h.ca.name, h.ca.key_type, fresh_key=True)
    lookalike = _rename(impostor, h.ca.certificate.subject)
    assert lookalike.subject == h.leaf.certificate.issuer
    assert ocsp.find_issuer(h.leaf.cert_der, [lookalike]) is None


def _rename(ca: CA, subject: x509.Name) -> x509.Certificate:
    """A self-signed certificate of ``ca``'s key carrying ``subject``."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(ca.private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now() - HOUR)
        .not_valid_after(now() + HOUR)
    )
    return builder.sign(ca.private_key, _hash_for(ca.private_key))


def test_must_staple_detection(h: Hierarchy) -> None:
    """Only a certificate with the TLS feature status_request is must-staple (RFC 7633)."""
    assert ocsp.must_staple(h.staple_leaf.cert_der)
    assert not ocsp.must_staple(h.leaf.cert_der)
    assert not ocsp.must_staple(h.ca.certificate)


# -- cache ----------------------------------------------------------------------------------


def _verdict(status: str = "good", start: Optional[datetime.datetime] = None) -> ocsp.Verdict:
    start = start or now() - HOUR
    return ocsp.Verdict(status, "test", start, start + 2 * HOUR, "responder")


def _key(serial: int) -> ocsp.CertIDKey:
    return ("sha1", b"n" * 20, b"k" * 20, serial)


def test_cache_serves_until_next_update() -> None:
    """An entry is served while thisUpdate <= now < nextUpdate and dropped afterwards."""
    cache = ocsp.OCSPCache()
    verdict = _verdict()
    assert verdict.next_update is not None
    assert cache.put(_key(1), verdict)
    hit = cache.get(_key(1))
    assert hit is not None
    assert hit.source == "cache"
    assert hit.summary == "good (cache)"
    assert cache.get(_key(1), now=verdict.next_update - datetime.timedelta(seconds=1))
    assert cache.get(_key(1), now=verdict.next_update) is None
    assert len(cache) == 0
    assert cache.stats.hits == 2
    assert cache.stats.misses == 1


def test_cache_generation_changes_only_when_a_verdict_is_stored() -> None:
    """``generation`` moves on every stored verdict, never on look-ups, refusals or drops."""
    cache = ocsp.OCSPCache()
    seen = [cache.generation]
    cache.get(_key(1))
    assert not cache.put(_key(1), _verdict("unknown"))  # inconclusive: not stored
    seen.append(cache.generation)
    assert cache.put(_key(1), _verdict())
    seen.append(cache.generation)
    assert cache.keep(_key(1), cache.get(_key(1)) or _verdict())  # the same entry again
    cache.get(_key(1))
    seen.append(cache.generation)
    assert cache.put(_key(2), _verdict("revoked"))
    seen.append(cache.generation)
    cache.discard(_key(2))
    cache.clear()
    seen.append(cache.generation)
    assert seen[0] == seen[1]
    assert seen[1] != seen[2] == seen[3] != seen[4] == seen[5]


@pytest.mark.parametrize("status", ["unknown", "invalid"])
def test_cache_refuses_inconclusive(status: str) -> None:
    """Unknown and invalid verdicts are never cached (MongoDB OCSP spec, caching)."""
    cache = ocsp.OCSPCache()
    assert not cache.put(_key(1), _verdict(status))
    assert cache.get(_key(1)) is None


def test_cache_keeps_revoked_and_prefers_later_next_update() -> None:
    """Revoked is cached; a verdict with a later nextUpdate replaces an earlier one only."""
    cache = ocsp.OCSPCache()
    older, newer = _verdict("good", now() - HOUR), _verdict("revoked", now() - HOUR / 2)
    assert cache.put(_key(1), newer)
    assert not cache.put(_key(1), older)
    hit = cache.get(_key(1))
    assert hit is not None
    assert hit.status == "revoked"
    cache.clear()
    assert cache.put(_key(1), older)
    assert cache.put(_key(1), newer)
    assert cache.stats.size == 1


def test_cache_is_bounded_lru() -> None:
    """Beyond maxsize the least recently used entry is evicted."""
    cache = ocsp.OCSPCache(maxsize=3)
    for serial in (1, 2, 3):
        cache.put(_key(serial), _verdict())
    assert cache.get(_key(1)) is not None  # 1 is now the most recently used
    cache.put(_key(4), _verdict())
    assert len(cache) == 3
    assert cache.get(_key(2)) is None
    assert all(cache.get(_key(s)) is not None for s in (1, 3, 4))
    assert cache.stats.evictions == 1
    with pytest.raises(ValueError, match="maxsize"):
        ocsp.OCSPCache(maxsize=0)


def test_cache_is_thread_safe() -> None:
    """Concurrent puts and gets keep the bound and the counters consistent."""
    cache = ocsp.OCSPCache(maxsize=64)
    gets_per_thread, threads = 400, 8
    errors: List[BaseException] = []

    def hammer(offset: int) -> None:
        try:
            for i in range(gets_per_thread):
                cache.put(_key((offset * 7 + i) % 200), _verdict())
                cache.get(_key((offset + i) % 200))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    workers = [threading.Thread(target=hammer, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    assert not errors
    stats = cache.stats
    assert stats.size <= 64
    assert stats.hits + stats.misses == gets_per_thread * threads


def test_default_cache_is_process_wide() -> None:
    """default_cache() is one shared instance with a clear()."""
    assert ocsp.default_cache() is ocsp.default_cache()
    ocsp.default_cache().put(_key(99), _verdict())
    ocsp.default_cache().clear()
    assert ocsp.default_cache().get(_key(99)) is None


# -- check_staple ---------------------------------------------------------------------------

ON = TLSOptions(enabled=True)
NO_ENDPOINT = TLSOptions(enabled=True, disable_ocsp_endpoint_check=True)


def test_good_staple_is_accepted_and_cached(h: Hierarchy) -> None:
    """A good staple gives a good verdict and warms the cache."""
    cache = ocsp.OCSPCache()
    staple = h.ca.ocsp_response(h.leaf, "good", signer="delegate")
    verdict = ocsp.check_staple(staple, h.chain, ON, backend="test", cache=cache)
    assert verdict is not None
    assert verdict.summary == "good (staple)"
    assert cache.get(ocsp.cert_id(h.leaf.cert_der, h.ca.cert_der)) is not None


def test_sha256_staple_is_cached_under_the_sha1_cert_id(h: Hierarchy) -> None:
    """The cache key is the SHA-1 CertID whatever hash the staple used."""
    cache = ocsp.OCSPCache()
    staple = h.ca.ocsp_response(h.leaf, hash_algorithm=hashes.SHA256())
    ocsp.check_staple(staple, h.chain, ON, cache=cache)
    assert cache.get(ocsp.cert_id(h.leaf.certificate, h.ca.certificate)) is not None


def test_revoked_staple_fails(h: Hierarchy) -> None:
    """A revoked staple raises ocsp-revoked with PyMongo's searchable text."""
    staple = h.ca.ocsp_response(h.leaf, "revoked")
    with pytest.raises(CertificateError) as info:
        ocsp.check_staple(staple, h.chain, NO_ENDPOINT, backend="test", cache=ocsp.OCSPCache())
    assert info.value.code == "ocsp-revoked"
    assert info.value.backend == "test"
    assert "invalid status response" in str(info.value)


@pytest.mark.parametrize("variant", ["expired", "unrelated", "other-cert", "garbage", "try_later"])
def test_invalid_staple_fails(h: Hierarchy, variant: str) -> None:
    """A staple that is not a valid response for this certificate raises ocsp-invalid-response."""
    staples: Dict[str, Callable[[], bytes]] = {
        "expired": lambda: h.ca.ocsp_response(h.leaf, expired=True),
        "unrelated": lambda: h.ca.ocsp_response(h.leaf, signer="unrelated"),
        "other-cert": lambda: h.ca.ocsp_response(h.staple_leaf),
        "garbage": lambda: b"not ocsp",
        "try_later": lambda: ocsp_error_response("try_later"),
    }
    staple = staples[variant]()
    with pytest.raises(CertificateError) as info:
        ocsp.check_staple(staple, h.chain, ON, cache=ocsp.OCSPCache())
    assert info.value.code == "ocsp-invalid-response"
    assert "invalid status response" in str(info.value)


def test_staple_without_known_issuer_fails_unless_trusted(h: Hierarchy) -> None:
    """A staple cannot be verified without the issuer; the trust list can supply it."""
    staple = h.ca.ocsp_response(h.leaf)
    with pytest.raises(CertificateError, match="issuer") as info:
        ocsp.check_staple(staple, [h.leaf.cert_der], ON)
    assert info.value.code == "ocsp-invalid-response"
    verdict = ocsp.check_staple(staple, [h.leaf.cert_der], ON, trust=[h.ca.cert_der])
    assert verdict is not None
    assert verdict.ok


def test_unknown_staple_is_not_a_failure_and_not_cached(h: Hierarchy) -> None:
    """A valid staple saying unknown connects (as PyMongo does) and is not cached."""
    cache = ocsp.OCSPCache()
    staple = h.ca.ocsp_response(h.leaf, "unknown")
    verdict = ocsp.check_staple(staple, h.chain, ON, cache=cache)
    assert verdict is not None
    assert verdict.status == "unknown"
    assert len(cache) == 0


@pytest.mark.parametrize("options", [ON, NO_ENDPOINT], ids=["default", "no-endpoint"])
def test_must_staple_without_staple_fails(h: Hierarchy, options: TLSOptions) -> None:
    """Must-staple with nothing stapled fails even when the endpoint check is disabled."""
    chain = [h.staple_leaf.cert_der, h.ca.cert_der]
    for missing in (None, b""):
        with pytest.raises(CertificateError) as info:
            ocsp.check_staple(missing, chain, options)
        assert info.value.code == "ocsp-must-staple"
        assert "invalid status response" in str(info.value)


def test_no_staple_returns_none(h: Hierarchy) -> None:
    """Without a staple and without must-staple the caller moves on to the responders."""
    assert ocsp.check_staple(None, h.chain, ON) is None
    assert ocsp.check_staple(b"", h.chain, ON) is None


@pytest.mark.parametrize(
    "options",
    [
        TLSOptions(enabled=True, insecure=True),
        TLSOptions(enabled=True, allow_invalid_certificates=True),
        TLSOptions(enabled=True, disable_certificate_revocation_check=True),
    ],
    ids=["insecure", "allow-invalid-certs", "no-revocation"],
)
def test_ocsp_off_ignores_everything(h: Hierarchy, options: TLSOptions) -> None:
    """Options that turn OCSP off skip staples, must-staple and responders alike."""
    chain = [h.staple_leaf.cert_der, h.ca.cert_der]
    assert ocsp.check_staple(b"garbage", chain, options) is None
    assert ocsp.check_staple(None, chain, options) is None
    assert ocsp.post_handshake_check(chain, None, options) is None
    assert ocsp.status_text(None) == "off"


def test_no_staple_with_endpoint_check_disabled(h: Hierarchy) -> None:
    """No staple and no endpoint check: connect, reported as a soft-fail of that kind."""
    verdict = ocsp.post_handshake_check(h.chain, None, NO_ENDPOINT)
    assert verdict is not None
    assert ocsp.status_text(verdict) == "soft-fail: endpoint check disabled"


def test_unknown_staple_without_endpoint_check_logs(
    h: Hierarchy, caplog: pytest.LogCaptureFixture
) -> None:
    """An unknown staple with the endpoint check off soft-fails with a WARNING."""
    staple = h.ca.ocsp_response(h.leaf, "unknown")
    with caplog.at_level("WARNING", logger="tlsplug.ocsp"):
        verdict = ocsp.post_handshake_check(h.chain, staple, NO_ENDPOINT, cache=ocsp.OCSPCache())
    assert ocsp.status_text(verdict) == "soft-fail: status unknown"
    assert [r.levelname for r in caplog.records if r.name == "tlsplug.ocsp"] == ["WARNING"]


def test_verdict_rejects_unknown_vocabulary() -> None:
    """Verdict validates status, source and problem against the documented vocabulary."""
    with pytest.raises(ValueError, match="status"):
        ocsp.Verdict("maybe", "x")
    with pytest.raises(ValueError, match="source"):
        ocsp.Verdict("good", "x", source="guess")
    with pytest.raises(ValueError, match="problem"):
        ocsp.Verdict("unknown", "x", problem="bad luck")


def test_import_stays_light() -> None:
    """Importing tlsplug.ocsp loads neither cryptography's OCSP module nor urllib.request."""
    code = (
        "import sys, tlsplug.ocsp; "
        "bad = [m for m in ('cryptography.x509.ocsp', 'urllib.request', 'asyncio') "
        "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_empty_chain_is_a_soft_fail_not_a_crash() -> None:
    """A backend passing no peer certificate gets a soft-fail verdict, or a failure if stapled."""
    verdict = ocsp.post_handshake_check([], None, ON)
    assert ocsp.status_text(verdict) == "soft-fail: issuer not found"
    with pytest.raises(CertificateError) as info:
        ocsp.post_handshake_check([], b"staple", ON)
    assert info.value.code == "ocsp-invalid-response"


def test_backend_without_stapling_skips_must_staple(h: Hierarchy) -> None:
    """stapling=False (a TLS library that cannot request staples) does not judge must-staple."""
    chain = [h.staple_leaf.cert_der, h.ca.cert_der]
    verdict = ocsp.post_handshake_check(chain, None, NO_ENDPOINT, stapling=False)
    assert ocsp.status_text(verdict) == "soft-fail: endpoint check disabled"
    with pytest.raises(CertificateError):
        ocsp.post_handshake_check(chain, None, NO_ENDPOINT)
    with pytest.raises(ValueError, match="stapling=False"):
        ocsp.post_handshake_check(chain, b"x", NO_ENDPOINT, stapling=False)
