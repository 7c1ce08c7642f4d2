"""The error-code vocabulary (tlsplug._codes) and the one classification (tlsplug._classify)."""

from __future__ import annotations

import ast
import dataclasses
import errno
import re
import socket
from pathlib import Path
from typing import Dict, FrozenSet, Iterator, List, Tuple

import pytest

from tlsplug import _codes as codes
from tlsplug._classify import (
    Facts,
    Failure,
    classified_error,
    classify,
    closed_socket_error,
    os_failure,
)
from tlsplug._hints import client_cert_hint, protocol_version_hint
from tlsplug._reasons import LEGACY_RENEGOTIATION_HINT
from tlsplug.backend import (
    CertificateError,
    ConfigurationError,
    HandshakeError,
    TLSOptions,
    error_for_code,
    option_error,
)

ROOT = Path(__file__).resolve().parent.parent
# The backends: the stdlib one inside the core's tree, every other distribution's source.
BACKEND_SOURCES = [ROOT / "src" / "tlsplug" / "_stdlib", *sorted(ROOT.glob("backends/*/src"))]
# The core's helpers that take a code positionally: name -> index of the code argument.
CODE_POSITIONS = {"error_for_code": 0, "option_error": 3, "situated_hint": 0, "Verdict": 0}


# -- (a) no backend spells a code as a string ------------------------------------------------


def _called_name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _is_code_reference(node: ast.expr) -> bool:
    """``x.code`` or a variable named ``code``: what a comparison with a code reads."""
    if isinstance(node, ast.Attribute):
        return node.attr == "code"
    return isinstance(node, ast.Name) and node.id == "code"


def _literals(node: ast.expr) -> Iterator[ast.Constant]:
    """The string constants of an expression and of the tuples/sets/lists it spells."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node
    elif isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        for element in node.elts:
            yield from _literals(element)


def _local_code_positions(tree: ast.AST) -> Dict[str, int]:
    """Functions defined in the module that take a ``code`` parameter: name -> its index."""
    positions: Dict[str, int] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names = [arg.arg for arg in [*node.args.posonlyargs, *node.args.args]]
            if names and names[0] in ("self", "cls"):
                names = names[1:]
            if "code" in names:
                positions[node.name] = names.index("code")
    return positions


def code_literals(source: str) -> List[Tuple[int, str]]:
    """(line, code) of every string literal in ``source`` used as an error code.

    Used as a code: passed as ``code=``, or positionally where a function (the core's, or
    one defined in the module) takes its ``code``; assigned to ``code``; the default of a
    ``code`` parameter; compared with ``.code`` or ``code``.
    """
    tree = ast.parse(source)
    positions = {**CODE_POSITIONS, **_local_code_positions(tree)}
    found: List[Tuple[int, str]] = []

    def note(candidates: Iterator[ast.Constant]) -> None:
        found.extend((c.lineno, str(c.value)) for c in candidates if c.value in codes.ALL_CODES)

    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg == "code":
                    note(_literals(keyword.value))
            index = positions.get(_called_name(node))
            if index is not None and len(node.args) > index:
                note(_literals(node.args[index]))
        elif isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(_is_code_reference(operand) for operand in operands):
                for operand in operands:
                    note(_literals(operand))
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(_is_code_reference(target) for target in targets):
                note(_literals(node.value))
        elif isinstance(node, ast.arguments):
            params = [*node.posonlyargs, *node.args]
            for param, default in zip(params[len(params) - len(node.defaults):], node.defaults):
                if param.arg == "code":
                    note(_literals(default))
            for param, kw_default in zip(node.kwonlyargs, node.kw_defaults):
                if param.arg == "code" and kw_default is not None:
                    note(_literals(kw_default))
    return sorted(found)


def _backend_files() -> Iterator[Path]:
    for tree in BACKEND_SOURCES:
        yield from sorted(tree.rglob("*.py"))


def test_the_scan_finds_every_kind_of_code_literal() -> None:
    """The scan below can fail: it finds each way of using a literal as a code, and only those."""
    source = (
        'error_for_code("timeout", "x")\n'
        'HandshakeError("x", code="not-tls")\n'
        'option_error("tlsCAFile", None, "bad", "invalid-file")\n'
        'if exc.code == "cert-expired": pass\n'
        'if code in ("cert-revoked", "unrelated"): pass\n'
        'def make(what, code, hint=None): pass\n'
        'make("x", "no-shared-cipher")\n'
        'code = "protocol-version"\n'
        'def fail(message, code="key-mismatch"): pass\n'
        'settimeout("timeout")\n'  # a code's spelling, not used as a code
        'make("timeout", code)\n'
    )
    assert code_literals(source) == [
        (1, "timeout"), (2, "not-tls"), (3, "invalid-file"), (4, "cert-expired"),
        (5, "cert-revoked"), (7, "no-shared-cipher"), (8, "protocol-version"), (9, "key-mismatch"),
    ]


def test_backends_spell_no_error_code_as_a_string() -> None:
    """Every backend module names codes through tlsplug.backend.codes, never as literals."""
    files = list(_backend_files())
    assert any(path.parent.name == "_stdlib" for path in files)
    assert any("tlsplug_pyopenssl" in path.parts for path in files)
    offenders = [
        f"{path.relative_to(ROOT)}:{line}: {code!r}"
        for path in files
        for line, code in code_literals(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


# -- (b) the set is the table of docs/design.md ----------------------------------------------


def _design_table() -> Dict[str, FrozenSet[str]]:
    """The codes of each exception class in docs/design.md's "Errors" tree."""
    text = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    block = text.split("\nTLSError\n", 1)[1].split("```", 1)[0]
    table: Dict[str, set[str]] = {}
    current = ""
    for line in block.splitlines():
        named = re.search(r"(\w+Error) \(also", line)
        if named:
            current = named.group(1)
        cell = re.split(r"\s{2,}", line.strip())[-1]
        words = (word.strip() for word in cell.split(","))
        table.setdefault(current, set()).update(
            word for word in words if re.fullmatch(r"[a-z]+(-[a-z]+)*", word)
        )
    return {name: frozenset(found) for name, found in table.items()}


