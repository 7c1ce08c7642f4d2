"""The stdlib backend's own guarantees: the pinned policy, CRL loading, the error mapping."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import ssl
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest

import tlsplug
from tlsplug._stdlib import StdlibContext, backend
from tlsplug._stdlib._sslcontext import build_ssl_context
from tlsplug._stdlib._translate import translate
from tlsplug.backend import (
    LEGACY_CIPHERS,
    MODERN_CIPHERS,
    TLS13_CIPHERSUITES,
    Backend,
    CertificateError,
    ClientContext,
    ConfigurationError,
    Feature,
    HandshakeError,
    TLSBuffer,
    TLSOptions,
    TLSSocket,
    WantReadError,
    load_materials,
)
from tlsplug.testing.pki import CA, LeafCert
from tlsplug.testing.servers import TLSServer

TIMEOUT = 5.0
PASSWORD = "stdlib-s3cret"


class Files:
    """A small PKI written to disk for these tests."""

    def __init__(self, directory: Path) -> None:
        self.root = CA("stdlib test root")
        self.intermediate = self.root.create_intermediate("stdlib test intermediate")
        self.leaf = self.intermediate.issue_cert("localhost", "127.0.0.1")
        self.revoked = self.intermediate.issue_cert("localhost", "127.0.0.1")
        self.ca_file = str(self.root.write_cert(directory / "ca.pem"))
        self.crl_der = str(self.intermediate.write_crl(
            directory / "crl.der", [self.revoked], encoding="der"))
        self.crl_pem = str(self.intermediate.write_crl(directory / "crl.pem", [self.revoked]))
        client = self.intermediate.issue_cert("client", client=True, server=False)
        plain = client.write(directory, basename="client")
        enc = client.write(directory, basename="client-enc", password=PASSWORD.encode())
        assert plain.combined_file is not None
        assert enc.combined_file is not None
        self.client = client
        self.client_plain = str(plain.combined_file)
        self.client_encrypted = str(enc.combined_file)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    """The module's PKI and files."""
    return Files(tmp_path_factory.mktemp("stdlib"))


def make(**options: Any) -> StdlibContext:
    """A stdlib context for ``TLSOptions(enabled=True, **options)``, warnings silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tlsplug.SecurityWarning)
        return backend.create_context(TLSOptions(enabled=True, backend="stdlib", **options))


@pytest.fixture
def server(files: Files) -> Iterator[TLSServer]:
    """An echo server for the module's leaf."""
    with TLSServer(cert=files.leaf, timeout=TIMEOUT) as srv:
        yield srv


def connect(ctx: StdlibContext, srv: TLSServer, host: Optional[str] = "localhost") -> Any:
    """TCP-connect to ``srv`` and wrap the socket with ``ctx``."""
    sock = socket.create_connection(srv.address, timeout=TIMEOUT)
    try:
        return ctx.wrap_socket(sock, server_hostname=host)
    except BaseException:
        sock.close()
        raise


# -- the backend object ----------------------------------------------------------------


def test_backend_identity() -> None:
    """The registered object is named stdlib, priority 10, with the declared features."""
    assert tlsplug.get_backend("stdlib") is backend
    assert (backend.name, backend.priority) == ("stdlib", 10)
    # Responders need the verified chain (Python 3.10+, tlsplug._stdlib._ocsp); no staples.
    ocsp = {Feature.OCSP_ENDPOINT} if sys.version_info >= (3, 10) else set()
    assert backend.features == {
        Feature.CRL, Feature.CRL_DER, Feature.CLIENT_CERT, Feature.ENCRYPTED_KEY,
        Feature.LEGACY_PROFILE, Feature.SANS_IO, Feature.ASYNCIO, Feature.SESSION_RESUMPTION,
        *ocsp,
    }
    assert backend.versions() == {
        "openssl": ssl.OPENSSL_VERSION, "python": ".".join(map(str, sys.version_info[:3]))
    }


