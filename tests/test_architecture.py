"""The layout's rules hold: no import cycles, a neutral backend contract, names that still work.

docs/architecture.md describes the parts; these tests keep the code true to it.
"""

from __future__ import annotations

import ast
import sys
import warnings
from pathlib import Path
from typing import Dict, Iterator, List, Set

import pytest

import tlsplug.backend
import tlsplug.backend.openssl

ROOT = Path(__file__).resolve().parent.parent
SOURCES = (ROOT / "src", ROOT / "backends" / "pyopenssl" / "src")


def _modules() -> Dict[str, Path]:
    mods: Dict[str, Path] = {}
    for root in SOURCES:
        for path in root.rglob("*.py"):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join(parts)] = path
    return mods


def _resolve(module: str, level: int, name: str, is_package: bool) -> str:
    if level == 0:
        return name
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str, path: Path) -> Iterator[str]:
    """Every module ``module`` imports, deferred imports included, ``TYPE_CHECKING`` excluded."""
    is_package = path.name == "__init__.py"
    pending: List[ast.AST] = [ast.parse(path.read_text(encoding="utf-8"))]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            pending.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, node.level, node.module or "", is_package)
            yield base
            yield from (f"{base}.{alias.name}" if base else alias.name for alias in node.names)
        pending.extend(ast.iter_child_nodes(node))


def _cycles() -> List[List[str]]:
    """The strongly connected components (more than one module) of the import graph."""
    mods = _modules()
    graph = {m: {d for d in _imports(m, p) if d in mods and d != m} for m, p in mods.items()}
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    found: List[List[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    try:
        for v in sorted(graph):
            if v not in index:
                visit(v)
    finally:
        sys.setrecursionlimit(limit)
    return found


def _part(module: str) -> str:
    if module.startswith("tlsplug._stdlib"):
        return "stdlib"
    if module.startswith("tlsplug_"):
        return "pyopenssl"
    return "core"


def test_the_checker_sees_a_deferred_import_cycle(tmp_path: Path) -> None:
    """A cycle closed by an import inside a function is found; a TYPE_CHECKING one is not."""
    (tmp_path / "a.py").write_text("def f():\n    from b import x\n")
    (tmp_path / "b.py").write_text("import a\nfrom typing import TYPE_CHECKING\n")
    (tmp_path / "c.py").write_text("if TYPE_CHECKING:\n    import b\n")
    assert set(_imports("a", tmp_path / "a.py")) >= {"b", "b.x"}
    assert "b" not in set(_imports("c", tmp_path / "c.py"))


@pytest.mark.parametrize("part", ["core", "stdlib", "pyopenssl"])
def test_no_import_cycles(part: str) -> None:
    """No import cycle (deferred imports count, TYPE_CHECKING ones do not) touches ``part``."""
    cycles = [c for c in _cycles() if any(_part(m) == part for m in c)]
    assert cycles == []


# Every name tlsplug.backend exported before the OpenSSL helpers moved (docs/design.md: public
# names keep working, moved or deprecated, never silently gone).
_BACKEND_NAMES_BEFORE = (
    "ALL_CODES", "Backend", "BridgeSSLContext", "CLIENT_CERT_REFUSED_REASONS",
    "CertificateError", "ClientContext", "ConfigurationError", "DeferredOCSP", "Feature",
    "HANDSHAKE_FAILURE_ALERT_REASONS", "HandshakeError", "Identity", "LEGACY_CIPHERS",
    "LEGACY_RENEGOTIATION_HINT", "LEGACY_RENEGOTIATION_REASON", "MAX_FILE_SIZE",
    "MODERN_CIPHERS", "Materials", "NOT_TLS_REASONS", "NO_SHARED_CIPHER_REASONS", "Policy",
    "PROTOCOL_VERSION_REASONS", "STRICT_RULES", "SecurityWarning", "SessionKey",
    "SessionStore", "SocketCompat", "StrictRule", "TLS13_CIPHERSUITES", "TLSBuffer",
    "TLSError", "TLSOptions", "TLSSocket", "TLSSocketIO", "Trust", "WantReadError",
    "WantWriteError", "X509_V_ERR_CA_BCONS_NOT_CRITICAL",
    "X509_V_ERR_EMPTY_SUBJECT_SAN_NOT_CRITICAL", "X509_V_FLAG_CRL_CHECK",
    "X509_V_FLAG_PARTIAL_CHAIN", "X509_V_FLAG_X509_STRICT", "certificate_matches",
    "certificate_violation", "chain_crl_error", "check_identity", "client_cert_hint",
    "code_for_verify_error", "error_for_code", "identity_matches", "is_strict_rule",
    "limits_error", "limits_violation", "load_materials", "newer_violation", "no_flags",
    "normalize_hostname", "policy_for", "reason_token", "server_identity", "session_key",
    "situated_hint", "strict_refusal", "strict_violation", "system_trust", "trust_anchors",
    "want_read", "want_write",
)
_MOVED = tuple(tlsplug.backend.openssl.__all__)


def test_backend_contract_exports_nothing_openssl_specific() -> None:
    """``tlsplug.backend.__all__`` and ``tlsplug.backend.openssl.__all__`` share no name."""
    assert not set(tlsplug.backend.__all__) & set(_MOVED)


def test_no_backend_name_disappeared() -> None:
    """Every name ``tlsplug.backend`` exported is exported by it or by its OpenSSL module."""
    assert set(_BACKEND_NAMES_BEFORE) <= set(tlsplug.backend.__all__) | set(_MOVED)


@pytest.mark.parametrize("name", _MOVED)
def test_moved_name_still_works_from_backend_with_a_warning(name: str) -> None:
    """An OpenSSL helper read from ``tlsplug.backend`` is the same object, and warns."""
    with pytest.warns(DeprecationWarning, match=rf"tlsplug\.backend\.openssl\.{name}\b"):
        value = getattr(tlsplug.backend, name)
    assert value is getattr(tlsplug.backend.openssl, name)
    assert name in dir(tlsplug.backend)


@pytest.mark.parametrize("name", sorted(set(_BACKEND_NAMES_BEFORE) - set(_MOVED)))
def test_neutral_name_imports_without_a_warning(name: str) -> None:
    """The names that stayed in ``tlsplug.backend`` are plain attributes (no warning)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert getattr(tlsplug.backend, name) is not None


def test_unknown_backend_attribute_is_still_an_attribute_error() -> None:
    """A name ``tlsplug.backend`` never had raises AttributeError, not a deprecation."""
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        tlsplug.backend.nope  # type: ignore[attr-defined]  # noqa: B018


def test_subsystems_are_packages() -> None:
    """OCSP and asyncio are packages with their private modules inside, no flat leftovers."""
    src = ROOT / "src" / "tlsplug"
    for package in ("ocsp", "aio", "backend"):
        assert (src / package / "__init__.py").is_file()
    assert not list(src.glob("_ocsp_*.py"))
    assert not list(src.glob("_aio_*.py"))
