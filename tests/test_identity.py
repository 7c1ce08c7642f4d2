"""The one identity rule (docs/design.md, Identity): normalised once, matched by the core."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import warnings
from typing import Any, Dict, Iterator, List, Tuple

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import tlsplug
import tlsplug.aio
from tlsplug import CertificateError, ConfigurationError, TLSOptions
from tlsplug.backend import identity_matches, server_identity
from tlsplug.testing import CA
from tlsplug.testing.servers import RawServer, close_immediately, serve


def _octet_spellings(value: int) -> st.SearchStrategy[str]:
    """Spellings of one IPv4 octet that inet_aton reads; the first is the canonical one."""
    return st.sampled_from([
        str(value), f"0{value:o}", f"0x{value:x}", f"0X{value:X}", f"00{value}", f"+{value}",
    ])


@st.composite
def ambiguous_ipv4(draw: st.DrawFn) -> str:
    """An IPv4 address in a spelling that is not the canonical dotted quad."""
    address = draw(st.integers(0, 2**32 - 1))
    octets = list(ipaddress.IPv4Address(address).packed)
    form = draw(st.sampled_from(["octets", "short", "integer", "trailing-dot"]))
    if form == "short":  # "127.1": the last part fills the remaining bytes
        return f"{octets[0]}.{int.from_bytes(bytes(octets[1:]), 'big')}"
    if form == "integer":
        return draw(st.sampled_from([str(address), hex(address), f"0{address:o}"]))
    if form == "trailing-dot":
        return str(ipaddress.IPv4Address(address)) + "."
    parts = [draw(_octet_spellings(o)) for o in octets]
    canonical = ".".join(str(o) for o in octets)
    assume(".".join(parts) != canonical)
    return ".".join(parts)


@settings(max_examples=300, deadline=None)
@given(ambiguous_ipv4())
def test_ambiguous_ipv4_spellings_are_refused(name: str) -> None:
    """Every non-canonical IPv4 spelling is invalid-option, naming server_hostname."""
    with pytest.raises(ConfigurationError) as info:
        server_identity(name)
    assert info.value.code == "invalid-option"
    assert info.value.option == "server_hostname"


@settings(max_examples=200, deadline=None)
@given(st.ip_addresses())
def test_canonical_ip_literals_normalise_to_themselves(ip: ipaddress._BaseAddress) -> None:
    """A canonical IP literal (bracketed or not for IPv6) is that IP, never a DNS name."""
    identity = server_identity(str(ip))
    assert identity.ip == ip
    assert identity.name == str(ip)
    assert identity.sni is None
    if ip.version == 6:
        assert server_identity(f"[{ip}]") == identity


_LABEL = st.from_regex(r"[a-z][a-z0-9-]{0,8}[a-z0-9]", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(st.lists(_LABEL, min_size=1, max_size=4), st.booleans(), st.booleans())
def test_dns_names_normalise_case_and_root_dot(labels: List[str], upper: bool, dot: bool) -> None:
    """Case and one trailing root dot never change the identity (it keys sessions too)."""
    name = ".".join(labels)
    spelled = (name.upper() if upper else name) + ("." if dot else "")
    assert server_identity(spelled) == server_identity(name)
    assert server_identity(spelled).sni == name


@pytest.mark.parametrize("name", [
    "a\x00b", "a\nb", "", " ", "a..b", "-a.example", "a-.example", "a.-example.com",
    "x" * 64 + ".example", ".".join(["abcdefgh"] * 29) + ".com", "a b", "*.example.com",
    "localhost..", "[127.0.0.1]", "::1::", "127.0.0.1.", "1.2.3.4.5", "example.0x1f",
])
def test_invalid_names_are_invalid_option(name: str) -> None:
    """NUL, empty labels, '-' at a label's edge, > 253 octets, numbers at the end: refused."""
    with pytest.raises(ConfigurationError) as info:
        server_identity(name)
    assert info.value.code == "invalid-option"
    assert info.value.__cause__ is None


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> CA:
    """One root for the module, its certificate written to a file."""
    ca = CA()
    path = tmp_path_factory.mktemp("identity") / "ca.pem"
    path.write_bytes(ca.cert_pem)
    _CA_FILES[id(ca)] = str(path)
    return ca


_CA_FILES: Dict[int, str] = {}


def _opts(ca: CA, **kwargs: object) -> TLSOptions:
    return TLSOptions(enabled=True, ca_file=_CA_FILES[id(ca)], **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["127.0.0.010", "127.1", "0x7f.0.0.1", "127.0.0.1.", "a\x00b",
                                  "h" * 263])
def test_connect_refuses_before_dialling(backend_name: str, pki: CA, name: str) -> None:
    """tlsplug.connect refuses the name with invalid-option and never opens a connection."""
    with RawServer(handler=close_immediately) as server:
        with pytest.raises(ConfigurationError) as info:
            tlsplug.connect((name, server.port), _opts(pki, backend=backend_name), timeout=5)
        assert info.value.code == "invalid-option"
        assert server.connections == 0


@pytest.mark.parametrize("name", ["127.0.0.010", "127.0.0.1.", "a\x00b"])
def test_aio_refuses_before_dialling(backend_name: str, pki: CA, name: str) -> None:
    """tlsplug.aio.open_connection refuses the same names the same way, before dialling."""
    with RawServer(handler=close_immediately) as server:

        async def main() -> None:
            await tlsplug.aio.open_connection(name, server.port,
                                              _opts(pki, backend=backend_name))

        with pytest.raises(ConfigurationError) as info:
            asyncio.run(main())
        assert info.value.code == "invalid-option"
        assert server.connections == 0


@pytest.mark.parametrize("name", ["127.0.0.010", "127.0.0.1.", "a\x00b", "h" * 263, "a.-b.com"])
def test_wrap_refuses_on_every_backend(backend_name: str, pki: CA, name: str) -> None:
    """wrap_socket and wrap_buffers give invalid-option for the same names on every backend."""
    ctx = tlsplug.create_context(_opts(pki, backend=backend_name))
    with pytest.raises(ConfigurationError) as info:
        ctx.wrap_buffers(server_hostname=name)
    assert info.value.code == "invalid-option"
    left, right = socket.socketpair()
    with left, right, pytest.raises(ConfigurationError) as info2:
        ctx.wrap_socket(left, server_hostname=name)
    assert info2.value.code == "invalid-option"


def _verdict(backend: str, ca: CA, port: int, host: str, **kwargs: object) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opts = _opts(ca, backend=backend, session_resumption=False, **kwargs)
        ctx = tlsplug.create_context(opts)
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        tls = ctx.wrap_socket(sock, server_hostname=host)
    except CertificateError as exc:
        return exc.code
    finally:
        sock.close()
    tls.close()
    return "ok"


# SAN patterns and dialled names where OpenSSL 3.0, OpenSSL 4.0 and hand-written matchers
# used to disagree: hyphen-edged labels, trailing dots, partial wildcards, IDNA, underscores.
_PATTERNS = ["*.-example.com", "*.example-.com", "*.example.com", "example.com.",
             "*.com", "f*.example.com", "*.xn--bcher-kva.de", "*.my_db.local", "localhost",
             "127.0.0.1", "*.0.0.1"]
_HOSTS = ["a.-example.com", "a.example.com", "example.com", "example.com.", "localhost",
          "localhost.", "foo.example.com", "x.xn--bcher-kva.de", "x.bücher.de",
          "a.my_db.local", "127.0.0.1", "a.com", "LOCALHOST"]


@pytest.fixture(scope="module")
def san_servers(pki: CA) -> Iterator[Dict[str, Any]]:
    """One running server per SAN pattern."""
    servers: Dict[str, Any] = {}
    stack = []
    for pattern in _PATTERNS:
        cm = serve(pki.issue_cert(pattern))
        stack.append(cm)
        servers[pattern] = cm.__enter__()
    yield servers
    for cm in stack:
        cm.__exit__(None, None, None)


def _core(cert_der: bytes, host: str) -> str:
    try:
        identity = server_identity(host)
    except ConfigurationError:
        return "invalid-option"
    return "ok" if identity_matches(cert_der, identity) else "hostname-mismatch"


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pattern=st.sampled_from(_PATTERNS), host=st.sampled_from(_HOSTS))
def test_one_matcher_in_every_mode(
    backend_name: str, pki: CA, san_servers: Dict[str, Any], pattern: str, host: str
) -> None:
    """Verified and tlsAllowInvalidCertificates handshakes give the core matcher's verdict."""
    server = san_servers[pattern]
    expected = _core(server.cert.cert_der, host)
    for kwargs in ({}, {"allow_invalid_certificates": True}):
        try:
            got = _verdict(backend_name, pki, server.port, host, **kwargs)
        except ConfigurationError as exc:
            got = exc.code
        assert got == expected, (pattern, host, kwargs)


def test_hyphen_edged_wildcard_matches_nothing(pki: CA, san_servers: Dict[str, Any]) -> None:
    """SAN *.-example.com is not a valid wildcard: no name it could stand for matches."""
    der = san_servers["*.-example.com"].cert.cert_der
    for host in ("a.-example.com", "a.example.com", "-example.com"):
        assert _core(der, host) != "ok"


def _session_roundtrip(backend: str, ca: CA, port: int, first: str, second: str) -> Tuple[str, str]:
    ctx = tlsplug.create_context(_opts(ca, backend=backend))
    outcomes = []
    for host in (first, second):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        try:
            tls = ctx.wrap_socket(sock, server_hostname=host)
            tls.sendall(b"x")
            tls.recv(1)
            tls.close()
            outcomes.append("ok")
        except tlsplug.TLSError as exc:
            outcomes.append(exc.code)
        finally:
            sock.close()
    return outcomes[0], outcomes[1]


def test_trailing_dot_ip_never_shares_a_session(backend_name: str, pki: CA) -> None:
    """After a session for "127.0.0.1", "127.0.0.1." is still refused, never resumed."""
    with serve(pki.issue_cert("localhost", "127.0.0.1")) as good:
        assert _session_roundtrip(backend_name, pki, good.port, "127.0.0.1", "127.0.0.1.") == (
            "ok", "invalid-option")
