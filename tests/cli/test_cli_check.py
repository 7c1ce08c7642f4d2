"""``tlsplug check`` against local servers: ok and every failure class, on every usable backend."""

from __future__ import annotations

import warnings
from typing import Any, Callable, Dict, List, Tuple

import pytest

from tlsplug import SecurityWarning, available_backends
from tlsplug._cli._check import DEFAULT_PORT, host_from_uri, parse_target
from tlsplug.testing import (
    NO_IPV6,
    PKI,
    PKIFiles,
    RawServer,
    TLSServer,
    ipv6_available,
    respond_with,
)

CliJson = Callable[..., Tuple[int, Dict[str, Any]]]
TIMEOUT = "5"


def _only_result(document: Dict[str, Any]) -> Dict[str, Any]:
    assert len(document["results"]) == 1
    result: Dict[str, Any] = document["results"][0]
    return result


def test_ok_human_output(cli: Any, backend_name: str, pki_files: PKIFiles,
                         tls_server: Callable[..., TLSServer]) -> None:
    """A trusted server is ✓ ok with protocol, chain, resumption and timings shown; exit 0."""
    server = tls_server()
    status, out = cli("check", f"localhost:{server.port}", "--tlsCAFile", str(pki_files.ca_file),
                      "--backend", backend_name, "--timeout", TIMEOUT)
    assert status == 0, out
    assert "✓ ok" in out
    assert "TLSv1." in out
    assert "subject  CN=localhost" in out
    assert "DNS:localhost" in out
    assert "resumption" in out
    assert "timings" in out
    assert all(len(line) <= 80 for line in out.splitlines()), out


def test_ok_json(cli_json: CliJson, assert_valid_check_json: Any, backend_name: str,
                 pki: PKI, pki_files: PKIFiles, tls_server: Callable[..., TLSServer]) -> None:
    """The JSON report of a good connection follows the schema and carries the chain."""
    server = tls_server()
    status, doc = cli_json("check", f"127.0.0.1:{server.port}", "--tlsCAFile",
                           str(pki_files.ca_file), "--backend", backend_name, "--json",
                           "--timeout", TIMEOUT)
    assert_valid_check_json(doc)
    assert status == 0
    assert doc["ok"] is True
    result = _only_result(doc)
    assert result["backend"] == backend_name
    assert result["error"] is None
    assert result["peer_chain"][0]["sans"] == ["DNS:localhost", "IP:127.0.0.1", "IP:::1"]
    assert result["peer_chain"][0]["serial"] == f"{pki.leaf.serial:x}"
    assert result["chain_verified"] is True
    assert result["session_resumption"]["attempted"] is True
    assert result["timings_ms"]["handshake"] > 0


def test_ipv6_target(cli_json: CliJson, assert_valid_check_json: Any, backend_name: str,
                     pki_files: PKIFiles, tls_server: Callable[..., TLSServer]) -> None:
    """``[::1]:port`` dials IPv6 and verifies the IP SAN ::1."""
    if not ipv6_available():
        pytest.skip(NO_IPV6)
    server = tls_server(host="::1")
    status, doc = cli_json("check", f"[::1]:{server.port}", "--tlsCAFile",
                           str(pki_files.ca_file), "--backend", backend_name, "--json",
                           "--timeout", TIMEOUT)
    assert_valid_check_json(doc)
    assert status == 0, doc
    assert doc["target"] == {"host": "::1", "port": server.port, "server_hostname": "::1"}


