"""Finding backends through the ``tlsplug.backends`` entry point group, and choosing one."""

from __future__ import annotations

import os
import sys
import threading
import warnings
from importlib import metadata
from typing import Dict, List, Optional

from ._errors import ConfigurationError, SecurityWarning
from ._options import TLSOptions
from ._protocols import Backend, ClientContext

__all__ = ["available_backends", "create_context", "get_backend", "select_backend"]

GROUP = "tlsplug.backends"
ENV_VAR = "TLSPLUG_BACKEND"

_lock = threading.Lock()
_loaded: Dict[str, Backend] = {}


def _entry_points() -> Dict[str, metadata.EntryPoint]:
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
    """Choose the backend for ``options`` and build its context (see ``select_backend``)."""
    if options is None:
        options = TLSOptions(enabled=True)
    backend = select_backend(options)
    backend.check(options)
    warn_if_insecure(options)
    return backend.create_context(options)
