"""The contracts a backend implements: Backend, ClientContext, TLSSocket, TLSBuffer."""

from __future__ import annotations

import enum
import socket
from typing import (
    Any,
    Dict,
    FrozenSet,
    List,
    Mapping,
    Optional,
    Protocol,
    Tuple,
    runtime_checkable,
)

from ._options import TLSOptions

__all__ = [
    "Backend",
    "ClientContext",
    "DeferredOCSP",
    "Feature",
    "TLSBuffer",
    "TLSSocket",
    "WantReadError",
    "WantWriteError",
]


class Feature(enum.Enum):
    """A capability a backend declares; the conformance suite skips only by these."""

    #: tlsCRLFile in PEM.
    CRL = "crl"
    #: tlsCRLFile in DER.
    CRL_DER = "crl-der"
    #: Verifying an OCSP response stapled to the handshake (and must-staple).
    OCSP_STAPLING = "ocsp-stapling"
    #: Asking the OCSP responders of the certificate's AIA when nothing is stapled.
    OCSP_ENDPOINT = "ocsp-endpoint"
    #: A client certificate in tlsCertificateKeyFile.
    CLIENT_CERT = "client-cert"
    #: An encrypted private key with tlsCertificateKeyFilePassword.
    ENCRYPTED_KEY = "encrypted-key"
    #: tlsProfile=legacy.
    LEGACY_PROFILE = "legacy-profile"
    #: ``wrap_buffers`` (sans-IO), which ``tlsplug.aio`` is built on.
    SANS_IO = "sans-io"
    #: Works under ``tlsplug.aio``.
    ASYNCIO = "asyncio"
    #: Resumes the last session per (host, port, SNI).
    SESSION_RESUMPTION = "session-resumption"


class WantReadError(Exception):
    """A sans-IO operation needs more bytes from the network (``receive_from_network``)."""


class WantWriteError(Exception):
    """A sans-IO operation needs the pending outgoing bytes sent first (``pull_outgoing``)."""


@runtime_checkable
class TLSSocket(Protocol):
    """A connected, verified TLS client socket (blocking, honours the socket's timeout)."""

    backend_name: str
    server_hostname: Optional[str]

    def sendall(self, data: bytes) -> None:
        """Send all of ``data`` or raise."""

    def send(self, data: bytes) -> int:
        """Send some of ``data``; return how many bytes were taken."""

    def recv(self, bufsize: int) -> bytes:
        """Up to ``bufsize`` bytes; ``b""`` after the peer's close_notify."""

    def recv_into(self, buffer: Any, nbytes: int = 0) -> int:
        """Read into ``buffer``; return the count (0 at EOF)."""

    def close(self) -> None:
        """Send close_notify when possible and close the socket (idempotent)."""

    def version(self) -> Optional[str]:
        """The negotiated protocol, e.g. ``"TLSv1.3"``."""

    def cipher(self) -> Optional[Tuple[str, str, int]]:
        """(name, protocol, secret bits) of the negotiated cipher."""

    def getpeercert(self, binary_form: bool = False) -> Any:
        """The leaf: DER when ``binary_form``, else a dict in ``ssl.SSLSocket`` style."""

    def peer_chain(self) -> List[bytes]:
        """The chain the peer sent, leaf first, DER."""

    def fileno(self) -> int:
        """The underlying socket's file descriptor."""

    def settimeout(self, timeout: Optional[float]) -> None:
        """Set the socket timeout used by later operations."""

    def gettimeout(self) -> Optional[float]:
        """The socket timeout."""

    @property
    def session_reused(self) -> bool:
        """Whether the handshake resumed an earlier session."""

    @property
    def ocsp_status(self) -> Optional[str]:
        """What OCSP concluded: ``tlsplug.ocsp.status_text(verdict)``.

        ``"off"`` when the options turn OCSP off, ``"good (staple)"``, ``"good (responder)"``,
        ``"good (cache)"`` or ``"soft-fail: <problem>"``; ``None`` from a backend that does
        no OCSP at all.
        """

    def __enter__(self) -> TLSSocket: ...

    def __exit__(self, *exc: object) -> None: ...