@pytest.mark.parametrize("case", ["untrusted", "expired", "hostname", "legacy"])
def test_certificate_and_handshake_failures(
    cli_json: CliJson, assert_valid_check_json: Any, backend_name: str, pki: PKI,
    pki_files: PKIFiles, tls_server: Callable[..., TLSServer], tmp_path: Any, case: str,
) -> None:
    """Each failure class gives its code and hint, exit 1, and still shows the server's chain."""
    from tlsplug.testing import CA

    ca_file = str(pki_files.ca_file)
    if case == "untrusted":
        server, code = tls_server(), "cert-untrusted"
        ca_file = str(CA("unrelated root").write_cert(tmp_path / "other.pem"))
    elif case == "expired":
        server = tls_server(pki.intermediate.issue_cert("localhost", expired=True))
        code = "cert-expired"
    elif case == "hostname":
        server = tls_server(pki.intermediate.issue_cert("db.elsewhere.test"))
        code = "hostname-mismatch"
    else:
        rsa_leaf = pki.intermediate.issue_cert("localhost", key_type="rsa")
        server, code = tls_server(rsa_leaf, legacy=True), "no-shared-cipher"
    status, doc = cli_json("check", f"localhost:{server.port}", "--tlsCAFile", ca_file,
                           "--backend", backend_name, "--json", "--timeout", TIMEOUT)
    assert_valid_check_json(doc)
    assert status == 1
    assert doc["ok"] is False
    result = _only_result(doc)
    assert result["error"]["code"] == code, result["error"]
    assert result["error"]["hint"]
    if case == "legacy":
        assert "tlsProfile=legacy" in result["error"]["hint"]
    else:
        # The refused chain is fetched again without verification, to show what was wrong.
        assert result["chain_verified"] is False
        assert result["peer_chain"], "the refused chain should be shown"


