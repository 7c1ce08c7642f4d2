"""Finding backends through the ``tlsplug.backends`` entry point group, and choosing one."""

from __future__ import annotations

import functools
import os
import sys
import threading
import warnings
from importlib import metadata
from typing import Dict, Hashable, List, Optional, Tuple

from ._cache import Fingerprint, context_cache, entry_points_fingerprint
from ._errors import ConfigurationError, SecurityWarning
from ._options import TLSOptions
from ._protocols import Backend, ClientContext

__all__ = [
    "available_backends",
    "clear_context_cache",
    "create_context",
    "get_backend",
    "registration_conflicts",
    "select_backend",
]

GROUP = "tlsplug.backends"
ENV_VAR = "TLSPLUG_BACKEND"
# Backends published by the tlsplug project: name -> how to install it. Only real packages
# are ever suggested; any other name gets the list of installed backends instead.
_KNOWN_PACKAGES = {"pyopenssl": "pip install 'tlsplug[pyopenssl]' (the tlsplug-pyopenssl package)"}

_lock = threading.Lock()
_loaded: Dict[str, Backend] = {}
# Every backend ever loaded, even one later dropped from _loaded: the context cache keys
# by id(backend), which must never be reused by another object.
_kept: List[Backend] = []
_scanned: Dict[Hashable, Dict[str, metadata.EntryPoint]] = {}
#: Per name, the registrations that were *not* used (a second registration, or a package
#: claiming a built-in name), as "distribution (module:attr)" texts; from the last scan.
_conflicts: Dict[str, List[str]] = {}

#: The built-in backends and the module their entry point must name: a third-party package
#: that registers one of these names never replaces it (docs/design.md, Backends).
BUILTIN_MODULES: Dict[str, str] = {"stdlib": "tlsplug._stdlib", "pyopenssl": "tlsplug_pyopenssl"}
# The last "auto" decision: (entry points fingerprint, entry point name, backend).
_auto_choice: Optional[Tuple[Fingerprint, str, Backend]] = None


def _entry_points(fingerprint: Optional[Fingerprint] = None) -> Dict[str, metadata.EntryPoint]:
    # Scanning every distribution's metadata costs ~1.5 ms, more than a cached
    # create_context may take; rescan only when sys.path or a directory on it changed.
    if fingerprint is None:
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


def _describe(ep: metadata.EntryPoint) -> str:
    return f"{_distribution(ep)} ({ep.value})"


def _module_of(ep: metadata.EntryPoint) -> str:
    return ep.value.partition(":")[0].strip()


def _scan_entry_points() -> Dict[str, metadata.EntryPoint]:
    if sys.version_info >= (3, 10):
        found = metadata.entry_points(group=GROUP)
    else:  # pragma: no cover - 3.9's entry_points() has no selection
        found = metadata.entry_points().get(GROUP, ())
    registered: Dict[str, List[metadata.EntryPoint]] = {}
    for ep in found:
        same = registered.setdefault(ep.name.lower(), [])
        # The same target found twice (a directory twice on sys.path) is one registration.
        if all(other.value != ep.value for other in same):
            same.append(ep)
    out: Dict[str, metadata.EntryPoint] = {}
    conflicts: Dict[str, List[str]] = {}
    for name, eps in registered.items():
        module = BUILTIN_MODULES.get(name)
        if module is not None:
            # A built-in name resolves to its own implementation only, wherever it is
            # on sys.path; any other package claiming it is reported and never loaded.
            own = [ep for ep in eps if _module_of(ep) == module]
            others = [ep for ep in eps if _module_of(ep) != module]
            if own:
                out[name] = own[0]
        else:
            out[name] = eps[0]  # first on sys.path, as importlib finds it, and reported
            others = eps[1:]
        if others:
            conflicts[name] = [_describe(ep) for ep in others]
    _conflicts.clear()
    _conflicts.update(conflicts)
    for name, ignored in sorted(conflicts.items()):
        used = f"{_describe(out[name])} is used" if name in out else "none is used"
        warnings.warn(
            f"TLS backend name {name!r} is registered more than once: {used}; ignored: "
            f"{', '.join(ignored)}",
            SecurityWarning,
            stacklevel=2,
        )
    return out


def registration_conflicts() -> Dict[str, List[str]]:
    """Per backend name, the registrations that are ignored (shown by ``tlsplug backends``)."""
    _entry_points()
    with _lock:
        return {name: list(ignored) for name, ignored in _conflicts.items()}


