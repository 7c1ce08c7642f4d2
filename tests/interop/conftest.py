"""Harness for the interop suite: real servers from Debian packages, on loopback, always stopped.

Every server runs in its own process group (``start_new_session``) and is stopped by a
fixture finalizer: SIGTERM to the group, then SIGKILL after a bound. Ports are ephemeral
(bound once to learn a free one; a start that loses the race is retried). A missing binary
fails the test when ``CI`` is set and skips it locally with the Debian package to install.

Certificates come from :mod:`tlsplug.testing`: one root, one intermediate, leaves issued by the
intermediate (ECDSA by default, RSA where a legacy RSA-key-transport suite needs it).
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import importlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, NoReturn, Optional, Tuple, TypeVar

import pytest

import tlsplug
from tlsplug.testing import CA, LeafCert, RawServer
from tlsplug.testing.pki import CertFiles

TIMEOUT = 10.0
"""Socket timeout of every client operation, in seconds."""
START_TIMEOUT = 10.0
"""How long a server may take to start accepting connections, in seconds."""
STOP_TIMEOUT = 5.0
"""How long a server may take to exit after SIGTERM before it is killed."""
KEY_PASSWORD = "interop key password"
"""The password of every encrypted client key of the suite."""

_T = TypeVar("_T")


# -- binaries ------------------------------------------------------------------------------


MISSING_PACKAGES: Dict[str, None] = {}
"""Debian packages whose binaries some test did not find, in order (the terminal summary)."""


def need_binary(name: str, package: str) -> str:
    """Return the path of ``name``; fail under ``CI``, else skip naming the Debian package."""
    path = shutil.which(name) or shutil.which(
        name, path=os.pathsep.join(["/usr/sbin", "/usr/local/sbin", "/sbin"])
    )
    if path:
        return path
    MISSING_PACKAGES[package] = None
    unavailable(f"{name} not found: apt-get install {package} (or run .ci/install-interop-deps)")


def need_module(name: str) -> Any:
    """Import the third-party client ``name``; fail under ``CI``, else skip naming the env.

    The drivers are dependencies of ``tox -e interop`` only, so this runs inside tests (never
    at collection): the other envs deselect the interop tests and never import them.
    """
    try:
        return importlib.import_module(name)
    except ImportError:
        unavailable(f"{name} is not installed: it is a dependency of tox -e interop")


def unavailable(message: str) -> NoReturn:
    """A prerequisite is missing: fail under ``CI`` (never skip there), skip locally."""
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say loudly how many interop tests did not run for missing servers, and which packages.

    A run that skipped most of the suite must not look like a pass (issue 15): one line,
    red, naming the Debian packages to install.
    """
    outcomes: Dict[str, str] = {}
    for key in ("passed", "failed", "error", "skipped", "xfailed", "xpassed"):
        for report in terminalreporter.stats.get(key, []):
            # A failed or skipped phase wins over the passed ones of the same test.
            if (
                "interop" in getattr(report, "keywords", {})
                and report.nodeid
                and (key != "passed" or report.nodeid not in outcomes)
            ):
                outcomes[report.nodeid] = key
    skipped = sum(1 for outcome in outcomes.values() if outcome == "skipped")
    if not MISSING_PACKAGES and not skipped:
        return
    packages = ", ".join(MISSING_PACKAGES) or "none"
    verdict = "FAILED (CI is set)" if os.environ.get("CI") else "SKIPPED"
    count = skipped if not os.environ.get("CI") else sum(
        1 for outcome in outcomes.values() if outcome in ("failed", "error")
    )
    terminalreporter.write_sep(
        "=",
        f"interop: {count} of {len(outcomes)} tests {verdict} - missing: {packages}",
        red=True,
        bold=True,
    )
    if MISSING_PACKAGES:
        terminalreporter.write_line(
            f"install them: apt-get install {' '.join(MISSING_PACKAGES)} "
            "(or run .ci/install-interop-deps)"
        )


