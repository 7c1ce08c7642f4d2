"""``openssl s_server`` handshake servers, one process per listener (nginx's fallback).

Handshake rates measure the *client*; a Python server (a thread and a wrap per connection)
costs more per connection than a resumed handshake does, so it flattens exactly the
differences the benchmark is after (resumed vs full, tlsplug vs raw). ``s_server`` is C,
ships with every OpenSSL, keeps a session cache and issues tickets like a real server, and
with ``-status_file`` staples a fixed OCSP response. ``-rev`` answers each line with the
line reversed (``PING``). One connection at a time is what the clients do anyway. It
prints a summary of each connection whose cost depends on the client's cipher list (see
``bench.nginx_server``), which is why nginx is preferred when installed.
"""

from __future__ import annotations

import shutil
import subprocess
from typing import Dict, List, Optional, Tuple

from ._procs import ServerGroup, free_port, wait_listening

#: (request, end of the answer) of the clients' ping: -rev answers the line reversed.
PING: Tuple[bytes, bytes] = (b"P\n", b"P\n")


def available() -> bool:
    """Whether an ``openssl`` command line is on PATH."""
    return shutil.which("openssl") is not None


class OpenSSLServers(ServerGroup):
    """``s_server`` listeners on loopback, by name: ``tls13``, ``tls12`` and ``stapled``."""

    def __init__(self, cert_file: str, key_file: str, staple_file: Optional[str]) -> None:
        """Describe the listeners; ``start()`` launches them."""
        base = ["-cert", cert_file, "-key", key_file, "-cert_chain", cert_file]
        self._specs: Dict[str, List[str]] = {
            "tls13": [*base],
            "tls12": [*base, "-no_tls1_3"],
        }
        if staple_file is not None:
            self._specs["stapled"] = [*base, "-status_file", staple_file]
        self.ports: Dict[str, int] = {}
        self._procs: List[subprocess.Popen[bytes]] = []

    def start(self) -> OpenSSLServers:
        """Launch every listener and wait until each accepts connections."""
        try:
            for name, args in self._specs.items():
                port = free_port()
                command = ["openssl", "s_server", "-quiet", "-rev",
                           "-accept", f"127.0.0.1:{port}", *args]
                self._procs.append(subprocess.Popen(
                    command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                ))
                self.ports[name] = port
            for proc, port in zip(self._procs, self.ports.values()):
                wait_listening(proc, port, "openssl s_server")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Terminate every listener."""
        for proc in self._procs:
            proc.kill()
        for proc in self._procs:
            proc.wait(5)
        self._procs.clear()
