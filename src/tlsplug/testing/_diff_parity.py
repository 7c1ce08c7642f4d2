"""Code parity: one failure, one code, on every backend (generated situations, not chains).

Each ``ParityCase`` is a situation outside the certificate scenarios whose code the
specification fixes (docs/design.md, Errors and Identity):

* ``bad-name``: a dialled name the Identity rules refuse (NUL, over 253 octets, an IPv4
  address in another spelling) -> ``invalid-option``, before any byte is sent;
* ``oversize-record``: the server answers the ClientHello with a record longer than TLS
  allows (2^14 + 1 up to 2^14 + 2048 + 256 bytes, RFC 8446 §5.1/§5.2) -> ``not-tls``;
* ``after-close``: ``sendall``/``recv`` on a TLS socket after ``close()`` ->
  ``connection-closed``.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import tempfile
import time
import warnings
from typing import Callable, Dict, Optional, Sequence

from hypothesis import strategies as st

import tlsplug

from .pki import CA
from .servers import RawServer, serve

__all__ = ["ParityCase", "expected_code", "parity_cases", "run_parity_case"]

MAX_RECORD = 2**14


@dataclasses.dataclass(frozen=True)
class ParityCase:
    """One situation: its kind and the detail that varies."""

    kind: str  # "bad-name", "oversize-record", "after-close"
    name: str = "localhost"
    record_length: int = MAX_RECORD + 1
    operation: str = "sendall"


def _bad_names() -> st.SearchStrategy[str]:
    label = st.from_regex(r"[a-z][a-z0-9]{0,10}", fullmatch=True)
    octet = st.integers(0, 255)
    return st.one_of(
        st.builds(lambda a, b: f"{a}\x00{b}", label, label),
        st.builds(lambda a: (a + ".") * (254 // (len(a) + 1) + 1) + "test", label),
        st.builds(lambda a, b, c, d: f"{a}.{b}.{c}.0{d}", octet, octet, octet, octet),
        st.builds(lambda a, b: f"{a}.{b}", octet, st.integers(0, 2**24 - 1)),
        st.builds(lambda a, b, c, d: f"{a}.{b}.{c}.{d}.", octet, octet, octet, octet),
        st.builds(lambda a: f"0x{a:x}.0.0.1", octet),
    )


def parity_cases() -> st.SearchStrategy[ParityCase]:
    """Every kind, with its varying detail."""
    return st.one_of(
        st.builds(ParityCase, kind=st.just("bad-name"), name=_bad_names()),
        st.builds(ParityCase, kind=st.just("oversize-record"),
                  record_length=st.integers(MAX_RECORD + 1, MAX_RECORD + 2048 + 256)),
        st.builds(ParityCase, kind=st.just("after-close"),
                  operation=st.sampled_from(["sendall", "recv"])),
    )


def expected_code(case: ParityCase) -> str:
    """The one code the specification gives the situation."""
    return {"bad-name": "invalid-option", "oversize-record": "not-tls",
            "after-close": "connection-closed"}[case.kind]


def _oversize(length: int) -> Callable[[socket.socket], None]:
    def handler(conn: socket.socket) -> None:
        conn.recv(65536)
        conn.sendall(bytes([0x16, 3, 3]) + length.to_bytes(2, "big") + b"\0" * length)
        time.sleep(0.2)  # let the client read before the close

    return handler


def _one(case: ParityCase, backend: str, ca: CA, ca_file: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tlsplug.SecurityWarning)
        ctx = tlsplug.create_context(tlsplug.TLSOptions(enabled=True, ca_file=ca_file,
                                                        backend=backend))
    try:
        if case.kind == "bad-name":
            ctx.wrap_buffers(server_hostname=case.name)
        elif case.kind == "oversize-record":
            with RawServer(_oversize(case.record_length)) as raw, \
                    socket.create_connection(raw.address, timeout=10) as sock:
                ctx.wrap_socket(sock, server_hostname="localhost").close()
        else:
            with serve(ca.issue_cert("localhost")) as server, \
                    socket.create_connection(server.address, timeout=10) as sock:
                tls = ctx.wrap_socket(sock, server_hostname="localhost")
                tls.close()
                if case.operation == "sendall":
                    tls.sendall(b"x")
                else:
                    tls.recv(1)
    except tlsplug.TLSError as exc:
        return exc.code
    return "ok"


def run_parity_case(
    case: ParityCase, backends: Optional[Sequence[str]] = None
) -> Dict[str, str]:
    """Each backend's outcome (``"ok"`` or the error code) for ``case``."""
    names = list(backends) if backends is not None else tlsplug.available_backends()
    ca = CA("parity root")
    with tempfile.TemporaryDirectory() as tmp:
        ca_file = os.path.join(tmp, "ca.pem")
        with open(ca_file, "wb") as handle:
            handle.write(ca.cert_pem)
        return {name: _one(case, name, ca, ca_file) for name in names}
