"""The MongoDB OCSP test plan with real servers and a real responder, on every backend.

Source: ``tests/vectors/mongodb-specs/ocsp-test-matrix.derived.json`` (the spec's table
"Integration Tests: Permutations to Be Tested", plus the PyMongo-derived option rows). Every
column x {RSA, ECDSA} x {issuer-signed, delegate-signed responses} x option row runs against
an ``openssl s_server -status_file`` (:class:`OpenSSLStatusFileServer`, for the columns where
the server staples) or a :class:`TLSServer` and an :class:`OCSPResponder`; none of them needs a
client-side backend, so every env runs every cell with the backend under test. The expected
outcome comes from :func:`expected_outcome`, the one place where the spec's OK/FAIL becomes
an error code and where backend features adjust it.

As in the spec's test PKI, the server certificate is issued by the root (``ca.pem``) and the
delegated responder certificate by the same root (RFC 6960 §4.2.2.2). Every case gets a
fresh leaf, so the process-wide OCSP cache never carries an answer from one case into another.
"""

from __future__ import annotations

import json
import logging
import shutil
import socket
import time
import warnings
from pathlib import Path
from typing import Any, Dict, FrozenSet, Iterator, List, Tuple

import pytest

import tlsplug
from tlsplug import Feature, TLSError, TLSOptions
from tlsplug.testing import (
    CA,
    OCSPResponder,
    OpenSSLStatusFileServer,
    TLSServer,
    closed_port_url,
)

MATRIX_FILE = (
    Path(__file__).resolve().parent / "vectors" / "mongodb-specs" / "ocsp-test-matrix.derived.json"
)
TIMEOUT = 5.0
"""Socket timeout of every connection, in seconds."""
OCSP_TIMEOUT = 2.0
"""``ocsp_timeout`` of every connection (bounds the responder step), in seconds."""
HOST = "localhost"


def _load_matrix() -> Dict[str, Any]:
    with open(MATRIX_FILE, encoding="utf-8") as handle:
        data: Dict[str, Any] = json.load(handle)
    return data


MATRIX = _load_matrix()
COLUMNS: Dict[str, Dict[str, Any]] = MATRIX["columns"]
ROWS: List[Dict[str, Any]] = MATRIX["rows"]
KEY_TYPES: List[str] = MATRIX["key_algorithms"]
SIGNERS = ["issuer", "delegate"]  # MATRIX["responder_variants"], as OCSPResponder names them


def _features(backend_name: str) -> FrozenSet[Feature]:
    return frozenset(tlsplug.get_backend(backend_name).features)


def _ocsp_on(uri: str) -> bool:
    options = TLSOptions.parse(f"mongodb://{HOST}/?{uri}")
    return options.check_ocsp_stapling


def expected_outcome(column: str, uri: str, spec: str, features: FrozenSet[Feature]) -> str:
    """``"ok"`` or the error code a backend with ``features`` must reach for one cell.

    * The spec's ``FAIL`` becomes the code that names the reason: a must-staple certificate
      without a staple is ``ocsp-must-staple`` (MongoDB OCSP spec item 1, RFC 7633), a
      revoked certificate ``ocsp-revoked``.
    * Without ``Feature.OCSP_STAPLING`` (Python's ssl), a must-staple certificate while OCSP
      is on is ``unsupported-option`` — the project's fail-closed decision, whatever the spec
      says for the cell (the spec's starred rows let such drivers document the gap).
    * Without ``Feature.OCSP_ENDPOINT`` responders are never asked, so a revoked certificate
      that is not stapled connects (``tlsplug.testing.differential``'s rule for the gap).
    """
    info = COLUMNS[column]
    on = _ocsp_on(uri)
    if on and info["must_staple"] and Feature.OCSP_STAPLING not in features:
        return "unsupported-option"
    if spec == "OK":
        return "ok"
    assert spec == "FAIL", spec
    if info["must_staple"] and not info["server_staples"]:
        return "ocsp-must-staple"
    assert info["cert"] == "revoked", column
    if not info["server_staples"] and Feature.OCSP_ENDPOINT not in features:
        return "ok"
    return "ocsp-revoked"


