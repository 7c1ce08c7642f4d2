"""OCSP for the stdlib backend: responder checks after the handshake, must-staple fails closed.

Python's ``ssl`` can neither request a stapled response (no ``status_request`` extension,
RFC 6066 §8) nor show one, so:

* **Responders** (MongoDB OCSP specification, "Suggested OCSP Behavior" item 7): after the
  handshake the verified chain gives the leaf's issuer, needed for the CertID (RFC 6960
  §4.1.1); :func:`tlsplug.ocsp.post_handshake_check` with ``stapling=False`` asks the
  responders of the leaf's AIA. The verified chain is public from Python 3.13
  (``get_verified_chain``) and on the private ``_sslobj`` from 3.10 (gh-109109). **Python
  3.9 exposes only the leaf**: the issuer is known there only when the CA file happens to
  hold it (a leaf issued by a root), so the check would depend on the chain's shape — the
  common intermediate-issued leaf would always soft-fail. ``Feature.OCSP_ENDPOINT`` is
  therefore declared from 3.10 only, and on 3.9 no responder is asked (``ocsp_status`` is
  "soft-fail: issuer not found", logged once per process).
* **Must-staple** (RFC 7633): a leaf with the TLS feature ``status_request`` requires a
  staple that Python's ssl cannot check. Accepting it would silently drop the MongoDB
  spec's hard failure (item 1); failing with ``ocsp-must-staple`` would blame a server that
  may well staple. Project decision: fail closed with
  ``ConfigurationError(code="unsupported-option")`` after the handshake (the connection is
  closed), so "unsupported-option is the only allowed difference between backends" holds.
"""

from __future__ import annotations

import functools
import logging
import sys
import threading
from typing import Any, Dict, Optional, Tuple

from tlsplug.backend import ConfigurationError, TLSOptions, codes

from ._chains import PeerChains, verified_chain
from ._translate import BACKEND_NAME

__all__ = ["HAS_VERIFIED_CHAIN", "OCSPOutcome", "StdlibOCSP", "outcome", "verified_chain"]

LOG = logging.getLogger("tlsplug.ocsp")

#: Whether this Python exposes the verified chain (3.10+; public from 3.13).
HAS_VERIFIED_CHAIN: bool = sys.version_info >= (3, 10)

_MUST_STAPLE_HINT = (
    "Use tlsBackend=pyopenssl (pip install 'tlsplug[pyopenssl]'), which checks stapled "
    "responses, or set tlsDisableCertificateRevocationCheck=true to accept the risk."
)
_NO_CHAIN_REASON = (
    "Python 3.9's ssl module exposes only the peer's leaf certificate, not its issuer: "
    "OCSP responders are not asked (Python 3.10+ or tlsBackend=pyopenssl can)"
)
_warned_no_chain = threading.Event()
#: ``StdlibOCSP.step`` of a connection whose options turn OCSP off.
_OFF_STEP: Any = object()


def _must_staple_refusal() -> ConfigurationError:
    return ConfigurationError(
        "the server's certificate requires OCSP stapling (TLS feature status_request, "
        "RFC 7633), which Python's ssl module cannot request or check; refusing the "
        "connection rather than skipping a check the certificate demands",
        code=codes.UNSUPPORTED_OPTION,
        backend=BACKEND_NAME,
        option="tlsBackend",
        hint=_MUST_STAPLE_HINT,
    )


class StdlibOCSP:
    """The post-handshake OCSP step of one connection (socket or sans-IO object)."""

    __slots__ = ("_chain", "_prepared", "defer", "done", "options", "verdict")

    def __init__(self, options: TLSOptions) -> None:
        """Nothing decided yet; ``defer`` is set by ``tlsplug.aio`` (the DeferredOCSP hook)."""
        self.options = options
        self.defer = False
        self.done = False
        self.verdict: Any = None
        self._chain: Optional[Any] = None  # set when the responders remain to be asked
        self._prepared: Any = None  # ChainFacts.responders(), when the chain gave one

    def after_handshake(self, conn: Any, peer: PeerChains) -> None:
        """Decide what needs no network; raise for must-staple; keep the responder step.

        ``conn`` is the ``ssl.SSLSocket``/``SSLObject``; ``peer`` its certificates (the
        chain the peer sent serves when no verified chain is available, e.g. on a resumed
        session, with the issuer remembered from the verified chain of an earlier one).
        """
        options = self.options
        if not options.check_ocsp_stapling:
            self.record(None)
            return
        facts = peer.facts() if HAS_VERIFIED_CHAIN else None
        if facts is not None and options.check_ocsp_endpoint:
            verified = peer.verified()
            if verified:  # a full handshake: every answer is in the chain's facts
                if facts.must_staple():
                    raise _must_staple_refusal()
                self._chain = verified
                self._prepared = facts.responders()
                return
        from tlsplug import ocsp  # cryptography only when OCSP is on and a peer was verified

        verified = peer.verified() if HAS_VERIFIED_CHAIN else None
        leaf = peer.leaf()
        if not leaf:
            self.record(None)
            return
        if facts.must_staple() if facts is not None else ocsp.must_staple(leaf):
            raise _must_staple_refusal()
        if not HAS_VERIFIED_CHAIN:
            if not _warned_no_chain.is_set():
                _warned_no_chain.set()
                LOG.warning("OCSP soft-fail (%s): %s", ocsp.ISSUER_NOT_FOUND, _NO_CHAIN_REASON)
            self.record(ocsp.Verdict("unknown", _NO_CHAIN_REASON, problem=ocsp.ISSUER_NOT_FOUND))
            return
        if verified:
            chain = verified
        else:  # a resumed session: the chain the peer sent, else the issuer seen before
            chain = list(peer.unverified() or [leaf])
            if len(chain) < 2 and facts is not None and len(facts.ders) > 1:
                chain.append(facts.ders[1])
        if not options.check_ocsp_endpoint:
            self.record(ocsp.post_handshake_check(**self._kwargs(chain)))  # no network
            return
        self._chain = chain
        # What post_handshake_check would work out from the chain (issuer, CertID, responder
        # URLs), remembered with it: one decision per distinct chain (_chains.py).
        self._prepared = facts.responders() if facts is not None else None

    def step(self) -> Any:
        """What ``after_handshake`` decided, for ``resume`` on a later handshake with the same
        verified chain and options (``_after.Passed``); None when it is not that simple.

        Either OCSP off, or the responder step the chain prepared: both pure functions of
        the chain and the options. The responder step still consults the OCSP cache on
        every handshake (``finish_*``).
        """
        if self.done:
            return _OFF_STEP if self.verdict is None else None
        if self._chain is not None and self._prepared is not None:
            return (self._chain, self._prepared)
        return None

    def resume(self, step: Any) -> None:
        """Take up a ``step`` returned for the same chain and options by an earlier one."""
        if step is _OFF_STEP:
            self.record(None)
        else:
            self._chain, self._prepared = step

    def settle(self) -> bool:
        """Decide now what needs no request (a cached answer, or no responder to ask).

        What ``finish_sync``, ``finish_nowait`` and ``pending`` each decide first, so it may
        run before any of them. True when the decision holds for the same chain and options
        until the OCSP cache stores a verdict (``OCSPCache.generation``): OCSP off, or no
        responder and nothing cached. A cached ``revoked`` raises ``ocsp-revoked``.
        """
        if self.done:
            return self.verdict is None  # OCSP off
        if self._prepared is None:
            return False
        from tlsplug.ocsp._fetch import decided_without_request

        decided = decided_without_request(self._prepared, backend=BACKEND_NAME)
        if decided is None:
            return False
        self.record(decided)
        return decided.source != "cache"

    def _kwargs(self, chain: Any) -> Dict[str, Any]:
        return {
            "chain": chain,
            "staple": None,
            "options": self.options,
            "backend": BACKEND_NAME,
            "stapling": False,  # no staple can be seen: skip the staple step (tlsplug.ocsp)
        }

    def pending(self) -> Optional[Dict[str, Any]]:
        """Keyword arguments for ``ocsp.post_handshake_check(_async)``, or None when decided.

        Decided here without a request when the chain's prepared responder step allows it
        (a cached answer, or a leaf naming no responder): ``tlsplug.aio`` then opens the
        connection at once instead of running the whole check in a task.
        """
        if self.done or self._chain is None:
            return None
        self.settle()  # a cached answer, or no responder: decided without a request
        return None if self.done else self._kwargs(self._chain)

    def finish_sync(self) -> None:
        """Ask the responders now, blocking up to ``ocsp_timeout`` (blocking callers)."""
        if self.done or self._chain is None:
            return
        if self._prepared is not None:
            from tlsplug.ocsp._fetch import check_prepared

            # Still consults the OCSP cache: another context may have learned "revoked".
            self.record(check_prepared(
                self._prepared, timeout=self.options.ocsp_timeout, backend=BACKEND_NAME
            ))
            return
        from tlsplug import ocsp

        self.record(ocsp.post_handshake_check(**self._kwargs(self._chain)))

    def finish_nowait(self) -> None:
        """Decide without waiting (an event loop's handshake): the cache, else a soft-fail
        while the responders are asked in the background (``check_responders_nowait``)."""
        if self.done or self._chain is None:
            return
        prepared = self._prepared
        if prepared is not None:
            # The cache, or no responder: what check_responders_nowait decides first,
            # without its look-up of the prepared step this tracker already holds.
            self.settle()
            if self.done:
                return
            from tlsplug.ocsp._nowait import ask_in_background

            self.record(ask_in_background(
                prepared, timeout=self.options.ocsp_timeout, backend=BACKEND_NAME
            ))
            return
        from tlsplug import ocsp

        self.record(ocsp.post_handshake_check_nowait(**self._kwargs(self._chain)))

    def record(self, verdict: Any) -> None:
        """Keep the final verdict (for ``ocsp_status``)."""
        self.verdict = verdict
        self.done = True
        self._chain = None
        self._prepared = None

    @property
    def status(self) -> Optional[str]:
        """``ocsp_status``: ``tlsplug.ocsp.status_text`` once decided, else None."""
        if not self.done:
            return None
        return _status_text(self.verdict)


def _status_text(verdict: Any) -> str:
    if verdict is None:
        return "off"  # = ocsp.status_text(None), without importing cryptography
    return str(verdict.summary)


class OCSPOutcome:
    """A decided OCSP step, immutable: one object per distinct verdict, shared by sockets.

    A socket keeps only what ``ocsp_status`` needs once its handshake is over; verdicts are
    immutable (and the common ones - OCSP off, no responder, a cached answer - are the very
    same object every time), so an idle pool holds one of these per verdict, not one
    tracker per connection.
    """

    __slots__ = ("status", "verdict")

    def __init__(self, verdict: Any) -> None:
        """Keep ``verdict`` (None: OCSP off) and its status text."""
        self.verdict = verdict
        self.status: Optional[str] = _status_text(verdict)


#: OCSP off (the options disable it, or nothing was verified).
OFF = OCSPOutcome(None)


@functools.lru_cache(maxsize=64)  # verdicts are frozen dataclasses: equal ones share
def _outcome_of(verdict: Any) -> OCSPOutcome:
    return OCSPOutcome(verdict)


#: The last (verdict, outcome) handed out: a pool's connections share one verdict object
#: (no responder, the cached answer), found again without hashing the frozen dataclass.
_last_outcome: Tuple[Any, OCSPOutcome] = (object(), OFF)


def outcome(tracker: StdlibOCSP) -> OCSPOutcome:
    """The shared, immutable outcome of a decided ``tracker``."""
    global _last_outcome
    verdict = tracker.verdict
    if verdict is None:
        return OFF
    last = _last_outcome
    if last[0] is verdict:
        return last[1]
    try:
        shared = _outcome_of(verdict)
    except TypeError:  # pragma: no cover - an unhashable verdict: its own outcome
        return OCSPOutcome(verdict)
    _last_outcome = (verdict, shared)
    return shared
