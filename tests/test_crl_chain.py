"""tlsCRLFile is checked for every CA certificate of the verified chain, not only the leaf."""

from __future__ import annotations

import datetime
import pathlib
import socket
import sys
from typing import List, Optional

import pytest

import tlsplug
from tlsplug import TLSOptions
from tlsplug.testing import CA
from tlsplug.testing.servers import serve


def _needs_chain(backend: str) -> None:
    """Skip where the backend cannot see the intermediates of the verified chain."""
    if backend == "stdlib" and sys.version_info < (3, 10):
        pytest.skip("Python 3.9's ssl exposes no verified chain: the stdlib backend sees "
                    "only the leaf")


def _chain(depth: int) -> List[CA]:
    """[root, intermediate 1, ..., intermediate depth]."""
    cas = [CA("crl chain root")]
    for _ in range(depth):
        cas.append(cas[-1].create_intermediate())
    return cas


def _outcome(backend: str, cas: List[CA], crl_pem: bytes, tmp_path: pathlib.Path) -> str:
    leaf = cas[-1].issue_cert("localhost")
    (tmp_path / "ca.pem").write_bytes(cas[0].cert_pem)
    (tmp_path / "crl.pem").write_bytes(crl_pem)
    ctx = tlsplug.create_context(TLSOptions(
        enabled=True, ca_file=str(tmp_path / "ca.pem"), crl_file=str(tmp_path / "crl.pem"),
        backend=backend, session_resumption=False))
    with serve(leaf) as server, socket.create_connection(server.address, timeout=10) as sock:
        try:
            tls = ctx.wrap_socket(sock, server_hostname="localhost")
        except tlsplug.TLSError as exc:
            return exc.code
        tls.close()
        return "ok"


@pytest.mark.parametrize(("depth", "revoked"), [(1, 1), (2, 1), (2, 2), (3, 2), (1, None),
                                                (2, None)])
def test_revoked_intermediate_fails(backend_name: str, tmp_path: pathlib.Path, depth: int,
                                    revoked: Optional[int]) -> None:
    """An intermediate revoked by its issuer's CRL is cert-revoked; otherwise it connects."""
    _needs_chain(backend_name)
    cas = _chain(depth)
    crl = cas[-1].crl()  # the leaf's issuer: OpenSSL needs it for the leaf
    for index in range(depth):  # a CRL from every CA above an intermediate
        victims = [cas[index + 1]] if revoked == index + 1 else []
        crl += cas[index].crl(revoked=victims)
    expected = "ok" if revoked is None else "cert-revoked"
    assert _outcome(backend_name, cas, crl, tmp_path) == expected


def test_ca_without_crl_in_the_file_is_fine(backend_name: str, tmp_path: pathlib.Path) -> None:
    """Only the leaf's issuer has a CRL in the file: the intermediates are not an error."""
    cas = _chain(3)
    assert _outcome(backend_name, cas, cas[-1].crl(), tmp_path) == "ok"


def test_expired_crl_of_an_intermediate_is_invalid(backend_name: str,
                                                   tmp_path: pathlib.Path) -> None:
    """An expired CRL from an intermediate's issuer is cert-invalid, as for the leaf."""
    _needs_chain(backend_name)
    cas = _chain(2)
    past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=2)
    crl = cas[-1].crl() + cas[0].crl(last_update=past - datetime.timedelta(days=1),
                                     next_update=past)
    assert _outcome(backend_name, cas, crl, tmp_path) == "cert-invalid"
