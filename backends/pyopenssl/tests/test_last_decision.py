"""The PyOpenSSL backend keeps its last whole decision only while nothing it rests on changes."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any, Callable, List

import pytest

from tlsplug.backend import CertificateError, TLSOptions
from tlsplug.testing import PKI, TLSServer, revoked_in_cache
from tlsplug_pyopenssl import _checks, backend

TIMEOUT = 10.0


@pytest.fixture
def full_checks(monkeypatch: pytest.MonkeyPatch) -> List[str]:
    """The hosts of the handshakes that ran the full checks (``_checks.chain_failure``)."""
    calls: List[str] = []
    real = _checks.chain_failure

    def counting(conn: Any, state: Any) -> Any:
        calls.append(state.server_hostname)
        return real(conn, state)

    monkeypatch.setattr(_checks, "chain_failure", counting)
    return calls


def _connect(ctx: Any, srv: TLSServer, host: str = "localhost") -> str:
    """One full handshake through ``ctx``; its ``ocsp_status``."""
    with ctx.wrap_socket(
        socket.create_connection(srv.address, timeout=TIMEOUT), server_hostname=host
    ) as tls:
        status: str = tls.ocsp_status
        return status


def _context(options: Callable[..., TLSOptions], **kwargs: Any) -> Any:
    return backend.create_context(options(session_resumption=False, **kwargs))


def test_same_chain_and_host_are_recalled(
    ppki: PKI, options: Callable[..., TLSOptions], full_checks: List[str]
) -> None:
    """Reconnects to the same server and host reuse the decision; another host is checked."""
    ctx = _context(options)
    with TLSServer(cert=ppki.leaf, timeout=TIMEOUT) as srv:
        hosts = ["localhost", "localhost", "127.0.0.1", "127.0.0.1", "localhost"]
        statuses = [_connect(ctx, srv, host) for host in hosts]
    assert full_checks == ["localhost", "127.0.0.1", "localhost"]
    assert statuses == ["soft-fail: no responder"] * len(hosts)


def test_a_name_the_certificate_lacks_is_refused_after_a_recalled_decision(
    ppki: PKI, options: Callable[..., TLSOptions]
) -> None:
    """The host is part of the decision: a wrong name fails, whatever was decided before."""
    ctx = _context(options)
    with TLSServer(cert=ppki.leaf, timeout=TIMEOUT) as srv:
        _connect(ctx, srv)
        _connect(ctx, srv)
        with pytest.raises(CertificateError) as info:
            _connect(ctx, srv, "not-the-server.example")
    assert info.value.code == "hostname-mismatch"


def test_revoked_learned_later_refuses_the_next_connection(
    ppki: PKI, options: Callable[..., TLSOptions], full_checks: List[str]
) -> None:
    """The OCSP cache storing a verdict ends the decision: a cached "revoked" refuses."""
    ctx = _context(options)
    with TLSServer(cert=ppki.leaf, timeout=TIMEOUT) as srv:
        _connect(ctx, srv)
        _connect(ctx, srv)
        assert full_checks == ["localhost"]
        with revoked_in_cache(ppki.leaf), pytest.raises(CertificateError) as info:
            _connect(ctx, srv)
        assert info.value.code == "ocsp-revoked"
        assert _connect(ctx, srv) == "soft-fail: no responder"


def test_a_context_judging_crls_keeps_no_decision(
    ppki: PKI, options: Callable[..., TLSOptions], tmp_path: Path, full_checks: List[str]
) -> None:
    """CRLs expire: every handshake of a context that checks them runs the full checks."""
    crl = ppki.intermediate.write_crl(tmp_path / "crl.pem", [])
    ctx = _context(options, crl_file=str(crl))
    with TLSServer(cert=ppki.leaf, timeout=TIMEOUT) as srv:
        for _ in range(3):
            _connect(ctx, srv)
    assert full_checks == ["localhost"] * 3


def test_ocsp_off_is_recalled_too(
    ppki: PKI, options: Callable[..., TLSOptions], full_checks: List[str]
) -> None:
    """With revocation checks off the decision holds without the OCSP cache."""
    ctx = _context(options, disable_certificate_revocation_check=True)
    with TLSServer(cert=ppki.leaf, timeout=TIMEOUT) as srv:
        statuses = [_connect(ctx, srv) for _ in range(3)]
    assert full_checks == ["localhost"]
    assert statuses == ["off"] * 3