def postgres_bindir() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding initdb, pg_ctl and postgres."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit()
        else 0,
    )
    if found:
        return Path(found[-1]).parent
    return Path(need_binary("initdb", "postgresql")).parent


# -- processes -----------------------------------------------------------------------------


class ServerProcess:
    """A server process in its own process group, logging to a file; :meth:`stop` is idempotent."""

    def __init__(
        self,
        name: str,
        argv: List[str],
        log_path: Path,
        *,
        env: Optional[Dict[str, str]] = None,
        cwd: Optional[Path] = None,
    ) -> None:
        """Start ``argv`` now, stdin from /dev/null, stdout and stderr into ``log_path``."""
        self.name = name
        self.argv = argv
        self.log_path = log_path
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
                cwd=cwd,
            )

    @property
    def pid(self) -> int:
        """The process id (also its process group id)."""
        return self.proc.pid

    def running(self) -> bool:
        """True while the process has not exited."""
        return self.proc.poll() is None

    def log(self) -> str:
        """The tail of what the server wrote so far."""
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL it after :data:`STOP_TIMEOUT`; reap the process."""
        kill_group(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            kill_group(self.proc.pid, signal.SIGKILL)
            self.proc.wait(STOP_TIMEOUT)
        # Children left behind in the group (none expected) go too.
        kill_group(self.proc.pid, signal.SIGKILL)


def kill_group(pgid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to the process group ``pgid``; a group already gone is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free on ``host`` a moment ago."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def wait_accepting(
    server: ServerProcess,
    connect: Callable[[], socket.socket],
    timeout: float = START_TIMEOUT,
) -> None:
    """Poll ``connect`` until it succeeds; raise with the server's log if it exits or times out."""
    deadline = time.monotonic() + timeout
    last: Optional[BaseException] = None
    while time.monotonic() < deadline:
        if not server.running():
            raise RuntimeError(
                f"{server.name} exited with {server.proc.returncode} while starting:\n"
                f"{server.log()}"
            )
        try:
            sock = connect()
        except OSError as exc:
            last = exc
            time.sleep(0.05)
            continue
        sock.close()
        return
    raise RuntimeError(
        f"{server.name} did not accept connections within {timeout} s ({last}):\n{server.log()}"
    )


def tcp_connector(address: Tuple[str, int]) -> Callable[[], socket.socket]:
    """A ``connect`` callable for :func:`wait_accepting` and the tests."""

    def connect() -> socket.socket:
        return socket.create_connection(address, timeout=TIMEOUT)

    return connect


def start_on_free_ports(
    count: int, start: Callable[[List[int]], _T], attempts: int = 3
) -> _T:
    """Call ``start(ports)`` with ``count`` free loopback ports, retrying a lost port race."""
    error: Optional[BaseException] = None
    for _ in range(attempts):
        ports: List[int] = []
        while len(ports) < count:
            port = free_port()
            if port not in ports:
                ports.append(port)
        try:
            return start(ports)
        except RuntimeError as exc:  # the server exited, most likely "address in use"
            error = exc
    assert error is not None
    raise error


# -- network namespaces (for servers that cannot bind to loopback only) ----------------------

_CLONE_NEWNET = 0x40000000

# Run inside the fresh namespace by the interpreter: bring lo up, then exec the server.
_LO_UP_THEN_EXEC = """
import fcntl, os, socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
flags = struct.unpack("16sh", fcntl.ioctl(s, 0x8913, struct.pack("16sh", b"lo", 0)))[1]
fcntl.ioctl(s, 0x8914, struct.pack("16sh", b"lo", flags | 1))
s.close()
os.execvp(sys.argv[1], sys.argv[1:])
"""


def netns_argv(argv: List[str]) -> List[str]:
    """``argv`` run in a new network namespace whose only interface is an up loopback."""
    unshare = need_binary("unshare", "util-linux")
    flags = ["--net"] if os.geteuid() == 0 else ["--net", "--map-root-user"]
    return [unshare, *flags, "--", sys.executable, "-c", _LO_UP_THEN_EXEC, *argv]


def _netns_inode(pid: int) -> int:
    return os.stat(f"/proc/{pid}/ns/net").st_ino


def open_netns(server: ServerProcess, timeout: float = START_TIMEOUT) -> int:
    """Wait until ``server`` left our network namespace; return an fd of its namespace."""
    ours = _netns_inode(os.getpid())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server.running():
            log = server.log()
            if "unshare" in log:  # e.g. a container without CAP_SYS_ADMIN or user namespaces
                unavailable(f"{server.name} needs a private network namespace (unshare): {log}")
            raise RuntimeError(f"{server.name} exited while starting:\n{log}")
        fd = os.open(f"/proc/{server.pid}/ns/net", os.O_RDONLY)
        if os.fstat(fd).st_ino != ours:
            return fd
        os.close(fd)
        time.sleep(0.02)
    raise RuntimeError(f"{server.name} never entered its own network namespace:\n{server.log()}")


def netns_connector(ns_fd: int, address: Tuple[str, int]) -> Callable[[], socket.socket]:
    """A ``connect`` callable opening a TCP connection inside the namespace ``ns_fd``.

    A helper thread joins the namespace (``setns`` is per thread) and connects; the socket
    keeps its namespace and is then used from any thread like any other.
    """
    libc = ctypes.CDLL(None, use_errno=True)

    def connect() -> socket.socket:
        result: List[socket.socket] = []
        errors: List[BaseException] = []

        def work() -> None:
            try:
                if libc.setns(ns_fd, _CLONE_NEWNET) != 0:
                    errno = ctypes.get_errno()
                    raise OSError(errno, f"setns: {os.strerror(errno)}")
                result.append(socket.create_connection(address, timeout=TIMEOUT))
            except BaseException as exc:
                errors.append(exc)

        worker = threading.Thread(target=work, name="netns-connect", daemon=True)
        worker.start()
        worker.join(TIMEOUT + 1)
        if errors:
            raise errors[0]
        if not result:
            raise OSError(f"connecting to {address} in a namespace timed out")
        return result[0]

    return connect


# -- PKI -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class InteropPKI:
    """Files of the suite's PKI; every leaf is issued by one intermediate under ``ca_file``."""

    directory: Path
    root: CA
    intermediate: CA
    ca_file: Path
    """The root: the ``tlsCAFile`` of every successful scenario."""
    other_ca_file: Path
    """An unrelated root: trusting only it makes every server ``cert-untrusted``."""
    server: LeafCert
    """ECDSA leaf for localhost, 127.0.0.1 and ::1."""
    server_files: CertFiles
    rsa_server: LeafCert
    """RSA leaf for the same names (for AES256-SHA, RSA key transport)."""
    rsa_server_files: CertFiles
    must_staple: LeafCert
    """ECDSA leaf for localhost with the TLS feature status_request (RFC 7633)."""
    must_staple_files: CertFiles
    client: LeafCert
    """Client leaf (clientAuth only)."""
    client_files: CertFiles
    """Client files; ``combined_file`` is a plain ``tlsCertificateKeyFile``."""
    client_encrypted_files: CertFiles
    """Client files whose key is encrypted with :data:`KEY_PASSWORD`."""
    good_staple: Path
    """DER OCSP response ``good`` for ``server`` signed by the intermediate."""
    revoked_staple: Path
    """DER OCSP response ``revoked`` for ``server`` signed by the intermediate."""


@pytest.fixture(autouse=True)
def _cold_ocsp_cache() -> Iterator[None]:
    """Clear the process-wide OCSP cache around each test.

    nginx's ``revoked_staple`` site staples a valid ``revoked`` response for the very leaf
    every other server here uses; the cache (keyed by CertID, shared by every context, as
    the MongoDB OCSP spec wants) would rightly carry that verdict into the next test.
    """
    from tlsplug import ocsp

    ocsp.default_cache().clear()
    yield
    ocsp.default_cache().clear()


