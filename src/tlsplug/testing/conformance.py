"""The backend conformance suite: what every tlsplug backend must do, against real servers.

A backend author (ours or a third party's) runs it by subclassing :class:`BackendConformance`
in a test module and naming the backend::

    # test_my_backend.py
    from tlsplug.testing.conformance import BackendConformance

    class TestMyBackend(BackendConformance):
        backend = "mybackend"          # the name registered in the tlsplug.backends group

or, to run it for several backends, by overriding the ``backend_name`` fixture with a
parametrized one. Nothing else is needed: the suite builds its own PKI
(:mod:`tlsplug.testing.pki`) and starts its own loopback servers
(:mod:`tlsplug.testing.servers`); it needs pytest and ``cryptography``.

Tests are skipped only for a :class:`~tlsplug.Feature` the backend does not declare (or for
a host without IPv6 on loopback); everything else is required. Every failure is asserted by
its ``code``, its class and ``backend == backend_name``. Every network operation is bounded
by a socket timeout of :data:`TIMEOUT` seconds.
"""

from __future__ import annotations

import array
import concurrent.futures
import shutil
import socket
import ssl
from pathlib import Path
from typing import Any, Dict, FrozenSet, Optional, Tuple, Type

import pytest

import tlsplug
from tlsplug.backend import Feature, SecurityWarning, TLSError, TLSOptions
from tlsplug.backend.openssl import MODERN_CIPHERS

from ._conformance_sockets import SocketConformance
from ._conformance_support import TIMEOUT, ConformanceHelpers, check_error
from ._conformance_world import PASSWORD, World
from .servers import NO_IPV6, close_immediately, ipv6_available, respond_with, stall

__all__ = ["TIMEOUT", "BackendConformance", "ConformanceHelpers"]


