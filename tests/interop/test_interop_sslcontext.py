"""Third-party drivers on tlsplug, against real servers: asyncpg, pg8000, redis.asyncio, httpx.

Each driver gets tlsplug's policy through the shape it takes TLS in (docs/howto/drivers.md):
an ``ssl.SSLContext`` from ``tlsplug.create_ssl_context`` (asyncpg, httpx, pg8000,
redis.asyncio through a ``connection_class``), or pg8000's ``ssl_context`` with
``tlsplug.create_context``. Each has one real round trip on a good certificate and two
refusals whose tlsplug code is reachable from the driver's own exception: an untrusted CA
(``cert-untrusted``) and the server's leaf revoked in a **DER** CRL (``cert-revoked``;
Python's ``ssl`` cannot load DER CRLs, so the refusal proves tlsplug's policy is in force).
"""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any, Callable, Dict, Optional

import pytest

import tlsplug

from .conftest import TIMEOUT, InteropPKI, Nginx, Postgres, Redis, need_module, options

pytestmark = pytest.mark.interop

CASES = ("good", "untrusted", "revoked")


@pytest.fixture(scope="module")
def der_crl(interop_pki: InteropPKI) -> Path:
    """A DER CRL of the intermediate listing the leaf every server here presents."""
    return interop_pki.intermediate.write_crl(
        interop_pki.directory / "drivers-revoked.crl", [interop_pki.server], encoding="der"
    )


def _options(case: str, backend: str, pki: InteropPKI, crl: Path, **kw: Any) -> tlsplug.TLSOptions:
    if case == "untrusted":
        return options(backend, pki.other_ca_file, **kw)
    if case == "revoked":
        return options(backend, pki.ca_file, crl_file=str(crl), **kw)
    return options(backend, pki.ca_file, **kw)


def tlsplug_code(exc: BaseException) -> Optional[str]:
    """The code of the first ``TLSError`` among ``exc``, its causes and contexts."""
    seen = set()
    todo = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, tlsplug.TLSError):
            return current.code
        todo += [e for e in (current.__cause__, current.__context__) if e is not None]
        todo += [e for e in getattr(current, "exceptions", ()) if isinstance(e, BaseException)]
    return None


def _check(case: str, action: Callable[[], Any]) -> Any:
    """Run ``action``: its result for "good", else the tlsplug code behind its exception."""
    if case == "good":
        return action()
    with pytest.raises(Exception) as info:  # noqa: PT011 - each driver wraps in its own class
        action()
    expected = {"untrusted": "cert-untrusted", "revoked": "cert-revoked"}[case]
    assert tlsplug_code(info.value) == expected, repr(info.value)
    return None


# -- asyncpg -------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_asyncpg(
    postgres: Postgres, backend_name: str, interop_pki: InteropPKI, der_crl: Path, case: str
) -> None:
    """asyncpg with ssl=create_ssl_context(opts): SELECT 1, or the refusal's code."""
    asyncpg = need_module("asyncpg")

    ctx = tlsplug.create_ssl_context(_options(case, backend_name, interop_pki, der_crl))

    async def query() -> Any:
        conn = await asyncpg.connect(
            host="localhost", port=postgres.port, user=postgres.user, database="postgres",
            ssl=ctx, timeout=TIMEOUT,
        )
        try:
            return await conn.fetchval("SELECT 1")
        finally:
            await conn.close()

    assert _check(case, lambda: asyncio.run(query())) in (1, None)