@pytest.fixture(scope="session")
def interop_pki(tmp_path_factory: pytest.TempPathFactory) -> InteropPKI:
    """The suite's certificates written to a session directory."""
    directory = tmp_path_factory.mktemp("interop-pki")
    # Servers that drop privileges (none by default) must still read these files.
    directory.chmod(0o755)
    root = CA("tlsplug interop root")
    intermediate = root.create_intermediate("tlsplug interop intermediate")
    other = CA("tlsplug interop unrelated root")
    names = ("localhost", "127.0.0.1", "::1")
    server = intermediate.issue_cert(*names)
    rsa_server = intermediate.issue_cert(*names, key_type="rsa")
    must_staple = intermediate.issue_cert(*names, must_staple=True)
    client = intermediate.issue_cert("client.tlsplug.test", client=True, server=False)
    good = directory / "good-staple.der"
    good.write_bytes(intermediate.ocsp_response(server, status="good"))
    revoked = directory / "revoked-staple.der"
    revoked.write_bytes(intermediate.ocsp_response(server, status="revoked"))
    return InteropPKI(
        directory=directory,
        root=root,
        intermediate=intermediate,
        ca_file=root.write_cert(directory / "ca.pem"),
        other_ca_file=other.write_cert(directory / "other-ca.pem"),
        server=server,
        server_files=server.write(directory, basename="server"),
        rsa_server=rsa_server,
        rsa_server_files=rsa_server.write(directory, basename="rsa-server"),
        must_staple=must_staple,
        must_staple_files=must_staple.write(directory, basename="must-staple"),
        client=client,
        client_files=client.write(directory, basename="client"),
        client_encrypted_files=client.write(
            directory, basename="client-encrypted", password=KEY_PASSWORD.encode()
        ),
        good_staple=good,
        revoked_staple=revoked,
    )


# -- client side ---------------------------------------------------------------------------


def options(backend: str, ca_file: Optional[Path], **kwargs: object) -> tlsplug.TLSOptions:
    """TLS options for ``backend`` trusting ``ca_file``; ``kwargs`` are TLSOptions fields."""
    return tlsplug.TLSOptions(
        enabled=True,
        ca_file=str(ca_file) if ca_file is not None else None,
        backend=backend,
        **kwargs,  # type: ignore[arg-type]
    )


def handshake(
    connect: Callable[[], socket.socket],
    opts: tlsplug.TLSOptions,
    server_hostname: Optional[str] = "localhost",
) -> tlsplug.TLSSocket:
    """Open a TCP connection with ``connect`` and run tlsplug's handshake over it."""
    context = tlsplug.create_context(opts)
    sock = connect()
    sock.settimeout(TIMEOUT)
    try:
        return context.wrap_socket(sock, server_hostname=server_hostname)
    except BaseException:
        sock.close()
        raise


def outcome(action: Callable[[], object]) -> str:
    """Run ``action``: ``"ok"`` when it returns, else the ``TLSError`` code (printed in full)."""
    try:
        action()
    except tlsplug.TLSError as exc:
        print(f"outcome: {type(exc).__name__}: {exc}")
        return exc.code
    return "ok"


def backend_has(backend: str, feature: tlsplug.Feature) -> bool:
    """Whether ``backend`` declares ``feature``."""
    return feature in tlsplug.get_backend(backend).features


def recv_exactly(sock: tlsplug.TLSSocket, count: int) -> bytes:
    """Read exactly ``count`` bytes (or fail at EOF)."""
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise EOFError(f"EOF after {len(data)} of {count} bytes")
        data += chunk
    return data


