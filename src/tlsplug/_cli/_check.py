"""``tlsplug check HOST[:PORT]``: connect with each backend side by side and explain the verdict.

The port defaults to 27017 (MongoDB's), because the people this tool is for dial database
servers, not web sites; ``example.com:443`` is one word more. HOST may be omitted when
``--uri`` names a host (its first one; ``+srv`` URIs need a DNS lookup, so give HOST then).

``--json`` prints one object that follows ``check.schema.json`` (next to this module,
``"schema": "tlsplug-check/1"``)::

    {"schema": "tlsplug-check/1", "ok": bool,
     "target": {"host", "port", "server_hostname"}, "timeout": float,
     "options": {connection-string options, the password masked}, "notes": [str],
     "results": [{"backend", "ok", "error": null | {"code", "class", "message", "hint"},
                  "tls_version", "cipher": null | {"name", "protocol", "bits"},
                  "peer_chain": [{"subject", "issuer", "serial", "not_before", "not_after",
                                  "sans", "sha256"}],
                  "chain_verified": bool, "ocsp_status": str | null,
                  "session_resumption": {"attempted", "reused": bool | null, "error"},
                  "timings_ms": {"context", "tcp", "handshake", "resumed_handshake"},
                  "warnings": [str]}]}

On invalid options the document is ``{"schema", "ok": false, "error": {...}}`` and the exit
status is 2.

Times are ISO 8601 UTC; timings are milliseconds (null when that step did not run). A field is
never removed or renamed within ``tlsplug-check/1``; new optional fields may appear.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import socket
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, FrozenSet, Iterator, List, Optional, Tuple

from .._connect import connect_error
from .._errors import ConfigurationError, HandshakeError, SecurityWarning, TLSError
from .._materials import describe_trust
from .._options import TLSOptions
from .._protocols import ClientContext, TLSSocket
from .._registry import available_backends, create_context, get_backend, select_backend
from .._uri import split_uri
from ._common import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_OK,
    MASK,
    Console,
    add_option_flags,
    error_lines,
    option_kwargs,
    parse_options,
    warning_text,
)
from ._render import Cell, CellLike, Style, heading, kv_lines, table

__all__ = ["DEFAULT_PORT", "SCHEMA_ID", "BackendResult", "add_parser", "check", "parse_target",
           "run"]

DEFAULT_PORT = 27017
SCHEMA_ID = "tlsplug-check/1"


# -- targets ---------------------------------------------------------------------------------

def parse_target(text: str, default_port: int = DEFAULT_PORT) -> Tuple[str, int]:
    """``host``, ``host:port``, ``[v6]``, ``[v6]:port`` or a bare IPv6 literal -> (host, port)."""
    text = text.strip()
    if not text:
        raise ValueError("empty host")
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or not host:
            raise ValueError(f"unbalanced brackets in {text!r}")
        if rest and not rest.startswith(":"):
            raise ValueError(f"unexpected {rest!r} after the IPv6 address")
        port_text = rest[1:] if rest else ""
    elif text.count(":") > 1:
        host, port_text = text, ""  # a bare IPv6 literal: no port can be told apart
    else:
        host, _, port_text = text.partition(":")
        if not host:
            raise ValueError(f"no host in {text!r}")
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"invalid port {port_text!r}")
    return host, int(port_text)


def host_from_uri(uri: str) -> Optional[str]:
    """The first ``host[:port]`` of a ``scheme://[user@]host1,host2/...`` connection string.

    The host list is found as ``TLSOptions.parse`` finds it (tlsplug._uri.split_uri), so a
    password with a raw ``/`` or ``?`` is never mistaken for a host. Raises
    ``ConfigurationError`` for a URI that cannot be split.
    """
    if "://" not in uri:
        return None
    first = split_uri(uri).hosts.split(",")[0]
    return first or None


# -- running one backend ---------------------------------------------------------------------

@dataclass
class BackendResult:
    """What one backend concluded about the server."""

    backend: str
    error: Optional[TLSError] = None
    tls_version: Optional[str] = None
    cipher: Optional[Tuple[str, str, int]] = None
    chain: List[bytes] = field(default_factory=list)
    chain_verified: bool = False
    ocsp_status: Optional[str] = None
    resumption_attempted: bool = False
    reused: Optional[bool] = None
    resumption_error: Optional[str] = None
    timings: Dict[str, Optional[float]] = field(default_factory=lambda: {
        "context": None, "tcp": None, "handshake": None, "resumed_handshake": None})
    warnings: List[str] = field(default_factory=list)
    features: FrozenSet[str] = frozenset()
    #: What would make it connect, proven by a second try (e.g. tlsStrictX509=false).
    remedy: Optional[str] = None

    @property
    def ok(self) -> bool:
        """Connected with every check passed."""
        return self.error is None


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000.0, 2)


def _tcp(host: str, port: int, timeout: float, backend: str) -> socket.socket:
    """TCP connect, with the same error codes as ``tlsplug.connect``."""
    try:
        return socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        raise connect_error(exc, host, port, backend) from exc


def _handshake(ctx: ClientContext, sock: socket.socket, sni: str) -> TLSSocket:
    try:
        return ctx.wrap_socket(sock, server_hostname=sni)
    except BaseException:
        sock.close()
        raise


def _as_tls_error(exc: Exception, backend: str) -> TLSError:
    """A backend bug is still reported as a verdict instead of a traceback."""
    if isinstance(exc, TLSError):
        return exc
    return HandshakeError(f"unexpected {type(exc).__name__} from the backend: {exc}",
                          code="handshake-failure", backend=backend,
                          hint="This is a bug in the backend; please report it with this output.")


@contextlib.contextmanager
def _quiet(into: List[str]) -> Iterator[None]:
    """Collect SecurityWarnings as notes instead of printing them on stderr."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SecurityWarning)
        yield
    into.extend(warning_text(w) for w in caught
                if issubclass(w.category, SecurityWarning))


