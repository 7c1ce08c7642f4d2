"""Finding backends through the ``tlsplug.backends`` entry point group, and choosing one."""

from __future__ import annotations

import os
import sys
import threading
import warnings
from importlib import metadata
from typing import Dict, Hashable, List, Optional

from ._cache import context_cache, entry_points_fingerprint
from ._errors import ConfigurationError, SecurityWarning
from ._options import TLSOptions
from ._protocols import Backend, ClientContext

__all__ = [
    "available_backends",
    "clear_context_cache",
    "create_context",
    "get_backend",
    "select_backend",
]

GROUP = "tlsplug.backends"
ENV_VAR = "TLSPLUG_BACKEND"

_lock = threading.Lock()
_loaded: Dict[str, Backend] = {}
_scanned: Dict[Hashable, Dict[str, metadata.EntryPoint]] = {}


def _entry_points() -> Dict[str, metadata.EntryPoint]:
    # Scanning every distribution's metadata costs ~1.5 ms, more than a cached
    # create_context may take; rescan only when sys.path or a directory on it changed.
    fingerprint = entry_points_fingerprint()
    with _lock:
        memo = _scanned.get(fingerprint)
    if memo is not None:
        return dict(memo)
    out = _scan_entry_points()
    with _lock:
        _scanned.clear()
        _scanned[fingerprint] = out
    return dict(out)


def _scan_entry_points() -> Dict[str, metadata.EntryPoint]:
    if sys.version_info >= (3, 10):
        found = metadata.entry_points(group=GROUP)
    else:  # pragma: no cover - 3.9's entry_points() has no selection
        found = metadata.entry_points().get(GROUP, ())
    out: Dict[str, metadata.EntryPoint] = {}
    for ep in found:
        out.setdefault(ep.name.lower(), ep)
    return out


def _distribution(ep: metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    name = getattr(dist, "name", None)
    if name:
        return str(name)
    for candidate in metadata.distributions():  # 3.9: EntryPoint has no .dist
        if any(e.group == GROUP and e.name == ep.name for e in candidate.entry_points):
            return str(candidate.metadata["Name"])
    return f"tlsplug-{ep.name}"


def available_backends() -> List[str]:
    """Names of the installed backends, best first (entry points; nothing is imported)."""
    names = list(_entry_points())
    priorities = {n: _loaded[n].priority for n in names if n in _loaded}
    return sorted(names, key=lambda n: (-priorities.get(n, 0), n))


def get_backend(name: str) -> Backend:
    """The backend registered as ``name``; loads only that entry point."""
    key = name.strip().lower()
    with _lock:
        if key in _loaded:
            return _loaded[key]
    eps = _entry_points()
    ep = eps.get(key)
    if ep is None:
        installed = ", ".join(sorted(eps)) or "none"
        raise ConfigurationError(
            f"no TLS backend named {name!r} (installed: {installed})",
            code="backend-not-found",
            option="tlsBackend",
            hint=f"Install it (pip install 'tlsplug-{key}') or use one of: {installed}.",
        )
    try:
        backend = ep.load()
    except Exception as exc:
        package = _distribution(ep)
        raise ConfigurationError(
            f"backend {name!r} is installed but cannot be loaded: {type(exc).__name__}: {exc}",
            code="backend-unavailable",
            option="tlsBackend",
            backend=key,
            hint=f"Reinstall it: pip install --force-reinstall '{package}'.",
        ) from exc
    with _lock:
        _loaded[key] = backend
    return backend  # type: ignore[no-any-return]


def select_backend(options: Optional[TLSOptions] = None) -> Backend:
    """``options.backend``, else ``$TLSPLUG_BACKEND``, else the best loadable backend."""
    name = (options.backend if options is not None else None) or os.environ.get(ENV_VAR, "")
    name = name.strip().lower() or "auto"
    if name != "auto":
        return get_backend(name)
    candidates: List[Backend] = []
    for key in _entry_points():
        try:
            candidates.append(get_backend(key))
        except ConfigurationError as exc:
            # DESIGN.md: under auto, a broken optional backend falls back, loudly.
            warnings.warn(f"skipping TLS backend {key!r}: {exc.message}", RuntimeWarning,
                          stacklevel=3)
    if not candidates:
        raise ConfigurationError(
            "no TLS backend could be loaded", code="backend-not-found", option="tlsBackend",
            hint="Reinstall tlsplug: its stdlib backend ships with it.",
        )
    return max(candidates, key=lambda b: (b.priority, b.name))


def warn_if_insecure(options: TLSOptions) -> None:
    """Emit a ``SecurityWarning`` for options that weaken the connection."""
    relaxed = options.insecure_settings
    if relaxed:
        warnings.warn(
            f"TLS verification is relaxed by {', '.join(relaxed)}=true: the connection can be "
            "intercepted",
            SecurityWarning,
            stacklevel=3,
        )
    if options.profile == "legacy":
        warnings.warn(
            "tlsProfile=legacy allows TLS 1.0/1.1 and weak cipher suites; use it only for "
            "servers that cannot be upgraded",
            SecurityWarning,
            stacklevel=3,
        )


def create_context(options: Optional[TLSOptions] = None) -> ClientContext:
    """Choose the backend for ``options`` and build its context (see ``select_backend``).

    Equal options on the same backend return the same, cached context while the files they
    name are unchanged (``clear_context_cache()`` forgets them all).
    """
    if options is None:
        options = TLSOptions(enabled=True)
    backend = select_backend(options)
    backend.check(options)
    # Before the cache: the warning is due on every call, not only the first build.
    warn_if_insecure(options)
    # Equal options on the same backend object share one context (see _cache.py).
    return context_cache.get_or_create(
        (backend.name, id(backend)), options, lambda: backend.create_context(options)
    )


def clear_context_cache() -> None:
    """Forget every cached context, e.g. after the system trust store was updated."""
    context_cache.clear()
