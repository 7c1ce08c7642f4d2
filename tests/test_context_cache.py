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


def test_same_object_again_and_again(backend_name: str, ca: CA, tmp_path: Path) -> None:
    """The very same options object, asked for repeatedly, still sees clears and file changes."""
    path = tmp_path / "ca.pem"
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    opts = options(backend_name, tmp_path)
    first = tlsplug.create_context(opts)
    assert tlsplug.create_context(opts) is first
    assert tlsplug.create_context(opts) is first
    tlsplug.clear_context_cache()
    second = tlsplug.create_context(opts)
    assert second is not first
    assert tlsplug.create_context(opts) is second
    os.utime(path, ns=(2_000_000_000, 2_000_000_000))
    third = tlsplug.create_context(opts)
    assert third is not second
    assert tlsplug.create_context(opts) is third
    path.unlink()
    for _ in range(2):
        with pytest.raises(tlsplug.ConfigurationError) as info:
            tlsplug.create_context(opts)
        assert info.value.code == "file-not-found"


def test_alternating_equal_objects_share_one_context(
    backend_name: str, ca: CA, tmp_path: Path
) -> None:
    """Several equal options objects, used in turn (a pool's clients), share one context."""
    objects = [options(backend_name, tmp_path) for _ in range(3)]
    contexts = [tlsplug.create_context(o) for o in objects * 3]
    assert all(c is contexts[0] for c in contexts)


class _FakeBackend:
    """A backend whose contexts are plain objects: enough to see which backend built one."""

    priority = 1000
    features: frozenset[Any] = frozenset()

    def __init__(self, name: str) -> None:
        self.name = name
        self.built = 0

    def check(self, options: TLSOptions) -> None:
        pass

    def create_context(self, options: TLSOptions) -> Any:
        self.built += 1
        return object()


def test_environment_variable_change_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    """Options without tlsBackend follow TLSPLUG_BACKEND as it is when each call is made."""
    from tlsplug import _registry

    fake = _FakeBackend("fake")
    monkeypatch.setitem(_registry._loaded, "fake", fake)
    opts = TLSOptions(enabled=True)
    monkeypatch.setenv("TLSPLUG_BACKEND", "stdlib")
    stdlib_context = tlsplug.create_context(opts)
    assert stdlib_context.backend_name == "stdlib"
    monkeypatch.setenv("TLSPLUG_BACKEND", "fake")
    fake_context = tlsplug.create_context(opts)
    assert fake.built == 1
    assert tlsplug.create_context(opts) is fake_context
    monkeypatch.setenv("TLSPLUG_BACKEND", " STDLIB ")  # normalised like tlsBackend
    assert tlsplug.create_context(opts) is stdlib_context
    monkeypatch.setenv("TLSPLUG_BACKEND", "fake")
    assert tlsplug.create_context(opts) is fake_context
    assert fake.built == 1
    # An explicit tlsBackend still beats the environment.
    assert tlsplug.create_context(opts.replace(backend="stdlib")).backend_name == "stdlib"