def _unverified_chain(options: TLSOptions, host: str, port: int, sni: str,
                      timeout: float) -> List[bytes]:
    """The chain the server presents, fetched without verification, to explain a refusal."""
    diag = TLSOptions(enabled=True, backend=options.backend, insecure=True,
                      profile=options.profile,
                      certificate_key_file=options.certificate_key_file,
                      certificate_key_file_password=options.certificate_key_file_password)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deliberately insecure, and only to show the chain
        try:
            ctx = create_context(diag)
            tls = _handshake(ctx, _tcp(host, port, timeout, ctx.backend_name), sni)
        except Exception:
            return []
        try:
            return list(tls.peer_chain())
        except Exception:
            return []
        finally:
            tls.close()


def check(name: str, options: TLSOptions, host: str, port: int, sni: str,
          timeout: float) -> BackendResult:
    """Connect with backend ``name`` (twice when session resumption is on) and record it all."""
    result = BackendResult(name)
    options = options.replace(backend=name)
    with _quiet(result.warnings):
        start = time.perf_counter()
        try:
            result.features = frozenset(f.value for f in get_backend(name).features)
            ctx = create_context(options)
        except Exception as exc:
            result.error = _as_tls_error(exc, name)
            return result
        result.timings["context"] = _ms(start)
        try:
            start = time.perf_counter()
            sock = _tcp(host, port, timeout, name)
            result.timings["tcp"] = _ms(start)
            start = time.perf_counter()
            tls = _handshake(ctx, sock, sni)
            result.timings["handshake"] = _ms(start)
        except Exception as exc:
            result.error = _as_tls_error(exc, name)
            if isinstance(exc, TLSError) and exc.code.startswith(("cert-", "hostname", "ocsp-")):
                result.chain = _unverified_chain(options, host, port, sni, timeout)
            if isinstance(exc, TLSError) and exc.code == "cert-invalid":
                result.remedy = _strict_remedy(options, host, port, sni, timeout)
            return result
        try:
            result.tls_version = tls.version()
            result.cipher = tls.cipher()
            result.chain = list(tls.peer_chain())
            result.chain_verified = options.verify_certificates
            result.ocsp_status = getattr(tls, "ocsp_status", None)
        finally:
            tls.close()
        if options.session_resumption:
            _resume(result, ctx, host, port, sni, timeout)
    return result


def _strict_remedy(options: TLSOptions, host: str, port: int, sni: str,
                   timeout: float) -> Optional[str]:
    """Whether only the strict X.509 rules refused the chain: a second try without them.

    The usual cause is a private CA made with `openssl req` defaults (no keyUsage); the
    error's hint says how to re-issue it (docs/howto/private-ca.md).
    """
    if not options.check_strict_x509:
        return None
    relaxed = options.replace(strict_x509=False)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ctx = create_context(relaxed)
        _handshake(ctx, _tcp(host, port, timeout, ctx.backend_name), sni).close()
    except Exception:
        return None
    return ("connects with tlsStrictX509=false: only the strict X.509 rules refuse this "
            "chain; re-issue the certificate named above (see the hint), or set "
            "tlsStrictX509=false until then")


