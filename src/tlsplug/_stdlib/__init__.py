"""The stdlib backend (placeholder until the stdlib backend issue lands)."""

from __future__ import annotations

from typing import Dict, FrozenSet

from ..backend import ClientContext, ConfigurationError, Feature, TLSOptions

__all__ = ["backend"]


class StdlibBackend:
    """Python's ``ssl`` module."""

    name = "stdlib"
    priority = 10
    features: FrozenSet[Feature] = frozenset()

    def versions(self) -> Dict[str, str]:
        """The OpenSSL Python's ssl links."""
        import ssl

        return {"openssl": ssl.OPENSSL_VERSION}

    def check(self, options: TLSOptions) -> None:
        """Not implemented yet."""
        raise ConfigurationError("stdlib backend: not implemented yet",
                                 code="backend-unavailable", backend=self.name)

    def create_context(self, options: TLSOptions) -> ClientContext:
        """Not implemented yet."""
        self.check(options)
        raise AssertionError("unreachable")


backend = StdlibBackend()
