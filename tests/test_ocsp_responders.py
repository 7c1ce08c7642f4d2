"""OCSP responder checks over real HTTP on loopback, against tlsplug.testing's responder."""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest
from cryptography.x509 import ocsp as cocsp

from tlsplug import CertificateError, TLSOptions, ocsp
from tlsplug.testing.ocsp_responder import OCSPResponder, closed_port_url
from tlsplug.testing.pki import CA, LeafCert

TIMEOUT = 0.5  # the whole-check deadline in the slow tests: small, so the suite stays quick
MATRIX = Path(__file__).resolve().parent / "vectors/mongodb-specs/ocsp-test-matrix.derived.json"


@pytest.fixture(scope="module", params=["rsa", "ecdsa"])
def ca(request: pytest.FixtureRequest) -> CA:
    return CA(key_type=request.param).create_intermediate()


@pytest.fixture
def responder(ca: CA) -> Iterator[OCSPResponder]:
    with OCSPResponder(ca) as r:
        yield r


@pytest.fixture
def cache() -> ocsp.OCSPCache:
    return ocsp.OCSPCache()


def leaf_for(ca: CA, *responders: OCSPResponder, status: str = "good", **kw: Any) -> LeafCert:
    leaf = ca.issue_cert("localhost", ocsp_url=[r.url for r in responders], **kw)
    for r in responders:
        if not r.down:
            r.set_status(leaf, status)
    return leaf


def ocsp_records(caplog: pytest.LogCaptureFixture) -> List[str]:
    return [r.getMessage() for r in caplog.records if r.name == "tlsplug.ocsp"]


@pytest.mark.parametrize("signer", ["issuer", "delegate"])
def test_good_answer_then_warm_cache_sends_nothing(
    ca: CA, responder: OCSPResponder, cache: ocsp.OCSPCache, signer: str
) -> None:
    """A good answer is returned and cached; the next check sends zero requests."""
    responder.configure(signer=signer)
    leaf = leaf_for(ca, responder)
    first = ocsp.check_responders(leaf.cert_der, ca.cert_der, timeout=5, cache=cache)
    assert first.summary == "good (responder)"
    assert responder.requests == 1
    second = ocsp.check_responders(leaf.cert_der, ca.cert_der, timeout=5, cache=cache)
    assert second.summary == "good (cache)"
    assert responder.requests == 1
    assert cache.stats.hits == 1


def test_revoked_answer_fails_and_stays_revoked(
    ca: CA, responder: OCSPResponder, cache: ocsp.OCSPCache
) -> None:
    """Revoked raises ocsp-revoked, and the cached revocation raises with no new request."""
    leaf = leaf_for(ca, responder, status="revoked")
    for expected_requests in (1, 1):
        with pytest.raises(CertificateError) as info:
            ocsp.check_responders(
                leaf.certificate, ca.certificate, timeout=5, cache=cache, backend="b"
            )
        assert info.value.code == "ocsp-revoked"
        assert info.value.backend == "b"
        assert responder.requests == expected_requests


