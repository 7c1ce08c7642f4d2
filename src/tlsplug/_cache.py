"""The process-wide context cache behind ``tlsplug.create_context``.

A driver typically creates one context per client, and many clients per process, all with
the same options. Building a context reads and parses every file and, with the system
store, costs milliseconds (``create_default_context()`` ~ 20 ms); the cache hands back the
*same* context for equal ``TLSOptions`` on the same backend, so the files are read once and
TLS sessions (kept per context) are shared by every client of the pool.

Invalidation: an entry keeps ``(st_dev, st_ino, st_size, st_mtime_ns)`` of every file the
options name and every hit stats them again (one ``os.stat`` per file, the only system
call of a hit), so replacing or rewriting a file yields a new context. File timestamps are
coarse (the kernel stamps with a clock tick of a few ms), so a file rewritten within the
tick it was created in, with the same size, keeps its stat; like git's "racy clean" index
entries, such a *recently modified* file is also checked by content digest, until a check
made long after its mtime proves that any later write would show in the stat. The system
trust store is not watched: after ``update-ca-certificates`` call
``tlsplug.clear_context_cache()``.

Failures are never cached: a bad file raises on every call, as before.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import stat
import sys
import threading
import time
from typing import Callable, Dict, Hashable, List, Optional, Tuple

from ._materials import MAX_FILE_SIZE
from ._options import TLSOptions
from ._optionspec import FILE_FIELDS
from ._protocols import ClientContext

__all__ = ["ContextCache", "Fingerprint", "context_cache", "entry_points_fingerprint"]

#: Distinct option sets kept; a process rarely has more than a handful.
DEFAULT_MAXSIZE = 64

# Wider than any filesystem's timestamp granularity (FAT: 2 s; Linux: one clock tick).
_RACY_WINDOW_NS = 3_000_000_000

Stamp = Tuple[int, int, int, int]
Fingerprint = Tuple[Tuple[str, Optional[int]], ...]


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
    __slots__ = ("alive", "checks", "context", "used")

    def __init__(self, context: ClientContext, checks: Tuple[_FileCheck, ...], used: int) -> None:
        self.context = context
        self.checks = checks
        # The LRU clock at the last hit: a hit writes one int instead of reordering a
        # shared OrderedDict under the lock; eviction, only on insert, scans for the oldest.
        self.used = used
        # Cleared (under the lock) when the entry leaves the cache, so a reference to it
        # that outlived the removal (ContextCache._last) is never served again.
        self.alive = True


class ContextCache:
    """A bounded, thread-safe LRU of contexts keyed by (backend, options), checked by stat."""

    def __init__(self, maxsize: int = DEFAULT_MAXSIZE) -> None:
        """Keep at most ``maxsize`` contexts (least recently used dropped first)."""
        self.maxsize = maxsize
        self._lock = threading.Lock()
        # Read without the lock (a dict lookup is atomic); written only under it.
        self._entries: Dict[Hashable, _Entry] = {}
        self._clock = itertools.count()
        # The most recently used entry, as (options, backend_key, entry). A pool asks again
        # and again with the very same TLSOptions object: recognising it by identity skips
        # hashing the key and comparing fourteen fields with the stored (equal) options.
        self._last: Optional[Tuple[TLSOptions, Hashable, _Entry]] = None
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
            for entry in self._entries.values():
                entry.alive = False
            self._entries.clear()
            self._last = None

    def lookup(self, backend_key: Hashable, options: TLSOptions) -> Optional[ClientContext]:
        """The cached context for (``backend_key``, ``options``) if its files are unchanged.

        The hit path of ``create_context``: one ``os.stat`` per referenced file, no lock.
        """
        last = self._last
        if last is not None and last[0] is options and last[1] == backend_key and last[2].alive:
            # Already the most recently used entry: its LRU stamp needs no update.
            entry = last[2]
        else:
            found = self._entries.get((backend_key, options))
            if found is None:
                return None
            entry = found
            entry.used = next(self._clock)
            self._last = (options, backend_key, entry)
        for check in entry.checks:
            # Inline, not a _FileCheck method: a call would cost a tenth of the stat.
            try:
                st = os.stat(check.path)
            except (OSError, ValueError):
                return None  # the rebuild raises the precise error
            stamp = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
            if not (stamp == check.stamp if check.digest is None else check.still_valid(stamp)):
                return None
        return entry.context

    def get_or_create(
        self, backend_key: Hashable, options: TLSOptions, build: Callable[[], ClientContext]
    ) -> ClientContext:
        """The cached context for (``backend_key``, ``options``), or ``build()``'s, cached."""
        context = self.lookup(backend_key, options)
        if context is None:
            context = self.create(backend_key, options, build)
        return context

    def create(
        self, backend_key: Hashable, options: TLSOptions, build: Callable[[], ClientContext]
    ) -> ClientContext:
        """The miss path of ``get_or_create``: stat, build once per key, cache."""
        key = (backend_key, options)
        paths = [p for p in (getattr(options, f) for f in FILE_FIELDS) if p is not None]
        stamps: List[Stamp] = []
        for path in paths:
            stamp = _stamp(path)
            if stamp is None:
                return build()  # missing/unreadable: let the backend raise the precise error
            stamps.append(stamp)
        with self._lock:
            gate = self._building.setdefault(key, threading.Lock())
        with gate:
            # Another thread may have built it while this one waited, from these very files.
            entry = self._entries.get(key)
            if entry is not None:
                if all(c.still_valid(s) for c, s in zip(entry.checks, stamps)):
                    entry.used = next(self._clock)
                    self._last = (options, backend_key, entry)
                    return entry.context
                with self._lock:
                    # Stale: drop it now, so a failing rebuild cannot leave it behind.
                    self._drop(key, entry)
            try:
                # Stat and digest before loading: a write racing the load then shows as a
                # mismatch on the next call (a needless rebuild, never a stale context).
                checks = tuple(_FileCheck(p, s) for p, s in zip(paths, stamps))
                context = build()
                with self._lock:
                    self._drop(key, self._entries.get(key))
                    entry = _Entry(context, checks, next(self._clock))
                    self._entries[key] = entry
                    self._last = (options, backend_key, entry)
                    while len(self._entries) > self.maxsize:
                        oldest = min(self._entries, key=lambda k: self._entries[k].used)
                        self._drop(oldest, self._entries[oldest])
            finally:
                with self._lock:
                    self._building.pop(key, None)
        return context

    def _drop(self, key: Hashable, entry: Optional[_Entry]) -> None:
        # Under self._lock. Removes ``entry`` only if it is still the one cached for ``key``.
        if entry is not None and self._entries.get(key) is entry:
            del self._entries[key]
            entry.alive = False
            if self._last is not None and self._last[2] is entry:
                self._last = None  # nor keep its context alive


#: The cache ``tlsplug.create_context`` uses.
context_cache = ContextCache()


def entry_points_fingerprint() -> Fingerprint:
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
