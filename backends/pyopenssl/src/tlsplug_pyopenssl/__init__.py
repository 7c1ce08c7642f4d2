"""tlsplug's PyOpenSSL backend, registered as ``pyopenssl`` in ``tlsplug.backends``.

Only ``backend`` is public; the modules behind it each hold one concept, under the names
the stdlib backend (``tlsplug._stdlib``) uses for the same roles: ``_backend`` (the
``Backend`` object), ``_context`` (the native context, built once, and the
``ClientContext``), ``_socket`` (the blocking ``TLSSocket``), ``_buffer`` (sans-IO
``TLSBuffer``), ``_checks`` (the checks after the handshake), ``_chains`` (the verified
chain read from OpenSSL), ``_resume`` (session resumption), ``_ocsp``, ``_translate``
(native errors -> ``TLSError``); pyOpenSSL only: ``_verify`` (verify callback and host
check) and ``_peer`` (what the handshake negotiated).
"""

from __future__ import annotations

from ._backend import PyOpenSSLBackend

__all__ = ["PyOpenSSLBackend", "__version__", "backend"]

# The distribution's version (hatch reads it here). Released together with tlsplug, always
# with the same version; pyproject.toml bounds tlsplug to this minor series.
__version__ = "0.1.0"

backend = PyOpenSSLBackend()