def test_check_accepts_every_option(files: Files) -> None:
    """check() accepts OCSP-related options it cannot carry out, and contexts carry them."""
    for options in (
        TLSOptions(enabled=True, backend="stdlib", ca_file=files.ca_file, crl_file=files.crl_pem),
        TLSOptions(enabled=True, backend="stdlib", disable_ocsp_endpoint_check=True),
    ):
        backend.check(options)  # raises ConfigurationError when unsupported
        assert backend.create_context(options).options is options


# -- the pinned policy -------------------------------------------------------------------


@pytest.mark.parametrize(("profile", "ciphers"), [("modern", MODERN_CIPHERS),
                                                  ("legacy", LEGACY_CIPHERS)])
def test_cipher_list_is_pinned(profile: str, ciphers: str) -> None:
    """get_ciphers() is exactly the TLS 1.3 defaults then the profile's list, in order."""
    names = [c["name"] for c in make(profile=profile).ssl_context.get_ciphers()]
    expected = TLS13_CIPHERSUITES.split(":") + [
        name for name in ciphers.split(":") if not name.startswith("@")
    ]
    assert names == expected


@pytest.mark.parametrize(
    ("profile", "minimum", "flags"),
    [
        ("modern", ssl.TLSVersion.TLSv1_2, 0x20 | 0x80000),  # X509_STRICT | PARTIAL_CHAIN
        ("legacy", ssl.TLSVersion.TLSv1, 0x80000),  # PARTIAL_CHAIN only
    ],
)
def test_versions_and_verify_flags_are_pinned(
    profile: str, minimum: ssl.TLSVersion, flags: int
) -> None:
    """Version bounds and verify flags are assigned exactly, not inherited from defaults."""
    ctx = make(profile=profile).ssl_context
    assert ctx.minimum_version == minimum
    assert ctx.maximum_version == ssl.TLSVersion.TLSv1_3
    assert int(ctx.verify_flags) == flags
    assert ctx.hostname_checks_common_name is False


def test_crl_adds_crl_check_flag(files: Files) -> None:
    """With tlsCRLFile the verify flags gain CRL_CHECK (leaf only) and nothing else."""
    ctx = make(ca_file=files.ca_file, crl_file=files.crl_pem).ssl_context
    assert int(ctx.verify_flags) == 0x20 | 0x80000 | int(ssl.VERIFY_CRL_CHECK_LEAF)


@pytest.mark.parametrize("profile", ["modern", "legacy"])
def test_options_are_pinned(profile: str) -> None:
    """No compression, no renegotiation, legacy server connect only under legacy."""
    options = int(make(profile=profile).ssl_context.options)
    assert options & ssl.OP_NO_COMPRESSION
    assert options & ssl.OP_NO_RENEGOTIATION
    assert bool(options & 0x4) is (profile == "legacy")  # SSL_OP_LEGACY_SERVER_CONNECT
    if ssl.OPENSSL_VERSION_INFO >= (3, 0):
        assert not options & 0x80  # SSL_OP_IGNORE_UNEXPECTED_EOF, set by 3.9's default


@pytest.mark.parametrize(
    ("relax", "mode", "check_hostname"),
    [
        ({}, ssl.CERT_REQUIRED, True),
        ({"allow_invalid_hostnames": True}, ssl.CERT_REQUIRED, False),
        ({"allow_invalid_certificates": True}, ssl.CERT_NONE, False),
        ({"insecure": True}, ssl.CERT_NONE, False),
    ],
)
def test_verify_mode_per_relaxing_option(relax: Any, mode: int, check_hostname: bool) -> None:
    """Each relaxing option sets exactly its verify_mode and check_hostname."""
    ctx = make(**relax).ssl_context
    assert ctx.verify_mode == mode
    assert ctx.check_hostname is check_hostname


# -- trust and CRL loading ---------------------------------------------------------------


def test_ca_file_replaces_system_store(files: Files) -> None:
    """With tlsCAFile the store holds exactly that root."""
    assert make(ca_file=files.ca_file).ssl_context.cert_store_stats()["x509_ca"] == 1


