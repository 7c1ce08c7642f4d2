"""pytest fixtures for tests of TLS clients: a session PKI and self-stopping loopback servers.

Load it with ``-p tlsplug.testing.fixtures`` (or ``pytest_plugins`` in a root conftest);
it is deliberately not registered as an entry point, so installing tlsplug never changes
anyone else's test session. This is the only module of :mod:`tlsplug.testing` that needs
pytest.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest

from .pki import PKI, LeafCert, PKIFiles, make_pki
from .servers import Handler, RawServer, TLSServer

__all__ = [
    "LINGERING_THREADS",
    "THREAD_GRACE",
    "pki",
    "pki_files",
    "raw_server",
    "thread_leak_check",
    "tls_server",
]

THREAD_GRACE = 3.0
"""Seconds a test's threads get to end after its teardown (a loaded machine is slow)."""

LINGERING_THREADS: Dict[str, str] = {
    "tlsplug-ocsp": "a responder query abandoned at its deadline ends at that deadline "
    "(tlsplug.ocsp.check_responders returns first by design); a background question "
    "(tlsplug-ocsp-background, asyncio's nowait check) ends at its own deadline",
    "tlsplug-bridge-loop": "the bridged conformance suite's one event loop "
    "(tlsplug.testing.bridge_conformance) serves every asyncio test of the session",
}
"""Daemon threads that may outlive a test, by name prefix, with the reason."""


def _lingering(thread: threading.Thread) -> bool:
    return thread.daemon and thread.name.startswith(tuple(LINGERING_THREADS))


@pytest.fixture
def thread_leak_check() -> Iterator[None]:
    """Fail the test if a thread it started is still alive :data:`THREAD_GRACE` s after teardown.

    Opt-in (request it, or wrap it in an autouse fixture as tlsplug's own conftest does):
    every thread, daemon or not, must end with its test, except :data:`LINGERING_THREADS`.
    Threads of fixtures with a wider scope start before it and are not counted.
    """
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + THREAD_GRACE
    while True:
        leaked = [
            t for t in threading.enumerate()
            if t not in before and t.is_alive() and not _lingering(t)
        ]
        if not leaked or time.monotonic() >= deadline:
            break
        time.sleep(0.02)
    if leaked:
        names = ", ".join(sorted(f"{t.name} (daemon={t.daemon})" for t in leaked))
        pytest.fail(f"threads outlived the test by {THREAD_GRACE:g} s: {names}", pytrace=False)


@pytest.fixture(scope="session")
def pki() -> PKI:
    """ECDSA root → intermediate → server leaf (localhost, 127.0.0.1, ::1) and a client leaf."""
    return make_pki()


@pytest.fixture(scope="session")
def pki_files(pki: PKI, tmp_path_factory: pytest.TempPathFactory) -> PKIFiles:
    """The session :func:`pki` written to a temporary directory (CA file, server, client)."""
    directory: Path = tmp_path_factory.mktemp("tlsplug-pki")
    return pki.write(directory)


@pytest.fixture
def tls_server(pki: PKI) -> Iterator[Callable[..., TLSServer]]:
    """Factory ``tls_server(cert=None, *, legacy=False, **kw)``: started, stopped at teardown."""
    servers: List[TLSServer] = []

    def start(cert: Optional[LeafCert] = None, *, legacy: bool = False, **kwargs: Any) -> TLSServer:
        if legacy:
            server = TLSServer.legacy(cert or pki.leaf, **kwargs)
        else:
            server = TLSServer(cert=cert or pki.leaf, **kwargs)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def raw_server() -> Iterator[Callable[..., RawServer]]:
    """Factory ``raw_server(handler, **kw)`` of started plain-TCP servers, stopped after."""
    servers: List[RawServer] = []

    def start(handler: Handler, **kwargs: Any) -> RawServer:
        server = RawServer(handler, **kwargs)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()
