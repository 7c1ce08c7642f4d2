"""Fixtures for the pyOpenSSL backend's own tests (the PKI and servers of tlsplug.testing)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import pytest

pytest.importorskip("OpenSSL")

from tlsplug.backend import TLSOptions
from tlsplug.testing import PKI, PKIFiles, make_pki


@pytest.fixture(scope="session")
def ppki() -> PKI:
    """An ECDSA PKI: root -> intermediate -> server leaf (localhost, 127.0.0.1, ::1)."""
    return make_pki()


@pytest.fixture(scope="session")
def rsa_pki() -> PKI:
    """An RSA PKI, for the legacy server (AES256-SHA is RSA key transport)."""
    return make_pki("rsa")


@pytest.fixture(scope="session")
def ppki_files(ppki: PKI, tmp_path_factory: pytest.TempPathFactory) -> PKIFiles:
    """The session PKI on disk."""
    directory: Path = tmp_path_factory.mktemp("pyopenssl-pki")
    return ppki.write(directory)


@pytest.fixture
def options(ppki_files: PKIFiles) -> Callable[..., TLSOptions]:
    """Factory: ``TLSOptions`` trusting the session root, with keyword overrides."""

    def make(**kwargs: Any) -> TLSOptions:
        kwargs.setdefault("ca_file", str(ppki_files.ca_file))
        return TLSOptions(enabled=True, **kwargs)

    return make


@pytest.fixture
def cleanup() -> Iterator[Callable[[Any], Any]]:
    """Register objects with ``close``/``stop`` to be released after the test."""
    items: list[Any] = []

    def add(item: Any) -> Any:
        items.append(item)
        return item

    yield add
    for item in reversed(items):
        closer: Optional[Callable[[], None]] = getattr(item, "stop", None) or getattr(
            item, "close", None
        )
        if closer is not None:
            closer()


@pytest.fixture(autouse=True)
def _no_thread_outlives_its_test(thread_leak_check: None) -> None:
    """Every test: its threads end with it (tlsplug.testing.fixtures.thread_leak_check)."""