def recv_until(sock: tlsplug.TLSSocket, marker: bytes, limit: int = 1 << 16) -> bytes:
    """Read until ``marker`` appears (or EOF / ``limit`` bytes); return everything read."""
    data = b""
    while marker not in data and len(data) < limit:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def echo_handler(conn: socket.socket) -> None:
    """Plain echo until EOF (the service behind stunnel)."""
    with contextlib.suppress(OSError):
        while True:
            data = conn.recv(65536)
            if not data:
                return
            conn.sendall(data)


@pytest.fixture(scope="module")
def echo_server() -> Iterator[RawServer]:
    """A plain TCP echo service on 127.0.0.1 (runs in this process's threads)."""
    server = RawServer(echo_handler, timeout=TIMEOUT).start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    """A private temporary directory in the system temp dir, removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix=f"tlsplug-{prefix}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def running(server: ServerProcess) -> Iterator[ServerProcess]:
    """Stop ``server`` however the block ends."""
    try:
        yield server
    finally:
        server.stop()


# -- nginx ---------------------------------------------------------------------------------

NGINX_SITES = (
    "tls12", "tls13", "good_staple", "revoked_staple", "must_staple", "legacy", "h2"
)


@dataclass(frozen=True)
class Nginx:
    """A running nginx: one loopback port per site of :data:`NGINX_SITES`."""

    process: ServerProcess
    ports: Dict[str, int]

    def connector(self, site: str) -> Callable[[], socket.socket]:
        """Connect to ``site``'s port."""
        return tcp_connector(("127.0.0.1", self.ports[site]))


def _nginx_conf(pki: InteropPKI, directory: Path, ports: Dict[str, int]) -> str:
    server, rsa, staple = pki.server_files, pki.rsa_server_files, pki.must_staple_files

    def site(name: str, body: str, files: CertFiles = server, listen: str = "ssl") -> str:
        return (
            f"    server {{\n"
            f"        listen 127.0.0.1:{ports[name]} {listen};\n"
            f"        ssl_certificate {files.cert_file};\n"
            f"        ssl_certificate_key {files.key_file};\n"
            f"{body}"
            f"        location / {{ return 200 \"{name}\\n\"; }}\n"
            f"    }}\n"
        )

    temp = "\n".join(
        f"    {kind}_temp_path {directory / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        "daemon off;\n"
        "master_process off;\n"
        f"pid {directory / 'nginx.pid'};\n"
        f"error_log {directory / 'error.log'} info;\n"
        "events { worker_connections 64; }\n"
        "http {\n"
        "    access_log off;\n"
        "    default_type text/plain;\n"
        f"{temp}\n"
        + site("tls12", "        ssl_protocols TLSv1.2;\n")
        + site("tls13", "        ssl_protocols TLSv1.3;\n")
        + site(
            "good_staple",
            "        ssl_protocols TLSv1.2 TLSv1.3;\n"
            "        ssl_stapling on;\n"
            f"        ssl_stapling_file {pki.good_staple};\n",
        )
        + site(
            "revoked_staple",
            "        ssl_protocols TLSv1.2 TLSv1.3;\n"
            "        ssl_stapling on;\n"
            f"        ssl_stapling_file {pki.revoked_staple};\n",
        )
        + site(
            "must_staple", "        ssl_protocols TLSv1.2 TLSv1.3;\n        ssl_stapling off;\n",
            staple,
        )
        + site(
            "legacy",
            "        ssl_protocols TLSv1 TLSv1.1 TLSv1.2;\n"
            "        ssl_ciphers AES256-SHA:@SECLEVEL=0;\n",
            rsa,
        )
        # HTTP/2 negotiated by ALPN (RFC 7540 §3.3) for httpx (test_interop_sslcontext.py).
        + site("h2", "        ssl_protocols TLSv1.2 TLSv1.3;\n", listen="ssl http2")
        + "}\n"
    )


