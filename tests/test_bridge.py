"""``tlsplug.create_ssl_context`` and ALPN: the rules the conformance suite does not cover."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import warnings
from pathlib import Path
from typing import Any, Iterator, List, Optional, Tuple

import pytest

import tlsplug
import tlsplug.aio
from tlsplug import TLSOptions
from tlsplug.backend import Feature, WantReadError
from tlsplug.testing.pki import CA, LeafCert
from tlsplug.testing.servers import TLSServer

TIMEOUT = 10.0


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Tuple[LeafCert, str, LeafCert]:
    """A localhost leaf, its root's CA file, and a leaf of an untrusted root."""
    root = CA("bridge root")
    leaf = root.create_intermediate("bridge intermediate").issue_cert("localhost", "127.0.0.1")
    ca_file = str(root.write_cert(tmp_path_factory.mktemp("bridge") / "ca.pem"))
    return leaf, ca_file, CA("bridge stranger").issue_cert("localhost")


@pytest.fixture
def server(pki: Tuple[LeafCert, str, LeafCert]) -> Iterator[TLSServer]:
    """An echo server offering h2 and http/1.1 by ALPN."""
    with TLSServer(cert=pki[0], alpn=["h2", "http/1.1"], timeout=TIMEOUT) as srv:
        yield srv


def _options(backend_name: str, ca_file: str, **kwargs: Any) -> TLSOptions:
    return TLSOptions(enabled=True, backend=backend_name, ca_file=ca_file, **kwargs)


async def _open(server: TLSServer, ctx: ssl.SSLContext, payload: bytes = b"ping") -> Any:
    reader, writer = await asyncio.open_connection(
        *server.address, ssl=ctx, server_hostname="localhost"
    )
    try:
        writer.write(payload)
        await writer.drain()
        assert await reader.readexactly(len(payload)) == payload
        return writer.get_extra_info("ssl_object")
    finally:
        writer.close()
        with contextlib.suppress(OSError):  # the server may reset after close_notify
            await writer.wait_closed()


def _alpn_over_socket(ctx: Any, server: TLSServer) -> Optional[str]:
    with socket.create_connection(server.address, timeout=TIMEOUT) as sock:
        tls = ctx.wrap_socket(sock, server_hostname="localhost")
        try:
            return tls.selected_alpn_protocol()  # type: ignore[no-any-return]
        finally:
            tls.close()


# -- the option ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad", ["h2", ("h2", ""), ("h2", 2), ("x" * 256,), ("h\u00e9",), b"h2", 3]
)
def test_alpn_protocols_validated(bad: Any) -> None:
    """A string, an empty, non-str, non-ASCII or over-255-byte name is a ConfigurationError."""
    with pytest.raises(tlsplug.ConfigurationError) as info:
        TLSOptions(alpn_protocols=bad)
    assert info.value.option == "alpn_protocols"


def test_alpn_protocols_normalised_and_hashed() -> None:
    """A list becomes a tuple, () means none, and the names are part of equality and hash."""
    assert TLSOptions(alpn_protocols=["h2"]).alpn_protocols == ("h2",)  # type: ignore[arg-type]
    assert TLSOptions(alpn_protocols=()).alpn_protocols is None
    assert TLSOptions(alpn_protocols=("h2",)) != TLSOptions(alpn_protocols=("http/1.1",))
    names: Any = ["h2"]
    assert hash(TLSOptions(alpn_protocols=("h2",))) == hash(TLSOptions(alpn_protocols=names))
    assert TLSOptions.parse(None, alpn_protocols=("h2",)).alpn_protocols == ("h2",)
    assert "alpn" not in str(TLSOptions(alpn_protocols=("h2",)).to_uri_options())


