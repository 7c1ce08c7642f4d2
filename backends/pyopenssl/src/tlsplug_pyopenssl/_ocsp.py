"""OCSP for the pyOpenSSL backend: the staple inside the handshake, responders after it.

Decisions come from :mod:`tlsplug.ocsp` (the MongoDB OCSP specification, RFC 6960, RFC 7633);
this module only supplies what pyOpenSSL exposes:

* :class:`OCSPSupport` (one per context) installs the OCSP *client* callback on the
  ``SSL.Context`` when it is built (a context is never mutated after its first use) and loads
  the trusted certificates lazily, once, for issuer look-ups outside the peer's chain.
* :class:`ConnectionOCSP` (one per connection, ``ConnectionState.ocsp``) asks for the status
  (``request_ocsp``: the ``status_request`` extension, RFC 6066 §8), judges the staple in the
  callback with :func:`tlsplug.ocsp.check_staple` and, when that fails, stashes the tlsplug
  error and returns ``False``: OpenSSL then aborts with "invalid status response", which the
  error choke point (``_translate``) replaces with the stashed error, chained from the
  native one.
* After the handshake, :meth:`ConnectionOCSP.pending` tells whether responders may still be
  asked (no conclusive staple, ``options.check_ocsp_endpoint``); blocking sockets run
  :meth:`ConnectionOCSP.finish_sync`, ``tlsplug.aio`` runs the same check off the loop
  through the ``DeferredOCSP`` hook of the sans-IO buffer.

A resumed session carries no Certificate message and no staple (under TLS 1.2 the status
callback is not called; under TLS 1.3 it is, with nothing, and ignores that): the full
handshake that created the session judged the staple, so a resumed connection skips the
staple step (``stapling=False``) and only consults the responders — in practice the
process-wide cache, which holds the earlier answer.
"""

from __future__ import annotations

import functools
import logging
from typing import Any, Dict, List, Optional, Sequence, Tuple

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from OpenSSL import SSL

from tlsplug import ocsp
from tlsplug.backend import Materials, TLSError, TLSOptions, codes, error_for_code

from ._chains import ChainFacts
from ._resume import session_reused
from ._translate import BACKEND_NAME
from ._verify import ConnectionState

__all__ = ["ConnectionOCSP", "OCSPOutcome", "OCSPSupport", "install_ocsp", "outcome", "status_of"]

LOG = logging.getLogger("tlsplug.ocsp")


class OCSPSupport:
    """What one context needs for OCSP: its options and the trusted certificates, lazily."""

    def __init__(self, options: TLSOptions, materials: Materials) -> None:
        """Keep the options; the trust store is parsed on the first look-up only."""
        self.options = options
        #: The options' OCSP switches, read on every handshake (properties compute them).
        self.enabled = options.check_ocsp_stapling
        self.check_endpoint = options.check_ocsp_endpoint
        self._trust = materials.trust

    def trust(self) -> Sequence[x509.Certificate]:
        """The trusted certificates (``Trust.certificates``: listed on the first look-up)."""
        return self._trust.certificates()

    def new_connection(self, conn: SSL.Connection) -> Optional[ConnectionOCSP]:
        """Ask ``conn`` for the certificate status; the per-connection state (None when off)."""
        if not self.enabled:
            return None
        conn.request_ocsp()
        return ConnectionOCSP(self)


def install_ocsp(ctx: SSL.Context, options: TLSOptions) -> None:
    """Set the OCSP client callback on ``ctx`` when the options check OCSP.

    Called while the context is built: pyOpenSSL refuses to change a context once a
    connection was made from it. The callback finds the connection's state itself.
    """
    if not options.check_ocsp_stapling:
        return
    if _NATIVE_STATUS is None:  # pragma: no cover - bindings without the needed symbols
        ctx.set_ocsp_client_callback(_status_callback)
        return
    # Directly, as the verify callback (_verify.py): pyOpenSSL's wrapper allocates and looks
    # up per call what this needs once; the staple itself is judged by on_staple either way.
    if _lib.SSL_CTX_set_tlsext_status_cb(ctx._context, _NATIVE_STATUS) != 1:
        ctx.set_ocsp_client_callback(_status_callback)  # pragma: no cover


def _facts(conn: SSL.Connection) -> Optional[ChainFacts]:
    """The connection's verified chain, converted once per distinct chain (``_chains``)."""
    state = conn.get_app_data()
    return state.chain_facts(conn) if isinstance(state, ConnectionState) else None


def _chain(conn: SSL.Connection) -> List[bytes]:
    """The verified chain (leaf first, root included), else the chain the peer sent."""
    facts = _facts(conn)
    if facts is not None:
        return facts.ders
    chain = conn.get_peer_cert_chain(as_cryptography=True)
    return [_der(c) for c in chain or []]


@functools.lru_cache(maxsize=256)
def _der(cert: x509.Certificate) -> bytes:
    # A resumed session's peer chain: encode each distinct certificate once.
    return cert.public_bytes(Encoding.DER)


def _status_callback(conn: SSL.Connection, staple: bytes, data: Any) -> bool:
    """OpenSSL's OCSP client callback (RFC 6066 §8): accept, or stash the error and refuse."""
    state = conn.get_app_data()
    tracker = getattr(state, "ocsp", None)
    if not isinstance(tracker, ConnectionOCSP):
        return True  # a connection tlsplug did not make: nothing to judge with
    return tracker.on_staple(conn, staple)


def _native_status(ssl_ptr: Any, arg: Any) -> int:
    """The OCSP client callback at the C level: 1 accept, 0 refuse, -1 internal error."""
    try:
        conn = SSL.Connection._reverse_mapping.get(ssl_ptr)
        if conn is None:
            return 1  # a connection pyOpenSSL does not know: nothing to judge with
        tracker = getattr(conn.get_app_data(), "ocsp", None)
        if not isinstance(tracker, ConnectionOCSP):
            return 1  # a connection tlsplug did not make: nothing to judge with
        out = _ffi.new("unsigned char **")
        size = _lib.SSL_get_tlsext_status_ocsp_resp(ssl_ptr, out)
        staple = _ffi.buffer(out[0], size)[:] if size > 0 else b""
        return 1 if tracker.on_staple(conn, staple) else 0
    except Exception:
        return -1


try:  # pyOpenSSL's cffi bindings (cryptography's), as in _verify.py
    from OpenSSL._util import ffi as _ffi
    from OpenSSL._util import lib as _lib

    _NATIVE_STATUS: Any = (
        _ffi.callback("int (*)(SSL *, void *)", _native_status)
        if hasattr(_lib, "SSL_CTX_set_tlsext_status_cb")
        and hasattr(_lib, "SSL_get_tlsext_status_ocsp_resp")
        and hasattr(SSL.Connection, "_reverse_mapping")
        else None
    )
except ImportError:  # pragma: no cover
    _NATIVE_STATUS = None


class ConnectionOCSP:
    """The OCSP state of one connection: staple, verdict, and the error to raise."""

    __slots__ = (
        "callback_ran", "defer", "done", "error", "staple", "staple_verdict", "support",
        "verdict",
    )

    def __init__(self, support: OCSPSupport) -> None:
        """Start empty; the status callback and the post-handshake step fill it."""
        self.support = support
        self.callback_ran = False
        self.staple: Optional[bytes] = None
        self.staple_verdict: Optional[ocsp.Verdict] = None
        #: The tlsplug error behind an "invalid status response" failure of the handshake.
        self.error: Optional[TLSError] = None
        self.verdict: Optional[ocsp.Verdict] = None
        self.done = False
        #: Set by ``tlsplug.aio`` (the ``DeferredOCSP`` hook): never ask responders inline.
        self.defer = False

    # -- in the handshake -----------------------------------------------------------------

    def on_staple(self, conn: SSL.Connection, staple: bytes) -> bool:
        """Judge the staple (RFC 6960 §3.2, RFC 7633); False makes OpenSSL abort."""
        if session_reused(conn):
            # OpenSSL calls this on a resumed TLS 1.3 handshake too, which carries no
            # Certificate message and so no staple: the full handshake that made the
            # session judged its staple (see the module docstring). Judging "nothing
            # stapled" now would fail every resumption to a must-staple server.
            return True
        self.callback_ran = True
        self.staple = staple or None
        if self.staple is None:
            leaf = self._leaf(conn)
            if leaf is not None and not ocsp.must_staple(leaf):
                return True  # nothing stapled, nothing required: check_staple's answer
        try:
            # With the chain's memoized certificates and issuer (``_chains``), judging a
            # staple seen before costs its clock checks only (tlsplug.ocsp memoizes the rest).
            facts = _facts(conn)
            pair = self._leaf_and_issuer(conn) if facts is not None else None
            self.staple_verdict = ocsp.check_staple(
                self.staple,
                facts.certs if facts is not None else _chain(conn),
                self.support.options,
                backend=BACKEND_NAME,
                trust=self.support.trust(),
                issuer=pair[1] if pair is not None else None,
            )
        except TLSError as exc:
            self.error = exc
            return False
        except Exception as exc:  # a bug must not pass as an accepted staple
            error = error_for_code(
                codes.OCSP_INVALID_RESPONSE,
                f"invalid status response: the stapled OCSP response could not be checked "
                f"({type(exc).__name__}: {exc})",
                backend=BACKEND_NAME,
            )
            error.__cause__ = exc
            self.error = error
            return False
        return True

    # -- after the handshake --------------------------------------------------------------

    def pending(self, conn: SSL.Connection) -> Optional[Dict[str, Any]]:
        """Keyword arguments for ``post_handshake_check(_async)``, or None when decided.

        Decided without a responder: a good staple (MongoDB OCSP spec: a valid staple is
        conclusive), or options that never contact responders (then the staple-less
        verdict is computed here, without I/O).
        """
        if self.done:
            return None
        if self.staple_verdict is not None and self.staple_verdict.ok:
            self.record(self.staple_verdict)
            return None
        kwargs: Dict[str, Any] = {
            "chain": _chain(conn),
            "staple": self.staple,
            "options": self.support.options,
            "backend": BACKEND_NAME,
            "trust": self.support.trust(),
            # No callback on a resumed session: the staple was judged in the full handshake.
            "stapling": self.callback_ran and not session_reused(conn),
        }
        if not kwargs["stapling"]:
            kwargs["staple"] = None
        if not self.support.check_endpoint:
            self.record(ocsp.post_handshake_check(**kwargs))  # no network: decide now
            return None
        return kwargs

    def finish_sync(self, conn: SSL.Connection) -> None:
        """Ask the responders now, blocking up to ``ocsp_timeout`` (blocking sockets)."""
        if not self.done and self._plain_full_handshake(conn):
            pair = self._leaf_and_issuer(conn)
            if pair is not None:
                # What post_handshake_check does for this case, without judging the absent
                # staple again or looking the issuer up again: the (leaf, issuer) pair of a
                # chain is remembered with the chain (``_chains``).
                options = self.support.options
                self.record(ocsp.check_responders(
                    pair[0], pair[1], timeout=options.ocsp_timeout, backend=BACKEND_NAME
                ))
                return
        kwargs = self.pending(conn)
        if kwargs is not None:
            self.record(ocsp.post_handshake_check(**kwargs))

    def _plain_full_handshake(self, conn: SSL.Connection) -> bool:
        # No staple and the responders are to be asked; either the callback ran (so a
        # must-staple leaf already failed the handshake) on a full handshake, or the
        # session was resumed (no callback: the staple step is skipped, see above).
        if self.staple is not None or self.error is not None:
            return False
        if not self.support.check_endpoint:
            return False
        return self.callback_ran or session_reused(conn)

    @staticmethod
    def _leaf(conn: SSL.Connection) -> Optional[x509.Certificate]:
        facts = _facts(conn)
        return facts.certs[0] if facts is not None and facts.certs else None

    def _leaf_and_issuer(
        self, conn: SSL.Connection
    ) -> Optional[Tuple[x509.Certificate, x509.Certificate]]:
        facts = _facts(conn)
        if facts is None or not facts.certs:
            return None
        # The issuer is in the verified chain (remembered with it), else in the trust store;
        # None: the general path logs the soft-fail.
        return facts.ocsp_pair() or facts.ocsp_pair(self.support.trust())

    def record(self, verdict: Optional[ocsp.Verdict]) -> None:
        """Keep the final verdict (for ``ocsp_status``)."""
        self.verdict = verdict
        self.done = True

    @property
    def status(self) -> Optional[str]:
        """``ocsp_status``: the status text once decided, None before."""
        return ocsp.status_text(self.verdict) if self.done else None


class OCSPOutcome:
    """A decided OCSP step, immutable: one object per distinct verdict, shared by sockets.

    Once a socket's handshake and responder check are over only ``ocsp_status`` remains to
    be answered; verdicts are frozen (and the common ones - no responder, a cached answer -
    are the very same object every time), so an idle pool holds one of these per verdict
    instead of a ``ConnectionOCSP`` per connection.
    """

    __slots__ = ("status", "verdict")

    def __init__(self, verdict: Optional[ocsp.Verdict]) -> None:
        """Keep ``verdict`` and its status text."""
        self.verdict = verdict
        self.status: Optional[str] = ocsp.status_text(verdict)


@functools.lru_cache(maxsize=64)  # equal (frozen) verdicts share one outcome
def _outcome_of(verdict: Optional[ocsp.Verdict]) -> OCSPOutcome:
    return OCSPOutcome(verdict)


def outcome(tracker: Any) -> Any:
    """The shared outcome of a decided ``ConnectionOCSP``; anything else is returned as is."""
    if not isinstance(tracker, ConnectionOCSP) or not tracker.done or tracker.error is not None:
        return tracker
    try:
        return _outcome_of(tracker.verdict)
    except TypeError:  # pragma: no cover - an unhashable verdict: its own outcome
        return OCSPOutcome(tracker.verdict)


def status_of(tracker: Any, options: TLSOptions, done: bool) -> Optional[str]:
    """A connection's ``ocsp_status``: ``"off"`` when the options disable OCSP."""
    if tracker is None:
        return ocsp.status_text(None) if done and not options.check_ocsp_stapling else None
    status: Optional[str] = tracker.status
    return status