FAULTS: Dict[str, Tuple[Dict[str, Any], str, str]] = {
    # name: (responder behaviour, expected problem, text expected in the reason)
    # The worker's own socket timeout and the overall deadline race: either text is right.
    "slow": ({"delay": 10.0}, ocsp.RESPONDER_TIMEOUT, "no answer within|timed out"),
    "http-500": ({"http_status": 500}, ocsp.RESPONDER_ERROR, "HTTP 500"),
    "garbage": ({"garbage": True}, ocsp.INVALID_RESPONSE, "not a DER OCSP response"),
    "redirect-loop": ({"redirect_loop": True}, ocsp.RESPONDER_ERROR, "infinite loop"),
    "huge-body": ({"huge_body": True}, ocsp.INVALID_RESPONSE, "larger than"),
    "wrong-cert": ({"wrong_cert": True}, ocsp.INVALID_RESPONSE, "not about this certificate"),
    "expired": ({"expired": True}, ocsp.INVALID_RESPONSE, "has passed"),
    "try-later": ({"error_status": "try_later"}, ocsp.RESPONDER_ERROR, "try_later"),
    "no-eku": ({"signer": "delegate-without-eku"}, ocsp.INVALID_RESPONSE, "OCSPSigning"),
    "unrelated": ({"signer": "unrelated"}, ocsp.INVALID_RESPONSE, "not issued by"),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_faults_soft_fail_with_warning(
    ca: CA,
    responder: OCSPResponder,
    cache: ocsp.OCSPCache,
    caplog: pytest.LogCaptureFixture,
    fault: str,
) -> None:
    """Every responder fault connects (soft-fail), logs a WARNING and names the problem."""
    behaviour, problem, text = FAULTS[fault]
    leaf = leaf_for(ca, responder)
    responder.configure(**behaviour)
    # Seconds for "slow": a saturated machine may not run the worker within TIMEOUT, and
    # then the responder is never asked (see test_two_slow_responders_cost_one_timeout).
    timeout = 3.0 if fault == "slow" else 5.0
    start = time.monotonic()
    with caplog.at_level("WARNING", logger="tlsplug.ocsp"):
        verdict = ocsp.check_responders(leaf.cert_der, ca.cert_der, timeout=timeout, cache=cache)
    # Generous (a loaded 2-core CI machine wakes threads late), yet below the slow delay:
    # the check never waits for the answer.
    assert time.monotonic() - start < timeout + 4.0
    assert verdict.summary == f"soft-fail: {problem}"
    assert any(t in verdict.reason for t in text.split("|"))
    assert responder.requests >= 1
    (message,) = ocsp_records(caplog)
    assert any(t in message for t in text.split("|"))
    assert problem in message
    assert len(cache) == 0


def test_down_responder_soft_fails(
    ca: CA, cache: ocsp.OCSPCache, caplog: pytest.LogCaptureFixture
) -> None:
    """A responder whose port refuses connections soft-fails as unreachable, with a WARNING."""
    down = OCSPResponder(ca, down=True)
    leaf = leaf_for(ca, down)
    with caplog.at_level("WARNING", logger="tlsplug.ocsp"):
        verdict = ocsp.check_responders(leaf.cert_der, ca.cert_der, timeout=5, cache=cache)
    assert verdict.summary == "soft-fail: responder unreachable"
    assert verdict.status == "unknown"
    (message,) = ocsp_records(caplog)
    assert down.url in message


def test_stopped_responder_soft_fails(ca: CA, cache: ocsp.OCSPCache) -> None:
    """A responder that was stopped refuses connections on its old URL."""
    responder = OCSPResponder(ca).start()
    leaf = leaf_for(ca, responder)
    responder.stop()
    verdict = ocsp.check_responders(leaf.cert_der, ca.cert_der, timeout=5, cache=cache)
    assert verdict.problem == ocsp.RESPONDER_UNREACHABLE


def test_unknown_status_soft_fails(
    ca: CA, responder: OCSPResponder, cache: ocsp.OCSPCache, caplog: pytest.LogCaptureFixture
) -> None:
    """A valid answer of unknown is inconclusive: soft-fail, logged, not cached."""
    leaf = leaf_for(ca, responder, status="unknown")
    with caplog.at_level("WARNING", logger="tlsplug.ocsp"):
        verdict = ocsp.check_responders(leaf.cert_der, ca.cert_der, timeout=5, cache=cache)
    assert verdict.summary == "soft-fail: status unknown"
    assert len(ocsp_records(caplog)) == 1
    assert len(cache) == 0


def test_no_responder_url_soft_fails_without_requests(
    ca: CA, cache: ocsp.OCSPCache, caplog: pytest.LogCaptureFixture
) -> None:
    """A certificate without an OCSP URL soft-fails as 'no responder', logged only at DEBUG."""
    leaf = ca.issue_cert("localhost")
    with caplog.at_level("DEBUG", logger="tlsplug.ocsp"):
        verdict = ocsp.check_responders(leaf.cert_der, ca.cert_der, timeout=5, cache=cache)
    assert verdict.summary == "soft-fail: no responder"
    levels = [r.levelname for r in caplog.records if r.name == "tlsplug.ocsp"]
    assert levels == ["DEBUG"]


def test_two_slow_responders_cost_one_timeout(ca: CA, cache: ocsp.OCSPCache) -> None:
    """Two responders slower than the timeout are asked in parallel: about one timeout in all."""
    # A deadline of seconds, not TIMEOUT: on a saturated 2-core machine a niced test process
    # may not run its worker threads at all within half a second, and then a URL is never
    # asked. The responders' delay ends early when they stop, so it costs nothing.
    timeout, delay = 3.0, 30.0
    with OCSPResponder(ca, delay=delay) as slow1, OCSPResponder(ca, delay=delay) as slow2:
        leaf = leaf_for(ca, slow1, slow2)
        start = time.monotonic()
        verdict = ocsp.check_responders(leaf.cert_der, ca.cert_der, timeout=timeout, cache=cache)
        elapsed = time.monotonic() - start
        assert verdict.problem == ocsp.RESPONDER_TIMEOUT
        # Both URLs were asked although there is one deadline: in parallel (asked one by
        # one, the second would find no time left and never be asked).
        assert slow1.wait_requests(1, timeout=30.0)
        assert slow2.wait_requests(1, timeout=30.0)
        # One deadline in all: asked one by one, each would cost a whole timeout.
        assert timeout * 0.9 <= elapsed < 2 * timeout, f"took {elapsed:.2f} s"
        # One timeout reason per URL: the overall deadline ("no answer within") or the
        # worker's own socket timeout ("timed out") - whichever fires first under load.
        reasons = dict(part.split(": ", 1) for part in verdict.reason.split("; "))
        assert set(reasons) == {slow1.url, slow2.url}, verdict.reason
        for reason in reasons.values():
            assert reason in (f"no answer within {timeout:g} s", "timed out"), verdict.reason


def test_first_conclusive_answer_wins(ca: CA, cache: ocsp.OCSPCache) -> None:
    """With one slow, one broken and one good responder the good answer comes without waiting."""
    with (
        OCSPResponder(ca, delay=10.0) as slow,
        OCSPResponder(ca, http_status=500) as broken,
        OCSPResponder(ca) as good,
    ):
        down = OCSPResponder(ca, down=True)
        leaf = leaf_for(ca, slow, down, broken, good)
        start = time.monotonic()
        verdict = ocsp.check_responders(leaf.cert_der, ca.cert_der, timeout=8.0, cache=cache)
        assert verdict.summary == "good (responder)"
        # Without waiting for the deadline (8 s) or the slow answer (10 s); generous for load.
        assert time.monotonic() - start < 4.0


def test_async_check_does_not_block_the_loop(ca: CA, cache: ocsp.OCSPCache) -> None:
    """check_responders_async runs off the event loop: other tasks keep running meanwhile."""

    async def main(url_leaf: LeafCert) -> Tuple[ocsp.Verdict, int]:
        ticks = 0
        done = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0.01)

        task = asyncio.ensure_future(ticker())
        verdict = await ocsp.check_responders_async(
            url_leaf.cert_der, ca.cert_der, timeout=TIMEOUT, cache=cache
        )
        done.set()
        await task
        return verdict, ticks

    with OCSPResponder(ca, delay=3.0) as slow:
        verdict, ticks = asyncio.run(main(leaf_for(ca, slow)))
    assert verdict.problem == ocsp.RESPONDER_TIMEOUT
    # ~50 expected in 0.5 s; a blocked loop gives at most 1 (the ticker runs after the check).
    assert ticks >= 3