# -- pg8000 --------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["create_ssl_context", "create_context"])
@pytest.mark.parametrize("case", CASES)
def test_pg8000(
    postgres: Postgres, backend_name: str, interop_pki: InteropPKI, der_crl: Path, case: str,
    shape: str,
) -> None:
    """pg8000 with ssl_context= either shape: SELECT 1, or the refusal's code."""
    pg8000_native = need_module("pg8000.native")

    opts = _options(case, backend_name, interop_pki, der_crl)
    context: Any
    if shape == "create_ssl_context":
        context = tlsplug.create_ssl_context(opts)
    else:
        context = tlsplug.create_context(opts)
    if (backend_name != "stdlib" or shape == "create_context") and not _has_makefile(
        backend_name
    ):
        # pg8000 reads the socket through makefile("rwb"): tlsplug's own sockets gain it with
        # the socket-compatibility half of issue 18.
        pytest.skip(f"the {backend_name} backend's TLSSocket has no makefile()")

    def query() -> Any:
        conn = pg8000_native.Connection(
            postgres.user, host="localhost", port=postgres.port, database="postgres",
            ssl_context=context, timeout=TIMEOUT,
        )
        try:
            return conn.run("SELECT 1")
        finally:
            conn.close()

    assert _check(case, query) in ([[1]], None)


def _has_makefile(backend_name: str) -> bool:
    if backend_name == "stdlib":
        from tlsplug._stdlib import StdlibTLSSocket

        return hasattr(StdlibTLSSocket, "makefile")
    from tlsplug_pyopenssl._socket import PyOpenSSLSocket

    return hasattr(PyOpenSSLSocket, "makefile")


# -- redis.asyncio -------------------------------------------------------------------------


def tlsplug_redis_connection() -> Any:
    """The recipe of docs/howto/drivers.md: a redis.asyncio connection class taking a context.

    redis-py 8 takes no SSLContext; ``Connection._connection_arguments()`` is what it hands
    to ``asyncio.open_connection`` (its own ``SSLConnection`` adds ``ssl=`` there), and
    ``ConnectionPool(connection_class=...)`` passes unknown keyword arguments to the class.
    """
    base: Any = need_module("redis.asyncio").Connection

    class TLSPlugConnection(base):  # type: ignore[misc]
        def __init__(self, *, ssl_context: ssl.SSLContext, **kwargs: Any) -> None:
            self.tlsplug_ssl_context = ssl_context
            super().__init__(**kwargs)

        def _connection_arguments(self) -> Dict[str, Any]:
            return {**super()._connection_arguments(), "ssl": self.tlsplug_ssl_context,
                    "server_hostname": self.host}

    return TLSPlugConnection


@pytest.mark.parametrize("case", CASES)
def test_redis_asyncio(
    redis: Redis, backend_name: str, interop_pki: InteropPKI, der_crl: Path, case: str
) -> None:
    """redis.asyncio through a connection_class using create_ssl_context: PING, or the code."""
    aioredis = need_module("redis.asyncio")

    opts = _options(case, backend_name, interop_pki, der_crl,
                    certificate_key_file=str(interop_pki.client_files.combined_file))
    pool = aioredis.ConnectionPool(
        connection_class=tlsplug_redis_connection(), host="localhost", port=redis.port,
        ssl_context=tlsplug.create_ssl_context(opts), socket_timeout=TIMEOUT,
    )

    async def ping() -> Any:
        client = aioredis.Redis(connection_pool=pool, retry_on_error=[])
        try:
            return await client.ping()
        finally:
            await client.aclose()
            await pool.disconnect()

    assert _check(case, lambda: asyncio.run(ping())) in (True, None)


# -- httpx ---------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_httpx_http2(
    nginx: Nginx, backend_name: str, interop_pki: InteropPKI, der_crl: Path, case: str
) -> None:
    """httpx http2=True with verify=create_ssl_context(opts): HTTP/2 by ALPN, or the code."""
    httpx = need_module("httpx")

    ctx = tlsplug.create_ssl_context(_options(case, backend_name, interop_pki, der_crl))
    url = f"https://localhost:{nginx.ports['h2']}/"

    async def get() -> Any:
        async with httpx.AsyncClient(http2=True, verify=ctx, timeout=TIMEOUT) as client:
            return await client.get(url)

    response = _check(case, lambda: asyncio.run(get()))
    if case == "good":
        assert response.http_version == "HTTP/2"
        assert response.text == "h2\n"
