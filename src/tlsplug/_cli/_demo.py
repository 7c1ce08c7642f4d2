"""``tlsplug demo``: every installed backend against local scenario servers, in one matrix.

Everything runs on loopback: a throw-away PKI (``tlsplug.testing.pki``), one
``tlsplug.testing.servers`` server per scenario (started, used, stopped), and — when the test
kit has them — an OCSP responder and a stapling server. A scenario that needs a piece the kit
or a backend lacks is shown as ``n/a`` with the reason instead of being faked. Each
connection does the handshake and one echo round trip, because with TLS 1.3 a server refuses
a missing client certificate only after the client's handshake has completed.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import socket
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, FrozenSet, Iterator, List, Optional, Tuple

from .._errors import ConfigurationError, SecurityWarning, TLSError
from .._options import TLSOptions
from .._protocols import Backend, Feature
from .._registry import available_backends, clear_context_cache, create_context, get_backend
from ._backends_cmd import backend_status
from ._common import EXIT_FAILED, EXIT_OK, Console
from ._render import Cell, heading, kv_lines, table

__all__ = ["SCENARIOS", "Outcome", "Scenario", "add_parser", "run", "run_demo"]

HOST = "127.0.0.1"
SNI = "localhost"
_IO_TIMEOUT = 5.0
_PING = b"tlsplug demo ping\n"
_GREETING = b"tlsplug demo server\n"


class _World:
    """The demo PKI and its files, built once; leaves are issued on first use."""

    def __init__(self, directory: Path) -> None:
        from ..testing.pki import CA  # cryptography is only needed when the demo runs

        self.dir = directory
        self.root = CA("tlsplug demo root")
        self.intermediate = self.root.create_intermediate("tlsplug demo intermediate")
        self.ca_file = str(self.root.write_cert(directory / "ca.pem"))
        self.other_root = CA("tlsplug demo unrelated root")
        self.other_ca_file = str(self.other_root.write_cert(directory / "other-ca.pem"))
        self.good = self.intermediate.issue_cert(SNI, HOST)

    def leaf(self, **kwargs: Any) -> Any:
        """A new leaf for localhost/127.0.0.1 from the intermediate."""
        return self.intermediate.issue_cert(SNI, HOST, **kwargs)

    def client_file(self) -> str:
        """A tlsCertificateKeyFile with a clientAuth leaf from the intermediate."""
        client = self.intermediate.issue_cert("client.tlsplug.test", client=True, server=False)
        files = client.write(self.dir, basename="client")
        assert files.combined_file is not None
        return str(files.combined_file)


# A setup builds the scenario's server (started) and the options of the client; it may raise
# _Missing when the test kit lacks what the scenario needs.
Setup = Callable[[_World, contextlib.ExitStack], Dict[str, Any]]


class _Missing(Exception):
    """The test kit lacks a piece this scenario needs (shown as n/a with the reason)."""


def _tls_server(stack: contextlib.ExitStack, **kwargs: Any) -> Any:
    from ..testing.servers import TLSServer

    legacy = kwargs.pop("legacy", False)
    # The server speaks first: a client that wrote first could have its write answered by a
    # TCP reset that destroys a TLS 1.3 alert (e.g. "certificate required") still unread.
    kwargs.setdefault("mode", "greeting")
    kwargs.setdefault("greeting", _GREETING)
    server = TLSServer.legacy(**kwargs) if legacy else TLSServer(**kwargs)
    stack.callback(server.stop)
    return server.start()


def _kit(modules: Tuple[str, ...], *names: str) -> Any:
    """The first of ``names`` found in ``tlsplug.testing.<module>`` for ``modules``, else _Missing.

    Several places are tried because the OCSP test kit may grow in its own module.
    """
    for module in modules:
        try:
            mod = importlib.import_module(f"tlsplug.testing.{module}")
        except ImportError:
            continue
        for name in names:
            if hasattr(mod, name):
                return getattr(mod, name)
    raise _Missing(f"needs {names[0]} in tlsplug.testing")


def _good(w: _World, stack: contextlib.ExitStack) -> Dict[str, Any]:
    return {"server": _tls_server(stack, cert=w.good), "ca_file": w.ca_file}


def _expired(w: _World, stack: contextlib.ExitStack) -> Dict[str, Any]:
    return {"server": _tls_server(stack, cert=w.leaf(expired=True)), "ca_file": w.ca_file}


def _wrong_host(w: _World, stack: contextlib.ExitStack) -> Dict[str, Any]:
    cert = w.intermediate.issue_cert("db.elsewhere.test")
    return {"server": _tls_server(stack, cert=cert), "ca_file": w.ca_file}


def _untrusted(w: _World, stack: contextlib.ExitStack) -> Dict[str, Any]:
    return {"server": _tls_server(stack, cert=w.good), "ca_file": w.other_ca_file}


def _revoked_crl(w: _World, stack: contextlib.ExitStack) -> Dict[str, Any]:
    leaf = w.leaf()
    crl = w.intermediate.write_crl(w.dir / "revoked.crl.pem", revoked=[leaf])
    return {"server": _tls_server(stack, cert=leaf), "ca_file": w.ca_file, "crl_file": str(crl)}


def _stapling(w: _World, stack: contextlib.ExitStack, leaf: Any, staple: bytes) -> Any:
    import importlib.util

    if importlib.util.find_spec("OpenSSL") is None:
        # Python's ssl cannot staple; the test server is pyOpenSSL's server side.
        raise _Missing("pyOpenSSL, for the stapling test server")
    server_cls = _kit(("servers", "stapling", "ocsp_responder"), "StaplingServer",
                      "StaplingTLSServer")
    try:
        server = server_cls(cert=leaf, staple=staple, mode="greeting", greeting=_GREETING)
    except TypeError as exc:  # the kit's signature differs from the one written here
        raise _Missing(f"a StaplingServer(cert=, staple=) (got: {exc})") from exc
    stack.callback(server.stop)
    return server.start()


def _revoked_staple(w: _World, stack: contextlib.ExitStack) -> Dict[str, Any]:
    leaf = w.leaf()
    staple = w.intermediate.ocsp_response(leaf, "revoked")
    return {"server": _stapling(w, stack, leaf, staple), "ca_file": w.ca_file}


def _revoked_responder(w: _World, stack: contextlib.ExitStack) -> Dict[str, Any]:
    responder_cls = _kit(("ocsp_responder",), "OCSPResponder")
    responder = responder_cls(w.intermediate)
    stack.callback(responder.stop)
    responder.start()
    leaf = w.leaf(ocsp_url=responder.url)
    responder.set_status(leaf, "revoked")
    return {"server": _tls_server(stack, cert=leaf), "ca_file": w.ca_file}


def _must_staple(w: _World, stack: contextlib.ExitStack) -> Dict[str, Any]:
    # No AIA URL, so no responder is asked: the refusal comes from must-staple alone.
    return {"server": _tls_server(stack, cert=w.leaf(must_staple=True)), "ca_file": w.ca_file}


def _usual_private_ca(strict: bool) -> Setup:
    """A root made like `openssl req -x509` with default settings: no keyUsage."""

    def setup(w: _World, stack: contextlib.ExitStack) -> Dict[str, Any]:
        from ..testing.pki import CA

        root = CA.made_the_usual_way("tlsplug demo openssl-req root")
        ca_file = str(root.write_cert(w.dir / "usual-ca.pem"))
        server = _tls_server(stack, cert=root.issue_cert(SNI, HOST))
        return {"server": server, "ca_file": ca_file, "strict_x509": strict}

    return setup


def _in_memory(w: _World, stack: contextlib.ExitStack) -> Dict[str, Any]:
    """CA and client identity given as PEM strings (a secret store), never as files."""
    client = w.intermediate.issue_cert("client.tlsplug.test", client=True, server=False)
    identity = (client.cert_pem + client.private_key_pem()).decode("ascii")
    server = _tls_server(stack, cert=w.good, require_client_cert=w.intermediate)
    return {"server": server, "ca_data": w.root.cert_pem.decode("ascii"),
            "certificate_key_data": identity}


def _os_store(w: _World, stack: contextlib.ExitStack) -> Dict[str, Any]:
    """trust_store="os" (truststore), with SSL_CERT_FILE naming the demo CA for this row."""
    import importlib.util
    import os
    import sys

    if sys.version_info < (3, 10) or importlib.util.find_spec("truststore") is None:
        raise _Missing("truststore (pip install 'tlsplug[truststore]', Python 3.10+)")
    if not sys.platform.startswith("linux"):
        raise _Missing("Linux, where SSL_CERT_FILE steers the OS store")
    previous = os.environ.get("SSL_CERT_FILE")
    os.environ["SSL_CERT_FILE"] = w.ca_file

    def restore() -> None:
        if previous is None:
            os.environ.pop("SSL_CERT_FILE", None)
        else:
            os.environ["SSL_CERT_FILE"] = previous
        clear_context_cache()  # the system store is not watched by the cache

    stack.callback(restore)
    clear_context_cache()
    return {"server": _tls_server(stack, cert=w.good), "trust_store": "os"}


def _legacy(profile: str) -> Setup:
    def setup(w: _World, stack: contextlib.ExitStack) -> Dict[str, Any]:
        server = _tls_server(stack, cert=w.leaf(key_type="rsa"), legacy=True)
        return {"server": server, "ca_file": w.ca_file, "profile": profile}

    return setup


def _client_cert(given: bool) -> Setup:
    def setup(w: _World, stack: contextlib.ExitStack) -> Dict[str, Any]:
        server = _tls_server(stack, cert=w.good, require_client_cert=w.intermediate)
        options: Dict[str, Any] = {"server": server, "ca_file": w.ca_file}
        if given:
            options["certificate_key_file"] = w.client_file()
        return options

    return setup


@dataclass(frozen=True)
class Scenario:
    """One row of the matrix: a server, client options and the outcome docs/design.md predicts."""

    title: str
    expected: str  # "ok" or an error code
    setup: Setup
    needs: FrozenSet[Feature] = frozenset()


SCENARIOS: Tuple[Scenario, ...] = (
    Scenario("good chain", "ok", _good),
    Scenario("expired", "cert-expired", _expired),
    Scenario("wrong host", "hostname-mismatch", _wrong_host),
    Scenario("untrusted CA", "cert-untrusted", _untrusted),
    Scenario("revoked: CRL", "cert-revoked", _revoked_crl, frozenset({Feature.CRL})),
    Scenario("revoked: staple", "ocsp-revoked", _revoked_staple,
             frozenset({Feature.OCSP_STAPLING})),
    Scenario("revoked: responder", "ocsp-revoked", _revoked_responder,
             frozenset({Feature.OCSP_ENDPOINT})),
    Scenario("must-staple, none", "ocsp-must-staple", _must_staple,
             frozenset({Feature.OCSP_STAPLING})),
    Scenario("openssl-req/strict", "cert-invalid", _usual_private_ca(True)),
    Scenario("openssl-req/relaxed", "ok", _usual_private_ca(False)),
    Scenario("in-memory CA + key", "ok", _in_memory, frozenset({Feature.CLIENT_CERT})),
    Scenario("OS trust store", "ok", _os_store),
    Scenario("legacy-only/modern", "no-shared-cipher", _legacy("modern")),
    Scenario("legacy-only/legacy", "ok", _legacy("legacy"),
             frozenset({Feature.LEGACY_PROFILE})),
    Scenario("client cert given", "ok", _client_cert(True), frozenset({Feature.CLIENT_CERT})),
    Scenario("client cert missing", "handshake-failure", _client_cert(False)),
)


@dataclass(frozen=True)
class Outcome:
    """One cell: what happened (``ok``, a code, or ``n/a``) and whether it was expected."""

    result: str
    expected: Optional[bool]  # None for n/a
    note: str = ""


def _connect(options: TLSOptions, server: Any) -> str:
    """Handshake, the server's greeting and one echo round trip; ``ok`` or the error code."""
    ctx = create_context(options)
    sock = socket.create_connection(server.address, timeout=_IO_TIMEOUT)
    try:
        tls = ctx.wrap_socket(sock, server_hostname=SNI)
    except BaseException:
        sock.close()
        raise
    try:
        if not _read(tls, len(_GREETING)):
            return "connection-closed"
        tls.sendall(_PING)
        if not _read(tls, len(_PING)):
            return "connection-closed"
    finally:
        tls.close()
    return "ok"


