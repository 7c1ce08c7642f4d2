"""``tlsplug backends``: installed backends, versions, features, and what ``auto`` picks."""

from __future__ import annotations

import argparse
import json
import os
import platform
import ssl
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from .._errors import ConfigurationError, TLSError
from .._options import TLSOptions
from .._protocols import Backend, Feature
from .._registry import (
    ENV_VAR,
    GROUP,
    available_backends,
    get_backend,
    registration_conflicts,
    select_backend,
)
from ._common import EXIT_OK, Console
from ._render import Cell, CellLike, heading, kv_lines, table

__all__ = ["BackendInfo", "add_parser", "backend_status", "inspect_backends", "report", "run"]


@dataclass
class BackendInfo:
    """What ``tlsplug backends`` knows about one registered backend."""

    name: str
    status: str  # "ready", "unavailable" (check() refuses) or "cannot-load"
    priority: Optional[int] = None
    versions: Dict[str, str] = field(default_factory=dict)
    features: List[str] = field(default_factory=list)
    error: Optional[TLSError] = None

    def to_json(self) -> Dict[str, Any]:
        """The JSON form (``--json``)."""
        return {
            "name": self.name,
            "status": self.status,
            "priority": self.priority,
            "versions": self.versions,
            "features": self.features,
            "error": None if self.error is None else {
                "code": self.error.code, "message": self.error.message, "hint": self.error.hint,
            },
        }


def backend_status(backend: Backend) -> Optional[TLSError]:
    """The error a plain ``tls=true`` context would hit before any socket, or None.

    ``check`` runs no I/O; a backend that is installed but not usable (a placeholder, a
    missing native library) says so there with ``backend-unavailable``.
    """
    try:
        backend.check(TLSOptions(enabled=True))
    except TLSError as exc:
        return exc
    except Exception as exc:  # a third-party backend's bug must not break the listing
        return ConfigurationError(f"check() raised {type(exc).__name__}: {exc}",
                                  code="backend-unavailable", backend=backend.name)
    return None


def inspect_backends() -> List[BackendInfo]:
    """Load every registered backend and describe it, best first."""
    infos: List[BackendInfo] = []
    for name in available_backends():
        try:
            backend = get_backend(name)
        except ConfigurationError as exc:
            infos.append(BackendInfo(name, "cannot-load", error=exc))
            continue
        info = BackendInfo(name, "ready", priority=backend.priority,
                           features=sorted(f.value for f in backend.features))
        try:
            info.versions = dict(backend.versions())
        except Exception as exc:  # versions are informative; never fatal
            info.versions = {"error": f"{type(exc).__name__}: {exc}"}
        error = backend_status(backend)
        if error is not None:
            info.status, info.error = "unavailable", error
        infos.append(info)
    infos.sort(key=lambda i: (-(i.priority or 0), i.name))
    return infos


def _auto_choice(infos: List[BackendInfo]) -> Dict[str, Any]:
    """What ``auto`` picks (the environment variable ignored) and why."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the broken ones are listed with their error anyway
        try:
            chosen = select_backend(TLSOptions(backend="auto"))
        except ConfigurationError as exc:
            return {"name": None, "reason": f"{exc.code}: {exc.message}"}
    loaded = [i for i in infos if i.priority is not None]
    others = ", ".join(f"{i.name} {i.priority}" for i in loaded if i.name != chosen.name)
    reason = f"highest priority among loadable backends ({chosen.priority}"
    reason += f" > {others})" if others else ", the only one)"
    broken = [i.name for i in infos if i.status == "cannot-load"]
    if broken:
        reason += f"; skipped (cannot load): {', '.join(broken)}"
    info = next((i for i in infos if i.name == chosen.name), None)
    if info is not None and info.status != "ready":
        reason += f"; note: it reports {info.error.code if info.error else 'a problem'}"
    return {"name": chosen.name, "reason": reason}


def _env_effect() -> Dict[str, Any]:
    value = os.environ.get(ENV_VAR)
    if not value or not value.strip():
        return {"value": None, "effect": (f"not set: connections without tlsBackend use auto; "
                                          f"set {ENV_VAR}=NAME to choose one")}
    name = value.strip().lower()
    if name == "auto":
        return {"value": value, "effect": "auto (same as unset)"}
    try:
        get_backend(name)
    except ConfigurationError as exc:
        return {"value": value, "effect": f"every context without tlsBackend fails: {exc.code}"
                                          f" ({exc.message})"}
    return {"value": value, "effect": f"connections without tlsBackend use {name}; a tlsBackend "
                                      "in the connection string still wins"}


def add_parser(subparsers: Any) -> None:
    """Register ``backends`` on the top-level parser's subcommands."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "backends",
        help="list installed backends, versions, features and what auto picks",
        description=(f"List the backends registered in the {GROUP!r} entry point group, their "
                     "versions and features, which one 'auto' picks and why, and the effect "
                     f"of ${ENV_VAR}."),
        allow_abbrev=False,
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(run=run)


