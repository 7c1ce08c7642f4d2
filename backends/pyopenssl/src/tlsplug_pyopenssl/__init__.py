"""tlsplug's PyOpenSSL backend, registered as ``pyopenssl`` in ``tlsplug.backends``.

Only ``backend`` is public; the modules behind it each hold one concept: ``_context`` (the
native context, built once), ``_connection`` (the blocking socket), ``_buffer`` (sans-IO),
``_verify`` (verify callback and host check), ``_translate`` (native errors -> ``TLSError``)
and ``_peer`` (what the handshake negotiated).
"""

from __future__ import annotations

from ._backend import PyOpenSSLBackend

__all__ = ["PyOpenSSLBackend", "__version__", "backend"]

# The distribution's version (hatch reads it here). Released together with tlsplug, always
# with the same version; pyproject.toml bounds tlsplug to this minor series.
__version__ = "0.1.0"

backend = PyOpenSSLBackend()
