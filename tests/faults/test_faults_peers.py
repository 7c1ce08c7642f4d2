"""Hostile and broken peers: every backend ends each case with the same precise code, in time."""

from __future__ import annotations

import contextlib
import functools
import shutil
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from faults_support import (
    TIMEOUT,
    StallingProxy,
    backend_names,
    bounded,
    elapsed,
    handshake_outcome,
    make_context,
)

from tlsplug.backend import ClientContext, HandshakeError, TLSError, TLSSocket
from tlsplug.testing._pki_build import DAY, build_certificate, key_usage
from tlsplug.testing._pki_keys import pooled_key, utcnow
from tlsplug.testing.pki import CA, LeafCert
from tlsplug.testing.servers import (
    RawServer,
    TLSServer,
    close_immediately,
    respond_with,
    stall,
)

LIMIT = 60.0  # watchdog for one whole case, all backends together (a hang, not a timing)
SLACK = 4.0  # seconds a timeout may overshoot on a loaded 2-core machine (LIMIT catches hangs)


class World:
    """The PKI of this module: one root, one intermediate, a few leaves."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.root = CA("faults peers root")
        self.intermediate = self.root.create_intermediate("faults peers intermediate")
        self.leaf = self.intermediate.issue_cert("localhost", "127.0.0.1")
        self.other = self.intermediate.issue_cert("other.example")
        self.ca_file = str(self.root.write_cert(directory / "ca.pem"))
        self.rsa_root = CA("faults peers rsa root", "rsa")
        self.rsa_leaf = self.rsa_root.issue_cert("localhost")
        self.rsa_ca_file = str(self.rsa_root.write_cert(directory / "rsa-ca.pem"))

    def context(self, backend: str, **fields: Any) -> ClientContext:
        """A verifying context trusting this module's root."""
        fields.setdefault("ca_file", self.ca_file)
        return make_context(backend, **fields)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """The module's PKI and files."""
    return World(tmp_path_factory.mktemp("faults-peers"))


def outcomes(world: World, address: Tuple[str, int], host: str = "localhost",
             *, timeout: float = TIMEOUT, **fields: Any) -> Dict[str, str]:
    """{backend: "ok" or code} for one handshake per backend, under the case watchdog."""
    def run() -> Dict[str, str]:
        return {
            name: handshake_outcome(world.context(name, **fields), address, host,
                                    timeout=timeout)
            for name in backend_names()
        }

    return bounded(run, LIMIT)


def every(code: str) -> Dict[str, str]:
    """The expected outcome map: ``code`` on every installed backend."""
    return {name: code for name in backend_names()}


# -- not TLS at all ------------------------------------------------------------------------

HTTP_REPLY = (
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n"
    b"Connection: close\r\n\r\nbad request"
)


def mongodb_op_reply() -> bytes:
    """A MongoDB wire-protocol OP_REPLY (opCode 1) with one empty BSON document."""
    document = struct.pack("<i", 5) + b"\x00"
    body = struct.pack("<iqii", 0, 0, 0, 1) + document
    header = struct.pack("<iiii", 16 + len(body), 7, 0, 1)
    return header + body


@pytest.mark.parametrize("reply", [HTTP_REPLY, mongodb_op_reply(), b"\x00" * 64],
                         ids=["http", "mongodb-op-reply", "zeros"])
def test_non_tls_reply_is_not_tls(world: World, reply: bytes) -> None:
    """A server answering the ClientHello with HTTP or MongoDB wire bytes is not-tls."""
    with RawServer(respond_with(reply), timeout=TIMEOUT) as server:
        assert outcomes(world, server.address) == every("not-tls")


def test_immediate_close_is_connection_closed(world: World) -> None:
    """A server closing before reading anything is connection-closed."""
    with RawServer(close_immediately, timeout=TIMEOUT) as server:
        assert outcomes(world, server.address) == every("connection-closed")


def _reset_after_client_hello(conn: socket.socket) -> None:
    conn.recv(65536)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()  # SO_LINGER 0: the kernel answers with RST instead of FIN


def test_reset_mid_handshake_is_connection_closed(world: World) -> None:
    """A TCP RST right after the ClientHello is connection-closed."""
    with RawServer(_reset_after_client_hello, timeout=TIMEOUT) as server:
        assert outcomes(world, server.address) == every("connection-closed")