def test_legacy_profile_reaches_legacy_server(
    cli: Any, backend_name: str, pki: PKI, pki_files: PKIFiles,
    tls_server: Callable[..., TLSServer],
) -> None:
    """``--tlsProfile legacy`` connects to the legacy-only server; its warning becomes a note."""
    server = tls_server(pki.intermediate.issue_cert("localhost", key_type="rsa"), legacy=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        status, out = cli("check", f"localhost:{server.port}", "--tlsCAFile",
                          str(pki_files.ca_file), "--tlsProfile", "legacy", "--backend",
                          backend_name, "--timeout", TIMEOUT)
    assert status == 0, out
    assert "note" in out
    assert "SecurityWarning" in out
    assert not [w for w in caught if issubclass(w.category, SecurityWarning)]


def test_not_tls(cli_json: CliJson, assert_valid_check_json: Any, backend_name: str,
                 pki_files: PKIFiles, raw_server: Callable[..., RawServer]) -> None:
    """A peer answering with HTTP bytes is not-tls."""
    server = raw_server(respond_with(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"))
    status, doc = cli_json("check", f"localhost:{server.port}", "--tlsCAFile",
                           str(pki_files.ca_file), "--backend", backend_name, "--json",
                           "--timeout", TIMEOUT)
    assert_valid_check_json(doc)
    assert status == 1
    assert _only_result(doc)["error"]["code"] == "not-tls"


def test_every_backend_side_by_side(cli: Any, pki_files: PKIFiles, usable_backend_names: List[str],
                                    tls_server: Callable[..., TLSServer]) -> None:
    """Without --backend every installed backend is tried and compared in one table."""
    names = usable_backend_names
    if not names:
        pytest.skip("no usable backend")
    server = tls_server()
    status, out = cli("check", f"localhost:{server.port}", "--tlsCAFile",
                      str(pki_files.ca_file), "--timeout", TIMEOUT)
    # Exit 0 only when every installed backend connected (a placeholder one fails).
    assert status == (0 if len(names) == len(available_backends()) else 1), out
    for name in names:
        assert f"{name}  ✓ ok" in out
    if len(names) > 1:
        assert "Side by side" in out


def test_connection_refused(cli_json: CliJson, assert_valid_check_json: Any,
                            backend_name: str) -> None:
    """Nothing listening is connect-failed with a hint naming the port, not a traceback."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    status, doc = cli_json("check", f"127.0.0.1:{port}", "--backend", backend_name, "--json",
                           "--timeout", TIMEOUT)
    assert_valid_check_json(doc)
    assert status == 1
    error = _only_result(doc)["error"]
    assert error["code"] == "connect-failed"
    assert f"Nothing accepts connections on 127.0.0.1:{port}" in error["hint"]


def test_invalid_options_exit_2(cli: Any, cli_json: CliJson,
                                assert_valid_check_json: Any) -> None:
    """Conflicting options are reported with code and hint before any connection; exit 2."""
    status, out = cli("check", "localhost:1", "--tlsInsecure", "--tlsAllowInvalidHostnames")
    assert status == 2
    assert "conflicting-options" in out
    assert "hint" in out
    status, doc = cli_json("check", "localhost:1", "--uri", "mongodb://h/?tlsCAFil=x", "--json")
    assert_valid_check_json(doc)
    assert status == 2
    assert doc["error"]["code"] == "unknown-option"


def test_unknown_backend(cli_json: CliJson, assert_valid_check_json: Any) -> None:
    """A backend that is not installed is backend-not-found in its own result; exit 1."""
    status, doc = cli_json("check", "localhost:1", "--backend", "nosuch", "--json")
    assert_valid_check_json(doc)
    assert status == 1
    assert _only_result(doc)["error"]["code"] == "backend-not-found"


def test_password_never_printed(cli: Any) -> None:
    """The key password given as a flag or in the URI is masked in the output."""
    status, out = cli("check", "localhost:1", "--uri",
                      "mongodb://u:pw1@h/?tlsCertificateKeyFilePassword=hunter2",
                      "--backend", "nosuch")
    assert status == 1
    assert "hunter2" not in out
    assert "pw1" not in out
    assert "********" in out


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("db.example.com", ("db.example.com", DEFAULT_PORT)),
        ("db.example.com:443", ("db.example.com", 443)),
        ("127.0.0.1:27018", ("127.0.0.1", 27018)),
        ("[::1]:8443", ("::1", 8443)),
        ("[::1]", ("::1", DEFAULT_PORT)),
        ("::1", ("::1", DEFAULT_PORT)),
        ("fe80::1%eth0", ("fe80::1%eth0", DEFAULT_PORT)),
    ],
)
def test_parse_target(text: str, expected: Tuple[str, int]) -> None:
    """HOST[:PORT] parsing covers names, IPv4, bracketed and bare IPv6; the port defaults."""
    assert parse_target(text) == expected


@pytest.mark.parametrize("text", ["", ":27017", "[::1", "[::1]x", "h:0", "h:65536", "h:port"])
def test_parse_target_rejects(text: str) -> None:
    """Malformed targets are a ValueError (exit 2 in the command)."""
    with pytest.raises(ValueError):  # noqa: PT011 - the message is for humans
        parse_target(text)


def test_host_from_uri(cli: Any) -> None:
    """The first host of a --uri is used when HOST is omitted; +srv needs an explicit HOST."""
    assert host_from_uri("mongodb://u:p@a.example:1,b.example/db?tls=true") == "a.example:1"
    assert host_from_uri("mongodb://[::1]:27017/") == "[::1]:27017"
    status, out = cli("check", "--uri", "mongodb+srv://cluster.example/")
    assert status == 2
    assert "SRV" in out
    status, out = cli("check")
    assert status == 2


def test_strict_refusal_shows_remedy(cli_json: CliJson, assert_valid_check_json: Any,
                                     backend_name: str, tmp_path: Any) -> None:
    """A CA made with `openssl req` defaults: cert-invalid, the fix in the hint, a remedy."""
    from tlsplug.testing import CA

    root = CA.made_the_usual_way("Usual CA")
    ca_file = root.write_cert(tmp_path / "ca.pem")
    with TLSServer(cert=root.issue_cert("localhost")) as server:
        status, doc = cli_json("check", f"localhost:{server.port}", "--tlsCAFile", str(ca_file),
                               "--backend", backend_name, "--json", "--timeout", TIMEOUT)
    assert_valid_check_json(doc)
    assert status == 1
    result = _only_result(doc)
    assert result["error"]["code"] == "cert-invalid"
    assert "CN=Usual CA" in result["error"]["message"]
    assert "keyUsage=critical,keyCertSign,cRLSign" in result["error"]["hint"]
    assert result["remedy"] is not None
    assert "tlsStrictX509=false" in result["remedy"]


def test_other_cert_invalid_has_no_remedy(cli_json: CliJson, backend_name: str,
                                          tmp_path: Any) -> None:
    """An untrusted chain gets no strict-rule remedy (the relaxed retry fails too)."""
    from tlsplug.testing import CA

    root, other = CA("Real root"), CA.made_the_usual_way("Other CA")
    ca_file = other.write_cert(tmp_path / "ca.pem")
    with TLSServer(cert=root.issue_cert("localhost")) as server:
        status, doc = cli_json("check", f"localhost:{server.port}", "--tlsCAFile", str(ca_file),
                               "--backend", backend_name, "--json", "--timeout", TIMEOUT)
    assert status == 1
    assert _only_result(doc)["remedy"] is None