def _distribution(ep: metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    name = getattr(dist, "name", None)
    if name:
        return str(name)
    for candidate in metadata.distributions():  # 3.9: EntryPoint has no .dist
        if any(e.group == GROUP and e.name == ep.name and e.value == ep.value
               for e in candidate.entry_points):
            return str(candidate.metadata["Name"])
    return f"tlsplug-{ep.name}"


def available_backends() -> List[str]:
    """Names of the installed backends, best first (entry points; nothing is imported)."""
    names = list(_entry_points())
    priorities = {n: _loaded[n].priority for n in names if n in _loaded}
    return sorted(names, key=lambda n: (-priorities.get(n, 0), n))


def _not_found(name: str, key: str, installed: str, source: str) -> ConfigurationError:
    """``backend-not-found`` naming where the name came from and what would help."""
    if source == ENV_VAR:
        where = f"{ENV_VAR}={name} (environment variable)"
        other = f"set {ENV_VAR} to one of: {installed}, or unset it to let tlsplug choose"
    elif source == "tlsBackend":
        where = f"tlsBackend={name}"
        other = f"set tlsBackend to one of: {installed}, or remove it to let tlsplug choose"
    else:
        where = f"get_backend({name!r})"
        other = f"use one of: {installed}"
    install = _KNOWN_PACKAGES.get(key)
    hint = f"Install it: {install}; or {other}." if install else f"{other[0].upper()}{other[1:]}."
    return ConfigurationError(
        f"{where}: no TLS backend named {name!r} is installed (installed: {installed})",
        code="backend-not-found",
        option=ENV_VAR if source == ENV_VAR else "tlsBackend",
        hint=hint,
    )


def get_backend(name: str) -> Backend:
    """The backend registered as ``name``; loads only that entry point."""
    return _get_backend(name, "get_backend")


def _get_backend(name: str, source: str) -> Backend:
    """``get_backend``; ``source`` (tlsBackend, TLSPLUG_BACKEND, ...) words its errors."""
    key = name.strip().lower()
    with _lock:
        if key in _loaded:
            return _loaded[key]
    eps = _entry_points()
    ep = eps.get(key)
    if ep is None:
        raise _not_found(name.strip(), key, ", ".join(sorted(eps)) or "none", source)
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
        _kept.append(backend)
    return backend  # type: ignore[no-any-return]


def select_backend(options: Optional[TLSOptions] = None) -> Backend:
    """``options.backend``, else ``$TLSPLUG_BACKEND``, else the best loadable backend."""
    name = options.backend if options is not None else None
    source = "tlsBackend"
    if not name:
        name, source = os.environ.get(ENV_VAR, ""), ENV_VAR
    name = name.strip() or "auto"
    if name.lower() != "auto":
        return _get_backend(name, source)
    return _select_auto()


def _select_auto() -> Backend:
    global _auto_choice
    fingerprint = entry_points_fingerprint()
    memo = _auto_choice
    # Valid while the installed entry points are (the fingerprint) and nobody dropped the
    # chosen backend from _loaded; comparing costs far less than trying every backend.
    if memo is not None and memo[0] == fingerprint and _loaded.get(memo[1]) is memo[2]:
        return memo[2]
    candidates: List[Tuple[str, Backend]] = []
    failed = False
    for key in _entry_points(fingerprint):
        try:
            candidates.append((key, get_backend(key)))
        except ConfigurationError as exc:
            # docs/design.md: under auto, a broken optional backend falls back, loudly.
            warnings.warn(f"skipping TLS backend {key!r}: {exc.message}", RuntimeWarning,
                          stacklevel=4)
            failed = True
    if not candidates:
        raise ConfigurationError(
            "no TLS backend could be loaded", code="backend-not-found", option="tlsBackend",
            hint="Reinstall tlsplug: its stdlib backend ships with it.",
        )
    key, best = max(candidates, key=lambda c: (c[1].priority, c[1].name))
    if not failed:  # a broken backend is retried (and warned about) on every call
        _auto_choice = (fingerprint, key, best)
    return best


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
    elif not options.strict_x509:
        warnings.warn(
            "tlsStrictX509=false accepts certificates that break RFC 5280's strict rules "
            "(e.g. a CA without keyUsage); re-issue them and remove the option",
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
    # A named backend that is already loaded: what select_backend would return, without
    # its normalising and locking (options.backend is normalised by TLSOptions; a raw
    # environment value that is not, or "auto", or a first load takes the full path).
    name = options.backend or os.environ.get(ENV_VAR, "")
    backend = _loaded.get(name) if name != "auto" else None
    if backend is None:
        backend = select_backend(options)
    backend.check(options)
    # Before the cache: the warning is due on every call, not only the first build. Nearly
    # every call is secure, so test inline first (the flags behind insecure_settings, and
    # the profile) rather than pay for a call and a list.
    if (
        options.insecure
        or options.allow_invalid_certificates
        or options.allow_invalid_hostnames
        or options.profile == "legacy"
        or not options.strict_x509
    ):
        warn_if_insecure(options)
    # Equal options on the same backend object share one context (see _cache.py).
    context = context_cache.lookup(id(backend), options)
    if context is None:
        context = context_cache.create(
            id(backend), options, functools.partial(backend.create_context, options)
        )
    return context


def cached_context(backend: Backend, options: TLSOptions) -> ClientContext:
    """``backend``'s context for ``options`` from the shared cache (no checks, no warnings)."""
    context = context_cache.lookup(id(backend), options)
    if context is None:
        context = context_cache.create(
            id(backend), options, functools.partial(backend.create_context, options)
        )
    return context


def clear_context_cache() -> None:
    """Forget every cached context, e.g. after the system trust store was updated."""
    context_cache.clear()