def test_silent_server_times_out(world: World) -> None:
    """A server that reads the ClientHello and never answers ends at the socket timeout."""
    with RawServer(stall, timeout=TIMEOUT) as server:
        for name in backend_names():
            start = time.monotonic()
            code = bounded(functools.partial(handshake_outcome, world.context(name),
                                             server.address, timeout=1.0), LIMIT)
            took = elapsed(start)
            assert code == "timeout", name
            assert 0.9 <= took <= 1.0 + SLACK, (name, took)


@pytest.mark.parametrize("mode", ["stall", "drip"])
def test_stall_after_server_hello_times_out(world: World, mode: str) -> None:
    """A server whose flight stops after the ServerHello (or trickles) ends at the timeout.

    The socket timeout bounds the whole handshake, not each read, so a byte every 0.2 s
    cannot keep a client waiting forever.
    """
    timeout = 1.5
    with TLSServer(cert=world.leaf, timeout=TIMEOUT) as server, \
            StallingProxy(server.address, mode=mode, drip=0.2) as proxy:
        for name in backend_names():
            start = time.monotonic()
            code = bounded(functools.partial(handshake_outcome, world.context(name),
                                             proxy.address, timeout=timeout), LIMIT)
            took = elapsed(start)
            assert code == "timeout", name
            assert timeout - 0.1 <= took <= timeout + SLACK, (name, took)


# -- certificates a server should never send -----------------------------------------------


def _deep_chain(root: CA, depth: int) -> CA:
    ca = root
    for i in range(depth):
        ca = ca.create_intermediate(f"deep {i}", fresh_key=True)
    return ca


def test_fifty_intermediates(world: World, tmp_path: Path) -> None:
    """A chain of 50 intermediates is accepted or refused with one code on every backend."""
    root = CA("faults deep root")
    leaf = _deep_chain(root, 50).issue_cert("localhost")
    ca_file = str(root.write_cert(tmp_path / "deep-ca.pem"))
    with TLSServer(cert=leaf, timeout=TIMEOUT) as server:
        got = outcomes(world, server.address, ca_file=ca_file)
    # OpenSSL's default verify depth (100) allows 50 intermediates; tlsplug sets no limit.
    assert got == dict.fromkeys(backend_names(), "ok"), got


def test_huge_san_list(world: World, tmp_path: Path) -> None:
    """A leaf with ~100 KiB of subjectAltNames gives one clean outcome on every backend."""
    names = [f"host-{i:05d}.example" for i in range(6000)] + ["localhost"]
    leaf = world.intermediate.issue_cert(*names)
    assert len(leaf.cert_der) > 100 * 1024
    with TLSServer(cert=leaf, timeout=TIMEOUT) as server:
        got = outcomes(world, server.address)
    # The Certificate message passes the client's 100 KiB limit (OpenSSL's max_cert_list):
    # "excessive message size", a handshake-failure on every backend.
    assert got == dict.fromkeys(backend_names(), "handshake-failure"), got


def _leaf_with_raw_dns_names(issuer: CA, names: List[str]) -> LeafCert:
    """A server leaf whose SAN holds ``names`` verbatim (NUL bytes included)."""
    key = pooled_key(issuer.key_type, avoid=[issuer.private_key])
    sans: List[x509.GeneralName] = [x509.DNSName(n) for n in names]
    extensions: List[Tuple[x509.ExtensionType, bool]] = [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (key_usage(digital_signature=True,
                   key_encipherment=isinstance(key, rsa.RSAPrivateKey)), True),
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
        (x509.SubjectAlternativeName(sans), False),
    ]
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "nul byte test")])
    now = utcnow()
    cert = build_certificate(subject, key, issuer.certificate, issuer.private_key,
                             (now - DAY, now + DAY), None, extensions)
    return LeafCert(cert, key, issuer)


@pytest.mark.parametrize(("host", "expected"), [
    ("bad.example", "hostname-mismatch"),
    ("good.example", "hostname-mismatch"),
    ("localhost", "ok"),
])
def test_nul_byte_in_san(world: World, host: str, expected: str) -> None:
    """A DNS SAN "bad.example\\0.good.example" matches neither name; a clean SAN still works."""
    leaf = _leaf_with_raw_dns_names(world.intermediate,
                                    ["bad.example\x00.good.example", "localhost"])
    with TLSServer(cert=leaf, timeout=TIMEOUT) as server:
        assert outcomes(world, server.address, host) == every(expected)


