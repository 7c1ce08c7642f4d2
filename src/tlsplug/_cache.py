"""The process-wide context cache behind ``tlsplug.create_context``.

A driver typically creates one context per client, and many clients per process, all with
the same options. Building a context reads and parses every file and, with the system
store, costs milliseconds (``create_default_context()`` ~ 20 ms); the cache hands back the
*same* context for equal ``TLSOptions`` on the same backend, so the files are read once and
TLS sessions (kept per context) are shared by every client of the pool.

Invalidation: the key holds ``(st_dev, st_ino, st_size, st_mtime_ns)`` of every file the
options name, so replacing or rewriting a file yields a new context. File timestamps are
coarse (the kernel stamps with a clock tick of a few ms), so a file rewritten within the
tick it was created in, with the same size, keeps its stat; like git's "racy clean" index
entries, such a *recently modified* file is also checked by content digest, until a check
made long after its mtime proves that any later write would show in the stat. The system
trust store is not watched: after ``update-ca-certificates`` call
``tlsplug.clear_context_cache()``.

Failures are never cached: a bad file raises on every call, as before.
"""

from __future__ import annotations

import collections
import hashlib
import os
import stat
import sys
import threading
import time
from typing import Callable, Dict, Hashable, List, Optional, Tuple

from ._materials import MAX_FILE_SIZE
from ._options import FILE_FIELDS, TLSOptions
from ._protocols import ClientContext

__all__ = ["ContextCache", "context_cache", "entry_points_fingerprint"]

#: Distinct option sets kept; a process rarely has more than a handful.
DEFAULT_MAXSIZE = 64

# Wider than any filesystem's timestamp granularity (FAT: 2 s; Linux: one clock tick).
_RACY_WINDOW_NS = 3_000_000_000

Stamp = Tuple[int, int, int, int]


def _stamp(path: str) -> Optional[Stamp]:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _digest(path: str) -> Optional[bytes]:
    try:
        # Never block on a FIFO nor read a device or a huge file: load_materials refuses
        # those with a precise error, which the cache must let it raise (issue 10).
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with open(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                return None
            data = handle.read(MAX_FILE_SIZE + 1)
            return hashlib.blake2b(data, digest_size=16).digest()
    except (OSError, ValueError):
        return None


class _FileCheck:
    """One referenced file: its stat, and a digest while the stat alone cannot be trusted."""

    __slots__ = ("digest", "path", "stamp")

    def __init__(self, path: str, stamp: Stamp) -> None:
        self.path = path
        self.stamp = stamp
        self.digest: Optional[bytes] = None
        if _racy(stamp):
            self.digest = _digest(path)

    def still_valid(self, stamp: Stamp) -> bool:
        if stamp != self.stamp:
            return False
        if self.digest is None:
            return True
        if self.digest != _digest(self.path):
            return False
        if not _racy(stamp):
            # Checked long after the mtime: a later write must move the mtime, so the
            # stat alone decides from now on.
            self.digest = None
        return True


def _racy(stamp: Stamp) -> bool:
    return time.time_ns() - stamp[3] < _RACY_WINDOW_NS


class _Entry:
    __slots__ = ("checks", "context")

    def __init__(self, context: ClientContext, checks: List[_FileCheck]) -> None:
        self.context = context
        self.checks = checks


class ContextCache:
    """A bounded, thread-safe LRU of contexts keyed by (backend, options, file stats)."""

    def __init__(self, maxsize: int = DEFAULT_MAXSIZE) -> None:
        """Keep at most ``maxsize`` contexts (least recently used dropped first)."""
        self.maxsize = maxsize
        self._lock = threading.Lock()
        self._entries: collections.OrderedDict[Hashable, _Entry] = collections.OrderedDict()
        # One lock per key being built, so N threads asking for the same new context wait
        # for one build and all get the same object (not N contexts, N file loads).
        self._building: Dict[Hashable, threading.Lock] = {}

    def __len__(self) -> int:
        """The number of cached contexts."""
        with self._lock:
            return len(self._entries)

    def clear(self) -> None:
        """Forget every context (open connections keep working)."""
        with self._lock:
            self._entries.clear()

    def get_or_create(
        self, backend_key: Hashable, options: TLSOptions, build: Callable[[], ClientContext]
    ) -> ClientContext:
        """The cached context for (``backend_key``, ``options``), or ``build()``'s, cached."""
        paths = [p for p in (getattr(options, f) for f in FILE_FIELDS) if p is not None]
        stamps: List[Stamp] = []
        for path in paths:
            stamp = _stamp(path)
            if stamp is None:
                return build()  # missing/unreadable: let the backend raise the precise error
            stamps.append(stamp)
        key = (backend_key, options, tuple(stamps))
        hit = self._lookup(key, stamps)
        if hit is not None:
            return hit
        with self._lock:
            gate = self._building.setdefault(key, threading.Lock())
        with gate:
            hit = self._lookup(key, stamps)
            if hit is not None:
                return hit
            try:
                # Stat and digest before loading: a write racing the load then shows as a
                # mismatch on the next call (a needless rebuild, never a stale context).
                checks = [_FileCheck(p, s) for p, s in zip(paths, stamps)]
                context = build()
                with self._lock:
                    self._entries[key] = _Entry(context, checks)
                    self._entries.move_to_end(key)
                    while len(self._entries) > self.maxsize:
                        self._entries.popitem(last=False)
            finally:
                with self._lock:
                    self._building.pop(key, None)
        return context

    def _lookup(self, key: Hashable, stamps: List[Stamp]) -> Optional[ClientContext]:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
        if all(c.still_valid(s) for c, s in zip(entry.checks, stamps)):
            return entry.context
        with self._lock:
            if self._entries.get(key) is entry:
                del self._entries[key]
        return None


#: The cache ``tlsplug.create_context`` uses.
context_cache = ContextCache()


def entry_points_fingerprint() -> Tuple[Tuple[str, Optional[int]], ...]:
    """What the installed entry points depend on: each ``sys.path`` entry and its mtime.

    Installing or removing a distribution adds or removes a ``*.dist-info`` directory,
    which moves the mtime of the directory holding it; importlib's own path caches rely on
    the same signal. Scanning the metadata costs ~1.5 ms, the fingerprint a few µs.
    """
    out: List[Tuple[str, Optional[int]]] = []
    for entry in sys.path:
        try:
            out.append((entry, os.stat(entry or ".").st_mtime_ns))
        except (OSError, ValueError, TypeError):
            out.append((str(entry), None))
    return tuple(out)
