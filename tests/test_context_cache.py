"""The context cache of ``tlsplug.create_context``: identity, invalidation, bound, threads."""

from __future__ import annotations

import concurrent.futures
import os
import threading
from pathlib import Path
from typing import Any, Iterator, List

import pytest

import tlsplug
from tlsplug import TLSOptions
from tlsplug._cache import ContextCache
from tlsplug._sessions import SessionStore, session_key
from tlsplug.testing.pki import CA
from tlsplug.testing.servers import TLSServer


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """Every test starts and ends with an empty process-wide cache."""
    tlsplug.clear_context_cache()
    yield
    tlsplug.clear_context_cache()


@pytest.fixture
def ca(tmp_path: Path) -> CA:
    """A root whose certificate is written to ``tmp_path / "ca.pem"``."""
    root = CA("cache root")
    root.write_cert(tmp_path / "ca.pem")
    return root


def options(backend_name: str, tmp_path: Path, **extra: Any) -> TLSOptions:
    return TLSOptions(enabled=True, backend=backend_name, ca_file=str(tmp_path / "ca.pem"),
                      **extra)


def echo(ctx: tlsplug.ClientContext, server: TLSServer) -> None:
    import socket

    with socket.create_connection(server.address, timeout=10) as sock:
        tls = ctx.wrap_socket(sock, server_hostname="localhost")
        with tls:
            tls.sendall(b"ping")
            assert tls.recv(4) == b"ping"


def test_equal_options_give_the_same_context(backend_name: str, ca: CA, tmp_path: Path) -> None:
    """Two equal TLSOptions objects give the very same context object."""
    first = tlsplug.create_context(options(backend_name, tmp_path))
    assert tlsplug.create_context(options(backend_name, tmp_path)) is first
    assert tlsplug.create_context(options(backend_name, tmp_path, profile="modern")) is first


def test_different_options_give_different_contexts(
    backend_name: str, ca: CA, tmp_path: Path
) -> None:
    """Options that differ in any field give distinct contexts."""
    first = tlsplug.create_context(options(backend_name, tmp_path))
    other = tlsplug.create_context(options(backend_name, tmp_path, session_resumption=False))
    assert other is not first
    assert other.options.session_resumption is False


def test_clear_context_cache(backend_name: str, ca: CA, tmp_path: Path) -> None:
    """clear_context_cache() makes the next call build a new context."""
    first = tlsplug.create_context(options(backend_name, tmp_path))
    tlsplug.clear_context_cache()
    assert tlsplug.create_context(options(backend_name, tmp_path)) is not first


def test_rewritten_ca_file_invalidates(backend_name: str, ca: CA, tmp_path: Path) -> None:
    """Rewriting tlsCAFile with another CA gives a new context that trusts the new CA."""
    old_leaf = ca.issue_cert("localhost")
    new_ca = CA("replacement root")
    new_leaf = new_ca.issue_cert("localhost")
    with TLSServer(cert=old_leaf) as old_server, TLSServer(cert=new_leaf) as new_server:
        first = tlsplug.create_context(options(backend_name, tmp_path))
        echo(first, old_server)
        # Same path, same inode, probably the same size and the same coarse mtime tick:
        # only the content digest can tell (the "racy" case of _cache.py).
        with open(tmp_path / "ca.pem", "r+b") as handle:
            handle.write(new_ca.cert_pem)
            handle.truncate()
        second = tlsplug.create_context(options(backend_name, tmp_path))
        assert second is not first
        echo(second, new_server)
        with pytest.raises(tlsplug.CertificateError):
            echo(second, old_server)


def test_replaced_ca_file_invalidates(backend_name: str, ca: CA, tmp_path: Path) -> None:
    """Replacing tlsCAFile by rename (a new inode, as config managers do) invalidates."""
    first = tlsplug.create_context(options(backend_name, tmp_path))
    (tmp_path / "next.pem").write_bytes(CA("next root").cert_pem)
    os.replace(tmp_path / "next.pem", tmp_path / "ca.pem")
    assert tlsplug.create_context(options(backend_name, tmp_path)) is not first


