"""``StdlibBackend``: the ``Backend`` object registered as ``stdlib``."""

from __future__ import annotations

import platform
import ssl
from typing import Dict, FrozenSet

from tlsplug.backend import Feature, TLSError, TLSOptions, load_materials

from ._context import StdlibContext
from ._ocsp import HAS_VERIFIED_CHAIN
from ._sslcontext import build_ssl_context
from ._translate import BACKEND_NAME

__all__ = ["StdlibBackend"]


class StdlibBackend:
    """Python's ``ssl`` module: no extra dependency; OCSP responders (3.10+), no staples."""

    name = BACKEND_NAME
    priority = 10
    features: FrozenSet[Feature] = frozenset(
        {
            Feature.CRL,
            Feature.CRL_DER,
            Feature.CLIENT_CERT,
            Feature.ENCRYPTED_KEY,
            Feature.LEGACY_PROFILE,
            Feature.SANS_IO,
            Feature.ASYNCIO,  # tlsplug.aio drives the sans-IO buffer (tests/aio)
            Feature.SESSION_RESUMPTION,
        }
    ) | (
        # Responders need the leaf's issuer: the verified chain exists from Python 3.10
        # (_ocsp.py explains why 3.9 declares nothing). Staples: never (ssl cannot see them).
        frozenset({Feature.OCSP_ENDPOINT}) if HAS_VERIFIED_CHAIN else frozenset()
    )

    def versions(self) -> Dict[str, str]:
        """The OpenSSL Python's ssl links, and Python itself."""
        return {"openssl": ssl.OPENSSL_VERSION, "python": platform.python_version()}

    def check(self, options: TLSOptions) -> None:
        """Every option is supported; a must-staple certificate fails after the handshake."""

    def create_context(self, options: TLSOptions) -> StdlibContext:
        """Validate the files, then build the pinned ``ssl.SSLContext``."""
        self.check(options)
        try:
            materials = load_materials(options)
            ssl_context = build_ssl_context(options, materials)
        except TLSError as exc:
            if exc.backend is None:
                exc.backend = self.name  # shared loaders do not know which backend asked
            raise
        context = StdlibContext(options, ssl_context)
        context.materials = materials  # anchors and CRLs for the checks (_checks.py)
        return context

    def create_ssl_context(self, options: TLSOptions) -> ssl.SSLContext:
        """``tlsplug.create_ssl_context``: ssl's own machinery plus the checks (_bridge.py)."""
        from ._bridge import create_ssl_context

        return create_ssl_context(options)

    def __repr__(self) -> str:
        """Name and OpenSSL version."""
        return f"<StdlibBackend {ssl.OPENSSL_VERSION}>"