@pytest.fixture(scope="module")
def nginx(interop_pki: InteropPKI) -> Iterator[Nginx]:
    """nginx (Debian package nginx) with one TLS site per scenario, stopped after the module."""
    binary = need_binary("nginx", "nginx")
    with scratch_dir("nginx") as directory:

        def start(port_list: List[int]) -> Nginx:
            ports = dict(zip(NGINX_SITES, port_list))
            conf = directory / "nginx.conf"
            conf.write_text(_nginx_conf(interop_pki, directory, ports))
            log = directory / "error.log"
            argv = [binary, "-p", str(directory), "-c", str(conf), "-e", str(log)]
            process = ServerProcess("nginx", argv, log)
            try:
                for port in ports.values():
                    wait_accepting(process, tcp_connector(("127.0.0.1", port)))
            except BaseException:
                process.stop()
                raise
            return Nginx(process, ports)

        server = start_on_free_ports(len(NGINX_SITES), start)
        try:
            yield server
        finally:
            server.process.stop()


# -- stunnel4 ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stunnel:
    """A running stunnel with a ``modern`` and a ``legacy`` service in front of one echo service."""

    process: ServerProcess
    ports: Dict[str, int]

    def connector(self, service: str) -> Callable[[], socket.socket]:
        """Connect to ``service``'s port."""
        return tcp_connector(("127.0.0.1", self.ports[service]))


def _stunnel_conf(pki: InteropPKI, ports: Dict[str, int], echo: Tuple[str, int]) -> str:
    modern, legacy = pki.server_files, pki.rsa_server_files
    target = f"{echo[0]}:{echo[1]}"
    return (
        "foreground = yes\n"
        "pid =\n"
        "debug = info\n"
        "syslog = no\n"
        "[modern]\n"
        f"accept = 127.0.0.1:{ports['modern']}\n"
        f"connect = {target}\n"
        f"cert = {modern.cert_file}\n"
        f"key = {modern.key_file}\n"
        "sslVersionMin = TLSv1.2\n"
        "[legacy]\n"
        f"accept = 127.0.0.1:{ports['legacy']}\n"
        f"connect = {target}\n"
        f"cert = {legacy.cert_file}\n"
        f"key = {legacy.key_file}\n"
        "sslVersionMin = TLSv1\n"
        "sslVersionMax = TLSv1.2\n"
        "ciphers = AES256-SHA:@SECLEVEL=0\n"
    )


@pytest.fixture(scope="module")
def stunnel(interop_pki: InteropPKI, echo_server: RawServer) -> Iterator[Stunnel]:
    """stunnel4 (Debian package stunnel4): modern and legacy-only services, stopped after."""
    binary = need_binary("stunnel4", "stunnel4")
    with scratch_dir("stunnel") as directory:

        def start(port_list: List[int]) -> Stunnel:
            ports = dict(zip(("modern", "legacy"), port_list))
            conf = directory / "stunnel.conf"
            conf.write_text(_stunnel_conf(interop_pki, ports, echo_server.address))
            process = ServerProcess("stunnel4", [binary, str(conf)], directory / "stunnel.log")
            try:
                for port in ports.values():
                    wait_accepting(process, tcp_connector(("127.0.0.1", port)))
            except BaseException:
                process.stop()
                raise
            return Stunnel(process, ports)

        server = start_on_free_ports(2, start)
        try:
            yield server
        finally:
            server.process.stop()


# -- gnutls-serv ---------------------------------------------------------------------------

GNUTLS_PORT = 5556
"""gnutls-serv's port inside its private network namespace (nothing else listens there)."""


@dataclass(frozen=True)
class GnutlsServer:
    """A running gnutls-serv in its own network namespace; :meth:`connect` reaches it there."""

    process: ServerProcess
    ns_fd: int

    def connect(self) -> socket.socket:
        """A TCP connection to the server over its namespace's loopback."""
        return netns_connector(self.ns_fd, ("127.0.0.1", GNUTLS_PORT))()


