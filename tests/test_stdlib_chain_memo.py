"""The stdlib backend decides once per distinct verified chain, and still asks the OCSP cache."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
import warnings
from pathlib import Path
from typing import Any, List

import pytest

import tlsplug
from tlsplug._stdlib import _after, _chains, _checks, backend
from tlsplug._stdlib._chains import CHAINS, ChainFacts, native_chain
from tlsplug.backend import CertificateError, ConfigurationError, TLSOptions
from tlsplug.testing.pki import CA, LeafCert
from tlsplug.testing.servers import TLSServer
from tlsplug.testing.stapling import revoked_in_cache

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
    with TLSServer(cert=leaf, timeout=TIMEOUT) as srv:
        facts = _facts_of_connection(ctx, srv)  # memoized: no responder, soft-fail
        prepared = facts.responders()
        assert prepared is not None
        assert prepared[3] == ()  # no responder URL to ask
        with revoked_in_cache(leaf), pytest.raises(CertificateError) as info:
            _facts_of_connection(ctx, srv)
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


@pytest.fixture
def chain_checks(monkeypatch: pytest.MonkeyPatch) -> List[str]:
    """Counts the full chain checks (lint, limits, CRLs) the stdlib backend runs."""
    calls: List[str] = []
    real = _checks.check_chain_after_handshake

    def counting(conn: Any, *args: Any) -> None:
        calls.append(conn.server_hostname)
        real(conn, *args)

    monkeypatch.setattr(_after, "check_chain_after_handshake", counting)
    return calls


def _bridge_connect(ctx: Any, srv: TLSServer, host: str = "localhost") -> Any:
    """Open and close one asyncio connection through ``ctx``; its ``ocsp_status``."""
    async def main() -> Any:
        _, writer = await asyncio.open_connection(
            *srv.address, ssl=ctx, server_hostname=host
        )
        status = writer.get_extra_info("ssl_object").ocsp_status
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return status

    return asyncio.run(main())


def test_second_connection_skips_the_pure_checks(
    issuer: CA, ca_file: str, chain_checks: List[str]
) -> None:
    """A chain and host that passed are not linted again; a new host is checked in full."""
    leaf = issuer.issue_cert("localhost", "127.0.0.1")
    ctx = _context(ca_file)
    with TLSServer(cert=leaf, timeout=TIMEOUT) as srv:
        for host in ("localhost", "localhost", "127.0.0.1", "127.0.0.1", "localhost"):
            sock = socket.create_connection(srv.address, timeout=TIMEOUT)
            with ctx.wrap_socket(sock, server_hostname=host) as tls:
                assert tls.ocsp_status is not None
    assert chain_checks == ["localhost", "127.0.0.1"]


def test_bridge_skips_the_pure_checks_and_still_asks_the_cache(
    issuer: CA, ca_file: str, chain_checks: List[str]
) -> None:
    """Through ``create_ssl_context`` in asyncio: checked once, yet a "revoked" learned later
    (another context's staple) refuses the next connection."""
    leaf = issuer.issue_cert("localhost")
    ctx = tlsplug.create_ssl_context(TLSOptions(enabled=True, backend="stdlib", ca_file=ca_file))
    with TLSServer(cert=leaf, timeout=TIMEOUT) as srv:
        statuses = [_bridge_connect(ctx, srv) for _ in range(3)]
        assert chain_checks == ["localhost"]
        assert statuses == ["soft-fail: no responder"] * 3
        with revoked_in_cache(leaf), pytest.raises(CertificateError) as info:
            _bridge_connect(ctx, srv)
        assert info.value.code == "ocsp-revoked"
        assert _bridge_connect(ctx, srv) == statuses[0]  # forgotten: connects again
    assert chain_checks == ["localhost"]


def test_a_context_with_crls_judges_them_every_handshake(
    issuer: CA, ca_file: str, tmp_path: Path, chain_checks: List[str]
) -> None:
    """CRLs expire, so a context checking them keeps no whole decision, only the pure ones."""
    leaf = issuer.issue_cert("localhost")
    crl_file = tmp_path / "crls.pem"  # the leaf's issuer's (OpenSSL's), the root's (ours)
    crl_file.write_bytes(issuer.crl() + issuer.root.crl())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tlsplug.SecurityWarning)
        ctx = backend.create_context(TLSOptions(
            enabled=True, backend="stdlib", ca_file=ca_file, crl_file=str(crl_file),
            session_resumption=False,
        ))
    with TLSServer(cert=leaf, timeout=TIMEOUT) as srv:
        for _ in range(2):
            _facts_of_connection(ctx, srv)
    assert chain_checks == ["localhost"]
    assert ctx._passed.last._last is None  # no whole decision kept
    assert len(ctx._passed) == 1


def test_no_whole_decision_without_a_verified_chain(
    issuer: CA, ca_file: str, chain_checks: List[str]
) -> None:
    """Resumed sessions show no verified chain: they are checked as before, never memoized."""
    leaf = issuer.issue_cert("localhost")
    ctx = backend.create_context(TLSOptions(enabled=True, backend="stdlib", ca_file=ca_file))
    with TLSServer(cert=leaf, timeout=TIMEOUT) as srv:
        resumed = []
        for _ in range(3):
            sock = socket.create_connection(srv.address, timeout=TIMEOUT)
            with ctx.wrap_socket(sock, server_hostname="localhost") as tls:
                tls.sendall(b"ping")
                tls.recv(16)
                resumed.append(tls.session_reused)
    assert resumed[0] is False
    # The full handshake is checked once; a resumed one goes through the full checks
    # (which skip the lint: it was made when the session was).
    assert len(chain_checks) == 3