def _read(tls: Any, count: int) -> bool:
    """Read ``count`` bytes; False when the stream ends first."""
    received = 0
    while received < count:
        chunk = tls.recv(4096)
        if not chunk:
            return False
        received += len(chunk)
    return True


def _run_cell(scenario: Scenario, backend: Backend, settings: Dict[str, Any],
              notes: List[str]) -> Outcome:
    missing = scenario.needs - backend.features
    if missing:
        wanted = ", ".join(sorted(f.value for f in missing))
        return Outcome("n/a", None, f"needs backend feature {wanted}")
    server = settings["server"]
    fields = {k: v for k, v in settings.items() if k != "server"}
    options = TLSOptions(enabled=True, backend=backend.name, **fields)
    with warnings.catch_warnings(record=True) as caught:
        # The legacy profile warns by design; the matrix shows it as a note, not on stderr.
        warnings.simplefilter("always", SecurityWarning)
        try:
            result = _connect(options, server)
        except ConfigurationError as exc:
            if exc.code == "unsupported-option":
                return Outcome("n/a", None, f"unsupported: {exc.message}")
            result = exc.code
        except TLSError as exc:
            result = exc.code
        except Exception as exc:  # a backend bug must show in its cell, not end the demo
            result = f"crash: {type(exc).__name__}"
    for w in caught:
        if issubclass(w.category, SecurityWarning):
            note = f"{scenario.title}: SecurityWarning: {w.message}"
            if note not in notes:
                notes.append(note)
    return Outcome(result, result == scenario.expected)


