"""A real OCSP responder over HTTP on loopback, with the faults clients must survive.

Example::

    with OCSPResponder(ca) as responder:                      # answers for certificates of ca
        leaf = ca.issue_cert("localhost", ocsp_url=responder.url)
        responder.set_status(leaf, "revoked")
        ...                                                   # responder.requests counts hits
        responder.configure(delay=3.0)                        # now slow; or http_status=500, ...

It answers POST (RFC 6960 Appendix A.1, ``application/ocsp-request``) and GET (the
base64 request URL-encoded after the responder's path). Responses are built by
:meth:`tlsplug.testing.pki.CA.ocsp_response`, so the signer (issuer, delegate,
delegate without the OCSPSigning usage, unrelated CA) is a setting. Certificates must be
registered (:meth:`OCSPResponder.set_status`) before they are asked about; a serial it
does not know is answered ``unauthorized`` (RFC 6960 §2.3), as a real responder does for
a CA it does not serve.
"""

from __future__ import annotations

import base64
import dataclasses
import socket
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Dict, Optional, Tuple, Type, Union

from cryptography import x509
from cryptography.x509 import ocsp

from .pki import CA, LeafCert, ocsp_error_response

__all__ = ["Behaviour", "OCSPResponder", "closed_port_url"]

_PATH = "/ocsp"
HUGE_BODY_SIZE = 1024 * 1024
"""Bytes sent in ``huge_body`` mode: far above any client's read limit."""


def closed_port_url(path: str = _PATH) -> str:
    """An ``http://127.0.0.1:<port>`` URL on which nothing listens (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


@dataclasses.dataclass
class Behaviour:
    """How the responder answers; every field is read afresh for each request."""

    signer: Union[str, CA] = "issuer"
    """``"issuer"``, ``"delegate"``, ``"delegate-without-eku"``, ``"unrelated"`` or a CA."""
    delay: float = 0.0
    """Seconds to wait before answering (a slow responder)."""
    http_status: int = 200
    """Answer with this HTTP status (e.g. 500) and an empty body when it is not 200."""
    garbage: bool = False
    """Answer 200 with bytes that are not an OCSP response."""
    redirect_loop: bool = False
    """Answer every request with a redirect to itself."""
    huge_body: bool = False
    """Answer 200 with :data:`HUGE_BODY_SIZE` bytes."""
    wrong_cert: bool = False
    """Answer with a valid response about another certificate of the same CA."""
    expired: bool = False
    """Answer with a response whose nextUpdate has passed."""
    error_status: Optional[str] = None
    """Answer with an unsuccessful OCSP response, e.g. ``"try_later"`` (RFC 6960 §2.3)."""
    include_next_update: bool = True
    """False omits nextUpdate from the response."""


class OCSPResponder:
    """An HTTP OCSP responder for the certificates of one CA, on ``127.0.0.1``."""

    def __init__(
        self,
        ca: CA,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        down: bool = False,
        **behaviour: Any,
    ) -> None:
        """Prepare a responder for ``ca``; ``behaviour`` sets :class:`Behaviour` fields.

        ``down=True`` never listens: :attr:`url` names a port nobody listens on.
        """
        self.ca = ca
        self.behaviour = Behaviour(**behaviour)
        self.down = down
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._requests = 0
        self._certs: Dict[int, Tuple[Union[LeafCert, x509.Certificate], str]] = {}
        self._other: Optional[LeafCert] = None
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        self._stopping = threading.Event()
        self._url: Optional[str] = None
        if down:
            self._url = closed_port_url()

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> OCSPResponder:
        """Bind an ephemeral port (unless down) and serve in a daemon thread."""
        if self.down or self._server is not None:
            return self
        server = ThreadingHTTPServer((self._host, self._port), _make_handler(self))
        server.daemon_threads = True  # a slow answer never holds up stop()
        self._server = server
        port = server.server_address[1]
        self._url = f"http://{self._host}:{port}{_PATH}"
        self._stopping.clear()
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="tlsplug-ocsp-responder",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the port; :attr:`url` then refuses connections."""
        self._stopping.set()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None

    def __enter__(self) -> OCSPResponder:
        """Start and return the responder."""
        return self.start()

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        """Stop the responder."""
        self.stop()

    # -- configuration ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The responder's URL, for ``CA.issue_cert(..., ocsp_url=...)``."""
        if self._url is None:
            raise RuntimeError("start the responder first")
        return self._url

    @property
    def requests(self) -> int:
        """How many HTTP requests arrived (every method, every outcome)."""
        with self._lock:
            return self._requests

    def wait_requests(self, count: int, timeout: float = 5.0) -> bool:
        """Wait until at least ``count`` requests arrived; False if ``timeout`` passed first."""
        with self._arrived:
            return self._arrived.wait_for(lambda: self._requests >= count, timeout)

    def reset_requests(self) -> None:
        """Set :attr:`requests` back to zero."""
        with self._lock:
            self._requests = 0

    def configure(self, **changes: Any) -> OCSPResponder:
        """Change :class:`Behaviour` fields, e.g. ``configure(delay=2.0, http_status=500)``."""
        self.behaviour = dataclasses.replace(self.behaviour, **changes)
        return self

    def set_status(self, cert: Union[LeafCert, x509.Certificate], status: str = "good") -> None:
        """Register ``cert`` (issued by the CA) and answer ``status`` for it."""
        if status not in ("good", "revoked", "unknown"):
            raise ValueError(f"status must be good, revoked or unknown, not {status!r}")
        certificate = cert if isinstance(cert, x509.Certificate) else cert.certificate
        with self._lock:
            self._certs[certificate.serial_number] = (cert, status)

    # -- answering -------------------------------------------------------------------------

    def _count(self) -> None:
        with self._arrived:
            self._requests += 1
            self._arrived.notify_all()

    def answer(self, request_der: bytes) -> bytes:
        """The DER response the responder gives to ``request_der`` with its behaviour now."""
        behaviour = self.behaviour
        if behaviour.error_status:
            return ocsp_error_response(behaviour.error_status)
        try:
            request = ocsp.load_der_ocsp_request(request_der)
        except ValueError:
            return ocsp_error_response("malformed_request")
        with self._lock:
            known = self._certs.get(request.serial_number)
        if known is None:
            return ocsp_error_response("unauthorized")
        cert, status = known
        if behaviour.wrong_cert:
            cert = self._other_cert()
        return self.ca.ocsp_response(
            cert,
            status,
            signer=behaviour.signer,
            expired=behaviour.expired,
            include_next_update=behaviour.include_next_update,
        )

    def _other_cert(self) -> LeafCert:
        with self._lock:
            if self._other is None:
                self._other = self.ca.issue_cert("wrong-cert.tlsplug.test")
            return self._other

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)