def test_der_crl_is_converted(files: Files, server: TLSServer) -> None:
    """A DER CRL is loaded (converted to PEM) and still lets an unrevoked leaf through."""
    ctx = make(ca_file=files.ca_file, crl_file=files.crl_der)
    assert ctx.ssl_context.cert_store_stats()["crl"] == 1
    with connect(ctx, server) as tls:
        assert tls.version() == "TLSv1.3"


def test_crl_file_certificates_are_not_trusted(files: Files, tmp_path: Path) -> None:
    """Certificates appended to a CRL file never become trust anchors."""
    mixed = tmp_path / "mixed.pem"
    mixed.write_bytes(Path(files.crl_pem).read_bytes() + files.intermediate.cert_pem)
    stats = make(ca_file=files.ca_file, crl_file=str(mixed)).ssl_context.cert_store_stats()
    assert (stats["x509"], stats["crl"]) == (1, 1)


def test_crl_temporary_file_is_removed(files: Files, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The temporary PEM copy of the CRL is deleted once loaded."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    make(ca_file=files.ca_file, crl_file=files.crl_der)
    assert list(tmp_path.iterdir()) == []


def test_system_store_when_no_ca_file(server: TLSServer) -> None:
    """Without tlsCAFile the system store is used, so the test root is untrusted."""
    with pytest.raises(CertificateError) as info:
        connect(make(), server)
    assert info.value.code == "cert-untrusted"


# -- client keys -------------------------------------------------------------------------


def test_password_callback_never_prompts(files: Files) -> None:
    """An encrypted key reaching OpenSSL without a password fails instead of prompting."""
    options = TLSOptions(enabled=True, certificate_key_file=files.client_encrypted)
    materials = load_materials(TLSOptions(enabled=True))
    with pytest.raises(ConfigurationError) as info:
        build_ssl_context(options, materials)
    assert info.value.code == "password-required"
    assert info.value.path == files.client_encrypted


def test_wrong_password_at_openssl(files: Files) -> None:
    """A wrong password reaching OpenSSL is bad-password and the password is never shown."""
    options = TLSOptions(enabled=True, certificate_key_file=files.client_encrypted,
                         certificate_key_file_password="wrong-one")
    with pytest.raises(ConfigurationError) as info:
        build_ssl_context(options, load_materials(TLSOptions(enabled=True)))
    assert info.value.code == "bad-password"
    assert "wrong-one" not in str(info.value)
    assert info.value.__cause__ is None


def test_encrypted_key_loads(files: Files) -> None:
    """The encrypted client key loads with its password and is presented to the server."""
    ctx = make(ca_file=files.ca_file, certificate_key_file=files.client_encrypted,
               certificate_key_file_password=PASSWORD)
    with TLSServer(cert=files.leaf, require_client_cert=files.root, timeout=TIMEOUT) as srv:
        with connect(ctx, srv) as tls:
            tls.sendall(b"ping")
            assert tls.recv(4) == b"ping"
        assert srv.wait_handled(1, timeout=TIMEOUT)
        assert srv.peer_certs == [files.client.certificate]


def _outcome_as(uid: Optional[int], path: str) -> str:
    """make(ca_file=path)'s outcome, as ``uid`` (a forked child that drops to it) or as we are."""
    if uid is None:
        try:
            make(ca_file=path)
        except ConfigurationError as exc:
            return f"{exc.code}|{exc.option}|{exc.path}"
        return "ok"
    read_fd, write_fd = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12+ warns that fork() with threads may deadlock the child; the child only
        # runs already-imported code and exits.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        outcome = "child-crashed"
        try:
            os.setgid(uid)
            os.setuid(uid)
            outcome = _outcome_as(None, path)
        except BaseException as exc:
            outcome = f"child-error {type(exc).__name__}: {exc}"
        finally:
            os.write(write_fd, outcome.encode("utf-8", "replace"))
            os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as reader:
        got = reader.read().decode("utf-8")
    os.waitpid(pid, 0)
    return got


@pytest.mark.skipif(os.name != "posix", reason="needs POSIX file permissions")
def test_unreadable_file(files: Files) -> None:
    """A file without read permission is file-unreadable naming option and path, even as root.

    Root reads any file, so as root the check runs in a forked child that drops to the
    unprivileged uid 65534 first (as tests/faults/test_faults_files.py does).
    """
    base = Path(tempfile.mkdtemp(prefix="tlsplug-stdlib-"))
    try:
        base.chmod(0o711)  # the unprivileged child must reach the file
        path = base / "ca.pem"
        path.write_bytes(Path(files.ca_file).read_bytes())
        path.chmod(0)
        outcome = _outcome_as(65534 if os.geteuid() == 0 else None, str(path))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    assert outcome == f"file-unreadable|tlsCAFile|{path}"


# -- sockets -----------------------------------------------------------------------------


def test_peer_chain_per_interpreter(files: Files, server: TLSServer) -> None:
    """peer_chain() is the full sent chain on 3.10+ and the leaf alone on 3.9."""
    with connect(make(ca_file=files.ca_file), server) as tls:
        chain = tls.peer_chain()
    if sys.version_info >= (3, 10):
        assert chain == [files.leaf.cert_der, files.intermediate.cert_der]
    else:
        assert chain == [files.leaf.cert_der]


def test_socket_surface(files: Files, server: TLSServer) -> None:
    """recv_into, timeouts, session_reused and ocsp_status behave as documented."""
    with connect(make(ca_file=files.ca_file), server) as tls:
        assert tls.gettimeout() == TIMEOUT
        tls.settimeout(2.0)
        assert tls.gettimeout() == 2.0
        tls.sendall(b"abc")
        buf = bytearray(16)
        assert tls.recv_into(buf) == 3
        assert bytes(buf[:3]) == b"abc"
        assert tls.session_reused is False
        # The test leaf names no OCSP responder: a soft-fail (3.9: no chain to ask with).
        assert tls.ocsp_status == (
            "soft-fail: no responder" if sys.version_info >= (3, 10)
            else "soft-fail: issuer not found"
        )
        assert tls.fileno() >= 0
    assert tls.fileno() == -1


def test_server_hostname_required_when_verifying(server: TLSServer) -> None:
    """wrap_socket without server_hostname while verifying hosts is a ConfigurationError."""
    with pytest.raises(ConfigurationError) as info:
        connect(make(), server, host=None)
    assert info.value.option == "server_hostname"


@pytest.mark.parametrize("host", ["", "a" * 64 + ".example", "bad..name"])
def test_invalid_server_hostname(server: TLSServer, host: str) -> None:
    """An unusable server_hostname is a ConfigurationError naming it, before any handshake."""
    with pytest.raises(ConfigurationError) as info:
        connect(make(), server, host=host)
    assert (info.value.code, info.value.option) == ("invalid-option", "server_hostname")


def test_non_blocking_socket_refused(server: TLSServer) -> None:
    """A non-blocking socket is refused: wrap_buffers is the non-blocking API."""
    sock = socket.create_connection(server.address, timeout=TIMEOUT)
    sock.setblocking(False)
    with sock, pytest.raises(ValueError, match="wrap_buffers"):
        make().wrap_socket(sock, server_hostname="localhost")


def test_failed_handshake_closes_socket(files: Files, server: TLSServer) -> None:
    """A refused handshake leaves no open descriptor behind."""
    sock = socket.create_connection(server.address, timeout=TIMEOUT)
    with pytest.raises(CertificateError):
        make(ca_file=files.ca_file).wrap_socket(sock, server_hostname="wrong.example")
    assert sock.fileno() == -1


# -- the translation choke point ---------------------------------------------------------


def _ssl_error(reason: str) -> ssl.SSLError:
    exc = ssl.SSLError(1, f"[SSL: {reason}] test ({reason.lower()})")
    exc.reason = reason
    exc.library = "SSL"
    return exc


@pytest.mark.parametrize(
    ("reason", "negotiated", "code"),
    [
        ("SSLV3_ALERT_HANDSHAKE_FAILURE", False, "no-shared-cipher"),
        ("SSLV3_ALERT_HANDSHAKE_FAILURE", True, "handshake-failure"),
        ("NO_SHARED_CIPHER", False, "no-shared-cipher"),
        ("NO_CIPHERS_AVAILABLE", False, "no-shared-cipher"),
        ("NO_SUITABLE_SIGNATURE_ALGORITHM", False, "no-shared-cipher"),
        ("UNSUPPORTED_PROTOCOL", False, "protocol-version"),
        ("TLSV1_ALERT_PROTOCOL_VERSION", False, "protocol-version"),
        ("WRONG_VERSION_NUMBER", False, "not-tls"),
        ("RECORD_LAYER_FAILURE", False, "not-tls"),
        ("PACKET_LENGTH_TOO_LONG", False, "not-tls"),
        ("HTTP_REQUEST", False, "not-tls"),
        ("TLSV13_ALERT_CERTIFICATE_REQUIRED", True, "handshake-failure"),
        ("TLSV1_ALERT_UNKNOWN_CA", True, "handshake-failure"),
        ("UNEXPECTED_EOF_WHILE_READING", False, "connection-closed"),
        ("SOMETHING_NEW", False, "handshake-failure"),
    ],
)
def test_reason_mapping(reason: str, negotiated: bool, code: str) -> None:
    """Each OpenSSL reason maps to its docs/design.md code, keeping the reason in the message."""
    err = translate(_ssl_error(reason), handshake=True, negotiated=lambda: negotiated)
    assert err is not None
    assert (err.code, err.backend) == (code, "stdlib")
    assert reason in err.message


def test_client_certificate_refusal_is_explained() -> None:
    """A server refusing our client certificate gets a message and hint saying so."""
    err = translate(_ssl_error("TLSV13_ALERT_CERTIFICATE_REQUIRED"), handshake=False)
    assert err is not None
    assert "client certificate" in err.message
    assert "tlsCertificateKeyFile" in err.hint


@pytest.mark.parametrize(
    ("verify_code", "code"),
    [(20, "cert-untrusted"), (10, "cert-expired"), (9, "cert-not-yet-valid"),
     (62, "hostname-mismatch"), (64, "hostname-mismatch"), (23, "cert-revoked"),
     (79, "cert-invalid")],
)
def test_verify_code_mapping(verify_code: int, code: str) -> None:
    """SSLCertVerificationError maps through its verify_code and quotes verify_message."""
    exc = ssl.SSLCertVerificationError(1, "certificate verify failed")
    exc.verify_code = verify_code
    exc.verify_message = "some OpenSSL words"
    err = translate(exc, handshake=True)
    assert isinstance(err, CertificateError)
    assert err.code == code
    assert "some OpenSSL words" in err.message


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (socket.timeout("timed out"), "timeout"),
        (TimeoutError("timed out"), "timeout"),
        (ConnectionResetError(104, "reset"), "connection-closed"),
        (BrokenPipeError(32, "broken pipe"), "connection-closed"),
        (ssl.SSLEOFError(8, "EOF occurred in violation of protocol"), "connection-closed"),
        (ssl.SSLZeroReturnError(6, "TLS/SSL connection has been closed"), "connection-closed"),
        (OSError(22, "invalid argument"), "handshake-failure"),
    ],
)
def test_os_error_mapping(exc: BaseException, code: str) -> None:
    """Socket-level failures map to timeout / connection-closed / handshake-failure."""
    err = translate(exc, handshake=True)
    assert isinstance(err, HandshakeError)
    assert err.code == code


