"""Loopback TLS servers that staple OCSP responses (RFC 6066 §8, RFC 6960).

Example::

    staple = leaf.issuer.ocsp_response(leaf, "revoked")
    with StaplingServer(cert=leaf, staple=staple) as server:      # pyOpenSSL server side
        sock = socket.create_connection(server.address)
    with StaplingServer(cert=leaf, staple=None) as server: ...    # requested, nothing stapled
    with StaplingServer(cert=leaf, staple=lambda: fresh()) as server: ...   # per handshake

:class:`StaplingServer` has the lifecycle of :class:`~tlsplug.testing.servers.TLSServer`
(context manager, ``start``/``stop``, ``address``, modes ``echo``/``greeting``/``close``, a
thread per connection, ``errors``) and needs pyOpenSSL (imported when a server is built).

A pyOpenSSL server on OpenSSL 4.0 silently drops a staple that is not about its own
certificate, so a client never sees one. To test that a client refuses a response for
*another* certificate (RFC 6960 §3.2 item 1), :class:`OpenSSLStatusFileServer` runs the
``openssl s_server`` command line with ``-status_file``, which staples the file as it is.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import select
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Callable, Iterator, List, Optional, Sequence, Type, TypeVar, Union

from .pki import LeafCert
from .servers import _ThreadedServer

__all__ = ["OpenSSLStatusFileServer", "StaplingServer", "Staple"]

Staple = Union[bytes, None, Callable[[], Optional[bytes]]]
"""The DER response to staple, ``None`` for none, or a callable giving one per handshake."""

_T = TypeVar("_T")
_O = TypeVar("_O", bound="OpenSSLStatusFileServer")


def _require_pyopenssl() -> Any:
    try:
        from OpenSSL import SSL
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "StaplingServer needs the pyOpenSSL package (pip install pyOpenSSL, or "
            "pip install 'tlsplug[pyopenssl]'): Python's ssl cannot staple OCSP responses"
        ) from exc
    return SSL


class StaplingServer(_ThreadedServer):
    """A loopback TLS server (pyOpenSSL) that staples ``staple`` when the client asks.

    ``mode``: ``"echo"`` echoes until EOF, ``"greeting"`` sends :attr:`greeting` first and
    then echoes, ``"close"`` closes right after the handshake. :attr:`status_requests`
    counts the handshakes in which the client sent ``status_request``.
    """

    def __init__(
        self,
        *,
        cert: LeafCert,
        staple: Staple = None,
        host: str = "127.0.0.1",
        port: int = 0,
        mode: str = "echo",
        greeting: bytes = b"hello from tlsplug\n",
        timeout: float = 10.0,
        join_timeout: float = 5.0,
        max_version: Optional[ssl.TLSVersion] = None,
        security_level: Optional[int] = None,
    ) -> None:
        """Build the pyOpenSSL context now, so bad settings fail here rather than in a thread.

        ``max_version`` caps the protocol (e.g. ``ssl.TLSVersion.TLSv1_2``: the staple then
        travels in CertificateStatus, not in the TLS 1.3 Certificate message).
        ``security_level`` (e.g. 0) lets OpenSSL load a SHA-1-signed or small-key certificate.
        """
        if mode not in ("echo", "greeting", "close"):
            raise ValueError(f"mode must be 'echo', 'greeting' or 'close', not {mode!r}")
        super().__init__(host=host, port=port, timeout=timeout, join_timeout=join_timeout)
        self._ssl = _require_pyopenssl()
        self.cert = cert
        self.staple = staple
        self.mode = mode
        self.greeting = greeting
        self._status_requests = 0
        self.max_version = max_version
        self.security_level = security_level
        self.context = self._make_context()

    def _make_context(self) -> Any:
        from OpenSSL import crypto

        SSL = self._ssl
        ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
        if self.security_level is not None:  # before the certificate is loaded and judged
            ctx.set_cipher_list(f"DEFAULT:@SECLEVEL={self.security_level}".encode("ascii"))
        try:  # pyOpenSSL >= 24.3 takes cryptography objects (and deprecates its own)
            ctx.use_certificate(self.cert.certificate)
            ctx.use_privatekey(self.cert.private_key)
            for ca in self.cert.chain:
                ctx.add_extra_chain_cert(ca.certificate)
        except TypeError:  # pragma: no cover - older pyOpenSSL
            ctx.use_certificate(crypto.X509.from_cryptography(self.cert.certificate))
            ctx.use_privatekey(crypto.PKey.from_cryptography_key(self.cert.private_key))
            for ca in self.cert.chain:
                ctx.add_extra_chain_cert(crypto.X509.from_cryptography(ca.certificate))
        ctx.check_privatekey()
        if self.max_version is not None:
            ctx.set_max_proto_version(
                {ssl.TLSVersion.TLSv1_2: SSL.TLS1_2_VERSION,
                 ssl.TLSVersion.TLSv1_3: SSL.TLS1_3_VERSION}[self.max_version]
            )
        ctx.set_ocsp_server_callback(self._on_status_request)
        return ctx

    def _on_status_request(self, conn: Any, data: Any) -> bytes:
        # pyOpenSSL: b"" means "no staple" (SSL_TLSEXT_ERR_NOACK).
        with self._lock:
            self._status_requests += 1
        staple = self.staple() if callable(self.staple) else self.staple
        return staple or b""

    @property
    def status_requests(self) -> int:
        """How many handshakes asked for the certificate status (and had a staple offered)."""
        with self._lock:
            return self._status_requests

    def _retry(self, sock: socket.socket, operation: Callable[[], _T]) -> _T:
        deadline = time.monotonic() + self.timeout
        SSL = self._ssl
        while True:
            try:
                return operation()
            except (SSL.WantReadError, SSL.WantWriteError) as exc:
                left = deadline - time.monotonic()
                if left <= 0 or self.stopping.is_set():
                    raise TimeoutError("the client did not answer in time") from exc
                want_write = isinstance(exc, SSL.WantWriteError)
                select.select([] if want_write else [sock], [sock] if want_write else [], [],
                              min(left, 0.05))

    def _send(self, sock: socket.socket, tls: Any, data: bytes) -> None:
        view = memoryview(data)
        while view:
            sent: int = self._retry(sock, lambda: tls.send(view))  # noqa: B023 - same view
            view = view[sent:]

    def _serve(self, conn: socket.socket) -> None:
        SSL = self._ssl
        conn.setblocking(False)
        tls = SSL.Connection(self.context, conn)
        tls.set_accept_state()
        self._retry(conn, tls.do_handshake)
        if self.mode == "close":
            return
        try:
            if self.mode == "greeting":
                self._send(conn, tls, self.greeting)
            while True:
                data: bytes = self._retry(conn, lambda: tls.recv(65536))
                if not data:
                    return
                self._send(conn, tls, data)
        except (SSL.ZeroReturnError, SSL.SysCallError, ConnectionError):
            return  # the client left, with or without close_notify


class OpenSSLStatusFileServer:
    """``openssl s_server -status_file FILE`` on loopback: staples FILE whatever it holds.

    ``mode="www"`` answers ``GET /`` with a status page (``-www``); ``mode="rev"`` echoes
    each line reversed (``-rev``). ``extra_args`` go to the command line as they are (e.g.
    ``["-tls1_2"]``). The process runs in its own session, is given ``start_timeout``
    seconds to print ``ACCEPT``, and is always killed by :meth:`stop`. It needs no Python TLS
    package, so it serves staples wherever the ``openssl`` command line tool is installed.
    """

    def __init__(
        self,
        *,
        cert: LeafCert,
        staple: bytes,
        mode: str = "www",
        openssl: Optional[str] = None,
        start_timeout: float = 10.0,
        extra_args: Sequence[str] = (),
    ) -> None:
        """Prepare the command; nothing runs before :meth:`start`."""
        if mode not in ("www", "rev"):
            raise ValueError(f"mode must be 'www' or 'rev', not {mode!r}")
        binary = openssl or shutil.which("openssl")
        if binary is None:
            raise RuntimeError("OpenSSLStatusFileServer needs the openssl command line tool")
        self.binary = binary
        self.cert = cert
        self.staple = staple
        self.mode = mode
        self.start_timeout = start_timeout
        self.extra_args = list(extra_args)
        self.output: List[str] = []
        """What the process printed (stdout and stderr), line by line."""
        self._proc: Optional[subprocess.Popen[bytes]] = None
        self._dir: Optional[tempfile.TemporaryDirectory[str]] = None
        self._reader: Optional[threading.Thread] = None
        self._ready = threading.Event()
        self._port = 0

    @property
    def address(self) -> tuple[str, int]:
        """``("127.0.0.1", port)``."""
        return ("127.0.0.1", self._port)

    def start(self: _O) -> _O:
        """Write the files, run ``openssl s_server`` and wait until it accepts."""
        if self._proc is not None:
            return self
        self._dir = tempfile.TemporaryDirectory(prefix="tlsplug-status-file-")
        tmp = Path(self._dir.name)
        files = self.cert.write(tmp, combined=False, basename="server")
        chain = tmp / "chain.pem"
        chain.write_bytes(b"".join(ca.cert_pem for ca in self.cert.chain))
        leaf = tmp / "leaf.pem"
        leaf.write_bytes(self.cert.cert_pem)
        status = tmp / "status.der"
        status.write_bytes(self.staple)
        for _attempt in range(3):  # the free port may be taken between probe and bind
            self._port = _free_port()
            command = [
                self.binary, "s_server", "-accept", f"127.0.0.1:{self._port}",
                "-cert", str(leaf), "-key", str(files.key_file), "-status_file", str(status),
                f"-{self.mode}", *self.extra_args,
            ]
            if self.cert.chain:
                command[command.index("-status_file"):command.index("-status_file")] = [
                    "-cert_chain", str(chain)
                ]
            if self._launch(command):
                return self
            self._kill()
        self._cleanup()
        raise RuntimeError(
            "openssl s_server did not start: " + " | ".join(self.output[-5:])
        )

    def _launch(self, command: List[str]) -> bool:
        self._ready.clear()
        self._proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._reader = threading.Thread(
            target=self._read_output, args=(self._proc,), name="tlsplug-s_server", daemon=True
        )
        self._reader.start()
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._ready.wait(0.05):
                return True
            if self._proc.poll() is not None:
                return False
        return False

    def _read_output(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            self.output.append(line)
            if line.startswith("ACCEPT"):
                self._ready.set()

    def stop(self) -> None:
        """Kill the process group (TERM, then KILL after 5 s) and remove the files."""
        self._kill()
        self._cleanup()

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(5.0)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5.0)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        if self._reader is not None:
            self._reader.join(5.0)
            self._reader = None

    def _cleanup(self) -> None:
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self: _O) -> _O:
        """Start the server."""
        return self.start()

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        """Stop the server."""
        self.stop()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def revoked_in_cache(leaf: LeafCert) -> Iterator[None]:
    """Inside the block the process-wide OCSP cache says ``leaf`` is revoked.

    As if another context had learned it from a staple: what a backend that remembers its
    decisions must still notice on the next handshake (``tlsplug.backend.LastDecision``).
    The entry (valid from an hour ago for two hours) is removed on exit.
    """
    from tlsplug import ocsp

    cache = ocsp.default_cache()
    key = ocsp.cert_id(leaf.certificate, leaf.issuer.certificate)
    start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
    revoked = ocsp.Verdict("revoked", "learned elsewhere", start,
                           start + datetime.timedelta(hours=2), "staple")
    if not cache.put(key, revoked):  # pragma: no cover - a fresher entry is already there
        raise RuntimeError("the OCSP cache kept a fresher entry for this certificate")
    try:
        yield
    finally:
        cache.discard(key)
