"""The client variants the benchmark compares, each doing exactly the same work.

``raw-ssl`` and ``raw-pyopenssl`` are written the way a competent user writes them without
tlsplug: a verifying context built once, the host name checked, the session kept by hand
for resumption (taken after the first read, because TLS 1.3 tickets arrive after the
handshake), close_notify sent (pyOpenSSL: so the session stays resumable; ``ssl``: a
non-blocking ``unwrap()``, the same alert on the wire as tlsplug sends, since
``SSLSocket.close()`` alone sends none). ``raw-pyopenssl-stapled`` is that pyOpenSSL
client asking for the certificate status (RFC 6066 §8) and checking the stapled response
by hand as RFC 6960 §3.2 says, with ``cryptography``, on every handshake (what
``bench.run``'s stapled section compares tlsplug with). ``tlsplug-*`` go through
``tlsplug.create_context`` / ``wrap_socket`` with every check tlsplug makes. Sockets: each
pair uses the same socket mode, so the ratio is tlsplug's cost and nothing else. The
stdlib pair uses a socket timeout (``ssl`` supports it natively). The pyOpenSSL pair uses
blocking sockets: raw pyOpenSSL has no timeouts without a hand-written poll loop, and
tlsplug keeps a socket without a timeout blocking too (with a timeout it runs that loop,
which costs a failed ``recv`` and a ``poll`` per wait; ``TIMEOUT_PYOPENSSL`` changes it).
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
from typing import Any, Dict, List, Optional, Tuple

import tlsplug

Address = Tuple[str, int]
HOST = "localhost"
TIMEOUT = 30.0
#: The socket timeout of the tlsplug-pyopenssl variant (None: blocking, like raw pyOpenSSL).
TIMEOUT_PYOPENSSL: Optional[float] = None
#: The ping: (request, how the answer ends); each handshake server has its own
#: (``bench.server.PING``, ``bench.openssl_server.PING``, ``bench.nginx_server.PING``).
PING: Tuple[bytes, bytes] = (b"P\n", b"P")
#: Extra TLSOptions fields for the tlsplug variants (``--no-revocation-check``).
TLSPLUG_EXTRA: Dict[str, Any] = {}

VARIANTS = ["raw-ssl", "tlsplug-stdlib", "raw-pyopenssl", "tlsplug-pyopenssl"]
#: tlsplug variant -> the raw variant it is compared with.
PAIRS = {"tlsplug-stdlib": "raw-ssl", "tlsplug-pyopenssl": "raw-pyopenssl"}


def available(names: List[str]) -> List[str]:
    """The variants that can run here (the pyOpenSSL ones need tlsplug-pyopenssl)."""
    have_pyopenssl = "pyopenssl" in tlsplug.available_backends()
    return [n for n in names if have_pyopenssl or "pyopenssl" not in n]


class Client:
    """A context plus, for raw variants, the session kept by hand."""

    def __init__(self, variant: str, ca_file: Optional[str], resume: bool) -> None:
        """Build the context now (outside any timing)."""
        self.variant = variant
        self.resume = resume
        self.session: Any = None
        self.ctx: Any = make_context(variant, ca_file, resume)

    def open(self, address: Address) -> Conn:
        """Connect and handshake."""
        if self.variant == "raw-ssl":
            sock = socket.create_connection(address, timeout=TIMEOUT)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            tls = self.ctx.wrap_socket(
                sock, server_hostname=HOST, session=self.session if self.resume else None
            )
            return Conn(self, tls, "ssl")
        if self.variant.startswith("raw-pyopenssl"):
            from OpenSSL import SSL

            sock = socket.create_connection(address)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = SSL.Connection(self.ctx, sock)
            conn.set_tlsext_host_name(HOST.encode())
            _pyopenssl_check_host(conn, HOST)
            if self.variant == "raw-pyopenssl-stapled":
                conn.request_ocsp()
            if self.resume and self.session is not None:
                conn.set_session(self.session)
            conn.set_connect_state()
            conn.do_handshake()
            return Conn(self, conn, "pyopenssl", sock)
        timeout = TIMEOUT_PYOPENSSL if self.variant == "tlsplug-pyopenssl" else TIMEOUT
        sock = socket.create_connection(address, timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return Conn(self, self.ctx.wrap_socket(sock, server_hostname=HOST), "tlsplug")


class Conn:
    """One connection; the same operations whatever the variant."""

    def __init__(self, client: Client, tls: Any, kind: str, sock: Any = None) -> None:
        """Wrap a finished handshake."""
        self.client = client
        self.tls = tls
        self.kind = kind
        self.sock = sock

    @property
    def reused(self) -> bool:
        """Whether the handshake resumed a session."""
        if self.kind == "pyopenssl":
            from OpenSSL._util import lib

            return bool(lib.SSL_session_reused(self.tls._ssl))
        return bool(self.tls.session_reused)

    def ping(self) -> None:
        """A request there, its answer back (also makes the client read TLS 1.3 tickets)."""
        request, end = PING
        self.tls.sendall(request)
        answer = b""
        while not answer.endswith(end):
            chunk = self.tls.recv(4096)
            if not chunk:
                raise RuntimeError(f"bad ping answer {answer!r}")
            answer += chunk

    def upload(self, total: int, block: bytes) -> None:
        """Send ``total`` bytes in ``len(block)`` writes; wait for the server's receipt."""
        self.tls.sendall(b"U" + struct.pack("!Q", total))
        sent = 0
        while sent < total:
            self.tls.sendall(block)
            sent += len(block)
        if self.tls.recv(1) != b"K":
            raise RuntimeError("bad upload receipt")

    def download(self, total: int, buf: bytearray) -> None:
        """Receive ``total`` bytes with ``recv_into`` into ``buf`` (the chunk size)."""
        self.tls.sendall(b"D" + struct.pack("!QI", total, len(buf)))
        got = 0
        view = memoryview(buf)
        while got < total:
            n = self.tls.recv_into(view, min(len(buf), total - got))
            if not n:
                raise RuntimeError("server closed early")
            got += n

    def close(self) -> None:
        """Close; raw variants keep the session (after close_notify, so it stays resumable)."""
        if self.kind == "ssl":
            if self.client.resume:
                self.client.session = self.tls.session
            # close_notify (RFC 8446 §6.1) without waiting for the peer's, as tlsplug and
            # pyOpenSSL's shutdown() do: SSLSocket.close() alone sends none.
            self.tls.setblocking(False)
            with contextlib.suppress(ssl.SSLError, OSError):
                self.tls.unwrap()
            self.tls.close()
        elif self.kind == "pyopenssl":  # raw-pyopenssl and raw-pyopenssl-stapled
            from OpenSSL import SSL

            if self.client.resume:
                self.client.session = self.tls.get_session()
            with contextlib.suppress(SSL.Error):
                self.tls.shutdown()
            self.sock.close()
        else:
            self.tls.close()


