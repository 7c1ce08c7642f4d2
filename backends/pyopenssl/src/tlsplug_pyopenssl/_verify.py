"""Certificate verification plumbing: the verify callback, OpenSSL's own host/IP check.

The verify callback never changes OpenSSL's verdict; it only records the *first* failing
``X509_V_ERR_*`` number (and its depth) for the connection, because that number - not the
text of the final ``SSL.Error`` - decides the error code (``cert-expired`` vs
``cert-untrusted`` vs ``cert-revoked`` ...), exactly as CPython reads
``SSL_get_verify_result`` for ``SSLCertVerificationError.verify_code``.

Host and IP checks: OpenSSL's (``X509_VERIFY_PARAM_set1_host`` / ``set1_ip``, with the
flags CPython uses, Modules/_ssl.c ``_ssl_configure_hostname``) runs inside the handshake so
a mismatch is reported where docs/design.md's precedence puts it; the verdict is the core's
``check_identity``, run after every handshake (``_checks.finish_handshake``), which
accepts nothing OpenSSL refuses. pyOpenSSL has no public API for the former (as of 26.x);
the cffi bindings of ``cryptography`` do, and a build without them only loses the early
report.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any, Callable, List, Optional, Sequence, Union

from OpenSSL import SSL, crypto

from tlsplug.backend import Identity, TLSError
from tlsplug.backend.openssl import certificate_violation, is_strict_rule, strict_refusal

from ._chains import ChainFacts, ChainMemo, verified_facts

if TYPE_CHECKING:
    from cryptography import x509

    from tlsplug.backend import LastDecision, TLSOptions

    from ._resume import Resumption

__all__ = [
    "BACKEND_NAME",
    "ConnectionState",
    "configure_hostname",
    "install_verify",
    "state_of",
    "verify_callback",
    "verify_error_string",
    "verify_result",
]

#: The name this backend registers under; here, below every module that reports errors
#: (``_translate`` re-exports it), so that none of them imports another only for it.
BACKEND_NAME = "pyopenssl"

# openssl/x509v3.h; what CPython sets: never the subject CN, no "f*.example.com" wildcards.
X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS = 0x4
X509_CHECK_FLAG_NEVER_CHECK_SUBJECT = 0x20
HOST_FLAGS = X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS | X509_CHECK_FLAG_NEVER_CHECK_SUBJECT

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]

try:  # the cffi bindings pyOpenSSL itself is built on (cryptography's _openssl)
    from OpenSSL._util import ffi as _ffi
    from OpenSSL._util import lib as _lib

    _HAS_PARAM_API = all(
        hasattr(_lib, name)
        for name in (
            "SSL_get0_param",
            "X509_VERIFY_PARAM_set1_host",
            "X509_VERIFY_PARAM_set1_ip",
            "X509_VERIFY_PARAM_set_hostflags",
        )
    )
except ImportError:  # pragma: no cover - pyOpenSSL without its private bindings
    _ffi = _lib = None
    _HAS_PARAM_API = False

# Fallback texts (openssl/crypto/x509/x509_txt.c) if X509_verify_cert_error_string is absent.
_VERIFY_TEXTS = {
    2: "unable to get issuer certificate",
    9: "certificate is not yet valid",
    10: "certificate has expired",
    18: "self-signed certificate",
    19: "self-signed certificate in certificate chain",
    20: "unable to get local issuer certificate",
    21: "unable to verify the first certificate",
    23: "certificate revoked",
    62: "hostname mismatch",
    64: "IP address mismatch",
}


def _may_violate_always() -> bool:
    return True


class ConnectionState:
    """What one connection learned during its handshake (stored as its app data).

    A slotted class rather than a dataclass: one exists per open connection, and a pool
    keeps many idle (``__slots__`` on Python 3.9, which has no ``dataclass(slots=True)``).
    """

    __slots__ = (
        "_facts", "chains", "crls", "decided", "deferred", "handshake_done", "identity", "ip",
        "name",
        "ocsp", "options", "resumption", "server_hostname", "strict", "trust",
        "trust_may_violate", "verify_depth", "verify_error", "verifying",
    )

    def __init__(
        self,
        server_hostname: Optional[str],
        *,
        strict: bool = False,
        verifying: Optional[bool] = None,
        trust_may_violate: Callable[[], bool] = _may_violate_always,
        trust: Sequence[Any] = (),
    ) -> None:
        """Nothing learned yet; ``strict``/``verifying`` come from the context."""
        self.server_hostname = server_hostname
        #: The name or IP checked; SNI is ``name`` unless ``ip`` is set.
        self.name: Optional[str] = None
        self.ip: Optional[IPAddress] = None
        #: The first X509_V_ERR_* number the chain verification reported, and its depth.
        self.verify_error: Optional[int] = None
        self.verify_depth: Optional[int] = None
        #: The CRLs of tlsCRLFile, for the CA certificates of the chain (``chain_crl_error``).
        self.crls: Sequence[x509.CertificateRevocationList] = ()
        #: The normalised identity (``tlsplug.backend.server_identity``) that is verified.
        self.identity: Optional[Identity] = None
        #: X509_STRICT is in the policy: run the checks OpenSSL 4.0 dropped (``_checks``).
        self.strict = strict
        self.handshake_done = False
        #: Verification went on past an error OpenSSL finds after the strict checks (strict
        #: mode only); ``_checks.chain_failure`` reports it once the lint has run.
        self.deferred = False
        #: Whether a trusted certificate could fail that lint (one callable per context).
        self.trust_may_violate = trust_may_violate
        #: The connection's ``_ocsp.ConnectionOCSP`` (staple, verdict, refusal) during
        #: the handshake; on a socket afterwards its shared ``_ocsp.OCSPOutcome``; or None.
        self.ocsp: Any = None
        #: Whether the context verifies the peer (None: ask the connection's context).
        self.verifying = verifying
        #: The context's memory of verified chains (``_chains``); None converts every time.
        self.chains: Optional[ChainMemo] = None
        #: The session offered for resumption (``_resume.Resumption``), if any.
        self.resumption: Optional[Resumption] = None
        #: The trusted certificates (``Trust.certs``: tlsCAFile, ca_data, tlsCADirectory)
        #: that may complete the chain: they name the certificate that broke a strict rule
        #: (``explain_strict``).
        self.trust = trust
        #: The context's options, so an error's hint can say what the user set (situated_hint).
        self.options: Optional[TLSOptions] = None
        self._facts: Optional[ChainFacts] = None
        #: The context's last whole decision (``_checks.finish_handshake``); None: none kept.
        self.decided: Optional[LastDecision] = None

    def chain_facts(self, conn: SSL.Connection) -> Optional[ChainFacts]:
        """The verified chain's ``ChainFacts`` (certificates, DER, lint), None before it exists.

        The strict lint and OCSP both need the chain; each conversion to cryptography
        objects re-encodes every certificate, so it happens once per distinct chain.
        """
        if self._facts is None:
            self._facts = verified_facts(conn, self.chains)
            if self._facts is None and self.resumption is not None:
                # Resumed: no chain was verified now; the session's own handshake's was.
                self._facts = self.resumption.offered_facts(conn)
        return self._facts

    def verified_chain(self, conn: SSL.Connection) -> List[x509.Certificate]:
        """The chain OpenSSL verified (leaf first), as cryptography certificates, memoized."""
        facts = self.chain_facts(conn)
        return facts.certs if facts is not None else []


def state_of(conn: SSL.Connection) -> ConnectionState:
    """The ``ConnectionState`` attached to ``conn`` by the context."""
    state = conn.get_app_data()
    assert isinstance(state, ConnectionState)
    return state


# X509_V_ERR_* that OpenSSL finds after check_extensions (crypto/x509/x509_vfy.c
# verify_chain): check_id (62-64), check_revocation (3, 8, 11, 12, 15, 16, 23, 35, 36, 44),
# internal_verify (7, 9, 10, 13, 14, 32) and check_name_constraints (47-53). Errors of
# build_chain (untrusted) and of check_extensions itself still abort verification at once.
DEFERRED_ERRORS = frozenset(
    {62, 63, 64, 3, 8, 11, 12, 15, 16, 23, 35, 36, 44, 7, 9, 10, 13, 14, 32,
     47, 48, 49, 50, 51, 52, 53}
)


def _may_violate(conn: SSL.Connection, state: ConnectionState) -> bool:
    """Whether the chain being verified could fail the strict lint (over-approximated).

    Deferring costs the native ``SSL.Error`` as the error's cause, so it is done only when
    a certificate the server sent, or a trusted one, fails the lint on its own.
    """
    try:
        peers = conn.get_peer_cert_chain(as_cryptography=True) or []
    except Exception:  # no chain to look at: defer, the lint decides with the real one
        return True
    if any(certificate_violation(cert) is not None for cert in peers):
        return True
    return state.trust_may_violate()


def verify_callback(
    conn: SSL.Connection, cert: Optional[crypto.X509], errnum: int, depth: int, ok: int
) -> bool:
    """Record the first failure for ``conn``; return OpenSSL's verdict, or defer it.

    In strict mode an error OpenSSL finds after its ``check_extensions`` step is deferred
    (verification continues, the first error is kept): the X509_STRICT checks OpenSSL 4.0
    dropped must be reported first, as OpenSSL 3.0 does, and they need the verified chain
    (``_checks.chain_failure``, raised by ``finish_handshake`` or by the error translation).
    """
    if ok:
        return True
    state = conn.get_app_data()
    if not isinstance(state, ConnectionState):
        return False
    if state.verify_error is None:
        state.verify_error = errnum
        state.verify_depth = depth
        if state.strict and errnum in DEFERRED_ERRORS and _may_violate(conn, state):
            state.deferred = True
    return state.deferred


def _native_verify(ok: int, store_ctx: Any) -> int:
    """``verify_callback`` at the C level: a certificate that passed costs one cffi call.

    pyOpenSSL's own wrapper (``SSL._VerifyHelper``) builds an ``X509`` object and looks the
    connection up for *every* certificate of the chain, which is most of the Python cost
    of a handshake; only a failure needs the connection, so only a failure pays for it.
    """
    if ok:
        return 1
    try:
        ssl_ptr = _lib.X509_STORE_CTX_get_ex_data(
            store_ctx, _lib.SSL_get_ex_data_X509_STORE_CTX_idx()
        )
        conn = SSL.Connection._reverse_mapping.get(ssl_ptr)
        if conn is None:
            return 0
        errnum = int(_lib.X509_STORE_CTX_get_error(store_ctx))
        depth = int(_lib.X509_STORE_CTX_get_error_depth(store_ctx))
        if verify_callback(conn, None, errnum, depth, 0):
            # As pyOpenSSL's wrapper does: a deferred error must not end the verification.
            _lib.X509_STORE_CTX_set_error(store_ctx, _lib.X509_V_OK)
            return 1
    except Exception:
        return 0
    return 0


_NATIVE_CALLBACK: Any = None
if _lib is not None and all(
    hasattr(_lib, name)
    for name in (
        "SSL_CTX_set_verify",
        "X509_STORE_CTX_get_ex_data",
        "SSL_get_ex_data_X509_STORE_CTX_idx",
        "X509_STORE_CTX_get_error",
        "X509_STORE_CTX_get_error_depth",
        "X509_STORE_CTX_set_error",
    )
) and hasattr(SSL.Connection, "_reverse_mapping"):
    # One module-level callback object: cffi callbacks must stay alive while OpenSSL may
    # call them, and one shared by every context never dies.
    _NATIVE_CALLBACK = _ffi.callback("int (*)(int, X509_STORE_CTX *)", _native_verify)


def install_verify(ctx: SSL.Context) -> None:
    """``VERIFY_PEER`` with the recording callback (the native one when the bindings allow)."""
    if _NATIVE_CALLBACK is None:  # pragma: no cover - bindings without the needed symbols
        ctx.set_verify(SSL.VERIFY_PEER, verify_callback)
        return
    ctx.set_verify(SSL.VERIFY_PEER)  # pyOpenSSL's bookkeeping (and its not-yet-used guard)
    _lib.SSL_CTX_set_verify(ctx._context, _lib.SSL_VERIFY_PEER, _NATIVE_CALLBACK)


def configure_hostname(conn: SSL.Connection, state: ConnectionState) -> None:
    """Ask OpenSSL to check ``state.name``/``state.ip`` during chain verification.

    Per connection (``SSL_get0_param``), so the shared context is never touched.
    """
    if not _HAS_PARAM_API or state.name is None:
        return
    ssl_ptr: Any = conn._ssl  # the bindings need the SSL*; no public accessor
    param = _lib.SSL_get0_param(ssl_ptr)
    _lib.X509_VERIFY_PARAM_set_hostflags(param, HOST_FLAGS)
    if state.ip is not None:
        packed = state.ip.packed
        _lib.X509_VERIFY_PARAM_set1_ip(param, packed, len(packed))
    else:
        raw = state.name.encode("ascii")
        # The core refused every name set1_host refuses; the core's check decides anyway.
        _lib.X509_VERIFY_PARAM_set1_host(param, raw, len(raw))


def verify_result(conn: SSL.Connection) -> Optional[int]:
    """``SSL_get_verify_result`` for ``conn`` (None when the binding is missing or X509_V_OK)."""
    if _lib is None or not hasattr(_lib, "SSL_get_verify_result"):
        return None  # pragma: no cover
    result = int(_lib.SSL_get_verify_result(conn._ssl))
    return result or None


def verify_error_string(errnum: int) -> str:
    """OpenSSL's text for ``errnum``, e.g. "certificate has expired" (what users search for)."""
    if _lib is not None and hasattr(_lib, "X509_verify_cert_error_string"):
        text = _ffi.string(_lib.X509_verify_cert_error_string(errnum))
        return text.decode("ascii", "replace") if isinstance(text, bytes) else str(text)
    return _VERIFY_TEXTS.get(errnum, f"verify error {errnum}")  # pragma: no cover


def explain_strict(
    errnum: Optional[int],
    depth: Optional[int],
    conn: Optional[SSL.Connection],
    state: Optional[ConnectionState],
    *,
    backend: str,
    prefix: str = "",
) -> Optional[TLSError]:
    """The core's precise refusal (certificate, rule, fix) for a strict-only verify error.

    None when ``errnum`` is not a strict-profile rule (``tlsplug.backend.openssl.strict_refusal``).
    """
    if errnum is None or not is_strict_rule(errnum):
        return None
    peers: List[Any] = []
    if conn is not None:
        try:
            peers = list(conn.get_peer_cert_chain(as_cryptography=True) or [])
        except Exception:  # no chain to show: the rule is still named
            peers = []
    anchors = state.trust if state is not None else ()
    return strict_refusal(
        errnum, depth=depth, peers=peers, anchors=anchors, backend=backend, prefix=prefix
    )
