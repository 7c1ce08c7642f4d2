"""x509-limbo path-validation cases, run as real (in-memory) TLS handshakes on every backend.

For each ``validation_kind: SERVER`` case with the peer's key, a Python ``ssl`` server in the
same process presents ``peer_certificate`` and ``untrusted_intermediates``; the client trusts
``trusted_certs`` (``tlsCAFile``), loads ``crls`` (``tlsCRLFile``) and dials
``expected_peer_name``. A completed handshake is SUCCESS, a ``CertificateError`` FAILURE.
Every verdict of the backend under test must equal ``expected_result`` or the explained
verdict listed in ``limbo_mismatches.json`` (a new mismatch fails, and so does a listed one
that stopped happening); where two backends are installed they must also agree. Cases out of
scope for a TLS client (client validation, no key to serve, ...) are counted, not run; a
backend skips a case only for a capability it lacks (setting the validation time). The
report ``tests/limbo_report.md`` is written on request only: ``python
tests/differential/test_limbo.py``.
"""

from __future__ import annotations

import datetime
import json
import re
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
from tlsplug.backend import CertificateError, SecurityWarning, TLSError, TLSOptions
from tlsplug.backend.openssl import certificate_violation
from tlsplug.testing.differential import handshake_in_memory

VECTORS = Path(__file__).resolve().parents[1] / "vectors"  # vendored: tests/vectors/README.md
LIMBO = VECTORS / "x509-limbo" / "limbo.json"
REPORT = Path(__file__).resolve().parents[1] / "limbo_report.md"
MISMATCHES_FILE = Path(__file__).resolve().parent / "limbo_mismatches.json"

Case = Dict[str, Any]


def _cases() -> List[Case]:
    return list(json.loads(LIMBO.read_text())["testcases"])


CASES = _cases()
BACKENDS = tlsplug.available_backends()


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
        # (tlsplug.backend.openssl.newer_violation) cannot see the server's intermediates.
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


Verdict = Tuple[str, str]  # ("SUCCESS" | "FAILURE" | "UNSERVABLE" | "NO-HANDSHAKE", detail)


def run_case(case: Case, backend: str) -> Verdict:
    """The backend's verdict on an in-scope ``case`` the backend can run.

    SUCCESS or FAILURE (with the code) judge the path; UNSERVABLE (Python's ssl cannot load
    the certificate/key) and NO-HANDSHAKE (not even an unverified handshake completes) say
    the case cannot judge path validation over TLS at all - both are listed, explained, in
    ``limbo_mismatches.json`` like any verdict that differs from ``expected_result``.
    """
    host = case["expected_peer_name"]["value"]
    with tempfile.TemporaryDirectory(prefix="tlsplug-limbo-") as tmp:
        directory = Path(tmp)
        try:
            server = _server_context(case, directory)
        except (ssl.SSLError, OSError, ValueError) as exc:
            why = f"Python's ssl cannot serve the certificate/key ({type(exc).__name__})"
            return "UNSERVABLE", why
        try:
            # Without verification first: a case that cannot complete a handshake at all (a
            # key no TLS 1.2+ suite can use) says nothing about path validation.
            handshake_in_memory(_client(case, backend, directory, False), server, host)
        except TLSError as exc:
            return "NO-HANDSHAKE", f"no handshake possible even unverified ({exc.code})"
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
    """``run_case`` memoized for the session (the agreement test reuses the results)."""
    key = (case["id"], backend)
    if key not in _RESULTS:
        _RESULTS[key] = run_case(case, backend)
    return _RESULTS[key]


def _load_mismatches() -> Dict[str, Dict[str, str]]:
    data: Dict[str, Dict[str, str]] = json.loads(MISMATCHES_FILE.read_text(encoding="utf-8"))
    return data


