"""``IdentityMemo``: results keyed by *which* objects they were computed for.

The backends hand the same certificate objects to the OCSP and lint code on every
handshake to the same server (they memoize parsed chains per distinct chain). An
``functools.lru_cache`` keyed by a certificate hashes all of its DER on every call; looking
the objects up by ``id`` costs one dict access. An entry holds its objects, so their ids
cannot be reused by other objects while it exists; a full memo is simply emptied (its
entries are cheap to recompute, and the backends' working set is a handful of chains).
"""

from __future__ import annotations

import threading
from typing import Dict, Generic, Optional, Tuple, TypeVar

__all__ = ["IdentityMemo"]

V = TypeVar("V")
_NOTHING = object()


class IdentityMemo(Generic[V]):
    """A bounded map from a tuple of objects (by identity) to a value; thread-safe."""

    def __init__(self, maxsize: int = 256) -> None:
        """Keep at most ``maxsize`` entries."""
        self.maxsize = maxsize
        self._items: Dict[Tuple[int, ...], Tuple[Tuple[object, ...], V]] = {}
        self._lock = threading.Lock()

    def get(self, first: object, second: object = _NOTHING) -> Optional[V]:
        """The value remembered for exactly these objects (one or two), or None."""
        # Spelled out for one and two objects: this runs several times per handshake.
        if second is _NOTHING:
            hit = self._items.get((id(first),))
            if hit is None or hit[0][0] is not first:
                return None
            return hit[1]
        hit = self._items.get((id(first), id(second)))
        if hit is None or hit[0][0] is not first or hit[0][1] is not second:
            return None
        return hit[1]

    def put(self, objects: Tuple[object, ...], value: V) -> V:
        """Remember ``value`` for ``objects`` (one or two of them); return it."""
        if not 1 <= len(objects) <= 2:
            raise ValueError("IdentityMemo keys are one or two objects")
        with self._lock:
            if len(self._items) >= self.maxsize:
                self._items.clear()
            self._items[tuple(map(id, objects))] = (objects, value)
        return value