@contextlib.contextmanager
def _gnutls_serv(name: str, extra: List[str], pki: InteropPKI) -> Iterator[GnutlsServer]:
    binary = need_binary("gnutls-serv", "gnutls-bin")
    argv = [
        binary,
        "--port", str(GNUTLS_PORT),
        "--echo",
        "--x509certfile", str(pki.server_files.cert_file),
        "--x509keyfile", str(pki.server_files.key_file),
        *extra,
    ]
    # gnutls-serv has no listen-address option and binds the wildcard address: run it in a
    # private network namespace so that it is reachable only over that namespace's loopback.
    with scratch_dir(f"gnutls-{name}") as directory:
        process = ServerProcess(f"gnutls-serv ({name})", netns_argv(argv), directory / "log")
        ns_fd = -1
        try:
            ns_fd = open_netns(process)
            server = GnutlsServer(process, ns_fd)
            wait_accepting(process, server.connect)
            yield server
        finally:
            process.stop()
            if ns_fd >= 0:
                os.close(ns_fd)


@pytest.fixture(scope="module")
def gnutls_plain(interop_pki: InteropPKI) -> Iterator[GnutlsServer]:
    """gnutls-serv (Debian package gnutls-bin) echoing, no client certificate requested."""
    with _gnutls_serv("plain", ["--disable-client-cert"], interop_pki) as server:
        yield server


@pytest.fixture(scope="module")
def gnutls_mtls(interop_pki: InteropPKI) -> Iterator[GnutlsServer]:
    """gnutls-serv echoing, requiring and verifying a client certificate from the test root."""
    extra = [
        "--require-client-cert", "--verify-client-cert", "--x509cafile", str(interop_pki.ca_file)
    ]
    with _gnutls_serv("mtls", extra, interop_pki) as server:
        yield server


# -- redis-server --------------------------------------------------------------------------


@dataclass(frozen=True)
class Redis:
    """A running redis-server with TLS only (``--port 0``), requiring client certificates."""

    process: ServerProcess
    port: int

    def connect(self) -> socket.socket:
        """A TCP connection to the TLS port."""
        return socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT)


@pytest.fixture(scope="module")
def redis(interop_pki: InteropPKI) -> Iterator[Redis]:
    """redis-server (Debian package redis-server) with --tls-auth-clients yes, stopped after."""
    binary = need_binary("redis-server", "redis-server")
    server = interop_pki.server_files
    with scratch_dir("redis") as directory:

        def start(ports: List[int]) -> Redis:
            argv = [
                binary,
                "--port", "0",
                "--bind", "127.0.0.1",
                "--tls-port", str(ports[0]),
                "--tls-cert-file", str(server.cert_file),
                "--tls-key-file", str(server.key_file),
                "--tls-ca-cert-file", str(interop_pki.ca_file),
                "--tls-auth-clients", "yes",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(directory),
                "--daemonize", "no",
                "--logfile", "",
            ]
            process = ServerProcess("redis-server", argv, directory / "redis.log")
            try:
                wait_accepting(process, tcp_connector(("127.0.0.1", ports[0])))
            except BaseException:
                process.stop()
                raise
            return Redis(process, ports[0])

        running_server = start_on_free_ports(1, start)
        try:
            yield running_server
        finally:
            running_server.process.stop()


# -- PostgreSQL ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Postgres:
    """A throwaway PostgreSQL cluster with ``ssl=on``, on loopback and a private socket dir."""

    data_dir: Path
    port: int
    user: str

    def connect(self) -> socket.socket:
        """A plain TCP connection (the SSLRequest comes first)."""
        return socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT)


def _as_cluster_owner(argv: List[str]) -> List[str]:
    """Run ``argv`` as ``postgres`` when we are root (initdb and postgres refuse root)."""
    if os.geteuid() != 0:
        return argv
    return [need_binary("runuser", "util-linux"), "-u", "postgres", "--", *argv]