#: Every case whose verdict differs from ``expected_result``, on every backend that runs it:
#: {case id: {"got": verdict, "why": explanation}}. A new mismatch fails, and so does a
#: listed one that no longer happens (the list stays honest). Regenerate the report with
#: ``python tests/differential/test_limbo.py`` (CONTRIBUTING.md).
MISMATCHES = _load_mismatches()
IN_SCOPE = [c for c in CASES if case_skip(c) is None]
OUT_OF_SCOPE = Counter(r for r in (case_skip(c) for c in CASES) if r)


#: Mismatches of an older OpenSSL only: {case id: ((major, minor) it is fixed in, verdict,
#: why)}. They apply to a backend whose OpenSSL is older (the lowest-pyopenssl env's
#: cryptography 45.0.7 bundles 3.5); the backends' usual builds (3.0 in ``ssl``, which cannot
#: set the verification time, and 4.0 in pyOpenSSL's wheels) meet the expectations.
OLDER_OPENSSL: Dict[str, Tuple[Tuple[int, int], str, str]] = {
    case_id: ((4, 0), "FAILURE", "before 4.0, OpenSSL compares the verification time with "
              "notAfter exclusively (X509_cmp_time): a certificate is expired at its notAfter "
              "instant, which RFC 5280 4.1.2.5 still counts as valid")
    for case_id in ("rfc5280::validity::notafter-exact", "rfc5280::validity::notafter-fractional")
}


def _openssl_of(backend: str) -> Tuple[int, int]:
    """(major, minor) of the OpenSSL the backend runs on, (0, 0) when it does not say."""
    found = re.search(r"OpenSSL (\d+)\.(\d+)", tlsplug.get_backend(backend).versions().get(
        "openssl", ""))
    return (int(found.group(1)), int(found.group(2))) if found else (0, 0)


def _check(case: Case, got: Verdict, backend: Optional[str] = None) -> Optional[str]:
    """None when ``got`` is what the committed expectations say, else the complaint."""
    older = OLDER_OPENSSL.get(case["id"])
    if older is not None and backend is not None and _openssl_of(backend) < older[0]:
        if got[0] == older[1]:
            return None
        return f"listed for OpenSSL < {older[0]} as {older[1]}, got {got[0]} ({got[1]})"
    listed = MISMATCHES.get(case["id"])
    expected = case["expected_result"]
    if listed is None:
        if got[0] != expected:
            return f"new mismatch: expected {expected}, got {got[0]} ({got[1]})"
        return None
    if got[0] == expected:
        return f"listed mismatch no longer happens (got {expected}): remove it from the list"
    if got[0] != listed["got"]:
        return f"listed as {listed['got']}, got {got[0]} ({got[1]})"
    return None


def test_out_of_scope_cases() -> None:
    """Exactly these cases are outside what a TLS client verifying a server can run."""
    assert len(CASES) == 208
    assert dict(OUT_OF_SCOPE) == {
        "no peer private key: the certificate cannot be served": 19,
        "CLIENT validation: tlsplug verifies servers only": 10,
        "max_chain_depth: not an option of tlsplug": 6,
        "no expected_peer_name: nothing to dial": 1,
    }


def test_mismatch_list_is_explained() -> None:
    """Every listed mismatch names an in-scope case, a possible verdict and a reason."""
    in_scope = {c["id"]: c for c in IN_SCOPE}
    for case_id, entry in MISMATCHES.items():
        assert case_id in in_scope, case_id
        assert set(entry) == {"got", "why"}, case_id
        assert entry["got"] in ("SUCCESS", "FAILURE", "UNSERVABLE", "NO-HANDSHAKE"), case_id
        assert entry["got"] != in_scope[case_id]["expected_result"], case_id
        assert len(entry["why"]) > 20, case_id


TIMED = [c for c in IN_SCOPE if _time_matters(c)]
UNTIMED = [c for c in IN_SCOPE if not _time_matters(c)]