def test_non_network_errors_pass_through() -> None:
    """Errors that are not network failures are not translated."""
    assert translate(KeyError("x"), handshake=True) is None
    assert translate(CertificateError("x", code="cert-untrusted"), handshake=True) is None


def test_native_error_is_the_cause(server: TLSServer) -> None:
    """A translated error chains the native ssl exception."""
    with pytest.raises(CertificateError) as info:
        connect(make(), server)
    assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)


def test_legacy_server_tls10(tmp_path: Path) -> None:
    """The legacy profile reaches a TLS 1.0, AES256-SHA server on this interpreter."""
    rsa_root = CA("legacy root", "rsa")
    leaf: LeafCert = rsa_root.issue_cert("localhost")
    ca_file = str(rsa_root.write_cert(tmp_path / "ca.pem"))
    with TLSServer.legacy(leaf, max_version=ssl.TLSVersion.TLSv1, timeout=TIMEOUT) as srv, \
            connect(make(ca_file=ca_file, profile="legacy"), srv) as tls:
        assert (tls.version(), tls.cipher()[0]) == ("TLSv1", "AES256-SHA")


def test_objects_satisfy_the_protocols(files: Files, server: TLSServer) -> None:
    """Backend, context, socket and buffer satisfy the runtime-checkable protocols."""
    checked: Backend = backend  # also checked statically by mypy
    assert isinstance(checked, Backend)
    ctx: ClientContext = make(ca_file=files.ca_file)
    assert isinstance(ctx, ClientContext)
    buf: TLSBuffer = ctx.wrap_buffers("localhost")
    assert isinstance(buf, TLSBuffer)
    with connect(make(ca_file=files.ca_file), server) as tls:
        sock: TLSSocket = tls
        assert isinstance(sock, TLSSocket)


