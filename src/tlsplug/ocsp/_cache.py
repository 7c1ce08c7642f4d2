"""The process-wide OCSP response cache (MongoDB OCSP spec, "Suggested OCSP Caching Behavior")."""

from __future__ import annotations

import collections
import dataclasses
import datetime
import threading
from typing import Optional, Tuple

from ._types import CertIDKey, Verdict

__all__ = ["CacheStats", "OCSPCache", "default_cache"]

DEFAULT_MAXSIZE = 1024


@dataclasses.dataclass(frozen=True)
class CacheStats:
    """Counters of an :class:`OCSPCache` since it was created or cleared."""

    hits: int
    misses: int
    size: int
    maxsize: int
    evictions: int


class OCSPCache:
    """Conclusive OCSP verdicts keyed by CertID, each valid until its ``nextUpdate``.

    Following the MongoDB OCSP specification: only ``good`` and ``revoked`` are cached
    (``unknown`` is not conclusive); an entry is served while ``thisUpdate <= now <
    nextUpdate`` (RFC 6960 §3.2); a verdict with a later ``nextUpdate`` replaces the entry
    (e.g. a fresher staple). A verdict without ``nextUpdate`` is never cached. Bounded:
    the least recently used entry is evicted beyond ``maxsize``. Every method takes one
    lock, so the cache is safe to share between threads (and between contexts).
    """

    def __init__(self, maxsize: int = DEFAULT_MAXSIZE) -> None:
        """Create an empty cache holding at most ``maxsize`` entries."""
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self._maxsize = maxsize
        self._entries: collections.OrderedDict[CertIDKey, Verdict] = collections.OrderedDict()
        self._lock = threading.Lock()
        self._hits = self._misses = self._evictions = 0
        #: Counts the verdicts stored: a decision made on a miss holds while it is unchanged.
        self._generation = 0

    @property
    def generation(self) -> int:
        """Changes whenever a verdict is stored (``put``, ``keep``), never otherwise.

        A backend that found no entry for a certificate may rely on that answer while this
        number stays the same: dropping entries (``clear``, expiry, eviction) never turns a
        miss into a hit. Read it *before* looking the certificate up.
        """
        return self._generation

    def __len__(self) -> int:
        """The number of entries (expired ones included until they are looked up)."""
        with self._lock:
            return len(self._entries)

    def __repr__(self) -> str:
        """Show the size and the counters."""
        s = self.stats
        return f"<OCSPCache {s.size}/{s.maxsize} hits={s.hits} misses={s.misses}>"

    @property
    def maxsize(self) -> int:
        """The bound on the number of entries."""
        return self._maxsize

    @property
    def stats(self) -> CacheStats:
        """A consistent snapshot of the counters."""
        with self._lock:
            return CacheStats(
                self._hits, self._misses, len(self._entries), self._maxsize, self._evictions
            )

    def get(self, key: CertIDKey, now: Optional[datetime.datetime] = None) -> Optional[Verdict]:
        """The cached verdict for ``key`` attributed to ``"cache"``, or None (a miss).

        An entry whose ``nextUpdate`` has passed is dropped and counts as a miss.
        """
        with self._lock:
            verdict = self._entries.get(key)
            if verdict is not None:  # the clock is read only for an entry (the common miss
                # of a certificate naming no responder costs a dict look-up)
                when = now or datetime.datetime.now(datetime.timezone.utc)
                if not verdict.valid_at(when):
                    del self._entries[key]
                    verdict = None
            if verdict is None:
                self._misses += 1
                return None
            self._entries.move_to_end(key)
            self._hits += 1
        return verdict  # stored attributed to "cache" (put), so no copy per hit

    def put(
        self, key: CertIDKey, verdict: Verdict, now: Optional[datetime.datetime] = None
    ) -> bool:
        """Cache a conclusive, currently valid verdict; return whether it was stored.

        An existing entry is kept when it has a later ``nextUpdate`` than ``verdict``.
        """
        when = now or datetime.datetime.now(datetime.timezone.utc)
        if not verdict.conclusive or not verdict.valid_at(when):
            return False
        with self._lock:
            old = self._entries.get(key)
            if old is not None and old.valid_at(when):
                if _freshness(old) > _freshness(verdict):
                    return False
                if _same(old, verdict):
                    # The same staple again (every handshake to a stapling server): keep
                    # the stored entry rather than copy it.
                    self._entries.move_to_end(key)
                    return True
            self._entries[key] = verdict.with_source("cache")
            self._generation += 1
            self._entries.move_to_end(key)
            while len(self._entries) > self._maxsize:
                self._entries.popitem(last=False)
                self._evictions += 1
        return True

    def keep(self, key: CertIDKey, verdict: Verdict) -> bool:
        """``put`` for a verdict put before: without the lock when the entry is still there.

        Every handshake to a stapling server brings the same staple; once it is stored, the
        entry only has to be found again (a dict read is atomic). A cleared or evicted
        entry is put again, so the cache still holds what the staple said (a resumed
        session, which brings no staple, is answered from here).
        """
        old = self._entries.get(key)
        if old is not None and _same(old, verdict):
            return True
        return self.put(key, verdict)

    def discard(self, key: CertIDKey) -> None:
        """Forget the entry for ``key`` if there is one."""
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        """Drop every entry and reset the counters."""
        with self._lock:
            self._entries.clear()
            self._hits = self._misses = self._evictions = 0


def _same(a: Verdict, b: Verdict) -> bool:
    return (a.status, a.reason, a.this_update, a.next_update, a.problem) == (
        b.status, b.reason, b.this_update, b.next_update, b.problem
    )


def _freshness(verdict: Verdict) -> Tuple[datetime.datetime, datetime.datetime]:
    # Only called on verdicts that passed valid_at(), so both times are set.
    assert verdict.next_update is not None
    assert verdict.this_update is not None
    return verdict.next_update, verdict.this_update


_DEFAULT = OCSPCache()


def default_cache() -> OCSPCache:
    """The process-wide cache shared by every context and backend."""
    return _DEFAULT