def test_code_set_is_the_design_table() -> None:
    """Each exception class carries exactly the codes docs/design.md lists for it."""
    assert _design_table() == {
        "ConfigurationError": codes.CONFIGURATION_CODES,
        "HandshakeError": codes.HANDSHAKE_CODES,
        "CertificateError": codes.CERTIFICATE_CODES,
    }
    assert ConfigurationError.codes == codes.CONFIGURATION_CODES
    assert HandshakeError.codes == codes.HANDSHAKE_CODES
    assert CertificateError.codes == codes.CERTIFICATE_CODES
    assert len(codes.ALL_CODES) == 28


@pytest.mark.parametrize("code", sorted(codes.ALL_CODES))
def test_every_code_has_its_constant(code: codes.ErrorCode) -> None:
    """The constant of a code is its spelling upper-cased, and equals the plain string."""
    name = code.upper().replace("-", "_")
    assert getattr(codes, name) == code
    assert name in codes.__all__
    assert error_for_code(code, "x").code == code


def test_option_error_names_option_and_path() -> None:
    """option_error is the one "option (and path) is wrong" spelling, with or without a path."""
    err = option_error("tlsCAFile", "/x/ca.pem", "no such file", codes.FILE_NOT_FOUND,
                       backend="stdlib", hint="Check the path.")
    assert (err.code, err.option, err.path, err.backend) == (
        "file-not-found", "tlsCAFile", "/x/ca.pem", "stdlib"
    )
    assert err.message == "tlsCAFile '/x/ca.pem': no such file"
    assert err.hint == "Check the path."
    bare = option_error("certificate_key_data", None, "malformed")
    assert (bare.code, bare.path) == ("invalid-file", None)
    assert bare.message == "certificate_key_data: malformed"


# -- (c) the classification ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("facts", "code"),
    [
        (Facts(reasons=("NO_SHARED_CIPHER",)), "no-shared-cipher"),
        (Facts(reasons=("SSLV3_ALERT_HANDSHAKE_FAILURE",)), "no-shared-cipher"),
        (Facts(reasons=("tls alert handshake failure",)), "no-shared-cipher"),  # OpenSSL 4.0
        (Facts(reasons=("SSLV3_ALERT_HANDSHAKE_FAILURE",), negotiated=True), "handshake-failure"),
        (Facts(reasons=("UNSUPPORTED_PROTOCOL",)), "protocol-version"),
        (Facts(reasons=("TLSV1_ALERT_PROTOCOL_VERSION",)), "protocol-version"),
        (Facts(reasons=("WRONG_VERSION_NUMBER",)), "not-tls"),
        (Facts(reasons=("DATA_LENGTH_TOO_LONG",)), "not-tls"),
        (Facts(reasons=("UNEXPECTED_EOF_WHILE_READING",)), "connection-closed"),
        (Facts(reasons=("TLSV13_ALERT_CERTIFICATE_REQUIRED",)), "handshake-failure"),
        (Facts(reasons=("SOMETHING_NEW",)), "handshake-failure"),
        (Facts(reasons=()), "handshake-failure"),
        (Facts(Failure.TIMEOUT), "timeout"),
        (Facts(Failure.CLOSED), "connection-closed"),
        (Facts(Failure.SYSTEM), "handshake-failure"),
        (Facts(Failure.UNEXPECTED), "handshake-failure"),
    ],
)
def test_facts_classify_to_their_design_code(facts: Facts, code: str) -> None:
    """Each kind of failure and each OpenSSL reason gets the code docs/design.md gives it."""
    assert classify(facts).code == code


