"""x509-limbo path-validation cases, run as real (in-memory) TLS handshakes on every backend.

For each ``validation_kind: SERVER`` case with the peer's key, a Python ``ssl`` server in the
same process presents ``peer_certificate`` and ``untrusted_intermediates``; the client trusts
``trusted_certs`` (``tlsCAFile``), loads ``crls`` (``tlsCRLFile``) and dials
``expected_peer_name``. A completed handshake is SUCCESS, a ``CertificateError`` FAILURE.
Every verdict is compared with ``expected_result`` (mismatches are allowed but explained in
``tests/limbo_report.md``) and with every other backend's: on cases both run, the backends
must agree. Skips are counted by reason; a backend skips a case only when the case needs a
fixed validation time it cannot set, or a feature we declare unsupported.
"""

from __future__ import annotations

import datetime
import json
import ssl
import sys
import tempfile
import warnings
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest
from cryptography import x509

import tlsplug
from tlsplug.backend import (
    CertificateError,
    SecurityWarning,
    TLSError,
    TLSOptions,
    certificate_violation,
)
from tlsplug.testing.differential import handshake_in_memory

VECTORS = Path(__file__).resolve().parents[1] / "vectors"  # vendored: tests/vectors/README.md
LIMBO = VECTORS / "x509-limbo" / "limbo.json"
REPORT = Path(__file__).resolve().parents[1] / "limbo_report.md"

Case = Dict[str, Any]


def _cases() -> List[Case]:
    if not LIMBO.exists():
        return []
    return list(json.loads(LIMBO.read_text())["testcases"])


CASES = _cases()


# -- capability: a fixed validation time (test-only hook) ------------------------------------

def _pyopenssl_set_time(ctx: tlsplug.ClientContext, when: datetime.datetime) -> None:
    # X509Store.set_time (X509_VERIFY_PARAM_set_time) on the context's store; the native
    # context is fresh here, so no connection has frozen it yet.
    store = ctx.native.get_cert_store()  # type: ignore[attr-defined]
    store.set_time(when.astimezone(datetime.timezone.utc).replace(tzinfo=None))


#: Backends that can judge a chain at a given instant. Python's ssl cannot (no
#: X509_VERIFY_PARAM_set_time binding), so the stdlib backend is absent.
VALIDATION_TIME_HOOKS: Dict[str, Callable[[tlsplug.ClientContext, datetime.datetime], None]] = {
    "pyopenssl": _pyopenssl_set_time,
}


# -- reading a case --------------------------------------------------------------------------

def _pem_list(value: Any) -> List[str]:
    # limbo.json of this copy stores some lists as their Python repr: accept both forms.
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, str) and value.startswith("["):
        import ast

        parsed = ast.literal_eval(value)
        return [str(v) for v in parsed]
    return [str(value)] if value else []


def _time_matters(case: Case) -> bool:
    """Whether judging now and at ``validation_time`` could differ (a window excludes one)."""
    when = case.get("validation_time")
    if not when:
        return False
    # Verification times are whole seconds (X509_VERIFY_PARAM_set_time takes a time_t).
    at = datetime.datetime.fromisoformat(str(when).replace("Z", "+00:00")).replace(microsecond=0)
    now = datetime.datetime.now(datetime.timezone.utc)
    pems = [case["peer_certificate"], *_pem_list(case["untrusted_intermediates"]),
            *_pem_list(case["trusted_certs"])]
    for pem in pems:
        try:
            cert = x509.load_pem_x509_certificate(pem.encode())
        except ValueError:
            return True  # cannot tell: assume it matters
        start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
        if (start <= now <= end) != (start <= at <= end):
            return True
    for pem in _pem_list(case.get("crls") or []):
        try:
            crl = x509.load_pem_x509_crl(pem.encode())
        except ValueError:
            return True
        nxt = crl.next_update_utc
        if (nxt is not None and now > nxt) or crl.last_update_utc > now:
            return True
    return False


