"""Shared helpers of the fault tests: a watchdog for every blocking call, and context builders."""

from __future__ import annotations

import os
import socket
import threading
import time
import warnings
from typing import Any, Callable, List, Optional, Tuple, TypeVar

import pytest

import tlsplug
from tlsplug import TLSOptions
from tlsplug.backend import ClientContext, TLSError

__all__ = [
    "TIMEOUT",
    "backend_names",
    "bounded",
    "elapsed",
    "handshake_outcome",
    "make_context",
]

T = TypeVar("T")

#: Socket timeout of every client connection in these tests, in seconds.
TIMEOUT = 5.0


def backend_names() -> List[str]:
    """The installed backends, or only ``$TLSPLUG_BACKEND`` when set (as tests/conftest.py)."""
    chosen = os.environ.get("TLSPLUG_BACKEND", "").strip().lower()
    if chosen and chosen != "auto":
        return [chosen]
    return tlsplug.available_backends()


def bounded(
    function: Callable[[], T],
    limit: float,
    *,
    on_timeout: Optional[Callable[[], None]] = None,
) -> T:
    """Run ``function`` in a thread; fail the test if it has not returned after ``limit`` s.

    ``on_timeout`` runs before the failure to unblock the stuck thread (e.g. open a FIFO's
    other end), so a hang is reported as a failure and never freezes the session.
    """
    result: List[Any] = []
    error: List[BaseException] = []

    def target() -> None:
        try:
            result.append(function())
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=target, name="faults-bounded", daemon=True)
    thread.start()
    thread.join(limit)
    if thread.is_alive():
        if on_timeout is not None:
            on_timeout()
        thread.join(5.0)
        pytest.fail(f"still running after {limit} s: hang")
    if error:
        raise error[0]
    return result[0]  # type: ignore[no-any-return]


def make_context(backend: str, **fields: Any) -> ClientContext:
    """``tlsplug.create_context(TLSOptions(enabled=True, backend=backend, **fields))``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tlsplug.SecurityWarning)
        return tlsplug.create_context(TLSOptions(enabled=True, backend=backend, **fields))


def handshake_outcome(
    ctx: ClientContext,
    address: Tuple[str, int],
    host: Optional[str] = "localhost",
    *,
    timeout: float = TIMEOUT,
) -> str:
    """``"ok"`` or the error code of one connect + handshake (+ close) to ``address``."""
    sock = socket.create_connection(address, timeout=timeout)
    try:
        tls = ctx.wrap_socket(sock, server_hostname=host)
    except TLSError as exc:
        sock.close()  # backends close it already; a second close is harmless
        return exc.code
    tls.close()
    return "ok"


def elapsed(start: float) -> float:
    """Seconds since ``start`` (a ``time.monotonic()`` value)."""
    return time.monotonic() - start