def _resume(result: BackendResult, ctx: ClientContext, host: str, port: int, sni: str,
            timeout: float) -> None:
    """Connect again through the same context and see whether the session was resumed."""
    result.resumption_attempted = True
    try:
        sock = _tcp(host, port, timeout, result.backend)
        start = time.perf_counter()
        tls = _handshake(ctx, sock, sni)
        result.timings["resumed_handshake"] = _ms(start)
    except Exception as exc:
        result.resumption_error = str(_as_tls_error(exc, result.backend))
        return
    try:
        result.reused = bool(tls.session_reused)
    finally:
        tls.close()


# -- description of certificates ---------------------------------------------------------------

def describe_cert(der: bytes) -> Dict[str, Any]:
    """Subject, issuer, validity, SANs and fingerprint of a DER certificate."""
    from cryptography import x509  # imported here: `tlsplug --help` should stay instant
    from cryptography.hazmat.primitives import hashes

    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        return {"subject": f"(unparsable certificate: {exc})", "issuer": "", "serial": "",
                "not_before": None, "not_after": None, "sans": [],
                "sha256": ""}
    sans: List[str] = []
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except (x509.ExtensionNotFound, ValueError):
        pass
    else:
        for name in ext.value:
            if isinstance(name, x509.DNSName):
                sans.append(f"DNS:{name.value}")
            elif isinstance(name, x509.IPAddress):
                sans.append(f"IP:{name.value}")
            elif isinstance(name, x509.UniformResourceIdentifier):
                sans.append(f"URI:{name.value}")
            elif isinstance(name, x509.RFC822Name):
                sans.append(f"email:{name.value}")
            else:
                sans.append(type(name).__name__)
    return {
        "subject": cert.subject.rfc4514_string() or "(empty)",
        "issuer": cert.issuer.rfc4514_string() or "(empty)",
        "serial": f"{cert.serial_number:x}",
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "sans": sans,
        "sha256": cert.fingerprint(hashes.SHA256()).hex(),
    }


def _validity_words(cert: Dict[str, Any]) -> str:
    if not cert["not_before"] or not cert["not_after"]:
        return "?"
    start = datetime.datetime.fromisoformat(cert["not_before"])
    end = datetime.datetime.fromisoformat(cert["not_after"])
    now = datetime.datetime.now(datetime.timezone.utc)
    span = f"{start:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M} UTC"
    if now < start:
        return f"{span} (NOT YET VALID, starts in {(start - now).days} days)"
    if now >= end:
        return f"{span} (EXPIRED {(now - end).days} days ago)"
    return f"{span} (expires in {(end - now).days} days)"


# -- output ----------------------------------------------------------------------------------

def _error_json(err: TLSError) -> Dict[str, Any]:
    return {"code": err.code, "class": type(err).__name__, "message": err.message,
            "hint": err.hint or ""}


def result_json(result: BackendResult) -> Dict[str, Any]:
    """One backend's entry of the ``--json`` document."""
    return {
        "backend": result.backend,
        "ok": result.ok,
        "error": None if result.error is None else _error_json(result.error),
        "tls_version": result.tls_version,
        "cipher": None if result.cipher is None else {
            "name": result.cipher[0], "protocol": result.cipher[1], "bits": result.cipher[2]},
        "peer_chain": [describe_cert(der) for der in result.chain],
        "chain_verified": result.chain_verified,
        "ocsp_status": result.ocsp_status,
        "session_resumption": {"attempted": result.resumption_attempted,
                               "reused": result.reused, "error": result.resumption_error},
        "timings_ms": dict(result.timings),
        "warnings": list(result.warnings),
        "remedy": result.remedy,
    }


def _ocsp_words(result: BackendResult, options: TLSOptions) -> str:
    if result.ocsp_status:
        return result.ocsp_status
    if not options.check_ocsp_stapling:
        return "off for these options (see tlsplug options)"
    lacking = [f for f in ("ocsp-stapling", "ocsp-endpoint") if f not in result.features]
    if lacking:
        return f"not checked: this backend lacks {' and '.join(lacking)}"
    return "no status reported"


def _resumption_words(result: BackendResult) -> str:
    if not result.resumption_attempted:
        return "not tried (session_resumption off)"
    if result.resumption_error:
        return f"2nd connection failed: {result.resumption_error}"
    ms = result.timings["resumed_handshake"]
    words = "resumed" if result.reused else "not resumed"
    if not result.reused and "session-resumption" not in result.features:
        words += " (backend lacks session-resumption)"
    return words + (f", 2nd handshake {ms:.1f} ms" if ms is not None else "")


def _timing_words(result: BackendResult) -> str:
    parts = [f"{k} {v:.1f} ms" for k, v in result.timings.items()
             if v is not None and k != "resumed_handshake"]
    return ", ".join(parts) or "-"


def _render_backend(result: BackendResult, options: TLSOptions, console: Console) -> None:
    style = console.style
    verdict = (style.ok("✓ ok") if result.ok
               else style.bad(f"✗ {result.error.code if result.error else '?'}"))
    console.print(f"{style.bold(result.backend)}  {verdict}")
    pairs: List[Tuple[str, str]] = []
    if result.ok:
        cipher = (f"{result.cipher[0]} ({result.cipher[2]} bits)" if result.cipher else "?")
        pairs += [("protocol", f"{result.tls_version or '?'}, {cipher}"),
                  ("OCSP", _ocsp_words(result, options)),
                  ("resumption", _resumption_words(result))]
    pairs.append(("timings", _timing_words(result)))
    if result.remedy is not None:
        pairs.append(("remedy", result.remedy))
    if result.error is not None:
        console.lines(error_lines(result.error, console, brief=True, extra=pairs))
    else:
        console.lines(kv_lines(pairs, style, max_width=console.width))
    for note in result.warnings:
        console.lines(kv_lines([("note", note)], style, max_width=console.width,
                               value_style={"note": "warn"}))
    console.print()


def _render_chain(chain: List[bytes], verified: bool, console: Console, title: str) -> None:
    style = console.style
    console.print(heading(title, style))
    if not verified:
        console.print(style.dim("  (fetched again without verification, to explain the error)"))
    for index, der in enumerate(chain):
        cert = describe_cert(der)
        pairs = [("subject", cert["subject"]), ("issuer", cert["issuer"]),
                 ("valid", _validity_words(cert))]
        if cert["sans"]:
            pairs.append(("SANs", ", ".join(cert["sans"])))
        pairs.append(("sha256", cert["sha256"][:32] + "…"))
        lines = kv_lines(pairs, style, max_width=console.width, indent=6)
        lines[0] = f"  [{index}]" + lines[0][5:]
        console.lines(lines)
    console.print()


def _render(results: List[BackendResult], options: TLSOptions, console: Console) -> None:
    for result in results:
        _render_backend(result, options, console)
    chains = [(r.chain, r.chain_verified, r.backend) for r in results if r.chain]
    if chains and all(c[0] == chains[0][0] for c in chains):
        _render_chain(chains[0][0], any(c[1] for c in chains), console,
                      "Peer certificate chain, as sent by the server")
    else:
        for chain, verified, backend in chains:
            _render_chain(chain, verified, console, f"Peer certificate chain seen by {backend}")
    if len(results) > 1:
        style = console.style
        rows: List[List[CellLike]] = []
        for r in results:
            verdict = Cell("ok", "ok") if r.ok else Cell(r.error.code if r.error else "?", "bad")
            hs = r.timings["handshake"]
            rows.append([r.backend, verdict, r.tls_version or "-",
                         r.cipher[0] if r.cipher else "-",
                         f"{hs:.1f} ms" if hs is not None else "-"])
        console.print(heading("Side by side", style))
        console.lines(table(["backend", "verdict", "version", "cipher", "handshake"], rows,
                            style, max_width=console.width, indent=2, shrinkable=[3]))


# -- the command -----------------------------------------------------------------------------

