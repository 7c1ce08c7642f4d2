"""``TLSOptions`` turned into one ``OpenSSL.SSL.Context``, built once and never mutated.

pyOpenSSL 26.2 refuses to mutate a ``Context`` once a ``Connection`` was made from it (the
``_require_not_used`` guard); everything that differs per connection (SNI, the host/IP to
verify, the connection's state) is set on the ``Connection``, so one context serves every
thread.
"""

from __future__ import annotations

import socket
import ssl
from typing import Any, Callable, Dict, Optional, Tuple

from OpenSSL import SSL, crypto

from tlsplug.backend import (
    ConfigurationError,
    LastDecision,
    Materials,
    Policy,
    SessionStore,
    TLSBuffer,
    TLSOptions,
    TLSSocket,
    Trust,
    codes,
    load_materials,
    option_error,
    policy_for,
    server_identity,
    session_key,
)
from tlsplug.backend.openssl import X509_V_FLAG_X509_STRICT, certificate_violation

from ._buffer import PyOpenSSLBuffer
from ._chains import ChainMemo
from ._ocsp import OCSPSupport, install_ocsp
from ._resume import Resumption
from ._socket import PyOpenSSLSocket
from ._translate import BACKEND_NAME
from ._verify import ConnectionState, configure_hostname, install_verify

try:  # pyOpenSSL's private cffi bindings (the host check in _verify.py uses them too)
    from OpenSSL._util import lib as _openssl_lib

    _CLEAR_MODE: Optional[Callable[[Any, int], int]] = _openssl_lib.SSL_clear_mode
    _PARTIAL_WRITE: int = _openssl_lib.SSL_MODE_ENABLE_PARTIAL_WRITE
except (ImportError, AttributeError):  # pragma: no cover - then partial writes stay on
    _CLEAR_MODE, _PARTIAL_WRITE = None, 0

__all__ = ["PyOpenSSLContext", "build_context"]

_VERSIONS: Dict[ssl.TLSVersion, int] = {
    ssl.TLSVersion.TLSv1: SSL.TLS1_VERSION,
    ssl.TLSVersion.TLSv1_1: SSL.TLS1_1_VERSION,
    ssl.TLSVersion.TLSv1_2: SSL.TLS1_2_VERSION,
    ssl.TLSVersion.TLSv1_3: SSL.TLS1_3_VERSION,
}
# openssl/ssl.h; pyOpenSSL only exposes OP_NO_RENEGOTIATION when its bindings have it.
_OP_NO_RENEGOTIATION: int = getattr(SSL, "OP_NO_RENEGOTIATION", 0x40000000)
_OP_LEGACY_SERVER_CONNECT: int = getattr(SSL, "OP_LEGACY_SERVER_CONNECT", 0x4)
# CPython's client default (Modules/_ssl.c, _ssl__SSLContext_impl): the bug workarounds of
# SSL_OP_ALL, but keep the empty-fragment CBC countermeasure (matters for legacy TLS 1.0).
_OP_DEFAULTS: int = (
    (SSL.OP_ALL & ~SSL.OP_DONT_INSERT_EMPTY_FRAGMENTS) | SSL.OP_NO_COMPRESSION | SSL.OP_NO_SSLv3
)


def _install_trust(ctx: SSL.Context, trust: Trust) -> None:
    if trust.certs:  # parsed once by load_materials
        store = ctx.get_cert_store()
        assert store is not None
        for cert in trust.certs:
            store.add_cert(crypto.X509.from_cryptography(cert))
    if trust.cafile or trust.capath:
        # OpenSSL reads these itself: the system store, certifi, truststore's Linux bundle,
        # or a tlsCAFile in OpenSSL's TRUSTED CERTIFICATE format (only its loader reads it).
        # pyOpenSSL cannot reach the macOS keychain or the Windows store (check() refuses
        # trust_store="os" there).
        ctx.load_verify_locations(trust.cafile, trust.capath)