def _make_handler(responder: OCSPResponder) -> Type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"
        server_version = "tlsplug-ocsp-responder"

        def log_message(self, format: str, *args: Any) -> None:
            """Stay quiet: tests read :attr:`OCSPResponder.requests`, not stderr."""

        def do_POST(self) -> None:
            """RFC 6960 Appendix A.1: the DER request is the body."""
            responder._count()
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(min(length, 65536)) if length > 0 else b""
            self._respond(body)

        def do_GET(self) -> None:
            """RFC 6960 Appendix A.1: GET {url}/{url-encoding of base-64 of the DER request}."""
            responder._count()
            path = urllib.parse.urlsplit(self.path).path
            encoded = path[len(_PATH) :].lstrip("/") if path.startswith(_PATH) else ""
            try:
                body = base64.b64decode(urllib.parse.unquote(encoded), validate=True)
            except ValueError:
                body = b""
            self._respond(body)

        def _respond(self, request_der: bytes) -> None:
            behaviour = responder.behaviour
            responder._wait(behaviour.delay)
            if responder._stopping.is_set():
                return
            try:
                if behaviour.redirect_loop:
                    self.send_response(302)
                    self.send_header("Location", responder.url)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif behaviour.http_status != 200:
                    self.send_response(behaviour.http_status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif behaviour.garbage:
                    self._send(b"this is not an OCSP response\n" * 4)
                elif behaviour.huge_body:
                    self._send(b"\x30" * HUGE_BODY_SIZE)
                else:
                    self._send(responder.answer(request_der))
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout or size limit): expected in fault tests

        def _send(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/ocsp-response")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler
