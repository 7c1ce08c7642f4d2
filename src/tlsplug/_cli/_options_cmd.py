"""``tlsplug options URI``: what a connection string's TLS options mean, in plain words."""

from __future__ import annotations

import argparse
import os
import warnings
from typing import Any, List, Optional, Tuple

from .._errors import ConfigurationError
from .._materials import describe_trust
from .._options import TLSOptions
from .._registry import ENV_VAR, select_backend
from ._common import (
    EXIT_CONFIG,
    EXIT_OK,
    MASK,
    Console,
    add_option_flags,
    error_lines,
    mask_uri,
    option_kwargs,
    parse_options,
    warning_text,
)
from ._render import Cell, heading, kv_lines, table

__all__ = ["add_parser", "describe_option", "effects", "run"]

_PROFILE_WORDS = {
    "modern": "TLS 1.2+, forward-secret AEAD cipher suites only, strict X.509 checks",
    "legacy": (
        "TLS 1.0+, the wide OpenSSL cipher list at a lowered security level, no "
        "VERIFY_X509_STRICT: only for servers older than 2018 (e.g. MongoDB < 4.0)"
    ),
}


def add_parser(subparsers: Any) -> None:
    """Register ``options`` on the top-level parser's subcommands."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "options",
        help="explain the TLS options of a connection string",
        description=(
            "Parse a connection string (and option flags) the way a driver would and explain "
            "what each TLS option turns on or off, which warnings it raises and which "
            "combinations conflict. Exit status 2 when the options are invalid."
        ),
        allow_abbrev=False,
    )
    parser.add_argument("uri", nargs="?", metavar="URI",
                        help="e.g. 'mongodb://db.example.com/?tls=true&tlsCAFile=ca.pem'")
    add_option_flags(parser)
    parser.set_defaults(run=run)


def describe_option(key: str, value: Any) -> str:
    """One option's meaning in plain words (the password is never echoed)."""
    on = value is True
    relaxing = {
        "tlsInsecure": "no certificate, hostname or OCSP checks: anyone on the path can "
                       "impersonate the server",
        "tlsAllowInvalidCertificates": "the chain is not verified and OCSP is off; traffic is "
                                       "encrypted but the server is not authenticated",
        "tlsAllowInvalidHostnames": "a certificate for any host is accepted, as long as its "
                                    "chain is trusted",
        "tlsDisableOCSPEndpointCheck": "OCSP responders are never contacted; a stapled "
                                       "response is still checked",
        "tlsDisableCertificateRevocationCheck": "no revocation check at all: no OCSP (stapled "
                                                "or responder) and no CRL",
    }
    if key in relaxing:
        return relaxing[key] if on else "the default (stated explicitly); turns TLS on"
    if key == "tls":
        return "TLS on" if on else "TLS off: plain TCP, other tls* options are an error"
    if key == "tlsCAFile":
        return f"trust only the CAs in {value} (replaces the system store)"
    if key == "tlsCertificateKeyFile":
        return f"present the client certificate and private key in {value}"
    if key == "tlsCertificateKeyFilePassword":
        return f"decrypts that private key ({MASK})"
    if key == "tlsCADirectory":
        return f"trust the CAs in the directory {value} (hashed or *.pem/*.crt files)"
    if key == "tlsPrivateKeyFile":
        return f"the client's private key, apart from its certificate, in {value}"
    if key == "tlsTrustStore":
        return f"trust roots from {describe_trust(TLSOptions(trust_store=str(value)))}"
    if key == "tlsStrictX509":
        return ("the strict X.509 rules apply (the default)" if on else
                "the strict X.509 rules are off; protocol, host name and revocation stay")
    if key == "tlsCRLFile":
        return f"refuse a server certificate revoked by the CRL in {value}; turns OCSP off"
    if key == "tlsBackend":
        if value == "auto":
            return "use the installed backend of highest priority"
        return f"use the {value} backend (an error if it cannot load; no fallback)"
    if key == "tlsProfile":
        return f"{value}: {_PROFILE_WORDS.get(str(value), '')}"
    return str(value)


def _first_given(options: TLSOptions, *names: str) -> Optional[str]:
    for name in names:
        if getattr(options, name):
            return str(TLSOptions.uri_names[name])
    return None