def add_parser(subparsers: Any) -> None:
    """Register ``check`` on the top-level parser's subcommands."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "check",
        help="connect to a server with each backend and explain the verdict",
        description=(
            "Connect to HOST[:PORT] (default port 27017) with each chosen backend and show "
            "the verdict, protocol, cipher, peer chain, OCSP status, session resumption and "
            "timings; on failure the error code and a hint. Exit status 0 only when every "
            "chosen backend connected."
        ),
        allow_abbrev=False,
    )
    parser.add_argument("target", nargs="?", metavar="HOST[:PORT]",
                        help="host name, IPv4, [IPv6] or [IPv6]:port; default: the URI's host")
    parser.add_argument("--uri", help="a connection string whose TLS options to use")
    parser.add_argument("--backend", default=None, metavar="NAME|all|auto",
                        help="backend(s) to use, comma-separated; default: tlsBackend from the "
                             "options, else all installed")
    parser.add_argument("--server-hostname", metavar="NAME",
                        help="name to verify and send as SNI (default: HOST)")
    parser.add_argument("--timeout", type=float, default=10.0, metavar="S",
                        help="seconds for the TCP connect and for the handshake (default 10)")
    parser.add_argument("--json", action="store_true",
                        help=f"print one JSON document ({SCHEMA_ID}, see check.schema.json)")
    add_option_flags(parser, skip=("tlsBackend",))
    parser.set_defaults(run=run)


def _choose_backends(requested: Optional[str], options: TLSOptions) -> List[str]:
    if requested is None:
        return [options.backend] if options.backend and options.backend != "auto" else (
            available_backends())
    names: List[str] = []
    for item in requested.split(","):
        item = item.strip().lower()
        if item == "all":
            names += available_backends()
        elif item == "auto":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                names.append(select_backend(options.replace(backend=None)).name)
        elif item:
            names.append(item)
    return list(dict.fromkeys(names))  # de-duplicated, order kept


def run(args: argparse.Namespace, console: Console) -> int:
    """Check the server; 0 when every backend connected, 1 otherwise, 2 for bad input."""
    notes: List[str] = []
    try:
        target = args.target or (host_from_uri(args.uri) if args.uri else None)
    except ConfigurationError as exc:
        return _invalid(args, console, exc)
    if target is None:
        console.print("tlsplug check: give HOST[:PORT] (or a --uri with a host)")
        return EXIT_CONFIG
    if args.target is None and args.uri and args.uri.lower().startswith("mongodb+srv:"):
        console.print("tlsplug check: a mongodb+srv:// host needs a DNS SRV lookup; give "
                      "HOST:PORT of one member")
        return EXIT_CONFIG
    try:
        host, port = parse_target(target)
    except ValueError as exc:
        console.print(f"tlsplug check: {exc}")
        return EXIT_CONFIG
    if args.timeout <= 0:
        console.print("tlsplug check: --timeout must be positive")
        return EXIT_CONFIG
    try:
        options, caught = parse_options(args.uri, option_kwargs(args))
        notes += [warning_text(w) for w in caught]
        if options.enabled is False:
            notes.append("the options say tls=false; checking TLS anyway")
        options = options.replace(enabled=True)
        names = _choose_backends(args.backend, options)
    except ConfigurationError as exc:
        return _invalid(args, console, exc)
    sni = args.server_hostname or host
    results = [check(name, options, host, port, sni, args.timeout) for name in names]
    ok = bool(results) and all(r.ok for r in results)
    if args.json:
        shown = {k: (MASK if k.endswith("Password") else v)
                 for k, v in options.to_uri_options().items()}
        doc = {"schema": SCHEMA_ID, "ok": ok,
               "target": {"host": host, "port": port, "server_hostname": sni},
               "timeout": args.timeout, "options": shown, "notes": notes,
               "results": [result_json(r) for r in results]}
        console.print(json.dumps(doc, indent=2))
        return EXIT_OK if ok else EXIT_FAILED
    _header(console, host, port, sni, options, notes, names)
    _render(results, options, console)
    return EXIT_OK if ok else EXIT_FAILED


def _invalid(args: argparse.Namespace, console: Console, exc: ConfigurationError) -> int:
    """Report invalid options (JSON or text) and return the exit status for them."""
    if args.json:
        console.print(json.dumps({"schema": SCHEMA_ID, "ok": False,
                                  "error": _error_json(exc)}, indent=2))
    else:
        console.print(heading("Invalid options", console.style))
        console.lines(error_lines(exc, console))
    return EXIT_CONFIG


def _header(console: Console, host: str, port: int, sni: str, options: TLSOptions,
            notes: List[str], names: List[str]) -> None:
    style: Style = console.style
    shown = " ".join(f"{k}={MASK if k.endswith('Password') else _text(v)}"
                     for k, v in options.to_uri_options().items())
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    console.print(heading(f"tlsplug check {where}", style))
    pairs = [("verify as", sni), ("options", shown or "tls=true"),
             ("trust", describe_trust(options) if options.verify_certificates else "-"),
             ("backends", ", ".join(names) or "none installed")]
    console.lines(kv_lines(pairs, style, max_width=console.width))
    for note in notes:
        console.lines(kv_lines([("note", note)], style, max_width=console.width,
                               value_style={"note": "warn"}))
    console.print()


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
