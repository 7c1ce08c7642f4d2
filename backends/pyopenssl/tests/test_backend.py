"""The pyOpenSSL backend against the stdlib one: registry, verdicts, codes, shapes."""

from __future__ import annotations

import datetime
import socket
import ssl
import warnings
from pathlib import Path
from typing import Any, List, Optional, Tuple

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import tlsplug
from tlsplug.backend import CertificateError, HandshakeError, TLSError, TLSOptions, WantReadError
from tlsplug.testing import PKI, RawServer, TLSServer
from tlsplug_pyopenssl import backend
from tlsplug_pyopenssl._translate import _token, openssl_version

BOTH = ["stdlib", "pyopenssl"]


def _outcome(backend_name: str, opts: TLSOptions, address: Any, host: str = "localhost") -> str:
    """'ok' or the error code, for one backend and one server."""
    try:
        ctx = tlsplug.get_backend(backend_name).create_context(opts)
        tls = ctx.wrap_socket(socket.create_connection(address, timeout=5), server_hostname=host)
    except TLSError as exc:
        return exc.code if exc.backend == backend_name else f"wrong backend {exc.backend}"
    tls.close()
    return "ok"


def test_registered_with_priority_and_features() -> None:
    """The entry point loads this object; auto picks it; versions name the bundled OpenSSL."""
    assert tlsplug.get_backend("pyopenssl") is backend
    assert backend.priority > tlsplug.get_backend("stdlib").priority
    assert {f.value for f in backend.features} >= {"crl", "crl-der", "client-cert", "sans-io"}
    assert set(backend.versions()) == {"pyopenssl", "cryptography", "openssl"}
    assert backend.versions()["openssl"].startswith("OpenSSL")


def test_uri_backend_choice_wins_over_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    """tlsBackend=stdlib in the URI uses stdlib although pyOpenSSL is installed; auto does not."""
    monkeypatch.delenv("TLSPLUG_BACKEND", raising=False)
    opts = TLSOptions.parse("mongodb://db.example.com/?tls=true&tlsBackend=stdlib")
    assert tlsplug.create_context(opts).backend_name == "stdlib"
    assert tlsplug.create_context(TLSOptions(enabled=True)).backend_name == "pyopenssl"


def test_getpeercert_dict_equals_stdlib(options: Any, ppki: PKI) -> None:
    """The dict form of the peer certificate is exactly what ssl builds (IPv6 SAN included)."""
    dicts = []
    with TLSServer(cert=ppki.leaf) as srv:
        for name in BOTH:
            ctx = tlsplug.get_backend(name).create_context(options())
            with ctx.wrap_socket(
                socket.create_connection(srv.address, timeout=5), server_hostname="localhost"
            ) as tls:
                dicts.append(tls.getpeercert())
                assert tls.getpeercert(True) == ppki.leaf.cert_der
                assert tls.peer_chain()[0] == ppki.leaf.cert_der
    assert dicts[0] == dicts[1]
    assert ("IP Address", "0:0:0:0:0:0:0:1") in dicts[1]["subjectAltName"]


def test_getpeercert_empty_when_unverified(options: Any, ppki: PKI) -> None:
    """Like ssl, the dict is empty when the chain was not verified (DER stays available)."""
    with TLSServer(cert=ppki.leaf) as srv, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ctx = backend.create_context(options(insecure=True))
        with ctx.wrap_socket(
            socket.create_connection(srv.address, timeout=5), server_hostname="localhost"
        ) as tls:
            assert tls.getpeercert() == {}
            assert tls.getpeercert(True) == ppki.leaf.cert_der


def test_verify_number_decides_code_and_message(options: Any, ppki: PKI) -> None:
    """An expired leaf: cert-expired, OpenSSL's own words, the native error as the cause."""
    from OpenSSL import SSL

    expired = ppki.intermediate.issue_cert("localhost", expired=True)
    with TLSServer(cert=expired) as srv, pytest.raises(CertificateError) as info:
        backend.create_context(options()).wrap_socket(
            socket.create_connection(srv.address, timeout=5), server_hostname="localhost"
        )
    assert info.value.code == "cert-expired"
    assert "certificate has expired" in info.value.message
    assert "verify error 10" in info.value.message
    assert isinstance(info.value.__cause__, SSL.Error)


@pytest.mark.parametrize("encoding", ["pem", "der"])
def test_crl_revokes_leaf(encoding: str, options: Any, ppki: PKI, tmp_path: Path) -> None:
    """A CRL of the leaf's issuer listing it (PEM or DER): cert-revoked on both backends."""
    crl = ppki.intermediate.write_crl(tmp_path / f"crl.{encoding}", [ppki.leaf], encoding=encoding)
    opts = options(crl_file=str(crl))
    with TLSServer(cert=ppki.leaf) as srv:
        assert [_outcome(b, opts, srv.address) for b in BOTH] == ["cert-revoked"] * 2


def test_protocol_version_hint_names_pyopenssl_openssl(
    options: Any, rsa_pki: PKI, tmp_path: Path
) -> None:
    """A TLS 1.1-only server under modern: protocol-version, hint naming the bundled OpenSSL."""
    ca = rsa_pki.root.write_cert(tmp_path / "ca.pem")
    legacy = TLSServer.legacy(rsa_pki.leaf, max_version=ssl.TLSVersion.TLSv1_1)
    with legacy as srv, pytest.raises(HandshakeError) as info:
        backend.create_context(options(ca_file=str(ca))).wrap_socket(
            socket.create_connection(srv.address, timeout=5), server_hostname="localhost"
        )
    assert info.value.code == "protocol-version"
    assert openssl_version() in info.value.hint


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_missing_client_cert_is_handshake_failure(
    version: ssl.TLSVersion, options: Any, ppki: PKI
) -> None:
    """A server requiring a client certificate we lack: handshake-failure on both backends.

    Under TLS 1.2 the server answers with a handshake_failure alert *after* its ServerHello,
    which must not be mistaken for no-shared-cipher.
    """
    srv = TLSServer(cert=ppki.leaf, require_client_cert=ppki.intermediate, max_version=version)
    with srv:
        outcomes = []
        for name in BOTH:
            try:
                ctx = tlsplug.get_backend(name).create_context(options())
                tls = ctx.wrap_socket(
                    socket.create_connection(srv.address, timeout=5), server_hostname="localhost"
                )
                tls.sendall(b"x")  # TLS 1.3: the refusal arrives after our Finished
                tls.recv(1)
                outcomes.append("ok")
            except TLSError as exc:
                outcomes.append(exc.code)
    if version == ssl.TLSVersion.TLSv1_2:
        assert outcomes == ["handshake-failure"] * 2
    else:
        # The certificate_required alert races the server's close: whether it is read before
        # the EOF (or a reset) is timing, on either backend.
        assert set(outcomes) <= {"handshake-failure", "connection-closed"}


def test_openssl4_alert_names_map_to_openssl3_tokens() -> None:
    """OpenSSL 4.0's "tls alert handshake failure" is 3.0's SSLV3_ALERT_HANDSHAKE_FAILURE."""
    assert _token("tls alert handshake failure") == "SSLV3_ALERT_HANDSHAKE_FAILURE"
    assert _token("sslv3 alert handshake failure") == "SSLV3_ALERT_HANDSHAKE_FAILURE"
    assert _token("tlsv13 alert certificate required") == "TLSV13_ALERT_CERTIFICATE_REQUIRED"


@pytest.mark.parametrize("profile", ["modern", "legacy"])
def test_cipher_lists_expand_identically(profile: str) -> None:
    """OpenSSL 3.0 (ssl) and 4.0 (pyOpenSSL) expand the pinned lists to the same suites."""
    from OpenSSL import SSL

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opts = TLSOptions(enabled=True, profile=profile)
        ours = backend.create_context(opts)
        theirs = tlsplug.get_backend("stdlib").create_context(opts)
    expanded = SSL.Connection(ours.native, None).get_cipher_list()  # type: ignore[attr-defined]
    assert expanded == [c["name"] for c in theirs.ssl_context.get_ciphers()]  # type: ignore[attr-defined]


# -- X509_STRICT: the checks OpenSSL 4.0 dropped ------------------------------------------


