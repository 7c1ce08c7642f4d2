"""Broken OCSP responders through real connections: soft-fail or hard-fail per docs/design.md."""

from __future__ import annotations

import logging
import socket
import time
from typing import Any, Dict, Iterator, Optional, Tuple

import pytest
from faults_support import TIMEOUT, backend_names, bounded, make_context

import tlsplug
from tlsplug import ocsp
from tlsplug.backend import CertificateError, Feature
from tlsplug.testing.ocsp_responder import OCSPResponder, closed_port_url
from tlsplug.testing.pki import CA, LeafCert
from tlsplug.testing.servers import TLSServer

OCSP_TIMEOUT = 0.75  # the whole-check deadline of the slow case
SLACK = 3.0  # a loaded 2-core machine; still below the slow responders' 5 s delay
LIMIT = 30.0

OCSP_BACKENDS = [
    name for name in backend_names()
    if Feature.OCSP_ENDPOINT in tlsplug.get_backend(name).features
]

# name: (responder behaviour, or "down" for a closed port; the soft-fail problem expected)
FAULTS: Dict[str, Tuple[Dict[str, Any], str]] = {
    "slow": ({"delay": 5.0}, ocsp.RESPONDER_TIMEOUT),
    "down": ({}, ocsp.RESPONDER_UNREACHABLE),
    "http-500": ({"http_status": 500}, ocsp.RESPONDER_ERROR),
    "redirect-loop": ({"redirect_loop": True}, ocsp.RESPONDER_ERROR),
    "garbage": ({"garbage": True}, ocsp.INVALID_RESPONSE),
    "other-certificate": ({"wrong_cert": True}, ocsp.INVALID_RESPONSE),
    "unrelated-signer": ({"signer": "unrelated"}, ocsp.INVALID_RESPONSE),
    "next-update-passed": ({"expired": True}, ocsp.INVALID_RESPONSE),
    "huge-body": ({"huge_body": True}, ocsp.INVALID_RESPONSE),
}

pytestmark = pytest.mark.skipif(not OCSP_BACKENDS,
                                reason="no installed backend declares Feature.OCSP_ENDPOINT")


@pytest.fixture(scope="module")
def root() -> CA:
    """A root that issues the leaves directly, so every backend finds the issuer."""
    return CA("faults ocsp root")


@pytest.fixture(scope="module")
def ca_file(root: CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The root as a tlsCAFile."""
    return str(root.write_cert(tmp_path_factory.mktemp("faults-ocsp") / "ca.pem"))


@pytest.fixture
def responder(root: CA) -> Iterator[OCSPResponder]:
    """A running responder for the root's certificates."""
    with OCSPResponder(root) as r:
        yield r


def _connect(backend: str, ca_file: str, leaf: LeafCert, *, ocsp_timeout: float = 5.0
             ) -> Tuple[str, Optional[str], float]:
    """(outcome, ocsp_status, seconds) of one connection to a server for ``leaf``."""
    ctx = make_context(backend, ca_file=ca_file, ocsp_timeout=ocsp_timeout)
    with TLSServer(cert=leaf, timeout=TIMEOUT) as server:
        start = time.monotonic()
        sock = socket.create_connection(server.address, timeout=TIMEOUT)
        try:
            tls = ctx.wrap_socket(sock, server_hostname="localhost")
        except CertificateError as exc:
            return exc.code, None, time.monotonic() - start
        took = time.monotonic() - start
        with tls:
            tls.sendall(b"ping")
            assert tls.recv(16) == b"ping"
            return "ok", tls.ocsp_status, took


@pytest.mark.parametrize("backend", OCSP_BACKENDS)
@pytest.mark.parametrize("fault", list(FAULTS))
def test_responder_fault_soft_fails(backend: str, fault: str, root: CA, ca_file: str,
                                    responder: OCSPResponder,
                                    caplog: pytest.LogCaptureFixture) -> None:
    """Each responder fault connects, logs a WARNING on tlsplug.ocsp and says soft-fail."""
    behaviour, problem = FAULTS[fault]
    url = closed_port_url() if fault == "down" else responder.url
    leaf = root.issue_cert("localhost", ocsp_url=url)
    responder.set_status(leaf, "good")
    responder.configure(**behaviour)
    timeout = OCSP_TIMEOUT if fault == "slow" else 5.0
    with caplog.at_level(logging.WARNING, logger="tlsplug.ocsp"):
        outcome, status, took = bounded(
            lambda: _connect(backend, ca_file, leaf, ocsp_timeout=timeout), LIMIT)
    assert (outcome, status) == ("ok", f"soft-fail: {problem}")
    assert took <= timeout + SLACK, took
    warnings = [r for r in caplog.records
                if r.name == "tlsplug.ocsp" and r.levelno == logging.WARNING]
    assert any(problem in r.getMessage() for r in warnings), [r.getMessage() for r in warnings]
    if fault != "down":
        assert responder.requests >= 1


@pytest.mark.parametrize("backend", OCSP_BACKENDS)
def test_revoked_hard_fails(backend: str, root: CA, ca_file: str,
                            responder: OCSPResponder) -> None:
    """A responder saying revoked refuses the connection with ocsp-revoked."""
    leaf = root.issue_cert("localhost", ocsp_url=responder.url)
    responder.set_status(leaf, "revoked")
    outcome, _, _ = bounded(lambda: _connect(backend, ca_file, leaf), LIMIT)
    assert outcome == "ocsp-revoked"


@pytest.mark.parametrize("backend", OCSP_BACKENDS)
def test_good_answer_is_used_then_cached(backend: str, root: CA, ca_file: str,
                                         responder: OCSPResponder) -> None:
    """A good answer connects as "good (responder)", and the next connection uses the cache."""
    leaf = root.issue_cert("localhost", ocsp_url=responder.url)
    responder.set_status(leaf, "good")
    first = bounded(lambda: _connect(backend, ca_file, leaf), LIMIT)
    second = bounded(lambda: _connect(backend, ca_file, leaf), LIMIT)
    assert (first[:2], second[:2]) == (("ok", "good (responder)"), ("ok", "good (cache)"))
    assert responder.requests == 1


@pytest.mark.parametrize("backend", OCSP_BACKENDS)
def test_slow_responder_with_revocation_is_bounded(backend: str, root: CA, ca_file: str,
                                                  responder: OCSPResponder) -> None:
    """A revoked answer arriving after ocsp_timeout is not waited for: soft-fail in time."""
    leaf = root.issue_cert("localhost", ocsp_url=responder.url)
    responder.set_status(leaf, "revoked")
    responder.configure(delay=5.0)
    outcome, status, took = bounded(
        lambda: _connect(backend, ca_file, leaf, ocsp_timeout=OCSP_TIMEOUT), LIMIT)
    assert (outcome, status) == ("ok", f"soft-fail: {ocsp.RESPONDER_TIMEOUT}")
    assert took <= OCSP_TIMEOUT + SLACK