def _backends() -> List[Tuple[str, Optional[Backend], str]]:
    """(name, backend or None, why not usable) for every installed backend."""
    out: List[Tuple[str, Optional[Backend], str]] = []
    for name in available_backends():
        try:
            backend = get_backend(name)
        except ConfigurationError as exc:
            out.append((name, None, f"{exc.code}: {exc.message}"))
            continue
        error = backend_status(backend)
        if error is not None:
            out.append((name, None, f"{error.code}: {error.message}"))
        else:
            out.append((name, backend, ""))
    return out


def run_demo() -> Tuple[List[str], List[List[Outcome]], List[str], List[Tuple[str, str]]]:
    """Run the matrix: (backend names, outcomes per scenario, notes, unusable backends)."""
    backends = _backends()
    names = [name for name, _, _ in backends]
    unusable = [(name, why) for name, backend, why in backends if backend is None]
    notes: List[str] = []
    matrix: List[List[Outcome]] = []
    with tempfile.TemporaryDirectory(prefix="tlsplug-demo-") as tmp:
        world = _World(Path(tmp))
        for scenario in SCENARIOS:
            with contextlib.ExitStack() as stack:  # stops this scenario's servers, always
                try:
                    settings: Optional[Dict[str, Any]] = scenario.setup(world, stack)
                    missing_kit = ""
                except _Missing as exc:
                    settings, missing_kit = None, str(exc)
                except Exception as exc:  # the kit changed under us: show it, never crash
                    settings, missing_kit = None, f"setup-error: {type(exc).__name__}: {exc}"
                row = []
                for _, backend, _ in backends:
                    if backend is None:
                        row.append(Outcome("n/a", None, "backend unavailable"))
                    elif settings is None and missing_kit.startswith("setup-error"):
                        row.append(Outcome("setup-error", False, missing_kit))
                    elif settings is None:
                        row.append(Outcome("n/a", None, missing_kit))
                    else:
                        row.append(_run_cell(scenario, backend, settings, notes))
                matrix.append(row)
    return names, matrix, notes, unusable