def test_first_recognised_reason_decides() -> None:
    """With several queued reasons, the first one the vocabulary knows decides the code."""
    verdict = classify(Facts(reasons=("SOMETHING_NEW", "WRONG_VERSION_NUMBER", "NO_SHARED_CIPHER")))
    assert verdict.code == "not-tls"


def test_handshake_failure_alert_after_the_handshake_is_a_refused_renegotiation() -> None:
    """A handshake_failure alert once the handshake completed is explained as renegotiation."""
    verdict = classify(Facts(reasons=("SSLV3_ALERT_HANDSHAKE_FAILURE",), handshake_done=True))
    assert verdict.code == "handshake-failure"
    assert "renegotiate" in verdict.message
    assert verdict.hint is None


def test_refused_client_certificate_gets_the_client_certificate_hint() -> None:
    """A server refusing our certificate: handshake-failure naming tlsCertificateKeyFile."""
    options = TLSOptions(enabled=True)
    verdict = classify(
        Facts(reasons=("TLSV1_ALERT_UNKNOWN_CA",), negotiated=True, options=options)
    )
    assert verdict.code == "handshake-failure"
    assert "tlsCertificateKeyFile" in verdict.message
    assert verdict.hint == client_cert_hint(options)


def test_legacy_renegotiation_gets_the_legacy_hint() -> None:
    """A pre-RFC 5746 server: handshake-failure advising tlsProfile=legacy."""
    verdict = classify(Facts(reasons=("UNSAFE_LEGACY_RENEGOTIATION_DISABLED",)))
    assert (verdict.code, verdict.hint) == ("handshake-failure", LEGACY_RENEGOTIATION_HINT)


def test_protocol_version_hint_names_the_library_unless_legacy_is_set() -> None:
    """protocol-version names the TLS library in use, and never advises the legacy profile twice."""
    facts = Facts(reasons=("UNSUPPORTED_PROTOCOL",), library="OpenSSL 9.9 (test)")
    assert classify(facts).hint == protocol_version_hint("OpenSSL 9.9 (test)")
    assert "OpenSSL 9.9 (test)" in str(classify(facts).hint)
    legacy = Facts(
        reasons=("UNSUPPORTED_PROTOCOL",), library="OpenSSL 9.9 (test)",
        options=TLSOptions(enabled=True, profile="legacy"),
    )
    assert "already set" in str(classify(legacy).hint)


def test_verify_failure_is_decided_by_the_verify_number() -> None:
    """A verification failure maps through the X509_V_ERR number and quotes depth and words."""
    verdict = classify(
        Facts(reasons=("CERTIFICATE_VERIFY_FAILED",), verify_error=10, verify_depth=0,
              verify_text="certificate has expired")
    )
    assert verdict.code == "cert-expired"
    assert verdict.message == (
        "certificate verify failed: certificate has expired (OpenSSL verify error 10 at depth 0)"
    )
    assert classify(Facts(verify_failed=True, verify_error=62)).code == "hostname-mismatch"


def test_verify_failure_without_a_number_is_cert_invalid() -> None:
    """Verification failed but the library gave no X509_V_ERR number: cert-invalid."""
    assert classify(Facts(verify_failed=True)).code == "cert-invalid"
    assert classify(Facts(reasons=("certificate verify failed",))).code == "cert-invalid"


def test_a_recorded_verify_number_alone_decides_nothing() -> None:
    """A verify number with no verification failure reported does not make a certificate error."""
    assert classify(Facts(reasons=("WRONG_VERSION_NUMBER",), verify_error=20)).code == "not-tls"


