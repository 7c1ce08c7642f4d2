"""Third-party drivers on tlsplug: pg8000 against PostgreSQL and redis-py against redis-server.

The recipes are the ones in docs/howto/drivers-sockets.md, executed from the page itself, so
the documentation cannot drift from what runs. Each driver makes one real round trip on a
good certificate and meets two refusals whose tlsplug code must be reachable from the
driver's own exception: an untrusted CA (``cert-untrusted``) and the server's leaf revoked in
a DER CRL given as ``tlsCRLFile`` (``cert-revoked``; plain ``ssl`` cannot load a DER CRL, so
this proves tlsplug's policy is the one in force).
"""

from __future__ import annotations

import importlib
import os
import re
import ssl
from pathlib import Path
from typing import Any, Callable, Dict, Optional

import pytest

import tlsplug

from .conftest import InteropPKI, Postgres, Redis, options

pytestmark = pytest.mark.interop

try:  # the interop env's deps (tox.ini); imported by name so mypy needs no stubs for them
    importlib.import_module("pg8000.native")
    redis_exceptions = importlib.import_module("redis.exceptions")
    redis_retry = importlib.import_module("redis.retry")
    redis_backoff = importlib.import_module("redis.backoff")
except ImportError as missing:
    # Only tox -e interop installs the drivers (it sets TLSPLUG_INTEROP): there, under CI, a
    # missing driver is a failure; every other env collects this module and deselects it.
    if os.environ.get("CI") and os.environ.get("TLSPLUG_INTEROP"):
        raise
    pytest.skip(f"{missing.name} is not installed: run tox -e interop", allow_module_level=True)

DOC = Path(__file__).resolve().parents[2] / "docs" / "howto" / "drivers-sockets.md"


@pytest.fixture(scope="module")
def recipes() -> Dict[str, Any]:
    """Every ```python block of the how-to page, executed in order in one namespace."""
    blocks = re.findall(r"^```python\n(.*?)^```", DOC.read_text(encoding="utf-8"), re.S | re.M)
    assert len(blocks) == 3, "the page's recipes changed: update this test"
    namespace: Dict[str, Any] = {"__name__": "drivers_sockets_recipes"}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)  # our own documentation's recipes
    return namespace


@pytest.fixture(scope="module")
def revoking_crl(interop_pki: InteropPKI) -> Path:
    """A DER CRL of the intermediate listing the leaf every server here presents."""
    return interop_pki.intermediate.write_crl(
        interop_pki.directory / "drivers-revoked.crl.der", [interop_pki.server], encoding="der"
    )


def _refusal_options(
    case: str, backend: str, pki: InteropPKI, crl: Path, **extra: object
) -> tlsplug.TLSOptions:
    if case == "cert-untrusted":
        return options(backend, pki.other_ca_file, **extra)
    return options(backend, pki.ca_file, crl_file=str(crl), **extra)


def _code_reached(recipes: Dict[str, Any], action: Callable[[], object]) -> str:
    """Run ``action``; return the code of the tlsplug error in the driver's exception chain."""
    with pytest.raises(Exception) as info:  # noqa: PT011 - whatever the driver raises
        action()
    err: Optional[tlsplug.TLSError] = recipes["tlsplug_error_in"](info.value)
    assert err is not None, f"no tlsplug error in {info.value!r}"
    print(f"driver raised {type(info.value).__name__}; tlsplug: {err}")
    assert isinstance(err, ssl.SSLCertVerificationError)  # what ssl-minded drivers catch
    return err.code


# -- pg8000 ---------------------------------------------------------------------------------


def test_pg8000_query(
    recipes: Dict[str, Any], postgres: Postgres, backend_name: str, interop_pki: InteropPKI
) -> None:
    """pg8000 (wrap_socket, then makefile("rwb")) runs a query over tlsplug's TLS 1.3."""
    conn = recipes["connect_pg8000"](
        "localhost", postgres.port, postgres.user, "postgres",
        options(backend_name, interop_pki.ca_file),
    )
    try:
        rows = conn.run("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        assert rows == [[True, "TLSv1.3"]]
        assert conn.run("SELECT 6 * 7") == [[42]]
    finally:
        conn.close()


@pytest.mark.parametrize("case", ["cert-untrusted", "cert-revoked"])
def test_pg8000_refusals(
    recipes: Dict[str, Any], postgres: Postgres, backend_name: str, interop_pki: InteropPKI,
    revoking_crl: Path, case: str,
) -> None:
    """pg8000's failure carries tlsplug's cert-untrusted / cert-revoked (DER CRL) code."""
    opts = _refusal_options(case, backend_name, interop_pki, revoking_crl)
    code = _code_reached(
        recipes,
        lambda: recipes["connect_pg8000"](
            "localhost", postgres.port, postgres.user, "postgres", opts
        ),
    )
    assert code == case


# -- redis-py -------------------------------------------------------------------------------


def _client_key(pki: InteropPKI) -> Dict[str, object]:
    # redis-server runs with --tls-auth-clients yes.
    return {"certificate_key_file": str(pki.client_files.combined_file)}


def test_redis_ping(
    recipes: Dict[str, Any], redis: Redis, backend_name: str, interop_pki: InteropPKI
) -> None:
    """redis-py through the TLSPlugConnection class answers PING and round-trips a key."""
    opts = options(backend_name, interop_pki.ca_file, **_client_key(interop_pki))
    client = recipes["redis_client"]("localhost", redis.port, opts, socket_timeout=10)
    try:
        assert client.ping() is True
        client.set("tlsplug", "driver")
        assert client.get("tlsplug") == b"driver"
        connection = client.connection_pool.get_connection()
        try:
            assert connection._sock.version() == "TLSv1.3"
            assert connection._sock.backend_name == backend_name
        finally:
            client.connection_pool.release(connection)
    finally:
        client.close()
        client.connection_pool.disconnect()


@pytest.mark.parametrize("case", ["cert-untrusted", "cert-revoked"])
def test_redis_refusals(
    recipes: Dict[str, Any], redis: Redis, backend_name: str, interop_pki: InteropPKI,
    revoking_crl: Path, case: str,
) -> None:
    """redis-py's ConnectionError carries tlsplug's cert-untrusted / cert-revoked code."""
    opts = _refusal_options(case, backend_name, interop_pki, revoking_crl,
                            **_client_key(interop_pki))
    client = recipes["redis_client"](
        "localhost", redis.port, opts, socket_timeout=10,
        retry=redis_retry.Retry(redis_backoff.NoBackoff(), 0),
    )
    try:
        with pytest.raises(redis_exceptions.ConnectionError):
            client.ping()
        assert _code_reached(recipes, client.ping) == case
    finally:
        client.connection_pool.disconnect()
