"""``TLSBuffer`` on every backend: every buffered record per call, OCSP decided at once."""

from __future__ import annotations

import contextlib
import ssl
from pathlib import Path
from typing import Tuple

import pytest

import tlsplug
from tlsplug import TLSOptions
from tlsplug.backend import Feature, TLSBuffer, WantReadError
from tlsplug.testing.pki import CA, LeafCert
from tlsplug.testing.servers import TLSServer

Pair = Tuple[TLSBuffer, ssl.SSLObject, ssl.MemoryBIO, ssl.MemoryBIO]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Tuple[LeafCert, str]:
    root = CA("buffer records root")
    leaf = root.create_intermediate("buffer records intermediate").issue_cert("localhost")
    ca_file = root.write_cert(Path(tmp_path_factory.mktemp("records")) / "ca.pem")
    return leaf, str(ca_file)


def _memory_pair(backend_name: str, pki: Tuple[LeafCert, str], defer: bool = False) -> Pair:
    """A client buffer and a server ``ssl.SSLObject``, handshaken over memory BIOs.

    ``defer``: responders are left to the caller, as ``tlsplug.aio`` asks (DeferredOCSP).
    """
    leaf, ca_file = pki
    options = TLSOptions(enabled=True, backend=backend_name, ca_file=ca_file)
    client = tlsplug.create_context(options).wrap_buffers("localhost")
    if defer:
        client.defer_ocsp_endpoint_check = True  # type: ignore[attr-defined]
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    server = TLSServer(cert=leaf).context.wrap_bio(incoming, outgoing, server_side=True)

    def move() -> None:
        incoming.write(client.pull_outgoing())
        data = outgoing.read()
        if data:
            client.receive_from_network(data)

    for _ in range(20):
        with contextlib.suppress(ssl.SSLWantReadError):
            server.do_handshake()
        try:
            client.do_handshake()
            break
        except WantReadError:
            move()
    move()
    return client, server, incoming, outgoing


def test_write_takes_every_record_at_once(backend_name: str, pki: Tuple[LeafCert, str]) -> None:
    """write() takes all of a 64 KiB buffer (four records); one pull_outgoing() hands it over."""
    client, server, incoming, _ = _memory_pair(backend_name, pki)
    payload = bytes(range(256)) * 256
    assert client.write(payload) == len(payload)
    incoming.write(client.pull_outgoing())
    assert client.pull_outgoing() == b""
    got = b""
    with contextlib.suppress(ssl.SSLWantReadError):
        while len(got) < len(payload):
            got += server.read(len(payload))
    assert got == payload


def test_read_returns_every_buffered_record(backend_name: str, pki: Tuple[LeafCert, str]) -> None:
    """read() returns several buffered records in one call, then what is left, then waits."""
    client, server, _, outgoing = _memory_pair(backend_name, pki)
    payload = bytes(range(256)) * 200  # 51,200 bytes: four records
    server.write(payload)
    client.receive_from_network(outgoing.read())
    first = client.read(40_000)
    assert len(first) == 40_000
    assert first + client.read(65_536) == payload
    with pytest.raises(WantReadError):
        client.read(1024)


def test_read_stops_at_close_notify(backend_name: str, pki: Tuple[LeafCert, str]) -> None:
    """Records followed by close_notify: read() returns the data, the next call b""."""
    client, server, _, outgoing = _memory_pair(backend_name, pki)
    payload = b"z" * 40_000
    server.write(payload)
    with contextlib.suppress(ssl.SSLWantReadError):
        server.unwrap()
    client.receive_from_network(outgoing.read())
    assert client.read(65_536) == payload
    assert client.read(65_536) == b""



def test_deferred_ocsp_needing_no_request_is_decided(
    backend_name: str, pki: Tuple[LeafCert, str]
) -> None:
    """With responders deferred (tlsplug.aio), a leaf naming none is decided at the handshake."""
    client = _memory_pair(backend_name, pki, defer=True)[0]
    assert client.deferred_ocsp_check() is None  # type: ignore[attr-defined]
    # A backend that cannot ask responders (ssl on Python 3.9 shows no verified chain, so
    # no issuer) decides at the handshake too, with its own soft-fail.
    asks = Feature.OCSP_ENDPOINT in tlsplug.get_backend(backend_name).features
    expected = "soft-fail: no responder" if asks else "soft-fail: issuer not found"
    assert client.ocsp_status == expected  # type: ignore[attr-defined]
