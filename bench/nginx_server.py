"""The preferred handshake server: nginx, the kind of C server drivers meet in production.

``openssl s_server`` (``bench.openssl_server``) is the fallback: it prints a summary of
every connection, whose cost depends on the cipher list the client offers, so a client
that pins its list (both ``ssl`` and tlsplug do) waits ~15-20 µs longer for the first
answer than one offering OpenSSL's default list - a server artifact nginx does not have.
nginx answers ``GET /`` with a one-byte body (``PING`` below), keeps a session cache and
issues tickets, and with ``ssl_stapling_file`` staples a fixed OCSP response.

One worker process, no master: the client gets the other core of a 2-core machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from ._procs import ServerGroup, free_port, wait_listening

#: (request, end of the response) of the clients' ping against nginx.
PING: Tuple[bytes, bytes] = (b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", b"\r\n\r\nP")

_SEARCH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


def binary() -> Optional[str]:
    """The nginx executable, if installed (Debian puts it in /usr/sbin)."""
    return shutil.which("nginx", path=_SEARCH)


_SERVER = """
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols {protocols};
        {extra}
        location / {{ return 200 "P"; }}
    }}
"""

_CONFIG = """
worker_processes 1;
master_process off;
daemon off;
error_log {dir}/error.log error;
pid {dir}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    ssl_session_cache shared:bench:10m;
{servers}
}}
"""


class NginxServers(ServerGroup):
    """nginx listening on loopback: ``tls13``, ``tls12`` and (with a staple) ``stapled``."""

    def __init__(self, cert_file: str, key_file: str, staple_file: Optional[str]) -> None:
        """Describe the listeners; ``start()`` launches nginx."""
        self._cert, self._key = cert_file, key_file
        self._specs: Dict[str, Tuple[str, str]] = {
            "tls13": ("TLSv1.3", ""),
            "tls12": ("TLSv1.2", ""),
        }
        if staple_file is not None:
            self._specs["stapled"] = (
                "TLSv1.2 TLSv1.3", f"ssl_stapling on; ssl_stapling_file {staple_file};"
            )
        self.ports: Dict[str, int] = {}
        self._proc: Optional[subprocess.Popen[bytes]] = None
        self._dir: Optional[tempfile.TemporaryDirectory[str]] = None

    def start(self) -> NginxServers:
        """Write the configuration, launch nginx, wait until every port accepts."""
        executable = binary()
        if executable is None:
            raise RuntimeError("nginx is not installed")
        self._dir = tempfile.TemporaryDirectory(prefix="tlsplug-bench-nginx-")
        root = Path(self._dir.name)
        servers: List[str] = []
        for name, (protocols, extra) in self._specs.items():
            self.ports[name] = port = free_port()
            servers.append(_SERVER.format(port=port, cert=self._cert, key=self._key,
                                          protocols=protocols, extra=extra))
        config = root / "nginx.conf"
        config.write_text(_CONFIG.format(dir=root, servers="".join(servers)))
        self._proc = subprocess.Popen(
            [executable, "-p", str(root), "-c", str(config)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        try:
            for port in self.ports.values():
                wait_listening(self._proc, port, "nginx", self._stderr)
        except BaseException:
            self.stop()
            raise
        return self

    def _stderr(self) -> str:
        err = self._proc.stderr if self._proc is not None else None
        return f": {err.read().decode(errors='replace').strip()}" if err is not None else ""

    def stop(self) -> None:
        """Stop nginx and remove its directory."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(5)
            if self._proc.stderr is not None:
                self._proc.stderr.close()
            self._proc = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None
