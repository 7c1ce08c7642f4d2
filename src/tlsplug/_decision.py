"""A context's last whole post-handshake decision, kept while nothing it rests on can change.

After a full handshake a backend's checks (the strict lint, the profile's limits, the host
name, must-staple, the OCSP step) are pure functions of the verified chain, the host and
the context's options, except two: a CRL (it expires) and the OCSP cache (another context
may learn "revoked", RFC 6960, from a staple). When a decision used neither - OCSP off,
or no staple, a leaf naming no responder and nothing cached - and no CRL was judged, the
next handshake of the same context with an equal chain and host reaches the same verdict,
unless the cache has stored a verdict since (``OCSPCache.generation``).

A pool reconnects to the same servers over and over; this lets it skip even the memoised
checks (``ChainFacts``) and their function calls, which right after a handshake run with
cold processor caches: measured in asyncio against nginx on 2 cores, 15 µs of checks in a
loop cost 140 µs inside real handshakes (``bench/bridge.py``).
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

__all__ = ["NOT_DECIDED", "LastDecision"]

#: What ``LastDecision.recall`` returns when the last decision does not apply.
NOT_DECIDED: Any = object()


_CACHE: Any = None


def _generation() -> int:
    # The process-wide OCSP cache, imported on first use (tlsplug.ocsp loads cryptography,
    # which a context never parsing a chain does not need), then held: no import per call.
    global _CACHE
    if _CACHE is None:
        from .ocsp._cache import default_cache

        _CACHE = default_cache()
    generation: int = _CACHE.generation
    return generation


class LastDecision:
    """One context's last decision: (chain, host, OCSP cache generation, OCSP verdict).

    The chain is whatever the backend recognises a chain by without converting it, compared
    with ``==`` (``ssl``'s certificate objects compare with ``X509_cmp``; a ``ChainFacts``
    by identity). A single attribute read or write, atomic in CPython: no lock.
    """

    __slots__ = ("_last",)

    def __init__(self) -> None:
        """Nothing decided yet."""
        self._last: Optional[Tuple[Any, Optional[str], int, Any]] = None

    @staticmethod
    def generation() -> int:
        """The OCSP cache's generation: read it *before* the cache is consulted."""
        return _generation()

    def recall(self, chain: Any, host: Optional[str]) -> Any:
        """The OCSP verdict decided last for an equal ``chain`` and ``host``, else ``NOT_DECIDED``.

        Only valid for a full handshake whose verification reported nothing, whose server
        stapled nothing, with no CRL to judge: the caller's conditions for ``remember``.
        """
        last = self._last
        if (
            last is None or last[1] != host or last[2] != _generation()
            or last[0] != chain
        ):
            return NOT_DECIDED
        return last[3]

    def remember(self, chain: Any, host: Optional[str], generation: int, verdict: Any) -> None:
        """Keep a decision (``generation`` read before the OCSP cache was consulted)."""
        self._last = (chain, host, generation, verdict)

    def forget(self) -> None:
        """Drop the decision: the next handshake runs every check."""
        self._last = None
