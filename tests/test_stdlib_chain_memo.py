"""The stdlib backend decides once per distinct verified chain, and still asks the OCSP cache."""

from __future__ import annotations

import datetime
import socket
import sys
import warnings
from pathlib import Path
from typing import Any, List

import pytest

import tlsplug
from tlsplug import ocsp
from tlsplug._stdlib import _chains, backend
from tlsplug._stdlib._chains import CHAINS, ChainFacts, native_chain
from tlsplug.backend import CertificateError, ConfigurationError, TLSOptions
from tlsplug.testing.pki import CA, LeafCert
from tlsplug.testing.servers import TLSServer

pytestmark = pytest.mark.skipif(
    sys.version_info < (3, 10), reason="Python 3.9's ssl exposes no verified chain"
)

TIMEOUT = 10.0


@pytest.fixture(scope="module")
def issuer() -> CA:
    """An intermediate under a root, issuing a fresh leaf per test."""
    return CA("memo test root").create_intermediate("memo test intermediate")


@pytest.fixture(scope="module")
def ca_file(issuer: CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The root's certificate file."""
    return str(issuer.root.write_cert(tmp_path_factory.mktemp("memo") / "ca.pem"))


def _context(ca_file: str) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tlsplug.SecurityWarning)
        # Full handshakes only: a resumed session shows no verified chain.
        return backend.create_context(TLSOptions(
            enabled=True, backend="stdlib", ca_file=ca_file, session_resumption=False
        ))


def _facts_of_connection(ctx: Any, srv: TLSServer) -> ChainFacts:
    """Connect through ``ctx``, return the facts ``CHAINS`` holds for the verified chain."""
    sock = socket.create_connection(srv.address, timeout=TIMEOUT)
    with ctx.wrap_socket(sock, server_hostname="localhost") as tls:
        facts = CHAINS.lookup(native_chain(tls.socket) or [])
    assert facts is not None
    return facts


@pytest.fixture
def encodings(monkeypatch: pytest.MonkeyPatch) -> List[int]:
    """Counts the chains ``_chains`` encodes to DER (one entry per call)."""
    calls: List[int] = []
    real = _chains.as_der

    def counting(items: Any) -> Any:
        calls.append(len(items or ()))
        return real(items)

    monkeypatch.setattr(_chains, "as_der", counting)
    return calls


def test_same_chain_is_recognised_without_encoding(
    issuer: CA, ca_file: str, encodings: List[int]
) -> None:
    """A second connection with the same chain reuses its facts and encodes nothing."""
    leaf = issuer.issue_cert("localhost")
    ctx = _context(ca_file)
    with TLSServer(cert=leaf, timeout=TIMEOUT) as srv:
        first = _facts_of_connection(ctx, srv)
        encoded = len(encodings)
        again = _facts_of_connection(ctx, srv)
    assert encoded == 1  # the first handshake: the new chain encoded once
    assert len(encodings) == encoded  # the second: recognised by ssl's certificate objects
    assert again is first
    assert first.ders[0] == leaf.cert_der


def test_distinct_chains_get_their_own_facts(
    issuer: CA, ca_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two leaves alternating past the recent-chain window each get their own chain's facts."""
    monkeypatch.setattr(_chains, "RECENT", 1)
    leaves: List[LeafCert] = [issuer.issue_cert("localhost") for _ in range(2)]
    ctx = _context(ca_file)
    with TLSServer(cert=leaves[0], timeout=TIMEOUT) as a, \
            TLSServer(cert=leaves[1], timeout=TIMEOUT) as b:
        seen = [_facts_of_connection(ctx, srv) for srv in (a, b, a, b)]
    assert [f.ders[0] for f in seen] == [leaves[i].cert_der for i in (0, 1, 0, 1)]
    assert seen[0] is seen[2]
    assert seen[1] is seen[3]
    assert seen[0] is not seen[1]


def test_known_chain_still_consults_the_ocsp_cache(issuer: CA, ca_file: str) -> None:
    """A "revoked" verdict cached after a chain was memoized refuses the next connection."""
    leaf = issuer.issue_cert("localhost")
    ctx = _context(ca_file)
    cache = ocsp.default_cache()
    with TLSServer(cert=leaf, timeout=TIMEOUT) as srv:
        facts = _facts_of_connection(ctx, srv)  # memoized: no responder, soft-fail
        prepared = facts.responders()
        assert prepared is not None
        assert prepared[3] == ()  # no responder URL to ask
        key = prepared[2]
        start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
        revoked = ocsp.Verdict("revoked", "learned elsewhere", start,
                               start + datetime.timedelta(hours=2), "staple")
        assert cache.put(key, revoked)
        try:
            with pytest.raises(CertificateError) as info:
                _facts_of_connection(ctx, srv)
        finally:
            cache.discard(key)
        assert info.value.code == "ocsp-revoked"
        _facts_of_connection(ctx, srv)  # forgotten: connects again


def test_must_staple_refused_on_every_connection(
    issuer: CA, ca_file: str, tmp_path: Path
) -> None:
    """A must-staple leaf fails closed on the memoized path too, not only the first time."""
    leaf = issuer.issue_cert("localhost", must_staple=True)
    ctx = _context(ca_file)
    with TLSServer(cert=leaf, timeout=TIMEOUT) as srv:
        for _ in range(2):
            with pytest.raises(ConfigurationError) as info:
                _facts_of_connection(ctx, srv)
            assert info.value.code == "unsupported-option"