@contextlib.contextmanager
def _timer() -> Iterator[List[float]]:
    box = [0.0]
    start = time.perf_counter()
    yield box
    box[0] = time.perf_counter() - start


def add_parser(subparsers: Any) -> None:
    """Register ``demo`` on the top-level parser's subcommands."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "demo",
        help="run every installed backend against local scenario servers (no network)",
        description=(
            "Build a throw-away PKI, start local servers on 127.0.0.1 (good, expired, wrong "
            "host, untrusted, revoked, must-staple, legacy-only, client certificate) and "
            "run every installed backend against each. Exit status 0 when every outcome is "
            "the expected one."
        ),
        allow_abbrev=False,
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, console: Console) -> int:
    """Print the matrix; 0 when every outcome that ran was the expected one."""
    style, width = console.style, console.width
    with _timer() as elapsed:
        names, matrix, notes, unusable = run_demo()
    rows: List[List[Any]] = []
    # (scenario, reason) -> backends, so one line explains a whole n/a row.
    reasons: Dict[Tuple[str, str], List[str]] = {}
    unexpected = ran = 0
    for scenario, outcomes in zip(SCENARIOS, matrix):
        row: List[Any] = [scenario.title, scenario.expected]
        for name, outcome in zip(names, outcomes):
            if outcome.expected is None:
                row.append(Cell("n/a", "dim"))
                reasons.setdefault((scenario.title, outcome.note), []).append(name)
                continue
            ran += 1
            if outcome.expected:
                row.append(Cell(f"✓ {outcome.result}", "ok"))
            else:
                unexpected += 1
                row.append(Cell(f"✗ {outcome.result}", "bad"))
                if outcome.note:
                    reasons.setdefault((scenario.title, outcome.note), []).append(name)
        rows.append(row)
    console.print(heading("tlsplug demo: every backend against local servers on 127.0.0.1",
                          style))
    console.print()
    console.lines(table(["scenario", "expected", *names], rows, style, max_width=width,
                        shrinkable=[0, 1]))
    if reasons:
        console.print()
        console.print(heading("Not applicable", style))
        pairs = []
        for (title, reason), where in reasons.items():
            who = "all backends" if len(where) == len(names) else ", ".join(where)
            pairs.append((title, f"{reason} ({who})"))
        console.lines(kv_lines(pairs, style, max_width=width))
    if unusable:
        console.print()
        console.print(heading("Unusable backends", style))
        console.lines(kv_lines(unusable, style, max_width=width,
                               value_style={name: "warn" for name, _ in unusable}))
    if notes:
        console.print()
        console.print(heading("Notes", style))
        for note in notes:
            console.lines(kv_lines([("note", note)], style, max_width=width))
    console.print()
    if ran == 0:
        console.print(style.bad("No scenario could run: no usable backend."))
        return EXIT_FAILED
    summary = (f"{ran - unexpected}/{ran} outcomes as expected in {elapsed[0]:.1f} s "
               "(✓ expected, ✗ unexpected)")
    console.print(style.ok(summary) if unexpected == 0 else style.bad(summary))
    return EXIT_OK if unexpected == 0 else EXIT_FAILED
