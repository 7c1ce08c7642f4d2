"""``ChainFacts.check_staple``: a staple seen before is decided by its bytes and the clock."""

from __future__ import annotations

import datetime
import time
from typing import Tuple

import pytest

from tlsplug import CertificateError, TLSOptions, ocsp
from tlsplug._chainfacts import ChainFacts
from tlsplug.testing.pki import CA, LeafCert

PKI = Tuple[CA, CA, LeafCert]

ON = TLSOptions(enabled=True)
UTC = datetime.timezone.utc


@pytest.fixture(scope="module")
def pki() -> PKI:
    root = CA("staple memo root")
    issuer = root.create_intermediate("staple memo intermediate")
    leaf = issuer.issue_cert("localhost")
    return root, issuer, leaf


def _facts(pki: PKI) -> ChainFacts:
    root, issuer, leaf = pki
    return ChainFacts.from_ders([leaf.cert_der, issuer.cert_der, root.cert_der])


def test_same_staple_same_verdict(pki: PKI) -> None:
    """The same good staple again gives the very verdict of its first check."""
    _, issuer, leaf = pki
    facts, cache = _facts(pki), ocsp.OCSPCache()
    staple = issuer.ocsp_response(leaf, "good")
    first = facts.check_staple(staple, ON, cache=cache)
    assert first is not None
    assert first.summary == "good (staple)"
    assert facts.check_staple(bytes(staple), ON, cache=cache) is first


def test_another_staple_is_checked_in_full(pki: PKI) -> None:
    """A new staple for a remembered chain is checked: revoked is refused."""
    _, issuer, leaf = pki
    facts, cache = _facts(pki), ocsp.OCSPCache()
    facts.check_staple(issuer.ocsp_response(leaf, "good"), ON, cache=cache)
    with pytest.raises(CertificateError) as info:
        facts.check_staple(issuer.ocsp_response(leaf, "revoked"), ON, cache=cache)
    assert info.value.code == "ocsp-revoked"


def test_a_remembered_staple_goes_stale(pki: PKI) -> None:
    """Once its nextUpdate passes, the remembered staple is refused as stale."""
    _, issuer, leaf = pki
    facts, cache = _facts(pki), ocsp.OCSPCache()
    now = datetime.datetime.now(UTC)
    staple = issuer.ocsp_response(
        leaf, "good", this_update=now - datetime.timedelta(minutes=1),
        next_update=now + datetime.timedelta(seconds=1.5),
    )
    assert facts.check_staple(staple, ON, cache=cache) is not None
    time.sleep(max(0.0, (now + datetime.timedelta(seconds=1.6)).timestamp() - time.time()))
    with pytest.raises(CertificateError) as info:
        facts.check_staple(staple, ON, cache=cache)
    assert info.value.code == "ocsp-invalid-response"
    assert "nextUpdate" in str(info.value)


def test_the_cache_keeps_the_staple_verdict(pki: PKI) -> None:
    """A staple decided from memory still leaves its verdict in a cleared OCSP cache."""
    _, issuer, leaf = pki
    facts, cache = _facts(pki), ocsp.OCSPCache()
    staple = issuer.ocsp_response(leaf, "good")
    facts.check_staple(staple, ON, cache=cache)
    cache.clear()
    facts.check_staple(staple, ON, cache=cache)
    hit = cache.get(ocsp.cert_id(leaf.cert_der, issuer.cert_der))
    assert hit is not None
    assert hit.summary == "good (cache)"


def test_nothing_when_stapling_is_off(pki: PKI) -> None:
    """With revocation checks off, a remembered staple decides nothing."""
    _, issuer, leaf = pki
    facts, cache = _facts(pki), ocsp.OCSPCache()
    staple = issuer.ocsp_response(leaf, "good")
    facts.check_staple(staple, ON, cache=cache)
    off = TLSOptions(enabled=True, disable_certificate_revocation_check=True)
    assert facts.check_staple(staple, off, cache=cache) is None


def test_response_window_is_the_verdicts_validity(pki: PKI) -> None:
    """The window runs from thisUpdate to nextUpdate of the response just verified."""
    from tlsplug.ocsp._verify import response_window

    _, issuer, leaf = pki
    now = datetime.datetime.now(UTC).replace(microsecond=0)
    start, end = now - datetime.timedelta(hours=1), now + datetime.timedelta(hours=2)
    staple = issuer.ocsp_response(leaf, "good", this_update=start, next_update=end)
    assert ocsp.verify_response(staple, leaf.cert_der, issuer.cert_der).status == "good"
    certs = _facts(pki).certs
    ocsp.verify_response(staple, certs[0], certs[1])
    assert response_window(staple, certs[0], certs[1]) == (start.timestamp(), end.timestamp())