# A library without OpenSSL's reason strings says what happened as a neutral Failure kind;
# each must reach exactly the verdict of the OpenSSL reason that means the same.
NEUTRAL_KINDS = [
    (Failure.PROTOCOL_VERSION, Facts(reasons=("TLSV1_ALERT_PROTOCOL_VERSION",))),
    (Failure.NO_SHARED_CIPHER, Facts(reasons=("SSLV3_ALERT_HANDSHAKE_FAILURE",))),
    (Failure.NOT_TLS, Facts(reasons=("WRONG_VERSION_NUMBER",))),
    (Failure.CLIENT_CERT_REFUSED,
     Facts(reasons=("SSLV3_ALERT_HANDSHAKE_FAILURE",), negotiated=True)),
    (Failure.ABORTED_AFTER_HANDSHAKE,
     Facts(reasons=("SSLV3_ALERT_HANDSHAKE_FAILURE",), handshake_done=True)),
]


@pytest.mark.parametrize(
    ("kind", "openssl"), NEUTRAL_KINDS, ids=[k.value for k, _ in NEUTRAL_KINDS]
)
@pytest.mark.parametrize("profile", ["modern", "legacy"])
def test_a_neutral_kind_reaches_the_verdict_of_its_openssl_reason(
    kind: Failure, openssl: Facts, profile: str
) -> None:
    """A backend saying the neutral kind gets the code, message and hint OpenSSL's reason gets."""
    options = TLSOptions(enabled=True, profile=profile, certificate_key_file="/etc/client.pem")
    neutral = classify(Facts(failure=kind, options=options, library="SomeTLS 1.0"))
    assert neutral == classify(
        dataclasses.replace(openssl, options=options, library="SomeTLS 1.0")
    )


def test_a_verify_code_decides_like_a_verify_number() -> None:
    """A library naming the certificate failure in the core's words gets that code and hint."""
    options = TLSOptions(enabled=True, ca_file="/etc/ca/private.pem")
    by_code = classify(Facts(verify_code=codes.CERT_UNTRUSTED, verify_text="unknown issuer",
                             options=options))
    by_number = classify(Facts(verify_failed=True, verify_error=20, options=options))
    assert (by_code.code, by_code.hint) == (by_number.code, by_number.hint)
    assert by_code.message == "certificate verify failed: unknown issuer"


def test_untrusted_hint_is_situated() -> None:
    """cert-untrusted's hint names the tlsCAFile the user gave."""
    options = TLSOptions(enabled=True, ca_file="/etc/ca/private.pem")
    verdict = classify(Facts(verify_failed=True, verify_error=20, options=options))
    assert verdict.code == "cert-untrusted"
    assert "/etc/ca/private.pem" in str(verdict.hint)


@pytest.mark.parametrize(
    ("exc", "failure"),
    [
        (socket.timeout("timed out"), Failure.TIMEOUT),
        (TimeoutError("timed out"), Failure.TIMEOUT),
        (ConnectionResetError(errno.ECONNRESET, "reset"), Failure.CLOSED),
        (BrokenPipeError(errno.EPIPE, "broken pipe"), Failure.CLOSED),
        (EOFError(), Failure.CLOSED),
        (OSError(errno.ENOTCONN, "not connected"), Failure.CLOSED),
        (OSError(errno.EINVAL, "invalid argument"), Failure.SYSTEM),
        (KeyError("x"), None),
    ],
)
def test_socket_exceptions_have_one_failure_kind(exc: BaseException, failure: object) -> None:
    """Both backends read socket-level exceptions through os_failure, so they agree."""
    assert os_failure(exc) is failure


def test_classified_error_is_of_the_codes_class_with_the_native_text() -> None:
    """classified_error builds the code's class, saying where, what and the native text."""
    err = classified_error(
        Facts(reasons=("WRONG_VERSION_NUMBER",)), where="TLS handshake with db.example",
        native="WRONG_VERSION_NUMBER: [SSL] wrong version number", backend="test",
    )
    assert isinstance(err, HandshakeError)
    assert (err.code, err.backend) == ("not-tls", "test")
    assert err.message == (
        "TLS handshake with db.example failed: the peer does not speak TLS "
        "(WRONG_VERSION_NUMBER: [SSL] wrong version number)"
    )


def test_closed_socket_error_says_close_was_called() -> None:
    """Use after close() is connection-closed with a hint that close() was called."""
    err = closed_socket_error("test")
    assert (err.code, err.backend) == ("connection-closed", "test")
    assert "close()" in err.hint