def effects(options: TLSOptions) -> List[Tuple[str, bool, str]]:
    """(what, on?, why) for each effective behaviour of ``options``."""
    off_chain = _first_given(options, "insecure", "allow_invalid_certificates")
    off_host = _first_given(options, "insecure", "allow_invalid_hostnames")
    out: List[Tuple[str, bool, str]] = [
        ("verify the certificate chain", options.verify_certificates,
         f"off by {off_chain}=true" if off_chain else "against " + describe_trust(options)),
        ("verify the hostname / IP", options.verify_hostname,
         f"off by {off_host}=true" if off_host else "subjectAltName only, never the CN"),
    ]
    if not options.verify_certificates:
        staple_why = "chain verification is off"
    elif options.disable_certificate_revocation_check:
        staple_why = "off by tlsDisableCertificateRevocationCheck=true"
    elif options.crl_file is not None:
        staple_why = "a CRL file is given, which replaces OCSP"
    else:
        staple_why = "a stapled response must be valid; must-staple enforced (PyOpenSSL)"
    out.append(("check stapled OCSP responses", options.check_ocsp_stapling, staple_why))
    if options.check_ocsp_stapling and options.disable_ocsp_endpoint_check:
        endpoint_why = "off by tlsDisableOCSPEndpointCheck=true"
    elif not options.check_ocsp_stapling:
        endpoint_why = "OCSP is off (see above)"
    else:
        endpoint_why = (f"when nothing is stapled, within {options.ocsp_timeout:g} s; "
                        "soft-fail unless revoked")
    out.append(("ask OCSP responders", options.check_ocsp_endpoint, endpoint_why))
    crl_why = f"the leaf against {options.crl_file}" if options.check_crl else (
        "no tlsCRLFile given")
    out.append(("check a CRL", options.check_crl, crl_why))
    return out


def _backend_line(options: TLSOptions) -> str:
    """Which backend a context for ``options`` would use, and why."""
    env = os.environ.get(ENV_VAR, "").strip()
    if options.backend:
        source = f"tlsBackend={options.backend}"
    elif env:
        source = f"${ENV_VAR}={env}"
    else:
        source = "auto (no tlsBackend, no $" + ENV_VAR + ")"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a broken optional backend is reported by `backends`
        try:
            chosen = select_backend(options).name
        except ConfigurationError as exc:
            return f"{source}: {exc.code}: {exc.message}"
    return f"{chosen} (from {source})"


def run(args: argparse.Namespace, console: Console) -> int:
    """Print the explanation; 2 when the options are invalid or conflict."""
    style, width = console.style, console.width
    kwargs = option_kwargs(args)
    if args.uri is None and not kwargs:
        console.print("tlsplug options: give a connection string or option flags "
                      "(see tlsplug options --help)")
        return EXIT_CONFIG
    if args.uri is not None:
        console.print(heading("Connection string", style))
        console.lines(kv_lines([("uri", mask_uri(args.uri))], style, max_width=width))
        console.print()
    try:
        options, caught = parse_options(args.uri, kwargs)
    except ConfigurationError as exc:
        console.print(heading("Invalid options", style))
        console.lines(error_lines(exc, console))
        return EXIT_CONFIG
    given = options.to_uri_options()
    console.print(heading("Options given", style))
    if given:
        rows = [[key, MASK if key.endswith("Password") else _text(value),
                 describe_option(key, value)] for key, value in given.items()]
        console.lines(table(["option", "value", "meaning"], rows, style, max_width=width,
                            indent=2, shrinkable=[1, 2]))
    else:
        console.print("  (no TLS options: the driver's defaults apply; mongodb:// means TLS off)")
    console.print()
    console.print(heading("What they turn on or off", style))
    tls_state = {True: "on", False: "off", None: "unset"}[options.enabled]
    tls_why = "" if options.enabled is not None else "the driver decides (mongodb:// means off)"
    rows2: List[List[Any]] = [["TLS", Cell(tls_state, "ok" if options.enabled else "warn"),
                               tls_why]]
    for what, on, why in effects(options):
        rows2.append([what, Cell("on" if on else "off", "ok" if on else "warn"), why])
    console.lines(table(["behaviour", "state", "why"], rows2, style, max_width=width, indent=2,
                        shrinkable=[2]))
    console.lines(kv_lines([("profile", f"{options.profile}: {_PROFILE_WORDS[options.profile]}"),
                            ("backend", _backend_line(options))], style, max_width=width))
    notes = [warning_text(w) for w in caught]
    if options.insecure_settings:
        notes.append(f"SecurityWarning: {', '.join(options.insecure_settings)}=true relaxes "
                     "verification; the connection can be intercepted")
    if options.profile == "legacy":
        notes.append("SecurityWarning: tlsProfile=legacy allows TLS 1.0/1.1 and weak ciphers")
    for name in ("ca_file", "certificate_key_file", "crl_file", "private_key_file", "ca_dir"):
        path = getattr(options, name)
        exists = os.path.isdir if name == "ca_dir" else os.path.isfile
        if path is not None and not exists(path):
            kind = "directory" if name == "ca_dir" else "file"
            notes.append(f"{TLSOptions.uri_names[name]}: {path} is not a {kind} here "
                         "(creating a context would fail with file-not-found)")
    if notes:
        console.print()
        console.print(heading("Warnings", style))
        for note in notes:
            console.lines(kv_lines([("!", note)], style, max_width=width,
                                   value_style={"!": "warn"}))
    return EXIT_OK


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