@pytest.mark.parametrize("case", UNTIMED, ids=[c["id"] for c in UNTIMED])
def test_limbo_case(backend_name: str, case: Case) -> None:
    """The backend under test reaches expected_result, or the listed, explained verdict."""
    reason = backend_skip(case, backend_name)
    if reason:
        pytest.skip(f"{backend_name}: {reason}")
    problem = _check(case, verdict(case, backend_name), backend_name)
    assert problem is None, f"{case['id']} on {backend_name}: {problem}"


def test_limbo_cases_at_their_validation_time(backend_name: str) -> None:
    """Cases whose verdict depends on the instant are judged at their validation_time."""
    if backend_name not in VALIDATION_TIME_HOOKS:
        pytest.skip(f"{backend_name} cannot set the verification time (no "
                    "X509_VERIFY_PARAM_set_time in Python's ssl)")
    problems = [
        f"{c['id']}: {problem}"
        for c in TIMED
        if (problem := _check(c, verdict(c, backend_name), backend_name)) is not None
    ]
    assert not problems, problems


def test_backends_agree_on_limbo() -> None:
    """Every installed backend reaches the same verdict on every case both can run."""
    if len(BACKENDS) < 2:
        pytest.skip("needs two installed backends to compare (only stdlib is installed)")
    disagreements = []
    for case in IN_SCOPE:
        ran = {b: verdict(case, b) for b in BACKENDS if backend_skip(case, b) is None}
        if len({v[0] for v in ran.values()}) > 1:
            disagreements.append(f"{case['id']}: {ran}")
    assert not disagreements, disagreements


def _report() -> List[str]:
    total = len(CASES)
    lines = [
        "# x509-limbo through tlsplug's backends",
        "",
        "Generated by `python tests/differential/test_limbo.py` (do not edit by hand; no test",
        "run writes it). Each case is a",
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
    by_id = {c["id"]: c for c in CASES}
    for b in BACKENDS:
        skips = Counter(r for r in (backend_skip(c, b) for c in IN_SCOPE) if r)
        ran = {c["id"]: verdict(c, b) for c in IN_SCOPE if backend_skip(c, b) is None}
        matches = [k for k, v in ran.items() if v[0] == by_id[k]["expected_result"]]
        mismatches = [k for k in ran if k not in matches]
        lines += [
            "",
            f"## Backend `{b}`",
            "",
            f"- ran: {len(ran)}; match `expected_result`: {len(matches)}; "
            f"mismatch: {len(mismatches)}; not run (a capability the backend lacks): "
            f"{sum(skips.values())}",
            "",
            "Not run, by reason:",
            "",
        ]
        lines += [f"- {n} x {reason}" for reason, n in skips.most_common()] or ["- none"]
        lines += ["", "Mismatches (expected -> got: why, from limbo_mismatches.json):", ""]
        for k in sorted(mismatches):
            got = ran[k]
            why = MISMATCHES.get(k, {}).get("why", "NOT LISTED: the test fails")
            lines.append(
                f"- `{k}`: {by_id[k]['expected_result']} -> {got[0]} ({got[1]}): {why}"
            )
        if not mismatches:
            lines.append("- none")
    lines += ["", "## Disagreements between backends (cases both ran)", ""]
    disagreements = []
    for c in IN_SCOPE:
        ran = {b: verdict(c, b) for b in BACKENDS if backend_skip(c, b) is None}
        if len(ran) > 1 and len({v[0] for v in ran.values()}) > 1:
            disagreements.append(f"- DISAGREE `{c['id']}`: {ran}")
    lines += disagreements or ["- none"]
    lines += [
        "",
        "## Checks a lenient backend adds (docs/design.md: both reach the same verdict)",
        "",
        "From src/tlsplug/_chainlint.py (public as `tlsplug.backend.openssl.strict_violation` and",
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


def write_report() -> Path:
    """Run every case on every installed backend and write tests/limbo_report.md."""
    REPORT.write_text("\n".join(_report()) + "\n", encoding="utf-8")
    return REPORT


if __name__ == "__main__":  # python tests/differential/test_limbo.py (CONTRIBUTING.md)
    print(f"wrote {write_report()}")