def test_post_handshake_asks_responders_after_unknown_staple(
    ca: CA, responder: OCSPResponder, cache: ocsp.OCSPCache
) -> None:
    """An unknown staple leaves the certificate unvalidated, so the responders decide."""
    leaf = leaf_for(ca, responder, status="revoked")
    staple = ca.ocsp_response(leaf, "unknown")
    chain = [leaf.cert_der, ca.cert_der]
    with pytest.raises(CertificateError) as info:
        ocsp.post_handshake_check(chain, staple, TLSOptions(enabled=True), cache=cache)
    assert info.value.code == "ocsp-revoked"
    assert responder.requests == 1


def test_post_handshake_async_good(ca: CA, responder: OCSPResponder, cache: ocsp.OCSPCache) -> None:
    """The async entry point reaches the same verdict as the blocking one."""
    leaf = leaf_for(ca, responder)
    chain = [leaf.cert_der, ca.cert_der]
    verdict = asyncio.run(
        ocsp.post_handshake_check_async(chain, None, TLSOptions(enabled=True), cache=cache)
    )
    assert ocsp.status_text(verdict) == "good (responder)"


def test_issuer_missing_soft_fails(
    ca: CA, responder: OCSPResponder, cache: ocsp.OCSPCache, caplog: pytest.LogCaptureFixture
) -> None:
    """Without the issuer no request can be built: soft-fail 'issuer not found', no request."""
    leaf = leaf_for(ca, responder)
    with caplog.at_level("WARNING", logger="tlsplug.ocsp"):
        verdict = ocsp.post_handshake_check([leaf.cert_der], None, TLSOptions(enabled=True))
    assert ocsp.status_text(verdict) == "soft-fail: issuer not found"
    assert responder.requests == 0
    assert len(ocsp_records(caplog)) == 1


