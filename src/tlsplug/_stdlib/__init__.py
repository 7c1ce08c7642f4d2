"""The stdlib backend: Python's ``ssl`` module, registered as ``stdlib``.

Modules: ``_backend`` (the ``Backend`` object), ``_sslcontext`` (building the pinned
``ssl.SSLContext``), ``_context`` (``ClientContext``), ``_socket`` (``TLSSocket``),
``_buffer`` (sans-IO ``TLSBuffer``), ``_hostcheck`` and ``_translate`` (the one error
choke point). Only the public ``tlsplug.backend`` API of the core is used.
"""

from __future__ import annotations

from ._backend import StdlibBackend
from ._buffer import StdlibTLSBuffer
from ._context import StdlibContext
from ._socket import StdlibTLSSocket

__all__ = ["StdlibBackend", "StdlibContext", "StdlibTLSBuffer", "StdlibTLSSocket", "backend"]

#: The object the ``tlsplug.backends`` entry point ``stdlib`` names.
backend = StdlibBackend()