class MemoryServer:
    """A server-side SSLObject for a leaf over memory BIOs."""

    def __init__(self, leaf: LeafCert, tmp_path: Path) -> None:
        files = leaf.write(tmp_path, combined=False)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(files.cert_file), str(files.key_file))
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.incoming, self.outgoing, server_side=True)

    def pump(self, client: TLSBuffer) -> None:
        """Move pending bytes both ways once."""
        self.incoming.write(client.pull_outgoing())
        client.receive_from_network(self.outgoing.read())

    def handshake(self, client: TLSBuffer) -> None:
        """Drive both sides' handshakes to completion (bounded)."""
        for _ in range(10):
            with contextlib.suppress(ssl.SSLWantReadError):
                self.obj.do_handshake()
            self.pump(client)
            try:
                client.do_handshake()
            except WantReadError:
                continue
            self.pump(client)
            with contextlib.suppress(ssl.SSLWantReadError):
                self.obj.do_handshake()
            return
        pytest.fail("handshake did not complete in 10 round trips")


def test_buffers_in_memory_and_close_notify(files: Files, tmp_path: Path) -> None:
    """A TLSBuffer handshakes with an in-memory server; close_notify reads as b"" both ways."""
    server = MemoryServer(files.leaf, tmp_path)
    client = make(ca_file=files.ca_file).wrap_buffers("localhost")
    server.handshake(client)
    client.write(b"ping")
    server.pump(client)
    assert server.obj.read(4) == b"ping"
    with contextlib.suppress(ssl.SSLWantReadError):
        server.obj.unwrap()  # sends the server's close_notify
    server.pump(client)
    assert client.read(1024) == b""
    client.shutdown()
    server.pump(client)
    with pytest.raises(ssl.SSLZeroReturnError):
        server.obj.read(1024)


def test_buffers_ragged_eof_reads_empty(files: Files, tmp_path: Path) -> None:
    """receive_eof without close_notify after the handshake reads as b"" (ragged EOF)."""
    server = MemoryServer(files.leaf, tmp_path)
    client = make(ca_file=files.ca_file).wrap_buffers("localhost")
    server.handshake(client)
    client.receive_eof()
    assert client.read(1024) == b""


def test_buffers_eof_during_handshake(files: Files) -> None:
    """receive_eof before the handshake completes is connection-closed."""
    client = make(ca_file=files.ca_file).wrap_buffers("localhost")
    with pytest.raises(WantReadError):
        client.do_handshake()
    client.receive_eof()
    with pytest.raises(HandshakeError) as info:
        client.do_handshake()
    assert info.value.code == "connection-closed"