def case_skip(case: Case) -> Optional[str]:
    """Why no backend can run ``case`` as a TLS client verifying a server, or None."""
    if case["validation_kind"] != "SERVER":
        return "CLIENT validation: tlsplug verifies servers only"
    if not case.get("peer_certificate_key"):
        return "no peer private key: the certificate cannot be served"
    name = case.get("expected_peer_name")
    if not name:
        return "no expected_peer_name: nothing to dial"
    if name["kind"] not in ("DNS", "IP"):
        return f"peer name kind {name['kind']}: a TLS client dials DNS names and IPs only"
    if case.get("max_chain_depth") is not None:
        return "max_chain_depth: not an option of tlsplug"
    eku = case.get("extended_key_usage") or []
    if eku and eku != ["serverAuth"]:
        return f"extended_key_usage {eku}: a TLS client always requires serverAuth"
    return None


def _needs_intermediates_seen(case: Case) -> bool:
    """Whether an intermediate the server sends fails a check tlsplug adds to OpenSSL's."""
    for pem in _pem_list(case["untrusted_intermediates"]):
        try:
            cert = x509.load_pem_x509_certificate(pem.encode())
        except ValueError:
            return True
        if certificate_violation(cert) is not None:
            return True
    return False


def backend_skip(case: Case, backend: str) -> Optional[str]:
    """Why ``backend`` cannot run ``case``: a capability it lacks (declared here)."""
    if _time_matters(case) and backend not in VALIDATION_TIME_HOOKS:
        return "needs validation_time; the backend cannot set the verification time"
    if backend == "stdlib" and sys.version_info < (3, 10) and _needs_intermediates_seen(case):
        # Python 3.9's ssl exposes only the leaf, so the checks tlsplug adds for OpenSSL 3.0
        # (tlsplug.backend.newer_violation) cannot see the server's intermediates.
        return "needs the intermediates' extensions; Python 3.9's ssl shows only the leaf"
    return None


# -- running a case --------------------------------------------------------------------------

def _server_context(case: Case, directory: Path) -> ssl.SSLContext:
    chain = directory / "server.pem"
    chain.write_text(
        case["peer_certificate"] + "\n" + "\n".join(_pem_list(case["untrusted_intermediates"]))
    )
    key = directory / "server.key"
    key.write_text(case["peer_certificate_key"])
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # serve whatever key the case has
    ctx.load_cert_chain(str(chain), str(key))
    return ctx


def _client(case: Case, backend: str, directory: Path, verify: bool) -> tlsplug.ClientContext:
    ca = directory / "ca.pem"
    ca.write_text("\n".join(_pem_list(case["trusted_certs"])))
    fields: Dict[str, Any] = {"enabled": True, "ca_file": str(ca), "backend": backend}
    crls = _pem_list(case.get("crls") or [])
    if not verify:
        fields["insecure"] = True
    elif crls:
        crl = directory / "crl.pem"
        crl.write_text("\n".join(crls))
        fields["crl_file"] = str(crl)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        ctx = tlsplug.create_context(TLSOptions(**fields))
    when = case.get("validation_time")
    if verify and when and backend in VALIDATION_TIME_HOOKS:
        at = datetime.datetime.fromisoformat(str(when).replace("Z", "+00:00"))
        VALIDATION_TIME_HOOKS[backend](ctx, at)
    return ctx


Verdict = Tuple[str, str]  # ("SUCCESS" | "FAILURE" | "SKIP", detail)


def run_case(case: Case, backend: str) -> Verdict:
    """The backend's verdict on ``case``: SUCCESS, FAILURE (with the code) or SKIP (reason)."""
    reason = case_skip(case) or backend_skip(case, backend)
    if reason:
        return "SKIP", reason
    host = case["expected_peer_name"]["value"]
    with tempfile.TemporaryDirectory(prefix="tlsplug-limbo-") as tmp:
        directory = Path(tmp)
        try:
            server = _server_context(case, directory)
        except (ssl.SSLError, OSError, ValueError) as exc:
            return "SKIP", f"Python's ssl cannot serve the certificate/key ({type(exc).__name__})"
        try:
            # Without verification first: a case that cannot complete a handshake at all (a
            # key no TLS 1.2+ suite can use) says nothing about path validation.
            handshake_in_memory(_client(case, backend, directory, False), server, host)
        except TLSError as exc:
            return "SKIP", f"no handshake possible even unverified ({exc.code})"
        try:
            handshake_in_memory(_client(case, backend, directory, True), server, host)
        except CertificateError as exc:
            return "FAILURE", str(exc.code)
        except TLSError as exc:
            # e.g. the CRL file refused as a ConfigurationError: a verdict, with its reason.
            return "FAILURE", f"{exc.code} (not a certificate error: {exc})"
    return "SUCCESS", "handshake completed"


