"""``tlsplug.connect``: TCP connect, then a verified TLS handshake, in one call."""

from __future__ import annotations

import socket
from typing import Optional, Tuple

from ._errors import HandshakeError
from ._hostname import server_identity
from ._options import TLSOptions
from ._protocols import TLSSocket
from ._registry import create_context

__all__ = ["connect"]


def connect(
    address: Tuple[str, int],
    options: Optional[TLSOptions] = None,
    *,
    timeout: Optional[float] = 10.0,
    server_hostname: Optional[str] = None,
) -> TLSSocket:
    """Open a TCP connection to ``address`` and wrap it with a context for ``options``."""
    context = create_context(options)
    host, port = address
    # Before dialling (docs/design.md, Identity): "127.0.0.010" would dial 127.0.0.8 and
    # then be verified as another name; the backend checks server_hostname again (cached).
    server_identity(host, option="host", backend=context.backend_name)
    if server_hostname is not None:
        server_identity(server_hostname, backend=context.backend_name)
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except socket.timeout as exc:
        raise HandshakeError(f"connecting to {host}:{port} timed out", code="timeout",
                             backend=context.backend_name) from exc
    except OSError as exc:
        raise HandshakeError(f"cannot connect to {host}:{port}: {exc.strerror or exc}",
                             code="connection-closed", backend=context.backend_name,
                             hint="Check the host, the port and that the server runs.") from exc
    try:
        return context.wrap_socket(sock, server_hostname=server_hostname or host)
    except BaseException:
        sock.close()
        raise