def test_expired_intermediate(world: World) -> None:
    """A valid leaf under an expired intermediate is cert-expired."""
    now = utcnow()
    expired = world.root.create_intermediate(
        "faults expired intermediate", not_before=now - 30 * DAY, not_after=now - DAY
    )
    leaf = expired.issue_cert("localhost", not_before=now - 2 * DAY, not_after=now + DAY)
    with TLSServer(cert=leaf, timeout=TIMEOUT) as server:
        assert outcomes(world, server.address) == every("cert-expired")


class _SNISwitchingServer(TLSServer):
    """A TLS server that answers SNI ``localhost`` with another host's certificate."""

    def __init__(self, *, cert: LeafCert, wrong: LeafCert, **kwargs: Any) -> None:
        super().__init__(cert=cert, **kwargs)
        self.wrong = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with tempfile.TemporaryDirectory() as tmp:
            files = wrong.write(tmp, combined=False)
            self.wrong.load_cert_chain(str(files.cert_file), str(files.key_file))

    def _on_sni(self, sslobj: Any, server_name: Optional[str], ctx: ssl.SSLContext) -> None:
        super()._on_sni(sslobj, server_name, ctx)
        if server_name == "localhost":
            sslobj.context = self.wrong


def test_wrong_certificate_for_sni(world: World) -> None:
    """A server switching to another host's certificate for our SNI is hostname-mismatch."""
    with _SNISwitchingServer(cert=world.leaf, wrong=world.other, timeout=TIMEOUT) as server:
        assert outcomes(world, server.address, "localhost") == every("hostname-mismatch")
        # Only the name is wrong: the switched-to chain itself is trusted.
        assert outcomes(world, server.address, "localhost",
                        allow_invalid_hostnames=True) == every("ok")


def test_tls10_only_server_under_modern(world: World) -> None:
    """A TLS 1.0-only server is protocol-version under the modern profile."""
    with TLSServer.legacy(world.rsa_leaf, max_version=ssl.TLSVersion.TLSv1,
                          timeout=TIMEOUT) as server:
        got = outcomes(world, server.address, ca_file=world.rsa_ca_file)
    assert got == every("protocol-version")


# -- after the handshake ---------------------------------------------------------------------


def _server_context(leaf: LeafCert, *, max_version: Optional[ssl.TLSVersion] = None
                    ) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if max_version is not None:
        ctx.maximum_version = max_version
    with tempfile.TemporaryDirectory() as tmp:
        files = leaf.write(tmp, combined=False)
        ctx.load_cert_chain(str(files.cert_file), str(files.key_file))
    return ctx


GREETING = b"greeting from a faulty server\n"


def _ending(ctx: ssl.SSLContext, how: str) -> Callable[[socket.socket], None]:
    """A handler: handshake, send the greeting, then end the stream ``how``."""

    def handler(conn: socket.socket) -> None:
        tls = ctx.wrap_socket(conn, server_side=True)
        tls.sendall(GREETING)
        if how == "close_notify":
            tls.unwrap()  # sends close_notify and waits for the client's
        elif how == "rst":
            time.sleep(0.2)
            tls.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            socket.socket.close(tls)  # RST, without close_notify
        else:  # ragged: TCP FIN without close_notify
            time.sleep(0.2)
            socket.socket.shutdown(tls, socket.SHUT_RDWR)

    return handler


def _read_to_end(tls: TLSSocket) -> Tuple[bytes, str]:
    data = b""
    while True:
        try:
            chunk = tls.recv(4096)
        except TLSError as exc:
            return data, exc.code
        if not chunk:
            return data, "eof"
        data += chunk


@pytest.mark.parametrize(("how", "end"), [
    ("close_notify", "eof"),
    ("ragged", "eof"),
    ("rst", "eof"),
])
@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_end_of_stream_during_recv(world: World, how: str, end: str,
                                   version: ssl.TLSVersion) -> None:
    """close_notify, a ragged EOF and a TCP reset all read as b"" on every backend."""
    ctx = _server_context(world.leaf, max_version=version)

    def run() -> Dict[str, Tuple[bytes, str]]:
        got: Dict[str, Tuple[bytes, str]] = {}
        with RawServer(_ending(ctx, how), timeout=TIMEOUT) as server:
            for name in backend_names():
                sock = socket.create_connection(server.address, timeout=TIMEOUT)
                with world.context(name).wrap_socket(sock, server_hostname="localhost") as tls:
                    got[name] = _read_to_end(tls)
        return got

    got = bounded(run, LIMIT)
    assert got == {name: (GREETING, end) for name in backend_names()}