_RESULTS: Dict[Tuple[str, str], Verdict] = {}


def verdict(case: Case, backend: str) -> Verdict:
    """``run_case`` memoized for the session (the report reuses the per-case results)."""
    key = (case["id"], backend)
    if key not in _RESULTS:
        _RESULTS[key] = run_case(case, backend)
    return _RESULTS[key]


BACKENDS = tlsplug.available_backends()
IDS = [c["id"] for c in CASES]


@pytest.mark.skipif(not CASES, reason=f"vendored vectors missing: {LIMBO}")
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_backends_agree_on_limbo_case(case: Case) -> None:
    """Every backend that runs the case reaches the same SUCCESS/FAILURE verdict."""
    reason = case_skip(case)
    if reason:
        pytest.skip(reason)
    results = {b: verdict(case, b) for b in BACKENDS}
    ran = {b: v for b, v in results.items() if v[0] != "SKIP"}
    if not ran:
        pytest.skip("; ".join(f"{b}: {v[1]}" for b, v in results.items()))
    assert len({v[0] for v in ran.values()}) == 1, f"backends disagree: {ran}"


@pytest.mark.skipif(not CASES, reason=f"vendored vectors missing: {LIMBO}")
def test_limbo_report() -> None:
    """Write tests/limbo_report.md; zero disagreements between backends on shared cases."""
    lines = _report()
    REPORT.write_text("\n".join(lines) + "\n")
    assert not [line for line in lines if line.startswith("- DISAGREE")], "\n".join(lines)


_NOT_CHECKED = "both OpenSSL builds (3.0, 4.0) accept it: a check OpenSSL does not make"
#: Why a verdict differs from ``expected_result``: case id, or id prefix ending in "::".
#: Both backends give the same verdict on every one of these (see "Disagreements").
EXPLANATIONS: Dict[str, str] = {
    "webpki::cn::": "CA/B Forum rule on the subject commonName (it must repeat a SAN "
    "byte for byte); tlsplug matches subjectAltName only and never reads the CN (docs/design.md), "
    "and " + _NOT_CHECKED,
    "webpki::aki::": "CA/B Forum profile of a root's authorityKeyIdentifier; " + _NOT_CHECKED
    + " (the issuer/serial pairing OpenSSL 4.0 checks is added for 3.0 by tlsplug)",
    "webpki::forbidden-": "CA/B Forum algorithm policy for roots; " + _NOT_CHECKED,
    "webpki::ee-basicconstraints-ca": "CA/B Forum profile of subscriber certificates; "
    + _NOT_CHECKED,
    "webpki::san::san-critical-with-nonempty-subject": "CA/B Forum profile (SAN must not be "
    "critical when the subject is not empty); " + _NOT_CHECKED,
    "rfc5280::nc::nc-forbids-same-chain-ica": "OpenSSL builds one path and does not backtrack "
    "to the alternative path that satisfies the name constraints",
    "rfc5280::nc::nc-forbids-alternate-chain-ica": "OpenSSL builds one path and does not "
    "backtrack to the alternative path that satisfies the name constraints",
    "rfc5280::nc::": "name-constraints corner case (malformed or wildcard dNSName, constraint "
    "in an end-entity certificate); " + _NOT_CHECKED,
    "cve::cve-2025-61727": "name-constraints case of a Go crypto/x509 CVE; " + _NOT_CHECKED,
    "crl::crlnumber-missing": "RFC 5280 §5.2.3 requires a CRL number; " + _NOT_CHECKED,
    "crl::issuer-no-keyusage-extension": "OpenSSL refuses a CRL whose issuer has no keyUsage "
    "(it wants cRLSign); RFC 5280 allows the extension to be absent",
    "pathlen::validation-ignores-pathlen-in-leaf": "X509_STRICT (pinned by the modern "
    "profile, docs/design.md) refuses a leaf carrying CA basicConstraints fields; plain RFC 5280 "
    "validation ignores them",
    "rfc5280::ca-as-leaf": "X509_STRICT (pinned by the modern profile, docs/design.md) refuses a "
    "CA certificate as the server's leaf",
    "rfc5280::pc::ica-noncritical-pc": "RFC 5280 wants policyConstraints critical; "
    + _NOT_CHECKED,
    "rfc5280::san::underscore-dns": "'_' in a dNSName SAN; " + _NOT_CHECKED,
}


