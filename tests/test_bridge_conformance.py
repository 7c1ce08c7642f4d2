"""The conformance suite through ``tlsplug.create_ssl_context``: wrap_socket and asyncio."""

from __future__ import annotations

import pytest

from tlsplug.testing.bridge_conformance import SSLContextConformance


class TestSSLContextConformance(SSLContextConformance):
    """``tlsplug.testing.bridge_conformance`` for each backend of the ``backend_name`` parameter."""

    @pytest.fixture
    def backend_name(self, backend_name: str) -> str:
        """The conftest's parametrized backend (every installed one, or $TLSPLUG_BACKEND)."""
        return backend_name