def _name(cn: Optional[str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else [])


def _cert(
    subject: x509.Name,
    key: Any,
    issuer: x509.Name,
    issuer_key: Any,
    extensions: List[Tuple[x509.ExtensionType, bool]],
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
    )
    for ext, critical in extensions:
        builder = builder.add_extension(ext, critical=critical)
    return builder.sign(issuer_key, hashes.SHA256())


def _odd_chain(
    tmp_path: Path, *, root_bc_critical: bool, leaf_subject: Optional[str], san_critical: bool
) -> Tuple[Path, Path, Path]:
    root_key = ec.generate_private_key(ec.SECP256R1())
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    root = _cert(_name("odd root"), root_key, _name("odd root"), root_key, [
        (x509.BasicConstraints(ca=True, path_length=None), root_bc_critical),
        (x509.KeyUsage(True, False, False, False, False, True, True, False, False), True),
        (x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), False),
    ])
    leaf = _cert(_name(leaf_subject), leaf_key, _name("odd root"), root_key, [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (x509.KeyUsage(True, False, False, False, False, False, False, False, False), True),
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
        (x509.SubjectAlternativeName([x509.DNSName("localhost")]), san_critical),
        (x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), False),
    ])
    pem = serialization.Encoding.PEM
    ca_file = tmp_path / "odd-ca.pem"
    ca_file.write_bytes(root.public_bytes(pem))
    cert_file = tmp_path / "odd-leaf.pem"
    cert_file.write_bytes(leaf.public_bytes(pem))
    key_file = tmp_path / "odd-key.pem"
    key_file.write_bytes(leaf_key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ))
    return ca_file, cert_file, key_file


def _ssl_server(cert_file: Path, key_file: Path) -> RawServer:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert_file), str(key_file))

    def serve(conn: socket.socket) -> None:
        with ctx.wrap_socket(conn, server_side=True) as tls:
            tls.recv(1)

    return RawServer(serve).start()


@pytest.mark.parametrize(
    ("case", "kwargs"),
    [
        ("CA basicConstraints not critical",
         {"root_bc_critical": False, "leaf_subject": "localhost", "san_critical": False}),
        ("empty subject, SAN not critical",
         {"root_bc_critical": True, "leaf_subject": None, "san_critical": False}),
        ("control: strict-clean",
         {"root_bc_critical": True, "leaf_subject": None, "san_critical": True}),
    ],
)
def test_strict_checks_openssl4_dropped_agree(case: str, kwargs: Any, tmp_path: Path) -> None:
    """Both backends refuse (modern) or accept (legacy, no X509_STRICT) the same chains."""
    ca_file, cert_file, key_file = _odd_chain(tmp_path, **kwargs)
    srv = _ssl_server(cert_file, key_file)
    try:
        modern = [_outcome(b, TLSOptions(enabled=True, ca_file=str(ca_file)), srv.address)
                  for b in BOTH]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            legacy = [
                _outcome(b, TLSOptions(enabled=True, ca_file=str(ca_file), profile="legacy"),
                         srv.address)
                for b in BOTH
            ]
    finally:
        srv.stop()
    expected = "ok" if case.startswith("control") else "cert-invalid"
    assert modern == [expected, expected], case
    assert legacy == ["ok", "ok"], case


# -- sans-IO ---------------------------------------------------------------------------


def _pump(buf: Any, sock: socket.socket, step: Any) -> Any:
    """Run ``step`` until it stops wanting bytes, moving bytes over ``sock``."""
    while True:
        try:
            result = step()
        except WantReadError:
            sock.sendall(buf.pull_outgoing())
            data = sock.recv(65536)
            if data:
                buf.receive_from_network(data)
            else:
                buf.receive_eof()
            continue
        sock.sendall(buf.pull_outgoing())
        return result


def test_wrap_buffers_round_trip_and_ragged_eof(options: Any, ppki: PKI) -> None:
    """Memory BIOs: handshake, echo, then a transport EOF without close_notify reads b""."""
    with TLSServer(cert=ppki.leaf) as srv:
        sock = socket.create_connection(srv.address, timeout=5)
        buf = backend.create_context(options()).wrap_buffers(server_hostname="localhost")
        _pump(buf, sock, buf.do_handshake)
        assert buf.version() in ("TLSv1.2", "TLSv1.3")
        assert buf.write(b"hello") == 5
        assert _pump(buf, sock, lambda: buf.read(5)) == b"hello"
        buf.shutdown()
        assert buf.pull_outgoing()  # the close_notify alert
        buf.receive_eof()
        assert buf.read(5) == b""
        buf.shutdown()  # again, after the EOF: nothing to send, no error
        sock.close()


@pytest.mark.parametrize("host", ["x" * 70 + ".com", "a..b", ""])
def test_invalid_server_hostname_refused_like_stdlib(host: str, options: Any) -> None:
    """Names the IDNA codec refuses are invalid-option on both backends, before any byte."""
    from tlsplug.backend import ConfigurationError
    from tlsplug.testing import stall

    with RawServer(stall) as srv:
        for name in BOTH:
            ctx = tlsplug.get_backend(name).create_context(options())
            with socket.create_connection(srv.address, timeout=2) as sock, pytest.raises(
                ConfigurationError
            ) as info:
                ctx.wrap_socket(sock, server_hostname=host)
            assert info.value.code == "invalid-option"
