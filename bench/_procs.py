"""What the server launchers share: a free loopback port, waiting until one listens."""

from __future__ import annotations

import socket
import subprocess
import time
from typing import Callable, Dict, TypeVar


def free_port() -> int:
    """A loopback TCP port nobody listens on (right now)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_listening(
    proc: subprocess.Popen[bytes], port: int, name: str,
    why_exited: Callable[[], str] = lambda: "",
) -> None:
    """Return once ``port`` accepts a TCP connection; raise if ``proc`` dies or 10 s pass.

    The probe is a bare TCP connect: the server sees a failed handshake and goes on.
    """
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}{why_exited()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"{name} did not listen on port {port}")


S = TypeVar("S", bound="ServerGroup")


class ServerGroup:
    """Listeners by name (``ports``); ``start()``/``stop()``, also as a context manager."""

    ports: Dict[str, int]

    def start(self: S) -> S:
        """Launch, and return once every listener accepts."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop every listener."""
        raise NotImplementedError

    def __enter__(self: S) -> S:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
