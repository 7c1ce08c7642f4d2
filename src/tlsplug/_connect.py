"""``tlsplug.connect``: TCP connect, then a verified TLS handshake, in one call."""

from __future__ import annotations

import errno
import socket
from typing import Optional, Tuple

from ._codes import CONNECT_FAILED, TIMEOUT
from ._errors import HandshakeError
from ._hostname import server_identity
from ._options import TLSOptions
from ._protocols import TLSSocket
from ._registry import create_context

__all__ = ["connect", "connect_error"]


def connect_error(exc: OSError, host: str, port: int, backend: Optional[str]) -> HandshakeError:
    """The error for a failed TCP connect (before any TLS byte): ``timeout`` or ``connect-failed``.

    Shared by ``connect``, ``tlsplug.aio`` and ``tlsplug check`` so all three say the same.
    """
    where = f"{host}:{port}"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return HandshakeError(f"connecting to {where} timed out", code=TIMEOUT, backend=backend)
    if isinstance(exc, socket.gaierror):
        hint = f"The host name {host!r} does not resolve: check its spelling and the DNS."
    elif exc.errno == errno.ECONNREFUSED:
        hint = f"Nothing accepts connections on {where}: check the port and that the server runs."
    elif exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        hint = f"There is no route to {host}: check the address, the network and the firewall."
    else:
        hint = "Check the host, the port and that the server runs."
    return HandshakeError(
        f"cannot connect to {where}: {exc.strerror or exc}", code=CONNECT_FAILED,
        backend=backend, hint=hint,
    )


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
    except OSError as exc:
        raise connect_error(exc, host, port, context.backend_name) from exc
    try:
        return context.wrap_socket(sock, server_hostname=server_hostname or host)
    except BaseException:
        sock.close()
        raise
