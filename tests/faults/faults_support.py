"""Shared helpers of the fault tests: a watchdog for every blocking call, and context builders."""

from __future__ import annotations

import contextlib
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
    "StallingProxy",
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


class StallingProxy:
    """A loopback TCP proxy that forwards the client freely but limits the server's bytes.

    ``mode="stall"`` forwards only the server's first TLS record (the ServerHello) and then
    nothing; ``mode="drip"`` forwards the server's bytes one at a time, ``drip`` s apart.
    """

    def __init__(self, upstream: Tuple[str, int], *, mode: str = "stall",
                 drip: float = 0.2) -> None:
        """Prepare (not start) the proxy in front of ``upstream``."""
        if mode not in ("stall", "drip"):
            raise ValueError(mode)
        self.upstream = upstream
        self.mode = mode
        self.drip = drip
        self.stopping = threading.Event()
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._listener.settimeout(0.1)
        self._sockets: List[socket.socket] = []
        self._threads: List[threading.Thread] = []
        self._lock = threading.Lock()

    @property
    def address(self) -> Tuple[str, int]:
        """Where clients connect."""
        host, port = self._listener.getsockname()[:2]
        return (str(host), int(port))

    def __enter__(self) -> StallingProxy:
        """Start accepting."""
        self._spawn(self._accept_loop)
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop: close every socket and join the threads (bounded)."""
        self.stopping.set()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.close()
        for thread in list(self._threads):
            thread.join(5.0)
        self._listener.close()

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True, name="faults-proxy")
        self._threads.append(thread)
        thread.start()

    def _track(self, sock: socket.socket) -> socket.socket:
        sock.settimeout(0.1)
        with self._lock:
            self._sockets.append(sock)
        return sock

    def _accept_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except (socket.timeout, OSError):
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=2.0)
            except OSError:
                client.close()
                continue
            self._spawn(self._pump, self._track(client), self._track(server), None)
            self._spawn(self._pump, self._track(server), self._track(client), self.mode)

    def _recv(self, sock: socket.socket, size: int) -> Optional[bytes]:
        """``size`` bytes or fewer; None when the proxy stops or the peer leaves."""
        while not self.stopping.is_set():
            try:
                data = sock.recv(size)
            except socket.timeout:
                continue
            except OSError:
                return None
            return data or None
        return None

    def _pump(self, src: socket.socket, dst: socket.socket, mode: Optional[str]) -> None:
        try:
            if mode == "stall":
                header = b""
                while len(header) < 5:
                    chunk = self._recv(src, 5 - len(header))
                    if chunk is None:
                        return
                    header += chunk
                body = b""
                length = int.from_bytes(header[3:5], "big")
                while len(body) < length:
                    chunk = self._recv(src, length - len(body))
                    if chunk is None:
                        return
                    body += chunk
                dst.sendall(header + body)
                self.stopping.wait()  # forward nothing more, ever
                return
            while True:
                data = self._recv(src, 1 if mode == "drip" else 65536)
                if data is None:
                    return
                if mode == "drip" and self.stopping.wait(self.drip):
                    return
                dst.sendall(data)
        except OSError:
            return
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)
