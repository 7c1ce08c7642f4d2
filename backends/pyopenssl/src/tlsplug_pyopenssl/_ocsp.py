"""OCSP for the pyOpenSSL backend: the staple inside the handshake, responders after it.

Decisions come from :mod:`tlsplug.ocsp` (the MongoDB OCSP specification, RFC 6960, RFC 7633);
this module only supplies what pyOpenSSL exposes:

* :class:`OCSPSupport` (one per context) loads the trusted certificates lazily, once, for
  issuer look-ups outside the peer's chain.
* :class:`ConnectionOCSP` (one per connection, ``ConnectionState.ocsp``) asks for the status
  (``request_ocsp``: the ``status_request`` extension, RFC 6066 §8) and judges the staple
  with ``ChainFacts.check_staple`` (:func:`tlsplug.ocsp.check_staple`) as soon as the
  handshake returns, in ``finish_handshake`` after the strict lint (whose failures OpenSSL
  3.0 reports first): before a byte of data is sent or a session kept. Not in OpenSSL's status
  callback: a Python callback inside the handshake runs on its critical path (the server
  waits for our Finished meanwhile), which cost stapled handshakes ~4 % against
  pyOpenSSL not asking (bench/: the stapled section); after the handshake the same work
  overlaps the server's sending its tickets. A refused staple raises its own error
  (``ocsp-revoked``, ``ocsp-invalid-response``, ``ocsp-must-staple``, the message keeping
  pyOpenSSL's "invalid status response"), and the connection is closed without a word.
* After the handshake, :meth:`ConnectionOCSP.pending` tells whether responders may still be
  asked (no conclusive staple, ``options.check_ocsp_endpoint``); blocking sockets run
  :meth:`ConnectionOCSP.finish_sync`, ``tlsplug.aio`` runs the same check off the loop
  through the ``DeferredOCSP`` hook of the sans-IO buffer.

A resumed session carries no Certificate message and no staple: the full handshake that
created the session judged the staple, so a resumed connection skips the staple step
(``stapling=False``) and only consults the responders — in practice the process-wide
cache, which holds the earlier answer.
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
from tlsplug.ocsp._fetch import decided_without_request

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
    """Prepare ``ctx`` for OCSP when the options check it (called while it is built).

    Nothing to install where the bindings read the staple after the handshake
    (``SSL_get_tlsext_status_ocsp_resp``): OpenSSL keeps the response the server sent, and
    without a status callback it accepts it as it is, leaving the verdict to
    ``ConnectionOCSP.judge_staple``. Otherwise pyOpenSSL's callback keeps the bytes for it.
    """
    if options.check_ocsp_stapling and _READ_STAPLE is None:  # pragma: no cover
        ctx.set_ocsp_client_callback(_keep_staple)


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


def _keep_staple(conn: SSL.Connection, staple: bytes, data: Any) -> bool:  # pragma: no cover
    """pyOpenSSL's OCSP client callback, where the staple cannot be read afterwards."""
    tracker = getattr(conn.get_app_data(), "ocsp", None)
    if isinstance(tracker, ConnectionOCSP):
        tracker.staple = staple or None
    return True


def _read_staple(conn: SSL.Connection) -> Optional[bytes]:
    """The OCSP response the server stapled in this handshake, or None (RFC 6066 §8)."""
    out = _ffi.new("unsigned char **")
    size = _READ_STAPLE(conn._ssl, out)
    return _ffi.buffer(out[0], size)[:] if size > 0 else None


try:  # pyOpenSSL's cffi bindings (cryptography's), as in _verify.py
    from OpenSSL._util import ffi as _ffi
    from OpenSSL._util import lib as _lib

    _READ_STAPLE: Any = getattr(_lib, "SSL_get_tlsext_status_ocsp_resp", None)
except ImportError:  # pragma: no cover
    _READ_STAPLE = None


class ConnectionOCSP:
    """The OCSP state of one connection: staple, verdict, and the error to raise."""

    __slots__ = (
        "defer", "done", "error", "judged", "staple", "staple_verdict", "support", "verdict",
    )

    def __init__(self, support: OCSPSupport) -> None:
        """Start empty; the status callback and the post-handshake step fill it."""
        self.support = support
        #: The staple step ran (a full handshake with stapling on): see ``judge_staple``.
        self.judged = False
        self.staple: Optional[bytes] = None
        self.staple_verdict: Optional[ocsp.Verdict] = None
        #: The tlsplug error behind an "invalid status response" failure of the handshake.
        self.error: Optional[TLSError] = None
        self.verdict: Optional[ocsp.Verdict] = None
        self.done = False
        #: Set by ``tlsplug.aio`` (the ``DeferredOCSP`` hook): never ask responders inline.
        self.defer = False

    # -- as the handshake returns ----------------------------------------------------------

    def judge_staple(self, conn: SSL.Connection) -> None:
        """Judge the staple (RFC 6960 §3.2, RFC 7633); raise the error refusing it.

        One of the checks after the handshake (``finish_handshake``); again on a retried
        ``do_handshake`` it raises the same error.
        """
        if self.judged:
            if self.error is not None:
                raise self.error
            return
        if session_reused(conn):
            # No Certificate message, so no staple: the full handshake that made the
            # session judged its staple (see the module docstring). Judging "nothing
            # stapled" now would fail every resumption to a must-staple server.
            return
        self.judged = True
        staple = self.staple if _READ_STAPLE is None else _read_staple(conn)
        self.staple = staple
        facts = _facts(conn)
        if staple is None and facts is not None and facts.certs and not facts.must_staple():
            return  # nothing stapled, nothing required: check_staple's answer
        try:
            # The chain's facts judge a staple seen before by its bytes and the clock.
            if facts is not None and facts.certs:
                self.staple_verdict = facts.check_staple(
                    staple or b"", self.support.options, backend=BACKEND_NAME,
                    trust=self.support.trust(),
                )
            else:
                self.staple_verdict = ocsp.check_staple(
                    staple, _chain(conn), self.support.options, backend=BACKEND_NAME,
                    trust=self.support.trust(),
                )
        except TLSError as exc:
            self.error = exc
            raise
        except Exception as exc:  # a bug must not pass as an accepted staple
            error = error_for_code(
                codes.OCSP_INVALID_RESPONSE,
                f"invalid status response: the stapled OCSP response could not be checked "
                f"({type(exc).__name__}: {exc})",
                backend=BACKEND_NAME,
            )
            self.error = error
            raise error from exc

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
        if self._plain_full_handshake(conn):
            # A cached answer, or a leaf naming no responder: decided without a request,
            # from the chain's prepared responder step (``tlsplug.aio`` opens at once).
            decided = self._without_request(conn)
            if decided is not None:
                self.record(decided)
                return None
        kwargs: Dict[str, Any] = {
            "chain": _chain(conn),
            "staple": self.staple,
            "options": self.support.options,
            "backend": BACKEND_NAME,
            "trust": self.support.trust(),
            # No callback on a resumed session: the staple was judged in the full handshake.
            "stapling": self.judged and not session_reused(conn),
        }
        if not kwargs["stapling"]:
            kwargs["staple"] = None
        if not self.support.check_endpoint:
            self.record(ocsp.post_handshake_check(**kwargs))  # no network: decide now
            return None
        return kwargs

    def settle(self, conn: SSL.Connection) -> bool:
        """Decide now, after a full handshake without a staple, what needs no request.

        A cached answer or a leaf naming no responder (what ``pending`` and ``finish_sync``
        decide first). True when the decision holds for the same chain and options until
        the OCSP cache stores a verdict (``LastDecision``): no responder, nothing cached.
        A cached ``revoked`` raises ``ocsp-revoked``.
        """
        if self.done or not self.judged or not self._plain_full_handshake(conn):
            return False
        decided = self._without_request(conn)
        if decided is None:
            return False
        self.record(decided)
        return decided.source != "cache"

    def _without_request(self, conn: SSL.Connection) -> Optional[ocsp.Verdict]:
        # decided_without_request for the chain's prepared responder step, if it has one.
        facts = _facts(conn)
        prepared = facts.responders() if facts is not None and facts.certs else None
        if prepared is None:
            return None
        return decided_without_request(prepared, backend=BACKEND_NAME)

    def nothing_stapled(self, conn: SSL.Connection) -> bool:
        """Whether the server stapled nothing in this handshake (read, not judged)."""
        return (self.staple if _READ_STAPLE is None else _read_staple(conn)) is None

    def recalled(self, verdict: Optional[ocsp.Verdict]) -> None:
        """Take a ``LastDecision``'s verdict: a full handshake, nothing stapled (judged)."""
        self.judged = True
        self.staple = None
        self.record(verdict)

    def finish_sync(self, conn: SSL.Connection) -> None:
        """Ask the responders now, blocking up to ``ocsp_timeout`` (blocking sockets)."""
        if self.done:
            return
        if self._plain_full_handshake(conn):
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
        # No staple and the responders are to be asked; either the staple step ran (so a
        # must-staple leaf already failed) on a full handshake, or the session was resumed
        # (the staple step is skipped, see above).
        if self.staple is not None or self.error is not None:
            return False
        if not self.support.check_endpoint:
            return False
        return self.judged or session_reused(conn)

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


#: The last (verdict, outcome) handed out: a pool's connections share one verdict object
#: (no responder, the cached answer), found again without hashing the frozen dataclass.
_last_outcome: Tuple[Any, Any] = (object(), None)


def outcome(tracker: Any) -> Any:
    """The shared outcome of a decided ``ConnectionOCSP``; anything else is returned as is."""
    global _last_outcome
    if not isinstance(tracker, ConnectionOCSP) or not tracker.done or tracker.error is not None:
        return tracker
    verdict = tracker.verdict
    last = _last_outcome
    if last[0] is verdict:
        return last[1]
    try:
        shared = _outcome_of(verdict)
    except TypeError:  # pragma: no cover - an unhashable verdict: its own outcome
        return OCSPOutcome(verdict)
    _last_outcome = (verdict, shared)
    return shared


def status_of(tracker: Any, options: TLSOptions, done: bool) -> Optional[str]:
    """A connection's ``ocsp_status``: ``"off"`` when the options disable OCSP."""
    if tracker is None:
        return ocsp.status_text(None) if done and not options.check_ocsp_stapling else None
    status: Optional[str] = tracker.status
    return status