def test_responder_answers_get_requests(ca: CA, responder: OCSPResponder) -> None:
    """The test responder implements RFC 6960 Appendix A.1 GET as well as POST."""
    leaf = leaf_for(ca, responder, status="revoked")
    request = ocsp.build_request(leaf.cert_der, ca.cert_der)
    encoded = urllib.parse.quote(base64.b64encode(request).decode(), safe="")
    with urllib.request.urlopen(f"{responder.url}/{encoded}", timeout=5) as reply:
        body = reply.read()
    assert ocsp.verify_response(body, leaf.cert_der, ca.cert_der).status == "revoked"
    assert cocsp.load_der_ocsp_response(body).response_status.name == "SUCCESSFUL"
    assert responder.requests == 1


def test_responder_refuses_unregistered_serials(ca: CA, responder: OCSPResponder) -> None:
    """A certificate the responder was not told about gets an 'unauthorized' answer."""
    stranger = ca.issue_cert("stranger.example")
    body = responder.answer(ocsp.build_request(stranger.cert_der, ca.cert_der))
    assert cocsp.load_der_ocsp_response(body).response_status.name == "UNAUTHORIZED"


def test_closed_port_url_refuses() -> None:
    """closed_port_url() names a loopback port that refuses connections."""
    with pytest.raises(urllib.error.URLError, match=r"[Rr]efused"):
        urllib.request.urlopen(closed_port_url(), timeout=5)


# -- the MongoDB OCSP test matrix, at the decision level ------------------------------------


def _matrix() -> Dict[str, Any]:
    with MATRIX.open() as f:
        data: Dict[str, Any] = json.load(f)
    return data


def _cases() -> List[Tuple[str, str, str]]:
    data = _matrix()
    return [
        (row["uri"], column, row["expect"][column])
        for row in data["rows"]
        for column in data["columns"]
    ]


EXPECTED_CODE = {"test2": "ocsp-revoked", "test4": "ocsp-revoked"}


