"""pytest fixtures for tests of TLS clients: a session PKI and self-stopping loopback servers.

Load it with ``-p tlsplug.testing.fixtures`` (or ``pytest_plugins`` in a root conftest);
it is deliberately not registered as an entry point, so installing tlsplug never changes
anyone else's test session. This is the only module of :mod:`tlsplug.testing` that needs
pytest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator, List, Optional

import pytest

from .pki import PKI, LeafCert, PKIFiles, make_pki
from .servers import Handler, RawServer, TLSServer

__all__ = ["pki", "pki_files", "raw_server", "tls_server"]


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
