"""The conformance behaviours over ``tlsplug.aio``, for every installed backend."""

from __future__ import annotations

import ssl
import time
import warnings
from typing import Any, Callable, Dict, FrozenSet, Optional

import pytest

import tlsplug
import tlsplug.aio
from tlsplug import Feature, SecurityWarning, TLSError, TLSOptions
from tlsplug.testing._conformance_world import PASSWORD, World
from tlsplug.testing.conformance import ConformanceHelpers
from tlsplug.testing.servers import close_immediately, respond_with, stall

Runner = Callable[..., Any]

TIMEOUT = 5.0


def check_error(exc: BaseException, code: str, backend_name: str) -> TLSError:
    """The conformance suite's assertion on a tlsplug error (code, class, backend)."""
    from tlsplug.testing._conformance_support import check_error as check

    return check(exc, code, backend_name)


async def roundtrip(
    ctx: tlsplug.ClientContext,
    server: Any,
    host: Optional[str] = "localhost",
    payload: bytes = b"tlsplug over asyncio",
) -> Dict[str, Any]:
    """Connect, echo ``payload`` through the server, close; report what was negotiated."""
    reader, writer = await tlsplug.aio.open_connection(
        *server.address, context=ctx, server_hostname=host, timeout=TIMEOUT
    )
    try:
        writer.write(payload)
        await writer.drain()
        received = await reader.readexactly(len(payload))
        assert received == payload
        buf = writer.get_extra_info("tlsplug")
        return {
            "version": buf.version(),
            "cipher": writer.get_extra_info("cipher"),
            "leaf": buf.getpeercert(True),
            "cert": writer.get_extra_info("peercert"),
            "chain": buf.peer_chain(),
            "backend": buf.backend_name,
        }
    finally:
        writer.close()
        await writer.wait_closed()


async def refused(
    code: str, backend_name: str, ctx: tlsplug.ClientContext, server: Any,
    host: Optional[str] = "localhost",
) -> TLSError:
    """Assert that connecting (or the first echo) fails with ``code``."""
    with pytest.raises(TLSError) as info:
        await roundtrip(ctx, server, host)
    return check_error(info.value, code, backend_name)


class TestAioConformance(ConformanceHelpers):
    """Async twins of ``tlsplug.testing.conformance`` tests, per installed backend."""

    @pytest.fixture
    def backend_name(self, backend_name: str) -> str:
        """The conftest's parametrized backend."""
        return backend_name

    # -- accepted -------------------------------------------------------------------------

    @pytest.mark.parametrize("key_type", ["rsa", "ecdsa", "ed25519"])
    def test_trusted_echo(
        self, backend_name: str, world: World, serve: Any, aio_run: Runner, key_type: str
    ) -> None:
        """A trusted chain connects and echoes; the leaf, chain and cipher are exposed."""
        leaf, ca_file = world.chain(key_type, 2)
        result = aio_run(roundtrip(self.context(backend_name, ca_file=ca_file), serve(leaf)))
        assert result["backend"] == backend_name
        assert result["version"] == "TLSv1.3"
        assert result["leaf"] == leaf.cert_der
        assert result["chain"][0] == leaf.cert_der
        assert ("DNS", "localhost") in result["cert"]["subjectAltName"]
        assert result["cipher"][1] == "TLSv1.3"

    def test_ip_address_and_sni(
        self, backend_name: str, world: World, serve: Any, aio_run: Runner
    ) -> None:
        """Dialling 127.0.0.1 matches the IP SAN and sends no SNI; a name sends its SNI."""
        server = serve(world.leaf)
        ctx = self.context(backend_name, ca_file=world.ca_file)
        aio_run(roundtrip(ctx, server, "127.0.0.1"))
        assert server.handshakes[-1].server_name is None
        aio_run(roundtrip(ctx, server, "localhost"))
        assert server.handshakes[-1].server_name == "localhost"

    def test_options_positional(self, backend_name: str, world: World, serve: Any,
                                aio_run: Runner) -> None:
        """TLSOptions given positionally build the context; server_hostname defaults to host."""
        server = serve(world.leaf)

        async def main() -> str:
            opts = TLSOptions(enabled=True, backend=backend_name, ca_file=world.ca_file)
            _reader, writer = await tlsplug.aio.open_connection(
                "127.0.0.1", server.port, opts, timeout=TIMEOUT)
            writer.close()
            await writer.wait_closed()
            return str(writer.get_extra_info("tlsplug").backend_name)

        assert aio_run(main()) == backend_name

    # -- refused --------------------------------------------------------------------------

    @pytest.mark.parametrize(
        ("case", "host", "code"),
        [("untrusted", "localhost", "cert-untrusted"), ("expired", "localhost", "cert-expired"),
         ("not_yet_valid", "localhost", "cert-not-yet-valid"),
         ("leaf", "wrong.example", "hostname-mismatch"),
         ("cn_only", "localhost", "hostname-mismatch")],
    )
    def test_refused_certificates(
        self, backend_name: str, world: World, serve: Any, aio_run: Runner,
        case: str, host: str, code: str,
    ) -> None:
        """Untrusted, expired, future, wrong-host and CN-only certificates fail by code."""
        ctx = self.context(backend_name, ca_file=world.ca_file)
        err = aio_run(refused(code, backend_name, ctx, serve(getattr(world, case)), host))
        assert err.__cause__ is not None or code != "cert-untrusted"

    def test_legacy_server_with_modern(
        self, backend_name: str, world: World, serve: Any, aio_run: Runner
    ) -> None:
        """A legacy-only server is no-shared-cipher under modern, hinting at tlsProfile=legacy."""
        ctx = self.context(backend_name, ca_file=world.rsa_ca_file)
        err = aio_run(refused("no-shared-cipher", backend_name, ctx,
                              serve(world.rsa_leaf, legacy=True)))
        assert "tlsProfile=legacy" in err.hint

    @pytest.mark.parametrize("version", ["TLSv1", "TLSv1_2"])
    def test_legacy_server_with_legacy(
        self, backend_name: str, features: FrozenSet[Feature], world: World, serve: Any,
        aio_run: Runner, version: str,
    ) -> None:
        """tlsProfile=legacy reaches a legacy-only server (TLS 1.0 or 1.2) over asyncio."""
        self.require(features, Feature.LEGACY_PROFILE)
        server = serve(world.rsa_leaf, legacy=True, max_version=getattr(ssl.TLSVersion, version))
        with pytest.warns(SecurityWarning, match="legacy"):
            ctx = tlsplug.create_context(TLSOptions(
                enabled=True, backend=backend_name, ca_file=world.rsa_ca_file, profile="legacy"))
        result = aio_run(roundtrip(ctx, server))
        assert result["version"] == version.replace("_", ".")
        assert result["cipher"][0] == "AES256-SHA"

    # -- client certificates and CRL -------------------------------------------------------

    @pytest.mark.parametrize("encrypted", [False, True])
    def test_client_certificate_given(
        self, backend_name: str, features: FrozenSet[Feature], world: World, serve: Any,
        aio_run: Runner, encrypted: bool,
    ) -> None:
        """A required client certificate (plain or encrypted key) is sent and seen."""
        self.require(features, Feature.CLIENT_CERT, *([Feature.ENCRYPTED_KEY] if encrypted else []))
        extra: Dict[str, Any] = (
            {"certificate_key_file": world.client_encrypted,
             "certificate_key_file_password": PASSWORD.decode()}
            if encrypted else {"certificate_key_file": world.client_plain}
        )
        server = serve(world.leaf, require_client_cert=world.root)
        aio_run(roundtrip(self.context(backend_name, ca_file=world.ca_file, **extra), server))
        assert server.peer_certs[-1] == world.client.certificate

    @pytest.mark.parametrize("tls12", [False, True])
    def test_client_certificate_missing(
        self, backend_name: str, world: World, serve: Any, aio_run: Runner, tls12: bool
    ) -> None:
        """A server requiring a client certificate refuses us: handshake-failure, on read."""
        kwargs: Dict[str, Any] = {"require_client_cert": world.root}
        if tls12:
            kwargs["max_version"] = ssl.TLSVersion.TLSv1_2
        server = serve(world.leaf, **kwargs)
        ctx = self.context(backend_name, ca_file=world.ca_file)

        async def main() -> None:
            # TLS 1.3: the refusal arrives after our handshake completed, so on the read.
            reader, writer = await tlsplug.aio.open_connection(
                *server.address, context=ctx, server_hostname="localhost", timeout=TIMEOUT)
            try:
                await reader.read(1024)
            finally:
                writer.close()
                with pytest.raises(TLSError):
                    await writer.wait_closed()

        with pytest.raises(TLSError) as info:
            aio_run(main())
        check_error(info.value, "handshake-failure", backend_name)

    @pytest.mark.parametrize("encoding", ["pem", "der"])
    def test_crl_revokes(
        self, backend_name: str, features: FrozenSet[Feature], world: World, serve: Any,
        aio_run: Runner, encoding: str,
    ) -> None:
        """A leaf listed in tlsCRLFile fails with cert-revoked; an unlisted one connects."""
        self.require(features, Feature.CRL, *([Feature.CRL_DER] if encoding == "der" else []))
        ctx = self.context(backend_name, ca_file=world.ca_file,
                           crl_file=world.crl_revoking[encoding])
        aio_run(refused("cert-revoked", backend_name, ctx, serve(world.revoked)))
        aio_run(roundtrip(ctx, serve(world.leaf)))

    def test_insecure_accepts_both(
        self, backend_name: str, world: World, serve: Any, aio_run: Runner
    ) -> None:
        """tlsInsecure accepts an untrusted chain for the wrong host."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SecurityWarning)
            ctx = self.context(backend_name, ca_file=world.ca_file, insecure=True)
        aio_run(roundtrip(ctx, serve(world.untrusted), "wrong.example"))

    # -- peers that are not TLS servers -----------------------------------------------------

    @pytest.mark.parametrize(
        ("handler", "code"),
        [(respond_with(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"), "not-tls"),
         (close_immediately, "connection-closed")],
        ids=["http", "close"],
    )
    def test_not_a_tls_server(
        self, backend_name: str, world: World, raw: Any, aio_run: Runner, handler: Any, code: str
    ) -> None:
        """A plain-HTTP peer is not-tls; a peer that hangs up is connection-closed."""
        ctx = self.context(backend_name, ca_file=world.ca_file)
        server = raw(handler)

        async def main() -> None:
            await tlsplug.aio.open_connection(
                *server.address, context=ctx, server_hostname="localhost", timeout=TIMEOUT)

        with pytest.raises(TLSError) as info:
            aio_run(main())
        check_error(info.value, code, backend_name)

    def test_connection_refused(self, backend_name: str, world: World, aio_run: Runner) -> None:
        """Nothing listening is connect-failed, as with tlsplug.connect."""
        from tlsplug.testing.ocsp_responder import closed_port_url

        port = int(closed_port_url().rsplit(":", 1)[1].split("/")[0])
        ctx = self.context(backend_name, ca_file=world.ca_file)
        with pytest.raises(TLSError) as info:
            aio_run(tlsplug.aio.open_connection("127.0.0.1", port, context=ctx, timeout=TIMEOUT))
        err = check_error(info.value, "connect-failed", backend_name)
        assert isinstance(err.__cause__, OSError)

    def test_handshake_timeout(
        self, backend_name: str, world: World, raw: Any, aio_run: Runner
    ) -> None:
        """A peer that never answers the ClientHello is timeout, within the bound."""
        ctx = self.context(backend_name, ca_file=world.ca_file)
        server = raw(stall)
        start = time.monotonic()
        with pytest.raises(TLSError) as info:
            aio_run(tlsplug.aio.open_connection(
                *server.address, context=ctx, server_hostname="localhost", timeout=0.5))
        elapsed = time.monotonic() - start
        check_error(info.value, "timeout", backend_name)
        assert 0.45 <= elapsed < 3.0
        assert server.wait_handled(1, timeout=5.0), "the socket was not closed"