def build_context(options: TLSOptions, materials: Materials, policy: Policy) -> SSL.Context:
    """A client ``SSL.Context`` applying ``policy`` and ``materials`` (never mutated later)."""
    ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
    ctx.set_min_proto_version(_VERSIONS[policy.minimum_version])
    ctx.set_max_proto_version(_VERSIONS[policy.maximum_version])
    # The lists are spelled out suite by suite, so OpenSSL 3.0 and 4.0 expand them alike.
    ctx.set_cipher_list(policy.ciphers.encode("ascii"))
    if hasattr(ctx, "set_tls13_ciphersuites"):  # pyOpenSSL >= 24.2; older: same defaults
        ctx.set_tls13_ciphersuites(policy.tls13_ciphersuites.encode("ascii"))
    opts = _OP_DEFAULTS | _OP_NO_RENEGOTIATION
    if policy.legacy_server_connect:
        opts |= _OP_LEGACY_SERVER_CONNECT
    ctx.set_options(opts)
    # What CPython's ssl sets on every context (bpo-25672): an idle connection returns its
    # read and write buffers (~34 KiB) to the allocator. pyOpenSSL leaves the mode off, so
    # an idle pool cost twice what ssl's does; bulk transfers keep their buffers while
    # data flows (bench/: bulk ratios, bench --soak: idle bytes; docs/howto/pools.md).
    ctx.set_mode(SSL.MODE_RELEASE_BUFFERS)

    if options.verify_certificates:
        install_verify(ctx)
    else:
        ctx.set_verify(SSL.VERIFY_NONE)
    store = ctx.get_cert_store()
    assert store is not None
    # CRL_CHECK (leaf only) is in the flags when a CRL is used: Python's VERIFY_CRL_CHECK_LEAF.
    store.set_flags(policy.verify_flags)
    try:
        _install_trust(ctx, materials.trust)
    except (SSL.Error, crypto.Error) as exc:
        raise option_error(
            "tlsCAFile", options.ca_file, f"not usable by OpenSSL ({exc})", backend=BACKEND_NAME
        ) from exc
    try:
        for crl in materials.crls:
            store.add_crl(crl)
    except (SSL.Error, crypto.Error) as exc:
        raise option_error(
            "tlsCRLFile", options.crl_file, f"not usable by OpenSSL ({exc})", backend=BACKEND_NAME
        ) from exc

    if materials.client_chain and materials.client_key is not None:
        try:
            ctx.use_certificate(materials.client_chain[0])
            ctx.use_privatekey(materials.client_key)  # type: ignore[arg-type]
            for extra in materials.client_chain[1:]:
                ctx.add_extra_chain_cert(extra)
            ctx.check_privatekey()
        except (SSL.Error, crypto.Error, TypeError, ValueError) as exc:
            # e.g. "ee key too small" under the security level, or an unsupported key type.
            raise option_error(
                "tlsCertificateKeyFile" if options.certificate_key_data is None
                else "certificate_key_data", options.certificate_key_file,
                f"OpenSSL refused the certificate or key ({exc})", backend=BACKEND_NAME,
            ) from exc
    if options.alpn_protocols:  # RFC 7301; offered as ssl.SSLContext.set_alpn_protocols does
        ctx.set_alpn_protos([name.encode("ascii") for name in options.alpn_protocols])
    # OCSP: the status callback here, request_ocsp() per connection (_ocsp.py).
    install_ocsp(ctx, options)
    return ctx


def _trust_may_violate(trust: Trust) -> bool:
    """Whether one of the trust store's certificates fails ``certificate_violation``."""
    if not trust.complete():  # a directory of hashed names, TRUSTED CERTIFICATE blocks...
        return True  # assume the worst
    return any(certificate_violation(cert) is not None for cert in trust.certificates())