class _RenegotiatingServer:
    """``openssl s_server`` (TLS 1.2 only) asking to renegotiate after each client line.

    The command line tool needs no Python TLS package, so every env tests its own backend.
    Its interactive command ``r`` sends a HelloRequest; :attr:`refusals` counts the
    connections whose client answered with a refusal (s_server logs "no renegotiation").
    """

    def __init__(self, leaf: LeafCert) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="tlsplug-reneg-")
        directory = Path(self._dir.name)
        files = leaf.write(directory, combined=False, basename="server")
        cert = directory / "leaf.pem"
        cert.write_bytes(leaf.cert_pem)
        chain = directory / "chain.pem"
        chain.write_bytes(b"".join(ca.cert_pem for ca in leaf.chain))
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.address = ("127.0.0.1", int(probe.getsockname()[1]))
        self.lines: List[str] = []
        self._ready = threading.Event()
        self._proc = subprocess.Popen(
            ["openssl", "s_server", "-accept", f"127.0.0.1:{self.address[1]}",
             "-cert", str(cert), "-cert_chain", str(chain), "-key", str(files.key_file),
             "-tls1_2"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        self._reader = threading.Thread(target=self._read, name="s_server-output")
        self._reader.start()
        if not self._ready.wait(TIMEOUT * 2):
            self.stop()
            pytest.fail("openssl s_server did not start: " + " | ".join(self.lines[-5:]))

    def _read(self) -> None:
        assert self._proc.stdout is not None
        assert self._proc.stdin is not None
        for raw in self._proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            self.lines.append(line)
            if line.startswith("ACCEPT"):
                self._ready.set()
            elif line == "ping":  # the client's first line: now ask to renegotiate
                with contextlib.suppress(OSError):
                    self._proc.stdin.write(b"r\n")
                    self._proc.stdin.flush()

    @property
    def refusals(self) -> int:
        """Connections whose client refused the renegotiation."""
        return sum("no renegotiation" in line for line in self.lines)

    def wait_for_refusals(self, count: int) -> int:
        """The refusals seen once ``count`` are logged or TIMEOUT passed (s_server's output
        may trail the client's error)."""
        deadline = time.monotonic() + TIMEOUT * 2
        while self.refusals < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.refusals

    def stop(self) -> None:
        """Kill the process, wait for it and for the output reader; remove the files."""
        self._proc.kill()
        self._proc.wait(TIMEOUT)
        self._reader.join(TIMEOUT)
        for stream in (self._proc.stdin, self._proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self._dir.cleanup()


@pytest.mark.skipif(shutil.which("openssl") is None,
                    reason="needs the openssl command line tool (s_server renegotiates)")
def test_server_renegotiation_is_refused(world: World) -> None:
    """A server-initiated TLS 1.2 renegotiation is refused: handshake-failure naming it."""

    def run() -> Dict[str, Tuple[bytes, str, str]]:
        got: Dict[str, Tuple[bytes, str, str]] = {}
        server = _RenegotiatingServer(world.leaf)
        try:
            for name in backend_names():
                sock = socket.create_connection(server.address, timeout=3.0)
                with world.context(name).wrap_socket(sock, server_hostname="localhost") as tls:
                    assert tls.version() == "TLSv1.2"
                    tls.sendall(b"ping\n")
                    try:
                        data = tls.recv(4096)
                        got[name] = (data, "data", "")
                    except TLSError as exc:
                        got[name] = (b"", exc.code, exc.message)
            refusals = server.wait_for_refusals(len(got))
        finally:
            server.stop()
        assert refusals == len(got), server.lines[-10:]
        return got

    got = bounded(run, LIMIT)
    for name, (data, end, message) in got.items():
        assert (data, end) == (b"", "handshake-failure"), (name, got)
        assert "renegotiat" in message, message


def test_handshake_error_is_os_error(world: World) -> None:
    """Peer failures are HandshakeError (an OSError) so driver retry loops catch them."""
    with RawServer(close_immediately, timeout=TIMEOUT) as server:
        for name in backend_names():
            sock = socket.create_connection(server.address, timeout=TIMEOUT)
            with pytest.raises(HandshakeError) as info:
                bounded(functools.partial(world.context(name).wrap_socket, sock,
                                          server_hostname="localhost"), LIMIT)
            assert isinstance(info.value, OSError)
            assert info.value.backend == name
            assert sock.fileno() == -1, "the failed handshake closed the socket"


