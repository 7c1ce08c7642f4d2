"""The ``Backend`` object registered as ``tlsplug_pyopenssl:backend``."""

from __future__ import annotations

import sys
from typing import Dict, FrozenSet

from tlsplug.backend import (
    ClientContext,
    ConfigurationError,
    Feature,
    TLSError,
    TLSOptions,
    codes,
)

from ._translate import BACKEND_NAME, openssl_version

__all__ = ["PyOpenSSLBackend"]


class PyOpenSSLBackend:
    """pyOpenSSL: OCSP stapling and must-staple, responder checks, and the legacy escape hatch."""

    name = BACKEND_NAME
    # Above the stdlib backend (10): "auto" picks pyOpenSSL when installed, as PyMongo does.
    priority = 20
    features: FrozenSet[Feature] = frozenset(
        {
            Feature.CRL,
            Feature.CRL_DER,
            Feature.CLIENT_CERT,
            Feature.ENCRYPTED_KEY,
            Feature.LEGACY_PROFILE,
            Feature.SANS_IO,
            Feature.ASYNCIO,  # tlsplug.aio drives the sans-IO buffer (tests/aio)
            # Staples judged in the handshake, responders after it (_ocsp.py).
            Feature.OCSP_STAPLING,
            Feature.OCSP_ENDPOINT,
            Feature.SESSION_RESUMPTION,
        }
    )

    def __repr__(self) -> str:
        return f"<PyOpenSSLBackend priority={self.priority}>"

    def versions(self) -> Dict[str, str]:
        """pyOpenSSL's and cryptography's versions, and the OpenSSL pyOpenSSL bundles."""
        import cryptography
        import OpenSSL

        return {
            "pyopenssl": OpenSSL.__version__,
            "cryptography": cryptography.__version__,
            "openssl": openssl_version(),
        }

    def check(self, options: TLSOptions) -> None:
        """Every option of docs/design.md is supported; the OS verifier only on Linux.

        trust_store="os" means the platform verifier (truststore). On Linux that verifier is
        OpenSSL with the system bundle, which pyOpenSSL loads too; the macOS and Windows
        verifiers are reachable only through Python's ssl.
        """
        if options.trust_store == "os" and not options.has_explicit_ca and not (
            sys.platform.startswith("linux")
        ):
            raise ConfigurationError(
                f"tlsTrustStore=os: pyOpenSSL cannot use the {sys.platform} verifier",
                code=codes.UNSUPPORTED_OPTION, option="tlsTrustStore", backend=self.name,
                hint="Use tlsBackend=stdlib with tlsTrustStore=os (truststore).",
            )

    def create_context(self, options: TLSOptions) -> ClientContext:
        """Validate files and build the context (``ConfigurationError`` on bad input)."""
        from ._context import PyOpenSSLContext

        self.check(options)
        try:
            return PyOpenSSLContext(options)
        except TLSError as exc:
            if exc.backend is None:
                exc.backend = self.name  # the shared loaders do not know who asked
            raise