def _run(argv: List[str], timeout: float = 60.0) -> None:
    done = subprocess.run(
        argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        output = (done.stdout + done.stderr).decode(errors="replace")[-4000:]
        raise RuntimeError(f"{argv[0]} ... failed with {done.returncode}:\n{output}")


@pytest.fixture(scope="module")
def postgres(interop_pki: InteropPKI) -> Iterator[Postgres]:
    """A fresh cluster (initdb in a temp dir, Debian package postgresql), stopped and removed after.

    Never the system cluster: its own data directory, an ephemeral port on 127.0.0.1 and a
    unix socket directory under the temp dir; trust authentication on loopback only.
    """
    bindir = postgres_bindir()
    for tool in ("initdb", "pg_ctl", "postgres"):
        if not (bindir / tool).exists():
            need_binary(tool, "postgresql")
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            MISSING_PACKAGES["postgresql"] = None
            unavailable("running as root needs the postgres user: apt-get install postgresql")
        user = "postgres"
    else:
        user = pwd.getpwuid(os.geteuid()).pw_name
    with scratch_dir("postgres") as directory:
        data, sockets = directory / "data", directory / "sockets"
        sockets.mkdir()
        if os.geteuid() == 0:
            for path in (directory, sockets):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        _run(
            _as_cluster_owner(
                [str(bindir / "initdb"), "-D", str(data), "-U", user, "--auth=trust",
                 "--no-sync", "--no-instructions", "-E", "UTF8", "--locale=C"]
            )
        )
        # PostgreSQL insists that the key belongs to the cluster owner and is private.
        for name, content in (
            ("server.crt", interop_pki.server.chain_pem),
            ("server.key", interop_pki.server.private_key_pem()),
        ):
            target = data / name
            target.write_bytes(content)
            target.chmod(0o600)
            if os.geteuid() == 0:
                os.chown(target, owner.pw_uid, owner.pw_gid)
        log = directory / "postgres.log"
        pg_ctl = str(bindir / "pg_ctl")

        def start(ports: List[int]) -> Postgres:
            settings = (
                f"-c listen_addresses=127.0.0.1 -c port={ports[0]} "
                f"-c unix_socket_directories={sockets} -c ssl=on "
                "-c ssl_cert_file=server.crt -c ssl_key_file=server.key "
                "-c fsync=off -c max_connections=10 -c shared_buffers=16MB"
            )
            argv = [pg_ctl, "start", "-D", str(data), "-w", "-t", str(int(START_TIMEOUT)),
                    "-l", str(log), "-o", settings]
            try:
                _run(_as_cluster_owner(argv), timeout=START_TIMEOUT + 5)
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                _stop_postgres(pg_ctl, data)
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                raise RuntimeError(f"{exc}\n{tail}") from exc
            return Postgres(data, ports[0], user)

        try:
            yield start_on_free_ports(1, start)
        finally:
            _stop_postgres(pg_ctl, data)


def _stop_postgres(pg_ctl: str, data: Path) -> None:
    """pg_ctl stop -m immediate; if that fails, SIGKILL our postmaster's process group."""
    pid = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        pid = int((data / "postmaster.pid").read_text().split()[0])
    try:
        _run(_as_cluster_owner([pg_ctl, "stop", "-D", str(data), "-m", "immediate", "-w",
                                "-t", str(int(STOP_TIMEOUT))]), timeout=STOP_TIMEOUT + 5)
        return
    except (RuntimeError, subprocess.TimeoutExpired):
        pass
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes() if pid > 0 else b""
    except OSError:
        return
    if str(data).encode() in cmdline:  # still our postmaster, not a reused pid
        # pg_ctl starts the postmaster in its own session: its group is its pid.
        kill_group(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def gnutls_mtls12(interop_pki: InteropPKI) -> Iterator[GnutlsServer]:
    """Like :func:`gnutls_mtls`, limited to TLS 1.2 (the refusal then comes in the handshake)."""
    extra = [
        "--require-client-cert", "--verify-client-cert", "--x509cafile", str(interop_pki.ca_file),
        "--priority", "NORMAL:-VERS-TLS1.3",
    ]
    with _gnutls_serv("mtls12", extra, interop_pki) as server:
        yield server