def _explain(case: Case, got: Verdict) -> str:
    for key, why in EXPLANATIONS.items():
        if case["id"] == key or (key.endswith(("::", "-")) and case["id"].startswith(key)):
            return why
    pedantic = [f for f in case.get("features") or [] if "pedantic" in f or "webpki" in f]
    if pedantic:
        return f"optional check ({', '.join(pedantic)}) that OpenSSL does not make"
    return "UNEXPLAINED"


def _report() -> List[str]:
    total = len(CASES)
    lines = [
        "# x509-limbo through tlsplug's backends",
        "",
        "Generated by `tests/differential/test_limbo.py` (do not edit by hand). Each case is a",
        "real TLS handshake in memory: an `ssl` server presents the peer certificate and the",
        "untrusted intermediates, the client trusts `trusted_certs`, loads `crls` as",
        "`tlsCRLFile` and dials `expected_peer_name`, with the modern profile.",
        "",
    ]
    for b in BACKENDS:
        versions = tlsplug.get_backend(b).versions()
        lines.append(f"- `{b}`: {versions.get('openssl', '?')}")
    common = Counter(r for r in (case_skip(c) for c in CASES) if r)
    lines += ["", f"## Cases: {total}; skipped for every backend: {sum(common.values())}", ""]
    lines += [f"- {n} x {reason}" for reason, n in common.most_common()]
    for b in BACKENDS:
        results = {c["id"]: verdict(c, b) for c in CASES if not case_skip(c)}
        ran = {k: v for k, v in results.items() if v[0] != "SKIP"}
        by_id = {c["id"]: c for c in CASES}
        matches = [k for k, v in ran.items() if v[0] == by_id[k]["expected_result"]]
        mismatches = [k for k in ran if k not in matches]
        skips = Counter(v[1] for v in results.values() if v[0] == "SKIP")
        lines += [
            "",
            f"## Backend `{b}`",
            "",
            f"- ran: {len(ran)}; match `expected_result`: {len(matches)}; "
            f"mismatch: {len(mismatches)}; skipped: {sum(skips.values())}",
            "",
            "Skips by reason:",
            "",
        ]
        lines += [f"- {n} x {reason}" for reason, n in skips.most_common()] or ["- none"]
        lines += ["", "Mismatches (expected -> got: why):", ""]
        for k in sorted(mismatches):
            got = ran[k]
            lines.append(
                f"- `{k}`: {by_id[k]['expected_result']} -> {got[0]} ({got[1]}): "
                f"{_explain(by_id[k], got)}"
            )
        if not mismatches:
            lines.append("- none")
    lines += ["", "## Disagreements between backends (cases both ran)", ""]
    disagreements = []
    for c in CASES:
        if case_skip(c):
            continue
        ran = {b: verdict(c, b) for b in BACKENDS if verdict(c, b)[0] != "SKIP"}
        if len(ran) > 1 and len({v[0] for v in ran.values()}) > 1:
            disagreements.append(f"- DISAGREE `{c['id']}`: {ran}")
    lines += disagreements or ["- none"]
    lines += [
        "",
        "## Checks a lenient backend adds (docs/design.md: both reach the same verdict)",
        "",
        "From src/tlsplug/_chainlint.py (public as `tlsplug.backend.strict_violation` and",
        "`newer_violation`). The PyOpenSSL backend (OpenSSL 4.0) adds what 3.0 checks, at the",
        "place 3.0 reports it (verification errors found later are deferred until then):",
        "",
        "- CA certificate with a non-critical basicConstraints (X509_V_ERR 89)",
        "- empty subject with a non-critical subjectAltName (X509_V_ERR 88)",
        "",
        "The stdlib backend (OpenSSL 3.0) adds what 4.0 checks, after the handshake:",
        "",
        "- authorityKeyIdentifier with authorityCertIssuer but no authorityCertSerialNumber,",
        "  or the reverse, on the trust anchor too (X509_V_ERR 103; "
        "`webpki::aki::root-with-aki-authoritycertissuer`, `...-authoritycertserialnumber`)",
        "",
        "Both backends add (neither build checks it; the OCSP step could not read it):",
        "",
        "- an extension that does not decode, e.g. an empty AIA (X509_V_ERR 41; "
        "`webpki::malformed-aia`)",
    ]
    return lines