def report(infos: List[BackendInfo]) -> Dict[str, Any]:
    """Everything ``backends`` shows about ``infos``, as JSON-ready data."""
    return {
        "python": platform.python_version(),
        "python_ssl": ssl.OPENSSL_VERSION,
        "entry_point_group": GROUP,
        "backends": [i.to_json() for i in infos],
        # Second registrations of a name, and packages claiming a built-in name: ignored.
        "ignored_registrations": registration_conflicts(),
        "auto": _auto_choice(infos),
        "env": {"name": ENV_VAR, **_env_effect()},
    }


def run(args: argparse.Namespace, console: Console) -> int:
    """Print the listing (0 even when a backend is broken: listing it is the point)."""
    infos = inspect_backends()
    data = report(infos)
    if args.json:
        console.print(json.dumps(data, indent=2, sort_keys=False))
        return EXIT_OK
    style, width = console.style, console.width
    console.print(heading(f"Python {data['python']} ({sys.implementation.name}), "
                          f"ssl links {data['python_ssl']}", style))
    console.print()
    console.print(heading("Backends (best first)", style))
    rows: List[List[CellLike]] = []
    for info in infos:
        state = Cell(info.status, "ok" if info.status == "ready" else "bad")
        versions = ", ".join(f"{k} {v}" for k, v in info.versions.items())
        rows.append([info.name, "-" if info.priority is None else str(info.priority), state,
                     versions])
    console.lines(table(["name", "priority", "status", "versions"], rows, style,
                        max_width=width, indent=2))
    for info in infos:
        if info.error is not None:
            console.lines(kv_lines([(f"{info.name}:", f"[{info.error.code}] {info.error.message}"
                                     + (f" Hint: {info.error.hint}" if info.error.hint else ""))],
                                   style, max_width=width))
    for name, ignored in sorted(data["ignored_registrations"].items()):
        console.lines(kv_lines([(f"{name}:", "registered more than once; ignored: "
                                 + ", ".join(ignored))], style, max_width=width))
    loaded = [i for i in infos if i.priority is not None]
    if loaded:
        console.print()
        console.print(heading("Features", style))
        feature_rows = []
        for feature in Feature:
            feature_rows.append([feature.value] + [
                Cell("✓", "ok") if feature.value in i.features else Cell("-", "dim")
                for i in loaded])
        console.lines(table(["feature", *[i.name for i in loaded]], feature_rows, style,
                            max_width=width, indent=2, shrinkable=[]))
    console.print()
    console.print(heading("Selection", style))
    auto = data["auto"]
    env = data["env"]
    console.lines(kv_lines([
        ("auto picks", f"{auto['name'] or 'nothing'}: {auto['reason']}"),
        (f"${ENV_VAR}", (f"{env['value']!r}: " if env["value"] else "") + env["effect"]),
        ("order", "tlsBackend in the options, else $" + ENV_VAR + ", else auto"),
    ], style, max_width=width))
    return EXIT_OK