def _ok_status(options: TLSOptions, spec: Dict[str, Any]) -> str:
    """The exact status text of an OK cell: a soft-fail is never mistaken for a good answer."""
    if not options.check_ocsp_stapling:  # tlsInsecure / tlsAllowInvalidCertificates
        return "off"
    if spec["server_staples"]:
        return "good (staple)"
    if not options.check_ocsp_endpoint:
        return "soft-fail: endpoint check disabled"
    if spec["responder"] == "up":
        return "good (responder)"
    return "soft-fail: responder unreachable"


@pytest.mark.parametrize("signer", ["issuer", "delegate"])
@pytest.mark.parametrize(("uri", "column", "expect"), _cases())
def test_spec_matrix_decisions(
    ca: CA, responder: OCSPResponder, uri: str, column: str, expect: str, signer: str
) -> None:
    """Each cell of the MongoDB OCSP test plan reaches its outcome (TLS itself is elsewhere)."""
    spec = _matrix()["columns"][column]
    options = TLSOptions.parse(f"mongodb://localhost/?{uri}")
    responder.configure(signer=signer)
    target: Optional[OCSPResponder] = (
        responder if spec["responder"] == "up" else OCSPResponder(ca, down=True)
    )
    assert target is not None
    status = "revoked" if spec["cert"] == "revoked" else "good"
    leaf = leaf_for(ca, target, status=status, must_staple=spec["must_staple"])
    staple = ca.ocsp_response(leaf, status, signer=signer) if spec["server_staples"] else None
    chain = [leaf.cert_der, ca.cert_der]
    cache = ocsp.OCSPCache()
    if expect == "OK":
        verdict = ocsp.post_handshake_check(chain, staple, options, cache=cache)
        assert ocsp.status_text(verdict) == _ok_status(options, spec)
        return
    with pytest.raises(CertificateError) as info:
        ocsp.post_handshake_check(chain, staple, options, cache=cache)
    assert info.value.code == EXPECTED_CODE.get(column, "ocsp-must-staple")


@pytest.mark.parametrize("status", ["good", "revoked"])
def test_backend_without_stapling_asks_responders(
    ca: CA, responder: OCSPResponder, cache: ocsp.OCSPCache, status: str
) -> None:
    """With stapling=False a must-staple certificate is judged by its responder alone."""
    leaf = leaf_for(ca, responder, status=status, must_staple=True)
    chain = [leaf.cert_der, ca.cert_der]
    options = TLSOptions(enabled=True)
    if status == "good":
        verdict = ocsp.post_handshake_check(chain, None, options, cache=cache, stapling=False)
        assert ocsp.status_text(verdict) == "good (responder)"
    else:
        with pytest.raises(CertificateError) as info:
            ocsp.post_handshake_check(chain, None, options, cache=cache, stapling=False)
        assert info.value.code == "ocsp-revoked"
    assert responder.requests == 1


class _NoThreads(concurrent.futures.ThreadPoolExecutor):
    """A default executor that refuses work: what is decided on the loop never gets here."""

    def submit(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a thread was asked for a verdict that needs no request")


@pytest.mark.parametrize("cached", [False, True])
def test_async_check_decides_without_a_thread(cached: bool) -> None:
    """check_responders_async answers a cached verdict or a leaf naming no responder on the loop."""
    ca = CA("async no-thread root")
    leaf = ca.issue_cert("localhost", ocsp_url="http://127.0.0.1:9/ocsp" if cached else None)
    cache = ocsp.OCSPCache()
    if cached:
        good = ocsp.verify_response(ca.ocsp_response(leaf, "good"), leaf.cert_der, ca.cert_der)
        assert cache.put(ocsp.cert_id(leaf.cert_der, ca.cert_der), good)

    async def main() -> ocsp.Verdict:
        asyncio.get_running_loop().set_default_executor(_NoThreads())
        return await ocsp.check_responders_async(
            leaf.cert_der, ca.cert_der, timeout=1.0, cache=cache
        )

    verdict = asyncio.run(main())
    assert verdict.summary == ("good (cache)" if cached else "soft-fail: no responder")