def make_context(variant: str, ca_file: Optional[str], resume: bool = True) -> Any:
    """The variant's context (what ``bench.measure.context_creation`` times)."""
    if variant == "raw-ssl":
        return ssl.create_default_context(cafile=ca_file)
    if variant.startswith("raw-pyopenssl"):
        from OpenSSL import SSL

        ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
        ctx.set_min_proto_version(SSL.TLS1_2_VERSION)
        ctx.set_verify(SSL.VERIFY_PEER)
        if ca_file is not None:
            ctx.load_verify_locations(ca_file)
        else:
            ctx.set_default_verify_paths()
        if variant == "raw-pyopenssl-stapled":
            ctx.set_ocsp_client_callback(_staple_checked_by_hand)
        return ctx
    backend = variant.split("-", 1)[1]
    options = tlsplug.TLSOptions(
        enabled=True, backend=backend, ca_file=ca_file, session_resumption=resume,
        **TLSPLUG_EXTRA,
    )
    return tlsplug.create_context(options)


def _staple_checked_by_hand(conn: Any, staple: bytes, data: Any) -> bool:
    """The OCSP callback a careful pyOpenSSL user writes (RFC 6960 §3.2), no memo.

    The response is successful, about this leaf (serial and issuer key hash), signed by
    the leaf's issuer from the peer's chain, current (thisUpdate <= now < nextUpdate) and
    "good". False makes OpenSSL abort the handshake.
    """
    import datetime

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.x509 import ocsp

    if not staple:
        return False  # the bench's server always staples
    chain = conn.get_peer_cert_chain(as_cryptography=True) or []
    leaf = chain[0]
    issuer = next((c for c in chain[1:] if c.subject == leaf.issuer), None)
    if issuer is None:
        return False
    response = ocsp.load_der_ocsp_response(staple)
    if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        return False
    key_hash = hashes.Hash(response.hash_algorithm)
    key_hash.update(_public_key_bits(issuer))
    if (response.serial_number != leaf.serial_number
            or response.issuer_key_hash != key_hash.finalize()):
        return False
    key = issuer.public_key()
    algorithm = response.signature_hash_algorithm
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(response.signature, response.tbs_response_bytes, ec.ECDSA(algorithm))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(response.signature, response.tbs_response_bytes, padding.PKCS1v15(),
                       algorithm)
        else:
            return False
    except Exception:
        return False
    now = datetime.datetime.now(datetime.timezone.utc)
    if hasattr(response, "this_update_utc"):  # cryptography >= 43
        this_update, next_update = response.this_update_utc, response.next_update_utc
    else:
        this_update, next_update = _aware(response.this_update), _aware(response.next_update)
    if this_update > now or (next_update is not None and now >= next_update):
        return False
    return bool(response.certificate_status == ocsp.OCSPCertStatus.GOOD)


def _aware(value: Any) -> Any:
    # cryptography < 43: naive datetimes meaning UTC (and no *_utc properties).
    import datetime

    return None if value is None else value.replace(tzinfo=datetime.timezone.utc)


def _public_key_bits(cert: Any) -> bytes:
    # The issuer key hash is over the subjectPublicKey BIT STRING's value (RFC 6960 §4.1.1).
    from cryptography.hazmat.primitives import serialization

    key = cert.public_key()
    from cryptography.hazmat.primitives.asymmetric import ec

    if isinstance(key, ec.EllipticCurvePublicKey):
        return key.public_bytes(serialization.Encoding.X962,
                                serialization.PublicFormat.UncompressedPoint)
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)


def _pyopenssl_check_host(conn: Any, host: str) -> None:
    # What a careful pyOpenSSL user does: let OpenSSL check the name during verification
    # (X509_VERIFY_PARAM_set1_host), as service_identity-free code must.
    from OpenSSL._util import lib

    param = lib.SSL_get0_param(conn._ssl)
    raw = host.encode()
    if lib.X509_VERIFY_PARAM_set1_host(param, raw, len(raw)) != 1:
        raise RuntimeError("cannot set the host to verify")


def describe() -> Dict[str, str]:
    """Versions worth recording with the results."""
    out = {"ssl": ssl.OPENSSL_VERSION}
    try:
        import OpenSSL

        out["pyopenssl"] = OpenSSL.__version__
        out["pyopenssl-openssl"] = OpenSSL.SSL.SSLeay_version(OpenSSL.SSL.SSLEAY_VERSION).decode()
    except ImportError:
        pass
    return out