class BackendConformance(SocketConformance, ConformanceHelpers):
    """Subclass with ``backend = "name"`` (or override the ``backend_name`` fixture)."""

    #: What ``sendall`` after ``close()`` raises: tlsplug's sockets say connection-closed.
    CLOSED_SEND_ERRORS: Tuple[Type[BaseException], ...] = (TLSError,)

    # -- trusted chains ---------------------------------------------------------------

    @pytest.mark.parametrize("key_type", ["rsa", "ecdsa", "ed25519"])
    @pytest.mark.parametrize("depth", [1, 2, 3])
    def test_trusted_chain(
        self, backend_name: str, world: World, serve: Any, key_type: str, depth: int
    ) -> None:
        """A chain of ``depth`` CAs of each key type leading to tlsCAFile is accepted."""
        leaf, ca_file = world.chain(key_type, depth)
        server = serve(leaf)
        result = self.roundtrip(self.context(backend_name, ca_file=ca_file), server)
        assert result["leaf"] == leaf.cert_der
        assert result["backend"] == backend_name
        assert result["version"] == "TLSv1.3"

    @pytest.mark.parametrize("timeout", [None, TIMEOUT])
    def test_recv_into_writes_in_place(
        self, backend_name: str, world: World, serve: Any, timeout: Optional[float]
    ) -> None:
        """recv_into fills a slice of a larger buffer in place (nbytes clamped to it), takes
        any writable buffer, and refuses a read-only one; with or without a timeout."""
        ctx = self.context(backend_name, ca_file=world.ca_file)
        sock = socket.create_connection(serve(world.leaf).address, timeout=timeout)
        with ctx.wrap_socket(sock, server_hostname="localhost") as tls:
            tls.sendall(b"0123456789abcdef")
            whole = bytearray(b"." * 32)
            got = 0
            while got < 8:
                got += tls.recv_into(memoryview(whole)[4 + got : 12], 100)
            assert bytes(whole) == b"....01234567" + b"." * 20
            ints = array.array("i", [0, 0])
            view = memoryview(ints).cast("B")
            got = 0
            while got < 8:
                got += tls.recv_into(view[got:])
            assert ints.tobytes() == b"89abcdef"
            with pytest.raises(TypeError):
                tls.recv_into(b"read-only")

    def test_context_and_socket_name_their_backend(
        self, backend_name: str, world: World, serve: Any
    ) -> None:
        """The context, socket and buffer carry ``backend_name`` and the dialled host."""
        ctx = self.context(backend_name, ca_file=world.ca_file)
        assert ctx.backend_name == backend_name
        result = self.roundtrip(ctx, serve(world.leaf))
        assert result["backend"] == backend_name
        assert result["server_hostname"] == "localhost"

    def test_peer_certificate_and_chain(self, backend_name: str, world: World, serve: Any) -> None:
        """getpeercert gives the leaf (DER and dict) and peer_chain starts with it."""
        result = self.roundtrip(self.context(backend_name, ca_file=world.ca_file),
                                serve(world.leaf))
        assert result["leaf"] == world.leaf.cert_der
        assert ("DNS", "localhost") in result["cert"]["subjectAltName"]
        sent = {world.leaf.cert_der, *(ca.cert_der for ca in world.leaf.chain)}
        assert result["chain"][0] == world.leaf.cert_der
        assert set(result["chain"]) <= sent

    @pytest.mark.parametrize(
        ("offered", "chosen"),
        [(("h2", "http/1.1"), "h2"), (("http/1.1",), "http/1.1"), (None, None)],
    )
    def test_alpn(
        self, backend_name: str, features: FrozenSet[Feature], world: World, serve: Any,
        offered: Optional[Tuple[str, ...]], chosen: Optional[str],
    ) -> None:
        """alpn_protocols are offered (RFC 7301); selected_alpn_protocol() tells the choice."""
        server = serve(world.leaf, alpn=["h2", "http/1.1"])
        ctx = self.context(backend_name, ca_file=world.ca_file, alpn_protocols=offered)
        with self.open(ctx, server.address, "localhost") as tls:
            assert tls.selected_alpn_protocol() == chosen  # type: ignore[attr-defined]
        if Feature.SANS_IO in features:
            buf = self.buffer_roundtrip(ctx, server, "localhost")
            assert buf.selected_alpn_protocol() == chosen  # type: ignore[attr-defined]

    # -- refused chains ---------------------------------------------------------------

    def test_untrusted_root(self, backend_name: str, world: World, serve: Any) -> None:
        """A chain to a root outside tlsCAFile fails with cert-untrusted and a native cause."""
        ctx = self.context(backend_name, ca_file=world.ca_file)
        err = self.refused("cert-untrusted", backend_name, ctx, serve(world.untrusted))
        assert err.__cause__ is not None
        assert "tlsCAFile" in err.hint

    def test_expired(self, backend_name: str, world: World, serve: Any) -> None:
        """An expired leaf fails with cert-expired."""
        ctx = self.context(backend_name, ca_file=world.ca_file)
        self.refused("cert-expired", backend_name, ctx, serve(world.expired))

    def test_not_yet_valid(self, backend_name: str, world: World, serve: Any) -> None:
        """A leaf whose validity starts tomorrow fails with cert-not-yet-valid."""
        ctx = self.context(backend_name, ca_file=world.ca_file)
        self.refused("cert-not-yet-valid", backend_name, ctx, serve(world.not_yet_valid))

    # -- names ------------------------------------------------------------------------

    def test_wrong_host(self, backend_name: str, world: World, serve: Any) -> None:
        """A name absent from the subjectAltName fails with hostname-mismatch."""
        ctx = self.context(backend_name, ca_file=world.ca_file)
        self.refused("hostname-mismatch", backend_name, ctx, serve(world.leaf), "wrong.example")

    @pytest.mark.parametrize("name", ["127.0.0.010", "127.1", "0x7f.0.0.1", "127.0.0.1.",
                                      "local\x00host", "h" * 254, "a.-example.test"])
    def test_refused_names_before_any_byte(
        self, backend_name: str, features: FrozenSet[Feature], world: World, name: str
    ) -> None:
        """Names docs/design.md's Identity rules refuse are invalid-option, socket or buffers."""
        ctx = self.context(backend_name, ca_file=world.ca_file)
        if Feature.SANS_IO in features:
            with pytest.raises(TLSError) as info:
                ctx.wrap_buffers(server_hostname=name)
            check_error(info.value, "invalid-option", backend_name)
        left, right = socket.socketpair()
        with left, right, pytest.raises(TLSError) as info2:
            ctx.wrap_socket(left, server_hostname=name)
        check_error(info2.value, "invalid-option", backend_name)

    def test_identity_checked_with_invalid_certificates_allowed(
        self, backend_name: str, world: World, serve: Any
    ) -> None:
        """Trailing dot and case never change the verdict, verified or not (one matcher)."""
        for kwargs in ({}, {"allow_invalid_certificates": True}):
            ctx = self.context(backend_name, ca_file=world.ca_file, **kwargs)
            self.roundtrip(ctx, serve(world.leaf), "LocalHost.")
            self.refused("hostname-mismatch", backend_name, ctx, serve(world.leaf),
                         "wrong.example.")

    def test_ip_address_ok(self, backend_name: str, world: World, serve: Any) -> None:
        """Dialling 127.0.0.1 matches the certificate's IP SAN."""
        ctx = self.context(backend_name, ca_file=world.ca_file)
        self.roundtrip(ctx, serve(world.leaf), "127.0.0.1")

    def test_wrong_ipv4(self, backend_name: str, world: World, serve: Any) -> None:
        """127.0.0.1 against a certificate naming only localhost and 10.0.0.1 is refused."""
        ctx = self.context(backend_name, ca_file=world.ca_file)
        self.refused("hostname-mismatch", backend_name, ctx, serve(world.other_ip), "127.0.0.1")

    def test_ipv6_ok(self, backend_name: str, world: World, serve: Any) -> None:
        """Dialling ::1 matches the certificate's IPv6 SAN."""
        if not ipv6_available():
            pytest.skip(NO_IPV6)
        ctx = self.context(backend_name, ca_file=world.ca_file)
        self.roundtrip(ctx, serve(world.leaf, host="::1"), "::1")

    def test_wrong_ipv6(self, backend_name: str, world: World, serve: Any) -> None:
        """::1 against a certificate without that IPv6 SAN fails with hostname-mismatch."""
        if not ipv6_available():
            pytest.skip(NO_IPV6)
        ctx = self.context(backend_name, ca_file=world.ca_file)
        server = serve(world.other_ip, host="::1")
        self.refused("hostname-mismatch", backend_name, ctx, server, "::1")

    def test_idn_in_unicode(self, backend_name: str, world: World, serve: Any) -> None:
        """A Unicode host name matches the certificate's A-label and is sent as SNI so."""
        ctx = self.context(backend_name, ca_file=world.ca_file)
        server = serve(world.idn)
        self.roundtrip(ctx, server, "bücher.example")
        assert server.handshakes[-1].server_name == "xn--bcher-kva.example"

    def test_common_name_only_refused(self, backend_name: str, world: World, serve: Any) -> None:
        """A certificate naming the host only in its subject CN fails (SAN only, RFC 6125)."""
        ctx = self.context(backend_name, ca_file=world.ca_file)
        self.refused("hostname-mismatch", backend_name, ctx, serve(world.cn_only))

    @pytest.mark.parametrize(
        ("host", "ok"),
        [("db.example.test", True), ("DB.Example.Test", True), ("a.db.example.test", False),
         ("example.test", False)],
    )
    def test_wildcard(
        self, backend_name: str, world: World, serve: Any, host: str, ok: bool
    ) -> None:
        """``*.example.test`` covers exactly one label, case-insensitively."""
        ctx = self.context(backend_name, ca_file=world.ca_file)
        server = serve(world.wildcard)
        if ok:
            self.roundtrip(ctx, server, host)
        else:
            self.refused("hostname-mismatch", backend_name, ctx, server, host)

    @pytest.mark.parametrize(("host", "sni"), [("localhost", "localhost"), ("127.0.0.1", None)])
    def test_sni(
        self, backend_name: str, world: World, serve: Any, host: str, sni: Optional[str]
    ) -> None:
        """SNI carries a dialled name and is absent for an IP literal (RFC 6066 §3)."""
        server = serve(world.leaf)
        self.roundtrip(self.context(backend_name, ca_file=world.ca_file), server, host)
        assert server.handshakes[-1].server_name == sni

    def test_no_sni_for_ipv6(self, backend_name: str, world: World, serve: Any) -> None:
        """No SNI is sent when dialling the IPv6 literal ::1."""
        if not ipv6_available():
            pytest.skip(NO_IPV6)
        server = serve(world.leaf, host="::1")
        self.roundtrip(self.context(backend_name, ca_file=world.ca_file), server, "::1")
        assert server.handshakes[-1].server_name is None

    # -- CRL --------------------------------------------------------------------------

    @pytest.mark.parametrize("encoding", ["pem", "der"])
    def test_crl_revokes(
        self, backend_name: str, features: FrozenSet[Feature], world: World, serve: Any,
        encoding: str,
    ) -> None:
        """A leaf listed in tlsCRLFile (PEM or DER) fails with cert-revoked."""
        self.require(features, Feature.CRL, *([Feature.CRL_DER] if encoding == "der" else []))
        ctx = self.context(backend_name, ca_file=world.ca_file,
                           crl_file=world.crl_revoking[encoding])
        self.refused("cert-revoked", backend_name, ctx, serve(world.revoked))

    @pytest.mark.parametrize("encoding", ["pem", "der"])
    def test_crl_not_listing_leaf(
        self, backend_name: str, features: FrozenSet[Feature], world: World, serve: Any,
        encoding: str,
    ) -> None:
        """A CRL from the leaf's issuer that does not list the leaf lets it through."""
        self.require(features, Feature.CRL, *([Feature.CRL_DER] if encoding == "der" else []))
        ctx = self.context(backend_name, ca_file=world.ca_file,
                           crl_file=world.crl_empty[encoding])
        self.roundtrip(ctx, serve(world.leaf))

    # -- client certificates ----------------------------------------------------------

    @pytest.mark.parametrize("encrypted", [False, True])
    def test_client_certificate_given(
        self, backend_name: str, features: FrozenSet[Feature], world: World, serve: Any,
        encrypted: bool,
    ) -> None:
        """A required client certificate (plain or encrypted key) is sent and seen."""
        self.require(features, Feature.CLIENT_CERT, *([Feature.ENCRYPTED_KEY] if encrypted else []))
        extra: Dict[str, Any] = (
            {"certificate_key_file": world.client_encrypted,
             "certificate_key_file_password": PASSWORD.decode()}
            if encrypted else {"certificate_key_file": world.client_plain}
        )
        server = serve(world.leaf, require_client_cert=world.root)
        self.roundtrip(self.context(backend_name, ca_file=world.ca_file, **extra), server)
        assert server.peer_certs[-1] == world.client.certificate

    # -- trust and identity from anywhere (docs/howto/trust-sources.md) -------------------

    @pytest.mark.parametrize("source", ["ca_data-str", "ca_data-der", "ca_dir"])
    def test_trust_sources(
        self, backend_name: str, world: World, serve: Any, source: str, tmp_path: Path
    ) -> None:
        """The CA given in memory (str PEM, DER bytes) or as a directory is trusted."""
        from cryptography.hazmat.primitives import serialization

        options: Dict[str, Any]
        if source == "ca_data-str":
            options = {"ca_data": world.root.cert_pem.decode("ascii")}
        elif source == "ca_data-der":
            options = {"ca_data": world.root.certificate.public_bytes(serialization.Encoding.DER)}
        else:
            directory = tmp_path / "cas"
            directory.mkdir()
            world.root.write_cert(directory / "root.pem")
            options = {"ca_dir": str(directory)}
        result = self.roundtrip(self.context(backend_name, **options), serve(world.leaf))
        assert result["leaf"] == world.leaf.cert_der

    @pytest.mark.parametrize("source", ["certificate_key_data", "private_key_file"])
    def test_client_identity_sources(
        self, backend_name: str, features: FrozenSet[Feature], world: World, serve: Any,
        source: str, tmp_path: Path,
    ) -> None:
        """An encrypted client identity in memory, or with its key in a file of its own."""
        self.require(features, Feature.CLIENT_CERT, Feature.ENCRYPTED_KEY)
        extra: Dict[str, Any] = {"certificate_key_file_password": PASSWORD.decode()}
        if source == "certificate_key_data":
            extra["certificate_key_data"] = (
                world.client.chain_pem + world.client.private_key_pem(password=PASSWORD)
            )
        else:
            files = world.client.write(tmp_path, password=PASSWORD)
            extra["certificate_key_file"] = str(files.cert_file)
            extra["private_key_file"] = str(files.key_file)
        server = serve(world.leaf, require_client_cert=world.root)
        self.roundtrip(self.context(backend_name, ca_file=world.ca_file, **extra), server)
        assert server.peer_certs[-1] == world.client.certificate

    @pytest.mark.parametrize("tls12", [False, True])
    def test_client_certificate_missing(
        self, backend_name: str, world: World, serve: Any, tls12: bool
    ) -> None:
        """A server requiring a client certificate refuses us with handshake-failure."""
        # With TLS 1.3 the refusal arrives after the client's handshake is complete, so the
        # code is asserted on whichever step (wrap, first read) raises first. With TLS 1.2
        # the server's alert is handshake_failure, also used for "no shared cipher": it must
        # be told apart by whether a ServerHello (a negotiated cipher) was seen first.
        kwargs: Dict[str, Any] = {"require_client_cert": world.root}
        if tls12:
            kwargs["max_version"] = ssl.TLSVersion.TLSv1_2
        server = serve(world.leaf, **kwargs)
        ctx = self.context(backend_name, ca_file=world.ca_file)
        # Read first: a write could race the server's close and see a reset instead.
        with pytest.raises(TLSError) as info, self.open(ctx, server.address, "localhost") as tls:
            tls.recv(1024)
        check_error(info.value, "handshake-failure", backend_name)

    def test_wrong_password(self, backend_name: str, features: FrozenSet[Feature],
                            world: World) -> None:
        """A password that does not decrypt the key is bad-password, naming the option."""
        self.require(features, Feature.ENCRYPTED_KEY)
        with pytest.raises(TLSError) as info:
            self.context(backend_name, ca_file=world.ca_file,
                         certificate_key_file=world.client_encrypted,
                         certificate_key_file_password="not the password")
        err = check_error(info.value, "bad-password", backend_name)
        assert err.option == "tlsCertificateKeyFilePassword"
        assert err.path == world.client_encrypted
        assert "not the password" not in str(err)

    def test_missing_password(self, backend_name: str, features: FrozenSet[Feature],
                              world: World) -> None:
        """An encrypted key without tlsCertificateKeyFilePassword is password-required."""
        self.require(features, Feature.ENCRYPTED_KEY)
        with pytest.raises(TLSError) as info:
            self.context(backend_name, ca_file=world.ca_file,
                         certificate_key_file=world.client_encrypted)
        err = check_error(info.value, "password-required", backend_name)
        assert err.option == "tlsCertificateKeyFile"
        assert err.path == world.client_encrypted

    # -- profiles, versions, ciphers --------------------------------------------------

    def test_legacy_server_with_modern(self, backend_name: str, world: World, serve: Any) -> None:
        """A legacy-only server is no-shared-cipher under modern, hinting at tlsProfile=legacy."""
        ctx = self.context(backend_name, ca_file=world.rsa_ca_file)
        err = self.refused("no-shared-cipher", backend_name, ctx,
                           serve(world.rsa_leaf, legacy=True))
        assert "tlsProfile=legacy" in err.hint
        assert err.__cause__ is not None

    @pytest.mark.parametrize("version", ["TLSv1", "TLSv1_2"])
    def test_legacy_server_with_legacy(
        self, backend_name: str, features: FrozenSet[Feature], world: World, serve: Any,
        version: str,
    ) -> None:
        """tlsProfile=legacy reaches a legacy-only server (TLS 1.0 or 1.2) and warns."""
        self.require(features, Feature.LEGACY_PROFILE)
        tls_version = getattr(ssl.TLSVersion, version)
        server = serve(world.rsa_leaf, legacy=True, max_version=tls_version)
        with pytest.warns(SecurityWarning, match="legacy"):
            ctx = tlsplug.create_context(TLSOptions(
                enabled=True, backend=backend_name, ca_file=world.rsa_ca_file, profile="legacy"))
        result = self.roundtrip(ctx, server)
        assert result["version"] == version.replace("_", ".")
        assert result["cipher"][0] == "AES256-SHA"

    def test_tls12_cipher_is_pinned(self, backend_name: str, world: World, serve: Any) -> None:
        """Against a TLS 1.2-only server the modern profile negotiates a pinned AEAD suite."""
        server = serve(world.leaf, max_version=ssl.TLSVersion.TLSv1_2)
        result = self.roundtrip(self.context(backend_name, ca_file=world.ca_file), server)
        assert result["version"] == "TLSv1.2"
        assert result["cipher"][0] in MODERN_CIPHERS.split(":")

    def test_old_protocol_refused(self, backend_name: str, world: World, serve: Any) -> None:
        """A TLS 1.0-only server fails with protocol-version under modern."""
        server = serve(world.rsa_leaf, legacy=True, max_version=ssl.TLSVersion.TLSv1)
        ctx = self.context(backend_name, ca_file=world.rsa_ca_file)
        err = self.refused("protocol-version", backend_name, ctx, server)
        assert "OpenSSL" in err.hint

    # -- relaxing options -------------------------------------------------------------

    def test_relaxing_options_warn(self, backend_name: str, world: World) -> None:
        """Creating a context with tlsInsecure emits a SecurityWarning."""
        with pytest.warns(SecurityWarning, match="tlsInsecure"):
            tlsplug.create_context(TLSOptions(enabled=True, backend=backend_name, insecure=True))

    @pytest.mark.parametrize("bad", ["untrusted", "expired", "not_yet_valid"])
    def test_allow_invalid_certificates_accepts_chain(
        self, backend_name: str, world: World, serve: Any, bad: str
    ) -> None:
        """tlsAllowInvalidCertificates accepts an untrusted, expired or future chain."""
        ctx = self.context(backend_name, ca_file=world.ca_file, allow_invalid_certificates=True)
        result = self.roundtrip(ctx, serve(getattr(world, bad)))
        assert result["version"] in ("TLSv1.2", "TLSv1.3")  # still encrypted

    @pytest.mark.parametrize("host", ["wrong.example", "127.0.0.2"])
    def test_allow_invalid_certificates_still_checks_host(
        self, backend_name: str, world: World, serve: Any, host: str
    ) -> None:
        """tlsAllowInvalidCertificates still refuses a wrong host name or IP (hostname-mismatch)."""
        ctx = self.context(backend_name, ca_file=world.ca_file, allow_invalid_certificates=True)
        self.refused("hostname-mismatch", backend_name, ctx, serve(world.untrusted), host)

    def test_allow_invalid_certificates_matches_ip(
        self, backend_name: str, world: World, serve: Any
    ) -> None:
        """tlsAllowInvalidCertificates with a matching IP SAN connects."""
        ctx = self.context(backend_name, ca_file=world.ca_file, allow_invalid_certificates=True)
        self.roundtrip(ctx, serve(world.untrusted), "127.0.0.1")

    def test_allow_invalid_hostnames_accepts_host(
        self, backend_name: str, world: World, serve: Any
    ) -> None:
        """tlsAllowInvalidHostnames accepts a wrong host name on a trusted chain."""
        ctx = self.context(backend_name, ca_file=world.ca_file, allow_invalid_hostnames=True)
        self.roundtrip(ctx, serve(world.leaf), "wrong.example")

    def test_allow_invalid_hostnames_still_checks_chain(
        self, backend_name: str, world: World, serve: Any
    ) -> None:
        """tlsAllowInvalidHostnames still refuses an untrusted chain (cert-untrusted)."""
        ctx = self.context(backend_name, ca_file=world.ca_file, allow_invalid_hostnames=True)
        self.refused("cert-untrusted", backend_name, ctx, serve(world.untrusted), "wrong.example")

    def test_allow_invalid_hostnames_still_checks_expiry(
        self, backend_name: str, world: World, serve: Any
    ) -> None:
        """tlsAllowInvalidHostnames still refuses an expired leaf (cert-expired)."""
        ctx = self.context(backend_name, ca_file=world.ca_file, allow_invalid_hostnames=True)
        self.refused("cert-expired", backend_name, ctx, serve(world.expired))

    def test_insecure_accepts_both(self, backend_name: str, world: World, serve: Any) -> None:
        """tlsInsecure accepts an untrusted chain for the wrong host."""
        ctx = self.context(backend_name, ca_file=world.ca_file, insecure=True)
        result = self.roundtrip(ctx, serve(world.untrusted), "wrong.example")
        assert result["version"] in ("TLSv1.2", "TLSv1.3")

    # -- malformed inputs -------------------------------------------------------------

    @pytest.mark.parametrize(
        ("option", "kind", "code"),
        [
            ("ca_file", "missing", "file-not-found"),
            ("ca_file", "directory", "invalid-file"),
            ("ca_file", "empty", "invalid-file"),
            ("ca_file", "garbage", "invalid-file"),
            ("ca_file", "key_only", "invalid-file"),
            ("certificate_key_file", "missing", "file-not-found"),
            ("certificate_key_file", "directory", "invalid-file"),
            ("certificate_key_file", "empty", "invalid-file"),
            ("certificate_key_file", "garbage", "invalid-file"),
            ("certificate_key_file", "cert_only", "invalid-file"),
            ("certificate_key_file", "mismatched", "key-mismatch"),
            ("crl_file", "missing", "file-not-found"),
            ("crl_file", "directory", "invalid-file"),
            ("crl_file", "empty", "invalid-file"),
            ("crl_file", "garbage", "invalid-file"),
            ("crl_file", "cert_only", "invalid-file"),
        ],
    )
    def test_malformed_file(
        self, backend_name: str, features: FrozenSet[Feature], world: World, tmp_path: Path,
        option: str, kind: str, code: str,
    ) -> None:
        """A bad file is a ConfigurationError with its code, naming the option and the path."""
        if option == "crl_file":
            self.require(features, Feature.CRL)
        if option == "certificate_key_file":
            self.require(features, Feature.CLIENT_CERT)
        path = world.malformed(kind, tmp_path)
        options: Dict[str, Any] = {"ca_file": world.ca_file, option: path}
        with pytest.raises(TLSError) as info:
            self.context(backend_name, **options)
        err = check_error(info.value, code, backend_name)
        uri_name = TLSOptions.uri_names[option]
        assert err.option == uri_name
        assert err.path == path
        assert uri_name in str(err)
        assert path in str(err)

    # -- connection behaviour ---------------------------------------------------------

    def test_recv_after_server_close(self, backend_name: str, world: World, serve: Any) -> None:
        """recv returns b"" once the server closes after the handshake."""
        server = serve(world.leaf, mode="greeting", greeting=b"bye\n")
        ctx = self.context(backend_name, ca_file=world.ca_file)
        with self.open(ctx, server.address, "localhost") as tls:
            assert tls.recv(4) == b"bye\n"
            server.stop()  # shuts the connection down without close_notify (ragged EOF)
            assert tls.recv(1024) == b""

    def test_close_is_idempotent(self, backend_name: str, world: World, serve: Any) -> None:
        """close() may be called twice, and the context manager closes too."""
        ctx = self.context(backend_name, ca_file=world.ca_file)
        server = serve(world.leaf)
        tls = self.open(ctx, server.address, "localhost")
        with tls:
            tls.sendall(b"x")
        with pytest.raises(self.CLOSED_SEND_ERRORS):  # closed by the context manager
            tls.sendall(b"y")
        tls.close()
        tls.close()
        # The server saw "x", then the end of the connection (not a hang until its timeout).
        assert server.wait_handled(1, timeout=TIMEOUT)
        assert server.errors == []

    @pytest.mark.parametrize(
        ("handler", "code"),
        [
            (respond_with(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"), "not-tls"),
            (close_immediately, "connection-closed"),
        ],
        ids=["http", "close"],
    )
    def test_not_a_tls_server(
        self, backend_name: str, world: World, raw: Any, handler: Any, code: str
    ) -> None:
        """A plain-HTTP peer is not-tls; a peer that hangs up is connection-closed."""
        ctx = self.context(backend_name, ca_file=world.ca_file)
        with pytest.raises(TLSError) as info:
            self.open(ctx, raw(handler).address, "localhost")
        check_error(info.value, code, backend_name)

    def test_handshake_timeout(self, backend_name: str, world: World, raw: Any) -> None:
        """A peer that never answers the ClientHello is timeout, within the socket timeout."""
        ctx = self.context(backend_name, ca_file=world.ca_file)
        with pytest.raises(TLSError) as info:
            self.open(ctx, raw(stall).address, "localhost", timeout=0.5)
        check_error(info.value, "timeout", backend_name)

    def test_many_threads_one_context(self, backend_name: str, world: World, serve: Any) -> None:
        """One context serves 208 connections from 16 threads at once, each echoing its bytes."""
        ctx = self.context(backend_name, ca_file=world.ca_file)
        server = serve(world.leaf)

        def one(i: int) -> str:
            result = self.roundtrip(ctx, server, payload=f"conn-{i}".encode())
            return str(result["version"])

        with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
            versions = list(pool.map(one, range(208), timeout=120))
        assert versions == ["TLSv1.3"] * 208

    # -- sans-IO ----------------------------------------------------------------------
    @pytest.mark.parametrize(
        ("case", "host", "code"),
        [("leaf", "localhost", None), ("untrusted", "localhost", "cert-untrusted"),
         ("leaf", "wrong.example", "hostname-mismatch"), ("expired", "localhost", "cert-expired")],
    )
    def test_wrap_buffers(
        self, backend_name: str, features: FrozenSet[Feature], world: World, serve: Any,
        case: str, host: str, code: Optional[str],
    ) -> None:
        """wrap_buffers reaches the same verdict as wrap_socket: ok, untrusted, wrong host."""
        self.require(features, Feature.SANS_IO)
        ctx = self.context(backend_name, ca_file=world.ca_file)
        server = serve(getattr(world, case))
        if code is None:
            buf = self.buffer_roundtrip(ctx, server, host)
            assert buf.version() == "TLSv1.3"
            assert buf.getpeercert(True) == world.leaf.cert_der
            assert buf.peer_chain()[0] == world.leaf.cert_der
            return
        with pytest.raises(TLSError) as info:
            self.buffer_roundtrip(ctx, server, host)
        check_error(info.value, code, backend_name)

    def test_wrap_buffers_allow_invalid_certificates_checks_host(
        self, backend_name: str, features: FrozenSet[Feature], world: World, serve: Any
    ) -> None:
        """wrap_buffers with tlsAllowInvalidCertificates still refuses a wrong host."""
        self.require(features, Feature.SANS_IO)
        ctx = self.context(backend_name, ca_file=world.ca_file, allow_invalid_certificates=True)
        server = serve(world.untrusted)
        self.buffer_roundtrip(ctx, server, "localhost")
        with pytest.raises(TLSError) as info:
            self.buffer_roundtrip(ctx, server, "wrong.example")
        check_error(info.value, "hostname-mismatch", backend_name)

    # -- session resumption -----------------------------------------------------------

    def _reused(self, ctx: tlsplug.ClientContext, server: Any, host: str = "localhost") -> bool:
        """Connect, echo (which also reads TLS 1.3 tickets), close; was the session resumed?"""
        with self.open(ctx, server.address, host) as tls:
            tls.sendall(b"resume?")
            received = b""
            while len(received) < 7:
                chunk = tls.recv(64)
                assert chunk, "server closed before echoing"
                received += chunk
            return bool(tls.session_reused)

    @pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
    def test_session_resumed(
        self, backend_name: str, features: FrozenSet[Feature], world: World, serve: Any,
        version: str,
    ) -> None:
        """The second connection to the same (host, port, SNI) resumes, TLS 1.2 and 1.3."""
        self.require(features, Feature.SESSION_RESUMPTION)
        tls_version = getattr(ssl.TLSVersion, version)
        server = serve(world.leaf, min_version=tls_version, max_version=tls_version)
        ctx = self.context(backend_name, ca_file=world.ca_file)
        assert not self._reused(ctx, server)
        assert self._reused(ctx, server)
        assert self._reused(ctx, server)
        assert [h.version for h in server.handshakes] == [version.replace("_", ".")] * 3

    def test_session_resumption_disabled(
        self, backend_name: str, features: FrozenSet[Feature], world: World, serve: Any
    ) -> None:
        """With session_resumption=False every connection is a full handshake."""
        self.require(features, Feature.SESSION_RESUMPTION)
        server = serve(world.leaf)
        ctx = self.context(backend_name, ca_file=world.ca_file, session_resumption=False)
        assert [self._reused(ctx, server) for _ in range(3)] == [False, False, False]

    def test_session_not_resumed_for_another_name(
        self, backend_name: str, features: FrozenSet[Feature], world: World, serve: Any
    ) -> None:
        """A session is offered only to the name it was made for, on the same address."""
        self.require(features, Feature.SESSION_RESUMPTION)
        server = serve(world.leaf)
        ctx = self.context(backend_name, ca_file=world.ca_file)
        assert not self._reused(ctx, server, "localhost")
        assert not self._reused(ctx, server, "127.0.0.1")
        assert self._reused(ctx, server, "localhost")
        assert [h.server_name for h in server.handshakes] == ["localhost", None, "localhost"]

    def test_sessions_not_shared_between_contexts(
        self, backend_name: str, features: FrozenSet[Feature], world: World, serve: Any
    ) -> None:
        """A context with other options does not resume another context's session."""
        self.require(features, Feature.SESSION_RESUMPTION)
        server = serve(world.leaf)
        first = self.context(backend_name, ca_file=world.ca_file)
        other = self.context(backend_name, ca_file=world.ca_file, allow_invalid_hostnames=True)
        assert other is not first
        assert not self._reused(first, server)
        assert not self._reused(other, server)
        assert self._reused(first, server)

    # -- OCSP (MongoDB OCSP specification; RFC 6960, RFC 7633) ------------------------

    @staticmethod
    def _ocsp_ca(world: World) -> Any:
        """A fresh root for OCSP tests, with its CA file (fresh certificates: cold cache)."""
        from .pki import CA

        ca = CA("conformance OCSP root")
        return ca, str(ca.write_cert(world.directory / f"ocsp-ca-{ca.serial:x}.pem"))

    @staticmethod
    def _stapling_server(leaf: Any, staple: bytes, *extra_args: str) -> Any:
        """``openssl s_server -status_file -rev``: staples without any Python TLS package."""
        from .stapling import OpenSSLStatusFileServer

        if shutil.which("openssl") is None:  # a broken test host, not a backend's choice
            pytest.fail("serving OCSP staples needs the openssl command line tool on PATH")
        return OpenSSLStatusFileServer(
            cert=leaf, staple=staple, mode="rev", extra_args=extra_args
        ).start()

    def _stapling_only(
        self, world: World, version: str, status: str, must_staple: bool = False
    ) -> Tuple[str, Any]:
        """(CA file, started server) stapling a ``status`` response, speaking ``version`` only."""
        ca, ca_file = self._ocsp_ca(world)
        leaf = ca.issue_cert("localhost", "127.0.0.1", must_staple=must_staple)
        only = {"TLSv1_2": "-tls1_2", "TLSv1_3": "-tls1_3"}[version]
        return ca_file, self._stapling_server(leaf, ca.ocsp_response(leaf, status), only)

    def test_ocsp_good_staple(
        self, backend_name: str, features: FrozenSet[Feature], world: World
    ) -> None:
        """A good stapled response is accepted and shows as ocsp_status "good (staple)"."""
        ca, ca_file = self._ocsp_ca(world)
        leaf = ca.issue_cert("localhost", "127.0.0.1")
        server = self._stapling_server(leaf, ca.ocsp_response(leaf, "good"))
        try:
            ctx = self.context(backend_name, ca_file=ca_file)
            if Feature.OCSP_STAPLING not in features:
                self._staple_unseen(ctx, server)
                return
            with self.open(ctx, server.address, "localhost") as tls:
                assert tls.ocsp_status == "good (staple)"
        finally:
            server.stop()

    def _staple_unseen(self, ctx: tlsplug.ClientContext, server: Any) -> None:
        """A backend without stapling never asks for the staple: it connects, and its
        ocsp_status comes from its own steps, never from a staple (docs/design.md, OCSP)."""
        with self.open(ctx, server.address, "localhost") as tls:
            assert tls.ocsp_status is None or "staple" not in tls.ocsp_status

    @pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
    def test_ocsp_must_staple_session_resumes(
        self, backend_name: str, features: FrozenSet[Feature], world: World, version: str
    ) -> None:
        """A resumed session to a must-staple server connects: its staple was judged once."""
        self.require(features, Feature.OCSP_STAPLING, Feature.SESSION_RESUMPTION)
        ca_file, server = self._stapling_only(world, version, "good", must_staple=True)
        try:
            ctx = self.context(backend_name, ca_file=ca_file)
            seen = []
            for _ in range(3):
                with self.open(ctx, server.address, "localhost") as tls:
                    tls.sendall(b"x\n")  # one line, sent back reversed; reads TLS 1.3 tickets
                    assert self._read_exactly(tls, 2) == b"x\n"
                    seen.append((tls.version(), tls.session_reused, tls.ocsp_status))
            name = version.replace("_", ".")
            assert seen == [
                (name, False, "good (staple)"),
                (name, True, "good (cache)"),
                (name, True, "good (cache)"),
            ]
        finally:
            server.stop()

    @pytest.mark.parametrize(
        ("status", "extra", "code"),
        [("revoked", {}, "ocsp-revoked"),
         ("good", {"expired": True}, "ocsp-invalid-response"),
         ("good", {"corrupt_signature": True}, "ocsp-invalid-response"),
         ("good", {"signer": "delegate-without-eku"}, "ocsp-invalid-response")],
    )
    def test_ocsp_bad_staple(
        self, backend_name: str, features: FrozenSet[Feature], world: World,
        status: str, extra: Dict[str, Any], code: str,
    ) -> None:
        """A revoked, expired, badly-signed or wrongly-delegated staple fails the handshake."""
        ca, ca_file = self._ocsp_ca(world)
        leaf = ca.issue_cert("localhost", "127.0.0.1")
        server = self._stapling_server(leaf, ca.ocsp_response(leaf, status, **extra))
        try:
            ctx = self.context(backend_name, ca_file=ca_file)
            if Feature.OCSP_STAPLING not in features:
                self._staple_unseen(ctx, server)
                return
            err = self.refused(code, backend_name, ctx, server)
            assert "invalid status response" in str(err)
        finally:
            server.stop()

    @pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
    def test_ocsp_refused_staple_keeps_no_session(
        self, backend_name: str, features: FrozenSet[Feature], world: World, version: str
    ) -> None:
        """A refused staple leaves no session to resume: every connection is refused again."""
        ca_file, server = self._stapling_only(world, version, "revoked")
        try:
            ctx = self.context(backend_name, ca_file=ca_file)
            if Feature.OCSP_STAPLING not in features:
                self._staple_unseen(ctx, server)  # never asked for: nothing to refuse
                return
            for _ in range(3):  # a resumed session would skip the staple and connect
                self.refused("ocsp-revoked", backend_name, ctx, server)
        finally:
            server.stop()

    @pytest.mark.parametrize("endpoint_check", [True, False])
    def test_ocsp_must_staple_without_staple(
        self, backend_name: str, features: FrozenSet[Feature], world: World, serve: Any,
        endpoint_check: bool,
    ) -> None:
        """Must-staple, no staple: ocsp-must-staple, or unsupported-option without stapling."""
        ca, ca_file = self._ocsp_ca(world)
        leaf = ca.issue_cert("localhost", "127.0.0.1", must_staple=True)
        ctx = self.context(
            backend_name, ca_file=ca_file, disable_ocsp_endpoint_check=not endpoint_check
        )
        code = "ocsp-must-staple" if Feature.OCSP_STAPLING in features else "unsupported-option"
        self.refused(code, backend_name, ctx, serve(leaf))

    def test_ocsp_must_staple_ignored_when_revocation_check_disabled(
        self, backend_name: str, world: World, serve: Any
    ) -> None:
        """tlsDisableCertificateRevocationCheck turns OCSP off: must-staple connects."""
        ca, ca_file = self._ocsp_ca(world)
        leaf = ca.issue_cert("localhost", "127.0.0.1", must_staple=True)
        ctx = self.context(
            backend_name, ca_file=ca_file, disable_certificate_revocation_check=True
        )
        # TLSSocket.ocsp_status: "off" when the options turn OCSP off; None only from a
        # backend that does no OCSP at all, i.e. says None with OCSP on too (a backend may do
        # OCSP without declaring a feature: stdlib on Python 3.9 refuses must-staple and
        # soft-fails responders it cannot ask).
        default = self.context(backend_name, ca_file=world.ca_file)
        with self.open(default, serve(world.leaf).address, "localhost") as probe:
            does_ocsp = probe.ocsp_status is not None
        with self.open(ctx, serve(leaf).address, "localhost") as tls:
            assert tls.ocsp_status == ("off" if does_ocsp else None)

    @pytest.mark.parametrize("status", ["good", "revoked"])
    def test_ocsp_responder(
        self, backend_name: str, features: FrozenSet[Feature], world: World, serve: Any,
        status: str,
    ) -> None:
        """Without a staple the responder is asked: good connects, revoked is ocsp-revoked."""
        self.require(features, Feature.OCSP_ENDPOINT)
        from .ocsp_responder import OCSPResponder

        ca, ca_file = self._ocsp_ca(world)
        with OCSPResponder(ca) as responder:
            leaf = ca.issue_cert("localhost", "127.0.0.1", ocsp_url=responder.url)
            responder.set_status(leaf, status)
            ctx = self.context(backend_name, ca_file=ca_file, ocsp_timeout=TIMEOUT)
            server = serve(leaf)
            if status == "revoked":
                self.refused("ocsp-revoked", backend_name, ctx, server)
                return
            with self.open(ctx, server.address, "localhost") as tls:
                assert tls.ocsp_status == "good (responder)"
            assert responder.requests == 1

    def test_ocsp_resumed_session_uses_the_cached_answer(
        self, backend_name: str, features: FrozenSet[Feature], world: World, serve: Any
    ) -> None:
        """A resumed connection carries no certificate: its verdict comes from the cache."""
        self.require(features, Feature.OCSP_ENDPOINT, Feature.SESSION_RESUMPTION)
        from .ocsp_responder import OCSPResponder

        ca, ca_file = self._ocsp_ca(world)
        with OCSPResponder(ca) as responder:
            leaf = ca.issue_cert("localhost", "127.0.0.1", ocsp_url=responder.url)
            responder.set_status(leaf, "good")
            ctx = self.context(backend_name, ca_file=ca_file, ocsp_timeout=TIMEOUT)
            server = serve(leaf)
            statuses = []
            for _ in range(3):
                with self.open(ctx, server.address, "localhost") as tls:
                    tls.sendall(b"x")  # reads the TLS 1.3 tickets
                    assert tls.recv(1) == b"x"
                    statuses.append((tls.session_reused, tls.ocsp_status))
            assert statuses == [
                (False, "good (responder)"), (True, "good (cache)"), (True, "good (cache)")
            ]
            assert responder.requests == 1

    def test_ocsp_soft_fail(
        self, backend_name: str, features: FrozenSet[Feature], world: World, serve: Any
    ) -> None:
        """An unreachable responder soft-fails: the connection opens, ocsp_status says why."""
        self.require(features, Feature.OCSP_ENDPOINT)
        from .ocsp_responder import closed_port_url

        ca, ca_file = self._ocsp_ca(world)
        leaf = ca.issue_cert("localhost", "127.0.0.1", ocsp_url=closed_port_url())
        ctx = self.context(backend_name, ca_file=ca_file, ocsp_timeout=TIMEOUT)
        with self.open(ctx, serve(leaf).address, "localhost") as tls:
            assert tls.ocsp_status == "soft-fail: responder unreachable"

    def test_ocsp_endpoint_check_disabled(
        self, backend_name: str, features: FrozenSet[Feature], world: World, serve: Any
    ) -> None:
        """tlsDisableOCSPEndpointCheck: a revoked but unstapled certificate connects, no request."""
        from .ocsp_responder import OCSPResponder

        ca, ca_file = self._ocsp_ca(world)
        with OCSPResponder(ca) as responder:
            leaf = ca.issue_cert("localhost", "127.0.0.1", ocsp_url=responder.url)
            responder.set_status(leaf, "revoked")
            ctx = self.context(backend_name, ca_file=ca_file, disable_ocsp_endpoint_check=True)
            self.roundtrip(ctx, serve(leaf))
            assert responder.requests == 0

    def test_ocsp_deferred_hook(
        self, backend_name: str, features: FrozenSet[Feature], world: World, serve: Any
    ) -> None:
        """wrap_buffers with the DeferredOCSP hook asks no responder in do_handshake."""
        self.require(features, Feature.SANS_IO, Feature.OCSP_ENDPOINT)
        import asyncio
        import socket

        from tlsplug import ocsp
        from tlsplug.backend import DeferredOCSP

        from .ocsp_responder import OCSPResponder

        ca, ca_file = self._ocsp_ca(world)
        with OCSPResponder(ca) as responder:
            leaf = ca.issue_cert("localhost", "127.0.0.1", ocsp_url=responder.url)
            responder.set_status(leaf, "good")
            server = serve(leaf)
            buf = self.context(backend_name, ca_file=ca_file).wrap_buffers("localhost")
            if not isinstance(buf, DeferredOCSP):
                # The hook is optional ("should", TLSBuffer): without it do_handshake asks
                # the responder itself, synchronously - the documented default.
                with socket.create_connection(server.address, timeout=TIMEOUT) as sock:
                    self.pump_handshake(buf, sock)
                assert responder.requests == 1
                assert getattr(buf, "ocsp_status", None) == "good (responder)"
                return
            buf.defer_ocsp_endpoint_check = True
            with socket.create_connection(server.address, timeout=TIMEOUT) as sock:
                self.pump_handshake(buf, sock)
                assert responder.requests == 0, "do_handshake asked a responder"
                kwargs = buf.deferred_ocsp_check()
                assert kwargs is not None
                verdict = asyncio.run(ocsp.post_handshake_check_async(**kwargs))
                buf.record_ocsp_verdict(verdict)
                assert buf.deferred_ocsp_check() is None
                assert getattr(buf, "ocsp_status", None) == "good (responder)"
                assert responder.requests == 1
