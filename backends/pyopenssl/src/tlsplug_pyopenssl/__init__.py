"""tlsplug's PyOpenSSL backend (placeholder until the PyOpenSSL issue lands)."""

from __future__ import annotations

from typing import Dict, FrozenSet

from tlsplug.backend import ClientContext, ConfigurationError, Feature, TLSOptions

__all__ = ["backend"]


class PyOpenSSLBackend:
    """pyOpenSSL: OCSP stapling and the legacy escape hatch."""

    name = "pyopenssl"
    priority = 20
    features: FrozenSet[Feature] = frozenset()

    def versions(self) -> Dict[str, str]:
        """pyOpenSSL's version and the OpenSSL it bundles."""
        from OpenSSL import SSL, __version__

        return {"pyopenssl": __version__,
                "openssl": SSL.OpenSSL_version(SSL.OPENSSL_VERSION).decode()}

    def check(self, options: TLSOptions) -> None:
        """Not implemented yet."""
        raise ConfigurationError("pyopenssl backend: not implemented yet",
                                 code="backend-unavailable", backend=self.name)

    def create_context(self, options: TLSOptions) -> ClientContext:
        """Not implemented yet."""
        self.check(options)
        raise AssertionError("unreachable")


backend = PyOpenSSLBackend()