class _World:
    """One root per key type, a responder per (key type, signer), and the CA file."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.roots: Dict[str, CA] = {k: CA(f"ocsp matrix {k} root", k) for k in KEY_TYPES}
        self.ca_files = {
            k: str(ca.write_cert(directory / f"{k}-ca.pem")) for k, ca in self.roots.items()
        }
        self.responders: Dict[Tuple[str, str], OCSPResponder] = {}
        for key in KEY_TYPES:
            for signer in SIGNERS:
                self.responders[key, signer] = OCSPResponder(self.roots[key], signer=signer).start()

    def close(self) -> None:
        for responder in self.responders.values():
            responder.stop()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_World]:
    """The roots, CA files and running responders of the whole module."""
    built = _World(tmp_path_factory.mktemp("ocsp-matrix"))
    yield built
    built.close()


def _needs_openssl_binary() -> None:
    if shutil.which("openssl") is None:  # a capability of the host, not of the backend
        pytest.skip("needs the openssl command line tool (s_server -status_file staples)")


def _stapling_server(leaf: Any, staple: bytes) -> OpenSSLStatusFileServer:
    """A server that staples ``staple`` as it is and echoes each line reversed (``-rev``)."""
    _needs_openssl_binary()
    return OpenSSLStatusFileServer(cert=leaf, staple=staple, mode="rev")


def _server(column: str, key: str, signer: str, world: _World) -> Any:
    """The (unstarted) server of one column, with a fresh leaf and its responder status."""
    info = COLUMNS[column]
    root = world.roots[key]
    responder = world.responders[key, signer]
    url = responder.url if info["responder"] == "up" else closed_port_url()
    leaf = root.issue_cert(HOST, "127.0.0.1", ocsp_url=url, must_staple=info["must_staple"])
    status = "revoked" if info["cert"] == "revoked" else "good"
    if info["responder"] == "up":
        responder.set_status(leaf, status)
    if info["server_staples"]:
        staple = root.ocsp_response(leaf, status, signer=signer)
        return _stapling_server(leaf, staple)
    return TLSServer(cert=leaf, timeout=TIMEOUT)


def _round_trip(tls: Any, server: Any) -> None:
    """One message there and back: echoed by a TLSServer, reversed by ``s_server -rev``."""
    if isinstance(server, OpenSSLStatusFileServer):
        tls.sendall(b"ping\n")
        expected = b"gnip\n"
    else:
        tls.sendall(b"ping")
        expected = b"ping"
    got = b""
    while len(got) < len(expected):
        chunk = tls.recv(16)
        if not chunk:
            break
        got += chunk
    assert got == expected


def _outcome(options: TLSOptions, server: Any) -> str:
    """Handshake and one round trip with the started ``server``: ``ok`` or the error code."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tlsplug.SecurityWarning)  # tlsInsecure & co. warn
        context = tlsplug.create_context(options)
    try:
        sock = socket.create_connection(server.address, timeout=TIMEOUT)
        try:
            tls = context.wrap_socket(sock, server_hostname=HOST)
        except BaseException:
            sock.close()
            raise
        with tls:
            _round_trip(tls, server)
    except TLSError as exc:
        return exc.code if exc.backend == options.backend else f"{exc.code} from {exc.backend}"
    return "ok"


CELLS = [
    pytest.param(column, row["uri"], row["expect"][column], id=f"{column}-{row['uri']}")
    for row in ROWS
    for column in COLUMNS
]


@pytest.mark.parametrize("signer", SIGNERS)
@pytest.mark.parametrize("key", KEY_TYPES)
@pytest.mark.parametrize(("column", "uri", "spec"), CELLS)
def test_spec_matrix(
    backend_name: str, world: _World, column: str, uri: str, spec: str, key: str, signer: str
) -> None:
    """One cell of the MongoDB OCSP test plan reaches its expected outcome and error code."""
    expected = expected_outcome(column, uri, spec, _features(backend_name))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tlsplug.SecurityWarning)  # tlsInsecure & co. warn
        options = TLSOptions.parse(
            f"mongodb://{HOST}/?{uri}", ca_file=world.ca_files[key], backend=backend_name,
            ocsp_timeout=OCSP_TIMEOUT,
        )
    with _server(column, key, signer, world) as server:
        assert _outcome(options, server) == expected


def test_matrix_covers_the_file() -> None:
    """Every column and option row of the derived matrix is exercised, with no extra rows."""
    assert len(CELLS) == len(COLUMNS) * len(ROWS) == 35
    assert {row["uri"] for row in ROWS} >= {
        "tls=true", "tls=true&tlsInsecure=true", "tls=true&tlsAllowInvalidCertificates=true",
        "tls=true&tlsDisableOCSPEndpointCheck=true", "tls=true&tlsAllowInvalidHostnames=true",
    }


def test_expectations_follow_features() -> None:
    """The expectation function gives unsupported-option only for must-staple with OCSP on."""
    stdlib_like = frozenset({Feature.OCSP_ENDPOINT})
    assert expected_outcome("test1", "tls=true", "OK", stdlib_like) == "unsupported-option"
    assert expected_outcome("malicious2", "tls=true&tlsInsecure=true", "OK", stdlib_like) == "ok"
    assert expected_outcome("test4", "tls=true", "FAIL", frozenset()) == "ok"
    every = frozenset(Feature)
    assert expected_outcome("malicious1", "tls=true", "FAIL", every) == "ocsp-must-staple"
    assert expected_outcome("test2", "tls=true", "FAIL", every) == "ocsp-revoked"


# -- behaviour around the matrix -------------------------------------------------------------


@pytest.fixture
def root(tmp_path: Path) -> Tuple[CA, str]:
    """A fresh ECDSA root and its CA file."""
    ca = CA("ocsp behaviour root")
    return ca, str(ca.write_cert(tmp_path / "ca.pem"))


def _needs(backend_name: str, feature: Feature) -> None:
    if feature not in _features(backend_name):
        pytest.skip(f"{backend_name} does not declare Feature.{feature.name}")


def _options(backend_name: str, ca_file: str, **kwargs: Any) -> TLSOptions:
    kwargs.setdefault("ocsp_timeout", OCSP_TIMEOUT)
    return TLSOptions(enabled=True, backend=backend_name, ca_file=ca_file, **kwargs)


def test_soft_fail_is_observable(
    backend_name: str, root: Tuple[CA, str], caplog: pytest.LogCaptureFixture
) -> None:
    """An unreachable responder connects, logs a WARNING on tlsplug.ocsp, shows in ocsp_status."""
    _needs(backend_name, Feature.OCSP_ENDPOINT)
    ca, ca_file = root
    leaf = ca.issue_cert(HOST, ocsp_url=closed_port_url())
    caplog.set_level(logging.WARNING, logger="tlsplug.ocsp")
    with TLSServer(cert=leaf, timeout=TIMEOUT) as server, tlsplug.connect(
        server.address, _options(backend_name, ca_file), timeout=TIMEOUT, server_hostname=HOST
    ) as tls:
        assert tls.ocsp_status == "soft-fail: responder unreachable"
    records = [r for r in caplog.records if r.name == "tlsplug.ocsp"]
    assert records
    assert records[-1].levelno == logging.WARNING
    assert "responder unreachable" in records[-1].getMessage()
    assert "connecting anyway" in records[-1].getMessage()


def test_slow_responders_soft_fail_on_connect(backend_name: str, root: Tuple[CA, str]) -> None:
    """Through a real connection, two responders too slow for ocsp_timeout soft-fail in time.

    (tests/test_ocsp_responders.py checks the one-deadline rule itself, below the backend.)
    """
    _needs(backend_name, Feature.OCSP_ENDPOINT)
    ca, ca_file = root
    slow = [OCSPResponder(ca, delay=30.0).start() for _ in range(2)]
    try:
        leaf = ca.issue_cert(HOST, ocsp_url=[r.url for r in slow])
        for responder in slow:
            responder.set_status(leaf, "revoked")  # never seen: the answer comes too late
        # Seconds, so a saturated machine still runs both workers before the deadline.
        budget = 3.0
        with TLSServer(cert=leaf, timeout=TIMEOUT) as server:
            start = time.monotonic()
            with tlsplug.connect(
                server.address, _options(backend_name, ca_file, ocsp_timeout=budget),
                timeout=TIMEOUT * 2, server_hostname=HOST,
            ) as tls:
                elapsed = time.monotonic() - start
                assert tls.ocsp_status == "soft-fail: responder timeout"
        assert all(r.wait_requests(1, timeout=30.0) for r in slow), "both URLs were asked"
        # One budget, not one per URL and not the responders' 30 s; generous for load.
        assert budget <= elapsed < 2 * budget, f"took {elapsed:.2f} s"
    finally:
        for responder in slow:
            responder.stop()


def test_warm_cache_sends_no_request(backend_name: str, root: Tuple[CA, str]) -> None:
    """A second connection (new context) is answered by the cache: zero responder requests."""
    _needs(backend_name, Feature.OCSP_ENDPOINT)
    ca, ca_file = root
    with OCSPResponder(ca) as responder:
        leaf = ca.issue_cert(HOST, ocsp_url=responder.url)
        responder.set_status(leaf, "good")
        with TLSServer(cert=leaf, timeout=TIMEOUT) as server:
            with tlsplug.connect(server.address, _options(backend_name, ca_file),
                                 timeout=TIMEOUT, server_hostname=HOST) as tls:
                assert tls.ocsp_status == "good (responder)"
            assert responder.requests == 1
            responder.reset_requests()
            # A different option set: a new context, so nothing but the OCSP cache is shared.
            options = _options(backend_name, ca_file, ocsp_timeout=OCSP_TIMEOUT + 1)
            with tlsplug.connect(server.address, options, timeout=TIMEOUT,
                                 server_hostname=HOST) as tls:
                assert tls.ocsp_status == "good (cache)"
        assert responder.requests == 0


def test_staple_for_another_certificate(backend_name: str, root: Tuple[CA, str]) -> None:
    """A staple about another certificate (s_server -status_file) is ocsp-invalid-response."""
    _needs_openssl_binary()
    ca, ca_file = root
    leaf, other = ca.issue_cert(HOST), ca.issue_cert(HOST)
    staple = ca.ocsp_response(other, "good")
    stapling = Feature.OCSP_STAPLING in _features(backend_name)
    options = _options(backend_name, ca_file)
    with OpenSSLStatusFileServer(cert=leaf, staple=staple) as server:
        if not stapling:  # the staple is never requested: nothing to refuse
            tlsplug.connect(server.address, options, timeout=TIMEOUT,
                            server_hostname=HOST).close()
            return
        with pytest.raises(TLSError) as info:
            tlsplug.connect(server.address, options, timeout=TIMEOUT, server_hostname=HOST)
    assert info.value.code == "ocsp-invalid-response"
    assert "invalid status response" in str(info.value)
    assert "not valid for the certificate" in str(info.value)


@pytest.mark.parametrize(
    ("defect", "needle"),
    [("expired", "nextUpdate"), ("corrupt_signature", "signature")],
)
def test_bad_staple(backend_name: str, root: Tuple[CA, str], defect: str, needle: str) -> None:
    """An expired or badly-signed staple fails with ocsp-invalid-response where staples are read."""
    ca, ca_file = root
    leaf = ca.issue_cert(HOST)
    staple = ca.ocsp_response(
        leaf, "good", expired=defect == "expired", corrupt_signature=defect == "corrupt_signature"
    )
    stapling = Feature.OCSP_STAPLING in _features(backend_name)
    with _stapling_server(leaf, staple) as server:
        outcome = _outcome(_options(backend_name, ca_file), server)
    assert outcome == ("ocsp-invalid-response" if stapling else "ok")
    if stapling:
        with _stapling_server(leaf, staple) as server, pytest.raises(TLSError) as info:
            tlsplug.connect(server.address, _options(backend_name, ca_file),
                            timeout=TIMEOUT, server_hostname=HOST)
        assert needle.lower() in str(info.value).lower()
        assert "invalid status response" in str(info.value)