def test_auto_follows_newly_installed_backends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under auto a backend installed between two calls is chosen by the second one."""
    import sys
    import textwrap

    from tlsplug import _registry

    monkeypatch.delenv("TLSPLUG_BACKEND", raising=False)
    # An old mtime, so installing below surely moves it (the entry points fingerprint).
    os.utime(tmp_path, ns=(1_000_000_000, 1_000_000_000))
    monkeypatch.syspath_prepend(str(tmp_path))
    opts = TLSOptions(enabled=True)
    before = tlsplug.create_context(opts)
    assert tlsplug.create_context(opts) is before
    (tmp_path / "fake_cache_backend.py").write_text(textwrap.dedent("""
        class Fake:
            name = "fakeauto"
            priority = 1000
            features = frozenset()
            def check(self, options):
                pass
            def create_context(self, options):
                return ("fake context", options)
        backend = Fake()
        """))
    info = tmp_path / "tlsplug_fakeauto-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tlsplug_fakeauto\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[tlsplug.backends]\nfakeauto = fake_cache_backend:backend\n"
    )
    try:
        after: Any = tlsplug.create_context(opts)
        assert after == ("fake context", opts)
        assert tlsplug.create_context(opts) is after
    finally:
        _registry._loaded.pop("fakeauto", None)
        sys.modules.pop("fake_cache_backend", None)


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"insecure": True},
        {"insecure": False},
        {"allow_invalid_certificates": True},
        {"allow_invalid_hostnames": True},
        {"allow_invalid_hostnames": False},
        {"disable_ocsp_endpoint_check": True},
        {"disable_certificate_revocation_check": True},
        {"profile": "legacy"},
        {"allow_invalid_hostnames": True, "profile": "legacy"},
    ],
)
def test_warnings_match_insecure_settings(backend_name: str, extra: Any) -> None:
    """Every call warns exactly when insecure_settings (or the legacy profile) says so."""
    import warnings

    opts = TLSOptions(enabled=True, backend=backend_name, **extra)
    expected = len(opts.insecure_settings) + (opts.profile == "legacy")
    for _ in range(3):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            tlsplug.create_context(opts)
        assert [w.category for w in caught] == [tlsplug.SecurityWarning] * expected


def test_bounded_lru_with_repeated_objects() -> None:
    """Hits by the very same options object count as uses for the LRU order too."""
    cache = ContextCache(maxsize=2)
    a, b, c = (TLSOptions(enabled=True, ocsp_timeout=float(i + 1)) for i in range(3))

    def new() -> Any:
        return object()

    first_a = cache.get_or_create("k", a, new)
    cache.get_or_create("k", b, new)
    assert cache.get_or_create("k", a, new) is first_a
    assert cache.get_or_create("k", a, new) is first_a
    cache.get_or_create("k", c, new)  # evicts b, the least recently used
    assert cache.get_or_create("k", a, new) is first_a
    assert len(cache) == 2
    # A key differing only in the backend is another entry, even for the same object.
    assert cache.get_or_create("other", a, new) is not first_a


def test_options_hash_is_the_dataclass_hash() -> None:
    """The memoised hash is the hash of the compared fields, on new, replaced and copied options."""
    import copy
    import dataclasses

    def field_hash(o: TLSOptions) -> int:
        return hash(tuple(getattr(o, f.name) for f in dataclasses.fields(o)))

    opts = TLSOptions(enabled=True, ca_file="/ca.pem", certificate_key_file_password="pw")
    assert hash(opts) == field_hash(opts)
    assert opts._hash == field_hash(opts)  # the memo holds it: computed once per object
    legacy = opts.replace(profile="legacy")
    assert hash(legacy) == field_hash(legacy) != hash(opts)
    assert hash(copy.copy(opts)) == hash(copy.deepcopy(opts)) == hash(opts)
    assert "_hash" not in repr(opts)
    assert "_hash" not in [f.name for f in dataclasses.fields(opts)]


def test_pickled_options_hash_in_another_process(tmp_path: Path) -> None:
    """Pickling carries no hash: another process (other str hash salt) computes its own."""
    import pickle
    import subprocess
    import sys

    opts = TLSOptions(enabled=True, ca_file="/ca.pem", backend="stdlib", profile="legacy")
    hash(opts)  # fill the memo before pickling
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        clone = pickle.loads(pickle.dumps(opts, protocol))
        assert clone == opts
        assert hash(clone) == hash(opts)
        assert {opts: 1}[clone] == 1
    (tmp_path / "opts.pickle").write_bytes(pickle.dumps(opts))
    script = (
        "import pickle, sys, tlsplug\n"
        "loaded = pickle.loads(open(sys.argv[1], 'rb').read())\n"
        "fresh = tlsplug.TLSOptions(enabled=True, ca_file='/ca.pem', backend='stdlib',"
        " profile='legacy')\n"
        "assert loaded == fresh and hash(loaded) == hash(fresh), (hash(loaded), hash(fresh))\n"
        "assert {fresh: 1}[loaded] == 1\n"
    )
    for seed in ("1", "2"):
        subprocess.run(
            [sys.executable, "-c", script, str(tmp_path / "opts.pickle")],
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )
