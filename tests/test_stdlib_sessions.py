"""The stdlib backend's session handling on interpreters whose ``SSLSocket.session`` leaks.

gh-116810: every read of the getter leaks a copy of the session in CPython 3.10.0-3.12.6
and 3.13.0, so there the backend reads it only when the stored session is absent or stale.
These tests count the reads on a real handshake (an ``SSLSocket`` subclass that counts),
with the rule forced on, so they run on every interpreter.
"""

from __future__ import annotations

import socket
import ssl
from pathlib import Path
from typing import Any, ClassVar, Iterator, List, Tuple

import pytest

from tlsplug._stdlib import _resume, backend
from tlsplug.backend import TLSOptions
from tlsplug.testing.pki import CA
from tlsplug.testing.servers import TLSServer

TIMEOUT = 5.0


_SESSION: Any = vars(ssl.SSLSocket)["session"]  # the property itself


class CountingSSLSocket(ssl.SSLSocket):
    """An ``SSLSocket`` that counts reads of its ``session`` property."""

    reads: ClassVar[List[int]] = []

    @property
    def session(self) -> Any:
        """The session, counted."""
        CountingSSLSocket.reads.append(1)
        return _SESSION.__get__(self)

    @session.setter
    def session(self, value: Any) -> None:
        _SESSION.__set__(self, value)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Tuple[Any, str]:
    """A leaf for localhost and the CA file that trusts it."""
    root = CA("sessions root")
    leaf = root.issue_cert("localhost", "127.0.0.1")
    return leaf, str(root.write_cert(Path(tmp_path_factory.mktemp("sessions")) / "ca.pem"))


@pytest.fixture(params=["TLSv1_2", "TLSv1_3"])
def server(request: Any, pki: Tuple[Any, str]) -> Iterator[TLSServer]:
    """An echo server pinned to one protocol version."""
    version = getattr(ssl.TLSVersion, request.param)
    with TLSServer(cert=pki[0], timeout=TIMEOUT, min_version=version,
                   max_version=version) as srv:
        yield srv


def _context(ca_file: str) -> Any:
    # The backend's own (uncached) context: the class below must not reach other tests.
    ctx = backend.create_context(TLSOptions(enabled=True, backend="stdlib", ca_file=ca_file))
    ctx.ssl_context.sslsocket_class = CountingSSLSocket
    return ctx


def _round_trip(ctx: Any, srv: TLSServer) -> bool:
    """Connect, echo (the read processes TLS 1.3 tickets), close; was the session reused?"""
    sock = socket.create_connection(srv.address, timeout=TIMEOUT)
    with ctx.wrap_socket(sock, server_hostname="localhost") as tls:
        tls.sendall(b"ping")
        got = b""
        while len(got) < 4:
            chunk = tls.recv(16)
            assert chunk
            got += chunk
        return bool(tls.session_reused)


def test_affected_releases() -> None:
    """The releases named in docs/howto/pools.md, and only they, are treated as leaking."""
    leaking = [(3, 10, 0), (3, 10, 13), (3, 11, 7), (3, 11, 14), (3, 12, 1), (3, 12, 6),
               (3, 13, 0)]
    fixed = [(3, 9, 18), (3, 12, 7), (3, 12, 12), (3, 13, 1), (3, 14, 0)]
    assert all(_resume.getter_leaks(v) for v in leaking)
    assert not any(_resume.getter_leaks(v) for v in fixed)
    assert not _resume.getter_leaks((3, 12, 1), "pypy")


def test_leaky_rule_reads_the_getter_once_per_stale_session(
    monkeypatch: pytest.MonkeyPatch, server: TLSServer, pki: Tuple[Any, str]
) -> None:
    """With the rule on, only the full handshake reads the session; the rest resume."""
    monkeypatch.setattr(_resume, "GETTER_LEAKS", True)
    monkeypatch.setattr(CountingSSLSocket, "reads", [])
    ctx = _context(pki[1])
    assert not _round_trip(ctx, server)
    assert len(CountingSSLSocket.reads) == 1
    assert [_round_trip(ctx, server) for _ in range(4)] == [True] * 4
    assert len(CountingSSLSocket.reads) == 1


def test_leaky_rule_refreshes_a_stale_session(
    monkeypatch: pytest.MonkeyPatch, server: TLSServer, pki: Tuple[Any, str]
) -> None:
    """Past half of its lifetime the stored session is replaced by the connection's own."""
    monkeypatch.setattr(_resume, "GETTER_LEAKS", True)
    monkeypatch.setattr(CountingSSLSocket, "reads", [])
    ctx = _context(pki[1])
    _round_trip(ctx, server)
    (key, first), = ctx._sessions._sessions.items()
    monkeypatch.setattr(_resume, "_clock", lambda: first.time + first.timeout)
    assert _round_trip(ctx, server)
    if server.handshakes[-1].version == "TLSv1.3":  # a new ticket replaced the old one
        assert len(CountingSSLSocket.reads) == 2
        assert ctx._sessions._sessions[key] is not first
    else:  # TLS 1.2 resumes the stored session itself: nothing new to take
        assert len(CountingSSLSocket.reads) == 1
    assert _round_trip(ctx, server)


def test_unaffected_rule_takes_every_fresh_ticket(
    monkeypatch: pytest.MonkeyPatch, server: TLSServer, pki: Tuple[Any, str]
) -> None:
    """Without the leak each TLS 1.3 connection hands back its own ticket (RFC 8446 §C.4)."""
    monkeypatch.setattr(_resume, "GETTER_LEAKS", False)
    ctx = _context(pki[1])
    seen = []
    for _ in range(3):
        _round_trip(ctx, server)
        seen.append(next(iter(ctx._sessions._sessions.values())))
    if server.handshakes[-1].version == "TLSv1.3":
        assert len({id(s) for s in seen}) == 3
    assert _round_trip(ctx, server)