class PyOpenSSLContext:
    """A ``ClientContext`` over one shared, immutable ``SSL.Context``."""

    backend_name = BACKEND_NAME

    def __init__(self, options: TLSOptions) -> None:
        """Load and check every file, then build the native context."""
        self.options = options
        self.materials = load_materials(options)
        self.policy = policy_for(options)
        self.native = build_context(options, self.materials, self.policy)
        self.ocsp = OCSPSupport(options, self.materials)
        self._trust_lint: Optional[bool] = None
        # One bound method for every connection's state (not one per connection).
        self._trust_check: Callable[[], bool] = self.trust_may_violate
        # A pool talks to a handful of servers: a few chains per context.
        self.chains = ChainMemo(maxsize=32)
        # The last whole decision, for the next handshake with the same chain and host.
        self.decided = LastDecision()
        # Per-connection decisions that depend on the options only, made once.
        self._strict = bool(self.policy.verify_flags & X509_V_FLAG_X509_STRICT)
        self._openssl_checks_host = options.verify_certificates and options.verify_hostname
        self._verifying = options.verify_certificates
        # The explicit trust anchors, to explain a strict refusal (which CA broke it).
        self._trust = self.materials.trust.certs
        # Sessions are per context: never offered by a context with other options.
        self.sessions = SessionStore() if options.session_resumption else None

    def trust_may_violate(self) -> bool:
        """Whether a trusted certificate fails the strict lint on its own (cached)."""
        if self._trust_lint is None:
            self._trust_lint = _trust_may_violate(self.materials.trust)
        return self._trust_lint

    def __repr__(self) -> str:
        return f"<PyOpenSSLContext {self.options!r}>"

    def new_connection(
        self, sock: Optional[socket.socket], server_hostname: Optional[str]
    ) -> Tuple[SSL.Connection, ConnectionState]:
        """A client ``Connection`` (socket, or memory BIOs when ``sock`` is None)."""
        if server_hostname is None and self.options.verify_hostname:
            raise ConfigurationError(
                "server_hostname is required while hostnames are verified",
                code=codes.INVALID_OPTION, option="server_hostname", backend=BACKEND_NAME,
                hint="Pass the host you dialled, or set tlsAllowInvalidHostnames=true.",
            )
        state = ConnectionState(
            server_hostname, strict=self._strict, verifying=self._verifying,
            trust_may_violate=self._trust_check, trust=self._trust,
        )
        if server_hostname is not None:
            # The one identity rule (docs/design.md, Identity), before any byte is sent.
            state.identity = server_identity(server_hostname, backend=BACKEND_NAME)
            state.name, state.ip = state.identity
        state.options = self.options
        state.crls = self.materials.crls
        state.chains = self.chains
        state.decided = self.decided
        conn = SSL.Connection(self.native, sock)
        if sock is not None and _CLEAR_MODE is not None:
            # pyOpenSSL turns on partial writes, so one SSL_write returns per 16 KiB record
            # and a 64 KiB sendall costs four trips through Python. Without it SSL_write
            # finishes the whole buffer (or asks to be retried with the same one, which
            # sendall does; SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER stays on).
            _CLEAR_MODE(conn._ssl, _PARTIAL_WRITE)
        conn.set_app_data(state)
        state.ocsp = self.ocsp.new_connection(conn)  # request_ocsp() when OCSP is on
        if state.name is not None and state.ip is None:
            conn.set_tlsext_host_name(state.name.encode("ascii"))  # never for IP literals
        if self._openssl_checks_host:
            configure_hostname(conn, state)
        conn.set_connect_state()
        return conn, state

    def wrap_socket(
        self, sock: socket.socket, server_hostname: Optional[str] = None
    ) -> TLSSocket:
        """Handshake over ``sock`` and run every check (``TLSError`` on failure)."""
        if sock.gettimeout() == 0.0:  # same rule as the stdlib backend
            raise ValueError("wrap_socket needs a blocking socket; use wrap_buffers instead")
        conn, state = self.new_connection(sock, server_hostname)  # like ssl: sock kept open
        resume = None
        if self.sessions is not None:
            resume = Resumption(self.sessions, session_key(sock, state.name))
            resume.offer(conn)
            state.resumption = resume
        return PyOpenSSLSocket.handshake(conn, state, sock, self.options, resume)

    def wrap_buffers(self, server_hostname: Optional[str] = None) -> TLSBuffer:
        """A sans-IO connection with the same checks as ``wrap_socket``."""
        conn, state = self.new_connection(None, server_hostname)
        return PyOpenSSLBuffer(conn, state, self.options)
