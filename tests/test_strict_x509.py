"""Private CAs made the usual way: a precise strict refusal, and tlsStrictX509=false."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import sys
import threading
import warnings
from pathlib import Path
from typing import Any, Dict, Iterator, Tuple

import pytest

import tlsplug
from tlsplug import CertificateError, ConfigurationError, SecurityWarning, TLSOptions
from tlsplug.backend.openssl import STRICT_RULES
from tlsplug.testing import CA, LeafCert, TLSServer

BLIND_TO_PEER_CHAIN = (
    sys.version_info < (3, 10) and tlsplug.create_context(TLSOptions()).backend_name == "stdlib"
)
"""Whether the backend under test cannot see a refused chain (stdlib on Python 3.9)."""

# defect -> (X509_V_ERR number, where it sits: "root", "intermediate" or "leaf")
DEFECTS: Dict[str, Tuple[int, str]] = {
    "no-key-usage": (92, "root"),
    "bcons-not-critical": (89, "intermediate"),
    "no-subject-key-id": (86, "intermediate"),
    "no-authority-key-id": (85, "intermediate"),
    "key-cert-sign": (82, "leaf"),
    "empty-subject-san-not-critical": (88, "leaf"),
}


def _pki(defect: str, where: str) -> Tuple[CA, LeafCert]:
    if where == "root":
        root = CA(f"root {defect}", strict_defect=defect)
        return root, root.issue_cert("localhost")
    root = CA(f"root for {defect}")
    if where == "intermediate":
        return root, root.create_intermediate(f"sub {defect}", strict_defect=defect).issue_cert(
            "localhost"
        )
    return root, root.create_intermediate("sub").issue_cert("localhost", strict_defect=defect)


def _connect(server: Any, ca_file: Path, **options: Any) -> tlsplug.TLSSocket:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        opts = TLSOptions(ca_file=str(ca_file), **options)
        return tlsplug.connect(("localhost", server.address[1]), opts, timeout=10.0)


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_strict_refusal_names_certificate_rule_and_fix(defect: str, tmp_path: Path) -> None:
    """Each strict-only defect is refused naming the certificate, the RFC rule and the fix."""
    errnum, where = DEFECTS[defect]
    root, leaf = _pki(defect, where)
    culprit = {"root": root.certificate, "intermediate": leaf.issuer.certificate}.get(
        where, leaf.certificate
    )
    rule = STRICT_RULES[errnum]
    with TLSServer(cert=leaf) as server, pytest.raises(CertificateError) as info:
        _connect(server, root.write_cert(tmp_path))
    err = info.value
    assert err.code == "cert-invalid"
    message = str(err)
    assert rule.rule in message
    assert rule.source in message
    assert f"OpenSSL verify error {errnum}" in message
    subject = culprit.subject.rfc4514_string() or "(empty subject)"
    position = {"root": "the root CA", "intermediate": "intermediate CA at depth 1"}.get(
        where, "the server's certificate (depth 0)"
    )
    if BLIND_TO_PEER_CHAIN and where != "root":
        # Python 3.9's ssl shows no certificate of a refused chain; only tlsCAFile is known.
        assert "cannot show the chain the server sent" in message
    else:
        assert subject in message
        assert position in message
    assert err.hint is not None
    assert rule.fix_openssl in err.hint
    assert "tlsStrictX509=false" in err.hint


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_relaxation_accepts_each_strict_defect(defect: str, tmp_path: Path) -> None:
    """tlsStrictX509=false connects to each strict-only defect, with TLS 1.2 or newer."""
    root, leaf = _pki(defect, DEFECTS[defect][1])
    with TLSServer(cert=leaf) as server, _connect(
        server, root.write_cert(tmp_path), strict_x509=False
    ) as tls:
        assert tls.version() in ("TLSv1.2", "TLSv1.3")


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("expired", "cert-expired"),
        ("untrusted", "cert-untrusted"),
        ("wrong-host", "hostname-mismatch"),
        ("revoked", "cert-revoked"),
    ],
)
def test_relaxation_keeps_every_other_check(case: str, code: str, tmp_path: Path) -> None:
    """Under tlsStrictX509=false expired, untrusted, misnamed and revoked chains still fail."""
    root = CA.made_the_usual_way()
    leaf = root.issue_cert(
        "other.example" if case == "wrong-host" else "localhost", expired=case == "expired"
    )
    trusted = CA.made_the_usual_way("Someone else's CA") if case == "untrusted" else root
    options: Dict[str, Any] = {"strict_x509": False}
    if case == "revoked":
        options["crl_file"] = str(root.write_crl(tmp_path / "crl.der", revoked=[leaf]))
    with TLSServer(cert=leaf) as server, pytest.raises(CertificateError) as info:
        _connect(server, trusted.write_cert(tmp_path), **options)
    assert info.value.code == code


def test_relaxation_keeps_the_modern_protocol_floor(tmp_path: Path) -> None:
    """tlsStrictX509=false still refuses a TLS 1.1-only server (the profile is unchanged)."""
    root = CA.made_the_usual_way(key_type="rsa")
    leaf = root.issue_cert("localhost")
    with TLSServer(
        cert=leaf, min_version=ssl.TLSVersion.TLSv1, max_version=ssl.TLSVersion.TLSv1_1,
        ciphers="AES128-SHA:@SECLEVEL=0",
    ) as server, pytest.raises(tlsplug.HandshakeError) as info:
        _connect(server, root.write_cert(tmp_path), strict_x509=False)
    assert info.value.code in ("protocol-version", "no-shared-cipher")


def test_relaxation_warns() -> None:
    """Building a context with strict_x509=False emits a SecurityWarning naming the option."""
    with pytest.warns(SecurityWarning, match="tlsStrictX509=false"):
        tlsplug.create_context(TLSOptions(strict_x509=False))


def test_uri_key_and_round_trip() -> None:
    """tlsStrictX509 reads from a URI, turns TLS on, and round-trips through to_uri_options."""
    opts = TLSOptions.parse("mongodb://h/?tlsStrictX509=false")
    assert opts.strict_x509 is False
    assert opts.enabled is True
    assert opts.to_uri_options() == {"tls": True, "tlsStrictX509": False}
    assert TLSOptions.parse("mongodb://h/?tls=true").to_uri_options() == {"tls": True}


@pytest.mark.parametrize("relaxing", ["tlsInsecure", "tlsAllowInvalidCertificates"])
def test_conflicts_with_options_that_skip_the_chain(relaxing: str) -> None:
    """tlsStrictX509=false with a chain that is not verified at all is conflicting-options."""
    with pytest.raises(ConfigurationError) as info:
        TLSOptions.parse(f"mongodb://h/?tlsStrictX509=false&{relaxing}=true")
    assert info.value.code == "conflicting-options"
    assert info.value.option == "tlsStrictX509"


def test_strict_x509_false_with_tls_false_is_an_error() -> None:
    """tlsStrictX509=false needs TLS, so tls=false with it is conflicting-options."""
    with pytest.raises(ConfigurationError) as info:
        TLSOptions.parse("mongodb://h/?tls=false&tlsStrictX509=false")
    assert info.value.code == "conflicting-options"


def test_strict_x509_must_be_a_bool() -> None:
    """A non-bool strict_x509 is an invalid-option naming tlsStrictX509."""
    with pytest.raises(ConfigurationError) as info:
        TLSOptions(strict_x509="no")  # type: ignore[arg-type]
    assert info.value.option == "tlsStrictX509"


# -- a CA and leaf made by the openssl command line with its default configuration -------


@pytest.fixture(scope="module")
def openssl_made(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tuple[Path, int]]:
    """A CA and leaf made the way deployment guides show, served by Python's ssl."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command line (Debian package openssl)")
    d = tmp_path_factory.mktemp("openssl-req")

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=d, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
        "ca.pem", "-subj", "/CN=My CA", "-days", "30")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "leaf.key", "-out", "leaf.csr",
        "-subj", "/CN=localhost")
    (d / "ext.cnf").write_text("subjectAltName=DNS:localhost\n")
    run("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "leaf.pem", "-days", "30", "-extfile", "ext.cnf")
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(str(d / "leaf.pem"), str(d / "leaf.key"))
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            conn.settimeout(5.0)
            try:
                with server_ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except OSError:  # the client refused the chain: expected in most tests
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield d, listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(5.0)
        listener.close()


def _dial(port: int, ca: Path, **options: Any) -> tlsplug.TLSSocket:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        return tlsplug.connect(("localhost", port), TLSOptions(ca_file=str(ca), **options),
                               timeout=10.0)


def test_openssl_req_ca_refused_under_modern(openssl_made: Tuple[Path, int]) -> None:
    """An `openssl req -x509` CA is refused naming the CA, the missing keyUsage and the fix."""
    d, port = openssl_made
    with pytest.raises(CertificateError) as info:
        _dial(port, d / "ca.pem")
    message, hint = str(info.value), info.value.hint or ""
    assert info.value.code == "cert-invalid"
    assert "'CN=My CA'" in message
    assert "keyUsage" in message
    assert "RFC 5280 §4.2.1.3" in message
    assert 'keyUsage=critical,keyCertSign,cRLSign' in hint
    assert "tlsStrictX509=false" in hint


@pytest.mark.parametrize("options", [{"strict_x509": False}, {"profile": "legacy"}])
def test_openssl_req_ca_accepted_relaxed(
    openssl_made: Tuple[Path, int], options: Dict[str, Any]
) -> None:
    """The same CA connects with tlsStrictX509=false (TLS 1.2+) and under legacy."""
    d, port = openssl_made
    with _dial(port, d / "ca.pem", **options) as tls:
        tls.sendall(b"x")
        if "strict_x509" in options:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")


def test_made_the_usual_way_matches_openssl(openssl_made: Tuple[Path, int]) -> None:
    """CA.made_the_usual_way() has the extensions `openssl req -x509` gives: no keyUsage."""
    from cryptography import x509

    d, _ = openssl_made
    real = x509.load_pem_x509_certificate((d / "ca.pem").read_bytes())
    ours = CA.made_the_usual_way().certificate

    def kinds(cert: x509.Certificate) -> set[type]:
        return {type(ext.value) for ext in cert.extensions} - {x509.AuthorityKeyIdentifier}

    assert kinds(ours) == kinds(real)
    assert x509.KeyUsage not in kinds(ours)