@runtime_checkable
class TLSBuffer(Protocol):
    """A sans-IO TLS client over memory buffers: the caller moves the bytes.

    Every operation may raise ``WantReadError`` (feed ``receive_from_network``) and leaves
    bytes to send in ``pull_outgoing()``; certificate checks happen inside ``do_handshake``.

    **OCSP after the handshake** (the part that may block on HTTP). By default
    ``do_handshake`` runs every OCSP step itself, asking the responders synchronously
    (up to ``options.ocsp_timeout``), like ``wrap_socket``. A buffer that declares
    ``Feature.OCSP_ENDPOINT`` should also offer the :class:`DeferredOCSP` hook, so an event
    loop can ask the responders without blocking:

    1. the caller sets ``buf.defer_ocsp_endpoint_check = True`` before the first
       ``do_handshake``;
    2. ``do_handshake`` still makes every decision that needs no network — the staple
       (``ocsp-revoked``, ``ocsp-invalid-response``), must-staple (``ocsp-must-staple``, or
       ``unsupported-option`` where staples cannot be seen) — and returns when the
       handshake is complete;
    3. the caller then calls ``buf.deferred_ocsp_check()``: ``None`` means decided (the
       buffer's ``ocsp_status`` is final), otherwise a mapping of keyword arguments for
       ``await tlsplug.ocsp.post_handshake_check_async(**kwargs)``;
    4. the caller awaits that, and on success passes the returned verdict to
       ``buf.record_ocsp_verdict(verdict)``; when it raises (``ocsp-revoked``) the caller
       fails the connection with that error, exactly as ``wrap_socket`` would.

    Until step 4 the connection must not be handed to the application. ``ocsp_status``
    (optional on buffers) is ``None`` until OCSP is decided, then
    ``tlsplug.ocsp.status_text(verdict)``: ``"off"``, ``"good (staple)"``, ``"soft-fail: ..."``.
    """

    backend_name: str
    server_hostname: Optional[str]

    def do_handshake(self) -> None:
        """Advance the handshake; return once it is complete and every check passed."""

    def read(self, amt: int) -> bytes:
        """Up to ``amt`` bytes of plaintext; ``b""`` after close_notify."""

    def write(self, data: bytes) -> int:
        """Encrypt ``data``; return how many bytes were taken."""

    def receive_from_network(self, data: bytes) -> None:
        """Bytes that arrived from the peer."""

    def receive_eof(self) -> None:
        """The peer's transport closed."""

    def pull_outgoing(self, amt: Optional[int] = None) -> bytes:
        """Bytes waiting to be sent to the peer."""

    def shutdown(self) -> None:
        """Queue close_notify (then ``pull_outgoing``)."""

    def version(self) -> Optional[str]:
        """The negotiated protocol."""

    def cipher(self) -> Optional[Tuple[str, str, int]]:
        """The negotiated cipher."""

    def getpeercert(self, binary_form: bool = False) -> Any:
        """The leaf, as in ``TLSSocket.getpeercert``."""

    def peer_chain(self) -> List[bytes]:
        """The chain the peer sent, leaf first, DER."""

    @property
    def session_reused(self) -> bool:
        """Whether the handshake resumed an earlier session."""


@runtime_checkable
class DeferredOCSP(Protocol):
    """The optional hook of a ``TLSBuffer`` that lets an event loop ask OCSP responders.

    See the OCSP steps in :class:`TLSBuffer`'s documentation; ``tlsplug.aio`` uses it.
    ``tlsplug.aio`` sets ``defer_ocsp_endpoint_check = True`` before the first
    ``do_handshake``: the buffer then still makes every staple decision (a bad or revoked
    staple, must-staple) inside ``do_handshake`` but contacts no responder. After the
    handshake ``deferred_ocsp_check()`` returns the keyword arguments for
    ``tlsplug.ocsp.post_handshake_check_async`` (``chain``, ``staple``, ``options``,
    ``backend``, ``trust``, ``stapling``, ...), or ``None`` when nothing is left to check;
    the verdict is given back with ``record_ocsp_verdict`` (for ``ocsp_status``).
    """

    defer_ocsp_endpoint_check: bool

    def deferred_ocsp_check(self) -> Optional[Mapping[str, Any]]:
        """Keyword arguments for ``tlsplug.ocsp.post_handshake_check_async``, or ``None``."""

    def record_ocsp_verdict(self, verdict: Any) -> None:
        """The verdict ``post_handshake_check_async`` returned (for ``ocsp_status``)."""


@runtime_checkable
class ClientContext(Protocol):
    """Options turned into a backend's context: files loaded, policy pinned; thread-safe."""

    backend_name: str
    options: TLSOptions

    def wrap_socket(
        self, sock: socket.socket, server_hostname: Optional[str] = None
    ) -> TLSSocket:
        """Handshake over a connected socket and run every check, or raise a ``TLSError``."""

    def wrap_buffers(self, server_hostname: Optional[str] = None) -> TLSBuffer:
        """A sans-IO connection with the same checks as ``wrap_socket``."""


@runtime_checkable
class Backend(Protocol):
    """One object per backend, registered in the ``tlsplug.backends`` entry point group."""

    name: str
    priority: int
    features: FrozenSet[Feature]

    def versions(self) -> Dict[str, str]:
        """Versions worth reporting, e.g. ``{"openssl": "OpenSSL 3.0.19 ..."}``."""

    def check(self, options: TLSOptions) -> None:
        """Raise ``ConfigurationError(code="unsupported-option")`` for what it cannot do."""

    def create_context(self, options: TLSOptions) -> ClientContext:
        """Validate files and build a context (``ConfigurationError`` on bad input)."""
