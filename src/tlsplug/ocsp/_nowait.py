"""The OCSP decision for a handshake that must not wait on the network (asyncio's transport).

``tlsplug.create_ssl_context`` hands contexts to asyncio's own SSL transport, which calls
``SSLObject.do_handshake()`` on the event loop and cannot await anything in between. So
everything that needs no network is decided in the handshake — the staple (``ocsp-revoked``,
``ocsp-invalid-response``), must-staple, and a cached answer (``revoked`` fails) — and when
only a responder could speak, its question starts in a background thread that fills the
process-wide cache (``tlsplug.ocsp.default_cache``): *this* connection soft-fails, as the
MongoDB OCSP specification allows for an unreachable responder (logged on ``tlsplug.ocsp``),
and later connections to the same certificate use the cached answer.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any, Optional, Set

from ._cache import default_cache
from ._fetch import _prepared, check_responders, decided_without_request, describe
from ._types import RESPONDER_TIMEOUT, CertIDKey, Verdict

if TYPE_CHECKING:
    from ._cache import OCSPCache
    from ._verify import CertLike

__all__ = ["ask_in_background", "check_responders_nowait"]

LOG = logging.getLogger("tlsplug.ocsp")

_REASON = (
    "the responder is being asked in the background (an event loop's handshake cannot wait "
    "for it); this connection is not judged by OCSP, later ones use the cached answer"
)
_in_flight: Set[CertIDKey] = set()
_lock = threading.Lock()


def _ask(key: CertIDKey, leaf: Any, issuer: Any, timeout: float, cache: Any, backend: Any) -> None:
    try:
        check_responders(leaf, issuer, timeout=timeout, cache=cache, backend=backend)
    except Exception as exc:  # revoked: cached for the next connection; say it now
        LOG.warning("OCSP (background check): %s", exc)
    finally:
        with _lock:
            _in_flight.discard(key)


def check_responders_nowait(
    cert: CertLike,
    issuer: CertLike,
    *,
    timeout: float,
    cache: Optional[OCSPCache] = None,
    backend: Optional[str] = None,
) -> Verdict:
    """``check_responders`` that never waits: the cache, else a background question.

    A cached ``revoked`` raises ``CertificateError(code="ocsp-revoked")``; a cached answer
    or "no responder" is returned; otherwise the responders are asked in a background
    thread (once per certificate at a time) and an ``unknown`` soft-fail verdict is returned.
    """
    prepared = _prepared(cert, issuer)
    # A cached answer, or no responder to ask: decided at once.
    store = default_cache() if cache is None else cache
    decided = decided_without_request(prepared, cache=store, backend=backend)
    if decided is not None:
        return decided
    return ask_in_background(prepared, timeout=timeout, cache=store, backend=backend)


def ask_in_background(
    prepared: Any,
    *,
    timeout: float,
    cache: Optional[OCSPCache] = None,
    backend: Optional[str] = None,
) -> Verdict:
    """The rest of ``check_responders_nowait`` once ``decided_without_request`` said None.

    ``prepared`` is ``prepare_responders``' (cert, issuer, CertID, URLs): a backend holding
    it (one decision per chain) consults the cache itself, then calls this.
    """
    store = default_cache() if cache is None else cache
    certificate, issuer, key, _ = prepared
    with _lock:
        start = key not in _in_flight
        _in_flight.add(key)
    if start:  # one question per certificate, however many connections are handshaking
        threading.Thread(
            target=_ask,
            args=(key, certificate, issuer, timeout, store, backend),
            name="tlsplug-ocsp-background",
            daemon=True,
        ).start()
    LOG.warning("OCSP soft-fail (%s) for %s: %s", RESPONDER_TIMEOUT, describe(certificate),
                _REASON)
    return Verdict("unknown", _REASON, problem=RESPONDER_TIMEOUT)