def test_alpn_negotiated_on_socket_buffer_and_aio(
    backend_name: str, pki: Tuple[LeafCert, str, LeafCert], server: TLSServer
) -> None:
    """The server's choice shows on wrap_socket, wrap_buffers and tlsplug.aio (else None)."""
    ctx = tlsplug.create_context(_options(backend_name, pki[1], alpn_protocols=("h2",)))
    assert _alpn_over_socket(ctx, server) == "h2"
    plain = tlsplug.create_context(_options(backend_name, pki[1]))
    assert _alpn_over_socket(plain, server) is None

    buf = ctx.wrap_buffers(server_hostname="localhost")
    with socket.create_connection(server.address, timeout=TIMEOUT) as sock:
        while True:
            try:
                buf.do_handshake()
                break
            except WantReadError:
                sock.sendall(buf.pull_outgoing())
                buf.receive_from_network(sock.recv(65536))
        assert buf.selected_alpn_protocol() == "h2"  # type: ignore[attr-defined]

    async def aio() -> Optional[str]:
        opts = _options(backend_name, pki[1], alpn_protocols=("http/1.1", "h2"))
        _reader, writer = await tlsplug.aio.open_connection(*server.address, opts,
                                                           server_hostname="localhost")
        try:
            return writer.get_extra_info("tlsplug").selected_alpn_protocol()  # type: ignore[no-any-return]
        finally:
            writer.close()
            await writer.wait_closed()

    assert asyncio.run(aio()) == "h2"  # the server's preference: its list comes first


# -- create_ssl_context -------------------------------------------------------------


def test_create_ssl_context_is_public() -> None:
    """create_ssl_context is exported and returns an ssl.SSLContext for the default options."""
    assert "create_ssl_context" in tlsplug.__all__
    assert isinstance(tlsplug.create_ssl_context(), ssl.SSLContext)


def test_each_call_owns_its_context(
    backend_name: str, pki: Tuple[LeafCert, str, LeafCert], server: TLSServer
) -> None:
    """set_alpn_protocols on one context (as httpcore does) changes that context only."""
    opts = _options(backend_name, pki[1])
    first, second = tlsplug.create_ssl_context(opts), tlsplug.create_ssl_context(opts)
    assert first is not second
    first.set_alpn_protocols(["http/1.1", "h2"])
    assert _alpn_over_socket(first, server) == "h2"
    assert _alpn_over_socket(second, server) is None
    assert asyncio.run(_open(server, first)).selected_alpn_protocol() == "h2"
    assert asyncio.run(_open(server, second)).selected_alpn_protocol() is None
    third = tlsplug.create_ssl_context(opts.replace(alpn_protocols=("http/1.1",)))
    assert asyncio.run(_open(server, third)).selected_alpn_protocol() == "http/1.1"


def test_lowering_verification_warns_and_is_ignored(
    backend_name: str, pki: Tuple[LeafCert, str, LeafCert]
) -> None:
    """verify_mode=CERT_NONE / check_hostname=False warn, change nothing, and checks still run."""
    ctx = tlsplug.create_ssl_context(_options(backend_name, pki[1]))
    with pytest.warns(tlsplug.SecurityWarning, match="check_hostname"):
        ctx.check_hostname = False
    with pytest.warns(tlsplug.SecurityWarning, match="verify_mode"):
        ctx.verify_mode = ssl.CERT_NONE
    assert ctx.check_hostname is True
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    with TLSServer(cert=pki[2], timeout=TIMEOUT) as stranger:
        with pytest.raises(tlsplug.CertificateError) as info:
            asyncio.run(_open(stranger, ctx))
        assert info.value.code == "cert-untrusted"
        assert info.value.backend == backend_name


def test_relaxed_options_may_be_relaxed(
    backend_name: str, pki: Tuple[LeafCert, str, LeafCert]
) -> None:
    """With tlsAllowInvalidHostnames the library may turn check_hostname off without a warning."""
    with pytest.warns(tlsplug.SecurityWarning):
        ctx = tlsplug.create_ssl_context(
            _options(backend_name, pki[1], allow_invalid_hostnames=True)
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ctx.check_hostname = False
    assert ctx.check_hostname is False


def test_server_hostname_required(
    backend_name: str, pki: Tuple[LeafCert, str, LeafCert], server: TLSServer
) -> None:
    """Without server_hostname while hostnames are verified: ConfigurationError before any I/O."""
    ctx = tlsplug.create_ssl_context(_options(backend_name, pki[1]))
    with pytest.raises(tlsplug.ConfigurationError) as info:
        ctx.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO())
    assert info.value.option == "server_hostname"
    with socket.create_connection(server.address, timeout=TIMEOUT) as sock, pytest.raises(
        tlsplug.ConfigurationError
    ):
        ctx.wrap_socket(sock)


def test_wrap_bio_is_an_sslobject(
    backend_name: str, pki: Tuple[LeafCert, str, LeafCert], server: TLSServer
) -> None:
    """asyncio's ssl_object is an ssl.SSLObject with the negotiated facts."""
    ctx = tlsplug.create_ssl_context(_options(backend_name, pki[1]))
    obj = asyncio.run(_open(server, ctx))
    assert isinstance(obj, ssl.SSLObject)
    assert obj.version() == "TLSv1.3"
    assert obj.getpeercert(True) == pki[0].cert_der
    cert: Any = obj.getpeercert()
    assert ("DNS", "localhost") in cert["subjectAltName"]
    assert obj.cipher() is not None
    assert obj.compression() is None


def test_start_tls(
    backend_name: str, pki: Tuple[LeafCert, str, LeafCert], server: TLSServer
) -> None:
    """loop.start_tls upgrades a plain connection with the bridged context; refusals keep codes."""
    ctx = tlsplug.create_ssl_context(_options(backend_name, pki[1]))

    async def upgrade(address: Tuple[str, int]) -> bytes:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        protocol = asyncio.StreamReaderProtocol(reader)
        transport, _ = await loop.create_connection(lambda: protocol, *address)
        try:
            tls = await loop.start_tls(transport, protocol, ctx, server_hostname="localhost")
        except BaseException:
            transport.close()
            raise
        assert tls is not None
        writer = asyncio.StreamWriter(tls, protocol, reader, loop)
        writer.write(b"upgraded")
        data = await reader.readexactly(8)
        writer.close()
        return data

    assert asyncio.run(upgrade(server.address)) == b"upgraded"
    with TLSServer(cert=pki[2], timeout=TIMEOUT) as stranger:
        with pytest.raises(tlsplug.CertificateError) as info:
            asyncio.run(upgrade(stranger.address))
        assert info.value.code == "cert-untrusted"


def test_der_crl_revokes_through_asyncio(
    backend_name: str, tmp_path: Path
) -> None:
    """A leaf revoked in a DER tlsCRLFile is cert-revoked inside asyncio's transport."""
    root = CA("bridge CRL root")
    good, revoked = root.issue_cert("localhost"), root.issue_cert("localhost")
    crl = root.write_crl(tmp_path / "crl.der", [revoked], encoding="der")
    ca_file = str(root.write_cert(tmp_path / "ca.pem"))
    ctx = tlsplug.create_ssl_context(_options(backend_name, ca_file, crl_file=str(crl)))
    with TLSServer(cert=good, timeout=TIMEOUT) as ok:
        asyncio.run(_open(ok, ctx))
    with TLSServer(cert=revoked, timeout=TIMEOUT) as bad, pytest.raises(
        tlsplug.CertificateError
    ) as info:
        asyncio.run(_open(bad, ctx))
    assert info.value.code == "cert-revoked"


@pytest.mark.parametrize("status", ["good", "revoked"])
def test_ocsp_responder_never_blocks_the_loop(
    backend_name: str, tmp_path: Path, status: str
) -> None:
    """In asyncio the first connection soft-fails while the responder is asked in the
    background; later connections use its cached answer (revoked then fails)."""
    if Feature.OCSP_ENDPOINT not in tlsplug.get_backend(backend_name).features:
        pytest.skip("backend does not declare Feature.OCSP_ENDPOINT")
    from tlsplug.testing.ocsp_responder import OCSPResponder

    ca = CA("bridge OCSP root")  # a fresh CA: nothing cached yet
    ca_file = str(ca.write_cert(tmp_path / "ca.pem"))
    with OCSPResponder(ca) as responder:
        leaf = ca.issue_cert("localhost", "127.0.0.1", ocsp_url=responder.url)
        responder.set_status(leaf, status)
        ctx = tlsplug.create_ssl_context(_options(backend_name, ca_file, ocsp_timeout=TIMEOUT))
        with TLSServer(cert=leaf, timeout=TIMEOUT) as server:
            first = asyncio.run(_open(server, ctx))
            assert first.ocsp_status == "soft-fail: responder timeout"
            assert responder.wait_requests(1, timeout=TIMEOUT)
            outcomes: List[str] = []
            for _ in range(50):  # until the background answer is in the cache
                try:
                    outcomes.append(str(asyncio.run(_open(server, ctx)).ocsp_status))
                except tlsplug.CertificateError as exc:
                    outcomes.append(exc.code)
                if outcomes[-1] != "soft-fail: responder timeout":
                    break
            expected = "good (cache)" if status == "good" else "ocsp-revoked"
            assert outcomes[-1] == expected
            assert responder.requests == 1  # one background question, however many tries
