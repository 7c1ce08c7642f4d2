"""The stdlib backend: Python's ``ssl`` module, registered as ``stdlib``.

Modules, under the names the PyOpenSSL backend uses for the same roles: ``_backend`` (the
``Backend`` object), ``_context`` (``ClientContext``), ``_socket`` (``TLSSocket``),
``_buffer`` (sans-IO ``TLSBuffer``), ``_checks`` (the checks after the handshake),
``_chains`` (the peer's chains read from ``ssl``), ``_resume`` (session resumption),
``_ocsp`` and ``_translate`` (the one error choke point); stdlib only: ``_sslcontext``
(building the pinned ``ssl.SSLContext``) and ``_bridge`` (``create_ssl_context``). Only the
public ``tlsplug.backend`` API of the core is used.
"""

from __future__ import annotations

from ._backend import StdlibBackend
from ._buffer import StdlibTLSBuffer
from ._context import StdlibContext
from ._socket import StdlibTLSSocket

__all__ = ["StdlibBackend", "StdlibContext", "StdlibTLSBuffer", "StdlibTLSSocket", "backend"]

#: The object the ``tlsplug.backends`` entry point ``stdlib`` names.
backend = StdlibBackend()