def test_old_file_is_trusted_by_stat(backend_name: str, ca: CA, tmp_path: Path) -> None:
    """A file last modified long ago is not re-read: a touch alone invalidates it."""
    path = tmp_path / "ca.pem"
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    first = tlsplug.create_context(options(backend_name, tmp_path))
    assert tlsplug.create_context(options(backend_name, tmp_path)) is first
    os.utime(path, ns=(2_000_000_000, 2_000_000_000))
    assert tlsplug.create_context(options(backend_name, tmp_path)) is not first


def test_failures_are_not_cached(backend_name: str, tmp_path: Path) -> None:
    """A missing file fails on every call, and works once the file appears."""
    opts = options(backend_name, tmp_path)
    for _ in range(2):
        with pytest.raises(tlsplug.ConfigurationError) as info:
            tlsplug.create_context(opts)
        assert info.value.code == "file-not-found"
    CA("late root").write_cert(tmp_path / "ca.pem")
    assert tlsplug.create_context(opts) is tlsplug.create_context(opts)


def test_security_warning_on_every_call(backend_name: str) -> None:
    """A cached insecure context still warns each time it is asked for."""
    opts = TLSOptions(enabled=True, backend=backend_name, insecure=True)
    with pytest.warns(tlsplug.SecurityWarning):
        first = tlsplug.create_context(opts)
    with pytest.warns(tlsplug.SecurityWarning):
        assert tlsplug.create_context(opts) is first


def test_threads_share_one_build(backend_name: str, ca: CA, tmp_path: Path) -> None:
    """Sixteen threads asking at once for a new option set all get one context."""
    barrier = threading.Barrier(16)

    def one(_: int) -> tlsplug.ClientContext:
        barrier.wait()
        return tlsplug.create_context(options(backend_name, tmp_path))

    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        contexts = list(pool.map(one, range(16), timeout=60))
    assert all(c is contexts[0] for c in contexts)


def test_bounded_lru() -> None:
    """The cache keeps at most maxsize contexts and drops the least recently used."""
    cache = ContextCache(maxsize=3)
    built: List[int] = []

    def builder(i: int) -> Any:
        def build() -> Any:
            built.append(i)
            return object()
        return build

    def get(i: int) -> Any:
        return cache.get_or_create("b", TLSOptions(enabled=True, ocsp_timeout=float(i + 1)),
                                   builder(i))

    first = [get(i) for i in range(3)]
    assert get(0) is first[0]  # 0 is now the most recently used
    get(3)  # evicts 1
    assert len(cache) == 3
    assert get(0) is first[0]
    assert get(2) is first[2]
    assert get(1) is not first[1]
    assert built == [0, 1, 2, 3, 1]


def test_process_cache_is_bounded(backend_name: str, ca: CA, tmp_path: Path) -> None:
    """More distinct option sets than the bound never grow the process-wide cache past it."""
    from tlsplug._cache import context_cache

    for i in range(context_cache.maxsize + 5):
        tlsplug.create_context(options(backend_name, tmp_path, ocsp_timeout=float(i + 1)))
    assert len(context_cache) == context_cache.maxsize


def test_session_store_is_bounded_and_keyed() -> None:
    """The session store keeps the last session per key, bounded, and ignores None."""
    store = SessionStore(maxsize=2)
    store.put(("h", 1, "a"), "s1")
    store.put(("h", 1, "a"), "s2")
    store.put(("h", 1, "b"), "s3")
    store.put(None, "ignored")
    assert store.get(("h", 1, "a")) == "s2"
    store.put(("h", 2, "a"), "s4")  # evicts ("h", 1, "b"), the least recently used
    assert store.get(("h", 1, "b")) is None
    assert len(store) == 2
    store.discard(("h", 1, "a"))
    assert store.get(("h", 1, "a")) is None
    assert store.get(None) is None


def test_session_key_of_unconnected_socket() -> None:
    """A socket without a peer address has no session key (no resumption)."""
    import socket

    with socket.socket() as sock:
        assert session_key(sock, "localhost") is None
